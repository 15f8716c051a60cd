"""Metric chunk format: columns in byte planes, zstd-compressed, transformed only where it pays.

Pure Python on top of ``zstandard``; no SQLite here. Hot paths run at C speed (slicing,
big-integer and ``map`` operations; numpy when the program already imported it): no
per-point Python loop. The statistics kept beside each chunk are in `stats`; the choices
below and their measured effect are in docs/CODEC.md.

Chunk blob format (version 2), all integers little-endian::

    header  16 bytes   struct '<BBHIq': version (=2), flags, codes,
                       n (points, 1..MAX_CHUNK_POINTS), time_origin_us (int64)
    then one of three bodies, by flags:
    flags & 8 (plain, chunks of at most 64 points): the columns' 8n bytes each as they are,
            then a CRC-32 (4 bytes) of the header and columns; codes 0.
    flags & 4 (one frame): one zstd frame (content size and checksum written) of the header
            again and every column's body, in order steps, times (only if flags & 1),
            timestamps, values.
    neither: sizes, 4 bytes a stored column (the length of its frame), then one zstd frame
            a stored column in the same order; the first frame's content starts with the
            header again, so its checksum covers the header too.

``codes`` holds a 4-bit transform a column slot (bits 0-3 steps, 4-7 times, 8-11
timestamps, 12-15 values; 0 for absent times), one of `lanes`: RAW, STRIDE, DELTA, DOD,
XOR. A body is 16 bytes for STRIDE, else the column's 8n transformed bytes as 8 byte
planes. The encoder writes what decodes at memcpy speed (docs/CODEC.md): a constant column
as STRIDE, so too evenly spaced steps of a chunk under 256 points, any other as RAW, except
float columns that DOD stores in 1.5 bytes a point fewer (those chunks take a frame a
column, the DOD column a zstd block a plane); the other transforms are decoded for chunks
written before. Flag bit 0 clear means "times are the default": ``(timestamp -
time_origin_us) / 1e6``, rebuilt by `derived_times`.

Version 1 (still decoded; `encode_chunk_v1` writes it): codes 0, and one frame of the
header again and every column byte-shuffled as it is. Decoding knows every frame's exact
content size from the header and refuses a frame declaring any other (`zstd.decompress`),
so a corrupt or hostile blob never makes it allocate more than ``16 + 8 *
MAX_CHUNK_POINTS`` bytes a column.
"""

from __future__ import annotations

import operator
import struct
import sys
import zlib
from array import array
from itertools import chain, repeat

from . import accel, lanes, zstd
from .._memo import made_once
from ..errors import CorruptStoreError, LimitError, ValidationError

__all__ = [
    "CODEC_VERSION", "MAX_CHUNK_POINTS", "chunk_has_times", "chunk_time_origin", "decode_chunk",
    "decode_columns", "derived_times", "encode_chunk", "encode_chunk_v1", "stored_size_bound",
]

CODEC_VERSION = 2
MAX_CHUNK_POINTS = 1 << 20

_HEADER = struct.Struct("<BBHIq")
_FLAG_TIMES = 0x01
_FLAG_ONE_FRAME = 0x04     # version 2: every column in one frame (no column transformed, or under 256 points)
_FLAG_PLAIN = 0x08         # version 2: columns stored as they are, then a CRC-32 (tiny chunks)
_ZSTD_LEVEL = 3            # version 1
_ZSTD_LEVEL_V2 = 1         # as small as level 3 on transformed planes (measured), twice as fast
# Chunks under _TRY_FROM points (a wide record's, a short run's): zstd's fast level -1 is
# within 0.7% of level 3's size there and 2-3x faster (100 points: 6 against 16 us; docs/CODEC.md)
_ZSTD_LEVEL_SMALL = -1
_MAX_BODY_V1 = _HEADER.size + 32 * MAX_CHUNK_POINTS  # four 8-byte columns at most
_MAX_COLUMN = _HEADER.size + 8 * MAX_CHUNK_POINTS   # version 2: one column (the first with the header)
_KNOWN_FLAGS = _FLAG_TIMES | _FLAG_PLAIN | _FLAG_ONE_FRAME
_CRC = struct.Struct("<I")
_SLOT_NAMES = ("steps", "times", "timestamps", "values")
_ALL_SLOTS = frozenset(range(4))
# A 4-bit code field holding DELTA, DOD or XOR (bit 1 or bit 2 set): columns undone by a prefix sum.
_SLOW_CODES = 0x6666
_PLANE_BLOCKS_FROM = 256   # points from which each byte plane gets a zstd block of its own
_SAMPLE_POINTS = 256       # points of a float column compressed under each candidate transform
_FLOAT_CANDIDATES = (lanes.DOD,)  # the only one saving 1.5 B/pt on any measured shape
_TRY_FROM = 256            # float columns shorter than this are RAW (or STRIDE): no trial
_WORTH_BYTES = 1.5         # a slow-to-decode transform must save this many bytes a point
_PLAIN_UP_TO = 64          # chunks of at most this many points are stored uncompressed
_LITTLE = sys.byteorder == "little"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# ------------------------------------------------------------ encoding / decoding

def _check_column(name: str, col, typecode: str, n: int) -> None:
    if not isinstance(col, array) or col.typecode != typecode:
        got = f"array({col.typecode!r})" if isinstance(col, array) else type(col).__name__
        raise ValidationError(f"{name} must be array({typecode!r}), got {got}")
    if len(col) != n:
        raise ValidationError(f"{name} has {len(col)} points but steps has {n}; all columns must match")


def _checked_count(steps, times, timestamps, values, time_origin_us) -> int:
    n = len(steps) if isinstance(steps, array) else 0
    _check_column("steps", steps, "q", n)
    if n == 0:
        raise ValidationError("a chunk needs at least one point, got 0")
    if n > MAX_CHUNK_POINTS:
        raise LimitError(f"a chunk holds at most {MAX_CHUNK_POINTS} points, got {n}")
    if times is not None:
        _check_column("times", times, "d", n)
    _check_column("timestamps", timestamps, "q", n)
    _check_column("values", values, "d", n)
    if (not isinstance(time_origin_us, int) or isinstance(time_origin_us, bool)
            or not _INT64_MIN <= time_origin_us <= _INT64_MAX):
        raise ValidationError(f"time_origin_us must be an int64, got {time_origin_us!r}")
    return n


def encode_chunk(steps: array, times: array | None, timestamps: array, values: array,
                 *, time_origin_us: int, shared: dict | None = None) -> bytes:
    """Encode one chunk of points into a compressed blob (format version 2).

    Args:
        steps: array('q') of steps.
        times: array('d') of seconds since run start, or None when every time equals
            ``(timestamp - time_origin_us) / 1e6`` (then no time bytes are stored).
        timestamps: array('q') of microseconds since the Unix epoch.
        values: array('d'); every bit pattern round-trips exactly (NaN payloads, -0.0,
            infinities, subnormals).
        time_origin_us: run start in microseconds (int64).
        shared: a dict the caller keeps while it encodes chunks that share axis columns (the
            series of one record shape: the same steps, times and timestamps objects). Each
            such column is transformed once and its body reused; the dict holds the columns.

    Returns:
        The blob described in the module docstring.

    Raises:
        ValidationError: wrong types, lengths differ, or no point.
        LimitError: more than MAX_CHUNK_POINTS points.
    """
    # The axis (steps, times, timestamps) is checked and transformed once for the series that
    # share it: each then pays for its values alone (a 100-point chunk of a wide record spent
    # about a quarter of its encoding on the axis' checks and bytes: 32 -> 24 us).
    axis = made_once(shared, (steps, times, timestamps), ("axis", time_origin_us),
                     lambda: encoded_axis(steps, times, timestamps, values, time_origin_us))
    if axis is None:  # no steps column: `_checked_count` says what is wrong
        _checked_count(steps, times, timestamps, values, time_origin_us)
    _check_column("values", values, "d", axis[0])
    return encode_values(axis, values, time_origin_us)


def encode_values(axis: tuple, values: array, time_origin_us: int) -> bytes:
    """`encode_chunk` of ``values`` (array('d'), checked by the caller) on an axis already
    checked and transformed by `encoded_axis`, for the same ``time_origin_us``."""
    n, flags, axis_codes, axis_bodies, axis_bytes = axis
    if n <= _PLAIN_UP_TO:
        # A flush of a slow loop writes one- or few-point chunks (merged later): zstd would save
        # nothing on them and cost tens of microseconds; a CRC-32 still catches damage.
        body = axis_bytes + lanes.le_bytes(values)
        return body + _CRC.pack(zlib.crc32(body))
    code, parts = _choose(lanes.le_bytes(values), n, True)
    codes = axis_codes | code << 12
    if n < _PLANE_BLOCKS_FROM or not codes & _SLOW_CODES:
        # Small chunks, and any whose columns are all RAW or constant (nearly all): one frame
        # of every column, one zstd call each way (a frame a column cost ~5 us of zstd
        # overhead each to decode: ~5% of a read). Level 3 as version 1: smaller than level 1 on
        # RAW planes; small chunks take the fast level, as small within 0.7%.
        header = _HEADER.pack(CODEC_VERSION, flags | _FLAG_ONE_FRAME, codes, n, time_origin_us)
        return header + zstd.compress(b"".join([header, axis_bytes, *parts]),
                                      level=_ZSTD_LEVEL if n >= _TRY_FROM else _ZSTD_LEVEL_SMALL)
    header = _HEADER.pack(CODEC_VERSION, flags, codes, n, time_origin_us)
    bodies = [*axis_bodies, parts]
    # The first frame starts with the header again, so its checksum covers the header too.
    bodies[0] = [header + bodies[0][0], *bodies[0][1:]]
    frames = [_compress(parts, n, _ZSTD_LEVEL if (codes >> (4 * slot)) & 15 == lanes.RAW else _ZSTD_LEVEL_V2,
                        (codes >> (4 * slot)) & 15)
              for parts, slot in zip(bodies, (0, 1, 2, 3) if flags & _FLAG_TIMES else (0, 2, 3))]
    return b"".join([header, struct.pack(f"<{len(frames)}I", *map(len, frames)), *frames])


def encoded_axis(steps, times, timestamps, values, time_origin_us: int) -> tuple:
    """What every chunk of these axis columns shares (the first chunk's values checked too):
    ``(n, flags, the axis' codes, their bodies, axis bytes)``. The axis bytes are, for a plain
    chunk (at most `_PLAIN_UP_TO` points), its header and axis columns as stored; else the
    axis bodies joined, as the one-frame body holds them after the header."""
    n = _checked_count(steps, times, timestamps, values, time_origin_us)
    flags = 0 if times is None else _FLAG_TIMES
    cols = (steps, timestamps) if times is None else (steps, times, timestamps)
    if n <= _PLAIN_UP_TO:
        head = _HEADER.pack(CODEC_VERSION, flags | _FLAG_PLAIN, 0, n, time_origin_us)
        return n, flags, 0, None, head + b"".join(map(lanes.le_bytes, cols))
    codes, bodies = 0, []
    for slot, col in zip((0, 2) if times is None else (0, 1, 2), cols):
        code, parts = _choose(lanes.le_bytes(col), n, col.typecode == "d")
        codes |= code << (4 * slot)
        bodies.append(parts)
    return n, flags, codes, bodies, b"".join(chain.from_iterable(bodies))


def _compress(parts: list[bytes], n: int, level: int = _ZSTD_LEVEL_V2, code: int = lanes.DELTA) -> bytes:
    # A zstd block per byte plane of a transformed column when planes are long enough to
    # pay the block headers: each plane then gets its own entropy tables (noise planes
    # stored raw, sparse ones tight; peer values under DOD: 5.75 -> 5.37 B/pt). RAW planes
    # gain little from it (6.06 -> 6.02) and each block flush costs ~2 us: one block.
    if n >= _PLANE_BLOCKS_FROM and len(parts) > 1 and code != lanes.RAW:
        return zstd.compress_parts(parts, level=level)
    return zstd.compress(b"".join(parts), level=level)


def _choose(raw: bytes, n: int, is_float: bool) -> tuple[int, list[bytes]]:
    """The transform of one column (see `lanes`) and its body parts, chosen by decoding cost
    as well as size (docs/CODEC.md): RAW decodes at memcpy speed (zstd, then 8 strided
    copies), and so does a constant (a repeated word). Everything else needs a prefix sum
    or big-integer lanes costing pure Python 20-300 ns a point, more than a whole version-1
    read (~70 ns a point).

    A constant column is STRIDE (16 bytes), checked by one byte comparison. Integer columns
    are otherwise RAW: a counter's byte planes cost zstd ~0.05 B/pt (~1 B/pt under
    `_TRY_FROM` points, so a short chunk's progression is STRIDE), and DELTA saves only
    ~0.5 B/pt on wall clocks. Float columns are RAW unless one of XOR, DELTA and DOD stores
    a sample of them in `_WORTH_BYTES` bytes a point fewer (a schedule: DOD 3.6 vs 6.0)."""
    # A constant; or steps 0, 1, 2... of a short chunk, too short for zstd to find repeats in
    # their low plane (~1 B/pt stored RAW), and rebuilt from 16 bytes as fast as unshuffled.
    if (n > 1 and raw == raw[:8] * n) or (not is_float and n < _TRY_FROM and lanes.is_stride(raw, n)):
        return lanes.STRIDE, lanes.encode(lanes.STRIDE, raw, n)
    planes = lanes.shuffle(raw)
    if not is_float or n < _TRY_FROM:
        return lanes.RAW, planes
    m = min(n, _SAMPLE_POINTS)
    at = 8 * ((n - m) // 2)  # from the middle: a chunk's first points can be unlike the rest
    sample = raw[at:at + 8 * m]
    dod = lanes.encode(lanes.DOD, sample, m)  # its byte planes
    if _plane_bytes(planes, n) - _plane_bytes(dod, m) < _WORTH_BYTES:
        # DOD leaves about as many varying bytes (noise): it will not save 1.5 B/pt, and the
        # zstd trial below costs about as much as shuffling the column (~30 us a column).
        return lanes.RAW, planes
    # Each sample in one zstd block (a block a plane costs ~2 us a flush, more than the trial
    # itself); stored, a transformed column gets a block a plane and is a little smaller still.
    raw_size = len(zstd.compress(b"".join(lanes.shuffle(sample)), level=1))
    size, code = min((len(zstd.compress(b"".join(lanes.encode(code, sample, m)), level=1)), code)
                     for code in _FLOAT_CANDIDATES)
    if size > raw_size - _WORTH_BYTES * m:
        return lanes.RAW, planes
    return code, lanes.encode(code, raw, n)


def _plane_bytes(planes: list[bytes], m: int) -> float:
    """A cheap estimate of the bytes a word m words' byte planes need: in each plane, the
    share of bytes other than its middle one (a near-constant plane's usual byte; any byte
    of a noisy plane, which then counts ~1). One C-level ``count`` a plane."""
    return sum(1 - plane.count(plane[m // 2:m // 2 + 1]) / m for plane in planes)


def encode_chunk_v1(steps: array, times: array | None, timestamps: array, values: array,
                    *, time_origin_us: int) -> bytes:
    """Encode one chunk in format version 1 (every column byte-shuffled as it is, one frame).

    Kept so tests and tools can make the chunks files written before version 2 hold;
    `decode_chunk` reads both. Same arguments and errors as `encode_chunk`.
    """
    n = _checked_count(steps, times, timestamps, values, time_origin_us)
    header = _HEADER.pack(1, 0 if times is None else _FLAG_TIMES, 0, n, time_origin_us)
    parts = [header]
    for col in (steps, times, timestamps, values):
        if col is not None:
            parts += lanes.shuffle(lanes.le_bytes(col))
    return header + zstd.compress(b"".join(parts), level=_ZSTD_LEVEL)


def _header_of(data: bytes) -> tuple:
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) < _HEADER.size:
        shown = f"{len(data)} bytes" if isinstance(data, (bytes, bytearray, memoryview)) else type(data).__name__
        raise CorruptStoreError(f"a chunk is {shown}, not a {_HEADER.size}-byte header and a zstd frame")
    return _HEADER.unpack_from(data)


def chunk_has_times(data: bytes) -> bool:
    """True when a chunk stores explicit times (else they are the default, derived ones)."""
    return bool(_header_of(data)[1] & _FLAG_TIMES)


def chunk_time_origin(data: bytes) -> int:
    """The time origin (run start, microseconds) a chunk's default times count from."""
    return _header_of(data)[4]


def stored_size_bound(points: int) -> int:
    """More stored bytes than any valid chunk of ``points`` points takes (header, and a frame
    of the largest body for each column: zstd never needs more than the content plus a small
    margin), so a reader can refuse an oversized blob by its length alone, before loading it."""
    column = 16 + 8 * points
    v2 = _HEADER.size + 16 + 4 * (column + (column >> 7) + 1024)
    body = _HEADER.size + 32 * points  # version 1: one frame of every column
    return max(v2, _HEADER.size + body + (body >> 7) + 1024)


def decode_chunk(data: bytes, *, derive_times: bool = True, expected_count: int | None = None,
                 rows: tuple[int, int] | None = None) -> tuple[array, array, array, array]:
    """Decode a blob made by `encode_chunk` (format version 2) or `encode_chunk_v1`.

    Args:
        expected_count: the point count its row records; a header declaring another is
            refused before anything is inflated, so a reader that bounded its work by the
            rows' counts is never made to decode more.
        rows: ``(lo, hi)``: only those points (as `decode_columns`).

    Returns:
        (steps 'q', times 'd', timestamps 'q', values 'd'); times are rebuilt with
        `derived_times` when the chunk stored none (left None with ``derive_times=False``).

    Raises:
        CorruptStoreError: not a valid chunk (bad header, unknown version, flags or column
            transforms, sizes, zstd error or checksum mismatch, oversized or unsized frame,
            trailing data), or a header whose count differs from ``expected_count``.
    """
    columns, origin = _decode(data, expected_count, _ALL_SLOTS, _checked_rows(rows))
    steps, times, timestamps, values = columns
    if times is None and derive_times:
        times = derived_times(timestamps, origin)
    return steps, times, timestamps, values


def decode_columns(data: bytes, *, expected_count: int | None = None,
                   columns: tuple = ("steps", "values"), rows: tuple[int, int] | None = None) -> dict:
    """Decode only some columns of a chunk (`decode_chunk` decodes them all).

    A version-2 chunk of 256 points or more holds a frame a column: the others are not
    inflated (the first, steps, always is: its checksum covers the header). Smaller and
    version-1 chunks are inflated whole but only the asked columns are rebuilt.

    Args:
        columns: names among "steps", "times", "timestamps" and "values"; "times" gives
            the stored times or, when the chunk has none, `derived_times` of its timestamps.
        rows: ``(lo, hi)`` with ``0 <= lo <= hi <= n``: only points lo to hi of each column
            (a window's part of the chunk: a stored column's bytes are rebuilt for them only).

    Returns:
        {name: array} for each asked name.

    Raises:
        ValidationError: an unknown column name.
        CorruptStoreError: as `decode_chunk`.
    """
    rows = _checked_rows(rows)
    if isinstance(columns, str) or not isinstance(columns, (tuple, list, frozenset, set)) or not set(
            columns) <= set(_SLOT_NAMES):
        raise ValidationError(f"columns must name some of {_SLOT_NAMES}, got {columns!r:.80}")
    wanted = frozenset(_SLOT_NAMES.index(name) for name in columns)
    if 1 in wanted:
        wanted |= {2}  # times may have to be derived from the timestamps
    decoded, origin = _decode(data, expected_count, wanted, rows)
    if 1 in wanted and decoded[1] is None:
        decoded[1] = derived_times(decoded[2], origin)
    return {name: decoded[_SLOT_NAMES.index(name)] for name in columns}


def _checked_rows(rows):
    if rows is not None and not (isinstance(rows, tuple) and len(rows) == 2 and all(
            type(r) is int for r in rows) and 0 <= rows[0] <= rows[1]):
        raise ValidationError(f"rows must be a (lo, hi) pair of ints with 0 <= lo <= hi, got {rows!r:.80}")
    return rows


def _decode(data, expected_count, wanted: frozenset, rows: tuple | None = None) -> tuple[list, int]:
    """The wanted columns (arrays; None for the others and for absent times), cut to ``rows``
    when given, and the origin."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptStoreError(f"chunk blob must be bytes, got {type(data).__name__}")
    mv = memoryview(data).cast("B")
    if len(mv) < _HEADER.size:
        raise CorruptStoreError(f"chunk blob is {len(mv)} bytes, shorter than its {_HEADER.size}-byte header")
    version, flags, codes, n, origin = _HEADER.unpack_from(mv)
    if version not in (1, CODEC_VERSION):
        raise CorruptStoreError(f"chunk codec version {version} is not supported (expected 1 or {CODEC_VERSION})")
    if flags & ~_KNOWN_FLAGS or (version == 1 and (codes or flags & ~_FLAG_TIMES)):
        raise CorruptStoreError(f"chunk header has unknown flags {flags:#x} / reserved {codes:#x}")
    if not 1 <= n <= MAX_CHUNK_POINTS:
        raise CorruptStoreError(f"chunk claims {n} points; expected 1..{MAX_CHUNK_POINTS}")
    if expected_count is not None and n != expected_count:
        raise CorruptStoreError(f"chunk header claims {n} points, its row records {expected_count!r:.40}")
    if rows is not None and rows[1] > n:
        raise ValidationError(f"rows {rows} reach past the chunk's {n} points")
    lo, hi = rows or (0, n)
    slots = (0, 1, 2, 3) if flags & _FLAG_TIMES else (0, 2, 3)
    if version == 1:
        columns = _decode_v1_columns(mv, slots, n, wanted, lo, hi)
    elif flags & _FLAG_PLAIN:
        if flags & _FLAG_ONE_FRAME:
            raise CorruptStoreError(f"chunk header has conflicting flags {flags:#x}")
        columns = [None if c is None else c[8 * lo:8 * hi] for c in _decode_plain_columns(mv, slots, codes, n)]
    elif flags & _FLAG_ONE_FRAME:
        columns = _decode_one_frame(mv, slots, codes, n, wanted, lo, hi)
    else:
        columns = _decode_v2_columns(mv, slots, codes, n, wanted, lo, hi)
    return [None if raw is None or slot not in wanted else _column(raw, typecode)
            for slot, (raw, typecode) in enumerate(zip(columns, "qdqd"))], origin


def _column(raw, typecode: str) -> array:
    if isinstance(raw, array):  # unshuffled straight into its array (little-endian words)
        if not _LITTLE:
            raw.byteswap()
        return raw
    a = array(typecode)
    a.frombytes(raw)
    if not _LITTLE:
        a.byteswap()
    return a


def _decode_v1_columns(mv: memoryview, slots: tuple, n: int, wanted: frozenset, lo: int, hi: int) -> list:
    expected = _HEADER.size + 8 * n * len(slots)
    # The header tells the exact body size: a frame declaring any other is refused
    # before zstd allocates.
    body = zstd.decompress(mv[_HEADER.size:], expected_size=expected, limit=_MAX_BODY_V1, what="chunk body")
    if body[:_HEADER.size] != mv[:_HEADER.size]:
        raise CorruptStoreError("chunk body does not match its header")
    body, columns = memoryview(body), [None] * 4
    for k, slot in enumerate(slots):
        if slot in wanted:
            start = _HEADER.size + 8 * n * k
            columns[slot] = lanes.unshuffle_array(body[start:start + 8 * n], n, "qdqd"[slot], lo, hi)
    return columns


def _decode_plain_columns(mv: memoryview, slots: tuple, codes: int, n: int) -> list:
    size = _HEADER.size + 8 * n * len(slots)
    if codes or len(mv) != size + _CRC.size:
        raise CorruptStoreError(f"uncompressed chunk of {n} points is {len(mv)} bytes with codes {codes:#x};"
                                f" expected {size + _CRC.size} bytes and codes 0")
    if zlib.crc32(mv[:size]) != _CRC.unpack_from(mv, size)[0]:
        raise CorruptStoreError("uncompressed chunk fails its CRC-32 check")
    columns = [None] * 4
    for k, slot in enumerate(slots):
        start = _HEADER.size + 8 * n * k
        columns[slot] = mv[start:start + 8 * n]
    return columns


def _decode_column(code: int, body, n: int, slot: int, lo: int, hi: int):
    """Words lo to hi of a column (an array for RAW, else bytes for `_column`)."""
    if code == lanes.RAW:
        return lanes.unshuffle_array(body, n, "qdqd"[slot], lo, hi)
    words = lanes.decode(code, body, n)  # a prefix sum or a progression: made whole, then cut
    return words if (lo, hi) == (0, n) else words[8 * lo:8 * hi]


def _column_codes(codes: int, slots: tuple) -> list:
    col_codes = [(codes >> (4 * slot)) & 15 for slot in range(4)]
    if any(col_codes[slot] not in lanes.KNOWN for slot in slots) or any(
            col_codes[slot] for slot in range(4) if slot not in slots):
        raise CorruptStoreError(f"chunk header has unknown column transforms {codes:#06x}")
    return col_codes


def _decode_one_frame(mv: memoryview, slots: tuple, codes: int, n: int, wanted: frozenset, lo: int,
                      hi: int) -> list:
    col_codes = _column_codes(codes, slots)
    sizes = [lanes.body_size(col_codes[slot], n) for slot in slots]
    body = zstd.decompress(mv[_HEADER.size:], expected_size=_HEADER.size + sum(sizes), limit=_MAX_BODY_V1,
                           what="chunk body", checksum=True)
    if body[:_HEADER.size] != mv[:_HEADER.size]:
        raise CorruptStoreError("chunk body does not match its header")
    body, columns, offset = memoryview(body), [None] * 4, _HEADER.size
    for slot, size in zip(slots, sizes):
        if slot in wanted:
            columns[slot] = _decode_column(col_codes[slot], body[offset:offset + size], n, slot, lo, hi)
        offset += size
    return columns


def _decode_v2_columns(mv: memoryview, slots: tuple, codes: int, n: int, wanted: frozenset, lo: int,
                       hi: int) -> list:
    col_codes = _column_codes(codes, slots)
    table = _HEADER.size + 4 * len(slots)
    if len(mv) < table:
        raise CorruptStoreError(f"chunk blob is {len(mv)} bytes, shorter than its {table}-byte header and sizes")
    sizes = struct.unpack_from(f"<{len(slots)}I", mv, _HEADER.size)
    if sum(sizes) != len(mv) - table or not all(sizes):
        raise CorruptStoreError(f"chunk column sizes {sizes} do not add up to its {len(mv) - table} bytes")
    columns, offset = [None] * 4, table
    for k, slot in enumerate(slots):
        code, first = col_codes[slot], k == 0
        if not first and slot not in wanted:  # the first is always checked: it holds the header copy
            offset += sizes[k]
            continue
        skip = _HEADER.size if first else 0
        # Each frame's exact size is known from the header: any other is refused before
        # zstd allocates, so a hostile blob never costs more than its declared points.
        body = zstd.decompress(mv[offset:offset + sizes[k]], expected_size=skip + lanes.body_size(code, n),
                               limit=_MAX_COLUMN, what=f"chunk {_SLOT_NAMES[slot]} column", checksum=True)
        offset += sizes[k]
        if first and body[:_HEADER.size] != mv[:_HEADER.size]:
            raise CorruptStoreError("chunk body does not match its header")
        columns[slot] = _decode_column(code, memoryview(body)[skip:], n, slot, lo, hi)
    return columns


def derived_times(timestamps: array, time_origin_us: int) -> array:
    """Default times: ``(t - time_origin_us) / 1e6`` for every timestamp t.

    The result is bit-identical to that Python expression: exact int subtraction,
    then the int divided by the float 1e6 (the int is rounded to float first).

    Returns:
        array('d') of the same length.
    """
    n = len(timestamps)
    np = accel.numpy_for(n) if isinstance(timestamps, array) and timestamps.typecode == "q" else None
    if np is not None and _INT64_MIN <= time_origin_us <= _INT64_MAX:
        a = np.frombuffer(timestamps, dtype=np.int64)
        # Only when no difference can wrap around int64; numpy's int64 -> float64
        # cast and its division round to nearest-even like Python, so the bits agree.
        if (_INT64_MIN <= int(a.min()) - time_origin_us
                and int(a.max()) - time_origin_us <= _INT64_MAX):
            # In place where it can be: a long read holds two columns' worth here, not four.
            f = (a - np.int64(time_origin_us)).astype(np.float64)
            f /= 1e6
            out = array("d")
            out.frombytes(memoryview(f).cast("B"))
            return out
    # map over operator functions: C-level calls, no per-point Python frame.
    return array("d", map(operator.truediv,
                          map(operator.sub, timestamps, repeat(time_origin_us)), repeat(1e6)))
