"""Window statistics and point reads over series of many chunks, against the oracle.

The series here are cut into many small chunks (every flush its own chunk), so a window
covers whole chunks merged from their stored statistics (in Python for a few, by SQLite for
many) and boundary chunks decoded and cut, over sorted and unsorted axes, with NaN,
infinities and signed zeros among the values.
"""

from __future__ import annotations

import contextlib
import math
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runlite
from runlite.codec import accel, chunks, sketch, stats
from runlite.errors import CorruptStoreError
from runlite.storage import metric_reads
from runlite.storage import metrics as metrics_mod
from runlite._validation import to_us

from .oracles import metric_points as oracle

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.5, -1.5])
VALUES = st.one_of(st.floats(-1e6, 1e6), SPECIAL)


@pytest.fixture(autouse=True)
def flush_is_a_chunk(monkeypatch):
    """Every flush writes its points as a chunk of their own (no growing tail)."""
    monkeypatch.setattr(metrics_mod, "TARGET_CHUNK_POINTS", 1, raising=False)


def bits(x):
    return None if x is None else struct.pack("<d", x)


def same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def close(got, want, scale: float, tol: float) -> bool:
    if got is None or want is None:
        return got is want
    if not (math.isfinite(got) and math.isfinite(want)):
        return same(got, want)
    return math.isclose(got, want, rel_tol=tol, abs_tol=tol * scale)


def check_stats(got, points: list[tuple]) -> None:
    want = oracle.window_stats(points)
    assert got.count == want["count"]
    if not points:
        return
    for name in ("nan_count", "first_step", "last_step", "min_step", "max_step"):
        assert getattr(got, name) == want[name], name
    for name in ("min", "max"):  # == : the file keeps 0.0 for -0.0 in its statistics
        assert same(getattr(got, name), want[name]), name
    assert bits(got.first) == bits(want["first"]) or same(got.first, want["first"])
    assert bits(got.last) == bits(want["last"]) or same(got.last, want["last"])
    finite = [abs(p[3]) for p in points if math.isfinite(p[3])]
    scale = max([1.0, *finite])
    assert close(got.avg, want["avg"], scale, 1e-9), (got.avg, want["avg"])
    assert close(got.var_pop, want["var_pop"], scale * scale, 1e-6), (got.var_pop, want["var_pop"])


@contextlib.contextmanager
def _merged_in_python(k: int):
    saved = metric_reads._MERGED_IN_PYTHON, metric_reads._FEW_CHUNKS
    metric_reads._MERGED_IN_PYTHON = k
    metric_reads._FEW_CHUNKS = min(k, saved[1])
    try:
        yield
    finally:
        metric_reads._MERGED_IN_PYTHON, metric_reads._FEW_CHUNKS = saved


def logged(store, values, steps, flushes) -> tuple[str, list[tuple]]:
    """A run whose series ``v`` holds the values at the steps (times: step / 4), flushed where
    ``flushes`` says; returns the run id and its points as the oracle reads them."""
    run = store.init("w")
    for i, (v, s) in enumerate(zip(values, steps)):
        run.log_metrics({"v": v}, step=s, time=s / 4)
        if flushes[i % len(flushes)]:
            run.flush()
    run.flush()
    back = store.metric_values(run, "v")
    points = list(zip(back.steps, back.times, back.timestamps, back.values))
    assert [bits(p[3]) for p in points] == [bits(v) for v in values]  # log order, exact
    return run.id, points


def check_windows(s, run_id: str, points: list[tuple], data, top: int) -> None:
    """Four windows drawn on any axis (steps from -2 to ``top + 2``; times a step / 4;
    timestamps between the logged ones, as epoch seconds): their statistics and points are
    the oracle's."""
    for _ in range(4):
        xaxis = data.draw(st.sampled_from(["step", "time", "timestamp"]))
        bound = st.none() | st.integers(-2, top + 2)
        start, stop = data.draw(bound), data.draw(bound)
        if xaxis == "time":
            start, stop = (None if b is None else b / 4 for b in (start, stop))
        if xaxis == "timestamp":
            stamps = sorted(p[2] for p in points)
            pick = st.none() | st.sampled_from(stamps).map(lambda us: us / 1e6)
            start, stop = data.draw(pick), data.draw(pick)
            want = oracle.window(points, xaxis, None if start is None else to_us(start),
                                 None if stop is None else to_us(stop))
        else:
            want = oracle.window(points, xaxis, start, stop)
        check_stats(s.metric_stats(run_id, "v", xaxis=xaxis, start=start, stop=stop), want)
        got = s.metric_values(run_id, "v", xaxis=xaxis, start=start, stop=stop)
        assert [bits(v) for v in got.values] == [bits(p[3]) for p in want]
        assert list(got.steps) == [p[0] for p in want] and list(got.times) == [p[1] for p in want]


@settings(max_examples=60)
@given(values=st.lists(VALUES, min_size=1, max_size=120), sort=st.booleans(),
       flushes=st.lists(st.booleans(), min_size=1, max_size=6), data=st.data())
def test_window_stats_match_the_oracle(values, sort, flushes, data):
    n = len(values)
    steps = list(range(n)) if sort else data.draw(st.lists(st.integers(0, n), min_size=n, max_size=n))
    # 0: every window with an inside chunk is merged by SQLite, however few
    in_python = data.draw(st.sampled_from([0, metric_reads._MERGED_IN_PYTHON]))
    with runlite.open(":memory:") as s, _merged_in_python(in_python):
        run_id, points = logged(s, values, steps, flushes)
        check_windows(s, run_id, points, data, n)


def test_many_inside_chunks_are_merged_by_sqlite(mem):
    values = [math.sin(i / 7) * 100 + (i % 13) for i in range(400)]
    run_id, points = logged(mem, values, range(400), [True])  # 400 one-point chunks
    for start, stop in ((None, None), (3, 397), (0, 399), (17, 41), (100.5, 300.5)):
        got = mem.metric_stats(run_id, "v", start=start, stop=stop)
        check_stats(got, oracle.window(points, "step", start, stop))


def test_many_inside_chunks_with_infinities_and_nan_take_the_exact_merge(mem):
    values = [float(i) for i in range(100)]
    values[30], values[60], values[61] = math.inf, math.nan, -math.inf
    run_id, points = logged(mem, values, range(100), [False, True])
    for start, stop in ((None, None), (0, 50), (2, 97), (62, 99)):
        check_stats(mem.metric_stats(run_id, "v", start=start, stop=stop), oracle.window(points, "step", start, stop))


def test_ties_keep_the_first_step_across_many_chunks(mem):
    values = [5.0, 1.0, 9.0] * 40  # min 1.0 and max 9.0 in every chunk
    run_id, points = logged(mem, values, range(120), [True])
    got = mem.metric_stats(run_id, "v", start=4)
    assert (got.min_step, got.max_step) == (4, 5)
    check_stats(got, oracle.window(points, "step", 4, None))


def test_a_damaged_inside_chunk_is_refused_by_the_aggregated_path(mem):
    run_id, _ = logged(mem, [float(i) for i in range(60)], range(60), [True])
    with mem.database.write() as conn:
        conn.execute("UPDATE chunks SET mean = 'x' WHERE seq = 30")
    with pytest.raises(CorruptStoreError, match="mean"):
        mem.metric_stats(run_id, "v", start=1, stop=58)


def test_boundary_limit_is_checked_before_decoding(mem, monkeypatch):
    run_id, _ = logged(mem, [float(i) for i in range(40)], range(40), [False, False, False, True])
    monkeypatch.setattr(metric_reads, "MAX_DECODE_POINTS", 3)
    decoded = []
    real = metric_reads.decode
    monkeypatch.setattr(metric_reads, "decode", lambda *a: decoded.append(a) or real(*a))
    with pytest.raises(runlite.errors.LimitError, match="decode"):
        mem.metric_stats(run_id, "v", start=1, stop=38)  # ends of 4 points each: 8 > 3
    assert not decoded


def test_downsampling_a_series_of_one_point_chunks_keeps_every_bucket_extreme(mem):
    values = [math.sin(i / 40) for i in range(900)]
    values[123], values[456], values[700] = 9.0, -9.0, math.nan
    run_id, points = logged(mem, values, range(900), [True])  # 900 chunks of one point
    got = mem.metric_values(run_id, "v", max_points=100)
    assert len(got) <= 100
    assert got.steps[0] == 0 and got.steps[-1] == 899
    assert 9.0 in got.values and -9.0 in got.values
    by_step = {p[0]: p for p in points}
    for s, t, ts, v in zip(got.steps, got.times, got.timestamps, got.values):  # points as logged
        assert (bits(t), ts, bits(v)) == (bits(by_step[s][1]), by_step[s][2], bits(by_step[s][3]))
    # every bucket (a run of whole one-point chunks, 32 of them) keeps its lowest and highest value
    kept = dict(zip(got.steps, got.values))
    for b in range(32):
        inside = [(v, i) for i, v in enumerate(values) if min(31, i * 32 // 900) == b and not math.isnan(v)]
        low, high = min(inside), min(inside, key=lambda x: (-x[0], x[1]))
        assert kept.get(low[1]) == low[0] and kept.get(high[1]) == high[0], b


@pytest.mark.parametrize("use_numpy", [False, True])
def test_an_exact_downsampling_derives_the_times_of_the_points_it_keeps(mem, monkeypatch, use_numpy):
    """A downsampling that decodes its points (buckets of under two sketch blocks) derives the
    default times of the points it keeps, not of every point (a third of its work; a window
    by time also of the boundary blocks it cuts), and keeps exactly what `stats.downsample`
    picks from the window's points."""
    run = mem.init("exact")
    for i in range(24_000):
        run.log_metrics({"v": math.sin(i / 300) if i % 101 else math.nan})
        if i % 2000 == 1999:
            run.flush()  # chunks of at most 2,000 points
    run.flush()
    whole = mem.metric_values(run, "v")
    columns = (whole.steps, whole.times, whole.timestamps, whole.values)
    derived = []
    real = chunks.derived_times
    monkeypatch.setattr(chunks, "derived_times", lambda stamps, origin: derived.append(len(stamps)) or real(stamps,
                                                                                                           origin))
    with accel.numpy_mode(use_numpy):
        for xaxis, start, stop, cut in [("step", None, None, 0), ("step", 3000, 20_999, 0),
                                        ("time", whole.times[3000], whole.times[20_999], 2 * 2000),
                                        ("timestamp", whole.timestamps[3000] / 1e6, None, 0)]:
            derived.clear()
            got = mem.metric_values(run, "v", xaxis=xaxis, start=start, stop=stop, max_points=100)
            assert sum(derived) <= 100 + cut  # every point of the window: 18,000 to 24,000
            axis = columns[("step", "time", "timestamp").index(xaxis)]
            low = -math.inf if start is None else to_us(start) if xaxis == "timestamp" else start
            inside = [i for i, x in enumerate(axis) if low <= x and (stop is None or x <= stop)]
            keep = [inside[i] for i in stats.downsample(inside, [whole.values[i] for i in inside], 100)]
            assert len(got) == len(keep) <= 100
            for mine, want in zip((got.steps, got.times, got.timestamps, got.values), columns):
                assert mine.tobytes() == array(want.typecode, (want[i] for i in keep)).tobytes()


AXIS_VALUES = {
    "q": st.one_of(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(-5, 5), st.just((1 << 53) + 1)),
    "d": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-5, 5)),
}
BOUNDS = st.none() | st.integers(-6, 6) | st.floats(-6, 6) | st.just(float(1 << 53)) | st.just((1 << 53) + 1)


@settings(max_examples=150)
@given(data=st.data(), typecode=st.sampled_from("qd"), sort=st.booleans(), numpy=st.booleans(),
       start=BOUNDS, stop=BOUNDS)
def test_window_cut_matches_a_plain_filter(data, typecode, sort, numpy, start, stop):
    from array import array

    from runlite.codec import accel, stats

    axis = data.draw(st.lists(AXIS_VALUES[typecode], min_size=1, max_size=40))
    if sort:
        axis = sorted(axis, key=lambda v: (math.isnan(v), v) if isinstance(v, float) else (False, v))
    cols = [array(typecode, axis), None, array("q", range(len(axis))), array("d", range(len(axis)))]
    want = [i for i, v in enumerate(axis) if (start is None or v >= start) and (stop is None or v <= stop)]
    with accel.numpy_mode(numpy, min_items=1):
        got = stats.window_columns(cols, 0, start, stop)
    assert (None if got is None else list(got[2])) == (want or None)
    if got is not None:
        assert got[1] is None and [bits(v) for v in got[3]] == [bits(float(i)) for i in want]


@pytest.mark.parametrize("use_numpy", [False, True])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_long_chunks_cut_by_their_sketches_order_match_the_oracle(use_numpy, data):
    """Chunks of more than one sketch block claim which axes never decrease; a window's ends are
    then decoded only for the blocks about them, and cut by bisection alone."""
    if use_numpy:
        pytest.importorskip("numpy")
    n = data.draw(st.integers(600, 2500))
    gaps = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=20))
    steps = [0] * n
    for i in range(1, n):  # never decreasing, with repeats and jumps
        steps[i] = steps[i - 1] + gaps[i % len(gaps)]
    values = [math.nan if i % 97 == 5 else math.sin(i / 40) * 100 + (i % 13) for i in range(n)]
    with accel.numpy_mode(use_numpy, min_items=1), runlite.open(":memory:") as s:
        run_id, points = logged(s, values, steps, [False])
        with s.database.read() as conn:  # one chunk of n points, whose sketch claims the order
            (count, blob), = conn.execute("SELECT count, sketch FROM chunks").fetchall()
        want_flags = (sketch.STEPS_ASCEND | sketch.TIMES_ASCEND | sketch.TIMESTAMPS_ASCEND if use_numpy
                      else sketch.STEPS_ASCEND)  # pure ingest compares no time column
        assert count == n and sketch.load(blob, n).flags & want_flags == want_flags
        check_windows(s, run_id, points, data, steps[-1])


def test_a_sketch_claiming_a_false_order_gives_a_bounded_answer(tmp_path):
    """The order flags are a claim of the file, as its chunks' axis ranges are: one that lies (a
    hostile or damaged file) sends a window to the wrong rows, never past the chunk; `verify`
    names the chunk, and a merge refuses it (test_sketch)."""
    path = str(tmp_path / "lie.db")
    with runlite.open(path) as s:
        run = s.init("w")
        for i in range(1500):
            run.log_metrics({"v": float(i)}, step=1499 - i)  # steps descend: no step flag
        run.close()
        run_id = run.id
    conn = __import__("apsw").Connection(path)
    (blob, count), = conn.execute("SELECT sketch, count FROM chunks").fetchall()
    blocks, sums, flags = sketch.decode_all(blob)
    assert not flags & sketch.STEPS_ASCEND
    conn.execute("UPDATE chunks SET sketch = ?", (sketch.encode(blocks, sums, flags | sketch.STEPS_ASCEND),))
    conn.close()
    with runlite.open(path) as s:
        got = s.metric_stats(run_id, "v", start=100, stop=200)
        assert 0 <= got.count <= 1500
        problems = s.verify().problems
        assert len(problems) == 1 and "chunk 0: its sketch does not match its points" in problems[0]


def _short_chunks(path: str) -> str:
    """A run whose series ``v`` is 20 chunks of 100 points (one block each), a NaN among them."""
    with runlite.open(path) as s:
        run = s.init("short")
        for k in range(20):
            for i in range(100):
                x = 100 * k + i
                run.log_metrics({"v": math.nan if x == 250 else math.sin(x / 9) * (1 + x % 7)})
            run.flush()
    return run.id


def test_a_chunk_of_one_block_stores_no_sketch_and_reads_as_if_it_did(tmp_path, monkeypatch):
    """A chunk of one block stores an empty sketch; a downsampled read makes the sketch of its
    points, and answers what the same file with the sketches stored (as before schema version
    11) answers, as `verify` accepts both."""
    import apsw

    path = str(tmp_path / "short.db")
    run_id = _short_chunks(path)
    conn = apsw.Connection(path)
    assert conn.execute("SELECT count(*), sum(count), max(length(sketch)) FROM chunks").fetchone() == (20, 2000, 0)
    made = []  # the sketches made of chunks' points
    real = sketch.from_blocks
    monkeypatch.setattr(sketch, "from_blocks", lambda blocks: made.append(len(blocks)) or real(blocks))
    with runlite.open(path, read_only=True) as s:
        empty = [(list(p.steps), [bits(v) for v in p.values]) for p in (s.metric_values(run_id, "v", max_points=m)
                                                                        for m in (4, 5, 300))]
        assert s.verify().problems == ()
    assert made and set(made) == {1}  # each made of one block's points
    made.clear()
    for seq, data in conn.execute("SELECT seq, data FROM chunks").fetchall():
        columns = chunks.decode_chunk(data, derive_times=False)
        stored = sketch.encode(sketch.blocks(*columns, has_nan=True, time_origin_us=chunks.chunk_time_origin(data)))
        conn.execute("UPDATE chunks SET sketch = ? WHERE seq = ?", (stored, seq))
    conn.close()
    with runlite.open(path, read_only=True) as s:
        kept = [(list(p.steps), [bits(v) for v in p.values]) for p in (s.metric_values(run_id, "v", max_points=m)
                                                                       for m in (4, 5, 300))]
        assert s.verify().problems == ()
    assert made == []  # the stored sketches read
    assert empty == kept and len(empty[0][0]) <= 5 and len(empty[-1][0]) < 2000  # every read downsampled


def test_a_chunk_of_more_than_one_block_that_stores_no_sketch_is_damage(tmp_path):
    import apsw

    path = str(tmp_path / "long.db")
    with runlite.open(path) as s:
        run = s.init("long")
        for i in range(4000):
            run.log_metrics({"v": float(i % 37)})
        run.close()
        run_id = run.id
    conn = apsw.Connection(path)
    assert conn.execute("UPDATE chunks SET sketch = x'' RETURNING count").fetchall() == [(4000,)]
    conn.close()
    with runlite.open(path, read_only=True) as s:
        with pytest.raises(CorruptStoreError, match="stores no sketch, which only a chunk of at most 512 points may"):
            s.metric_values(run_id, "v", max_points=8)  # buckets of a block or so: from the sketch
        problems = s.verify().problems
    assert len(problems) == 1 and "it stores no sketch for 4000 points" in problems[0]
