"""Block sketches: the first, min, max and last point of every 512 points of a chunk.

Stored beside each chunk (a few hundredths of a byte a point once compressed), they let
``max_points`` downsampling of a long series read the sketches instead of decoding every
chunk: buckets are runs of whole blocks, each keeps its min, max and last point, and the
first and last points of the series are kept, so spikes survive. Pure: no SQLite.

Three stored forms, all read (`load`, `decode`):

- version 1, a zstd frame of one 148-byte entry a block: the block's size (u32), then its
  first, min, max and last points, each (position u32, step i64, time f64, timestamp i64,
  value f64), little-endian;
- version 2, the byte 2 then a zstd frame of the same fields as columns: every block's size,
  then for each of first, min, max and last the positions, steps, times, timestamps and
  values of every block. The blocks' mins and maxs are then one slice each (no strided
  gathering), and a one-block sketch is its version-1 entry. A zstd frame never starts with
  the byte 2 (nor 3);
- version 3 (written for chunks of more than one block), the byte 3 then a zstd frame of
  version 2's columns followed by every block's exact sum (``math.fsum``, f64; NaN when the
  block holds a NaN or its sum is undefined) and one byte of order flags (`order`): which x
  axes never decrease in the chunk. With them a chart's buckets take whole blocks (count,
  sum, min, max, first, last) from the sketch when a bucket is at least two blocks wide, and
  decode no chunk (``metric_buckets``).

A chunk of one block stores none (`NONE_STORED`; version 2 before schema version 11): a read
decodes the chunk instead (``chunk_rows.load_sketch``), as fast for 100 points, and a flush of
many short series spent a tenth of its time making them.

Reading is bounded by what the chunk's row records: `load` accepts only a sketch of exactly
``ceil(count / BLOCK)`` whole blocks of the right sizes, sized before zstd allocates, and reads
it in place (no object per block). `downsample` decodes only the sketches it needs:
a chunk whose blocks all fall into one bucket is compared by its stored min and max, and its
sketch is read only when it holds the bucket's min, max or last point; so at most about
four sketches a bucket are decoded, however long the series.
"""

from __future__ import annotations

import functools
import math
import operator
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import filterfalse, islice

from . import accel, lanes, zstd
from ..errors import CorruptStoreError

BLOCK = 512
_HEAD = struct.Struct("<I")          # points in the block
_POINT = struct.Struct("<Iqdqd")     # position in block, step, time, timestamp, value
_ENTRY = _HEAD.size + 4 * _POINT.size
_LITTLE = sys.byteorder == "little"
_MAX_RAW = 1 << 22                   # a sketch never decompresses to more than this

Point = tuple  # (global index, step, time, timestamp, value)


def blocks(steps: array, times: array | None, timestamps: array, values: array, *,
           has_nan: bool, time_origin_us: int = 0, floats: list | None = None) -> list[tuple[int, tuple]]:
    """``(points, (first, min, max, last))`` per block; points are (position, step, time, timestamp, value).

    ``times`` None means the default times ``(timestamp - time_origin_us) / 1e6``, computed
    here for the chosen points only. ``floats``: ``values.tolist()``, when the caller made it
    (the chunk's statistics take it too). ``has_nan`` False says no value is NaN, and is checked at
    no cost: ``min`` and ``max`` pass over a NaN (it compares False) unless it comes first, so a
    block whose extreme comes out NaN is done the NaN-aware way, and the blocks are right
    either way.
    """
    n = len(values)
    floats = values.tolist() if floats is None else floats  # min, max and index pass over a list faster
    if n <= BLOCK and not has_nan:  # one block (a chunk that stores none, read or checked; a window's part)
        low, high = min(floats), max(floats)
        if low == low and high == high:
            return [(n, tuple([(i, steps[i], times[i] if times is not None else (timestamps[i] - time_origin_us) / 1e6,
                                timestamps[i], floats[i]) for i in (0, floats.index(low), floats.index(high), n - 1)]))]
    out = []
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        seg = floats[lo:hi] if n > BLOCK else floats
        low = high = math.nan
        if not has_nan:
            low, high = min(seg), max(seg)
        if low == low and high == high:
            i_min, i_max = seg.index(low), seg.index(high)
        else:  # NaN in the block: its real values' first lowest and highest
            real = [i for i, v in enumerate(seg) if v == v]
            if real:
                i_min = min(real, key=seg.__getitem__)
                i_max = max(real, key=seg.__getitem__)
            else:
                i_min = i_max = hi - lo - 1
        made = {}  # a point chosen twice (a block's first is often its min or max) is made once
        for i in (0, i_min, i_max, hi - lo - 1):
            if i not in made:
                j = lo + i
                stamp = timestamps[j]
                made[i] = (i, steps[j], times[j] if times is not None else (stamp - time_origin_us) / 1e6,
                           stamp, values[j])
        out.append((hi - lo, (made[0], made[i_min], made[i_max], made[hi - lo - 1])))
    return out


def extremes(made: list[tuple[int, tuple]]) -> tuple:
    """``(min, max, first index of min, first index of max)`` of a NaN-free chunk's values, from
    its `blocks`: each block keeps its first lowest and first highest point, so the first block
    holding the lowest of them holds the chunk's first lowest (`stats.chunk_stats` then skips
    four passes over the values)."""
    (_, (_, low, high, _)), = made[:1]
    lo, ilo, hi, ihi = low[4], low[0], high[4], high[0]
    for b in range(1, len(made)):
        _, (_, low, high, _) = made[b]
        if low[4] < lo:
            lo, ilo = low[4], b * BLOCK + low[0]
        if high[4] > hi:
            hi, ihi = high[4], b * BLOCK + high[0]
    return lo, hi, ilo, ihi


def window_extremes(sk: "Sketch", first: int, values) -> tuple | None:
    """``(min, max, first index of min, first index of max)`` of ``values``, the chunk's points
    from position ``first`` on, when every one is finite (the caller knows: their sum is): the
    blocks wholly among them give theirs from the sketch, so only the part blocks at each end
    are passed over. None when no block is whole among them (no pass would be saved)."""
    last = first + len(values)
    b0, b1 = -(-first // BLOCK), last // BLOCK  # the blocks b0 .. b1 - 1 lie wholly among them
    if b1 <= b0:
        return None
    head, tail = values[:b0 * BLOCK - first], values[b1 * BLOCK - first:]
    mins, maxs = sk.mins(), sk.maxs()
    jlo, jhi = first_lowest(mins, b0, b1), first_highest(maxs, b0, b1)
    lo, ilo = mins[jlo], sk.point(jlo, 1)[0] - first
    hi, ihi = maxs[jhi], sk.point(jhi, 2)[0] - first
    if head:  # earlier points: they win ties
        low, high = min(head), max(head)
        if not low > lo:
            lo, ilo = low, head.index(low)
        if not high < hi:
            hi, ihi = high, head.index(high)
    if tail:  # later points: they win only when strictly beyond
        low, high = min(tail), max(tail)
        at = len(values) - len(tail)
        if low < lo:
            lo, ilo = low, at + tail.index(low)
        if high > hi:
            hi, ihi = high, at + tail.index(high)
    return lo, hi, ilo, ihi


# Order flags (version 3, `order`): the chunk's x column never decreases, so each block's points
# lie between its first and last x (a chart may place the block whole).
STEPS_ASCEND, TIMES_ASCEND, TIMESTAMPS_ASCEND = 1, 2, 4
AXIS_ASCENDS = {"step": STEPS_ASCEND, "time": TIMES_ASCEND, "timestamp": TIMESTAMPS_ASCEND}
_AXIS_FIELDS = {"step": 1, "time": 2, "timestamp": 3}  # a point's field holding each axis


def block_sums(values: array) -> array:
    """Each block's exact sum (``math.fsum``); NaN for a block holding a NaN, or whose sum
    is undefined (inf - inf) or beyond the float range."""
    out = array("d")
    n = len(values)
    for lo in range(0, n, BLOCK):
        try:
            out.append(math.fsum(values[lo:lo + BLOCK] if n > BLOCK else values))
        except (OverflowError, ValueError):
            out.append(math.nan)
    return out


def order(steps: array, times: array | None, timestamps: array) -> int:
    """Order flags of a chunk's columns: which never decrease. A flag is a claim a reader
    may rely on; a clear one only sends a chart to the decoding path. Every column is
    compared; at ingest the comparison of an int column is its range's too (the ends of a
    column that ascends: `stats.axis_ranges`' ``steps_rise`` and ``stamps_rise``), and given
    times are compared instead of passed over for their extremes (``times_rise``), so the
    flags cost a flush no pass of their own. Default times (derived from the timestamps)
    ascend with them."""
    flags = STEPS_ASCEND if lanes.ascending(steps) else 0
    if lanes.ascending(timestamps):
        flags |= TIMESTAMPS_ASCEND | (TIMES_ASCEND if times is None else 0)
    if times is not None and _floats_ascend(times, accel.numpy_for(len(times))):
        flags |= TIMES_ASCEND
    return flags


def _floats_ascend(column: array, np) -> bool:
    """A float column never decreases (a NaN compares False: never ascending)."""
    if np is None:
        return all(map(operator.le, column, islice(column, 1, None)))
    a = np.frombuffer(column, dtype=np.float64)
    return bool((a[1:] >= a[:-1]).all())


def make(steps: array, times: array | None, timestamps: array, values: array, *, has_nan: bool,
         time_origin_us: int = 0) -> bytes:
    """The stored sketch of a chunk's columns (see `stored`)."""
    made = blocks(steps, times, timestamps, values, has_nan=has_nan, time_origin_us=time_origin_us)
    return stored(made, steps, times, timestamps, values)


def stored(made: list[tuple[int, tuple]], steps: array, times: array | None, timestamps: array,
           values: array, *, flags: int | None = None) -> bytes:
    """The stored bytes of a chunk's blocks ``made`` from its columns: version 3, or
    `NONE_STORED` for one block. ``flags``: the columns' `order` when known."""
    if len(made) == 1:
        return NONE_STORED
    return encode(made, block_sums(values), order(steps, times, timestamps) if flags is None else flags)


_V2, _V3 = b"\x02", b"\x03"  # a zstd frame starts with 0x28: this byte tells the forms apart
NONE_STORED = b""  # the sketch a chunk of one block stores (see above)
_FIELDS = "Iqdqd"  # a point's fields, each stored as a column in version 2


def _columns(block_list: list[tuple[int, tuple]]) -> bytes:
    """The version-2 body: block sizes, then each chosen point's fields as columns."""
    nb = len(block_list)
    if nb == 1:  # one block: its columns are its entry, in version 1's order
        count, (p0, p1, p2, p3) = block_list[0]
        return _ONE.pack(count, *p0, *p1, *p2, *p3)
    args = [count for count, _ in block_list]
    for k in range(4):
        for field in zip(*[pts[k] for _, pts in block_list]):
            args += field
    return _layout(nb, True).pack(*args)


_ONE = struct.Struct("<I" + _FIELDS * 4)


def encode(block_list: list[tuple[int, tuple]], sums: array | None = None, flags: int = 0) -> bytes:
    """The stored bytes of a chunk's blocks: version 3 with their sums (`block_sums`) and
    `order` flags, version 2 without."""
    if sums is None:  # one block (148 bytes): zstd's fast level, as small as level 1 there, in half the time
        return _V2 + zstd.compress(_columns(block_list), level=-1, checksum=False)
    if len(sums) != len(block_list) or not 0 <= flags <= 7:
        raise ValueError(f"a sketch of {len(block_list)} blocks takes as many sums and flags 0..7")
    return _V3 + zstd.compress(_columns(block_list) + lanes.le_bytes(array("d", sums)) + bytes((flags,)),
                               level=1, checksum=False)


def _v3_size(nblocks: int) -> int:
    """Bytes of a version-3 body of nblocks blocks: entries, sums, the flags byte."""
    return nblocks * (_ENTRY + 8) + 1


def block_count(points: int) -> int:
    """The blocks of a chunk of ``points`` points: ``ceil(points / BLOCK)``."""
    return -(-points // BLOCK)


def stored_size_bound(points: int) -> int:
    """More stored bytes than the sketch of a chunk of ``points`` points ever takes (the
    frame of its raw entries plus zstd's margin): a reader refuses a longer one by its length."""
    raw = _v3_size(block_count(points))
    return raw + (raw >> 7) + 1024


class Sketch:
    """A chunk's sketch checked against the chunk's point count, read in place: ``mins()`` and
    ``maxs()`` the blocks' extreme values as arrays (a slice of a version-2 sketch, strided C
    copies of a version-1 one), ``point(block, which)`` one point (0 first, 1 min, 2 max, 3 last)
    with its position checked; ``sums()`` and ``flags`` (version 3) None in older sketches."""

    __slots__ = ("raw", "count", "nblocks", "columnar", "flags", "_mins", "_maxs", "_all", "_sums")

    def __init__(self, raw: bytes, count: int, columnar: bool = True, nblocks: int | None = None):
        self.raw, self.count, self.columnar = raw, count, columnar
        self.nblocks = len(raw) // _ENTRY if nblocks is None else nblocks
        has_sums = len(raw) == _v3_size(self.nblocks)
        self.flags = raw[-1] if has_sums else None
        self._mins = self._maxs = self._all = None
        self._sums = None if has_sums else False

    def _values(self, which: int) -> array:
        nb = self.nblocks
        if self.columnar:
            return _doubles(self.raw, _column_at(nb, which, 4), nb)
        out = bytearray(8 * nb)
        at = _HEAD.size + which * _POINT.size + 28
        for i in range(8):  # 8 C-level strided copies, whatever the number of blocks
            out[i::8] = self.raw[at + i::_ENTRY]
        return _doubles(out, 0, nb)

    def mins(self) -> array:
        if self._mins is None:
            self._mins = self._values(1)
        return self._mins

    def maxs(self) -> array:
        if self._maxs is None:
            self._maxs = self._values(2)
        return self._maxs

    def sums(self) -> array | None:
        """Each block's exact sum (NaN: see `block_sums`), or None for a sketch without them."""
        if self._sums is None:
            self._sums = _doubles(self.raw, self.nblocks * _ENTRY, self.nblocks)
        return self._sums if self._sums is not False else None

    def _unpacked(self) -> tuple:
        """Every field of every block: one C call a sketch, then points are index arithmetic."""
        if self._all is None:
            self._all = _layout(self.nblocks, self.columnar).unpack_from(self.raw)
        return self._all

    def point(self, block: int, which: int, offset: int = 0) -> Point:
        """``(position in the chunk + offset, step, time, timestamp, value)`` of one chosen point
        (``offset``: the chunk's first index in a series, for its position there)."""
        flat, nb = self._unpacked(), self.nblocks
        if self.columnar:
            size = flat[block]
            at = nb * (1 + 5 * which) + block
            pos, step, time, stamp, value = flat[at], flat[at + nb], flat[at + 2 * nb], flat[at + 3 * nb], \
                flat[at + 4 * nb]
        else:
            size = flat[21 * block]
            at = 21 * block + 1 + 5 * which
            pos, step, time, stamp, value = flat[at:at + 5]
        if pos >= size:
            raise CorruptStoreError(f"a chunk sketch places a point at {pos} in a block of {size} points")
        return (offset + block * BLOCK + pos, step, time, stamp, value)

    def column(self, which: int, field: int) -> tuple:
        """Field ``field`` (as in `point`: 0 position in the block .. 4 value) of every block's
        ``which`` point, in block order, unchecked: one slice of the unpacked sketch."""
        flat, nb = self._unpacked(), self.nblocks
        if self.columnar:
            return flat[nb * (1 + 5 * which + field):nb * (2 + 5 * which + field)]
        return flat[1 + 5 * which + field::21]

    def rows_between(self, xaxis: str, start, stop) -> tuple[int, int]:
        """``(lo, hi)``: the points of the blocks that may hold ``start <= x <= stop`` (None
        leaves a side open) on an axis the order flags claim never decreases, where each
        block's points lie between its first and last x: a window's reader decodes only
        those rows. Bisected over the blocks' firsts and lasts, so the range is whole
        blocks, at most one block too wide at each end."""
        flat, nb, at = self._unpacked(), self.nblocks, _AXIS_FIELDS[xaxis]
        if self.columnar:
            firsts, lasts = flat[nb * (1 + at):nb * (2 + at)], flat[nb * (16 + at):nb * (17 + at)]
        else:
            firsts, lasts = flat[1 + at::21], flat[16 + at::21]
        lo = 0 if start is None else bisect_left(lasts, start)
        hi = nb if stop is None else bisect_right(firsts, stop)
        first = min(lo * BLOCK, self.count)
        return first, max(first, min(hi * BLOCK, self.count))

    def points(self) -> list[Point]:
        """Every block's (first, min, max, last) points, in block order: all of a chunk's
        points when it holds at most two."""
        return [self.point(b, w) for b in range(self.nblocks) for w in range(4)]


def _doubles(buf, at: int, n: int) -> array:
    """n little-endian f64 from ``buf[at:]`` as an array."""
    a = array("d")
    a.frombytes(buf[at:at + 8 * n])
    if not _LITTLE:
        a.byteswap()
    return a


_FIELD_OFFSETS = (0, 4, 12, 20, 28)  # bytes a block before each field's column, within a kind


@functools.lru_cache(maxsize=64)
def _layout(nb: int, columnar: bool) -> struct.Struct:
    """The struct of a whole sketch of nb blocks in either form."""
    if columnar:
        return struct.Struct(f"<{nb}I" + "".join(f"{nb}{c}" for c in _FIELDS) * 4)
    return struct.Struct("<" + ("I" + _FIELDS * 4) * nb)


def _column_at(nb: int, which: int, field: int) -> int:
    """Where field ``field`` of the ``which`` points starts in a version-2 body of nb blocks."""
    return nb * (4 + 36 * which + _FIELD_OFFSETS[field])


def _sizes(points: int, nblocks: int) -> bytes:
    """The little-endian block sizes `blocks` writes for a chunk of ``points`` points."""
    return _HEAD.pack(BLOCK) * (nblocks - 1) + _HEAD.pack(points - BLOCK * (nblocks - 1))


def _body(data, limit: int, nblocks: int | None, what: str) -> tuple[bytes, bool, bool]:
    """``(the sketch's body, columnar, with sums)`` of any stored form, bounded by ``limit``;
    of exactly ``nblocks`` blocks when given."""
    head = data[:1] if isinstance(data, (bytes, bytearray, memoryview)) else b""
    if head in (_V2, _V3):
        v3 = head == _V3
        expected = None if nblocks is None else (_v3_size(nblocks) if v3 else nblocks * _ENTRY)
        return zstd.decompress(memoryview(data)[1:], limit=limit, expected_size=expected, what=what), True, v3
    expected = None if nblocks is None else nblocks * _ENTRY
    return zstd.decompress(data, limit=limit, expected_size=expected, what=what), False, False


def load(data: bytes, count: int) -> Sketch:
    """The sketch of a chunk whose row records ``count`` points, checked before use.

    Raises:
        CorruptStoreError: not exactly ``ceil(count / BLOCK)`` entries (a zstd frame's
            declared size is checked before zstd allocates), or blocks of other sizes than
            the chunk's points cut every BLOCK.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise CorruptStoreError(f"a chunk records {count!r:.40} points; expected a positive int")
    nblocks = block_count(count)
    if _v3_size(nblocks) > _MAX_RAW:
        raise CorruptStoreError(f"a chunk records {count} points, more than a sketch can cover")
    raw, columnar, v3 = _body(data, _MAX_RAW, nblocks, f"the sketch of a chunk of {count} points")
    if v3 and raw[-1] > 7:
        raise CorruptStoreError(f"the sketch of a chunk of {count} points has order flags {raw[-1]}, not 0..7")
    if columnar:
        sizes = raw[:_HEAD.size * nblocks]
    else:
        sizes = bytearray(_HEAD.size * nblocks)
        for i in range(_HEAD.size):  # each entry's size, gathered by strided C copies
            sizes[i::_HEAD.size] = raw[i::_ENTRY]
    if sizes != _sizes(count, nblocks):
        raise CorruptStoreError(f"the sketch of a chunk of {count} points has blocks of other sizes"
                                f" than {BLOCK} points each")
    return Sketch(raw, count, columnar, nblocks)


def from_blocks(block_list: list[tuple[int, tuple]]) -> Sketch:
    """A `Sketch` of blocks made by `blocks` (points of a chunk cut to a window)."""
    return Sketch(_columns(block_list), sum(count for count, _ in block_list))


def decode(data: bytes) -> list[tuple[int, tuple]]:
    """The blocks of a sketch: ``(points, (first, min, max, last))`` with in-block positions.

    Raises:
        CorruptStoreError: no stored form, or more than 4 MiB of entries, or not whole blocks.
    """
    return decode_all(data)[0]


def decode_all(data: bytes) -> tuple[list[tuple[int, tuple]], array | None, int | None]:
    """``(blocks as `decode` gives them, their sums, order flags)``; sums and flags None
    before version 3."""
    raw, columnar, v3 = _body(data, _MAX_RAW, None, "a chunk sketch")
    # Bounded by _MAX_RAW: checking the size after decoding is safe.
    nb = (len(raw) - 1) // (_ENTRY + 8) if v3 else len(raw) // _ENTRY
    if (_v3_size(nb) if v3 else nb * _ENTRY) != len(raw) or (v3 and raw[-1] > 7):
        raise CorruptStoreError(f"a chunk sketch holds {len(raw)} bytes, not whole {_ENTRY}-byte blocks"
                                + (" with their sums and order flags" if v3 else ""))
    if not v3:
        return _blocks_of(raw, nb, columnar), None, None
    return _blocks_of(raw, nb, True), _doubles(raw, nb * _ENTRY, nb), raw[-1]


def _blocks_of(raw: bytes, nb: int, columnar: bool) -> list[tuple[int, tuple]]:
    if not columnar:
        blocks = []
        for off in range(0, len(raw), _ENTRY):
            count = _HEAD.unpack_from(raw, off)[0]
            points = tuple(_POINT.unpack_from(raw, off + _HEAD.size + k * _POINT.size) for k in range(4))
            blocks.append((count, points))
        return blocks
    flat = _layout(nb, True).unpack_from(raw)
    counts, columns = flat[:nb], [flat[nb + j * nb:nb + (j + 1) * nb] for j in range(20)]
    return [(counts[b], tuple(tuple(columns[5 * k + f][b] for f in range(5)) for k in range(4)))
            for b in range(nb)]


def first_lowest(values: array, lo: int, hi: int) -> int:
    """Index of the first lowest value in ``values[lo:hi]``, NaN never winning (``lo`` when all
    are NaN): what folding the blocks one by one, keeping the first lower value, picks."""
    seg = values[lo:hi]
    best = min(seg)  # C-level; skips NaNs unless the first item is one
    if best != best:
        clean = list(filterfalse(math.isnan, seg))
        if not clean:
            return lo
        best = min(clean)
    return lo + seg.index(best)  # == skips NaN: the first block holding that value


def first_highest(values: array, lo: int, hi: int) -> int:
    """As `first_lowest`, for the highest value."""
    seg = values[lo:hi]
    best = max(seg)
    if best != best:
        clean = list(filterfalse(math.isnan, seg))
        if not clean:
            return lo
        best = max(clean)
    return lo + seg.index(best)


def bucket_count(max_points: int, nblocks: int, total: int, clamp: bool) -> int | None:
    """The buckets of a downsampling to ``max_points`` of ``total`` points in ``nblocks`` blocks:
    None when there is no point, or too few blocks to bucket without ``clamp`` (see `downsample`)."""
    buckets = (max_points - 2) // 3
    if total <= 0 or nblocks == 0 or (not clamp and (buckets < 1 or nblocks < buckets)):
        return None
    return max(1, min(buckets, nblocks))


def downsample(items: list[tuple], total: int, max_points: int, load: Callable[[object], Sketch], *,
               clamp: bool = False) -> list[Point] | None:
    """Pick points from chunk sketches; None when there are too few blocks to bucket.

    Buckets are runs of whole blocks (a block belongs to the bucket of its first point); each
    keeps its min, max and last point, and the series' first point is kept.

    Args:
        items: ``(offset, points, min, max, source)`` per chunk in log order: offset is the
            chunk's first global index; min and max are its stored extremes (None: NaN only);
            source is a `Sketch`, or a key that ``load`` turns into one, read only when the
            chunk spans buckets or holds a bucket's chosen point.
        total: the number of points the items cover.
        clamp: with fewer blocks than buckets, make a bucket of every block instead of
            returning None (at most ``3 * blocks + 1 <= max_points`` points).
    """
    buckets = bucket_count(max_points, sum(block_count(item[1]) for item in items), total, clamp)
    if buckets is None:
        return None
    top = buckets - 1
    chosen: dict[int, Point] = {}
    # The bucket being filled (the next chunk may add to it): its number, its lowest and
    # highest (value, ref) and its last ref. A ref is (sketch, offset, block), or (item index,)
    # for a chunk in one bucket whose sketch is read only if one of its points wins. One loop
    # of plain locals: this runs for every bucket of every chart a dashboard redraws.
    bucket, low, low_ref, high, high_ref, last_ref = -1, math.nan, None, math.nan, None, None

    def close() -> None:
        loaded: dict[int, Sketch] = {}  # a whole chunk lies in one bucket: read at most once
        for ref, which in ((low_ref, 1), (high_ref, 2), (last_ref, 3)):
            if len(ref) == 3:
                p = ref[0].point(ref[2], which, ref[1])
            else:
                offset, _, _, _, source = items[ref[0]]
                sk = loaded.get(ref[0])
                if sk is None:
                    sk = loaded[ref[0]] = load(source)
                n = sk.nblocks
                block = (first_lowest(sk.mins(), 0, n) if which == 1 else
                         first_highest(sk.maxs(), 0, n) if which == 2 else n - 1)
                p = sk.point(block, which, offset)
            chosen[p[0]] = p

    for index, (offset, count, lo_value, hi_value, source) in enumerate(items):
        n = -(-count // BLOCK)
        first = min(top, offset * buckets // total)
        final = min(top, (offset + BLOCK * (n - 1)) * buckets // total)
        if first == final and index and not isinstance(source, Sketch):
            lv = math.nan if lo_value is None else lo_value
            hv = math.nan if hi_value is None else hi_value
            ref = (index,)
            if first != bucket:
                if bucket >= 0:
                    close()
                bucket, low, low_ref, high, high_ref = first, lv, ref, hv, ref
            else:
                if lv < low or (low != low and lv == lv):  # NaN never wins
                    low, low_ref = lv, ref
                if hv > high or (high != high and hv == hv):
                    high, high_ref = hv, ref
            last_ref = ref
            continue
        sk = source if isinstance(source, Sketch) else load(source)
        if sk.nblocks != n:
            raise CorruptStoreError(f"a chunk sketch has {sk.nblocks} blocks for {count} points")
        if index == 0:
            p = sk.point(0, 0, offset)
            chosen[p[0]] = p
        mins, maxs = sk.mins(), sk.maxs()
        lo = 0
        for b in range(first, final + 1):
            # this bucket's blocks: up to the first whose first point is in the next bucket
            hi = n if b == final else min(n, -(-(-(-(b + 1) * total // buckets) - offset) // BLOCK))
            if lo >= hi:  # a bucket narrower than a block, holding no block's first point
                continue
            seg = mins[lo:hi]
            lv = min(seg)  # C-level; NaN only when the first is one: then the slow, exact pick
            j = lo + seg.index(lv) if lv == lv else first_lowest(mins, lo, hi)
            lv = mins[j]
            seg = maxs[lo:hi]
            hv = max(seg)
            k = lo + seg.index(hv) if hv == hv else first_highest(maxs, lo, hi)
            hv = maxs[k]
            if b != bucket:
                if bucket >= 0:
                    close()
                bucket, low, low_ref, high, high_ref = b, lv, (sk, offset, j), hv, (sk, offset, k)
            else:
                if lv < low or (low != low and lv == lv):
                    low, low_ref = lv, (sk, offset, j)
                if hv > high or (high != high and hv == hv):
                    high, high_ref = hv, (sk, offset, k)
            last_ref = (sk, offset, hi - 1)
            lo = hi
    close()
    return [chosen[i] for i in sorted(chosen)]
