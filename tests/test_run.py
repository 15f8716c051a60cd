"""Run lifecycle, metadata, tags, folders, parent/child links (Simvue and LangSmith semantics)."""

import datetime as dt
import os
import re
import subprocess
import sys

import apsw
import pytest

import runlite
from runlite import Run
from runlite.live import registry as live_registry
from runlite._ids import dotted_ids


def test_init_defaults(store):
    run = store.init()
    assert re.fullmatch(r"[a-z]+-[a-z]+", run.name)
    assert run.status == "running"
    rec = store.get_run(run.id)
    assert rec.status == "running" and rec.folder == "/" and rec.metadata == {} and rec.tags == ()
    assert rec.trace_id == run.id and rec.parent_run_id is None
    assert rec.pid == os.getpid() and rec.host and rec.heartbeat is not None
    assert rec.system["pid"] == os.getpid()


def test_created_then_reconnect(store):
    run = store.init("queued", running=False)
    assert store.get_run("queued").status == "created"
    assert store.get_run("queued").started is None
    live = store.reconnect("queued")
    assert live.id == run.id and live.status == "running"
    assert store.get_run(run.id).started is not None
    with pytest.raises(runlite.RunStateError, match="only a 'created' run"):
        store.reconnect(run.id)


def test_status_argument_of_the_seed(store):
    assert store.init("a", status="created").status == "created"
    assert store.init("b", status="running").status == "running"
    with pytest.raises(runlite.ValidationError):
        store.init("c", status="completed")
    assert [r.name for r in store.runs()] == ["b", "a"]


def test_reconnect_unknown_and_ambiguous(store):
    with pytest.raises(runlite.NotFoundError):
        store.reconnect("nobody")
    store.init("twin", running=False)
    store.init("twin", running=False)
    with pytest.raises(runlite.AmbiguousNameError, match="use a run id"):
        store.reconnect("twin")


def test_metadata_merge_and_tags(store):
    run = store.init("m", metadata={"a": 1, "nested": {"x": 1}}, tags=["t1"])
    run.update_metadata({"b": 2})
    run.update_metadata({"a": 3, "nested": {"y": 2}})
    run.update_tags(["t2", "t1"])
    rec = store.get_run(run.id)
    assert rec.metadata == {"a": 3, "b": 2, "nested": {"y": 2}}  # top-level merge, new value wins
    assert rec.tags == ("t1", "t2")
    run.set_tags(["only"])
    assert store.get_run(run.id).tags == ("only",)


def test_set_status_and_close(store):
    run = store.init("s")
    run.set_status("failed")
    rec = store.get_run(run.id)
    assert rec.status == "failed" and rec.ended is not None
    with pytest.raises(runlite.RunStateError, match="already failed"):
        run.set_status("completed")
    with pytest.raises(runlite.ValidationError):
        store.init("t").set_status("lost")
    other = store.init("u")
    other.close()
    assert store.get_run(other.id).status == "completed"
    other.close()  # idempotent


@pytest.mark.parametrize("alerted", [False, True], ids=["plain", "alert armed"])
def test_close_writes_last_points_and_status_together(store, db_path, monkeypatch, alerted):
    """The last flush and the final status are one transaction: a close that fails leaves the
    file as it was (no point of it, the run still running), and a second close writes both."""
    from runlite.storage import runs as runs_mod

    run = store.init("atomic")
    if alerted:
        run.create_metric_threshold_alert("hot", "loss", 50, "is above", window=2, frequency=1)
    for step in range(5):
        run.log_metrics({"loss": float(step)}, step=step)
    real = runs_mod.finish

    def failing(*args, **kwargs):
        real(*args, **kwargs)  # its update is made, then the transaction fails after it
        raise runlite.StoreError("disk gone")

    monkeypatch.setattr(runs_mod, "finish", failing)
    with pytest.raises(runlite.StoreError, match="disk gone"):
        run.close()
    # Read with SQLite itself: a Store of this process would first write what the run holds.
    raw = apsw.Connection(db_path, flags=apsw.SQLITE_OPEN_READONLY)
    assert raw.execute("SELECT status FROM runs WHERE id = ?", (run.id,)).get == "running"
    assert raw.execute("SELECT count(*) FROM series WHERE run_id = ?", (run.id,)).get == 0
    raw.close()
    monkeypatch.setattr(runs_mod, "finish", real)
    run.close()
    assert store.get_run(run.id).status == "completed"
    assert list(store.metric_values(run.id, "loss").values) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_context_manager_outcomes(store):
    with store.init("ok") as run:
        pass
    assert store.get_run(run.id).status == "completed"

    with pytest.raises(ValueError):
        with store.init("boom") as run:
            raise ValueError("bad thing")
    rec = store.get_run(run.id)
    assert rec.status == "failed" and "ValueError: bad thing" in rec.error and "Traceback" in rec.error

    with pytest.raises(KeyboardInterrupt):
        with store.init("stop") as run:
            raise KeyboardInterrupt
    assert store.get_run(run.id).status == "terminated"

    with store.init("manual") as run:
        run.set_status("failed")  # an explicit status is kept on a clean exit
    assert store.get_run(run.id).status == "failed"


def test_seed_shape_run_class(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNLITE_DB", raising=False)
    with Run() as run:
        run.init(name="seed-run", metadata={"k": 1}, tags=["x"], description="d", folder="/f", status="running")
        run.update_metadata({"j": 2})
        run.update_tags(["y"])
        run.set_folder_details(path="/f", metadata={"owner": "me"}, tags=["ft"], description="folder d")
    assert os.path.exists(tmp_path / "runs.db")
    with runlite.open(str(tmp_path / "runs.db")) as s:
        rec = s.get_run("seed-run")
        assert rec.status == "completed" and rec.metadata == {"k": 1, "j": 2} and rec.tags == ("x", "y")
        assert rec.description == "d" and rec.folder == "/f"
        assert s.folder("/f")["metadata"] == {"owner": "me"}
        assert s.folder("/f")["description"] == "folder d"


def test_seed_reconnect_on_run_class(tmp_path, monkeypatch):
    path = str(tmp_path / "env.db")
    monkeypatch.setenv("RUNLITE_DB", path)
    queued = Run()
    queued.init(name="job", running=False)
    queued.close()
    run = Run()
    run.reconnect("job")
    assert run.status == "running"
    run.close()
    with runlite.open(path) as s:
        assert s.get_run("job").status == "completed"


def test_run_path_and_store_arguments(tmp_path, store):
    path = str(tmp_path / "other.db")
    with Run(path=path) as run:
        run.init("p")
    with runlite.open(path) as s:
        assert s.get_run("p").status == "completed"
    with Run(store=store) as run:
        run.init("q")
    assert store.get_run("q").status == "completed"
    assert not store.closed  # a Run does not close a store it was given
    with pytest.raises(runlite.ValidationError):
        Run(store=store, path=path)
    run = Run(store=store).init("r")
    with pytest.raises(runlite.RunStateError):
        run.init("again")


def test_folders_created_with_parents(store):
    store.init("f", folder="/a/b/c/")
    assert store.folders() == ["/", "/a", "/a/b", "/a/b/c"]
    assert store.get_run("f").folder == "/a/b/c"
    for bad in ("a/b", "/a//b", "/a/../b", "", "/a/\x00"):
        with pytest.raises(runlite.ValidationError):
            store.init("g", folder=bad)


def test_children_and_trace_identity(store):
    root = store.init("root", run_type="chain")
    a = root.child("a", run_type="tool", inputs={"x": 1})
    b = root.child("b", run_type="llm")
    aa = a.child("aa")
    for r in (a, b, aa):
        rec = store.get_run(r.id)
        assert rec.trace_id == root.id
        assert dotted_ids(rec.dotted_order)[-1] == r.id
    assert store.get_run(aa.id).parent_run_ids == [root.id, a.id]
    assert store.get_run(aa.id).parent_run_id == a.id
    assert store.get_run(root.id).direct_child_run_ids == (a.id, b.id)
    assert set(store.get_run(root.id).child_run_ids) == {a.id, b.id, aa.id}  # LangSmith: every descendant
    assert store.get_run(a.id).inputs == {"x": 1}
    order = sorted(store.runs(), key=lambda r: r.dotted_order)
    assert [r.name for r in order] == ["root", "a", "aa", "b"]  # execution (pre-)order
    seg = store.get_run(a.id).dotted_order.split(".")[-1]
    assert re.fullmatch(r"\d{8}T\d{6}\d{6}Z[0-9a-f-]{36}", seg)
    child = store.init("by-id", parent=root.id)
    assert store.get_run(child.id).parent_run_id == root.id
    with pytest.raises(runlite.NotFoundError):
        store.init("orphan", parent="01000000-0000-7000-8000-000000000000")


def test_child_never_starts_before_parent(store):
    root = store.init("root")
    # A parent whose start is in the future (clock skew between hosts): the child is clamped.
    future = root._started_us + 10_000_000
    with store.database.write() as conn:
        conn.execute("UPDATE runs SET started = ? WHERE id = ?", (future, root.id))
    child = store.init("c", parent=root)
    rec = store.get_run(child.id)
    assert rec.start_time >= store.get_run(root.id).start_time
    assert rec.dotted_order > store.get_run(root.id).dotted_order


def test_end_langsmith_style(store):
    run = store.init("span", run_type="llm")
    run.end(outputs="hello")
    rec = store.get_run(run.id)
    assert rec.outputs == {"output": "hello"} and rec.status == "completed" and rec.end_time
    bad = store.init("span2")
    bad.end(error="it broke")
    rec = store.get_run(bad.id)
    assert rec.status == "failed" and rec.error == "it broke"
    assert rec.latency is not None and rec.latency >= 0


def test_runs_filters_newest_first(store):
    a = store.init("a", folder="/x", tags=["t1", "t2"])
    b = store.init("b", folder="/x", tags=["t2"], run_type="llm")
    c = store.init("c", folder="/y")
    a.close()
    assert [r.name for r in store.runs()] == ["c", "b", "a"]
    assert [r.name for r in store.runs(folder="/x")] == ["b", "a"]
    assert [r.name for r in store.runs(tags=["t2"])] == ["b", "a"]
    assert [r.name for r in store.runs(tags=["t1", "t2"])] == ["a"]
    assert [r.name for r in store.runs(status="completed")] == ["a"]
    assert [r.name for r in store.runs(status=["running", "completed"], limit=2)] == ["c", "b"]
    assert [r.name for r in store.runs(run_type="llm")] == ["b"]
    assert len(store.runs(limit=1)) == 1
    with pytest.raises(runlite.ValidationError):
        store.runs(status="sleeping")
    with pytest.raises(runlite.ValidationError):
        store.runs(limit=-1)


def test_lost_by_stale_heartbeat(store):
    run = store.init("stale", heartbeat_timeout=5)
    with store.database.write() as conn:
        conn.execute("UPDATE runs SET heartbeat = heartbeat - 60000000 WHERE id = ?", (run.id,))
    assert store.get_run(run.id).status == "lost"
    assert [r.name for r in store.runs(status="lost")] == ["stale"]
    assert store.runs(status="running") == []


def test_lost_when_process_is_gone(db_path):
    code = (
        "import runlite, os; s = runlite.open(%r); r = s.init('crashy'); os._exit(0)" % db_path
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    with runlite.open(db_path, read_only=True) as s:
        rec = s.get_run("crashy")
        assert rec.status == "lost"
        assert rec.heartbeat is not None


def test_heartbeat_is_written(monkeypatch, store):
    monkeypatch.setattr(live_registry, "HEARTBEAT_INTERVAL", 0.05)
    run = store.init("beat")
    first = store.get_run(run.id).heartbeat
    import time

    deadline = time.time() + 5
    while store.get_run(run.id).heartbeat == first and time.time() < deadline:
        time.sleep(0.05)
    assert store.get_run(run.id).heartbeat > first
    run.close()


@pytest.mark.parametrize("kwargs", [
    dict(name=""), dict(name="   "), dict(name="a\nb"), dict(name="x" * 257), dict(name=5),
    dict(name="\ud800"), dict(metadata=[1]), dict(metadata={"k": float("nan")}),
    dict(metadata={"k": float("inf")}), dict(metadata={"k": object()}), dict(metadata={1: "a"}),
    dict(metadata={"": 1}), dict(metadata={"k": 1 << 64}), dict(tags="abc"), dict(tags=["ok", ""]),
    dict(tags=[1]), dict(description=3), dict(running="yes"), dict(heartbeat_timeout=0),
    dict(run_type=""), dict(folder="relative"),
])
def test_bad_init_arguments_change_nothing(store, kwargs):
    with pytest.raises(runlite.ValidationError) as info:
        store.init(**kwargs)
    assert str(info.value)  # says what was wrong
    assert store.runs() == [] and store.folders() == []


def test_bad_updates_change_nothing(store):
    run = store.init("v", metadata={"a": 1}, tags=["t"])
    for call, arg in ((run.update_metadata, {"b": float("nan")}), (run.update_metadata, "x"),
                      (run.update_tags, ["ok", "bad\x00"]), (run.set_tags, None)):
        with pytest.raises(runlite.ValidationError):
            call(arg)
    rec = store.get_run(run.id)
    assert rec.metadata == {"a": 1} and rec.tags == ("t",)


def test_deep_metadata_refused(store):
    deep = {}
    node = deep
    for _ in range(100):
        node["k"] = {}
        node = node["k"]
    with pytest.raises(runlite.LimitError):
        store.init("deep", metadata=deep)


@pytest.mark.parametrize("value, message", [
    (float("nan"), "must be finite"), (float("inf"), "must be finite"), (-float("inf"), "must be finite"),
    (2 ** 63, "signed 64-bit"), (-2 ** 63 - 1, "signed 64-bit"), ("\ud800", "surrogate"), (b"x", "bytes"),
])
def test_a_bad_metadata_value_is_refused_with_its_key_and_nothing_written(store, value, message):
    with pytest.raises(runlite.ValidationError, match=message) as caught:
        store.init("bad", metadata={"ok": 1, "lr": value})
    assert "metadata['lr']" in str(caught.value)
    assert store.runs() == []


@pytest.mark.parametrize("key, message", [
    ("", "empty or blank"), (" ", "empty or blank"), ("a\tb", "control character"), ("a\x7f", "control character"),
    ("\udc80", "surrogate"), ("k" * 257, "at most 256"), (3, "must be str"),
])
def test_a_bad_metadata_key_is_refused_and_nothing_written(store, key, message):
    with pytest.raises(runlite.ValidationError, match=message):
        store.init("bad", metadata={"ok": 1, key: 2})
    assert store.runs() == []


def test_metadata_text_at_its_limits_is_checked_as_any_text(store):
    from runlite._validation import MAX_TEXT
    kept = {"k" * 256: "x" * MAX_TEXT, "zero width \u200b": "é\u2028", "\u00a0nbsp": "\u200b"}
    assert store.get_run(store.init("text", metadata=kept).id).metadata == kept
    with pytest.raises(runlite.LimitError, match="at most"):
        store.init("long", metadata={"k": "x" * (MAX_TEXT + 1)})
    with pytest.raises(runlite.ValidationError, match="surrogate"):
        store.init("half", metadata={"k": "é\ud800"})
    assert [r.name for r in store.runs()] == ["text"]


def test_metadata_values_at_their_limits_are_kept_exactly(store):
    edges = {"max": 2 ** 63 - 1, "min": -2 ** 63, "neg0": -0.0, "tiny": 5e-324, "big": 1.7976931348623157e308,
             "flag": True, "none": None, "text": "", "nested": {"a": [1, 2.5, None]}}
    got = store.get_run(store.init("edges", metadata=edges).id).metadata
    assert got == edges and all(type(got[k]) is type(v) for k, v in edges.items())
    assert str(got["neg0"]) == "-0.0"


def test_odd_but_valid_unicode_round_trips(store):
    name = "测试 🚀 ünïcødé \u200b"
    run = store.init(name, metadata={"ключ": "значение", "emoji": "🙂"}, tags=["标签"])
    rec = store.get_run(run.id)
    assert rec.name == name and rec.metadata["ключ"] == "значение" and rec.tags == ("标签",)
    assert store.get_run(name).id == run.id


def test_sql_looking_names_are_plain_values(store):
    name = "x'); DROP TABLE runs; --"
    store.init(name, tags=["' OR 1=1 --"], metadata={"a'b": "\"; DELETE"})
    assert store.get_run(name).tags == ("' OR 1=1 --",)
    assert len(store.runs(tags=["' OR 1=1 --"])) == 1
    assert store.runs(tags=["anything"]) == []


def test_times_are_utc(store):
    run = store.init("t")
    rec = store.get_run(run.id)
    assert rec.created.tzinfo == dt.timezone.utc


def test_a_handle_still_logging_after_its_run_was_aborted_and_resumed_loses_nothing(db_path):
    """The resume numbers its own event after the file's; the first handle's buffered event had
    that number too, and its flush (with its points) failed at every try."""
    store = runlite.open(db_path)
    run = store.init("r")
    run.log_metrics({"loss": 1.0})
    run.log_event("before abort")
    store.abort_run(run.id)
    again = store.resume(run.id)
    again.log_event("after resume")
    again.close()
    with pytest.raises(runlite.RunStateError):  # the resumed handle ended the run
        run.close()
    store.close()
    with runlite.open(db_path, read_only=True) as s:
        assert list(s.metric_values(run.id, "loss").values) == [1.0]
        messages = [e.message for e in s.events(run.id)]
        assert "before abort" in messages and "after resume" in messages and len(messages) == 3
