"""Runs received from clients in any order, in any batches (``storage/ingest.py``): the tree
they make is the tree they describe, whether a client sends dotted orders (LangSmith's) or
parents only (OpenTelemetry's), with placeholders only for parents never received."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runlite
from runlite.langsmith.wire import remote_run
from runlite.storage import runs as runs_mod
from runlite.storage.ingest import PLACEHOLDER_NAME


def _payload(run_id: str, parent: str | None, start_s: float, name: str) -> dict:
    """A create naming its parent but no dotted order (times in epoch milliseconds)."""
    return {"id": run_id, "name": name, "parent_run_id": parent, "start_time": 1_700_000_000_000 + start_s * 1000,
            "end_time": 1_700_000_000_000 + start_s * 1000 + 500, "inputs": {"n": name}}


def _tree(parents: list[int | None]) -> list[tuple[str, str | None, float, str]]:
    """Runs of a tree given as each node's parent index (parents come first), ids fixed."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(parents))]
    return [(ids[i], None if p is None else ids[p], float(i), f"n{i}") for i, p in enumerate(parents)]


def _store_in_order(nodes, order, cuts) -> dict:
    store = runlite.open(":memory:")
    batch = []
    for k, i in enumerate(order):
        run_id, parent, start, name = nodes[i]
        batch.append(remote_run(_payload(run_id, parent, start, name), "post"))
        if k in cuts:
            store.live.receive(batch)
            store.flush()
            batch = []
    store.live.receive(batch)
    store.flush()
    out = {r.id: (r.parent_run_id, r.trace_id, r.dotted_order, r.name, r.kind) for r in store.runs()}
    store.close()
    return out


def _check_tree(nodes, got: dict) -> None:
    root = nodes[0][0]
    assert set(got) == {n[0] for n in nodes}, "no placeholder is left once every parent arrived"
    for run_id, parent, _start, name in nodes:
        got_parent, trace, dotted, got_name, kind = got[run_id]
        assert (got_parent, trace, got_name, kind) == (parent, root, name, "trace")
        assert dotted.endswith(run_id) and dotted.startswith(got[root][2])
        if parent is not None:
            assert dotted.rsplit(".", 1)[0] == got[parent][2]


def test_parents_only_runs_in_every_arrival_order_make_one_tree():
    nodes = _tree([None, 0, 1, 1, 0])
    for order in itertools.permutations(range(len(nodes))):
        _check_tree(nodes, _store_in_order(nodes, order, cuts=set(range(len(nodes)))))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_trees_in_random_order_and_batches(data):
    size = data.draw(st.integers(1, 12))
    parents = [None] + [data.draw(st.integers(0, i - 1)) for i in range(1, size)]
    nodes = _tree(parents)
    order = data.draw(st.permutations(range(size)))
    cuts = set(data.draw(st.lists(st.integers(0, size - 1), max_size=size)))
    _check_tree(nodes, _store_in_order(nodes, order, cuts))


def test_a_parent_never_received_stays_a_placeholder_and_a_cycle_is_left_as_stored():
    nodes = _tree([None, 0, 1])
    got = _store_in_order(nodes, [2, 1], cuts={0, 1})  # the root never arrives
    root = nodes[0][0]
    assert got[root][3] == PLACEHOLDER_NAME and got[root][4] == "placeholder"
    assert got[nodes[2][0]][1] == root
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    store = runlite.open(":memory:")
    store.live.receive([remote_run(_payload(a, b, 1, "a"), "post")])
    store.flush()
    store.live.receive([remote_run(_payload(b, a, 0, "b"), "post")])  # b under a, a under b: a cycle
    store.flush()
    runs = {r.id: r for r in store.runs()}
    assert runs[a].parent_run_id == b and runs[b].parent_run_id is None and runs[b].name == "b"
    store.close()


def _table(store, table: str, order: str) -> list:
    """Every row of ``table``, ``modified`` left out (the time of the write that set it)."""
    with store.database.read() as conn:
        names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})") if row[1] != "modified"]
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}")
        return [dict(zip(names, row)) for row in rows]


def test_children_sent_before_their_parent_are_written_under_it_in_few_statements():
    """OpenTelemetry exports a span when it ends, children before their parent. A batch that
    holds the parent writes each child under it at once: no placeholder made and moved, and
    the rows in one multi-row statement for every ``ROWS_PER_STATEMENT``."""
    nodes = _tree([None] + [0] * 9 + [1 + i // 10 for i in range(90)])  # a root, 9 children, 10 below each
    store = runlite.open(":memory:")
    seen = []
    with store.database.write() as conn:
        conn.exec_trace = lambda _cursor, sql, _bindings: seen.append(sql) or True
    store.live.receive([remote_run(_payload(*nodes[i]), "post") for i in reversed(range(len(nodes)))])
    store.flush()
    inserts = [sql for sql in seen if sql.startswith("INSERT INTO runs")]
    assert len(inserts) == -(-len(nodes) // runs_mod.ROWS_PER_STATEMENT) == 2
    assert not [sql for sql in seen if sql.startswith("UPDATE runs")]
    _check_tree(nodes, {r.id: (r.parent_run_id, r.trace_id, r.dotted_order, r.name, r.kind) for r in store.runs()})
    store.close()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_a_batch_writes_what_its_runs_written_one_at_a_time_write(data):
    """Creates (some with events), then updates ending some of them, in any order: one batch
    leaves the tables as one batch a run does, placeholders and moves included."""
    size = data.draw(st.integers(1, 10))
    nodes = _tree([None] + [data.draw(st.integers(0, i - 1)) for i in range(1, size)])
    order = data.draw(st.permutations(range(size)))
    ended = data.draw(st.sets(st.sampled_from(range(size))))
    payloads = []
    for i in order:
        payload = _payload(*nodes[i])
        if i % 2:
            payload["events"] = [{"name": "new_token", "time": payload["start_time"] + 1, "kwargs": {"token": i}}]
        payloads.append((payload, "post"))
    payloads += [({"id": nodes[i][0], "end_time": 1_700_000_100_000, "error": "boom" if i % 3 else None}, "patch")
                 for i in sorted(ended)]
    tables = []
    for batches in ([payloads], [[p] for p in payloads]):
        store = runlite.open(":memory:")
        for batch in batches:
            store.live.receive([remote_run(payload, op) for payload, op in batch])
            store.flush()
        tables.append((_table(store, "runs", "id"), _table(store, "events", "run_id, seq")))
        store.close()
    assert tables[0] == tables[1]


def _segment(run_id: str) -> str:
    return f"20240101T000000000000Z{run_id}"


def test_a_dotted_order_naming_a_run_twice_or_no_run_is_refused_when_received():
    """Accepted, either failed its batch at every retry: nothing received after it was written."""
    a, b = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
    for dotted in (f"{_segment(a)}.{_segment(b)}.{_segment(a)}", f"{_segment('x' * 36)}.{_segment(a)}",
                   "\ud800" + _segment(a)):
        with pytest.raises(runlite.ValidationError, match="different run"):
            remote_run({"id": a, "name": "a", "dotted_order": dotted, "start_time": 1_700_000_000_000}, "post")


def test_a_received_run_that_cannot_be_written_is_dropped_alone(caplog):
    store = runlite.open(":memory:")
    good, bad = (remote_run({"id": str(uuid.UUID(int=i)), "name": f"r{i}", "start_time": 1_700_000_000_000}, "post")
                 for i in (1, 2))
    bad.columns["name"] = object()  # past every check: SQLite cannot bind it
    store.live.receive([bad, good])
    store.flush()
    assert [r.name for r in store.runs()] == ["r1"]
    assert any("could not be written and was dropped" in r.getMessage() for r in caplog.records)
    store.close()


def test_a_received_run_with_an_experiments_id_leaves_the_experiment_as_it_is(caplog):
    store = runlite.open(":memory:")
    with store.init("my-experiment", metadata={"lr": 0.01}) as run:
        run.log_event("kept")
    other = str(uuid.UUID(int=9))
    store.live.receive([remote_run({"id": run.id, "name": "llm-call", "start_time": 1_700_000_000_000,
                                    "extra": {"metadata": {"x": 1}}, "events": [{"name": "e"}]}, "post"),
                        remote_run({"id": other, "name": "beside", "start_time": 1_700_000_000_000}, "post")])
    store.flush()
    kept = store.get_run(run.id)
    assert (kept.name, kept.kind, kept.metadata) == ("my-experiment", "experiment", {"lr": 0.01})
    assert [e.message for e in store.events(run.id)] == ["kept"]
    assert store.get_run(other).name == "beside"
    assert any("experiment" in r.getMessage() and "has its id" in r.getMessage() for r in caplog.records)
    store.close()


def test_a_dotted_order_that_would_make_a_cycle_is_left_as_first_stored():
    x, p = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
    store = runlite.open(":memory:")
    for run_id, dotted in ((x, f"{_segment(p)}.{_segment(x)}"), (p, f"{_segment(x)}.{_segment(p)}")):
        store.live.receive([remote_run({"id": run_id, "name": run_id[-1], "dotted_order": dotted,
                                        "start_time": 1_704_067_200_000}, "post")])
        store.flush()
    got = {r.id: r.parent_run_id for r in store.runs()}
    assert got == {p: None, x: p}  # P came as X's parent first: it stays the root
    assert store.trace(p).child_runs[0].id == x
    store.close()
