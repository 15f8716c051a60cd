"""runlite.simvue.Run: Simvue 2.x's Run with only the import changed.

Two kinds of tests: Simvue's documented examples (its docstrings) ported with only the import
changed, and the same calls made on the real ``simvue`` package in offline mode (it runs
without a server given a cache directory and a well-formed token), comparing return values
and whether a ``RuntimeError``/``ValueError`` is raised.
"""

from __future__ import annotations

import datetime
import io
import logging
import os
import sys
import threading
import time

import pytest

import runlite
import runlite.simvue as simvue  # noqa: PLR0402 - the migration Simvue users make
from runlite import errors
from runlite.simvue import run as simvue_run_mod


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    """Runs go to a file in tmp_path (``Run()`` opens ``$RUNLITE_DB``); the cwd is tmp_path."""
    monkeypatch.setenv("RUNLITE_DB", str(tmp_path / "runs.db"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(simvue_run_mod, "_ONLINE_WARNED", [True])  # the once-only warning: own test


def _store(tmp_path):
    return runlite.open(str(tmp_path / "runs.db"))


def _offline():
    return simvue.Run(mode="offline")


# -- Simvue's documented examples, only the import changed


def test_docstring_context_manager_example(tmp_path):
    with simvue.Run() as run:
        run.init("pid_track")
        run.log_event(message="Hello World!")
        run.log_event(message="Good Night", timestamp=datetime.datetime.now(datetime.timezone.utc),
                      log_level="debug")
    with _store(tmp_path) as store:
        record = store.get_run("pid_track")
        assert record.status == "completed"
        assert [(e.message, e.level) for e in store.events(record.id)] == [
            ("Hello World!", "info"), ("Good Night", "debug")]


def test_docstring_tags_examples(tmp_path):
    with simvue.Run() as run:
        run.init(tags=["old", "tag", "set"])
        run.set_tags(["new", "tag", "set"])
        first = run.id  # by id: the two runs' random names may be the same (1 in 2,916)
    with simvue.Run() as run2:
        run2.init(tags=["current_tag"])
        run2.update_tags(["additional_tag"])
        second = run2.id
    with _store(tmp_path) as store:
        assert list(store.get_run(first).tags) == ["new", "tag", "set"]
        assert set(store.get_run(second).tags) == {"current_tag", "additional_tag"}


def test_docstring_save_object_example(tmp_path):
    np = pytest.importorskip("numpy")
    with simvue.Run() as run:
        run.init()
        x = np.random.random(10000).reshape((100, 100))
        assert run.save_object(obj=x, category="input", name="x") is True
        run_id = run.id
    with _store(tmp_path) as store:
        (attachment,) = store.attachments(run_id)
        assert (attachment.name, attachment.mime_type, attachment.category) == (
            "x", "application/vnd.simvue.numpy.v1", "input")
        loaded = np.load(io.BytesIO(store.read_attachment(run_id, "x")), allow_pickle=False)
        assert (loaded == x).all()


def test_docstring_set_metric_units_example(tmp_path):
    with simvue.Run() as run:
        run.init()
        assert run.set_metric_units("dimension_0", units="Å", mks_unit="metre", mks_conversion=1e-10) is None
        run.log_metrics({"dimension_0": 2})  # the docstring's {'dimension_0', 2} is a set: a typo
        run_id = run.id
    with _store(tmp_path) as store:
        assert store.get_run(run_id).metadata["simvue"]["metrics"]["dimension_0"] == {
            "units": "Å", "mks_conversion": 1e-10, "mks_units": "metre"}


def test_docstring_add_process_example(tmp_path):
    (tmp_path / "run_count.sh").write_text("#!/bin/bash\nfor i in 1 2 3; do echo $i >> data.out; done\n")
    with simvue.Run() as run:
        run.init("execute_custom_process", folder="/examples")
        run.add_process(identifier="count_up", executable="bash", script="run_count.sh")
        run_id = run.id
    assert (tmp_path / "data.out").read_text() == "1\n2\n3\n"
    with _store(tmp_path) as store:
        record = store.get_run(run_id)
        assert record.metadata["count_up_command"] == "bash run_count.sh"
        assert {(a.name, a.category) for a in store.attachments(run_id)} >= {("run_count.sh", "code")}
        (alert,) = [a for a in store.alerts(run_id) if a.name == "count_up_exit_status"]
        assert alert.state == "ok"


# -- this wrapper's behaviour


def test_add_process_failure_sets_exit_status_alert_and_callback(tmp_path):
    seen = {}
    done = threading.Event()
    with _offline() as run:
        run.init("proc")
        run.add_process("bad", "sh", "-c", "echo out; echo err >&2; exit 3",
                        completion_callback=lambda **kw: seen.update(kw), completion_trigger=done)
        run_id = run.id
    assert done.is_set()
    assert seen == {"status_code": 3, "std_out": "out\n", "std_err": "err\n"}
    with _store(tmp_path) as store:
        (alert,) = store.alerts(run_id)
        assert (alert.name, alert.state) == ("bad_exit_status", "critical")
        assert {a.name for a in store.attachments(run_id, "output")} == {"proc_bad.out", "proc_bad.err"}


def test_a_process_identifier_is_reused_once_its_process_ended(tmp_path):
    """A loop adding the same identifier again, as Simvue's executor takes, was refused."""
    with _offline() as run:
        run.init("sweeps/run-1")  # a '/' in the name made the output path a missing folder
        for i in range(3):
            done = threading.Event()
            run.add_process("solver", "sh", "-c", f"echo pass {i}", completion_trigger=done)
            assert done.wait(30)
        run.add_process("sleeper", "sleep", "30")
        with pytest.raises(ValueError, match="still running"):
            run.add_process("sleeper", "sleep", "30")
        run.kill_all_processes()
        run_id = run.id
    with _store(tmp_path) as store:
        assert [a.name for a in store.alerts(run_id)] == ["sleeper_exit_status", "solver_exit_status"]
        assert store.read_attachment(run_id, "sweeps_run-1_solver.out") == b"pass 2\n"


def test_add_process_refused_by_its_identifier_saves_nothing(tmp_path):
    (tmp_path / "go.sh").write_text("echo hi")
    with _offline() as run:
        run.init("ident")
        with pytest.raises(ValueError, match="metadata key"):
            run.add_process("stage:1", "sh", script=str(tmp_path / "go.sh"))
        run_id = run.id
    with _store(tmp_path) as store:
        assert store.attachments(run_id) == [] and store.get_run(run_id).metadata == {}


def test_kill_process(tmp_path):
    with _offline() as run:
        run.init("kill")
        run.add_process("sleeper", "sleep", "30")
        started = time.monotonic()
        run.kill_process("sleeper")
        with pytest.raises(RuntimeError):
            run.kill_process("nope")
        run.kill_all_processes()
    assert time.monotonic() - started < 10


def test_handler_sends_log_records_as_events(tmp_path):
    with _offline() as run:
        run.init("logged")
        handler = simvue.Handler(run)
        logger = logging.getLogger("runlite-test-simvue-handler")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            logger.warning("disk at %d%%", 91)
            logging.getLogger("simvue.internal").addHandler(handler)
            logging.getLogger("simvue.internal").warning("skipped")
        finally:
            logger.removeHandler(handler)
            logging.getLogger("simvue.internal").removeHandler(handler)
        run_id = run.id
    with _store(tmp_path) as store:
        assert [e.message for e in store.events(run_id)] == ["disk at 91%"]


def test_online_warns_once():
    simvue_run_mod._ONLINE_WARNED[0] = False
    with pytest.warns(UserWarning, match="no Simvue server"):
        simvue.Run(mode="online")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simvue.Run()  # online again: silent


def test_errors_are_runtime_errors_and_runlite_errors():
    for cls in (errors.SimvueRunError, errors.SimvueStateError, errors.SimvueValidationError,
                errors.SimvueNotFoundError):
        assert issubclass(cls, RuntimeError) and issubclass(cls, errors.RunliteError)
    assert issubclass(errors.SimvueValidationError, ValueError)
    assert issubclass(errors.SimvueStateError, errors.RunStateError)


@pytest.mark.parametrize("kwargs", [
    {"name": "a*b"}, {"tags": ["a/b"]}, {"metadata": {"a/b": 1}}, {"folder": "x"},
    {"retention_period": "forever"}, {"visibility": "x"}, {"notification": "email"}, {"timeout": 0},
])
def test_init_refusals_are_simvue_errors(kwargs):
    with pytest.raises(errors.SimvueValidationError):
        _offline().init(**kwargs)


def test_init_accepts_every_2x_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNLITE_TEST_SHELL_VAR", "yes")
    run = _offline()
    assert run.init("all-args", metadata={"k": 1}, tags=["t"], description="d", folder="/a/b",
                    notification="all", running=True, retention_period="1 hour", timeout=30,
                    visibility=["alice"], no_color=True, record_shell_vars={"RUNLITE_TEST_*"}) is True
    assert run.close() is True
    with _store(tmp_path) as store:
        record = store.get_run("all-args")
        assert record.metadata == {"k": 1, "shell": {"RUNLITE_TEST_SHELL_VAR": "yes"}}
        assert record.folder == "/a/b" and record.description == "d"


def test_retention_period_expiry(monkeypatch):
    run = _offline()
    run.init("short", retention_period="2s")
    real = time.time
    monkeypatch.setattr(simvue_run_mod.models.time, "time", lambda: real() + 3)
    with pytest.raises(RuntimeError, match="expired"):
        run.log_metrics({"x": 1})
    monkeypatch.undo()
    run.runlite_run.close()


def test_retention_period_parsed_as_humanfriendly():
    hf = pytest.importorskip("humanfriendly")
    from runlite.simvue.models import parse_timespan
    for text in ("42", "42s", "1m", "1 hour", "2.5 days", "1w", "1y", "3 mins", "10ms"):
        assert parse_timespan(text) == hf.parse_timespan(text)
    for bad in ("forever", "1 fortnight", "", "h1"):
        with pytest.raises(hf.InvalidTimespan):
            hf.parse_timespan(bad)
        with pytest.raises(errors.SimvueValidationError):
            parse_timespan(bad)


def test_save_object_formats_and_no_pickle(tmp_path):
    pd = pytest.importorskip("pandas")
    with _offline() as run:
        run.init("objects")
        assert run.save_object(pd.DataFrame({"a": [1, 2]}), "input", name="df") is True
        assert run.save_object({"a": [1, 2]}, "output", name="cfg") is True
        with pytest.raises(RuntimeError, match="never pickles"):
            run.save_object(object(), "input", allow_pickle=True)
        run_id = run.id
    with _store(tmp_path) as store:
        assert {(a.name, a.mime_type) for a in store.attachments(run_id)} == {
            ("df", "application/vnd.simvue.df.v1"), ("cfg", "application/json")}
        assert store.read_attachment(run_id, "cfg") == b'{"a": [1, 2]}'


def test_save_file_names(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.txt").write_text("hi")
    with _offline() as run:
        run.init("files")
        assert run.save_file("sub/f.txt", "input") is True
        assert run.save_file("sub/f.txt", "input", name="renamed.txt") is True
        assert run.save_file("sub/f.txt", "code", name="dir/named.txt") is True
        with pytest.warns(FutureWarning):
            assert run.save_file("sub/f.txt", "output", preserve_path=True) is True
        run_id = run.id
    with _store(tmp_path) as store:
        assert {a.name for a in store.attachments(run_id)} == {"f.txt", "renamed.txt", "dir/named.txt",
                                                               "sub/f.txt"}


def test_a_file_saved_under_another_name_keeps_its_own_type_and_path(tmp_path):
    """Saved through a temporary copy named as asked: its type was guessed from the new name
    (params.json as octet-stream, so get_artifact gave bytes) and the copy's path was kept."""
    (tmp_path / "params.json").write_text('{"lr": 0.1}')
    with _offline() as run:
        run.init("named")
        assert run.save_file("params.json", category="input", name="params") is True
        assert run.save_file("params.json", category="input", name="cfg/params") is True
        for odd in (".", ".."):
            with pytest.raises(ValueError, match="'.' or '..' segment"):
                run.save_file("params.json", category="input", name=odd)
        run_id = run.id
    with _store(tmp_path) as store:
        for name in ("params", "cfg/params"):
            (saved,) = [a for a in store.attachments(run_id) if a.name == name]
            assert saved.mime_type == "application/json" and saved.original_path == str(tmp_path / "params.json")


def test_with_block_exception_fails_the_run(tmp_path):
    with pytest.raises(ZeroDivisionError), _offline() as run:
        run.init("boom")
        raise ZeroDivisionError("boom")
    assert run.status == "failed"
    with _store(tmp_path) as store:
        assert "ZeroDivisionError" in store.events(run.id)[-1].message


def test_values_simvue_converts_in_its_lax_mode_are_taken(tmp_path):
    """Simvue's models convert text of a number and whole floats; they were refused here."""
    with _offline() as run:
        run.init("lax")
        assert run.log_metrics({"residual": "1.5e-3", "iters": "12"}, step="7") is True
        assert run.log_metrics({"residual": 0.5}, step=8.0, time="1.5") is True
        assert run.create_metric_threshold_alert("hot", "residual", 1.0, "is above", frequency=2.0)
        assert run.config(system_metrics_interval=30.0) is True
        for bad in ({"x": "high"}, {"x": 1.0, "step": 7.5}):
            values = {k: v for k, v in bad.items() if k != "step"}
            with pytest.raises(ValueError):
                run.log_metrics(values, step=bad.get("step"))
        run_id = run.id
    with _store(tmp_path) as store:
        got = store.metric_values(run_id, "residual")
        assert got.steps.tolist() == [7, 8] and got.values.tolist() == [1.5e-3, 0.5] and got.times[1] == 1.5
        assert store.metric_values(run_id, "iters").values.tolist() == [12.0]
        assert store.metric_names(run_id) == ["iters", "residual"]


def test_units_are_written_only_with_values_that_were_logged(tmp_path):
    with _offline() as run:
        run.init("units")
        run.set_metric_units("loss", units="m")
        with pytest.raises(ValueError):
            run.log_metrics({"loss": "not a number"})
        with _store(tmp_path) as store:
            assert "simvue" not in store.get_run(run.id).metadata
        run.log_metrics({"loss": 1.0})
        run_id = run.id
    with _store(tmp_path) as store:
        assert store.get_run(run_id).metadata["simvue"]["metrics"]["loss"]["units"] == "m"


def test_an_event_alert_name_is_checked_like_every_alert_name(tmp_path):
    with _offline() as run:
        run.init("named")
        with pytest.raises(ValueError, match="alert name"):
            run.create_event_alert("bad name!", "ERROR")
        run_id = run.id
    with _store(tmp_path) as store:
        assert store.alerts(run_id) == []


def test_set_status_again_after_the_run_ended_is_stored(tmp_path):
    """A check after the run may fail it, as Simvue lets it: the second call returned True and
    the run stayed completed."""
    with _offline() as run:
        run.init("checked")
        assert run.set_status("completed") is True
        assert run.set_status("failed") is True
        assert run.status == "failed"
        run_id = run.id
    with _store(tmp_path) as store:
        record = store.get_run(run_id)
        assert record.status == "failed" and record.ended is not None


def test_a_queued_run_whose_block_raises_stays_queued(tmp_path):
    """As Simvue leaves it: it was marked failed, and could no longer be reconnected."""
    with pytest.raises(OSError), _offline() as run:
        run.init("queued", running=False)
        raise OSError("the job could not be submitted")
    again = simvue.Run(mode="offline")
    assert again.reconnect(run.id) is True
    again.close()
    with _store(tmp_path) as store:
        assert store.get_run(run.id).status == "completed"


def test_alerts_map_onto_runlite(tmp_path):
    with _offline() as run:
        run.init("alerts")
        unattached = run.create_metric_threshold_alert("hot", "temp", 50, "is above", attach_to_run=False)
        assert run.add_alerts(ids=[unattached]) is True
        rng = run.create_metric_range_alert("band", "temp", 0, 10, "is outside range", window=5)
        event = run.create_event_alert("errs", "error")
        user = run.create_user_alert("manual")
        assert len({unattached, rng, event, user}) == 4
        assert run.log_alert(name="manual", state="critical") is True
        with pytest.raises(RuntimeError):
            run.add_alerts(ids=["no-such-alert"])
        with pytest.raises(RuntimeError):
            run.create_metric_threshold_alert("bad", "temp", 1, "above")
        run_id = run.id
    with _store(tmp_path) as store:
        states = {a.name: a.state for a in store.alerts(run_id)}
        assert states.keys() == {"hot", "band", "errs", "manual"} and states["manual"] == "critical"


def test_abort_callback_called_when_an_alert_terminates_the_run(tmp_path):
    called = []
    run = simvue.Run(mode="offline", abort_callback=called.append)
    run.init("aborting")
    run.config(abort_on_alert="run")
    run.create_user_alert("stop", trigger_abort=True)
    run.log_alert(name="stop", state="critical")
    assert called == [run] and run.status == "terminated"
    run.close()


def test_abort_on_alert_ignore_keeps_the_run_running(tmp_path):
    # simvue 2.6.2's _terminate_run under "ignore": abort_callback is called, and the run is not
    # set terminated nor are its processes killed; the alert itself is critical.
    called = []
    run = simvue.Run(mode="offline", abort_callback=called.append)
    run.config(abort_on_alert="ignore")  # before init, as Simvue's examples do
    run.init("ignoring")
    run.add_process("late", "sh", "-c", "sleep 1; echo finished")
    stop = run.create_user_alert("stop", trigger_abort=True)
    assert run.log_alert(identifier=stop, state="critical") is True
    assert called == [run] and run.status == "running"
    assert run.log_metrics({"x": 1.0}) is True and run.log_event("still running") is True
    assert run.close() is True  # waits for the process, which was not killed
    with _store(tmp_path) as store:
        assert store.get_run(run.id).status == "completed"
        assert {a.name: a.state for a in store.alerts(run.id)} == {"stop": "critical", "late_exit_status": "ok"}
        assert {a.name for a in store.attachments(run.id, "output")} == {"ignoring_late.out"}


def test_abort_on_alert_changed_during_the_run(tmp_path):
    called = []
    run = simvue.Run(mode="offline", abort_callback=called.append)
    run.init("switching")
    run.config(abort_on_alert="ignore")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", window=1, trigger_abort=True)
    run.log_metrics({"temp": 99.0}, time=0.5)
    run.log_metrics({"temp": 99.0}, time=1.5)  # the check at 1 s: hot goes critical at the flush
    run.runlite_run.flush()
    deadline = time.monotonic() + 10  # the store's thread may have flushed: its callback runs after
    while not called and time.monotonic() < deadline:
        time.sleep(0.01)
    assert called == [run] and run.status == "running"
    run.config(abort_on_alert="run")
    stop = run.create_user_alert("stop", trigger_abort=True)
    run.log_alert(identifier=stop)
    assert called == [run, run] and run.status == "terminated"
    with pytest.raises(RuntimeError):
        run.log_metrics({"temp": 1.0})
    run.close()
    with _store(tmp_path) as store:
        assert store.get_run(run.id).status == "terminated"
        assert {a.name: a.state for a in store.alerts(run.id)} == {"hot": "critical", "stop": "critical"}


def test_properties():
    run = _offline()
    assert (run.id, run.name, run.status, run.mode, run.duration) == (None, None, None, "offline", 0.0)
    assert len(run.uid) == 36
    run.init("props", running=False)
    assert run.status == "created" and run.duration == 0.0
    with pytest.raises(RuntimeError):
        run.save_file(__file__, "output")
    run.runlite_run.close()  # let go of the created run: another handle starts it
    later = _offline()
    assert later.reconnect(run.id) is True
    assert later.status == "running" and later.duration >= 0
    assert later.close() is True and later.status == "completed"


# -- the same calls on the real simvue package (offline) and on runlite.simvue


@pytest.fixture
def real_simvue(tmp_path, monkeypatch):
    """The real simvue, offline: a cache in tmp_path, a well-formed unsigned token, no server."""
    sv = pytest.importorskip("simvue")
    jwt = pytest.importorskip("jwt")
    monkeypatch.setenv("SIMVUE_OFFLINE_DIRECTORY", str(tmp_path / "simvue-cache"))
    monkeypatch.setenv("SIMVUE_URL", "https://simvue.invalid")
    monkeypatch.setenv("SIMVUE_TOKEN", jwt.encode({"exp": int(time.time()) + 86_400}, "k" * 32, algorithm="HS256"))
    monkeypatch.setenv("SIMVUE_NO_SERVER_CHECK", "1")
    logging.getLogger("simvue").setLevel(logging.ERROR)
    return sv


def _outcome(call):
    """``("ok", value)``, or ``("raised", is RuntimeError, is ValueError)``."""
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("RUNLITE_SIMVUE_DEBUG"):
            print("RAISED", type(exc), exc)
        return ("raised", isinstance(exc, RuntimeError), isinstance(exc, ValueError))


def _compare(real_simvue, script):
    """Run ``script(Run)`` with both Run classes; their outcome lists must be equal."""
    theirs = script(lambda **kw: real_simvue.Run(**kw))
    ours = script(lambda **kw: simvue.Run(**kw))
    assert len(ours) == len(theirs)
    for index, (mine, real) in enumerate(zip(ours, theirs)):
        if isinstance(real, tuple) and real[:1] == ("raised",) and mine[:1] == ("raised",):
            # what simvue raises, ours is too (runlite's refusals are ValueError and RuntimeError)
            assert (mine[1] or not real[1]) and (mine[2] or not real[2]), (index, mine, real)
        else:
            assert mine == real, (index, mine, real)
    return ours


def test_compare_lifecycle_return_values(real_simvue, tmp_path):
    (tmp_path / "f.txt").write_text("hi")

    def script(Run):
        out = []
        run = Run(mode="offline")
        out += [(run.name, run.id, run.status)]
        out += [_outcome(lambda: run.log_metrics({"x": 1}))]   # before init
        out += [_outcome(lambda: run.log_event("x"))]
        out += [_outcome(lambda: run.close())]
        out += [_outcome(lambda: run.init(name="cmp", folder="/cmp", tags=["a"], metadata={"k": 1},
                                          retention_period="1 hour", timeout=None, visibility="tenant",
                                          notification="all"))]
        out += [(run.name, run.status, run.mode, type(run.id).__name__, type(run.duration).__name__)]
        out += [_outcome(lambda: run.log_metrics({"x": 1.0, "y": 2}))]
        out += [_outcome(lambda: run.log_metrics({"x": 1.0}, step=5, time=1.5))]
        out += [_outcome(lambda: run.log_metrics({}))]
        out += [_outcome(lambda: run.log_metrics({"a[b]": 1}))]
        out += [_outcome(lambda: run.log_metrics({"x": "text"}))]
        out += [_outcome(lambda: run.log_event("hello", log_level="debug"))]
        out += [_outcome(lambda: run.log_event("hello", log_level="fatal"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="input"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="input", name="g.txt", file_type="text/plain"))]
        out += [_outcome(lambda: run.save_file("missing.txt", category="input"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="other"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="input", file_type="foo/bar"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="input", name="a*b"))]
        out += [_outcome(lambda: run.save_object({"a": 1}, category="input"))]
        out += [_outcome(lambda: run.save_object(object(), category="input"))]
        out += [_outcome(lambda: run.update_metadata({"z": 2}))]
        out += [_outcome(lambda: run.update_tags(["b"]))]
        out += [_outcome(lambda: run.set_tags(["c"]))]
        alert = run.create_user_alert("ua")
        out += [type(alert).__name__]
        out += [_outcome(lambda: run.log_alert(identifier=alert, state="ok"))]
        out += [_outcome(lambda: run.log_alert(identifier=alert, name="ua"))]
        out += [_outcome(lambda: run.log_alert(identifier=alert, state="bad"))]
        out += [_outcome(lambda: run.add_alerts())]
        out += [_outcome(lambda: run.create_metric_range_alert("rr", "x", 2, 1, "is inside range"))]
        out += [_outcome(lambda: run.create_metric_threshold_alert("tt", "x", 2, "above"))]
        out += [_outcome(lambda: run.create_metric_threshold_alert("t*t", "x", 2, "is above"))]
        out += [type(run.create_event_alert("ev", "err")).__name__]
        out += [_outcome(lambda: run.set_pid(os.getpid()))]
        out += [_outcome(lambda: run.config(suppress_errors=False, queue_blocking=True, system_metrics_interval=5,
                                            abort_on_alert="run", storage_id="s"))]
        out += [_outcome(lambda: run.config(system_metrics_interval=5, disable_resources_metrics=True))]
        out += [_outcome(lambda: run.set_folder_details({"a": 1}, ["t"], "d"))]
        out += [_outcome(lambda: run.set_folder_details())]
        out += [_outcome(lambda: run.set_metric_units("x", units="m"))]
        out += [_outcome(lambda: run.set_status("running"))]
        out += [_outcome(lambda: run.close()), run.status]
        out += [_outcome(lambda: run.close())]
        out += [_outcome(lambda: run.log_metrics({"x": 1}))]
        out += [_outcome(lambda: run.log_event("late"))]
        return out

    _compare(real_simvue, script)


def test_compare_metric_units_set_before_init(real_simvue, tmp_path):
    """Simvue keeps units set before ``init`` and writes them at the first ``log_metrics`` after."""
    import json

    def script(Run):
        run = Run(mode="offline")
        out = [_outcome(lambda: run.set_metric_units("loss", units="Å", mks_unit="metre", mks_conversion=1e-10))]
        out += [_outcome(lambda: run.log_metrics({"loss": 1.0}))]  # not initialised: raises, the units wait
        out += [_outcome(lambda: run.init(name="units-early"))]
        out += [_outcome(lambda: run.log_metrics({"loss": 2.0}))]
        out += [_outcome(lambda: run.close())]
        return out, run.id

    theirs, their_id = script(lambda **kw: real_simvue.Run(**kw))
    ours, our_id = script(lambda **kw: simvue.Run(**kw))
    assert [o[0] for o in ours] == [o[0] for o in theirs] == ["ok", "raised", "ok", "ok", "ok"]
    assert ours[0] == theirs[0] == ("ok", None)
    cached = json.loads((tmp_path / "simvue-cache" / "runs" / f"{their_id}.json").read_text())
    with _store(tmp_path) as store:
        assert store.get_run(our_id).metadata["simvue"] == cached["metadata"]["simvue"] == {
            "metrics": {"loss": {"units": "Å", "mks_conversion": 1e-10, "mks_units": "metre"}}}


def test_compare_alerts_created_before_init(real_simvue, tmp_path):
    """Simvue creates an alert with ``attach_to_run=False`` before ``init`` (attaching needs the
    run: ``add_alerts`` raises); ``add_alerts`` attaches it once the run exists."""
    def script(Run):
        run, made = Run(mode="offline"), {}

        def make(kind, *args):
            made[args[0]] = getattr(run, kind)(*args, attach_to_run=False)
            return type(made[args[0]]).__name__

        out = [_outcome(lambda: make("create_user_alert", "early-user")),
               _outcome(lambda: make("create_event_alert", "early-event", "err")),
               _outcome(lambda: make("create_metric_threshold_alert", "early-hot", "x", 1, "is above")),
               _outcome(lambda: make("create_metric_range_alert", "early-band", "x", 0, 1, "is inside range")),
               _outcome(lambda: run.create_user_alert("early-attached")),  # attaching needs the run
               _outcome(lambda: run.create_user_alert("a*b", attach_to_run=False))]
        out += [_outcome(lambda: run.init(name="alerts-early"))]
        out += [_outcome(lambda: run.add_alerts(ids=[made["early-user"], made["early-hot"]]))]
        out += [_outcome(lambda: run.log_alert(identifier=made["early-user"], state="critical"))]
        out += [_outcome(lambda: run.close())]
        return out

    ours = _compare(real_simvue, script)
    assert [o[:2] for o in ours[:4]] == [("ok", "str")] * 4 and ours[4][:2] == ("raised", True)
    with _store(tmp_path) as store:
        (run,) = store.runs()
        assert {a.name: a.state for a in store.alerts(run.id)} == {"early-user": "critical", "early-hot": "ok"}


def test_an_alert_created_before_init_is_in_the_file(tmp_path):
    called = []
    run = simvue.Run(mode="offline", abort_callback=called.append)
    stop = run.create_user_alert("stop", trigger_abort=True, attach_to_run=False)
    event = run.create_event_alert("errs", "error", attach_to_run=False)
    run.config(abort_on_alert="run")
    run.init("early")
    assert run.create_event_alert("errs", "error") == event  # the same definition: the stored alert
    assert run.add_alerts(names=["stop"]) is True
    run.log_alert(identifier=stop)
    assert called == [run] and run.status == "terminated"
    run.close()
    with _store(tmp_path) as store:
        assert {a.name: a.state for a in store.alerts(run.id)} == {"stop": "critical", "errs": "ok"}


def test_compare_init_refusals(real_simvue):
    def script(Run):
        return [_outcome(lambda kwargs=kwargs: Run(mode="offline").init(**kwargs)) for kwargs in (
            {"name": "a*b"}, {"folder": "x"}, {"retention_period": "forever"}, {"visibility": "x"},
            {"notification": "email"}, {"name": "ok-name", "timeout": None, "running": False})]

    assert _compare(real_simvue, script)[-1] == ("ok", True)


def test_compare_context_manager(real_simvue):
    def script(Run):
        out = []
        with Run(mode="offline") as run:
            run.init(name="ctx")
            out += [_outcome(lambda: run.close())]
            out += [run.status]
        out += [run.status]
        try:
            with Run(mode="offline") as run2:
                run2.init(name="ctx-fail")
                raise KeyError("x")
        except KeyError:
            pass
        out += [run2.status]
        return out

    assert _compare(real_simvue, script) == [("raised", True, False), "running", "completed", "failed"]


def test_compare_created_run(real_simvue, tmp_path):
    (tmp_path / "f.txt").write_text("hi")

    def script(Run):
        run = Run(mode="offline")
        out = [_outcome(lambda: run.init(name="queued", running=False)), run.status]
        out += [_outcome(lambda: run.save_file("f.txt", category="output"))]
        out += [_outcome(lambda: run.save_file("f.txt", category="input"))]
        out += [_outcome(lambda: run.update_metadata({"a": 1}))]
        out += [_outcome(lambda: run.log_metrics({"x": 1}))]
        return out

    _compare(real_simvue, script)


def test_compare_disabled_mode(real_simvue, tmp_path):
    (tmp_path / "f.txt").write_text("hi")
    calls = [("init", (), {"name": "x"}), ("log_metrics", ({"a": 1},), {}), ("log_event", ("x",), {}),
             ("save_file", ("f.txt",), {"category": "input"}), ("update_metadata", ({"a": 1},), {}),
             ("log_alert", (), {"identifier": "x"}), ("set_pid", (1,), {}), ("add_alerts", (), {"ids": ["x"]}),
             ("set_status", ("completed",), {}), ("save_object", ({"a": 1},), {"category": "input"}),
             ("update_tags", (["a"],), {}), ("set_tags", (["a"],), {}), ("set_folder_details", (), {}),
             ("set_metric_units", ("x",), {"units": "m"}), ("config", (), {})]

    def script(Run):
        run = Run(mode="disabled")
        out = [_outcome(lambda m=m, a=a, k=k: getattr(run, m)(*a, **k)) for m, a, k in calls]
        return out + [(run.name, run.id, run.status, run.mode)]

    _compare(real_simvue, script)
    assert not os.path.exists(tmp_path / "runs.db")


def test_disabled_close_and_alerts_are_no_ops(tmp_path):
    # Differs from simvue 2.6.2 on purpose: its disabled close() raises "not initialised" and
    # its create_*_alert calls a server; here both are no-ops, as the mode promises.
    run = simvue.Run(mode="disabled")
    assert run.init() is True and run.close() is True
    assert run.create_user_alert("u") is None and run.add_process("p", "true") is None
    assert not os.path.exists(tmp_path / "runs.db")


def test_stricter_than_offline_simvue_on_patterns(real_simvue):
    # Offline simvue 2.6.2 accepts these (its server would check the models); runlite checks at once.
    def script(Run):
        run = Run(mode="offline")
        run.init(name="patterns")
        out = [_outcome(lambda: run.update_tags(["a/b"])), _outcome(lambda: run.update_metadata({"a/b": 1}))]
        run.close()
        return out

    assert script(lambda **kw: real_simvue.Run(**kw)) == [("ok", True), ("ok", True)]
    assert script(lambda **kw: simvue.Run(**kw)) == [("raised", True, True), ("raised", True, True)]


def test_client_is_reexported():
    if not os.path.exists(os.path.join(os.path.dirname(simvue.__file__), "client.py")):
        pytest.skip("runlite/simvue/client.py is not written yet")
    from runlite.simvue import Client
    assert Client.__module__ == "runlite.simvue.client"
    assert sys.modules["runlite.simvue"].__all__ == ["Client", "Handler", "Run"]


def test_a_run_given_a_files_path_as_its_store_writes_there(tmp_path):
    # As ``Client(store=path)`` takes one; anything but a Store or a path is refused by name.
    path = str(tmp_path / "given.db")
    with simvue.Run(mode="offline", store=path) as run:
        run.init(name="by-path")
        run.log_metrics({"loss": 0.5})
    with runlite.open(path) as store:
        assert [r.name for r in store.runs()] == ["by-path"]
        assert list(store.metric_values(store.runs()[0], "loss").values) == [0.5]
    for wrong in (3, object(), b"bytes.db"):
        with pytest.raises(errors.ValidationError, match="a Store .* or a file's path"):
            simvue.Run(store=wrong)
        with pytest.raises(errors.ValidationError, match="a Store .* or a file's path"):
            runlite.Run(store=wrong)
