"""Block sketches: the first, min, max and last point of every 512 points of a chunk.

Stored beside each chunk (a few hundredths of a byte a point once compressed), they let
``max_points`` downsampling of a long series read the sketches instead of decoding every
chunk: buckets are runs of whole blocks, each keeps its min, max and last point, and the
first and last points of the series are kept, so spikes survive. Pure: no SQLite.
"""

from __future__ import annotations

import struct
from array import array

from . import zstd
from ..errors import CorruptStoreError

BLOCK = 512
_HEAD = struct.Struct("<I")          # points in the block
_POINT = struct.Struct("<Iqdqd")     # position in block, step, time, timestamp, value
_ENTRY = _HEAD.size + 4 * _POINT.size
_MAX_RAW = 1 << 22                   # a sketch never decompresses to more than this

Point = tuple  # (global index, step, time, timestamp, value)


def blocks(steps: array, times: array | None, timestamps: array, values: array, *,
           has_nan: bool, time_origin_us: int = 0) -> list[tuple[int, tuple]]:
    """``(points, (first, min, max, last))`` per block; points are (position, step, time, timestamp, value).

    ``times`` None means the default times ``(timestamp - time_origin_us) / 1e6``, computed
    here for the chosen points only.
    """
    out = []
    n = len(values)
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        seg = values[lo:hi]
        if not has_nan:
            i_min, i_max = seg.index(min(seg)), seg.index(max(seg))
        else:
            real = [i for i, v in enumerate(seg) if v == v]
            if real:
                i_min = min(real, key=seg.__getitem__)
                i_max = max(real, key=seg.__getitem__)
            else:
                i_min = i_max = hi - lo - 1
        chosen = []
        for i in (0, i_min, i_max, hi - lo - 1):
            j = lo + i
            t = times[j] if times is not None else (timestamps[j] - time_origin_us) / 1e6
            chosen.append((i, steps[j], t, timestamps[j], values[j]))
        out.append((hi - lo, tuple(chosen)))
    return out


def encode(block_list: list[tuple[int, tuple]]) -> bytes:
    """The compressed bytes of a chunk's blocks."""
    out = bytearray()
    for count, points in block_list:
        out += _HEAD.pack(count)
        for p in points:
            out += _POINT.pack(*p)
    return zstd.compress(out, level=1, checksum=False)


def decode(data: bytes) -> list[tuple[int, tuple]]:
    """The blocks of a sketch: ``(points, (first, min, max, last))`` with in-block positions.

    Raises:
        CorruptStoreError: not one zstd frame declaring at most 4 MiB of whole blocks.
    """
    raw = zstd.decompress(data, limit=_MAX_RAW, what="a chunk sketch")
    if len(raw) % _ENTRY:  # bounded by _MAX_RAW: checking after decoding is safe
        raise CorruptStoreError(f"a chunk sketch holds {len(raw)} bytes, not whole {_ENTRY}-byte blocks")
    blocks = []
    for off in range(0, len(raw), _ENTRY):
        count = _HEAD.unpack_from(raw, off)[0]
        points = tuple(_POINT.unpack_from(raw, off + _HEAD.size + k * _POINT.size) for k in range(4))
        blocks.append((count, points))
    return blocks


def _lower(new: float, old: float) -> bool:
    return new < old or (old != old and new == new)  # NaN never wins


def _higher(new: float, old: float) -> bool:
    return new > old or (old != old and new == new)


def downsample(blocks: list[tuple[int, int, tuple]], total: int, max_points: int) -> list[Point] | None:
    """Pick points from block sketches; None when there are too few blocks to bucket.

    Args:
        blocks: ``(offset, points, (first, min, max, last))`` in log order, where offset is
            the block's first global index.
        total: the number of points the blocks cover.
    """
    buckets = (max_points - 2) // 3
    if buckets < 1 or len(blocks) < buckets:
        return None
    chosen: dict[int, Point] = {}

    def keep(offset: int, p: tuple) -> Point:
        point = (offset + p[0], p[1], p[2], p[3], p[4])
        chosen[point[0]] = point
        return point

    first_off, _, first_pts = blocks[0]
    keep(first_off, first_pts[0])
    current, best_min, best_max, last = -1, None, None, None
    for offset, _count, (_first, p_min, p_max, p_last) in blocks:
        bucket = min(buckets - 1, (offset - first_off) * buckets // total)
        if bucket != current:
            if current >= 0:
                for p in (best_min, best_max, last):
                    chosen[p[0]] = p
            current, best_min, best_max = bucket, (offset + p_min[0], *p_min[1:]), (offset + p_max[0], *p_max[1:])
        else:
            if _lower(p_min[4], best_min[4]):
                best_min = (offset + p_min[0], *p_min[1:])
            if _higher(p_max[4], best_max[4]):
                best_max = (offset + p_max[0], *p_max[1:])
        last = (offset + p_last[0], *p_last[1:])
    for p in (best_min, best_max, last):
        chosen[p[0]] = p
    return [chosen[i] for i in sorted(chosen)]
