"""Metric chunk format: points as byte-shuffled zstd columns, and their default times.

Pure Python on top of ``zstandard``; no SQLite here. Hot paths run at C speed (slicing,
``map`` over operator functions): no per-point Python loop. The statistics kept beside
each chunk are in `stats`.

Chunk blob format (version 1), all integers little-endian::

    header  16 bytes   struct '<BBHIq': version (=1), flags, reserved (=0),
                       n (points, 1..MAX_CHUNK_POINTS), time_origin_us (int64)
    frame   one zstd frame (checksum and content size written) whose content is
            header again (16 bytes: the zstd checksum then covers it too)
            steps       8n bytes  int64,   byte-shuffled
            times       8n bytes  float64, byte-shuffled   (only if flags & 1)
            timestamps  8n bytes  int64 microseconds, byte-shuffled
            values      8n bytes  float64, byte-shuffled

"Byte-shuffled" means the n little-endian 8-byte words are stored as all their
byte 0s, then all byte 1s, ... byte 7s.  Slowly varying high bytes then form long
runs that zstd compresses well (a smooth noisy loss curve with regular steps and
timestamps takes about 7.5 bytes a point).  Flag bit 0 clear means "times are the
default": ``(timestamp - time_origin_us) / 1e6``, rebuilt by `derived_times`.
Decoding knows the exact body size from the header and refuses any frame whose
declared content size differs (`zstd.decompress`), so a corrupt or hostile blob never
makes it allocate more than ``16 + 32 * MAX_CHUNK_POINTS`` bytes.
"""

from __future__ import annotations

import operator
import struct
import sys
from array import array
from itertools import repeat

from . import accel, zstd
from ..errors import CorruptStoreError, LimitError, ValidationError

__all__ = [
    "CODEC_VERSION", "MAX_CHUNK_POINTS", "chunk_has_times", "chunk_time_origin", "decode_chunk",
    "derived_times", "encode_chunk", "stored_size_bound",
]

CODEC_VERSION = 1
MAX_CHUNK_POINTS = 1 << 20

_HEADER = struct.Struct("<BBHIq")
_FLAG_TIMES = 0x01
_KNOWN_FLAGS = _FLAG_TIMES
_ZSTD_LEVEL = 3
_MAX_BODY = _HEADER.size + 32 * MAX_CHUNK_POINTS  # four 8-byte columns at most
_LITTLE = sys.byteorder == "little"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# ------------------------------------------------------------ encoding / decoding

def _le_bytes(a: array) -> bytes:
    """Raw little-endian bytes of an 8-byte array, whatever the host order."""
    if _LITTLE:
        return a.tobytes()
    b = array(a.typecode, a)
    b.byteswap()
    return b.tobytes()


def _unshuffle(body: memoryview, offset: int, n: int, typecode: str) -> array:
    """The column of n 8-byte words stored byte-shuffled at ``body[offset:]``."""
    out = bytearray(8 * n)
    for i in range(8):  # 8 C-level strided copies, whatever n
        out[i::8] = body[offset + i * n:offset + (i + 1) * n]
    a = array(typecode)
    a.frombytes(out)
    if not _LITTLE:
        a.byteswap()
    return a


def _check_column(name: str, col, typecode: str, n: int) -> None:
    if not isinstance(col, array) or col.typecode != typecode:
        got = f"array({col.typecode!r})" if isinstance(col, array) else type(col).__name__
        raise ValidationError(f"{name} must be array({typecode!r}), got {got}")
    if len(col) != n:
        raise ValidationError(f"{name} has {len(col)} points but steps has {n}; all columns must match")


def encode_chunk(steps: array, times: array | None, timestamps: array, values: array,
                 *, time_origin_us: int) -> bytes:
    """Encode one chunk of points into a compressed blob.

    Args:
        steps: array('q') of steps.
        times: array('d') of seconds since run start, or None when every time equals
            ``(timestamp - time_origin_us) / 1e6`` (then no time bytes are stored).
        timestamps: array('q') of microseconds since the Unix epoch.
        values: array('d'); NaN, infinities and -0.0 round-trip bit-exactly.
        time_origin_us: run start in microseconds (int64).

    Returns:
        The blob described in the module docstring.

    Raises:
        ValidationError: wrong types, lengths differ, or no point.
        LimitError: more than MAX_CHUNK_POINTS points.
    """
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

    header = _HEADER.pack(CODEC_VERSION, 0 if times is None else _FLAG_TIMES, 0, n, time_origin_us)
    parts = [header]
    for col in (steps, times, timestamps, values):
        if col is not None:
            raw = _le_bytes(col)
            parts += [raw[i::8] for i in range(8)]  # byte-shuffle: C-level strided copies
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
    of the largest body: zstd never needs more than the content plus a small margin), so a
    reader can refuse an oversized blob by its length alone, before loading it."""
    body = _HEADER.size + 32 * points
    return _HEADER.size + body + (body >> 7) + 1024


def decode_chunk(data: bytes, *, derive_times: bool = True,
                 expected_count: int | None = None) -> tuple[array, array, array, array]:
    """Decode a blob made by `encode_chunk`.

    Args:
        expected_count: the point count its row records; a header declaring another is
            refused before anything is inflated, so a reader that bounded its work by the
            rows' counts is never made to decode more.

    Returns:
        (steps 'q', times 'd', timestamps 'q', values 'd'); times are rebuilt with
        `derived_times` when the chunk stored none (left None with ``derive_times=False``).

    Raises:
        CorruptStoreError: not a valid version-1 chunk (bad header, sizes, zstd
            error or checksum mismatch, oversized or unsized frame, trailing data), or a
            header whose count differs from ``expected_count``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptStoreError(f"chunk blob must be bytes, got {type(data).__name__}")
    mv = memoryview(data).cast("B")
    if len(mv) < _HEADER.size:
        raise CorruptStoreError(f"chunk blob is {len(mv)} bytes, shorter than its {_HEADER.size}-byte header")
    version, flags, reserved, n, origin = _HEADER.unpack_from(mv)
    if version != CODEC_VERSION:
        raise CorruptStoreError(f"chunk codec version {version} is not supported (expected {CODEC_VERSION})")
    if flags & ~_KNOWN_FLAGS or reserved:
        raise CorruptStoreError(f"chunk header has unknown flags {flags:#x} / reserved {reserved:#x}")
    if not 1 <= n <= MAX_CHUNK_POINTS:
        raise CorruptStoreError(f"chunk claims {n} points; expected 1..{MAX_CHUNK_POINTS}")
    if expected_count is not None and n != expected_count:
        raise CorruptStoreError(f"chunk header claims {n} points, its row records {expected_count!r:.40}")
    ncols = 4 if flags & _FLAG_TIMES else 3
    expected = _HEADER.size + 8 * n * ncols
    # The header tells the exact body size: a frame declaring any other is refused
    # before zstd allocates.
    body = zstd.decompress(mv[_HEADER.size:], expected_size=expected, limit=_MAX_BODY, what="chunk body")
    if body[:_HEADER.size] != mv[:_HEADER.size]:
        raise CorruptStoreError("chunk body does not match its header")

    body, size = memoryview(body), 8 * n
    steps = _unshuffle(body, _HEADER.size, n, "q")
    off = _HEADER.size + size * (ncols - 2)  # the timestamps, after the optional times
    timestamps = _unshuffle(body, off, n, "q")
    values = _unshuffle(body, off + size, n, "d")
    if flags & _FLAG_TIMES:
        times = _unshuffle(body, _HEADER.size + size, n, "d")
    elif derive_times:
        times = derived_times(timestamps, origin)
    else:
        times = None
    return steps, times, timestamps, values


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
