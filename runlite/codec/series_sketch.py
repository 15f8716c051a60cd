"""The block sketches of a whole series laid end to end: what a re-read downsamples from.

`sketch.downsample` walks a series chunk by chunk and reads only the sketches that hold a
chosen point: the right way for one read. A dashboard re-reads the same series every few
seconds, and each time most of that walk (Python steps a bucket, a chosen point, a chunk) is
spent again on the same blocks. `build` lays every block of the series out once: the blocks
ranked by their min and by their max, each block's first index in the series, and the index
and packed fields of every block's min, max and last point. A downsampling is then a
bisection a bucket and a few C-level passes (``map``, ``dict(zip(...))``, itemgetter
gathers; over the buckets, not the blocks, when they are a few blocks wide: `_Ranks`), and
picks exactly the points `sketch.downsample` picks, in the same order:
buckets are runs of whole blocks (a block belongs to the bucket of its first point), each
keeps its first lowest and first highest block extreme (NaN never wins) and its last point,
and the series' first point is kept. Pure: no SQLite.
"""

from __future__ import annotations

import operator
import struct
from array import array
from bisect import bisect_left
from itertools import chain, compress, repeat
from operator import itemgetter

from . import sketch
from ..errors import CorruptStoreError

# A kept point's fields packed (native order): its step, time, timestamp and value, all 8 bytes,
# so the picked points joined are one buffer that strided array slices cut into the columns.
_PACKED = struct.Struct("=qdqd")


class SeriesSketch:
    """Every block of a series: ``starts`` (each block's first index in the series);
    ``low_blocks`` the blocks from the last to the first in rank order by min (`_ranked`) and
    ``by_low`` an itemgetter taking a per-block list in that order (``high_blocks``,
    ``by_high``: by max), and ``lows`` (``highs``) the same ranks' range minima (`_Ranks`);
    for each kept point of a block (its min, max and last: ``kinds``) its index in the series
    and its fields packed (`_PACKED`), in lists indexed by block, but the lasts by block + 1
    (a bucket's last block is the one before the next bucket's first).
    ``first`` is the series' first point (index, packed). ``bad`` maps,
    for each kind, a block whose point is placed beyond the block to what `Sketch.point` says
    of it, and ``first_bad`` that of the first point (raised only when such a point is
    picked, as `sketch.downsample` does).
    """

    __slots__ = ("total", "nblocks", "starts", "low_blocks", "by_low", "high_blocks", "by_high", "lows", "highs",
                 "kinds", "first", "bad", "first_bad", "nbytes")

    def downsample(self, max_points: int, *, clamp: bool = False) -> list[array] | None:
        """``[steps, times, timestamps, values]`` of the points `sketch.downsample` picks with
        these arguments (None where it gives None); CorruptStoreError as its `Sketch.point`
        raises for the first picked point placed beyond its block."""
        nb, total = self.nblocks, self.total
        buckets = sketch.bucket_count(max_points, nb, total, clamp)
        if buckets is None:
            return None
        # Bucket q starts at the first block whose first point is at or past
        # ceil(q * total / buckets) = (q * total + buckets - 1) // buckets.
        cuts = [0, *map(bisect_left, repeat(self.starts, buckets - 1),
                        map(operator.floordiv, range(total + buckets - 1, (buckets - 1) * total + buckets, total),
                            repeat(buckets))), nb]
        los, his = cuts[:-1], cuts[1:]
        if len(set(cuts)) < len(cuts):  # a bucket narrower than a block may hold none: dropped
            full = list(map(operator.lt, los, his))
            los, his = list(compress(los, full)), list(compress(his, full))
        # Each bucket's first block in rank order (by min, by max), then its last block.
        if nb >= _WIDE_BUCKETS * len(los):  # passes over the buckets: the ranks' range minima
            bits = list(map(int.bit_length, map(operator.sub, his, los)))
            picks = (self.lows.firsts(los, his, bits), self.highs.firsts(los, his, bits), his)
        else:
            # Passes over the blocks: each block's bucket, then a dict keeps the last value
            # given to a key, so the blocks are given from the last rank to the first.
            owner = list(chain.from_iterable(map(repeat, range(len(los)), map(operator.sub, his, los))))
            every = itemgetter(*range(len(los))) if len(los) > 1 else lambda found: (found[0],)
            picks = (every(dict(zip(self.by_low(owner), self.low_blocks))),
                     every(dict(zip(self.by_high(owner), self.high_blocks))), his)
        if self.first_bad or any(bad and not bad.keys().isdisjoint(blocks) for bad, blocks in zip(self.bad, picks)):
            self._refuse(picks)
        # itemgetter: one C call a gather (a bound __getitem__ a point costs several times more).
        # A later pick of an index wins, as in sketch.downsample: an index is picked twice only
        # within a bucket, whose min, max and last are given in that order here too.
        chosen = {self.first[0]: self.first[1]}
        for (at, fields), blocks in zip(self.kinds, picks):
            chosen.update(zip(_take(at, blocks), _take(fields, blocks)))
        joined = b"".join(_take(chosen, sorted(chosen)))
        ints, floats = array("q"), array("d")
        ints.frombytes(joined)
        floats.frombytes(joined)
        return [ints[0::4], floats[1::4], ints[2::4], floats[3::4]]

    def _refuse(self, picks: tuple) -> None:
        """Raise what `Sketch.point` raises for the first picked point beyond its block, in the
        order `sketch.downsample` reads them: the series' first point, then bucket by bucket."""
        if self.first_bad:
            raise CorruptStoreError(self.first_bad)
        for blocks in zip(*picks):
            for bad, block in zip(self.bad, blocks):
                if block in bad:
                    raise CorruptStoreError(bad[block])


def _take(items, at: list) -> tuple:
    """``items`` at each of ``at``, as a tuple (itemgetter gives one item bare)."""
    return itemgetter(*at)(items) if len(at) != 1 else (items[at[0]],)


# Blocks a bucket (on average) from which `_Ranks` picks: its passes go over the buckets, a few
# more of them than the dict's over the blocks (1,000 points of 2,080 blocks, 6 a bucket:
# 126 us against 204; 100 points: 15 against 160; 2 to 4 blocks a bucket: 1.2x slower, 1 to 3: 1.8x).
_WIDE_BUCKETS = 4


class _Ranks:
    """The blocks' ranks in one order (`_ranked`) and their range minima: for ``b`` from 1, the
    lowest rank among each ``2 ** (b - 1)`` consecutive blocks (a sparse table, a level made
    at the first read that needs it: made twice by two threads at once, it is equal).

    A range's lowest rank is the lower of those of two such windows covering it, its first
    and its last ``2 ** (b - 1)`` blocks for ``b`` its width's bit length: two gathers and a
    ``min`` a range, at C speed, whatever its width. Ranks are distinct, so the block is the
    first lowest (or highest) the dict's passes pick, NaN blocks ranked last as there.
    """

    __slots__ = ("order", "_minima")

    def __init__(self, last_first: list) -> None:
        self.order = last_first[::-1]  # the blocks, first rank first
        n = len(self.order)
        self._minima = {1: list(map(dict(zip(self.order, range(n))).__getitem__, range(n)))}  # block -> rank

    def _level(self, b: int) -> list:
        level = self._minima.get(b)
        if level is None:  # the lower of two windows of half the width
            below, half = self._level(b - 1), 1 << (b - 2)
            level = self._minima[b] = list(map(min, below[:len(below) - half], below[half:]))
        return level

    def firsts(self, los: list, his: list, bits: list) -> tuple:
        """The first-ranked block of each range of blocks ``los[q]`` to ``his[q] - 1`` (none
        empty), ``bits[q]`` its width's bit length."""
        for b in range(min(bits), max(bits) + 1):
            self._level(b)
        levels = list(map(self._minima.__getitem__, bits))
        # Each range's last window's first block: its end less 2 ** (b - 1).
        lasts = map(operator.sub, his, map(operator.lshift, repeat(1), map(operator.sub, bits, repeat(1))))
        ranks = map(min, map(operator.getitem, levels, los), map(operator.getitem, levels, lasts))
        return itemgetter(*ranks)(self.order) if len(los) > 1 else (self.order[next(ranks)],)


def build(items: list[tuple]) -> SeriesSketch | None:
    """The `SeriesSketch` of a series' chunks, ``(offset, points, min, max, Sketch)`` each in
    log order, as `sketch.downsample` takes them (offsets running on from 0).

    None when a chunk's stored min or max (None: NaN only) is not its sketch's:
    `sketch.downsample` compares a chunk lying in one bucket by those, so on such a file only
    it gives its answer.
    """
    starts, mins, maxs, sizes = [], [], [], []
    columns = [[[] for _ in range(5)] for _ in range(4)]  # kind (first, min, max, last), field
    expect = 0
    for offset, count, low, high, sk in items:
        n = sketch.block_count(count)
        if offset != expect or sk.nblocks != n:
            return None
        expect += count
        m, x = list(sk.mins()), list(sk.maxs())
        if not (_stored_is(low, m[sketch.first_lowest(m, 0, n)])
                and _stored_is(high, x[sketch.first_highest(x, 0, n)])):
            return None
        starts += range(offset, offset + sketch.BLOCK * n, sketch.BLOCK)
        sizes += [sketch.BLOCK] * (n - 1) + [count - sketch.BLOCK * (n - 1)]
        mins += m
        maxs += x
        for which in range(0 if not offset else 1, 4):  # of the blocks' first points, the series' first only
            for field, col in enumerate(columns[which]):
                col += sk.column(which, field)
    if not starts:
        return None
    out = SeriesSketch()
    out.total, out.nblocks, out.starts = expect, len(starts), starts
    out.low_blocks, out.by_low = _ranked(mins, reverse=False)
    out.high_blocks, out.by_high = _ranked(maxs, reverse=True)
    out.lows, out.highs = _Ranks(out.low_blocks), _Ranks(out.high_blocks)
    kinds, bads = [], []
    for which, (positions, *fields) in enumerate(columns):
        at = list(map(operator.add, starts, positions))
        packed = list(map(_PACKED.pack, *fields))
        bad = {b: f"a chunk sketch places a point at {pos} in a block of {size} points"
               for b, (pos, size) in enumerate(zip(positions, sizes)) if pos >= size} \
            if any(map(operator.ge, positions, sizes)) else {}
        if which == 0:
            out.first, out.first_bad = (at[0], packed[0]), bad.get(0)
            continue
        if which == 3:  # indexed by block + 1
            at.insert(0, None)
            packed.insert(0, None)
            bad = {b + 1: why for b, why in bad.items()}
        kinds.append((at, packed))
        bads.append(bad)
    out.kinds, out.bad = tuple(kinds), tuple(bads)
    # The lists, their ints and floats, the packed fields (measured: 464 bytes a block), and
    # the ranks' range minima: at most a list of each kind a bit of the block count.
    out.nbytes = (480 + 16 * out.nblocks.bit_length()) * out.nblocks
    return out


def _stored_is(stored, value: float) -> bool:
    """A chunk row's stored extreme (None: every value NaN) is its sketch's."""
    return value != value if stored is None else stored == value


def _ranked(values: list, *, reverse: bool) -> tuple:
    """``(blocks, gather)``: the blocks from the last to the first in rank order (the first
    lowest value first, or with ``reverse`` the first highest: the sort is stable, so equal
    values, -0.0 and 0.0 too, keep block order; NaN blocks last, in block order, never before
    a number), and an itemgetter taking a per-block list in that same order."""
    real = [b for b, v in enumerate(values) if v == v]
    real.sort(key=values.__getitem__, reverse=reverse)
    ranked = real + [b for b, v in enumerate(values) if v != v]
    ranked.reverse()
    return ranked, (itemgetter(*ranked) if len(ranked) > 1 else lambda items: (items[ranked[0]],))
