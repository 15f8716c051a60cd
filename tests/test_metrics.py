"""Metric logging and reading (Simvue semantics), exactness, windows, downsampling, durability."""

import datetime as dt
import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
from fractions import Fraction

import apsw
import pytest
from hypothesis import given, settings, strategies as st

import runlite
from runlite.storage import metric_buffer
from runlite.storage import metrics as metrics_mod

SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 2.2250738585072014e-308,
           1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.5]


def bits(x):
    return struct.pack("<d", x)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few points, so tests cross many chunk boundaries."""
    monkeypatch.setattr(metrics_mod, "TARGET_CHUNK_POINTS", 3)


def test_step_counter_semantics(mem):
    run = mem.init("s")
    run.log_metrics({"a": 1})
    run.log_metrics({"a": 2}, step=100)
    run.log_metrics({"a": 3})
    run.log_metrics({})  # no-op: the counter does not move
    run.log_metrics({"a": 4})
    assert list(mem.metric_values(run, "a").steps) == [0, 100, 2, 3]


def test_time_and_timestamp_defaults_and_forms(mem):
    run = mem.init("t")
    before = time.time()
    run.log_metrics({"x": 1.0})
    run.log_metrics({"x": 2.0}, time=42.5)
    run.log_metrics({"x": 3.0}, timestamp=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc))
    run.log_metrics({"x": 4.0}, timestamp="2024-05-01T12:00:00.123456Z")
    run.log_metrics({"x": 5.0}, timestamp="2024-05-01T12:00:00")  # no offset: UTC
    s = mem.metric_values(run, "x")
    assert 0 <= s.times[0] < 5
    assert abs(s.timestamps[0] / 1e6 - before) < 5
    assert s.times[1] == 42.5
    assert s.timestamps[2] == 1714564800_000000
    assert s.timestamps[3] == 1714564800_123456
    assert s.timestamps[4] == 1714564800_000000
    # issue 17: the default time is the run's wall-clock duration at the call, as in Simvue,
    # never derived from a given timestamp (which gave -92,222,338 s for a past one)
    assert all(0 <= t < 5 for t in (s.times[0], *s.times[2:]))
    assert list(s.times[2:]) == sorted(s.times[2:])


def test_special_floats_round_trip_bit_exact(store):
    run = store.init("f")
    for v in SPECIAL:
        run.log_metrics({"v": v})
    run.close()
    with runlite.open(store.path, read_only=True) as r:
        got = r.metric_values(run.id, "v").values
    assert [bits(x) for x in got] == [bits(x) for x in SPECIAL]
    summary = store.metric_summary(run.id, "v")
    assert summary.nan_count == 1 and summary.count == len(SPECIAL)
    assert summary.min == -math.inf and summary.max == math.inf
    assert math.isnan(summary.first) and summary.last == -1.5


def test_a_nan_figure_is_stored_as_null_and_read_back_as_nan(store):
    # The flush binds its statistics as they are: SQLite stores a bound NaN as NULL (the schema's
    # rule for mean, m2, first and last), and a reader makes it NaN again.
    run = store.init("n")
    for v in (math.nan, math.inf, -math.inf, math.nan):
        run.log_metrics({"v": v})
    run.close()
    with apsw.Connection(store.path, flags=apsw.SQLITE_OPEN_READONLY) as conn:
        for table, key in (("series", "id"), ("chunks", "series_id")):
            stored = conn.execute(f"SELECT count, nan_count, mean, m2, first, last FROM {table} WHERE {key} ="
                                  " (SELECT id FROM series WHERE name = 'v')").fetchall()
            assert stored == [(4, 2, None, None, None, None)], table
    summary = store.metric_summary(run.id, "v")
    assert (summary.count, summary.nan_count, summary.min, summary.max) == (4, 2, -math.inf, math.inf)
    assert all(map(math.isnan, (summary.avg, summary.var_pop, summary.first, summary.last)))


@pytest.mark.parametrize("values", [[-sys.float_info.max] * 3, [sys.float_info.max] * 20,
                                    [sys.float_info.max, -sys.float_info.max, sys.float_info.max]],
                         ids=["three of -max", "twenty of max (past the exact M2's points)", "max, -max, max"])
def test_values_at_the_float_range_edge_are_stored_with_their_statistics(store, values):
    # Their exact sum is beyond the float range: the mean is made another way, never refused
    # (the run could not end, and its points were lost, while three of -max made the mean fail).
    run = store.init("edge")
    for v in values:
        run.log_metrics({"v": v})
    run.close()
    assert store.get_run(run.id).status == "completed"
    assert list(store.metric_values(run, "v").values) == values
    for got in (store.metric_summary(run.id, "v"), store.metric_stats(run.id, "v", start=0, stop=len(values))):
        assert (got.count, got.nan_count, got.min, got.max) == (len(values), 0, min(values), max(values))
        assert min(values) <= got.avg <= max(values)
        assert got.avg == float(Fraction(sum(map(Fraction, values)), len(values)))  # the true mean, rounded


def test_ints_and_bools(mem):
    run = mem.init("i")
    run.log_metrics({"a": True, "b": 7, "c": 2 ** 53, "d": -(2 ** 53)})
    assert mem.metric_values(run, "a").values[0] == 1.0
    assert mem.metric_values(run, "c").values[0] == float(2 ** 53)


@pytest.mark.parametrize("bad", [{"x": "1.0"}, {"x": None}, {"x": 2 ** 53 + 1}, {"x": 10 ** 400},
                                 {"x": [1.0]}, {"x": 1 + 2j}, {"": 1.0}, {"a\nb": 1.0},
                                 {"n" * 257: 1.0}, {5: 1.0}])
def test_bad_values_log_nothing(mem, bad):
    run = mem.init("b")
    call = {"good": 1.0, **bad}
    with pytest.raises(runlite.ValidationError):
        run.log_metrics(call)
    run.log_metrics({"good": 2.0})
    s = mem.metric_values(run, "good")
    assert list(s.values) == [2.0] and list(s.steps) == [0]  # nothing of the bad call, no step used


@pytest.mark.parametrize("kwargs", [dict(step=-1), dict(step=1.5), dict(step=True), dict(step=2 ** 63),
                                    dict(time=math.nan), dict(time="1"), dict(timestamp="yesterday"),
                                    dict(timestamp=math.inf), dict(timestamp=-1e11), dict(asset=""), dict(asset=3)])
def test_bad_arguments_log_nothing(mem, kwargs):
    run = mem.init("b")
    with pytest.raises(runlite.ValidationError):
        run.log_metrics({"x": 1.0}, **kwargs)
    assert mem.metric_names(run) == []
    with pytest.raises(runlite.ValidationError):
        run.log_metrics([("x", 1.0)])


@pytest.mark.parametrize("how", ["run.step", "module log"])
def test_the_step_counter_past_the_last_step_refuses_and_loses_nothing(tmp_path, how):
    """Logged at step 2**63-1, the counter went on to 2**63: the next default step was taken,
    and every later flush failed on it (or on a half-added record), losing what was buffered."""
    path = str(tmp_path / "t.db")
    last = 2 ** 63 - 1
    with runlite.open(path) as store:
        if how == "module log":
            runlite.init("r", db=store, system_metrics=False)
            run, log = runlite.run, runlite.log
            log({"early": 1.0})
            log({"a": 1.0}, step=last)
        else:
            run = store.init("r")
            log = run.log_metrics
            log({"early": 1.0})
            run.step = last
            log({"a": 1.0})
        for _ in range(3):
            with pytest.raises(runlite.ValidationError, match="past the largest step"):
                log({"a": 2.0})
        store.flush()
        assert store.metric_values(run.id, "early").values.tolist() == [1.0]
        assert store.metric_values(run.id, "a").steps.tolist() == [last]
        if how == "module log":
            runlite.finish()
        else:
            run.log_metrics({"a": 3.0}, step=5)  # an explicit step still goes in
            store.flush()
            assert store.metric_values(run.id, "a").steps.tolist() == [last, 5]


def test_numpy_durations_and_dates_are_refused_as_numbers(mem):
    """numpy registers timedelta64 as an Integral, whose int() it refuses: a bare TypeError."""
    np = pytest.importorskip("numpy")
    run = mem.init("d")
    for td in (np.timedelta64(5, "s"), np.datetime64("2026-01-01")):
        for call in (lambda: run.log_metrics({"a": td}), lambda: run.log_metrics({"a": 1.0}, step=td),
                     lambda: run.log_metrics({"a": 1.0}, time=td), lambda: setattr(run, "step", td),
                     lambda: run.log_histogram("h", [td, 1.0]), lambda: run.log_histogram("h", ([0, 1, 2], [td, 1])),
                     lambda: run.log_histogram("h", [1.0, 2.0], bins=td), lambda: run.start_system_metrics(td)):
            with pytest.raises(runlite.ValidationError):
                call()
    run.log_metrics({"a": 1.0})
    assert mem.metric_values(run, "a").steps.tolist() == [0] and mem.metric_names(run) == ["a"]


def test_name_limits(mem):
    run = mem.init("n")
    run.log_metrics({"n" * 256: 1.0, "spaces and/slashes.dots:=<>+()": 2.0, "ünï 🚀": 3.0})
    assert len(mem.metric_names(run)) == 3


def test_logging_needs_a_running_run(mem):
    created = mem.init("c", running=False)
    with pytest.raises(runlite.RunStateError, match="must be running"):
        created.log_metrics({"x": 1})
    done = mem.init("d")
    done.close()
    with pytest.raises(runlite.RunStateError):
        done.log_metrics({"x": 1})


def test_assets_are_separate_series(mem):
    run = mem.init("a")
    run.log_metrics({"temp": 1.0}, asset="press-1")
    run.log_metrics({"temp": 2.0}, asset="press-2")
    run.log_metrics({"temp": 3.0})
    assert list(mem.metric_values(run, "temp", asset="press-1").values) == [1.0]
    assert list(mem.metric_values(run, "temp", asset="press-2").values) == [2.0]
    assert list(mem.metric_values(run, "temp").values) == [3.0]
    assert mem.metric_series(run) == [("temp", None, 1), ("temp", "press-1", 1), ("temp", "press-2", 1)]
    with pytest.raises(runlite.NotFoundError, match="has no asset"):
        mem.metric_values(run, "temp", asset="press-3")
    with pytest.raises(runlite.NotFoundError, match="no metric"):
        mem.metric_values(run, "pressure")


def test_mixed_record_shapes_keep_log_order(mem, small_chunks):
    run = mem.init("shapes")
    expected = []
    for i in range(50):
        metrics = random.choice([{"a": i, "b": -i}, {"a": i}, {"b": -i, "a": i}, {"c": i}])
        run.log_metrics(metrics)
        if "a" in metrics:
            expected.append((i, float(i)))
        if i % 7 == 0:
            run.flush()
    s = mem.metric_values(run, "a")
    assert list(zip(s.steps, s.values)) == expected


def test_ten_thousand_names(store):
    run = store.init("wide")
    names = [f"metric/{i:05d}" for i in range(10_000)]
    for step in range(3):
        run.log_metrics({n: step + k for k, n in enumerate(names)})
    run.close()
    assert store.metric_names(run.id) == sorted(names)
    assert list(store.metric_values(run.id, "metric/09999").values) == [9999.0, 10000.0, 10001.0]


def test_small_tail_chunks_are_merged_a_level_at_a_time(mem):
    run = mem.init("slow")
    for i in range(200):
        run.log_metrics({"x": float(i)})
        run.flush()
    # 200 flushes of one point: 3 chunks of 64 (two merges up) and one of 8, not 200 chunks
    assert mem.sql("SELECT count FROM chunks ORDER BY seq").rows == [(64,), (64,), (64,), (8,)]
    assert list(mem.metric_values(run, "x").values) == [float(i) for i in range(200)]
    run.close()  # the run's end merges its tail into one chunk
    assert mem.sql("SELECT count FROM chunks").rows == [(200,)]
    assert list(mem.metric_values(run, "x").values) == [float(i) for i in range(200)]
    assert mem.verify().ok


def test_a_flush_writes_only_its_new_points(mem, monkeypatch):
    run = mem.init("append")
    for i in range(5):
        run.log_metrics({"x": float(i)})
    run.flush()
    decoded = []
    real = metrics_mod.chunks.decode_chunk
    monkeypatch.setattr(metrics_mod.chunks, "decode_chunk", lambda *a, **k: decoded.append(1) or real(*a, **k))
    for i in range(5, 8):  # below FANIN chunks: nothing stored is read back
        run.log_metrics({"x": float(i)})
        run.flush()
    assert decoded == []
    assert mem.sql("SELECT count FROM chunks ORDER BY seq").rows == [(5,), (1,), (1,), (1,)]


def test_a_wide_flush_transforms_the_shared_axis_once(mem, monkeypatch):
    """A record of 50 names: its 50 chunks share the steps and timestamps, transformed once
    each for the flush (the steps, 0-199, to a stride; the timestamps byte-shuffled), then each
    series' values are shuffled (150 shuffles before the axis was shared)."""
    run = mem.init("wide")
    for i in range(200):
        run.log_metrics({f"m{k}": i + k / 7 for k in range(50)})
    shuffled = []
    real = metrics_mod.chunks.lanes.shuffle
    monkeypatch.setattr(metrics_mod.chunks.lanes, "shuffle", lambda raw: shuffled.append(len(raw)) or real(raw))
    run.flush()
    assert shuffled.count(8 * 200) == 1 + 50
    assert [len(mem.metric_values(run, f"m{k}")) for k in (0, 49)] == [200, 200]
    assert mem.verify().ok


def test_a_big_flush_takes_the_small_tail_along(mem, monkeypatch):
    monkeypatch.setattr(metrics_mod, "TARGET_CHUNK_POINTS", 10)
    run = mem.init("big")
    for i in range(3):
        run.log_metrics({"x": float(i)})
        run.flush()
    for i in range(3, 30):
        run.log_metrics({"x": float(i)})
    run.flush()
    assert mem.sql("SELECT count FROM chunks ORDER BY seq").rows == [(30,)]
    assert list(mem.metric_values(run, "x").values) == [float(i) for i in range(30)]


def test_explicit_times_mixed_with_default_times_across_flushes(mem):
    run = mem.init("times")
    run.log_metrics({"x": 1.0})
    run.flush()
    run.log_metrics({"x": 2.0}, time=99.0)
    run.flush()
    run.log_metrics({"x": 3.0})
    s = mem.metric_values(run, "x")
    assert s.times[1] == 99.0
    assert s.times[0] == (s.timestamps[0] - run._started_us) / 1e6
    assert s.times[2] == (s.timestamps[2] - run._started_us) / 1e6


def _logged(draw_values):
    return draw_values


@settings(max_examples=30)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=60),
       data=st.data())
def test_window_stats_and_values_match_direct_computation(values, data):
    metrics_mod_target = metrics_mod.TARGET_CHUNK_POINTS
    metrics_mod.TARGET_CHUNK_POINTS = 4
    try:
        with runlite.open(":memory:") as s:
            run = s.init("w")
            for i, v in enumerate(values):
                run.log_metrics({"v": v}, time=float(i) / 2)
                if i % 5 == 4:
                    run.flush()
            n = len(values)
            start = data.draw(st.none() | st.integers(-2, n + 2))
            stop = data.draw(st.none() | st.integers(-2, n + 2))
            inside = [(i, v) for i, v in enumerate(values)
                      if (start is None or i >= start) and (stop is None or i <= stop)]
            got = s.metric_values(run, "v", start=start, stop=stop)
            assert [bits(x) for x in got.values] == [bits(v) for _, v in inside]
            assert list(got.steps) == [i for i, _ in inside]
            by_time = s.metric_values(run, "v", xaxis="time", start=None if start is None else start / 2,
                                      stop=None if stop is None else stop / 2)
            assert list(by_time.steps) == list(got.steps)
            stats = s.metric_stats(run, "v", start=start, stop=stop)
            finite = [v for _, v in inside if not math.isnan(v)]
            assert stats.count == len(inside)
            assert stats.nan_count == len(inside) - len(finite)
            if finite:
                assert stats.min == min(finite) and stats.max == max(finite)
                if all(math.isfinite(v) and abs(v) < 1e100 for v in finite):
                    mean = math.fsum(finite) / len(finite)
                    var = math.fsum((v - mean) ** 2 for v in finite) / len(finite)
                    scale = max(1.0, max(abs(v) for v in finite))
                    assert math.isclose(stats.avg, mean, rel_tol=1e-9, abs_tol=1e-9 * scale)
                    assert math.isclose(stats.var_pop, var, rel_tol=1e-6, abs_tol=1e-6 * scale * scale)
            else:
                assert stats.min is None and stats.avg is None
    finally:
        metrics_mod.TARGET_CHUNK_POINTS = metrics_mod_target


def test_summary_is_kept_at_ingest(mem, small_chunks):
    run = mem.init("sum")
    vals = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    for i, v in enumerate(vals):
        run.log_metrics({"v": v})
        if i % 3 == 0:
            run.flush()
    s = mem.metric_summary(run, "v")
    mean = sum(vals) / len(vals)
    assert (s.count, s.min, s.max, s.first, s.last, s.last_step) == (8, 1.0, 9.0, 3.0, 6.0, 7)
    assert (s.min_step, s.max_step) == (1, 5)
    assert math.isclose(s.avg, mean) and math.isclose(s.var_pop, sum((v - mean) ** 2 for v in vals) / 8)
    assert mem.sql("SELECT count FROM series").rows == [(8,)]  # one row read, no chunk decoded


def test_downsampling_keeps_extremes_and_endpoints(mem):
    run = mem.init("d")
    n = 10_000
    for i in range(n):
        v = math.sin(i / 50)
        if i == 4321:
            v = 50.0  # a spike
        if i == 777:
            v = -50.0
        run.log_metrics({"v": v})
    s = mem.metric_values(run, "v", max_points=100)
    assert len(s) <= 100
    assert 50.0 in s.values and -50.0 in s.values
    assert s.steps[0] == 0 and s.steps[-1] == n - 1
    assert list(s.steps) == sorted(s.steps)
    with pytest.raises(runlite.ValidationError):
        mem.metric_values(run, "v", max_points=2)
    with pytest.raises(runlite.ValidationError):
        mem.metric_values(run, "v", xaxis="epoch")


def test_to_numpy():
    np = pytest.importorskip("numpy")
    with runlite.open(":memory:") as s:
        run = s.init("np")
        run.log_metrics({"v": np.float64(1.5)})
        run.log_metrics({"v": np.int64(3)})
        run.log_metrics({"v": np.bool_(True)})
        cols = s.metric_values(run, "v").to_numpy()
        assert cols["value"].tolist() == [1.5, 3.0, 1.0] and cols["step"].tolist() == [0, 1, 2]
        assert str(cols["timestamp"].dtype) == "datetime64[us]"


def test_close_and_context_exit_flush(store):
    with store.init("ctx") as run:
        run.log_metrics({"x": 1.0})
    with runlite.open(store.path, read_only=True) as r:
        assert list(r.metric_values(run.id, "x").values) == [1.0]


def test_background_flush_within_interval(store):
    run = store.init("bg")
    run.log_metrics({"x": 1.0})
    deadline = time.time() + metric_buffer.FLUSH_INTERVAL
    with runlite.open(store.path, read_only=True) as r:
        while time.time() < deadline + 2:
            if r.metric_names(run.id) == ["x"]:
                break
            time.sleep(0.05)
        assert r.metric_names(run.id) == ["x"]
    assert time.time() < deadline + 0.5


EXIT_SCRIPT = """
import runlite, sys
s = runlite.open(sys.argv[1])
run = s.init("exits")
for i in range(1000):
    run.log_metrics({"x": float(i)})
# no close, no flush: interpreter exit must flush
"""


def test_interpreter_exit_flushes(db_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, db_path], check=True, env=env)
    with runlite.open(db_path, read_only=True) as s:
        assert len(s.metric_values("exits", "x")) == 1000


KILL_SCRIPT = """
import runlite, sys, time
s = runlite.open(sys.argv[1])
run = s.init("victim")
i = 0
while True:
    run.log_metrics({"x": float(i), "y": -float(i)}, step=i)
    i += 1
    if i % 500 == 0:
        print(i, time.time(), flush=True)   # acknowledged: steps < i were accepted by then
        time.sleep(0.002)
"""


def _kill_round(db_path, delay):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, db_path], stdout=subprocess.PIPE,
                            env=env, text=True)
    acks = []
    start = time.time()
    while time.time() - start < delay:
        line = proc.stdout.readline()
        if not line:
            break
        acks.append(tuple(map(float, line.split())))
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return acks, killed_at


@pytest.mark.parametrize("round_", range(int(os.environ.get("RUNLITE_KILL_ROUNDS", 3))))
def test_kill_9_loses_nothing_older_than_the_flush_interval(tmp_path, round_):
    db_path = str(tmp_path / f"k{round_}.db")
    acks, killed_at = _kill_round(db_path, random.uniform(1.5, 3.0))
    assert acks, "the writer never acknowledged anything"
    must_have = max((int(n) for n, t in acks if t < killed_at - metric_buffer.FLUSH_INTERVAL), default=0)
    with runlite.open(db_path) as s:
        conn = s.database._current().writer
        assert conn.execute("PRAGMA integrity_check").get == "ok"
        if must_have == 0:
            return
        xs = s.metric_values("victim", "x")
        ys = s.metric_values("victim", "y")
        n = len(xs)
        assert n >= must_have
        assert list(xs.steps) == list(range(n))  # a prefix: no flush half-written
        assert list(ys.steps) == list(range(n)) and list(ys.values) == [-v for v in xs.values]
        assert s.metric_summary("victim", "x").count == n


WRITER = """
import runlite, sys
s = runlite.open(sys.argv[1], timeout=60)
run = s.init(sys.argv[2])
for i in range(20000):
    run.log_metrics({"a": float(i), "b": float(-i)})
    if i % 2000 == 0:
        run.flush()
run.close()
"""


def test_processes_log_to_different_runs_of_one_file(db_path):
    runlite.open(db_path).close()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_path, f"w{k}"], env=env,
                              stderr=subprocess.PIPE) for k in range(4)]
    with runlite.open(db_path, read_only=True) as reader:
        while any(p.poll() is None for p in procs):
            for rec in reader.runs():
                try:
                    xs = reader.metric_values(rec.id, "a")
                except runlite.NotFoundError:
                    continue
                assert list(xs.steps) == list(range(len(xs)))  # consistent snapshot, whole flushes
            time.sleep(0.05)
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err.decode()
    with runlite.open(db_path, read_only=True) as s:
        for k in range(4):
            assert list(s.metric_values(f"w{k}", "b").values) == [float(-i) for i in range(20000)]


def test_a_call_that_raises_on_a_failed_flush_logged_nothing(store, monkeypatch):
    run = store.init("full-disk")
    run.log_metrics({"x": 1.0})
    run.flush()
    real_flush = metrics_mod.flush

    def disk_full(*args, **kwargs):
        raise runlite.StoreFullError("the disk is full (simulated)")

    monkeypatch.setattr(metrics_mod, "flush", disk_full)
    run.log_metrics({"x": 2.0})  # buffered
    time.sleep(metric_buffer.FLUSH_INTERVAL * 0.6)  # now due: the ticker's tries fail and keep it
    # The ticker stops trying, and its try in flight (which fails at once) ends: while a try
    # of its own has the buffer out, the call finds nothing due and would log its value.
    from runlite.live import writer as writer_mod
    monkeypatch.setattr(writer_mod.RunWriter, "flush_if_due", lambda self, now: True)
    time.sleep(0.2)
    with pytest.raises(runlite.StoreFullError):
        run.log_metrics({"x": 3.0})
    monkeypatch.setattr(metrics_mod, "flush", real_flush)
    run.log_metrics({"x": 3.0})  # the caller retries once space is back
    run.flush()
    xs = store.metric_values(run.id, "x")
    assert list(xs.values) == [1.0, 2.0, 3.0] and list(xs.steps) == [0, 1, 2]
