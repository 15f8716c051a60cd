"""Statistics of metric points: per-chunk summaries, their merges, window statistics, downsampling.

The statistics of every chunk are stored beside it (`chunks` holds the format), so window
statistics merge stored summaries and decode only boundary chunks. Pure Python; no SQLite.
Hot paths run at C speed (``map`` over operator functions, C-level builtins), with numpy used
lazily (`accel`) for a few whole-column operations whose results are bit-identical to the
pure path.
"""

from __future__ import annotations

import math
import operator
import struct
from array import array
from bisect import bisect_left, bisect_right
from itertools import compress, filterfalse, repeat
from typing import NamedTuple

from . import accel, lanes
from .chunks import derived_times
from .moments import mean_m2
from ..errors import ValidationError

__all__ = [
    "ChunkStats", "ValueStats", "chunk_stats", "downsample", "finite_row", "finite_sum", "merge_many", "merge_stats",
    "bisected", "stats_from_values", "window_columns", "window_mask_stats", "window_part",
]

_AXES = ("step", "time", "timestamp")


# The statistics are named tuples: a ChunkStats is its row in CHUNK_COLUMNS order (storage's
# stat_rows), merged as the tuple it is, and a named tuple is made in a fifth of the time of an
# attrs class's instance (the class itself in a sixth: both are made by every first flush).
class ValueStats(NamedTuple):
    """Summary of a value column: NaN-aware extremes, mean and M2.

    ``argmin``/``argmax`` are indices of the first point holding min/max.
    """

    count: int
    nan_count: int
    min: float | None
    max: float | None
    argmin: int | None
    argmax: int | None
    mean: float | None
    m2: float | None


class ChunkStats(NamedTuple):
    """Statistics of a run of points, kept per chunk and mergeable in log order.

    NaN values count in ``count`` and ``nan_count`` only; min/max include
    infinities.  With an infinity among the values the (IEEE) mean is that
    infinity, NaN if both signs occur, and ``m2`` is NaN.
    """

    count: int
    nan_count: int
    min: float | None
    max: float | None
    min_step: int | None
    max_step: int | None
    mean: float | None
    m2: float | None
    first: float
    last: float
    first_step: int
    last_step: int
    step_lo: int
    step_hi: int
    time_lo: float
    time_hi: float
    ts_lo: int
    ts_hi: int

    @property
    def var_pop(self) -> float | None:
        """Population variance ``m2 / (count - nan_count)``; None without non-NaN values."""
        k = self.count - self.nan_count
        return None if k == 0 or self.m2 is None else self.m2 / k


def _as_array(col, typecode: str) -> array:
    return col if isinstance(col, array) and col.typecode == typecode else array(typecode, col)


def _extremes(col, index: bool = True) -> tuple:
    """(min, max, first index of min, first index of max) of a NaN-free column.

    The indices are None when ``index`` is false (saves a pass on the pure path).
    """
    np = accel.numpy_for(len(col)) if isinstance(col, array) else None
    if np is not None:
        a = np.frombuffer(col, dtype=np.int64 if col.typecode == "q" else np.float64)
        # argmin/argmax return the first occurrence, as min()/index() do; taking the
        # element (not a.min()) keeps which of -0.0/0.0 came first.
        ilo, ihi = int(a.argmin()), int(a.argmax())
        lo, hi = col[ilo], col[ihi]
        if lo == lo and hi == hi:
            return lo, hi, ilo, ihi
    lo, hi = min(col), max(col)
    if not index:
        return lo, hi, None, None
    # index() compares with ==: the first point equal to the extreme.
    return lo, hi, col.index(lo), col.index(hi)


def _check_floats(floats: list | None, n: int) -> None:
    """A caller's ``values.tolist()`` (``floats=``) must hold the ``n`` values."""
    if floats is not None and len(floats) != n:
        raise ValidationError(f"floats must be the {n} values as a list, got {len(floats)} items")


def stats_from_values(values, extremes: tuple | None = None, floats: list | None = None) -> ValueStats:
    """Count, NaN count, min/max with first index, mean and M2 of a value column.

    Args:
        values: array('d') or any sequence of floats (may be empty).
        extremes: ``(min, max, first index of min, first index of max)`` when the caller
            knows them already (a chunk's block sketch: `sketch.extremes`); used only when
            every value is finite, saving four passes.
        floats: ``values.tolist()`` when the caller made it (saves unpacking the values again).
    """
    values = _as_array(values, "d")
    n = len(values)
    if n == 0:
        return ValueStats(0, 0, None, None, None, None, None, None)
    # Without numpy, make the float objects once (a tuple) for the several passes
    # below; with numpy, _extremes reads the array's buffer directly.
    _check_floats(floats, n)
    vals = values if accel.numpy_for(n) else floats or struct.unpack(f"={n}d", values.tobytes())
    try:
        total = math.fsum(vals)
    except (OverflowError, ValueError):  # finite overflow, or inf + -inf
        total = math.inf
    if math.isfinite(total):
        # Common case: every value is finite (a NaN or inf would show in the sum).
        lo, hi, ilo, ihi = extremes or _extremes(vals)
        return ValueStats(n, 0, lo, hi, ilo, ihi, *mean_m2(vals, total, (lo, hi)))

    clean = list(filterfalse(math.isnan, vals))
    k = len(clean)
    if k == 0:
        return ValueStats(n, n, None, None, None, None, None, None)
    lo, hi = min(clean), max(clean)
    if lo == -math.inf or hi == math.inf:
        # IEEE: the sum (hence the mean) is +-inf, or NaN with both signs; some
        # x - mean is then inf - inf = NaN, so M2 is NaN.
        mean, m2 = (lo + hi) if math.isinf(lo + hi) else math.nan, math.nan
    else:
        mean, m2 = mean_m2(clean, None, (lo, hi))
    # index() compares with ==, so it skips NaNs and finds the first min/max.
    return ValueStats(n, n - k, lo, hi, vals.index(lo), vals.index(hi), mean, m2)


def chunk_stats(steps, times, timestamps, values, *, time_origin_us: int | None = None,
                extremes: tuple | None = None) -> ChunkStats:
    """Statistics of one chunk of points (at least one point).

    Args:
        steps, timestamps: int columns (array('q') is fastest).
        times: float column, or None for the default times derived from timestamps;
            then ``time_origin_us`` is required and time_lo/time_hi come from
            ts_lo/ts_hi (the derivation is monotonic, so this is exact).
        values: float column (array('d') is fastest).
        extremes: the values' extremes with their first indices, if known (`stats_from_values`).

    Raises:
        ValidationError: no point, lengths differ, or times None without origin.
    """
    return ChunkStats(*chunk_row(steps, times, timestamps, values, time_origin_us=time_origin_us,
                                 extremes=extremes))


def chunk_row(steps, times, timestamps, values, *, time_origin_us: int | None = None,
              extremes: tuple | None = None, axis: tuple | None = None, floats: list | None = None) -> tuple:
    """`chunk_stats` as a tuple in ChunkStats field order, no object built: the ingest path
    writes it as a chunk's row, once a flush for each series (see `merge_rows`). ``axis``:
    the columns' `axis_ranges` when known (the series of one record shape share their axis);
    ``floats``: ``values.tolist()`` when known (its block sketch made it)."""
    steps, timestamps, values = _as_array(steps, "q"), _as_array(timestamps, "q"), _as_array(values, "d")
    n = len(values)
    if n == 0:
        raise ValidationError("statistics need at least one point, got 0")
    if len(steps) != n or len(timestamps) != n or (times is not None and len(times) != n):
        raise ValidationError("steps, times, timestamps and values must have the same length")
    if times is None and time_origin_us is None:
        raise ValidationError("times=None needs time_origin_us to derive the times")
    _check_floats(floats, n)
    if n == 1:
        return _one_point_row(steps[0], times, timestamps[0], values[0], time_origin_us)
    given = extremes is not None and axis is not None
    if n <= (SMALL_GIVEN if given else _SMALL):
        return _small_chunk_row(steps, times, timestamps, values, time_origin_us, floats)
    row = finite_row(steps, floats, extremes, axis) if given and floats is not None else None
    if row is not None:
        return row
    vs = stats_from_values(values, extremes, floats)
    return (n, vs.nan_count, vs.min, vs.max, None if vs.argmin is None else steps[vs.argmin],
            None if vs.argmax is None else steps[vs.argmax], vs.mean, vs.m2, values[0], values[-1],
            steps[0], steps[-1], *(axis or axis_ranges(steps, times, timestamps, time_origin_us)))


def finite_sum(floats: list) -> float | None:
    """``math.fsum(floats)``, or None when a value is NaN or infinite or the sum overflows."""
    try:
        total = math.fsum(floats)
    except (OverflowError, ValueError):
        return None
    return total if math.isfinite(total) else None


def finite_row(steps: array, floats: list, extremes: tuple, axis: tuple, total: float | None = None) -> tuple | None:
    """`chunk_row` of a flush's chunk of more than `SMALL_GIVEN` points from what the flush
    made (its values as a list, their `extremes` with first indices, its `axis_ranges`, their
    `finite_sum` when known), unchecked: `stats_from_values`' figures when every value is
    finite, else None (a NaN or an infinity: `chunk_row` then takes its general path)."""
    if total is None and (total := finite_sum(floats)) is None:
        return None
    lo, hi, ilo, ihi = extremes
    return (len(floats), 0, lo, hi, steps[ilo], steps[ihi], *mean_m2(floats, total, (lo, hi)), floats[0], floats[-1],
            steps[0], steps[-1], *axis)


def axis_ranges(steps: array, times, timestamps: array, time_origin_us: int | None, *,
                steps_rise: bool = False, stamps_rise: bool = False, times_rise: bool = False) -> tuple:
    """``(step_lo, step_hi, time_lo, time_hi, ts_lo, ts_hi)`` of a chunk's axis columns (at
    least one point; steps and timestamps as array('q'), times None for the default ones).
    ``steps_rise``/``stamps_rise``/``times_rise``: the caller knows that column never decreases
    (a check that made the chunk's order flags): its range is at its ends (but for a last time
    of zero, where ``max`` picks the first of 0.0 and -0.0)."""
    ts_lo, ts_hi = (timestamps[0], timestamps[-1]) if stamps_rise else lanes.extent(timestamps)
    if times is not None and times_rise and times[-1] != 0:
        time_lo, time_hi = times[0], times[-1]
    elif times is not None:
        time_lo, time_hi = _extremes(_as_array(times, "d"), False)[:2]
    else:
        time_lo, time_hi = (ts_lo - time_origin_us) / 1e6, (ts_hi - time_origin_us) / 1e6
    return (*((steps[0], steps[-1]) if steps_rise else lanes.extent(steps)), time_lo, time_hi, ts_lo, ts_hi)


# Up to this many points, `chunk_row` works on lists with no numpy check and no
# intermediate record: the ingest path writes many chunks of a few points (a slow loop's
# flushes), for which those fixed costs were most of the time.
_SMALL = 64
# With the extremes and the axis given (a flush's chunks), the general path (`finite_row`) skips
# their passes and is the faster from 8 points (64 points: 8.1 against 14.4 us; 2 points: 2.6 against 1.9).
SMALL_GIVEN = 8


def _one_point_row(step: int, times, stamp: int, value: float, origin) -> tuple:
    """`chunk_row` of one point (a slow loop's flush writes one a series): the figures the
    general path gives, with its IEEE rules (an infinite mean has a NaN M2; NaN is no value)."""
    time = (stamp - origin) / 1e6 if times is None else float(times[0])
    if value != value:
        return (1, 1, None, None, None, None, None, None, value, value, step, step, step, step,
                time, time, stamp, stamp)
    m2 = 0.0 if value - value == 0.0 else math.nan
    # + 0.0: the mean of -0.0 is fsum's 0.0, as the general path gives
    return (1, 0, value, value, step, step, value + 0.0, m2, value, value, step, step, step, step,
            time, time, stamp, stamp)


def _small_chunk_row(steps: array, times, timestamps: array, values: array, origin, floats: list | None) -> tuple:
    """`chunk_row` of a few points: the same figures by the same operations (fsum for the
    mean and M2, the first index of each extreme, NaN skipped, IEEE rules for infinities)."""
    vals = values.tolist() if floats is None else floats
    n = len(vals)
    step_list = steps.tolist()
    ts_lo, ts_hi = min(timestamps), max(timestamps)
    if times is None:
        time_lo, time_hi = (ts_lo - origin) / 1e6, (ts_hi - origin) / 1e6
    else:
        times = _as_array(times, "d")
        time_lo, time_hi = min(times), max(times)
    try:
        total = math.fsum(vals)
    except (OverflowError, ValueError):
        total = math.inf
    if math.isfinite(total):
        nans, lo, hi = 0, min(vals), max(vals)
        mean, m2 = mean_m2(vals, total, (lo, hi))
    else:
        clean = list(filterfalse(math.isnan, vals))
        nans = n - len(clean)
        if not clean:
            return (n, n, None, None, None, None, None, None, vals[0], vals[-1], step_list[0],
                    step_list[-1], min(step_list), max(step_list), time_lo, time_hi, ts_lo, ts_hi)
        lo, hi = min(clean), max(clean)
        if lo == -math.inf or hi == math.inf:
            mean, m2 = (lo + hi) if math.isinf(lo + hi) else math.nan, math.nan
        else:
            mean, m2 = mean_m2(clean, None, (lo, hi))
    # index() compares with ==, so it skips NaNs and finds the first min/max.
    return (n, nans, lo, hi, step_list[vals.index(lo)], step_list[vals.index(hi)], mean, m2,
            vals[0], vals[-1], step_list[0], step_list[-1], min(step_list), max(step_list),
            time_lo, time_hi, ts_lo, ts_hi)


def window_part(steps, values, extremes: tuple | None = None) -> tuple:
    """`chunk_stats` of points cut from a chunk by a window, as a tuple in ChunkStats order,
    to merge into window statistics: their axis ranges, which window statistics do not
    report, are left 0 (skipping four passes over the points).

    Args:
        steps: int column; values: float column of the same length (at least one point).
        extremes: as `stats_from_values` (`sketch.window_extremes`), used when every value is
            finite.
    """
    n = len(values)
    if n == 0 or len(steps) != n:
        raise ValidationError(f"a window part needs as many steps as values (at least one), got {len(steps)}"
                              f" and {n}")
    vs = stats_from_values(values, extremes)
    return (n, vs.nan_count, vs.min, vs.max, None if vs.argmin is None else steps[vs.argmin],
            None if vs.argmax is None else steps[vs.argmax], vs.mean, vs.m2, values[0], values[-1],
            steps[0], steps[-1], 0, 0, 0.0, 0.0, 0, 0)


def _merge(a: tuple, b: tuple) -> tuple:
    """``merge_stats`` on tuples in ChunkStats field order (the one implementation)."""
    (a_count, a_nan, a_min, a_max, a_min_step, a_max_step, a_mean, a_m2, a_first, _a_last,
     a_first_step, _a_last_step, a_slo, a_shi, a_tlo, a_thi, a_tslo, a_tshi) = a
    (b_count, b_nan, b_min, b_max, b_min_step, b_max_step, b_mean, b_m2, _b_first, b_last,
     _b_first_step, b_last_step, b_slo, b_shi, b_tlo, b_thi, b_tslo, b_tshi) = b
    # b wins only when strictly better: ties keep a's (earlier) step.
    lo, lo_step = (b_min, b_min_step) if a_min is None or (b_min is not None and b_min < a_min) \
        else (a_min, a_min_step)
    hi, hi_step = (b_max, b_max_step) if a_max is None or (b_max is not None and b_max > a_max) \
        else (a_max, a_max_step)
    na, nb = a_count - a_nan, b_count - b_nan
    if na == 0:
        mean, m2 = b_mean, b_m2
    elif nb == 0:
        mean, m2 = a_mean, a_m2
    else:
        k = na + nb
        delta = b_mean - a_mean
        if math.isfinite(delta):
            mean = a_mean + delta * (nb / k)
        else:
            # Infinite means (IEEE result) or a delta that overflows: the
            # weighted form never overflows for finite means.
            mean = a_mean * (na / k) + b_mean * (nb / k)
        m2 = a_m2 + b_m2 + delta * delta * (na * nb / k)
    return (a_count + b_count, a_nan + b_nan, lo, hi, lo_step, hi_step, mean, m2,
            a_first, b_last, a_first_step, b_last_step,
            a_slo if a_slo < b_slo else b_slo, a_shi if a_shi > b_shi else b_shi,
            a_tlo if a_tlo < b_tlo else b_tlo, a_thi if a_thi > b_thi else b_thi,
            a_tslo if a_tslo < b_tslo else b_tslo, a_tshi if a_tshi > b_tshi else b_tshi)


def merge_stats(a: ChunkStats, b: ChunkStats) -> ChunkStats:
    """Statistics of a's points followed by b's (Chan et al. for mean and M2)."""
    return ChunkStats(*_merge(a, b))


def merge_many(parts) -> ChunkStats | None:
    """``merge_stats`` folded over statistics in log order, given as ChunkStats or as tuples
    in ChunkStats field order; one object is built at the end. None for no parts."""
    total = merge_rows(parts)
    return None if total is None else ChunkStats(*total)


def merge_rows(parts) -> tuple | None:
    """`merge_many` as a tuple in ChunkStats field order, no object built; None for no parts."""
    total = None
    for part in parts:
        total = part if total is None else _merge(total, part)
    return total


def _check_bound(name: str, v) -> None:
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v):
        raise ValidationError(f"{name} must be a number or None, got {v!r}")


def window_mask_stats(steps, times, timestamps, values, *, xaxis: str, start=None,
                      stop=None, time_origin_us: int | None = None) -> ChunkStats | None:
    """Statistics of the points whose ``xaxis`` value v has ``start <= v <= stop``.

    Args:
        steps, times, timestamps, values: the chunk's columns; times may be None (the
            default times) when ``time_origin_us`` is given.
        xaxis: "step", "time" or "timestamp".
        start, stop: inclusive bounds; None leaves that side open.

    Returns:
        ChunkStats of the selected points (in their order), or None if none.

    Raises:
        ValidationError: unknown axis or a bound that is not a number.
    """
    if xaxis not in _AXES:
        raise ValidationError(f"xaxis must be one of {_AXES}, got {xaxis!r}")
    _check_bound("start", start)
    _check_bound("stop", stop)
    if times is None:
        if time_origin_us is None:
            raise ValidationError("window_mask_stats needs times, or time_origin_us to derive them")
        if xaxis == "time":
            times = derived_times(_as_array(timestamps, "q"), time_origin_us)
    cols = [_as_array(steps, "q"), None if times is None else _as_array(times, "d"),
            _as_array(timestamps, "q"), _as_array(values, "d")]
    picked = window_columns(cols, _AXES.index(xaxis), start, stop)
    return None if picked is None else chunk_stats(*picked, time_origin_us=time_origin_us)


def window_columns(cols: list, axis: int, start=None, stop=None, *, ascending: bool = False) -> list | None:
    """The columns (arrays, or None for absent times and for columns not decoded) cut to the
    points whose ``cols[axis]`` value v has ``start <= v <= stop`` (None leaves a side open);
    None when no point is in.

    A sorted axis (the common case: steps, times and timestamps usually grow) is cut by
    bisection, then proved right with one C-level min/max pass: the points before the cut
    are all below ``start``, those after all above ``stop``, those inside within both. With
    ``ascending`` (the chunk's sketch claims the axis never decreases and holds no NaN) the
    bisection alone decides: the proof costs a pass over the chunk, many times the bisection.
    Any other axis is masked (one bool reference a point, NaN comparing False) and sliced
    when the selection is contiguous, else picked with ``compress``.
    """
    values = cols[axis]
    n = len(values)
    if start is None and stop is None:
        return cols if n else None
    lo, hi = bisected(values, start, stop) if ascending else _sorted_cut(values, start, stop)
    if lo is None:
        return _masked_columns(cols, values, start, stop)
    if lo >= hi:
        return None
    if hi - lo == n:
        return cols
    return [None if c is None else c[lo:hi] for c in cols]


def bisected(values, start, stop) -> tuple:
    """``(lo, hi)``, ``lo <= hi``: where the window's bounds fall in a sorted column."""
    lo = 0 if start is None else bisect_left(values, start)
    return lo, max(lo, len(values) if stop is None else bisect_right(values, stop))


def _sorted_cut(values, start, stop) -> tuple:
    """``(lo, hi)``: ``values[lo:hi]`` are exactly the points in the window, or (None, None)
    when that is not shown (an unsorted axis, or NaN in the way)."""
    n = len(values)
    try:
        lo, hi = bisected(values, start, stop)
    except TypeError:  # pragma: no cover - columns are arrays of numbers
        return None, None
    np = accel.numpy_for(n) if isinstance(values, array) else None
    if np is not None:
        # The same proofs on numpy reductions (no temporary column); each extreme is made a
        # Python number first, so it compares with the bound exactly, as Python does. A NaN
        # makes numpy's min and max NaN, which fails every test.
        a = np.frombuffer(values, dtype=np.int64 if values.typecode == "q" else np.float64)
        scalar = int if values.typecode == "q" else float
        if lo and not scalar(a[:lo].max()) < start:
            return None, None
        if hi < n and not scalar(a[hi:].min()) > stop:
            return None, None
        if hi > lo and ((start is not None and not scalar(a[lo:hi].min()) >= start)
                        or (stop is not None and not scalar(a[lo:hi].max()) <= stop)):
            return None, None
        return lo, hi
    # Each proof is one C-level pass; a NaN makes a comparison False, so it is never
    # taken as inside nor as proved outside (min/max skip NaN unless it comes first,
    # and then the comparison with NaN fails).
    if lo and not max(values[:lo]) < start:
        return None, None
    if hi < n and not min(values[hi:]) > stop:
        return None, None
    if hi > lo:
        mid = values[lo:hi]
        if (start is not None and not min(mid) >= start) or (stop is not None and not max(mid) <= stop):
            return None, None
        if mid.typecode == "d" and mid != mid:  # a NaN inside: C-level, NaN != NaN
            return None, None
    return lo, hi


def _masked_columns(cols: list, values, start, stop) -> list | None:
    n = len(values)
    if start is None:
        keep = list(map(operator.ge, repeat(stop), values))
    elif stop is None:
        keep = list(map(operator.le, repeat(start), values))
    else:
        keep = list(map(operator.and_, map(operator.le, repeat(start), values),
                        map(operator.ge, repeat(stop), values)))
    k = keep.count(True)
    if k == 0:
        return None
    lo = keep.index(True)
    if k == n:
        return cols
    if keep[lo:lo + k].count(True) == k:
        return [None if c is None else c[lo:lo + k] for c in cols]
    return [None if c is None else array(c.typecode, compress(c, keep)) for c in cols]


# ------------------------------------------------------------ downsampling

def downsample(xs, values, max_points: int) -> list[int]:
    """Indices of the points to draw: per equal-count bucket its min, max and last.

    Min/max ignore NaN; a NaN last point of a bucket is still kept.  The first and
    last points are always kept.

    Args:
        xs: axis values (only their count matters: buckets follow the given order).
        values: the values, same length.
        max_points: upper bound on the result length (an int >= 4).

    Returns:
        Sorted unique indices, at most ``max_points`` of them.

    Raises:
        ValidationError: bad max_points or lengths differ.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 4:
        raise ValidationError(f"max_points must be an int >= 4, got {max_points!r}")
    values = _as_array(values, "d")
    n = len(values)
    if len(xs) != n:
        raise ValidationError(f"xs has {len(xs)} points but values has {n}")
    if n <= max_points:
        return list(range(n))
    nb = (max_points - 1) // 3  # the first point plus 3 per bucket fit in max_points
    np = accel.numpy_for(n)
    a = None if np is None else np.frombuffer(values, dtype=np.float64)
    keep = {0}
    for b in range(nb):
        lo, hi = b * n // nb, (b + 1) * n // nb
        keep.add(hi - 1)
        if a is not None:
            # argmin/argmax give the first occurrence, like min() + index(); a NaN
            # propagates, so landing on a non-NaN proves the bucket has none.
            seg = a[lo:hi]
            i, j = int(seg.argmin()), int(seg.argmax())
            if seg[i] != seg[i] or seg[j] != seg[j]:
                if np.isnan(seg).all():
                    continue
                # nan* read NaN as +-inf: a NaN tying an infinite extreme is caught below.
                i, j = int(np.nanargmin(seg)), int(np.nanargmax(seg))
            if seg[i] == seg[i] and seg[j] == seg[j]:
                keep.update((lo + i, lo + j))
                continue
        seg = values[lo:hi]  # C-level copy; min/max below iterate it in C
        # CPython's min/max replace the running extreme only when `item < current`
        # (resp. >), which a NaN never satisfies: NaNs are skipped unless the first
        # item is NaN, and then the result is NaN.  Only that case needs filtering.
        mn, mx = min(seg), max(seg)
        if mn != mn or mx != mx:
            clean = array("d", filterfalse(math.isnan, seg))
            if not clean:
                continue
            mn, mx = min(clean), max(clean)
        keep.add(lo + seg.index(mn))  # == skips NaN: first index of the extreme
        keep.add(lo + seg.index(mx))
    return sorted(keep)
