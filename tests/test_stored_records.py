"""Records read from the file: what they read from other tables is read once per read, for all of
its records; their fields decode from the stored row as ordinary records hold them."""

import copy
import json
import os
import pickle

import pytest

import runlite
from runlite.storage import runs as runs_mod


@pytest.fixture
def forest(tmp_path):
    """Three traces of a root with two children; one child has feedback, an event and a file."""
    store = runlite.open(str(tmp_path / "f.db"))
    ids = {}
    for t in range(3):
        root = store.init(f"root-{t}", run_type="chain", inputs={"q": t})
        kids = [root.child(f"kid-{t}-{k}", run_type="llm") for k in range(2)]
        kids[0].add_event("start")
        kids[0].attach("note.txt", b"hello", "text/plain")
        for kid in kids:
            kid.end(outputs={"k": kid.name})
        root.end(outputs={"a": t})
        store.create_feedback(kids[0].id, "good", score=1)
        ids[t] = (root.id, [k.id for k in kids])
    yield store, ids
    store.close()


def _count_calls(monkeypatch, name):
    calls = []
    real = getattr(runs_mod, name)
    monkeypatch.setattr(runs_mod, name, lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def test_a_listing_reads_each_other_table_once_for_all_its_records(forest, monkeypatch):
    store, ids = forest
    listed = store.list_runs()
    descendants, events = _count_calls(monkeypatch, "_descendants"), _count_calls(monkeypatch, "named_events_of")
    assert descendants == [] and events == []
    by_id = {rec.id: rec for rec in listed}
    for root_id, kid_ids in ids.values():
        assert by_id[root_id].child_run_ids == tuple(kid_ids) == by_id[root_id].direct_child_run_ids
        assert by_id[kid_ids[0]].attachments == {"note.txt": ("text/plain", 5)}
        assert by_id[kid_ids[0]].feedback_stats["good"]["n"] == 1
        assert [e["name"] for e in by_id[kid_ids[0]].events] == ["start"]
        assert by_id[kid_ids[1]].child_run_ids == () and by_id[kid_ids[1]].events == ()
    assert len(descendants) == 1 and len(events) == 1  # one read each, for the nine records


def test_listed_records_equal_the_same_runs_read_alone_and_as_trees(forest):
    store, ids = forest
    listed = {rec.id: rec for rec in store.list_runs()}
    for root_id, kid_ids in ids.values():
        tree = store.trace(root_id)
        assert tree.to_dict(child_runs=False) == listed[root_id].to_dict() == store.get_run(root_id).to_dict()
        for kid, kid_id in zip(tree.child_runs, kid_ids):
            assert kid.to_dict() == listed[kid_id].to_dict() == store.get_run(kid_id).to_dict()
            assert kid == listed[kid_id] and kid == runlite.RunRecord.from_dict(kid.to_dict())


def test_a_read_outlives_the_store_once_one_of_its_records_used_what_other_tables_hold(forest):
    store, ids = forest
    used, unused = store.list_runs(), store.list_runs()
    tree = store.trace(ids[0][0])
    used[0].attachments  # noqa: B018 - reads every part for the whole listing
    tree.child_runs[0].events  # noqa: B018
    store.close()
    assert all(isinstance(rec.to_dict(), dict) for rec in used)
    assert tree.to_dict()["child_runs"][0]["events"][0]["name"] == "start"
    assert unused[0].name.startswith(("root", "kid")) and unused[0].start_time is not None
    with pytest.raises(runlite.StoreClosedError, match="read them before closing"):
        unused[0].feedback_stats


def test_fields_decode_from_the_row_as_stored(forest):
    store, ids = forest
    root_id, kid_ids = ids[1]
    rec = store.get_run(root_id)
    assert rec.inputs == {"q": 1} and rec.outputs == {"a": 1} and rec.extra is None and rec.serialized is None
    assert rec.start_time == rec.started and rec.end_time == rec.ended and rec.latency >= 0
    assert rec.start_time.tzinfo is not None and rec.app_path is None and rec.metadata == {}
    assert rec.inputs is rec.inputs  # JSON decoded once and kept


def test_a_tree_keeps_each_other_table_in_every_record_once_one_asks(forest, monkeypatch):
    store, ids = forest
    root_id, kid_ids = ids[2]
    tree = store.trace(root_id)
    events = _count_calls(monkeypatch, "named_events_of")
    assert tree.child_runs[1].events == ()  # reads the trace's events once, for all its records
    store.close()  # what was read is kept in every record: nothing more is read
    assert [e["name"] for e in tree.child_runs[0].events] == ["start"] and tree.events == ()
    assert tree.child_runs[0].attachments == {"note.txt": ("text/plain", 5)} and tree.attachments == {}
    assert tree.attachments is not tree.child_runs[1].attachments  # each record its own dict
    assert tree.child_runs[0].feedback_stats["good"]["n"] == 1 and tree.child_runs[1].feedback_stats == {}
    assert len(events) == 1
    assert tree.child_run_ids == tuple(kid_ids) and tree.child_runs[0].child_run_ids == ()


def test_listed_child_ids_are_unread_until_asked(forest):
    store, ids = forest
    root_id, kid_ids = ids[0]
    (rec,) = [r for r in store.list_runs() if r.id == root_id]
    assert " child_run_ids=<read on first use>" in repr(rec)
    assert rec.child_run_ids == tuple(kid_ids) and rec.child_run_ids is rec.child_run_ids
    assert " child_run_ids=<read on first use>" not in repr(rec)
    assert rec.metadata is rec.metadata and rec.tags == () and rec.extra is None


def test_a_started_run_records_the_directory_it_started_in(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    with runlite.open(str(tmp_path / "s.db")) as store:
        first = store.init("first")
        monkeypatch.chdir(tmp_path / "elsewhere")
        second = store.init("second")
        created = store.init("later", running=False)
        assert store.get_run(first.id).system["cwd"] != store.get_run(second.id).system["cwd"]
        assert store.get_run(second.id).system["cwd"] == os.getcwd()
        assert store.get_run(second.id).system["pid"] == os.getpid()
        assert store.get_run(created.id).system is None and store.get_run(created.id).host is None
        later = store.reconnect(created.id)
        assert store.get_run(later.id).system["cwd"] == os.getcwd()
        for run in (first, second, later):
            run.close()


def _rows(store, n: int) -> list[tuple]:
    """``n`` copies of one run's stored row (``RUN_COLUMNS``), as a read fetches them."""
    run = store.init("r", inputs={"a": 1})
    run.close()
    with store.database.read() as conn:
        (row,) = conn.execute(runs_mod.SELECT_TREE + " WHERE runs.id = ?", (run.id,)).fetchall()
    return [row] * n


def test_times_equal_those_made_from_each_cell_however_many_distinct_and_repeated(tmp_path):
    """Times made once are looked up by value: every record still gets its own cell's time, past
    the 1,024 kept, for far times, floats and the same value in other columns; a cell that is
    no time is CorruptStoreError."""
    from runlite._validation import FAST_US, from_us
    from runlite.storage.schema import RUN_COLUMNS
    from runlite.stored_records import lazy_runs

    at = {c: RUN_COLUMNS.index(c) for c in ("created", "started", "ended", "modified", "heartbeat")}
    with runlite.open(str(tmp_path / "t.db")) as store:
        base = _rows(store, 1)[0]
    cells = [1_700_000_000_000_000 + i * 7 for i in range(3000)] + [0, FAST_US - 1, FAST_US, FAST_US + 12_345,
                                                                     2 * FAST_US, 1.7e15, 1_700_000_000_000_021.0]
    rows = []
    for i, cell in enumerate(cells):
        row = list(base)
        row[at["created"]], row[at["started"]] = cell, None if i % 3 else cell
        row[at["ended"]] = cells[i // 2]  # the same values again, in another column
        row[at["modified"]] = row[at["heartbeat"]] = cells[-1 - i]
        rows.append(tuple(row))
    for _ in range(2):  # made, then (as far as kept) looked up
        for rec, row in zip(lazy_runs(rows, ["completed"] * len(rows)), rows):
            for name, i in at.items():
                value = getattr(rec, name)
                assert value == from_us(row[i]) and (value is None or value.tzinfo is not None), name
            assert rec.start_time == from_us(row[at["started"]] or row[at["created"]])
            assert rec.end_time == from_us(row[at["ended"]])
    row = list(base)
    row[at["ended"]] = "yesterday"
    (rec,) = lazy_runs([tuple(row)], ["completed"])
    with pytest.raises(runlite.CorruptStoreError):
        rec.ended  # noqa: B018
    with pytest.raises(runlite.CorruptStoreError):
        rec.end_time  # noqa: B018


def test_records_holding_the_same_small_json_each_get_their_own_value(tmp_path):
    """Small JSON values decoded before are copied, not decoded again: each record's value is
    still its own (changing one changes no other), nested values included; NaN is the decoder's
    one NaN, as a decode gives it."""
    from runlite.storage.schema import RUN_COLUMNS
    from runlite.stored_records import lazy_runs

    inputs, outputs, metadata = (RUN_COLUMNS.index(c) for c in ("inputs", "outputs", "metadata"))
    cells = ['{"j":98}', '[1,2.5,"x",true,null]', '{"a":{"b":1}}', '[[1]]', '{"x":NaN}', '[NaN]', '5', '"text"']
    with runlite.open(str(tmp_path / "t.db")) as store:
        base = _rows(store, 1)[0]
    rows = []
    for cell in cells:
        row = list(base)
        row[inputs] = row[outputs] = row[metadata] = cell
        rows += [tuple(row)] * 3
    for _ in range(2):
        recs = lazy_runs(rows, ["completed"] * len(rows))
        for i in range(0, len(recs), 3):
            a, b, c = recs[i:i + 3]
            if isinstance(a.inputs, (dict, list)):
                assert a.inputs is not b.inputs and a.outputs is not a.inputs and a.metadata is not c.metadata
            assert a.inputs == b.inputs == c.outputs == json.loads(rows[i][inputs])
            if isinstance(a.inputs, dict):
                first = next(iter(a.inputs))
                if isinstance(b.inputs[first], dict):
                    b.inputs[first]["new"] = 1
                a.inputs[first] = "changed"
                b.outputs.clear()
                assert c.inputs == json.loads(rows[i][inputs]) and c.outputs == c.inputs
            elif isinstance(a.inputs, list):
                a.inputs.append("more")
                if isinstance(b.inputs[0], list):
                    b.inputs[0].append(2)
                assert c.inputs == json.loads(rows[i][inputs]) == c.outputs


def test_a_trees_records_show_and_evolve_as_ordinary_records(forest):
    """A trace's records (its leaves are built with fewer slots set) show and evolve as
    ordinary records with the same values do."""
    import attrs

    store, ids = forest
    tree = store.trace(ids[0][0])
    leaf = tree.child_runs[0]
    assert " events=<read on first use>" in repr(leaf) and " child_run_ids=()" in repr(leaf)
    assert f" child_run_ids=({ids[0][1][0]!r}, {ids[0][1][1]!r})" in repr(tree)
    names = [f.name for f in attrs.fields(runlite.RunRecord) if f.name != "child_runs"]

    def ordinary(rec):
        kids = tuple(ordinary(kid) for kid in rec.child_runs)
        return runlite.RunRecord(**{name: getattr(rec, name) for name in names}, child_runs=kids)

    made = ordinary(tree)
    assert repr(tree) == repr(made) and repr(leaf) == repr(made.child_runs[0])
    for rec, same in ((tree, made), (leaf, made.child_runs[0])):
        assert rec == same and attrs.evolve(rec, name="x") == attrs.evolve(same, name="x")
        assert rec.child_runs == same.child_runs and rec.child_run_ids == same.child_run_ids


def test_a_stored_record_copies_deep_copies_and_pickles_as_an_ordinary_record(forest):
    """copy, deepcopy and pickle (a record sent to another process) give ordinary records of the
    same values, children included; a deep copy shares no value with the stored record."""
    store, ids = forest
    root_id, kid_ids = ids[0]
    tree = store.trace(root_id)
    listed = [r for r in store.list_runs(trace_id=root_id) if r.id == kid_ids[0]]
    for rec in (tree, tree.child_runs[0], store.get_run(kid_ids[0]), *listed):
        shallow = copy.copy(rec)
        assert type(shallow) is runlite.RunRecord and shallow == rec and shallow.child_runs == rec.child_runs
        for made in (copy.deepcopy(rec), pickle.loads(pickle.dumps(rec))):
            assert type(made) is runlite.RunRecord and made == rec and repr(made) == repr(rec)
            assert [type(kid) for kid in made.child_runs] == [runlite.RunRecord] * len(rec.child_runs)
    deep = copy.deepcopy(tree)
    deep.inputs["q"] = "changed"
    deep.child_runs[0].outputs["k"] = "changed"
    assert tree.inputs == {"q": 0} and tree.child_runs[0].outputs == {"k": tree.child_runs[0].name}
    assert [e["name"] for e in deep.child_runs[0].events] == ["start"]


def test_a_listing_copies_and_pickles_with_its_records(forest):
    """A RunList copies (shallow or deep) with its records and keeps the store that gives their
    metric summaries; pickled (sent to another process), it holds its records only."""
    store, _ = forest
    listed = store.runs()
    assert listed.summaries is not None
    for made in (copy.copy(listed), copy.deepcopy(listed)):
        assert type(made) is runlite.RunList and made == listed and made.summaries is listed.summaries
    sent = pickle.loads(pickle.dumps(listed))
    assert type(sent) is runlite.RunList and sent == listed and sent.summaries is None
    assert {type(rec) for rec in sent} == {runlite.RunRecord}
