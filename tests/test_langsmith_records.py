"""The records a LangSmith user reads are LangSmith's: statuses, token details, feedback_stats,
events, descendants, projects, select; and SDK-made run dicts import and read back field by field.

The real ``langsmith`` SDK is the contract where it is installed: ``schemas.Run`` validates every
``to_dict()``, and dicts made by ``RunTree`` and ``schemas.Run`` import through ``import_runs``.
"""

import datetime as dt
import decimal
import json
import uuid
import warnings

import pytest

import runlite
from runlite._ids import dotted_segment, project_id, uuid7
from runlite.records import LANGSMITH_STATUS, SIMVUE_FIELDS, RunRecord
from runlite.storage import runs as runs_mod

from .plans import read_plans

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _ms(when: dt.datetime) -> float:
    return (when - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(milliseconds=1)


def _root(run_id=None, **fields) -> dict:
    """A LangSmith-shaped root run dict (no status, no dotted_order unless given)."""
    return {"id": run_id or uuid7(), "name": fields.pop("name", "root"), "run_type": "chain",
            "start_time": fields.pop("start_time", T0.isoformat()), **fields}


@pytest.fixture
def ls():
    pytest.importorskip("langsmith")
    from langsmith import schemas

    return schemas


def every_read(store, run_id: str) -> dict:
    """The record of ``run_id`` from every read path, by path name."""
    rec = store.get_run(run_id)
    out = {"get_run": rec, "read_run": store.read_run(run_id), "runs": [r for r in store.runs() if r.id == run_id][0],
           "list_runs": store.list_runs(run_ids=[run_id])[0], "list_runs(id=)": store.list_runs(id=[run_id])[0],
           "list_runs(filter)": store.list_runs(filter=f'eq(id, "{run_id}")')[0],
           "get_runs": store.get_runs([f"id == {run_id}"])[0]}
    for how, tree in (("read_run(load_child_runs)", store.read_run(rec.trace_id, load_child_runs=True)),
                      ("read_run(load_child_runs) of itself", store.read_run(run_id, load_child_runs=True)),
                      ("trace", store.trace(rec.trace_id))):
        stack = [tree]
        while stack:
            node = stack.pop()
            if node.id == run_id:
                out[how] = node
            stack.extend(node.child_runs)
    return out


# ---------------------------------------------------------------- status


@pytest.mark.parametrize("status, word", sorted(LANGSMITH_STATUS.items()))
def test_to_dict_gives_langsmith_status_and_keeps_runlite_s(status, word):
    rec = RunRecord(id="r", name="n", status=status)
    data = rec.to_dict()
    assert (data["status"], data["run_status"]) == (word, status)
    assert RunRecord.from_dict(data) == rec
    assert "run_status" in SIMVUE_FIELDS
    data.pop("run_status")
    assert RunRecord.from_dict(data).status == {"success": "completed", "error": "failed", "pending": "running"}[word]


def test_stored_runs_read_in_langsmith_words(mem):
    made = mem.init("created", running=False)
    running = mem.init("running")
    done = mem.init("done")
    done.close()
    failed = mem.init("failed")
    failed.end(error="boom")
    words = {r.name: (r.to_dict()["status"], r.to_dict()["run_status"]) for r in mem.runs()}
    assert words == {"created": ("pending", "created"), "running": ("pending", "running"),
                     "done": ("success", "completed"), "failed": ("error", "failed")}
    assert made.id and running.id


def test_token_details_come_from_usage_metadata(mem):
    usage = {"input_tokens": 5, "output_tokens": 3, "input_token_details": {"cache_read": 2},
             "output_token_details": {"reasoning": 1}}
    run = mem.init("llm", metadata={"usage_metadata": usage})
    data = mem.get_run(run.id).to_dict()
    assert data["prompt_token_details"] == {"cache_read": 2}
    assert data["completion_token_details"] == {"reasoning": 1}
    plain = mem.get_run(mem.init("plain").id).to_dict()
    assert plain["prompt_token_details"] is None and plain["completion_token_details"] is None
    assert RunRecord.from_dict(data) == mem.get_run(run.id)


# ---------------------------------------------------------------- importing SDK-shaped dicts


@pytest.mark.parametrize("given, stored", [("SUCCESS", "completed"), ("Error", "failed"), ("PENDING", "running"),
                                           ("success", "completed"), ("completed", "completed"),
                                           ("terminated", "terminated")])
def test_import_takes_statuses_in_any_case(mem, given, stored):
    (run_id,) = mem.import_runs([_root(status=given)])
    assert mem.get_run(run_id).status == stored


@pytest.mark.parametrize("fields, stored", [({}, "running"), ({"end_time": T0.isoformat()}, "completed"),
                                            ({"error": "boom"}, "failed"),
                                            ({"error": "boom", "end_time": _ms(T0)}, "failed")])
def test_import_derives_a_missing_status_as_langsmith_does(mem, fields, stored):
    (run_id,) = mem.import_runs([_root(**fields)])
    assert mem.get_run(run_id).status == stored


@pytest.mark.parametrize("given", [
    "2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00.123456+00:00", "2024-05-01T14:00:00.123456+02:00",
    "2024-05-01T12:00:00.123456", T0, T0.replace(tzinfo=None), T0.astimezone(dt.timezone(dt.timedelta(hours=-5))),
    _ms(T0),
])
def test_import_takes_iso_times_epoch_ms_and_datetimes(mem, given):
    (run_id,) = mem.import_runs([_root(start_time=given, end_time=given, first_token_time=given, status="success")])
    rec = mem.get_run(run_id)
    assert rec.start_time == rec.ended == rec.first_token_time == T0


def test_import_takes_runlite_times_as_datetimes_and_offsets(mem):
    (run_id,) = mem.import_runs([_root(created=T0.replace(tzinfo=None), started="2024-05-01T14:00:00.123456+02:00",
                                       endtime=T0, modified="2024-05-01T12:00:00.123456Z", status="success")])
    rec = mem.get_run(run_id)
    assert rec.created == rec.started == rec.ended == rec.modified == T0


def test_import_projects_metadata_and_root_dotted_order(mem):
    run_id = uuid7()
    (got,) = mem.import_runs([_root(run_id, session_name="proj", extra={"metadata": {"k": 1}, "runtime": {"x": 2}})])
    rec = mem.get_run(got)
    assert (rec.session_name, rec.session_id) == ("proj", project_id("proj"))
    assert rec.metadata == {"k": 1} and rec.extra == {"runtime": {"x": 2}}
    assert rec.dotted_order == dotted_segment(int(_ms(T0) * 1000), run_id) and rec.trace_id == run_id
    # both given: kept as given
    (other,) = mem.import_runs([_root(session_name="p2", session_id="11111111-1111-4111-8111-111111111111")])
    assert mem.get_run(other).session_id == "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize("bad, match", [
    ({"status": "finished"}, "status must be LangSmith's"), ({"start_time": "yesterday"}, "ISO-8601"),
    ({"start_time": float("nan")}, "epoch time in milliseconds"), ({"start_time": True}, "start_time"),
    ({"total_cost": "cheap"}, "total_cost"), ({"session_name": "a\nb"}, "session_name"),
    ({"events": [{"name": "e", "time": "later"}]}, "time of an event"),
    ({"events": [{"name": "e", "kwargs": [1]}]}, "kwargs"), ({"feedback_stats": [1]}, "feedback_stats"),
    ({"id": "not-a-uuid"}, "lowercase UUID"),
    ({"parent_run_id": "01000000-0000-7000-8000-000000000001"}, "dotted_order"),
    # text where a list goes was read a character an item ("production": ten tags)
    ({"tags": "production"}, "tags of run .* must be a list"), ({"events": "started"}, "events of run"),
    ({"child_run_ids": "01000000"}, "child_run_ids of run"), ({"extra": [1]}, "extra"),
])
def test_import_refuses_bad_runs_with_validation_errors_and_imports_nothing(mem, bad, match):
    good = _root(status="success")
    with pytest.raises(runlite.ValidationError, match=match):
        mem.import_runs([good, _root(**bad)])
    assert mem.runs() == []


@pytest.mark.parametrize("bad", [None, 3, "runs.json", b"[]"])
def test_import_refuses_what_is_not_a_list_of_runs(mem, bad):
    with pytest.raises(runlite.ValidationError, match="runs to import must be a list of run dicts"):
        mem.import_runs(bad)
    assert mem.runs() == []


def test_import_keeps_feedback_stats_under_computed_ones(mem):
    imported = {"old": {"n": 3, "avg": 0.5}, "score": {"n": 9, "avg": 0.1}}
    (run_id,) = mem.import_runs([_root(status="success", feedback_stats=imported)])
    assert mem.get_run(run_id).feedback_stats == imported
    mem.create_feedback(run_id, "score", score=1)
    for how, rec in every_read(mem, run_id).items():
        assert rec.feedback_stats["old"] == {"n": 3, "avg": 0.5}, how
        assert rec.feedback_stats["score"]["n"] == 1 and rec.feedback_stats["score"]["avg"] == 1.0, how



_NESTED_PARENTS = {"root": None, "a": "root", "a1": "a", "a1x": "a1", "b": "root"}


def _nested_tree(gives: str) -> tuple[list[dict], dict, dict]:
    """root > [a > [a1 > [a1x]], b] as dicts nested in child_runs, each starting 1 s after the one
    before; ``gives``: what the children give of their place (``nothing``, ``parent_run_id`` or
    ``all`` of parent_run_id, trace_id and dotted_order). Returns the dicts, ids and the dotted
    orders the runs must have."""
    ids = {name: uuid7() for name in _NESTED_PARENTS}
    orders: dict[str, str] = {}
    for i, (name, parent) in enumerate(_NESTED_PARENTS.items()):
        segment = dotted_segment((T0 - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
                                 + i * 1_000_000, ids[name])
        orders[name] = segment if parent is None else f"{orders[parent]}.{segment}"
    dicts = {name: _root(ids[name], name=name, start_time=(T0 + dt.timedelta(seconds=i)).isoformat(), child_runs=[])
             for i, name in enumerate(_NESTED_PARENTS)}
    for name, parent in _NESTED_PARENTS.items():
        if parent is not None:
            dicts[parent]["child_runs"].append(dicts[name])
            if gives in ("parent_run_id", "all"):
                dicts[name]["parent_run_id"] = ids[parent]
            if gives == "all":
                dicts[name].update(trace_id=ids["root"], dotted_order=orders[name])
    return [dicts["root"]], ids, orders


def _ids_tree(rec) -> tuple:
    """A record's id and its children's trees, in the order read."""
    return rec.id, [_ids_tree(child) for child in rec.child_runs]


@pytest.mark.parametrize("gives", ["nothing", "parent_run_id", "all"])
def test_import_stores_child_runs_under_the_run_they_are_nested_in(mem, gives):
    sent, ids, orders = _nested_tree(gives)
    assert mem.import_runs(json.loads(json.dumps(sent))) == [ids[n] for n in ("root", "a", "a1", "a1x", "b")]
    for name, parent in _NESTED_PARENTS.items():
        rec = mem.get_run(ids[name])
        assert (rec.parent_run_id, rec.trace_id, rec.dotted_order) == (
            parent and ids[parent], ids["root"], orders[name]), name
    want = (ids["root"], [(ids["a"], [(ids["a1"], [(ids["a1x"], [])])]), (ids["b"], [])])
    assert _ids_tree(mem.read_run(ids["root"], load_child_runs=True)) == want
    assert _ids_tree(mem.trace(ids["root"])) == want
    assert [r.id for r in mem.list_runs(is_root=True)] == [ids["root"]]
    assert sorted(r.id for r in mem.list_runs(trace_id=ids["root"])) == sorted(ids.values())
    assert mem.get_run(ids["root"]).child_run_ids == (ids["a"], ids["a1"], ids["a1x"], ids["b"])
    with pytest.raises(runlite.ValidationError, match="already exists"):  # as documented: refused, nothing changes
        mem.import_runs(sent)
    assert len(mem.runs()) == 5 and _ids_tree(mem.trace(ids["root"])) == want


def test_import_places_schemas_run_children_nested_in_a_schemas_run(mem, ls):
    # schemas.Run gives a run made alone its own id as trace_id and isoformat() + id as dotted_order
    ids = [uuid.UUID(uuid7()) for _ in range(3)]
    kids = [ls.Run(id=ids[i], name=f"c{i}", run_type="llm", start_time=T0 + dt.timedelta(seconds=i), inputs={})
            for i in (1, 2)]
    root = ls.Run(id=ids[0], name="root", run_type="chain", start_time=T0, inputs={}, child_runs=kids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydantic's, for .dict()
        sent = root.dict()
    assert str(sent["child_runs"][0]["trace_id"]) == str(ids[1])
    mem.import_runs([sent])
    root_id, c1, c2 = map(str, ids)
    assert _ids_tree(mem.trace(root_id)) == (root_id, [(c1, []), (c2, [])])
    start_us = (T0 - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    for i, child in ((1, c1), (2, c2)):
        rec = mem.get_run(child)
        assert (rec.parent_run_id, rec.trace_id) == (root_id, root_id)
        own = dotted_segment(start_us + i * 1_000_000, child)
        assert rec.dotted_order == f"{dotted_segment(start_us, root_id)}.{own}"


@pytest.mark.parametrize("field, match", [("parent_run_id", "but its parent_run_id is"),
                                          ("trace_id", "but its trace_id is"),
                                          ("dotted_order", "but its dotted_order"),
                                          ("root's dotted_order", "but its dotted_order")])
def test_import_refuses_a_nested_run_whose_place_contradicts_its_nesting(mem, field, match):
    sent, ids, orders = _nested_tree("nothing")
    other = _root(name="other")
    a1 = sent[0]["child_runs"][0]["child_runs"][0]
    if field == "parent_run_id":  # its grandparent
        a1["parent_run_id"] = ids["root"]
    elif field == "trace_id":
        a1["trace_id"] = other["id"]
    elif field == "dotted_order":  # b's place
        a1["dotted_order"] = orders["b"][:-36] + ids["a1"]
    else:  # a root's, with no parent_run_id
        a1["dotted_order"] = orders["a1"].rsplit(".", 1)[1]
    where = f"run '{ids['a1']}' is in the child_runs of run {ids['a']}"
    with pytest.raises(runlite.ValidationError, match=f"{where} {match}"):
        mem.import_runs([other, *sent])
    assert mem.runs() == []


# ---------------------------------------------------------------- feedback_stats, events, descendants


@pytest.fixture
def tree(tmp_path):
    """A root with two children, one of which has a child: events, feedback and a log message."""
    store = runlite.open(str(tmp_path / "t.db"))
    root = store.init("root", run_type="chain", inputs={"q": 1})
    a = root.child("a", run_type="llm")
    a.add_event("new_token", time=T0, token="hi")
    a.add_event({"name": "custom", "message": "said", "kwargs": {"x": 1}})
    a.log_event("a Simvue log line")
    a1 = a.child("a1", run_type="tool")
    a1.end(outputs={"o": 1})
    a.end(outputs={"a": 2})
    b = root.child("b", run_type="tool")
    b.end(error="failed")
    root.end(outputs={"r": 3})
    store.create_feedback(a.id, "correct", score=1)
    store.create_feedback(a.id, "correct", score=0)
    store.create_feedback(a.id, "label", value="good")
    yield store, {"root": root.id, "a": a.id, "a1": a1.id, "b": b.id}
    store.close()


def test_feedback_stats_are_the_same_from_every_read_path(tree):
    store, ids = tree
    reads = every_read(store, ids["a"])
    assert len(reads) == 10
    want = reads["get_run"].feedback_stats
    assert want["correct"]["n"] == 2 and want["correct"]["avg"] == 0.5 and want["label"]["values"] == {"good": 1}
    for how, rec in reads.items():
        assert rec.feedback_stats == want, how
    (selected,) = store.list_runs(id=ids["a"], select=["feedback_stats"])
    assert selected.feedback_stats == want


def test_events_are_in_to_dict_from_every_read_path(tree):
    store, ids = tree
    want = [{"name": "new_token", "time": "2024-05-01T12:00:00.123456Z", "kwargs": {"token": "hi"}},
            {"name": "custom", "time": store.get_run(ids["a"]).events[1]["time"], "kwargs": {"x": 1},
             "message": "said"}]
    for how, rec in every_read(store, ids["a"]).items():
        assert rec.to_dict()["events"] == want, how
    assert [e.message for e in store.events(ids["a"]) if e.name is None] == ["a Simvue log line"]
    assert store.get_run(ids["b"]).to_dict()["events"] == []
    (selected,) = store.list_runs(id=[ids["a"]], select=["events"])
    assert list(selected.events) == want


def test_a_listing_reads_no_events_until_asked(tree, monkeypatch):
    store, ids = tree
    calls = []
    real = runs_mod.named_events_of
    monkeypatch.setattr(runs_mod, "named_events_of",
                        lambda conn, run_ids, trace_id=None: calls.extend(run_ids) or real(conn, run_ids, trace_id))
    listed = store.list_runs() + store.get_runs() + store.runs()
    store.trace(ids["root"])
    store.list_runs(select=["name", "child_run_ids", "feedback_stats"])
    assert len(listed) == 12 and calls == []
    rec = store.get_run(ids["a"])
    assert calls == []
    assert len(rec.events) == 2 and calls == [ids["a"]]
    rec.to_dict()
    assert calls == [ids["a"]]  # read once


def test_records_outlive_the_store_but_for_unread_events(tmp_path):
    with runlite.open(str(tmp_path / "c.db")) as store:
        run = store.init("r")
        run.add_event("start", time=T0)
        run.close()
        read, unread = store.get_run(run.id), store.get_run(run.id)
        assert read.events[0]["name"] == "start"
    assert read.to_dict()["events"] == [{"name": "start", "time": "2024-05-01T12:00:00.123456Z"}]
    assert "events=<read on first use>" in repr(unread) and "'start'" in repr(read)  # a repr reads nothing
    assert unread.name == "r" and unread.status == "completed"
    with pytest.raises(runlite.StoreClosedError, match="read them before closing"):
        unread.events


def test_events_round_trip_through_import(tree, tmp_path):
    store, ids = tree
    data = store.read_run(ids["root"], load_child_runs=True).to_dict()
    with runlite.open(str(tmp_path / "copy.db")) as other:
        other.import_runs([json.loads(json.dumps(data))])
        back = other.read_run(ids["root"], load_child_runs=True).to_dict()
    data.pop("feedback_stats"), back.pop("feedback_stats")
    assert back == data
    assert back["child_runs"][0]["events"][0]["kwargs"] == {"token": "hi"}


def test_imported_events_with_extra_keys_keep_them_in_kwargs(mem):
    (run_id,) = mem.import_runs([_root(status="success", events=[
        {"name": "start", "time": T0}, {"name": "note", "time": T0.isoformat(), "extra": 1, "kwargs": {"k": 2}}])])
    assert mem.get_run(run_id).to_dict()["events"] == [
        {"name": "start", "time": "2024-05-01T12:00:00.123456Z"},
        {"name": "note", "time": "2024-05-01T12:00:00.123456Z", "kwargs": {"k": 2, "extra": 1}}]


def test_child_run_ids_are_every_descendant_and_direct_ones_the_children(tree):
    store, ids = tree
    for how, rec in every_read(store, ids["root"]).items():
        assert rec.child_run_ids == (ids["a"], ids["a1"], ids["b"]), how
        assert rec.direct_child_run_ids == (ids["a"], ids["b"]), how
        assert rec.to_dict()["direct_child_run_ids"] == [ids["a"], ids["b"]], how
    for how, rec in every_read(store, ids["a"]).items():
        assert rec.child_run_ids == rec.direct_child_run_ids == (ids["a1"],), how
    for how, rec in every_read(store, ids["a1"]).items():
        assert rec.child_run_ids == rec.direct_child_run_ids == (), how


def test_a_listing_reads_its_runs_child_ids_on_first_use_for_all_of_them_at_once(tree, monkeypatch):
    store, ids = tree
    asked = []
    real = runs_mod._descendants
    monkeypatch.setattr(runs_mod, "_descendants",
                        lambda conn, run_ids: asked.append(list(run_ids)) or real(conn, run_ids))
    listed = {rec.id: rec for rec in store.list_runs()}
    root = listed[ids["root"]]
    assert asked == [] and root.child_runs == ()  # a listing nests nothing
    assert " child_run_ids=<read on first use>" in repr(root)  # a repr reads nothing
    assert root.child_run_ids == (ids["a"], ids["a1"], ids["b"]) and len(asked) == 1
    assert sorted(asked[0]) == sorted(listed)  # every listed run's, in one read
    assert listed[ids["a"]].direct_child_run_ids == (ids["a1"],) and listed[ids["b"]].child_run_ids == ()
    assert len(asked) == 1 and " child_run_ids=<read on first use>" not in repr(root)


# ---------------------------------------------------------------- projects, id, select


@pytest.fixture
def projects(mem):
    t = [T0 + dt.timedelta(minutes=i) for i in range(4)]
    got = mem.import_runs([_root(name="p1-a", session_name="p1", start_time=t[0], status="success"),
                           _root(name="p1-b", session_name="p1", start_time=t[2], status="success"),
                           _root(name="p2-a", session_name="p2", start_time=t[1], status="error"),
                           _root(name="other", session_id="proj-1", start_time=t[3])])
    mem.init("no project").close()
    return mem, got, t


def test_list_runs_by_project_name_and_id(projects):
    mem, got, _ = projects
    names = lambda runs: sorted(r.name for r in runs)  # noqa: E731
    assert names(mem.list_runs(project_name="p1")) == ["p1-a", "p1-b"]
    assert names(mem.list_runs(project_name=["p1", "p2"])) == ["p1-a", "p1-b", "p2-a"]
    assert names(mem.list_runs(project_id=project_id("p2"))) == ["p2-a"]
    assert names(mem.list_runs(project_id=uuid.UUID(project_id("p2")))) == ["p2-a"]
    assert names(mem.list_runs(project_id=["proj-1"], project_name="p2")) == ["other", "p2-a"]
    assert names(mem.list_runs(project_name="p1", error=False)) == ["p1-a", "p1-b"]
    assert mem.list_runs(project_name="nope") == [] and mem.list_runs(project_name=[]) == []
    p1 = [r.id for r in mem.list_runs(project_name="p1")]
    assert names(mem.list_runs(id=p1, project_name="p2")) == ["p1-a", "p1-b"]  # id ignores other filters
    for bad in ({"project_name": 3}, {"project_name": ["ok", ""]}, {"project_id": {"a": 1}},
                {"id": [got[0]], "run_ids": [got[1]]}, {"id": [None]}):
        with pytest.raises(runlite.ValidationError):
            mem.list_runs(**bad)


def test_projects_are_tracer_sessions(projects, ls):
    mem, got, t = projects
    listed = mem.projects()
    assert [p["name"] for p in listed] == [None, "p1", "p2"]  # most recently active first
    p1 = mem.project("p1")
    assert p1 == listed[1] == mem.project(id=project_id("p1")) == mem.project(id=uuid.UUID(project_id("p1")))
    assert p1 == {"id": project_id("p1"), "name": "p1", "start_time": t[0], "last_run_start_time": t[2],
                  "run_count": 2, "description": None, "extra": None, "tenant_id": None,
                  "reference_dataset_id": None}
    assert mem.project(id="proj-1")["run_count"] == 1
    session = ls.TracerSessionResult(**{**mem.project("p2"), "tenant_id": uuid.uuid4()})  # the server adds a tenant
    assert session.name == "p2" and session.run_count == 1 and str(session.id) == project_id("p2")
    for call in (lambda: mem.project("nope"), lambda: mem.project(id=project_id("nope"))):
        with pytest.raises(runlite.NotFoundError, match="no project"):
            call()
    for call in (lambda: mem.project(), lambda: mem.project("p1", id=project_id("p1")), lambda: mem.project(3),
                 lambda: mem.project(id="")):
        with pytest.raises(runlite.ValidationError):
            call()


def test_a_project_is_counted_from_its_index_and_named_by_its_newest_run(mem):
    """The figures of a project come from runs_session alone (not every run's row read), the
    name from one run: its newest (a project renamed under the same id shows its new name)."""
    t = [T0 + dt.timedelta(minutes=i) for i in range(3)]
    mem.import_runs([_root(name=f"r{i}", session_id="proj-9", session_name=name, start_time=t[i])
                     for i, name in enumerate(["zeta", "old", "new"])])
    p = mem.project(id="proj-9")
    assert (p["name"], p["run_count"], p["start_time"], p["last_run_start_time"]) == ("new", 3, t[0], t[2])
    assert [q["name"] for q in mem.projects()] == ["new"]
    plan, = read_plans(mem, lambda: mem.project(id="proj-9"), "SELECT session_id")
    assert plan.startswith("SEARCH runs USING COVERING INDEX runs_session (session_id=?)"), plan


def test_runs_without_a_project_take_no_room_in_the_project_index(tmp_path):
    """runs_session keeps the runs of a project only: an experiment run and a traced span,
    which have none, add no entry to it, and the projects are still listed from it alone."""
    import apsw

    path = str(tmp_path / "p.db")
    with runlite.open(path) as store:
        store.import_runs([_root(name="r", session_id="proj-1", session_name="p")])
        store.init("experiment").close()
        with runlite.trace("span", store=store):
            pass
        store.live.flush_spans()
        assert [p["name"] for p in store.projects()] == ["p"]
        plan, = read_plans(store, store.projects, "SELECT session_id")
        assert "USING COVERING INDEX runs_session" in plan, plan
    conn = apsw.Connection(path)
    try:
        assert conn.execute("SELECT count(*) FROM runs").get == 3
        entries = conn.execute("SELECT sum(ncell) FROM dbstat WHERE name = 'runs_session' AND pagetype = 'leaf'").get
        assert entries == 1
    finally:
        conn.close()


def test_a_project_named_with_a_foreign_id_is_found_by_name(mem):
    mem.import_runs([_root(session_name="imported", session_id="22222222-2222-4222-8222-222222222222")])
    assert mem.project("imported")["id"] == "22222222-2222-4222-8222-222222222222"


def test_select_returns_records_of_just_those_fields(tree):
    store, ids = tree
    rows = store.list_runs(select=["name", "start_time", "extra", "child_run_ids"], order_by="name")
    assert all(isinstance(r, RunRecord) for r in rows)
    full = {r.id: r for r in store.list_runs()}
    for rec in rows:
        whole = full[rec.id]
        assert (rec.name, rec.start_time, rec.metadata, rec.child_run_ids) == (
            whole.name, whole.start_time, whole.metadata, whole.child_run_ids)
        assert rec.status is None and rec.inputs is None and rec.outputs is None and rec.feedback_stats == {}
        for key in ("name", "start_time", "extra", "child_run_ids"):
            assert rec.to_dict()[key] == whole.to_dict()[key], key
    assert [r.name for r in rows] == ["a", "a1", "b", "root"]
    (only_id,) = store.list_runs(select=[], id=ids["b"])
    assert only_id.id == ids["b"] and only_id.name is None
    assert store.list_runs(select=["s3_urls"], id=ids["b"])[0].attachments == {}
    for bad in (["nope"], [3], "nope", {"name": 1}, ["latency"]):
        with pytest.raises(runlite.ValidationError, match="select"):
            store.list_runs(select=bad, filter='eq(name, "no such run")')  # checked even when nothing matches


# ---------------------------------------------------------------- the real SDK as the contract


def test_every_read_validates_as_a_langsmith_run(tree, ls):
    store, ids = tree
    for run_id in ids.values():
        for how, rec in every_read(store, run_id).items():
            data = rec.to_dict()
            run = ls.Run(**data)
            assert str(run.id) == run_id and run.status == data["status"] in ("success", "error", "pending"), how
            assert [str(c) for c in run.child_run_ids] == data["child_run_ids"], how
            assert run.events == data["events"] and run.feedback_stats == data["feedback_stats"], how
    whole = ls.Run(**store.trace(ids["root"]).to_dict())
    assert [c.name for c in whole.child_runs] == ["a", "b"] and whole.child_runs[0].child_runs[0].name == "a1"


def _same_time(a, b) -> bool:
    """Two LangSmith times (datetime, ISO text or epoch ms) naming the same instant."""
    def us(v):
        if isinstance(v, (int, float)):
            return round(v * 1000)
        if isinstance(v, str):
            v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        v = v if v.tzinfo else v.replace(tzinfo=UTC)
        return round(_ms(v) * 1000)
    return (a is None and b is None) or us(a) == us(b)


def _check_read_back(sent: dict, back: dict) -> None:
    """Every field an SDK dict gave, read back (to_dict()) as the same value."""
    for key, value in sent.items():
        if key in ("child_runs", "dangerously_allow_filesystem", "attachments") or value is None:
            continue
        got = back[key]
        if key in ("start_time", "end_time", "first_token_time"):
            assert _same_time(value, got), key
        elif key == "events":
            assert [e["name"] for e in value] == [e["name"] for e in got], key
            assert all(_same_time(a["time"], b["time"]) for a, b in zip(value, got)), key
            assert [a.get("kwargs") for a in value] == [b.get("kwargs") for b in got], key
        elif key == "status":
            assert got == value.lower(), key
        elif isinstance(value, (uuid.UUID, decimal.Decimal)):
            assert type(value)(got) == value, key
        elif key == "extra":
            assert got == {"metadata": {}, **value}, key
        else:
            assert got == value, key


def test_run_tree_dicts_import_and_read_back_field_by_field(mem, ls):
    from langsmith.run_trees import RunTree

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        root = RunTree(name="agent", run_type="chain", inputs={"q": "hi"}, project_name="ls-proj", tags=["t"],
                       extra={"metadata": {"model": "m"}})
        llm = root.create_child(name="llm", run_type="llm", inputs={"p": "x"})
        llm.add_event({"name": "new_token", "time": dt.datetime.now(UTC).isoformat(), "kwargs": {"token": "a"}})
        llm.end(outputs={"text": "a"})
        tool = root.create_child(name="tool", run_type="tool")
        tool.end(error="tool broke")
        root.end(outputs={"answer": 1})
        made = [root, llm, tool]
        dicts = [run.dict() for run in made]
        safe = [run._get_dicts_safe() for run in made]
    assert mem.import_runs(dicts) == [str(r.id) for r in made]
    for sent, run in zip(dicts, made):
        back = mem.get_run(str(run.id)).to_dict()
        _check_read_back(sent, back)
        assert back["session_id"] == project_id("ls-proj") and back["run_status"] in ("completed", "failed")
        ls.Run(**back)
    assert mem.get_run(str(tool.id)).to_dict()["status"] == "error"
    tree = mem.read_run(str(root.id), load_child_runs=True)
    assert [c.name for c in tree.child_runs] == ["llm", "tool"]
    assert tree.direct_child_run_ids == (str(llm.id), str(tool.id))
    assert mem.project("ls-proj")["run_count"] == 3
    with runlite.open(":memory:") as other:  # the dicts the SDK sends (inputs/outputs copied, Nones left out)
        other.import_runs(safe)
        for sent in safe:
            _check_read_back(sent, other.get_run(str(sent["id"])).to_dict())


def test_schemas_run_dicts_import_and_read_back_field_by_field(mem, ls):
    run_id, child_id = uuid.UUID(uuid7()), uuid.UUID(uuid7())
    start = dt.datetime(2024, 5, 1, 12, 0, 0, 500000)  # naive: UTC, as LangSmith takes it
    root = ls.Run(id=run_id, name="root", run_type="chain", start_time=start, end_time=start + dt.timedelta(seconds=2),
                  inputs={"q": 1}, outputs={"a": 2}, status="SUCCESS", extra={"metadata": {"m": 1}}, tags=["x"],
                  session_id=uuid.UUID(project_id("sdk")), total_tokens=7, prompt_tokens=4, completion_tokens=3,
                  total_cost=decimal.Decimal("0.25"), prompt_token_details={"cache_read": 1},
                  feedback_stats={"k": {"n": 1, "avg": 1.0}}, events=[{"name": "start", "time": start.isoformat()}],
                  first_token_time=start + dt.timedelta(seconds=1), app_path="/o/1", in_dataset=False)
    child = ls.Run(id=child_id, name="child", run_type="llm", start_time=start + dt.timedelta(seconds=1),
                   trace_id=run_id, parent_run_id=run_id,
                   dotted_order=dotted_segment(int(_ms(start.replace(tzinfo=UTC)) * 1000), str(run_id)) + "."
                   + dotted_segment(int(_ms(start.replace(tzinfo=UTC)) * 1000) + 1_000_000, str(child_id)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydantic's, for .dict()
        sent, child_sent = root.dict(), child.dict()
    assert "." in sent["dotted_order"]  # schemas.Run's stand-in for a root: isoformat() + id
    mem.import_runs([sent, child_sent])
    back = mem.get_run(str(run_id)).to_dict()
    assert back["dotted_order"] == dotted_segment(int(_ms(start.replace(tzinfo=UTC)) * 1000), str(run_id))
    sent = {k: v for k, v in sent.items() if k not in ("dotted_order", "child_run_ids", "parent_run_ids")}
    _check_read_back(sent, back)
    assert back["run_status"] == "completed" and back["session_name"] is None
    assert back["prompt_token_details"] == {"cache_read": 1} and back["total_cost"] == 0.25
    assert back["child_run_ids"] == back["direct_child_run_ids"] == [str(child_id)]
    got = mem.get_run(str(child_id)).to_dict()
    assert got["status"] == "pending" and got["parent_run_ids"] == [str(run_id)]
    assert ls.Run(**back).feedback_stats == {"k": {"n": 1, "avg": 1.0}}
