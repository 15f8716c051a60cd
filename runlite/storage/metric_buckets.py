"""A series cut into equal x buckets (pixel columns), each with its exact mean, min and max.

What a chart draws: the line is each bucket's mean, the band its min..max. The work is
bounded by the bucket count, not by the points, at every zoom:

- a chunk wholly inside one bucket adds its stored statistics (count, mean, min, max, kept
  at ingest) without being decoded;
- a chunk at most half a bucket wide that straddles a bucket edge goes whole to the bucket
  holding its middle: the bucket's edge snaps to the chunk's (a shift of under half a pixel
  column), so its statistics stay exact for the points it holds;
- a wider chunk (zoomed in) is taken block by block from its sketch when the sketch holds
  block sums and says the axis ascends in the chunk (``codec.sketch``, version 3): each
  512-point block goes whole to a bucket by the same rule, with its count, exact sum, min,
  max, first and last. So a 10M-point series zoomed to 1M points in 400 columns reads about
  2,000 blocks' sketches and decodes nothing;
- only chunks with blocks wider than half a bucket (zoomed further in, a short series in
  many columns), chunks holding NaN, older sketches, unordered axes and the chunks cut by
  the window's ends are decoded and split. On a sorted axis each bucket's points are one
  slice, found by bisection at its edges and summed by C-level passes: Python steps a
  bucket, not a point. A decoded chunk whose sketch says the axis ascends (read when its
  blocks are on average narrower than a bucket) gives the extremes of the blocks lying
  whole in a bucket, so only the blocks across its edges are passed over for them. The
  sum still takes every point: what a bucket takes of the chunk is its points' correctly
  rounded sum (``math.fsum``) over their count, which the blocks' sums, each rounded,
  would not give bit for bit.

Each bucket's x is the middle of its points' x range (the points it holds, not the column's
edges), so a single point sits where it was logged.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from .. import errors
from ..codec import lanes, sketch, stats
from ..records.charts import Buckets
from .._validation import shown
from .chunk_rows import AXES, AXIS_COLUMNS, chunk_rows, decode, sketches
from .metric_reads import MAX_DECODE_POINTS, MAX_READ_CHUNKS, MAX_SKETCH_BLOCKS, open_window, run_name
from .stat_rows import CHUNK_COLUMNS, stats_tuple

MAX_BUCKETS = 4000  # pixel columns of the widest chart

_X_AT = {axis: (CHUNK_COLUMNS.index(lo), CHUNK_COLUMNS.index(hi)) for axis, (lo, hi, _) in AXES.items()}


def check_buckets(count: Any) -> int:
    """An int from 1 to ``MAX_BUCKETS``."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BUCKETS:
        raise errors.ValidationError(f"buckets must be an int from 1 to {MAX_BUCKETS}, got {shown(count)}")
    return count


class _Grid:
    """Equal buckets over [lo, hi]; ``of(x)`` is a bucket's index (monotone in x)."""

    def __init__(self, lo: float, hi: float, count: int):
        self.lo, self.count = lo, count
        self.scale = count / (hi - lo) if hi > lo else 0.0

    def of(self, x: float) -> int:
        return min(self.count - 1, max(0, int((x - self.lo) * self.scale)))

    def end(self, xs, at: int, b: int) -> int:
        """Where bucket ``b``'s points end in sorted ``xs`` from ``at`` (which is in it): a
        bisection at the next bucket's edge, then a step or two by ``of`` itself, which the
        edge's rounding may disagree with by an ulp."""
        n = len(xs)
        if b == self.count - 1 or not self.scale:
            return n
        end = max(at + 1, bisect_left(xs, self.lo + (b + 1) / self.scale, at))
        while end < n and self.of(xs[end]) <= b:
            end += 1
        while end > at + 1 and self.of(xs[end - 1]) > b:
            end -= 1
        return end


def buckets(conn, run_id: str, name: str, *, xaxis: str, start, stop, asset, count: int) -> Buckets:
    """``count`` equal buckets of the window (see ``Store.metric_buckets``)."""
    check_buckets(count)
    start, stop, sid, what = open_window(conn, run_id, name, xaxis, start, stop, asset)
    rows = []
    for row in chunk_rows(conn, sid, xaxis, start, stop, what):
        if len(rows) == MAX_READ_CHUNKS:
            raise errors.LimitError(f"{what}: this window spans more than {MAX_READ_CHUNKS:,} chunks; pass a"
                                    " narrower start/stop")
        rows.append(row)
    lo_at, hi_at = _X_AT[xaxis]
    k = AXES[xaxis][2]
    xs_lo = [r[1][lo_at] for r in rows]
    xs_hi = [r[1][hi_at] for r in rows]
    # An open or infinite bound (all points on that side) makes the grid end at the points'.
    lo = start if start is not None and math.isfinite(start) else min(xs_lo, default=0)
    hi = stop if stop is not None and math.isfinite(stop) else max(xs_hi, default=0)
    grid = _Grid(lo, hi, count)
    snap = (hi - lo) / count / 2  # a chunk this narrow goes whole to one bucket
    # Per bucket: ChunkStats tuples, merged in any order (a chart shows no bucket's first or last).
    parts: list[list] = [[] for _ in range(count)]
    spans: list = [None] * count  # per bucket: [x min, x max] of its points
    # Chunks to read the sketch of: (row, whether its blocks may go whole to buckets, seq, points,
    # sketch size); chunks to decode.
    wanted, cut = [], []
    for row, x0, x1 in zip(rows, xs_lo, xs_hi):
        seq, stored, inside, sizes = row
        b = grid.of(x0)
        if inside and (b == grid.of(x1) or x1 - x0 <= snap):
            b = b if b == grid.of(x1) else grid.of((x0 + x1) / 2)
            parts[b].append(stats_tuple(stored))  # a NaN mean (+inf with -inf) is stored as NULL
            _widen(spans, b, x0, x1)
            continue
        if inside and stored[1] == 0 and stored[0] > sketch.BLOCK:
            block_width = (x1 - x0) / sketch.block_count(stored[0])  # on average
            if block_width <= snap:  # blocks narrow enough
                wanted.append(((row, True), seq, stored[0], sizes[1]))
                continue
            if block_width <= 2 * snap:  # to decode, but some blocks lie whole in a bucket: see _split
                wanted.append(((row, False), seq, stored[0], sizes[1]))
        cut.append(row)
    if sum(sketch.block_count(n) for (_, whole), _, n, _ in wanted if whole) > MAX_SKETCH_BLOCKS:
        raise errors.LimitError(f"{what}: bucketing would read more than {MAX_SKETCH_BLOCKS:,} sketch blocks"
                                f" ({sketch.BLOCK} points each); pass a narrower start/stop")
    if sum(sketch.block_count(n) for _, _, n, _ in wanted) > MAX_SKETCH_BLOCKS:
        wanted = [w for w in wanted if w[0][1]]  # the others' sketches only spare work: not beyond the limit
    held = {}  # seq -> the sketch of a chunk to decode, when it claims the axis ascends
    for (row, whole), sk in sketches(conn, sid, wanted, what):
        if whole and _add_blocks(sk, xaxis, grid, snap, parts, spans):
            continue
        if whole:
            cut.append(row)
        if sk.flags is not None and sk.flags & sketch.AXIS_ASCENDS[xaxis]:
            held[row[0]] = sk
    decoded = 0
    for seq, stored, inside, sizes in cut:
        decoded += stored[0]
        if decoded > MAX_DECODE_POINTS:
            raise errors.LimitError(f"{what}: bucketing would decode more than {MAX_DECODE_POINTS:,} points (an"
                                    " unsorted axis); pass a narrower start/stop")
        cols, _ = decode(conn, sid, seq, stored[0], sizes[0], what, columns=AXIS_COLUMNS[xaxis])
        sk = held.get(seq)
        picked = stats.window_columns(cols, k, start, stop, ascending=sk is not None)
        if picked is not None:
            _split(picked[k], picked[0], picked[3], grid, parts, spans, sk if picked is cols else None)
    return _result(name, asset, run_id, run_name(conn, run_id), xaxis, parts, spans)


_X_FIELD = {"step": 1, "time": 2, "timestamp": 3}  # a sketch point's field of each axis


def _add_blocks(sk: sketch.Sketch, xaxis: str, grid: _Grid, snap: float, parts: list, spans: list) -> bool:
    """Add a chunk's blocks whole to their buckets from its sketch; False (nothing added)
    when the sketch cannot: no sums (an older sketch), a sum that is not finite (NaN or
    infinity in the block), an axis not known to ascend, or a block wider than ``snap``
    that straddles a bucket edge."""
    sums = sk.sums()
    if sums is None or not sk.flags & sketch.AXIS_ASCENDS[xaxis] or not all(map(math.isfinite, sums)):
        return False
    field, taken = _X_FIELD[xaxis], []
    mins, maxs = sk.mins(), sk.maxs()
    last_size = sk.count - sketch.BLOCK * (sk.nblocks - 1)  # the sizes `sketch.load` checked
    for block, total in enumerate(sums):
        first, last = sk.point(block, 0), sk.point(block, 3)
        x0, x1 = first[field], last[field]
        b = grid.of(x0)
        if b != grid.of(x1):
            if x1 - x0 > snap:
                return False
            b = grid.of((x0 + x1) / 2)
        n = sketch.BLOCK if block < sk.nblocks - 1 else last_size
        taken.append((b, x0, x1, (n, 0, mins[block], maxs[block], None, None, total / n, 0.0, first[4], last[4],
                                  first[1], last[1], 0, 0, 0.0, 0.0, 0, 0)))
    for b, x0, x1, part in taken:
        _add(parts, b, part)
        _widen(spans, b, x0, x1)
    return True


def _add(parts: list, b: int, part: tuple) -> None:
    """A bucket's parts, merged every ``_FOLD`` so memory stays bounded by the bucket count
    (a bucket may take thousands of blocks)."""
    held = parts[b]
    held.append(part)
    if len(held) >= _FOLD:
        parts[b] = [stats.merge_rows(held)]


_FOLD = 64


def _widen(spans: list, b: int, x0, x1) -> None:
    span = spans[b]
    if span is None:
        spans[b] = [x0, x1]
    else:
        span[0] = min(span[0], x0)
        span[1] = max(span[1], x1)


def _split(xs, steps, values, grid: _Grid, parts: list, spans: list, sk: sketch.Sketch | None = None) -> None:
    """Points cut from one chunk, added to their buckets. On a sorted axis (the common case)
    each bucket's points are one slice, found by bisecting at its edges (`_Grid.end`) and
    summed by C-level passes over it (`_part`): Python steps a bucket, not a point. Point by
    point otherwise. ``sk``: the sketch of the whole chunk ``xs`` are, claiming the axis
    ascends (the file's claim, as for the blocks taken whole): no check of the order, and
    each bucket's extremes among its whole blocks are the sketch's."""
    if sk is not None or _ascends(xs):
        n, at = len(xs), 0
        while at < n:
            b = grid.of(xs[at])
            end = grid.end(xs, at, b)
            parts[b].append(_part(steps[at:end], values[at:end], sk, at))
            _widen(spans, b, xs[at], xs[end - 1])
            at = end
        return
    groups: dict = {}
    for i, x in enumerate(xs):
        groups.setdefault(grid.of(x), []).append(i)
    for b, picked in sorted(groups.items()):
        parts[b].append(_part([steps[i] for i in picked], [values[i] for i in picked]))
        _widen(spans, b, min(xs[i] for i in picked), max(xs[i] for i in picked))


def _ascends(xs) -> bool:
    """An axis column never decreases: ints by `lanes.ascending` (evenly spaced steps seen
    without making an object a point), floats by comparing them with their sorted copy (new
    objects on each side, so a NaN compares unequal: never ascending)."""
    if getattr(xs, "typecode", None) == "q":
        return lanes.ascending(xs)
    return list(xs) == sorted(xs)


def _part(steps, values, sk: sketch.Sketch | None = None, first: int = 0) -> tuple:
    """What a bucket needs of points cut from a chunk (count, NaNs, min, max, mean, first and
    last), as a tuple in ChunkStats order for ``stats.merge_many``: one exact sum and two
    C-level passes, where ``stats.window_part`` also finds the extremes' steps and the M2 a
    chart never shows (left None and 0 here). NaNs and infinities take the full path. With the
    chunk's sketch (the points from position ``first`` of the chunk on), the passes skip the
    blocks lying whole among them: their extremes are the sketch's (`sketch.window_extremes`
    picks the same values, -0.0 or 0.0 included, as ``min`` and ``max`` over all)."""
    try:
        total = math.fsum(values)
    except (OverflowError, ValueError):  # an intermediate overflow, or inf - inf
        total = math.nan
    if total != total:
        return stats.window_part(steps, values)
    n = len(values)
    extremes = None
    if sk is not None and n >= sketch.BLOCK and math.isfinite(total):
        extremes = sketch.window_extremes(sk, first, values)
    low, high = (min(values), max(values)) if extremes is None else extremes[:2]
    return (n, 0, low, high, None, None, total / n, 0.0, values[0], values[-1],
            steps[0], steps[-1], 0, 0, 0.0, 0.0, 0, 0)


def _result(name, asset, run_id, label, xaxis: str, parts: list, spans: list) -> Buckets:
    xs, means, lows, highs, counts, nans = [], [], [], [], [], []
    for bucket, span in zip(parts, spans):
        if not bucket:
            continue
        count, nan_count, low, high, _, _, mean = stats.merge_rows(bucket)[:7]  # ChunkStats order
        x = (span[0] + span[1]) / 2
        xs.append(x / 1e6 if xaxis == "timestamp" else x)
        means.append(mean)
        lows.append(low)
        highs.append(high)
        counts.append(count)
        nans.append(nan_count)
    return Buckets(name=name, asset=asset, run_id=run_id, run_name=label, xaxis=xaxis, x=xs, mean=means,
                   min=lows, max=highs, count=counts, nan_count=nans)
