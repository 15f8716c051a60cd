"""Issue 17, "semantics found wrong": runlite.Run behaves as simvue 2.x's Run where a Simvue user
would notice (metric times, zone-less timestamps, alert schedule, lost runs, file types, save_all).
Where the real ``simvue`` package is installed its own helpers are the reference."""

import datetime as dt
import os
import subprocess
import sys
import time

import pytest

import runlite
from runlite import errors
from runlite._validation import to_us


def _wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def local_tz(monkeypatch):
    """The process's local zone as a fixed +05:30 (no DST), restored afterwards."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield dt.timezone(dt.timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- 1. default time


def test_default_time_is_wall_clock_since_start_with_a_past_timestamp(store):
    run = store.init("past-stamp")
    run.log_metrics({"a": 1.0}, timestamp=dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc))
    time.sleep(0.05)
    run.log_metrics({"a": 2.0}, timestamp=1_600_000_000.0)
    run.log_metrics({"a": 3.0})  # no timestamp: time from now, as before
    run.flush()
    series = store.metric_values(run, "a")
    times = list(series.times)
    assert all(0 <= t < 5 for t in times), times  # not -92,222,338 s
    assert times == sorted(times) and times[1] >= 0.05
    assert list(series.timestamps)[:2] == [to_us("2021-01-01T00:00:00Z"), 1_600_000_000_000_000]


def test_a_past_timestamp_keeps_alerts_working(store):
    run = store.init("past-stamp-alert")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", frequency=0.2, window=0.2)
    run.log_metrics({"temp": 99.0}, timestamp="2020-01-01T00:00:00.000000")
    assert _wait_for(lambda: [a.state for a in store.alerts(run)] == ["critical"])


def test_explicit_time_still_wins(store):
    run = store.init("explicit")
    run.log_metrics({"a": 1.0}, time=123.5, timestamp="2020-01-01T00:00:00Z")
    run.flush()
    assert list(store.metric_values(run, "a").times) == [123.5]


# ---------------------------------------------------------------- 2. zone-less strings


def test_zoneless_timestamp_strings_are_utc_as_simvue_sends_them(store, local_tz):
    """Simvue's docstring says "a string is local time", but simvue 2.6.2's ``simvue_timestamp``
    is ``pydantic.validate_call``ed: the string becomes a naive datetime first and is sent
    unchanged, which its server reads as UTC. runlite's Simvue calls do what simvue does."""
    run = store.init("zoneless")
    text = "2024-05-01T12:00:00.000000"
    run.log_metrics({"a": 1.0}, timestamp=text)
    run.log_event("hello", timestamp=text)
    run.log_event("zoned", timestamp="2024-05-01T12:00:00+05:30")  # an explicit zone is kept
    run.flush()
    utc = dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc)
    events = store.events(run)
    assert {e.message: e.time for e in events} == {"hello": utc,
                                                   "zoned": dt.datetime(2024, 5, 1, 12, tzinfo=local_tz)}
    assert store.metric_values(run, "a").timestamps[0] == to_us(utc)
    # the local reading exists as an option of to_us, unused by the Simvue calls
    assert to_us(text, local_strings=True) == to_us(dt.datetime(2024, 5, 1, 12, tzinfo=local_tz))
    assert to_us(dt.datetime(2024, 5, 1, 12), local_strings=True) == to_us(utc)


def test_zoneless_strings_match_simvue(local_tz):
    models = pytest.importorskip("simvue.models")
    text = "2024-05-01T12:00:00.250000"
    sent = models.simvue_timestamp(text)  # what simvue's Run sends for it (its server: UTC)
    assert to_us(text) == to_us(sent + "Z")


# ---------------------------------------------------------------- 3. alerts on Simvue's schedule


def test_divergence_on_the_last_point_fires_by_the_next_check(store):
    run = store.init("last-point")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", frequency=0.2, window=0.2)
    run.log_metrics({"temp": 10.0})
    run.log_metrics({"temp": 99.0})  # the last point: nothing is logged after it
    assert _wait_for(lambda: [a.state for a in store.alerts(run)] == ["critical"], 3)
    change = store.alert_history(run, "hot")[0]
    assert change.state == "critical" and change.run_time == pytest.approx(0.2, abs=0.2 + 1e-9)


def test_a_stalled_metric_is_checked_on_schedule(store):
    """A metric that stops being logged: its window empties and the state stays as decided."""
    run = store.init("stalled")
    run.create_metric_range_alert("band", "x", 0.0, 1.0, "is outside range", frequency=0.1, window=0.3,
                                  aggregation="at least one")
    run.log_metrics({"x": 5.0})
    assert _wait_for(lambda: [a.state for a in store.alerts(run)] == ["critical"], 3)
    time.sleep(0.6)  # the point has left every window: no data changes nothing
    assert [c.state for c in store.alert_history(run, "band")] == ["critical"]


def test_metrics_logged_with_an_asset_are_checked(store):
    run = store.init("assets")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", frequency=0.2, window=0.2)
    run.log_metrics({"temp": 99.0}, asset="machine-1")
    run.log_metrics({"temp": 98.0}, asset="machine-2")
    assert _wait_for(lambda: [a.state for a in store.alerts(run)] == ["critical"], 3)


def test_close_performs_the_last_checks(store):
    run = store.init("at-close")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", frequency=60, window=60)
    run.log_metrics({"temp": 99.0})
    run.close()  # long before the check at 60 s: close performs it (no point can come later)
    assert [(c.state, c.run_time) for c in store.alert_history(run, "hot")] == [("critical", 60.0)]


def test_close_with_an_aborting_alert_leaves_the_run_terminated(store):
    run = store.init("abort-at-close")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", frequency=60, trigger_abort=True)
    run.log_metrics({"temp": 99.0})
    run.close()
    assert store.get_run(run.id).status == "terminated"


def test_explicit_times_are_not_moved_by_the_wall_clock(store):
    """A run giving ``time`` keeps the data-driven checks: its points are never clamped to the
    wall clock (which is 0.5 s on when they are logged at 0.01 s and 0.25 s)."""
    run = store.init("sim-time")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", window=0.1, frequency=0.1)
    time.sleep(0.5)
    run.log_metrics({"temp": 60}, time=0.01)
    run.log_metrics({"temp": 10}, time=0.25)
    run.flush()
    time.sleep(0.3)  # no scheduled check moves this run's clock
    run.log_metrics({"temp": 10}, time=0.35)
    run.flush()
    history = [(c.state, c.run_time) for c in store.alert_history(run, "hot")]
    assert history == [("critical", 0.1), ("ok", pytest.approx(0.3))]


# ---------------------------------------------------------------- 4. lost runs


@pytest.mark.parametrize("grammar", ["simvue", "langsmith"])
def test_status_lost_filter_finds_a_run_whose_process_died(db_path, grammar):
    code = (f"import os, runlite\ns = runlite.open({db_path!r})\nr = s.init('dead')\n"
            "r.log_metrics({'a': 1})\nr.flush()\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    store = runlite.open(db_path)
    try:
        alive = store.init("alive")
        assert store.get_run("dead").status == "lost"

        def names(status):
            if grammar == "simvue":
                return sorted(r.name for r in store.get_runs([f"status == {status}"]))
            return sorted(r.name for r in store.list_runs(filter=f'eq(status, "{status}")'))
        assert names("lost") == ["dead"]
        assert names("running") == ["alive"]
        alive.close()
    finally:
        store.close()


def test_a_heartbeat_timeout_shorter_than_the_interval_shortens_the_interval(store):
    run = store.init("short-timeout", heartbeat_timeout=1)
    assert run._writer.heartbeat_every_us == 333_333
    time.sleep(1.6)  # past the timeout: heartbeats came every third of it
    assert store.get_run(run.id).status == "running"
    assert store.get_runs(["status == lost"]) == []
    run.close()


# ---------------------------------------------------------------- 5. file_type


def test_file_type_must_be_a_known_mime_type(store, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    run = store.init("files")
    with pytest.raises(errors.ValidationError, match="invalid MIME type"):
        run.save(path, "input", filetype="text/bogus")
    with pytest.raises(errors.ValidationError, match="invalid MIME type"):
        run.save_directory(tmp_path, "input", filetype="nope/nothing")
    assert store.attachments(run) == []
    run.save(path, "input", filetype="application/vnd.plotly.v1+json")
    run.save_all([str(path)], "code", filetype="text/plain")
    assert [a.mime_type for a in store.attachments(run)] == ["text/plain"]
    run.attach("blob", b"x", mime_type="application/x-anything")  # LangSmith's attach: any type/subtype


def test_known_mime_types_are_simvues():
    utilities = pytest.importorskip("simvue.utilities")
    from runlite.storage.attachments import check_mime
    for mime in utilities.get_mimetypes():
        assert check_mime(mime, known=True) == mime


# ---------------------------------------------------------------- 6. save_all


def test_save_all_with_a_missing_item_saves_nothing_as_simvue(store, tmp_path):
    """simvue 2.6.2's ``save_all`` is ``pydantic.validate_call``ed with ``list[FilePath |
    DirectoryPath]``: a missing item fails validation before any item is saved (tried offline:
    ``RuntimeError`` and no artifact). runlite refuses the same call the same way."""
    first = tmp_path / "first.txt"
    first.write_text("1")
    run = store.init("save-all")
    with pytest.raises(errors.NotFoundError, match="nothing was saved"):
        run.save_all([str(first), str(tmp_path / "missing.txt")], "input")
    assert store.attachments(run) == []
