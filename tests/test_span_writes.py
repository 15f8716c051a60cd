"""Spans as the traced thread leaves them and the writer completes them: ids, trace ids, dotted
orders and inputs derived on first use (once, the same for every reader), batches written in
multi-row statements, and values SQLite would refuse kept out of the batch's way."""

from __future__ import annotations

import json
from unittest import mock

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runlite
from runlite._ids import dotted_segment
from runlite import _validation
from runlite._validation import dumps_lenient
from runlite.storage import runs as runs_mod
from runlite.storage import spans as spans_mod
from runlite.tracing import span as span_mod

from . import strategies as S


@pytest.fixture
def store(tmp_path):
    store = runlite.open(str(tmp_path / "s.db"))
    yield store
    store.close()


def test_derived_values_are_made_once_and_agree_with_the_tree(store):
    root = runlite.trace("root", store=store, inputs={"q": 1})
    child = runlite.trace("child", store=store, parent=root)
    grandchild = runlite.trace("grandchild", store=store, parent=child)
    # Asked deepest first: each ancestor's values are made on the way and kept.
    assert grandchild.trace_id == root.id == child.trace_id
    assert grandchild.parent_run_id == child.id and child.parent_run_id == root.id and root.parent_run_id is None
    assert grandchild.dotted_order == f"{child.dotted_order}.{dotted_segment(grandchild.start_us, grandchild.id)}"
    assert root.dotted_order == dotted_segment(root.start_us, root.id)
    ids = (root.id, child.id, grandchild.id)
    assert (root.id, child.id, grandchild.id) == ids  # never made again
    for span in (grandchild, child, root):
        span.end()
    store.flush()
    for span in (root, child, grandchild):
        rec = store.get_run(span.id)
        assert (rec.trace_id, rec.parent_run_id, rec.dotted_order) == (span.trace_id, span.parent_run_id,
                                                                        span.dotted_order)


def test_ids_never_read_by_the_caller_are_made_by_the_writer_in_creation_order(store, monkeypatch):
    # Every span starts in the same microsecond (a coarse clock): the dotted order of siblings
    # then falls to their ids, made when the batch is written, in the order the spans were made.
    monkeypatch.setattr(span_mod, "_time_ns", lambda: 1_700_000_000_000_000_000)

    @runlite.traceable(store=store)
    def leaf(i):
        return i

    @runlite.traceable(store=store)
    def parent():
        return [leaf(i) for i in range(50)]

    parent()
    store.flush()
    (root,) = [r for r in store.runs() if r.parent_run_id is None]
    tree = store.trace(root.trace_id)
    assert [c.inputs["i"] for c in tree.child_runs] == list(range(50))


def test_what_the_writer_derives_for_a_batch_is_what_the_properties_make(store):
    # Nothing asks for these spans' ids, trace ids or dotted orders before the batch is
    # written: the writer makes them all at once, ids in the order the spans were made.
    roots = [runlite.trace(f"root-{i}", store=store) for i in range(3)]
    early = runlite.trace("early", store=store)
    early.start_us = 123_456  # 00:00:00.123456 of 1970-01-01: fewer than seven digits
    older = runlite.trace("older", store=store)
    older.start_us = -1_500_000  # 1969-12-31T23:59:58.500000
    child = roots[1].create_child("child")
    grandchild = child.create_child("grandchild")
    late = roots[0].create_child("late child")
    made = [*roots, early, older, child, grandchild, late]
    for span in made:
        span.end()
    store.flush()
    assert [span.id for span in made] == sorted(span.id for span in made)
    for span in made:
        parent, root = span.parent, span
        while root.parent is not None:
            root = root.parent
        own = dotted_segment(span.start_us, span.id)
        order = own if parent is None else f"{parent.dotted_order}.{own}"
        rec = store.get_run(span.id)
        assert (rec.dotted_order, rec.trace_id, rec.parent_run_id) == (order, root.id, parent and parent.id)
        assert (span.dotted_order, span.trace_id, span.parent_run_id) == (order, root.id, parent and parent.id)
    assert older.dotted_order.startswith("19691231T235958500000Z")
    assert early.dotted_order.startswith("19700101T000000123456Z")


def test_a_batch_of_one_function_binds_its_calls_inputs_as_one_call_at_a_time(store):
    # A batch whose spans all come from one function binds their arguments at once: the
    # inputs, their keys' order included, are what binding each call alone gives.
    @runlite.traceable(store=store)
    def f(a, b=1, *, c=5):
        return a

    class Tool:
        @runlite.traceable(store=store)
        def use(self, x, y=(2, 3)):
            return x

    def written(calls):
        for call in calls:
            call()
        store.flush()
        return [list(rec.inputs.items()) for rec in sorted(store.runs(), key=lambda r: r.dotted_order)[-len(calls):]]

    assert written([lambda: f(1), lambda: f(1, 2), lambda: f(7, b=8)]) == [
        [("a", 1), ("b", 1), ("c", 5)], [("a", 1), ("b", 2), ("c", 5)], [("a", 7), ("b", 8), ("c", 5)]]
    assert written([lambda: f(3), lambda: f(4, 6)]) == [[("a", 3), ("b", 1), ("c", 5)], [("a", 4), ("b", 6), ("c", 5)]]
    tool = Tool()
    assert written([lambda: tool.use(1), lambda: tool.use(2, [4])]) == [[("x", 1), ("y", [2, 3])],
                                                                          [("x", 2), ("y", [4])]]
    assert written([lambda: tool.use(5), lambda: f(6)]) == [[("x", 5), ("y", [2, 3])],
                                                            [("a", 6), ("b", 1), ("c", 5)]]


def test_deep_chains_are_derived_without_recursion(store):
    with runlite.tracing_context(enabled=False):  # made, never written
        spans = [runlite.trace("s0", store=store)]
        for i in range(1, 5000):
            spans.append(runlite.trace(f"s{i}", store=store, parent=spans[-1]))
        assert spans[-1].trace_id == spans[0].id
        chain = spans[:1500]
        assert chain[-1].dotted_order.count(".") == 1499
        assert chain[-1].dotted_order.startswith(chain[-2].dotted_order + ".")


def test_inputs_are_the_bound_arguments_whenever_asked(store):
    seen = {}

    @runlite.traceable(store=store)
    def f(a, b=2, *rest, c=3, **more):
        seen["inside"] = runlite.get_current_run_tree().inputs
        return a

    f(1, 5, 6, c=7, d=8)
    store.flush()
    (rec,) = store.runs()
    expected = {"a": 1, "b": 5, "rest": (6,), "c": 7, "d": 8}
    assert seen["inside"] == expected
    assert rec.inputs == {**expected, "rest": [6]}


def test_a_batch_larger_than_a_statement_is_written_whole(store):
    n = runs_mod.ROWS_PER_STATEMENT * 2 + 5
    with runlite.trace("root", store=store, tags=["t"]) as root:
        for i in range(n):
            with runlite.trace(f"s{i}", run_type="llm", store=store, inputs={"i": i}, metadata={"k": i}) as span:
                if i % 3 == 0:
                    span.add_event("new_token", token=str(i))
                    span.set_usage(prompt_tokens=i, completion_tokens=1)
                span.add_outputs({"o": i})
    store.flush()
    tree = store.trace(root.trace_id)
    kids = tree.child_runs
    assert [k.name for k in kids] == [f"s{i}" for i in range(n)]
    for i, kid in enumerate(kids):
        assert kid.inputs == {"i": i} and kid.outputs == {"o": i} and kid.tags == ("t",)
        assert kid.metadata == {"k": i} and kid.status == "completed"
        assert kid.prompt_tokens == (i if i % 3 == 0 else None)
        assert kid.total_tokens == (i + 1 if i % 3 == 0 else None)
        assert [e.name for e in store.events(kid.id)] == (["new_token"] if i % 3 == 0 else [])
    # The tags index (kept by a trigger on runs) holds every span written in multi-row statements.
    assert len(store.runs(tags=["t"])) == n + 1


def test_a_span_still_running_is_written_running_then_ended(store):
    span = runlite.trace("long", store=store)
    store.flush()
    assert store.get_run(span.id).status == "running"
    span.add_metadata({"step": 1})  # changed after a batch took it: written again
    store.flush()
    assert store.get_run(span.id).metadata == {"step": 1}
    span.end(outputs={"done": True})
    store.flush()
    rec = store.get_run(span.id)
    assert rec.status == "completed" and rec.outputs == {"done": True} and rec.metadata == {"step": 1}


def test_a_span_read_while_it_ends_is_never_written_running_with_an_end_time(store):
    # The writer reads a batch a column at a time while traced threads go on: it may read a
    # span halfway through end(), which sets the end time first and the status last.
    span = runlite.trace("ending", store=store)
    span.end_us = span.start_us + 5  # end() has got this far when the writer reads the span
    store.flush()
    rec = store.get_run(span.id)
    assert (rec.status, rec.end_time) == ("running", None)
    span.status = "completed"  # end() finishes and queues the span again
    store.live.spans.touch(span)
    store.flush()
    rec = store.get_run(span.id)
    assert rec.status == "completed" and rec.end_time is not None


def test_a_lone_surrogate_is_replaced_not_refused(store):
    @runlite.traceable(store=store)
    def echo(text):
        return text

    echo("a\ud800b")
    echo("fine")
    store.flush()  # the first span's text would fail the batch as it is: it is made valid
    got = sorted((r.inputs["text"], r.outputs["output"]) for r in store.runs())
    assert got == [("a\ufffdb", "a\ufffdb"), ("fine", "fine")]


def test_values_json_cannot_take_are_written_leniently(store):
    cycle: list = []
    cycle.append(cycle)

    class Opaque:
        def __repr__(self):
            return "<opaque>"

    @runlite.traceable(store=store)
    def f(x, y):
        return float("nan")

    f(Opaque(), cycle)
    store.flush()
    (rec,) = store.runs()
    assert rec.inputs["x"] == "<opaque>" and rec.outputs == {"output": "nan"}
    depth, node = 0, rec.inputs["y"]
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert node == "<too deep>" and depth > 10


def _runs_table(path: str, write) -> list:
    with runlite.open(path):  # the schema
        pass
    conn = apsw.Connection(path)
    conn.execute("PRAGMA foreign_keys=ON")
    with conn:
        conn.execute("INSERT INTO folders (path, created) VALUES ('/', 0)")
        write(conn)
    cursor = conn.execute("SELECT * FROM runs ORDER BY id")
    names = [d[0] for d in cursor.getdescription()]
    rows = [{k: v for k, v in zip(names, row) if k not in ("modified", "heartbeat")} for row in cursor]
    conn.close()
    return rows


def test_multi_row_statements_write_what_the_one_row_statement_writes(tmp_path):
    with runlite.open(str(tmp_path / "a.db")) as store:
        with runlite.trace("root", store=store, inputs={"x": [1, 2]}, tags=["a", "b"]):
            for i in range(runs_mod.ROWS_PER_STATEMENT + 6):
                runlite.trace(f"c{i}", store=store, metadata={"i": i}).end(outputs={"i": i})
        batch = store.live.spans.take()
    flat, _ = spans_mod.rows(batch, 123)
    width = len(spans_mod._COLUMNS)
    assert len(flat) == width * len(batch) == width * (runs_mod.ROWS_PER_STATEMENT + 7)
    one_row = runs_mod.insert_rows_sql(spans_mod._COLUMNS, 1, spans_mod._CHANGING, spans_mod._CONSTANTS)
    one_by_one = _runs_table(str(tmp_path / "b.db"), lambda conn: list(conn.executemany(  # its RETURNING rows
        one_row, [flat[i:i + width] for i in range(0, len(flat), width)])))
    batched = _runs_table(str(tmp_path / "c.db"), lambda conn: spans_mod.write(conn, batch))
    assert len(batched) == len(batch) and batched == one_by_one


def test_a_batch_of_several_pieces_writes_what_its_spans_write_one_at_a_time(tmp_path):
    # A batch is all that waited (tens of thousands of spans when the writer falls behind), made
    # and inserted a piece at a time: parents in one piece and children in the next, events and
    # inputs given after the first write in any, all as each span written alone writes them.
    n = spans_mod._PIECE + 300
    conns = {}
    for way in ("whole", "apart"):
        with runlite.open(str(tmp_path / f"{way}.db")):  # the schema
            pass
        conns[way] = apsw.Connection(str(tmp_path / f"{way}.db"))
        conns[way].execute("PRAGMA foreign_keys=ON; INSERT INTO folders (path, created) VALUES ('/', 0)")

    def write(batch: list) -> None:
        with conns["whole"]:
            spans_mod.write(conns["whole"], batch)
        with conns["apart"]:
            for item in batch:
                spans_mod.write(conns["apart"], [item])

    with runlite.open(str(tmp_path / "a.db")) as store:
        with runlite.trace("root", store=store, inputs={"x": 1}, tags=["a"]):
            spans, parent = [], None
            for i in range(n):
                spans.append(runlite.trace(f"c{i}", store=store, metadata={"i": i}, parent=parent))
                parent = spans[-1] if i % 7 else None  # chains of seven, some across a piece's end
            write(store.live.spans.take())  # every span running
            for i, span in enumerate(spans):
                if i % 300 == 299:
                    span.add_event("e", message=str(i))
                    span.inputs = {"later": i}  # written again over the first write's
                span.end(outputs={"i": i})
        ended = store.live.spans.take()
        assert len(ended) == n + 1 > spans_mod._PIECE
        write(ended)
    read = {}
    for way, conn in conns.items():  # the rows but for the times of writing (modified, heartbeat)
        cursor = conn.execute("SELECT * FROM runs ORDER BY id")  # the root first: its id is the oldest
        names = [d[0] for d in cursor.getdescription()]
        runs = [{k: v for k, v in zip(names, row) if k not in ("modified", "heartbeat")} for row in cursor]
        read[way] = runs, conn.execute("SELECT * FROM events ORDER BY run_id, seq").fetchall()
        conn.close()
    runs, events = read["whole"]
    assert len(runs) == n + 1 and len(events) == n // 300
    assert sum((run["inputs"] or "").startswith('{"later"') for run in runs) == n // 300
    assert sum(run["parent_run_id"] not in (None, runs[0]["id"]) for run in runs) > n // 2
    assert read["whole"] == read["apart"]


def test_a_value_over_the_json_limit_is_marked_and_the_batch_written(store, caplog):
    @runlite.traceable(store=store)
    def size(text):
        return len(text)

    size("x" * (spans_mod.MAX_JSON + 10))
    size("small")
    store.flush()  # before: the batch failed, and every later one with it
    big, small = sorted(store.runs(), key=lambda r: r.outputs["output"], reverse=True)
    assert big.inputs["ls_error"].startswith("Value dropped: span value is") and big.outputs["output"] > spans_mod.MAX_JSON
    assert small.inputs == {"text": "small"} and not store.live.spans.pending
    assert "were not stored" in caplog.text


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


# Values the plain encoder takes but the lenient walk writes otherwise (an int beyond int64 as
# a string, nesting cut at MAX_DEPTH), keys JSON writes as text, and values it refuses.
_KEYS = st.one_of(S.name_text, S.hostile_text, st.booleans(), st.none(), S.edge_ints, st.floats())
_PROGRAM_VALUES = st.recursive(
    st.one_of(S.hostile_json, st.just(_nested(70)), st.just(float("nan")), st.frozensets(st.integers(), max_size=2)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.tuples(children, children),
                               st.dictionaries(_KEYS, children, max_size=3)),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(value=_PROGRAM_VALUES)
def test_plain_json_is_kept_only_where_the_lenient_walk_writes_the_same(value):
    with mock.patch.object(_validation, "walk_needed", lambda _texts: True):
        walked = dumps_lenient(value)
    assert dumps_lenient(value) == walked


def test_a_batch_of_spans_writes_values_as_one_span_alone_does(store):
    values = [1 << 70, {True: 1, None: 2, 1.5: 3}, _nested(70), "text"]
    for value in values:  # one batch: its JSON columns are encoded together
        runlite.trace("t", store=store, inputs={"v": value}).end()
    store.flush()
    stored = [r.inputs["v"] for r in sorted(store.runs(), key=lambda r: r.dotted_order)]
    assert stored == [json.loads(dumps_lenient({"v": v}))["v"] for v in values]
    assert stored[0] == str(1 << 70) and stored[1] == {"true": 1, "null": 2, "1.5": 3}


def _names(path) -> set:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM runs")}
    finally:
        conn.close()


@pytest.mark.parametrize("change", ["nan metadata", "uuid tag", "uuid reference", "huge metadata"])
def test_values_changed_in_place_after_their_checks_are_written_leniently(tmp_path, change):
    """LangSmith's ``RunTree`` users set a span's fields directly, past the checks of
    ``add_metadata`` and ``add_tags``: the span is written all the same (leniently, or a marker
    beyond the JSON limit), and so are the spans around it."""
    import uuid

    path = tmp_path / "t.db"
    with runlite.open(str(path)) as store:
        with runlite.trace("before", store=store):
            pass
        with runlite.trace("changed", store=store) as span:
            if change == "nan metadata":
                span.metadata["similarity"] = float("nan")
            elif change == "uuid tag":
                span.tags.append(uuid.UUID(int=7))
            elif change == "uuid reference":
                span.reference_example_id = uuid.UUID(int=7)
            else:
                for i in range(200):
                    span.metadata[f"chunk{i}"] = "x" * 100_000
        with runlite.trace("after", store=store):
            pass
        store.flush()
        got = store.get_run(span.id)
    assert _names(path) == {"before", "changed", "after"}
    if change == "nan metadata":
        assert got.metadata == {"similarity": "nan"}
    elif change == "uuid tag":
        assert got.tags == (str(uuid.UUID(int=7)),)
    elif change == "uuid reference":
        assert got.reference_example_id == str(uuid.UUID(int=7))
    else:
        assert "Value dropped" in got.metadata["ls_error"]


def test_a_span_given_metadata_or_tags_of_another_shape_refuses_them_and_is_written(tmp_path):
    """Metadata set to a list failed the span's write, and the span was dropped; tags set to
    text were written a character a tag."""
    with runlite.open(str(tmp_path / "t.db")) as store:
        with runlite.trace("kept", store=store, metadata={"a": 1}, tags=["t"]) as span:
            with pytest.raises(runlite.ValidationError, match="metadata must be a dict or None, got list"):
                span.metadata = [1, 2]
            with pytest.raises(runlite.ValidationError, match="tags must be a list of text or None, got str"):
                span.tags = "production"
            span.metadata = {"b": 2}  # a whole new dict and list are the RunTree way, kept
            span.tags = ["u"]
        with runlite.trace("cleared", store=store, metadata={"a": 1}, tags=["t"]) as cleared:
            cleared.metadata, cleared.tags = None, None
        store.flush()
        kept, gone = store.get_run(span.id), store.get_run(cleared.id)
    assert (kept.metadata, kept.tags) == ({"b": 2}, ("u",))
    assert (gone.metadata, gone.tags) == ({}, ())


def test_a_span_that_cannot_be_written_is_dropped_alone_and_logged(tmp_path, caplog):
    """Before, one such span failed its batch at every retry: no span of the store was ever
    written again, and close raised a TypeError, leaving the store half closed."""
    path = tmp_path / "t.db"
    store = runlite.open(str(path))
    with runlite.trace("before", store=store):
        pass
    with runlite.trace("unwritable", store=store) as bad:
        pass
    bad.name = object()  # past every check: SQLite cannot bind it
    store.flush()
    for i in range(3):
        with runlite.trace(f"after-{i}", store=store):
            pass
    store.close()
    assert store.closed
    assert _names(path) == {"before", "after-0", "after-1", "after-2"}
    dropped = [r for r in caplog.records if "could not be written and was dropped" in r.getMessage()]
    assert len(dropped) == 1 and bad.id in dropped[0].getMessage() and dropped[0].levelname == "ERROR"


@pytest.mark.parametrize("message", [{"text": "hi"}, 12, "file-\udcff.txt"])
def test_an_event_message_of_any_value_is_kept(tmp_path, message):
    with runlite.open(str(tmp_path / "t.db")) as store:
        with runlite.trace("span", store=store) as span:
            span.add_event("note", message=message)
        store.flush()
        event = store.events(span.id)[0]
    if isinstance(message, str):
        assert event.message == "file-\ufffd.txt"
    else:
        assert event.message is None and event.kwargs == {"message": message}


def test_a_trace_header_naming_a_run_twice_or_a_run_id_of_an_ancestor_is_refused(tmp_path):
    a, b = "01a245b0-0000-7000-8000-00000000000a", "01a245b0-0000-7000-8000-00000000000b"
    seg = f"20260101T000001000000Z{a}"
    with runlite.open(str(tmp_path / "t.db")) as store:
        with pytest.raises(runlite.ValidationError, match="names a run twice"):
            runlite.trace("x", store=store, parent={"langsmith-trace": f"{seg}.20260101T000002000000Z{b}.{seg}"})
        with pytest.raises(runlite.ValidationError, match="ancestors"):
            runlite.trace("x", store=store, parent={"langsmith-trace": f"{seg}.20260101T000002000000Z{b}"}, run_id=a)
        with runlite.trace("root", store=store) as root:
            with pytest.raises(runlite.ValidationError, match="ancestors"):
                runlite.trace("x", store=store, parent=root, run_id=root.id)
        assert [r.name for r in store.list_runs()] == ["root"]


def test_a_span_given_the_id_of_another_run_never_writes_over_it(tmp_path, caplog):
    """Before, the upsert wiped the run's metadata and tags and its events were replaced by the
    span's."""
    path = str(tmp_path / "t.db")
    with runlite.open(path) as store:
        with store.init("experiment", metadata={"lr": 0.01}, tags=["keep"]) as run:
            run.log_event("epoch 1 done")
    with runlite.open(path) as store:
        with runlite.trace("llm-call", store=store, run_id=run.id) as span:
            span.add_event("token")
        with runlite.trace("beside", store=store):
            pass
    with runlite.open(path, read_only=True) as store:
        kept = store.get_run(run.id)
        assert (kept.name, kept.metadata, kept.tags, kept.status) == ("experiment", {"lr": 0.01}, ("keep",), "completed")
        assert [e.message for e in store.events(run.id)] == ["epoch 1 done"]
        assert sorted(r.name for r in store.list_runs()) == ["beside", "experiment"]
    assert any("another run of the file has its id" in r.getMessage() for r in caplog.records)
