"""Store.metric_buckets: each bucket's mean, min, max and count equal those of its points
(an oracle over every point read back), whichever chunks are whole or cut."""

import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runlite
from runlite import errors
from runlite.storage import metric_buckets
from runlite.storage.metric_buckets import MAX_BUCKETS


def oracle(series, xaxis, start, stop, count):
    """Buckets computed from every point: the same equal grid, point by point."""
    xs = {"step": series.steps, "time": series.times, "timestamp": series.timestamps}[xaxis]
    pts = [(x, v) for x, v in zip(xs, series.values) if (start is None or x >= start) and (stop is None or x <= stop)]
    if not pts:
        return []
    lo = start if start is not None else min(x for x, _ in pts)
    hi = stop if stop is not None else max(x for x, _ in pts)
    scale = count / (hi - lo) if hi > lo else 0.0
    groups = {}
    for x, v in pts:
        groups.setdefault(min(count - 1, max(0, int((x - lo) * scale))), []).append((x, v))
    out = []
    for b in sorted(groups):
        g = groups[b]
        vals = [v for _, v in g if not math.isnan(v)]
        mid = (min(x for x, _ in g) + max(x for x, _ in g)) / 2
        out.append((mid / 1e6 if xaxis == "timestamp" else mid, math.fsum(vals) / len(vals) if vals else None,
                    min(vals) if vals else None, max(vals) if vals else None, len(g)))
    return out


def same(got, want):
    assert len(got) == len(want)
    for i, (x, mean, lo, hi, n) in enumerate(want):
        assert got.count[i] == n
        assert got.x[i] == pytest.approx(x, rel=1e-12, abs=1e-9)
        assert got.min[i] == lo and got.max[i] == hi
        assert (got.mean[i] is None) == (mean is None)
        if mean is not None:
            assert got.mean[i] == pytest.approx(mean, rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def store():
    with runlite.open(":memory:") as s:
        with s.init("long") as run:
            for start in range(0, 30_000, 5_000):  # several flushes: chunks of various sizes
                for step in range(start, start + 5_000):
                    v = math.sin(step / 300) + (step % 13) * 0.01
                    run.log_metrics({"loss": math.nan if step % 997 == 0 else v})
                run.flush()
            run.log_metrics({"one": 2.5}, step=7)
        with s.init("unsorted") as back:
            for step in (5, 1, 9, 3, 3, 12, 0):
                back.log_metrics({"m": float(step * 2)}, step=step)
        yield s, run.id, back.id


@pytest.mark.parametrize("window", [(None, None), (1234, 5678), (0, 29_999), (10, 10), (-50, 40), (7000, 7000.5)])
@pytest.mark.parametrize("count", [1, 7, 400, 3000])
def test_step_buckets_equal_the_oracle(store, window, count):
    s, rid, _ = store
    every = s.metric_values(rid, "loss")
    got = s.metric_buckets(rid, "loss", buckets=count, start=window[0], stop=window[1])
    same(got, oracle(every, "step", window[0], window[1], count))
    assert len(got) <= count


@pytest.mark.parametrize("xaxis", ["time", "timestamp"])
def test_time_axes_equal_the_oracle(store, xaxis):
    s, rid, _ = store
    every = s.metric_values(rid, "loss")
    got = s.metric_buckets(rid, "loss", buckets=300, xaxis=xaxis)
    same(got, oracle(every, xaxis, None, None, 300))
    xs = every.times if xaxis == "time" else every.timestamps
    lo, hi = xs[100], xs[20_000]
    start, stop = (lo, hi) if xaxis == "time" else (lo / 1e6, hi / 1e6)
    got = s.metric_buckets(rid, "loss", buckets=50, xaxis=xaxis, start=start, stop=stop)
    assert sum(got.count) == sum(1 for x in xs if lo <= x <= hi)


def test_one_point_and_unsorted_steps(store):
    s, rid, back = store
    one = s.metric_buckets(rid, "one")
    assert (one.x, one.mean, one.min, one.max, one.count) == ([7], [2.5], [2.5], [2.5], [1])
    got = s.metric_buckets(back, "m", buckets=4)
    same(got, oracle(s.metric_values(back, "m"), "step", None, None, 4))


def test_all_nan_bucket_has_no_mean():
    with runlite.open(":memory:") as s:
        with s.init("r") as run:
            run.log_metrics({"m": math.nan}, step=0)
            run.log_metrics({"m": 1.0}, step=10)
        got = s.metric_buckets(run.id, "m", buckets=2)
        assert got.mean == [None, 1.0] and got.nan_count == [1, 0] and got.min == [None, 1.0]


@pytest.mark.parametrize("bad", [dict(buckets=0), dict(buckets=MAX_BUCKETS + 1), dict(buckets=2.0),
                                 dict(buckets=True), dict(xaxis="epoch"), dict(start=math.nan)])
def test_bad_arguments_are_refused(store, bad):
    s, rid, _ = store
    with pytest.raises(errors.ValidationError):
        s.metric_buckets(rid, "loss", **bad)


def test_unknown_metric_is_not_found(store):
    s, rid, _ = store
    with pytest.raises(errors.NotFoundError):
        s.metric_buckets(rid, "nope")


def test_narrow_chunks_go_whole_to_one_bucket_and_stay_exact():
    """Chunks at most half a bucket wide are not cut: a bucket's edge moves to a chunk's edge
    (the counts differ from the equal grid's), and each bucket's statistics are exactly those
    of the points it holds, which lie within half a bucket of its column."""
    n, count = 200_000, 10
    with runlite.open(":memory:") as s:
        with s.init("long") as run:
            for step in range(n):
                run.log_metrics({"v": math.sin(step / 5000) + (step % 17) * 0.001})
        every = s.metric_values(run.id, "v")
        got = s.metric_buckets(run.id, "v", buckets=count)
    assert sum(got.count) == n
    assert got.count != [c for *_, c in oracle(every, "step", None, None, count)]  # edges moved
    width, at = (n - 1) / count, 0
    for i, k in enumerate(got.count):
        steps, values = every.steps[at:at + k], every.values[at:at + k]
        assert got.min[i] == min(values) and got.max[i] == max(values)
        assert got.mean[i] == pytest.approx(math.fsum(values) / k, rel=1e-12)
        assert got.x[i] == (steps[0] + steps[-1]) / 2
        assert i * width - width / 2 <= steps[0] and steps[-1] <= (i + 1) * width + width / 2
        at += k


def _exact_for_what_each_bucket_holds(got, every, lo, width):
    """Each bucket's statistics are those of the points it holds (consecutive, in step order),
    which lie within half a bucket of its column."""
    at = next(i for i, s in enumerate(every.steps) if s >= lo)
    for i, k in enumerate(got.count):
        steps, values = every.steps[at:at + k], every.values[at:at + k]
        assert got.min[i] == min(values) and got.max[i] == max(values)
        assert got.mean[i] == pytest.approx(math.fsum(v / k for v in values), rel=1e-12)  # no overflow
        assert got.x[i] == (steps[0] + steps[-1]) / 2
        assert lo + i * width - width / 2 <= steps[0] and steps[-1] <= lo + (i + 1) * width + width / 2
        at += k


@pytest.fixture(scope="module")
def long_series():
    with runlite.open(":memory:") as s:
        with s.init("long") as run:
            for step in range(200_000):
                run.log_metrics({"v": math.sin(step / 5000) + (step % 17) * 0.001})
        yield s, run.id, s.metric_values(run.id, "v")


def test_zoomed_in_charts_take_whole_blocks_from_the_sketches_and_decode_nothing(long_series, monkeypatch):
    """Zoomed in, a chunk spans several buckets: its 512-point blocks go whole to buckets from
    its sketch (version 3: their sums, and the axis known to ascend), so no chunk is decoded,
    and each bucket is exact for the points it holds."""
    from runlite.storage import metric_buckets

    s, rid, every = long_series
    lo, hi, count = 50_000, 69_999, 10  # buckets of 2,000 points; chunks of up to 8,192
    decoded = []
    real = metric_buckets.decode
    monkeypatch.setattr(metric_buckets, "decode", lambda *a, **k: decoded.append(a[2]) or real(*a, **k))
    got = s.metric_buckets(rid, "v", buckets=count, start=lo, stop=hi)
    assert sum(got.count) == hi - lo + 1
    assert got.count != [c for *_, c in oracle(every, "step", lo, hi, count)]  # edges moved to blocks'
    _exact_for_what_each_bucket_holds(got, every, lo, (hi - lo) / count)
    assert len(decoded) == 2  # only the two chunks cut by the window's ends, of about four


@pytest.mark.parametrize("case", ["steps out of order", "NaN in the chunk", "version 2 sketches"])
def test_chunks_whose_sketch_cannot_say_are_decoded_and_stay_exact(case, monkeypatch):
    """Out-of-order steps, NaN and sketches written before block sums take the decoding path:
    every bucket equals the equal-grid oracle."""
    from runlite.codec import sketch

    if case == "version 2 sketches":  # as a flush made them before block sums
        monkeypatch.setattr(sketch, "stored", lambda made, *cols, **_: sketch.encode(made))
    steps = list(range(40_000))
    if case == "steps out of order":
        for at in range(10_100, 27_000, 3001):  # a point 2,600 steps (a bucket and more) from its block
            steps[at], steps[at + 2600] = steps[at + 2600], steps[at]
    with runlite.open(":memory:") as s:
        with s.init("r") as run:
            for step in steps:
                v = math.nan if case == "NaN in the chunk" and step % 4999 == 0 else math.cos(step / 900)
                run.log_metrics({"v": v}, step=step)
        every = s.metric_values(run.id, "v")
        got = s.metric_buckets(run.id, "v", buckets=8, start=10_000, stop=29_999)
    same(got, oracle(every, "step", 10_000, 29_999, 8))


def test_blocks_whose_sums_add_beyond_the_float_range_still_chart():
    """Each block's sum is finite, their total is not: the blocks are still taken whole, and
    every bucket's mean is that of its points."""
    with runlite.open(":memory:") as s:
        with s.init("huge") as run:
            for step in range(20_000):
                run.log_metrics({"v": 1.5e305 * (1 + (step % 3))}, step=step)
        every = s.metric_values(run.id, "v")
        got = s.metric_buckets(run.id, "v", buckets=4, start=2_000, stop=17_999)
    assert sum(got.count) == 16_000
    _exact_for_what_each_bucket_holds(got, every, 2_000, 16_000 / 4)


@settings(max_examples=60, deadline=None)
@given(times=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200).map(sorted),
       count=st.integers(1, MAX_BUCKETS), window=st.tuples(st.floats(-1, 1e6), st.floats(0, 2e6)))
def test_short_series_in_many_buckets_equal_the_oracle(times, count, window):
    """Points at any float times, bucket edges falling between and on them (rounding included)."""
    with runlite.open(":memory:") as s:
        with s.init("short") as run:
            for i, t in enumerate(times):
                run.log_metrics({"m": math.cos(i)}, time=t)
        every = s.metric_values(run.id, "m")
        same(s.metric_buckets(run.id, "m", buckets=count, xaxis="time"), oracle(every, "time", None, None, count))
        start, stop = min(window), max(window)
        same(s.metric_buckets(run.id, "m", buckets=count, xaxis="time", start=start, stop=stop),
             oracle(every, "time", start, stop, count))


def test_a_short_series_in_many_buckets_costs_its_points_not_its_buckets(monkeypatch):
    """A chart of 100 points in 4,000 pixel columns visits the columns holding points only."""
    calls = []  # x values put in a bucket
    of = metric_buckets._Grid.of
    monkeypatch.setattr(metric_buckets._Grid, "of", lambda grid, x: calls.append(x) or of(grid, x))
    with runlite.open(":memory:") as s:
        with s.init("short") as run:
            for i in range(100):
                run.log_metrics({"m": float(i)})
        got = s.metric_buckets(run.id, "m", buckets=MAX_BUCKETS)
    assert got.count == [1] * 100 and got.x == list(range(100))
    assert len(calls) <= 4 * 100


def _python_calls(call) -> int:
    """Python functions and builtins that ``call()`` calls: the interpreter's work, whatever the
    machine's speed."""
    calls = [0]

    def count(_frame, event, _arg):
        if event in ("call", "c_call"):
            calls[0] += 1
    sys.setprofile(count)
    try:
        call()
    finally:
        sys.setprofile(None)
    return calls[0]


def test_decoded_chunks_cost_their_buckets_not_their_points():
    """A chart whose buckets are narrower than a block decodes its chunks and cuts them: each
    bucket's points are one slice, found by bisection and summed by C-level passes, so four
    times the points in the same 4,000 buckets cost about the same Python calls (point by point,
    they cost four times as many), and every bucket is exact."""
    costs = []
    for n in (20_000, 80_000):
        with runlite.open(":memory:") as s:
            with s.init("long") as run:
                for step in range(n):
                    run.log_metrics({"v": math.sin(step / 700) + (step % 11) * 0.01})
            every = s.metric_values(run.id, "v")
            got = []
            costs.append(_python_calls(lambda: got.append(s.metric_buckets(run.id, "v", buckets=MAX_BUCKETS))))
            same(got[0], oracle(every, "step", None, None, MAX_BUCKETS))
    assert costs[1] < 1.5 * costs[0], costs


@pytest.mark.parametrize("xaxis", ["time", "timestamp"])
def test_time_axes_of_a_file_written_without_numpy_take_whole_blocks(xaxis, monkeypatch):
    """A program that never imports numpy writes the time columns' order flags too, so its
    time-axis charts take whole blocks from the sketches as the step axis does: no chunk
    decoded, and each bucket exact for the points it holds."""
    from runlite.codec import accel

    n = 40_000
    with accel.numpy_mode(False), runlite.open(":memory:") as s:
        with s.init("pure") as run:
            for step in range(n):  # times and a clock given: the same file on any machine
                run.log_metrics({"v": math.cos(step / 900) + (step % 7) * 0.01}, time=step * 0.25 + (step % 3) * 0.01,
                                timestamp=1_767_000_000 + step * 0.001 + (step % 5) * 1e-4)
        every = s.metric_values(run.id, "v")
        decoded = []
        real = metric_buckets.decode
        monkeypatch.setattr(metric_buckets, "decode", lambda *a, **k: decoded.append(a[2]) or real(*a, **k))
        got = s.metric_buckets(run.id, "v", buckets=8, xaxis=xaxis)
    assert decoded == []
    assert sum(got.count) == n
    xs, at = every.times if xaxis == "time" else [t / 1e6 for t in every.timestamps], 0
    for i, k in enumerate(got.count):
        values = every.values[at:at + k]
        assert got.min[i] == min(values) and got.max[i] == max(values)
        assert got.mean[i] == pytest.approx(math.fsum(values) / k, rel=1e-12)
        assert got.x[i] == pytest.approx((xs[at] + xs[at + k - 1]) / 2, rel=1e-15)
        at += k


def test_decoded_chunks_take_the_extremes_of_their_whole_blocks_from_their_sketches(monkeypatch):
    """Buckets a block or two wide (the chart's blocks straddle their edges, so chunks are
    decoded): the blocks lying whole in a bucket give their min and max from the chunk's
    sketch, and only the others' values are passed over by min and max; every bucket stays
    exact."""
    from runlite.codec import sketch

    seen = [0]  # values passed over by min and max, in the bucketing and the sketch's helpers

    def counted(real):
        def call(*args, **kw):
            seen[0] += len(args[0]) if len(args) == 1 and hasattr(args[0], "__len__") else len(args)
            return real(*args, **kw)
        return call
    n = 40_000
    with runlite.open(":memory:") as s:
        with s.init("long") as run:
            for step in range(n):
                run.log_metrics({"v": math.sin(step / 700) + (step % 11) * 0.01})
        every = s.metric_values(run.id, "v")
        for module in (metric_buckets, sketch):
            monkeypatch.setattr(module, "min", counted(min), raising=False)
            monkeypatch.setattr(module, "max", counted(max), raising=False)
        got = s.metric_buckets(run.id, "v", buckets=50)  # buckets of 800 points, blocks of 512
    same(got, oracle(every, "step", None, None, 50))
    assert seen[0] < 1.5 * n  # each bucket passed over whole: every value twice (min and max)


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_chunks_holding_both_infinities_chart_a_nan_mean(count):
    """A chunk holding +inf and -inf has a NaN mean, which SQLite stores as NULL: a bucket taking
    such chunks whole from their statistics merged the NULLs and raised TypeError (or gave None
    for the mean of points that are all there). Its mean is NaN, its extremes the infinities."""
    with runlite.open(":memory:") as s:
        with s.init("r") as run:
            for step in range(30_000):
                run.log_metrics({"x": (1.0, math.inf, -math.inf, 2.0)[step % 4]}, step=step)
        got = s.metric_buckets(run.id, "x", buckets=count)
    assert sum(got.count) == 30_000 and got.nan_count == [0] * count
    assert all(math.isnan(mean) for mean in got.mean), got.mean
    assert got.min == [-math.inf] * count and got.max == [math.inf] * count
