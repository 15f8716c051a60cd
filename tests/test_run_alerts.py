"""Alerts attached to runs: evaluation at ingest, states, history, outbox, callbacks, abort."""

import math
import random
import time
from array import array

import pytest
from hypothesis import given, settings, strategies as st

import runlite
from runlite import alerts
from runlite.codec import chunks
from tests.oracles.alert_evaluator import MetricAlertEvaluator


def _log(run, pairs, metric="temp"):
    for t, v in pairs:
        run.log_metrics({metric: v}, time=float(t))
    run.flush()


def test_threshold_alert_hand_computed(mem):
    """frequency 1 s, window 2 s, average, is above 50.

    Points at t=0..9: 40 for t<5, 60 after. Check at b (run when a later point arrives) averages
    (b-2, b]: b=5 -> {40 (t=4), 60 (t=5)} = 50, not above; b=6 -> {60, 60} -> critical at 6.
    """
    run = mem.init("a")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", window=2, frequency=1)
    _log(run, [(t, 40 if t < 5 else 60) for t in range(10)])
    history = mem.alert_history(run, "hot")
    assert [(c.state, c.run_time) for c in history] == [("critical", 6.0)]
    _log(run, [(t, 10) for t in range(10, 14)])
    # b=10 (run when t=11 arrives): (8, 10] = {60 (t=9), 10 (t=10)} -> average 35 -> ok at 10
    assert [(c.state, c.run_time) for c in mem.alert_history(run, "hot")] == [("critical", 6.0), ("ok", 10.0)]
    assert [a.state for a in mem.alerts(run)] == ["ok"]


def test_range_alert_and_aggregations(mem):
    run = mem.init("r")
    run.create_metric_range_alert("band", "x", 0.0, 1.0, "is outside range", window=1, frequency=1,
                                  aggregation="at least one")
    run.create_metric_range_alert("all-in", "x", 0.0, 1.0, "is inside range", window=1, frequency=1,
                                  aggregation="all")
    _log(run, [(0.5, 0.5), (1.5, 2.0), (2.5, 0.5), (3.5, 0.5)], metric="x")
    band = [(c.state, c.run_time) for c in mem.alert_history(run, "band")]
    allin = [(c.state, c.run_time) for c in mem.alert_history(run, "all-in")]
    assert band == [("critical", 2.0), ("ok", 3.0)]
    assert allin == [("critical", 1.0), ("ok", 2.0), ("critical", 3.0)]


def test_event_alert(mem):
    run = mem.init("ev")
    run.create_event_alert("oom", "out of memory")
    run.log_event("all good")
    run.log_event("worker 3: out of memory")
    run.flush()
    assert [a.state for a in mem.alerts(run, critical_only=True)] == ["critical"]


def test_user_alert_and_log_alert(mem):
    run = mem.init("u")
    alert_id = run.create_user_alert("manual")
    run.log_alert(name="manual", state="critical")
    run.log_alert(identifier=alert_id, state="ok")
    run.log_alert(name="manual", state="ok")  # no change: no history row
    assert [c.state for c in mem.alert_history(run, "manual")] == ["critical", "ok"]
    with pytest.raises(runlite.ValidationError):
        run.log_alert(name="manual", state="amber")
    with pytest.raises(runlite.ValidationError):
        run.log_alert()
    with pytest.raises(runlite.NotFoundError):
        run.log_alert(name="ghost")
    metric_alert = run.create_metric_threshold_alert("m", "x", 1, "is above")
    with pytest.raises(runlite.ValidationError):
        run.log_alert(identifier=metric_alert)  # only user alerts are set by hand


def test_identical_definitions_reuse_the_alert(mem):
    a = mem.init("a")
    b = mem.init("b")
    id1 = a.add_alert("loss-high", metric="loss", rule="is above", threshold=1.0)
    id2 = b.add_alert("loss-high", metric="loss", rule="is above", threshold=1.0)
    id3 = b.add_alert("loss-high2", metric="loss", rule="is above", threshold=2.0)
    assert id1 == id2 != id3
    assert {s.run_id for s in mem.alerts() if s.alert_id == id1} == {a.id, b.id}
    with pytest.raises(runlite.ValidationError, match="another definition"):
        b.add_alert("loss-high", metric="loss", rule="is below", threshold=1.0)


@pytest.mark.parametrize("kwargs", [
    dict(rule="is sideways", metric="x", threshold=1), dict(rule="is above", metric="x"),
    dict(rule="is inside range", metric="x", range_low=2, range_high=1), dict(source="sensors"),
    dict(source="events"), dict(notification="sms", rule="is above", metric="x", threshold=1),
    dict(aggregation="median", rule="is above", metric="x", threshold=1),
    dict(rule="is above", metric="x", threshold=math.nan),
])
def test_seed_validation(mem, kwargs):
    run = mem.init("v")
    with pytest.raises(runlite.ValidationError):
        run.add_alert("bad", **kwargs)
    assert mem.alerts(run) == []


def test_callbacks_and_email_outbox(tmp_path):
    seen_store, seen_run = [], []
    with runlite.open(str(tmp_path / "a.db"), on_alert=seen_store.append) as s:
        run = s.init("cb", on_alert=seen_run.append)
        run.create_event_alert("fatal", "FATAL", notification="email")
        run.log_event("FATAL: disk on fire")
        run.flush()
        assert [c.state for c in seen_store] == ["critical"] and [c.name for c in seen_run] == ["fatal"]
        box = s.outbox()
        assert len(box) == 1 and box[0]["kind"] == "email" and box[0]["payload"]["state"] == "critical"
        s.mark_delivered([box[0]["id"]])
        assert s.outbox() == [] and len(s.outbox(undelivered_only=False)) == 1


def test_failing_callback_does_not_break_logging(mem):
    def boom(change):
        raise RuntimeError("callback bug")

    run = mem.init("x", on_alert=boom)
    run.create_event_alert("e", "bad")
    run.log_event("bad thing")
    run.flush()
    run.log_event("still logging")
    assert len(mem.events(run)) == 2


def test_trigger_abort(mem):
    run = mem.init("abort")
    run.create_metric_threshold_alert("diverged", "loss", 10, "is above", window=1, trigger_abort=True)
    _log(run, [(0.5, 100.0), (1.5, 100.0)], metric="loss")
    assert mem.get_run(run.id).status == "terminated"
    with pytest.raises(runlite.RunAborted):
        run.log_metrics({"loss": 1.0})
    with pytest.raises(runlite.RunAborted):
        run.log_event("more")


def test_trigger_abort_when_the_run_does_not_let_alerts_abort_it(mem):
    changes = []
    run = runlite.Run(store=mem)
    run.alerts_may_abort = False  # set before init
    run.init("goes-on", on_alert=changes.append)
    run.create_metric_threshold_alert("diverged", "loss", 10, "is above", window=1, trigger_abort=True)
    _log(run, [(0.5, 100.0), (1.5, 100.0)], metric="loss")
    deadline = time.monotonic() + 10  # the store's thread may have flushed: its callback runs after
    while not changes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(c.name, c.state) for c in changes] == [("diverged", "critical")]  # fired, recorded, notified
    assert [(a.name, a.state) for a in mem.alerts(run)] == [("diverged", "critical")]
    assert run.status == "running" and mem.get_run(run.id).status == "running"
    assert run.log_metrics({"loss": 1.0}, time=2.5) is True  # the run goes on
    run.alerts_may_abort = True  # changed during the run: an alert firing later ends it
    run.create_user_alert("stop", trigger_abort=True)
    run.log_alert(name="stop")
    assert mem.get_run(run.id).status == "terminated"
    with pytest.raises(runlite.RunAborted):
        run.log_metrics({"loss": 1.0})
    with pytest.raises(runlite.ValidationError):
        run.alerts_may_abort = "no"


def test_an_alert_not_attached_needs_no_run(tmp_path):
    run = runlite.Run(path=str(tmp_path / "runs.db"))
    alert_id = run.create_user_alert("later", attach_to_run=False)  # stored in the file before init
    with pytest.raises(runlite.RunStateError):
        run.create_user_alert("now")  # attaching needs the run
    run.init("r")
    assert run.create_user_alert("later") == alert_id  # the same definition, now attached
    assert [(a.name, a.alert_id) for a in run.store.alerts(run)] == [("later", alert_id)]
    run.close()


def test_alerts_survive_reconnect(store):
    queued = store.init("q", running=False)
    queued.create_metric_threshold_alert("hot", "t", 1, "is above", window=1)
    queued.close()
    run = store.reconnect("q")
    _log(run, [(0.5, 5.0), (1.5, 5.0)], metric="t")
    assert [a.state for a in store.alerts(run)] == ["critical"]


def test_failed_flush_does_not_double_count(mem, monkeypatch):
    run = mem.init("retry")
    run.create_metric_threshold_alert("sum", "x", 2.5, "is above", window=10, aggregation="sum")
    run.log_metrics({"x": 1.0}, time=0.5)
    run.log_metrics({"x": 1.0}, time=0.6)
    from runlite.storage import events as events_mod

    calls = {"n": 0}
    real = events_mod.flush

    def failing(conn, run_id, buffer):
        calls["n"] += 1
        raise runlite.StoreFullError("simulated full disk")

    monkeypatch.setattr(events_mod, "flush", failing)
    with pytest.raises(runlite.StoreFullError):
        run.flush()
    monkeypatch.setattr(events_mod, "flush", real)
    run.log_metrics({"x": 0.4}, time=1.5)  # sum over (−9, 1] = 2.0 if counted once (4.0 if twice)
    run.flush()
    assert mem.alert_history(run, "sum") == []
    assert len(mem.metric_values(run, "x")) == 3


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_checker_matches_exact_evaluator(data):
    rule = data.draw(st.sampled_from(alerts.RULES))
    agg = data.draw(st.sampled_from(alerts.AGGREGATIONS))
    f = data.draw(st.sampled_from([0.5, 1.0, 3.0, 0.07]))
    w = data.draw(st.sampled_from([0.5, 1.0, 2.5, 5.0, 20.0]))  # up to ~300 checks a window
    if rule in alerts.THRESHOLD_RULES:
        d = alerts.metric_threshold_alert("a", "m", 0.25, rule, window=w, frequency=f, aggregation=agg)
    else:
        d = alerts.metric_range_alert("a", "m", -0.5, 0.7, rule, window=w, frequency=f, aggregation=agg)
    steps = data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.3, 1.0, 2.5, 7.0, -0.5]), min_size=1, max_size=40))
    values = data.draw(st.lists(st.one_of(st.floats(-1.5, 1.5), st.sampled_from([math.nan, math.inf, -math.inf])),
                                min_size=len(steps), max_size=len(steps)))
    times = [sum(steps[: i + 1]) for i in range(len(steps))]
    # The writer's clock advances the checks between pieces too (here: at times in between).
    advances = data.draw(st.lists(st.sampled_from([None, 0.0, 0.05, 0.5]), min_size=len(steps),
                                  max_size=len(steps)))
    oracle = MetricAlertEvaluator(d)
    checker = alerts.MetricAlertChecker(d)
    told = alerts.MetricAlertChecker(d)  # fed by a caller that says whether each piece's times rise
    expected, got, got_told, i = [], [], [], 0
    rnd = random.Random(len(steps))
    while i < len(times):
        j = min(len(times), i + rnd.randint(1, 7))
        piece = array("d", times[i:j])
        expected += oracle.feed_many(times[i:j], values[i:j])
        got += checker.feed_arrays(piece, array("d", values[i:j]))
        got_told += told.feed_arrays(piece, array("d", values[i:j]), rising=alerts.never_decrease(piece))
        if advances[j - 1] is not None:
            at = max(times[:j]) + advances[j - 1]
            expected += oracle.advance(at)
            got += checker.advance(at)
            got_told += told.advance(at)
        i = j
    assert [(t.time, t.state) for t in got] == [(t.time, t.state) for t in expected]
    assert [(t.time, t.state) for t in got_told] == [(t.time, t.state) for t in expected]


def test_never_decrease():
    assert alerts.never_decrease(array("d", [0.0, 0.0, 1.5, 2.0]))
    assert alerts.never_decrease(array("d"))
    assert not alerts.never_decrease(array("d", [0.0, 2.0, 1.0]))


def test_rising_must_be_a_bool_or_none():
    d = alerts.metric_threshold_alert("a", "m", 1.0, "is above", window=1, frequency=1)
    with pytest.raises(runlite.ValidationError, match="rising must be"):
        alerts.MetricAlertChecker(d).feed_arrays(array("d", [0.5]), array("d", [2.0]), rising="yes")


def test_a_flush_derives_the_shared_default_times_once(tmp_path, monkeypatch):
    """Alerted metrics of one record shape share their default times: a flush derives them
    once, not once a metric (each derivation is a pass over every point flushed)."""
    calls = []
    real = chunks.derived_times
    monkeypatch.setattr(chunks, "derived_times",
                        lambda stamps, origin: calls.append(len(stamps)) or real(stamps, origin))
    with runlite.open(tmp_path / "a.db") as store:
        with store.init("shared") as run:
            for k in range(5):
                run.create_metric_threshold_alert(f"high-{k}", f"m{k}", 100.0, "is above", window=5, frequency=1)
            for i in range(300):
                run.log_metrics({f"m{k}": float(i + k) for k in range(5)})
            run.flush()
            assert calls == [300]
            assert [len(store.metric_values(run, f"m{k}")) for k in range(5)] == [300] * 5


def test_a_window_many_times_the_frequency_costs_a_check_a_point(monkeypatch):
    """Checks that see the same points decide the same: they are skipped, so a 1,000 s window
    checked every microsecond makes about two checks a point (one as it enters, one as it
    leaves), not one a microsecond (10 million over these 10 s)."""
    decided = []
    real = alerts.MetricAlertChecker._decide
    monkeypatch.setattr(alerts.MetricAlertChecker, "_decide",
                        lambda self, seg, b, out: (decided.append(b), real(self, seg, b, out)))
    d = alerts.metric_threshold_alert("a", "m", 50.0, "is above", window=1000, frequency=1e-6)
    checker, oracle = alerts.MetricAlertChecker(d), MetricAlertEvaluator(d)
    times = [i / 100 for i in range(1_000)]
    values = [float(i % 100) + (60.0 if 40 <= i < 60 else 0.0) for i in range(1_000)]
    got = checker.feed_arrays(array("d", times), array("d", values)) + checker.advance(10.0, final=True)
    assert got and got[0].state == "critical"
    assert len(decided) <= 2 * len(times) + 2
    # The oracle checks every microsecond: compared over the first second only (100,000 checks).
    first = [t for t in got if t.time < 1.0]
    assert first == [t for t in oracle.feed_many(times[:100], values[:100]) + oracle.advance(1.0) if t.time < 1.0]



_FAR_TIME_SCRIPT = """
import runlite
store = runlite.open(":memory:")
run = store.init("far")
run.create_metric_threshold_alert("hot", "m", 0.5, "is above", frequency={f}, window={f})
run.log_metrics({{"m": 1.0}}, time=0.5)
run.log_metrics({{"m": 1.0}}, time={t})
run.log_metrics({{"m": 0.0}}, time={t})
run.close()
print(repr(([(c.state, c.run_time) for c in store.alert_history(run, "hot")], len(store.metric_values(run, "m")))))
"""


@pytest.mark.parametrize("f, t", [(1.0, 1e308), (1e-6, 1e20)])
def test_a_time_beyond_exact_check_times_neither_stalls_nor_fails_a_flush(f, t):
    """A time past 2**50 checks (where k * frequency is no longer exact, the search for the
    next check looped for ever, holding the run's lock) counts as that bound. (In a child
    process: on failure it hangs, and is stopped.)"""
    import ast
    import subprocess
    import sys

    code = _FAR_TIME_SCRIPT.format(f=f, t=t)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    history, points = ast.literal_eval(done.stdout)
    # 1.0 at 0.5 is critical at the first check after it; 1.0 and 0.0 at the bound average 0.5
    assert history == [("critical", max(f, 0.5)), ("ok", 2.0**50 * f)] and points == 3


def test_an_event_stamped_beyond_exact_check_times_does_not_fail_flushes(mem):
    """An event alert checked every microsecond locates checks exactly within 35 years of the
    run's start: an event stamped in 1900 counts at that bound, where it made every flush of
    the run (and every read of it) raise, so nothing logged after it was ever written."""
    import datetime

    run = mem.init("old-stamp")
    run.create_event_alert("boom", "boom", frequency=1e-6)
    run.log_event("boom", timestamp=datetime.datetime(1900, 1, 1, tzinfo=datetime.timezone.utc))
    run.log_event("fine")
    run.flush()
    assert [e.message for e in mem.events(run)] == ["boom", "fine"]
    assert [c.state for c in mem.alert_history(run, "boom")][:1] == ["critical"]


def test_a_change_costs_the_same_however_long_the_alert_history(tmp_path):
    """The next history row's seq is read from the end of the primary key: counting the rows
    made each change cost the alert's whole history, so an alert that flaps for a day (a
    change a second) took minutes to record. The cost is SQLite's virtual-machine steps (in
    thousands): the work done, whatever the machine's speed."""
    with runlite.open(tmp_path / "a.db") as store:
        def flap(run, start) -> int:
            for i in range(200):
                run.log_metrics({"m": float(i % 2)}, time=start + i + 0.5)
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0
            with store.database.write() as conn:  # the writer's connection: the flush's
                conn.set_progress_handler(count, 1000)
            try:
                run.flush()
            finally:
                with store.database.write() as conn:
                    conn.set_progress_handler(None)
            return steps[0]

        long, fresh = store.init("long"), store.init("fresh")
        alert_id = long.create_metric_threshold_alert("hi", "m", 0.5, "is above", window=1)
        fresh.create_metric_threshold_alert("hi", "m", 0.5, "is above", window=1)
        with store.database.write() as conn:  # a day of changes, one a second
            conn.executemany("INSERT INTO alert_history VALUES (?, ?, ?, 0, ?, ?)",
                             ((long.id, alert_id, seq, seq + 1.0, ("critical", "ok")[seq % 2])
                              for seq in range(200_000)))
        small, big = flap(fresh, 0), flap(long, 200_000)
        assert small > 0 and big <= 3 * small + 5, (big, small)
        added = len(store.alert_history(fresh, "hi"))
        assert added > 150 and len(store.alert_history(long, "hi")) == 200_000 + added


@pytest.mark.parametrize("flushed_between", [False, True])
def test_assets_of_a_metric_are_checked_in_the_order_logged_wherever_flushes_fall(mem, flushed_between):
    """Each asset logs its whole series with explicit times, one asset after the other. The
    second's points are older than the first's last: they count at its time, whether or not a
    flush fell between the two (in one flush they were sorted by time and counted at their
    own: critical at 1 s instead of 4 s)."""
    run = mem.init("assets")
    run.create_metric_threshold_alert("hot", "temp", 50, "is above", window=1, aggregation="at least one")
    for t in range(5):
        run.log_metrics({"temp": 0.0}, time=float(t), asset="gpu0")
    if flushed_between:
        run.flush()
    for t in range(5):
        run.log_metrics({"temp": 100.0}, time=float(t), asset="gpu1")
    run.log_metrics({"temp": 0.0}, time=6.0, asset="gpu0")
    run.flush()
    assert [(c.state, c.run_time) for c in mem.alert_history(run, "hot")] == [("critical", 4.0)]


def test_event_alerts_are_checked_when_the_run_ends(mem):
    """An event alert goes back to ok at the first check whose last `frequency` seconds held
    no match; the run's end performs the checks due by then and the next one, for event
    alerts as for metric alerts (it stayed critical: event checks ran only as messages came)."""
    import datetime

    run = mem.init("ev-end")
    run.create_event_alert("fatal", "FATAL", frequency=1)
    started = mem.get_run(run.id).started
    run.log_event("FATAL: replayed", timestamp=started - datetime.timedelta(seconds=2.5))
    run.flush()
    assert [(c.state, c.run_time) for c in mem.alert_history(run, "fatal")] == [("critical", -2.5)]
    run.close()
    assert [(c.state, c.run_time) for c in mem.alert_history(run, "fatal")] == [("critical", -2.5), ("ok", 1.0)]
    assert [a.state for a in mem.alerts(run)] == ["ok"]


@pytest.mark.parametrize("own_clock", [False, True])
def test_a_critical_event_alert_returns_to_ok_on_the_wall_clock(tmp_path, own_clock):
    """As a Simvue server checks it: with no message since, the first check a frequency after
    the match finds none and the alert is ok again while the run goes on, without waiting for
    the next message or the run's end (the store's thread performs it). A run that gives its
    points' times keeps its metric checks off the wall clock; its events are stamped by it."""
    with runlite.open(str(tmp_path / "r.db")) as store:
        run = store.init("quiet")
        run.create_event_alert("fatal", "FATAL", frequency=0.5)
        if own_clock:
            run.log_metrics({"x": 1.0}, time=1e6)
        run.log_event("FATAL: disk")
        run.flush()
        assert [a.state for a in store.alerts(run)] == ["critical"]
        deadline = time.monotonic() + 10
        while store.alerts(run)[0].state != "ok" and time.monotonic() < deadline:
            time.sleep(0.05)
        history = [(c.state, c.run_time) for c in store.alert_history(run, "fatal")]
        assert [state for state, _ in history] == ["critical", "ok"] and run.status == "running"
        (_, critical_at), (_, ok_at) = history
        assert 0.5 <= ok_at - critical_at <= 1.0 and ok_at / 0.5 == round(ok_at / 0.5)  # a check's time
        run.close()
        assert [(c.state, c.run_time) for c in store.alert_history(run, "fatal")] == history
