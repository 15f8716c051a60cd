"""Appending flushes and tail compaction: whatever the calls, flushes and merges, a series
reads back the exact points and the exact summary, as if every flush had kept its own chunk."""

import math
import subprocess
import sys
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import runlite
from runlite.storage import metric_buffer
from runlite.storage import metrics as metrics_mod

from .plans import writer_steps
from .strategies import special_floats

NAMES = ("a", "b", "c")

records = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
    st.lists(special_floats, min_size=3, max_size=3),
    st.none() | st.integers(0, 1000),             # step
    st.none() | st.floats(-1e6, 1e6),             # time
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("log"), st.lists(records, min_size=1, max_size=12)),
        st.just(("flush",)),
        st.just(("forget",)),  # the writer's knowledge of the stored series lost: read afresh
        st.just(("pack",)),  # small chunks rewritten under the live writer
    ),
    min_size=1, max_size=30,
)


def _play(ops, *, target: int, fanin: int):
    """Run ``ops`` on a new run with the given tail policy; returns what the store reads back."""
    old = metrics_mod.TARGET_CHUNK_POINTS, metrics_mod.FANIN
    metrics_mod.TARGET_CHUNK_POINTS, metrics_mod.FANIN = target, fanin
    try:
        with runlite.open(":memory:") as store:
            run = store.init("r")
            given_times = {}  # name -> the time each point was logged with (None: the default)
            for op in ops:
                if op[0] == "log":
                    for names, values, step, time in op[1]:
                        run.log_metrics(dict(zip(names, values)), step=step, time=time)
                        for name in names:
                            given_times.setdefault(name, []).append(time)
                elif op[0] == "flush":
                    run.flush()
                elif op[0] == "pack":
                    run.flush()
                    store.pack()
                else:
                    run.flush()
                    run._writer.series_states = {}  # as a forked child starts
                    run._writer.states_lost = True
            run.flush()
            live = _read(store, run.id, given_times, run._started_us)
            run.close()
            closed = _read(store, run.id, given_times, run._started_us)
            chunk_counts = {
                name: [c for (c,) in store.sql(
                    "SELECT c.count FROM chunks c JOIN series s ON s.id = c.series_id"
                    " WHERE s.run_id = ? AND s.name = ? ORDER BY c.seq", [run.id, name]).rows]
                for name in closed}
            assert store.verify().ok
            return live, closed, chunk_counts
    finally:
        metrics_mod.TARGET_CHUNK_POINTS, metrics_mod.FANIN = old


def _read(store, run_id, given_times, origin_us):
    """What the store reads back: the same for any chunking (default times and timestamps are
    the wall clock's, so they are checked here against each other, not returned)."""
    out = {}
    for name in store.metric_names(run_id):
        s = store.metric_values(run_id, name)
        n = len(s.values)
        assert len(given_times[name]) == n
        for logged_time, t, ts in zip(given_times[name], s.times, s.timestamps):
            assert t == (logged_time if logged_time is not None else (ts - origin_us) / 1e6)
        window = store.metric_stats(run_id, name, start=n // 3, stop=n)  # a window crossing chunks
        # A window's min and max come from stored chunk statistics where it covers whole chunks,
        # and SQLite stores -0.0 as 0.0: the sign of a zero extreme depends on the chunking, so
        # they are compared by value (+ 0.0 turns -0.0 into 0.0); the points are compared bit for bit.
        out[name] = (s.steps.tobytes(), s.values.tobytes(),
                     repr(store.metric_summary(run_id, name)),
                     (window.count, window.nan_count, repr(_unsigned(window.min)), repr(_unsigned(window.max))))
    return out


def _unsigned(x):
    return x + 0.0 if isinstance(x, float) else x


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, target=st.integers(2, 9), fanin=st.integers(2, 4))
# A writer that lost its states still merges the run's small tails when the run ends.
@example(ops=[("log", [(["a"], [0.0] * 3, None, None)]), ("flush",), ("log", [(["a"], [0.0] * 3, None, None)]),
              ("flush",), ("log", [(["a"], [0.0] * 3, None, None)]), ("forget",)], target=4, fanin=2)
# A window over -0.0 and 0.0: whole chunks answer from SQL (0.0), cut ones from the points.
@example(ops=[("log", [(["a"], [0.0] * 3, None, None)]), ("flush",),
              ("log", [(["a"], [-0.0, math.nan, 0.0], None, None), (["a"], [0.0] * 3, None, None)])],
         target=2, fanin=2)
def test_any_calls_flushes_and_merges_read_back_exactly(ops, target, fanin):
    # Reference: TARGET_CHUNK_POINTS 1, so no chunk is small and none is ever merged.
    ref_live, ref_closed, _ = _play(ops, target=1, fanin=fanin)
    live, closed, chunk_counts = _play(ops, target=target, fanin=fanin)
    assert live == ref_live  # points bit for bit, summaries bit for bit, window statistics
    assert closed == ref_closed == ref_live
    for name, counts in chunk_counts.items():
        # after the run's end a series holds at most one small chunk, its last
        assert all(c >= target for c in counts[:-1]), (name, counts)


def test_summary_matches_the_points(mem):
    run = mem.init("s")
    values = [3.0, math.nan, -1.5, 7.25, math.inf, 0.5, -0.0, 2.0] * 5
    for i, v in enumerate(values):
        run.log_metrics({"x": v})
        if i % 3 == 0:
            run.flush()
    run.close()
    summary = mem.metric_summary(run, "x")
    real = [v for v in values if not math.isnan(v)]
    assert summary.count == len(values)
    assert summary.nan_count == sum(1 for v in values if math.isnan(v))
    assert summary.min == min(real) and summary.max == max(real)
    assert summary.min_step == values.index(min(real)) and summary.max_step == values.index(max(real))
    assert struct.pack("<d", summary.last) == struct.pack("<d", values[-1])
    assert mem.verify().ok


def test_a_series_read_afresh_continues_after_its_stored_chunks(store):
    run = store.init("w")
    for i in range(20):
        run.log_metrics({"x": float(i)})
        run.flush()
    with store.database.write() as conn:  # the same points under other seqs, as another writer may leave them
        conn.execute("UPDATE chunks SET seq = seq + 1000")
    run._writer.series_states = {}  # the next flush reads the series' tail from the file
    for i in range(20, 40):
        run.log_metrics({"x": float(i)})
        run.flush()
    run.close()
    assert list(store.metric_values(run.id, "x").values) == [float(i) for i in range(40)]
    assert store.verify().ok


def test_a_pack_between_flushes_leaves_the_live_run_writing(tmp_path):
    # A pack rewrites a series' small chunks under the seqs a live writer knows: its next
    # merge finds them changed, and the flush plans again from the file instead of failing.
    with runlite.open(tmp_path / "runs.db") as store:
        run = store.init("slow")
        for i in range(20):  # a step a second: a chunk a flush, merged 8 at a time
            run.log_metrics({"x": float(i), "y": -float(i)})
            run.flush()
        with runlite.open(tmp_path / "runs.db") as other:
            assert other.pack()["series_rechunked"] == 2
        for i in range(20, 40):
            run.log_metrics({"x": float(i), "y": -float(i)})
            run.flush()
        run.close()
        assert list(store.metric_values(run.id, "x").values) == [float(i) for i in range(40)]
        assert store.metric_summary(run.id, "y").min == -39.0 and store.metric_summary(run.id, "y").count == 40
        assert run.status == "completed" and store.verify().ok


@pytest.mark.parametrize("width", [1, 100, 1000])
def test_the_size_threshold_scales_with_the_width(mem, width):
    run = mem.init("wide")
    record = {f"m{k}": float(k) for k in range(width)}
    run.log_metrics(record)
    buf = run._writer.metrics
    scaled = min(metric_buffer.FLUSH_RECORDS * width, metric_buffer.MAX_FLUSH_POINTS)
    expected = max(metric_buffer.FLUSH_POINTS, scaled) if width >= metric_buffer.WIDE_RECORD else metric_buffer.FLUSH_POINTS
    assert buf.flush_points == expected
    assert (buf.flush_points > metric_buffer.FLUSH_POINTS) == (width >= 100)


@pytest.mark.parametrize("given_time", [False, True])
def test_series_sharing_a_record_axis_get_their_own_exact_chunks(mem, given_time):
    # The series of one record shape share their steps, times and timestamps: a flush cuts that
    # axis and works out its ranges and order once for all of them. Each chunk must still hold
    # its own series' figures, as verify() recomputes them from the points.
    run = mem.init("shared")
    n = 12_000  # several chunks a series, each of several blocks
    for i in range(n):
        record = {f"m{k}": math.sin(i / (k + 3)) * (k + 1) for k in range(6)}
        run.log_metrics(record, time=(i * 0.5 - (i % 7)) if given_time else None)  # times out of order too
    run.close()
    assert mem.verify().ok
    for k in range(6):
        got = mem.metric_values(run.id, f"m{k}")
        assert list(got.values) == [math.sin(i / (k + 3)) * (k + 1) for i in range(n)]
        window = mem.metric_stats(run.id, f"m{k}", start=n // 3, stop=n - 17)
        inside = [math.sin(i / (k + 3)) * (k + 1) for i in range(n // 3, n - 16)]
        assert (window.count, window.min, window.max) == (len(inside), min(inside), max(inside))
        assert window.avg == pytest.approx(math.fsum(inside) / len(inside), rel=1e-9, abs=1e-12)
    chunks_per_series = mem.sql("SELECT count(*) FROM chunks GROUP BY series_id").rows
    assert all(c >= 2 for (c,) in chunks_per_series) and len(chunks_per_series) == 6


def _one_flush_at_close(monkeypatch) -> None:
    """No age-based flush: what a run logs is written by its close, in one flush, however slow
    the machine is meanwhile."""
    from runlite.live import metric_log, writer

    monkeypatch.setattr(metric_log, "FLUSH_AGE_US", 10**15)
    monkeypatch.setattr(writer, "FLUSH_AGE_US", 10**15)


@pytest.mark.parametrize("given_time", [False, True])
def test_short_series_of_one_record_shape_work_out_their_axis_once(mem, monkeypatch, given_time):
    # A run of short series (one block each: a wide record, many small runs) shares the axis'
    # ranges the same way, and each chunk still holds its own series' exact figures.
    from runlite.codec import stats as stats_mod

    _one_flush_at_close(monkeypatch)
    made = []
    real = stats_mod.axis_ranges
    monkeypatch.setattr(stats_mod, "axis_ranges", lambda *a, **k: made.append(a) or real(*a, **k))
    run = mem.init("short")
    for i in range(100):
        run.log_metrics({f"m{k}": math.cos(i * (k + 1)) for k in range(10)},
                        time=(i * 0.25 - (i % 3)) if given_time else None)
    run.close()
    assert len(made) == 1  # one record shape, one flush: not once a series
    assert mem.verify().ok
    for k in range(10):
        expected = [math.cos(i * (k + 1)) for i in range(100)]
        got = mem.metric_values(run.id, f"m{k}")
        assert list(got.values) == expected and list(got.steps) == list(range(100))
        if given_time:
            assert list(got.times) == [i * 0.25 - (i % 3) for i in range(100)]
        summary = mem.metric_summary(run.id, f"m{k}")
        assert (summary.count, summary.min, summary.max) == (100, min(expected), max(expected))


def test_a_flush_of_more_than_a_chunk_a_series_cuts_the_shared_axis_once(mem, monkeypatch):
    # More new points a series than a chunk holds are cut into even pieces once: merging those
    # pieces again would copy every point and give each series pieces of its own, so the axis'
    # ranges would be worked out once a series instead of once a piece.
    from runlite.codec import stats as stats_mod

    _one_flush_at_close(monkeypatch)
    made = []
    real = stats_mod.axis_ranges
    monkeypatch.setattr(stats_mod, "axis_ranges", lambda *a, **k: made.append(len(a[0])) or real(*a, **k))
    n = metrics_mod.CHUNK_POINTS + 1808  # two even pieces a series
    run = mem.init("long")
    for i in range(n):
        run.log_metrics({f"m{k}": float(i * (k + 1)) for k in range(5)})
    run.close()
    assert made == [n // 2, n // 2]  # one flush: each piece's ranges once, for all five series
    assert mem.verify().ok
    for k in range(5):
        assert list(mem.metric_values(run.id, f"m{k}").values) == [float(i * (k + 1)) for i in range(n)]
    sizes = mem.sql("SELECT count FROM chunks ORDER BY series_id, seq").rows
    assert sizes == [(n // 2,)] * 10


def test_a_short_runs_end_writes_each_new_series_row_once(mem, monkeypatch):
    # Many small runs write everything at their end: each new series' row goes in once, with
    # its summary (not a row of zeros updated in the same transaction) and the id SQLite would
    # give it, and the run's series rows are read once, for the tails to merge, the states and
    # the stored counts alike.
    _one_flush_at_close(monkeypatch)
    seen = []
    with mem.database.write() as conn:
        conn.exec_trace = lambda _cursor, sql, _bindings: seen.append(sql) or True
    run = mem.init("short")
    for i in range(50):
        run.log_metrics({"a": i * 0.5, "b": math.sin(i)})
    run.close()
    with mem.database.write() as conn:
        conn.exec_trace = None
    on_series = [sql.split(" WHERE")[0] for sql in seen if " series" in sql]
    assert not [sql for sql in on_series if sql.startswith("UPDATE")]
    assert sum(sql.startswith("INSERT INTO series") for sql in on_series) == 2
    assert not [sql for sql in on_series if "RETURNING" in sql]
    assert sum("FROM series WHERE run_id" in sql for sql in seen) == 1
    assert mem.verify().ok
    for name, expected in (("a", [i * 0.5 for i in range(50)]), ("b", [math.sin(i) for i in range(50)])):
        assert list(mem.metric_values(run.id, name).values) == expected
        summary = mem.metric_summary(run.id, name)
        assert (summary.count, summary.min, summary.max, summary.last) == (50, min(expected), max(expected),
                                                                         expected[-1])


def test_new_series_still_get_ids_once_the_largest_id_is_taken(tmp_path):
    # Past the largest id there is none to give: SQLite draws free ones, and the flush takes them.
    with runlite.open(str(tmp_path / "m.db")) as store:
        first = store.init("first")
        first.log_metrics({"a": 1.0})
        first.close()
        with store.database.write() as conn:
            conn.execute("INSERT INTO series (id, run_id, name, count, nan_count) VALUES (?, ?, 'last', 0, 0)",
                         ((1 << 63) - 1, first.id))
        run = store.init("after")
        for i in range(20):
            run.log_metrics({"b": float(i), "c": -float(i)})
        run.close()
        assert list(store.metric_values(run.id, "b").values) == [float(i) for i in range(20)]
        assert store.metric_summary(run.id, "c").min == -19.0
        assert store.metric_summary(first.id, "a").count == 1
        with store.database.write() as conn:
            conn.execute("DELETE FROM series WHERE name = 'last'")
        assert store.verify().ok


def test_a_flush_of_new_series_costs_the_same_however_many_the_run_holds(mem):
    """A run whose names keep coming (a metric an epoch, a layer, a sample) flushes a few series it
    has not written before: the flush looks up those few by name. Reading every series of the run
    to find them made logging 10 new names an epoch for 4,000 epochs take 105 s."""
    def grown(name: str, series: int):
        run = mem.init(name)
        for start in range(0, series, 500):
            run.log_metrics({f"old/{k}": 1.0 for k in range(start, start + 500)})
            run.flush()
        run.log_metrics({f"new/{k}": 2.0 for k in range(10)})
        run.log_metrics({"old/0": 3.0})
        steps = writer_steps(mem, run.flush)
        run.close()
        return run, steps

    (small, few), (large, many) = grown("small", 500), grown("large", 8000)
    assert many <= 2 * few + 2, (few, many)
    for run, series in ((small, 500), (large, 8000)):
        assert len(mem.metric_names(run.id)) == series + 10
        assert list(mem.metric_values(run.id, "new/9").values) == [2.0]
        assert list(mem.metric_values(run.id, "old/0").values) == [1.0, 3.0]
        assert mem.metric_summary(run.id, f"old/{series - 1}").count == 1
    assert mem.verify().ok


_CRASHING_WRITER = """
import os, sys, runlite
store = runlite.open(sys.argv[1])
run = store.resume(sys.argv[2])
for i in range(3):  # three small chunks a series, left unmerged: the process dies before the run ends
    run.log_metrics({"s/0": float(i), "s/1": -float(i)})
    run.flush()
os._exit(0)
"""


def test_a_resumed_runs_end_merges_what_was_left_unmerged_and_reads_nothing_else(tmp_path):
    """A resumed run's end merges the small chunks of every series an earlier writer left
    unmerged (its process died before the run ended), finding them in one query; the other
    series are not read. A query a series made closing a resumed run of 16,000 series take
    136-175 ms after one point was logged."""
    path = str(tmp_path / "r.db")
    with runlite.open(path) as store:
        with store.init("wide") as run:
            run.log_metrics({f"m/{k}": 1.0 for k in range(2000)} | {"s/0": 9.0, "s/1": 9.0})
    subprocess.run([sys.executable, "-c", _CRASHING_WRITER, path, run.id], check=True, timeout=120)
    with runlite.open(path) as store:
        resumed = store.resume(run.id)
        resumed.log_metrics({"m/5": 2.0})
        seen = []
        with store.database.write() as conn:
            conn.exec_trace = lambda _cursor, sql, _bindings: seen.append(sql) or True
        resumed.close()
        with store.database.write() as conn:
            conn.exec_trace = None
        assert len(seen) < 40, len(seen)
        assert list(store.metric_values(run.id, "s/1").values) == [9.0, -0.0, -1.0, -2.0]
        assert list(store.metric_values(run.id, "m/5").values) == [1.0, 2.0]
        chunks = store.sql("SELECT count(*), max(n) FROM (SELECT count(*) AS n FROM series s JOIN chunks c"
                           " ON c.series_id = s.id WHERE s.run_id = ? GROUP BY s.id)", [run.id]).rows
        assert chunks == [(2002, 1)]  # a chunk a series
        assert store.verify().ok
