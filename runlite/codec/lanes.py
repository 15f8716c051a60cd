"""Reversible transforms of a column of 64-bit words, applied by the chunk codec before zstd.

A column is ``8n`` little-endian bytes: int64 steps or timestamps, or the bit patterns of
float64 times or values. Every transform works on the words as unsigned 64-bit integers with
wrap-around arithmetic, so any bit pattern round-trips exactly (NaN payloads, -0.0,
infinities, subnormals, int64 extremes) and no difference can overflow:

==========  ===========================================================================
``RAW``     the words as they are
``STRIDE``  an arithmetic progression ``a0 + i * k (mod 2**64)``: 16 bytes, ``a0`` and ``k``
``DELTA``   ``zigzag(a[i] - a[i-1])``, ``a[-1] = 0``: small steps give small numbers
``DOD``     DELTA applied twice (delta of delta): a smooth trend gives small numbers
``XOR``     ``a[i] ^ a[i-1]``: equal sign, exponent and leading mantissa bits become 0
==========  ===========================================================================

Zigzag maps a signed difference to an unsigned one with small magnitudes first (0, -1, 1,
-2...), so the high bytes of a small negative difference are 0, not 0xFF. Every body but
STRIDE's is then byte-shuffled (all byte 0s, then all byte 1s...): the bytes a transform
zeroed form long runs for zstd.

No per-point Python loop: with numpy already imported (`accel.numpy_for`) the transforms
are array operations; without it the whole column is one Python integer and each step is a
handful of big-integer operations done lane-wise with SWAR masks (C speed, about 1 ns a word
each). Undoing DELTA and XOR needs a prefix sum (xor): log2(n) doubling passes.
"""

from __future__ import annotations

import struct
import sys
from array import array
from functools import lru_cache

from . import accel

__all__ = ["DELTA", "DOD", "KNOWN", "RAW", "STRIDE", "XOR", "ascending", "body_size", "decode", "encode", "extent",
           "is_stride", "le_bytes", "shuffle", "unshuffle", "unshuffle_array"]

RAW, STRIDE, DELTA, DOD, XOR = 0, 1, 2, 3, 4
KNOWN = frozenset((RAW, STRIDE, DELTA, DOD, XOR))
_M64 = (1 << 64) - 1
_PAIR = struct.Struct("<QQ")
_LITTLE = sys.byteorder == "little"


def body_size(code: int, n: int) -> int:
    """Bytes of the (uncompressed) body of a column of n words under ``code``."""
    return 16 if code == STRIDE else 8 * n


# ------------------------------------------------------------------ byte shuffle

def shuffle(raw: bytes) -> list[bytes]:
    """The 8-byte words of ``raw`` as 8 planes: all their byte 0s, all byte 1s, ... byte 7s."""
    return [raw[i::8] for i in range(8)]  # 8 C-level strided copies


def unshuffle(body, n: int, lo: int = 0, hi: int | None = None) -> bytearray:
    """Undo `shuffle` for n words stored at the start of ``body``: words ``lo`` to ``hi``
    (all by default), each plane's slice of them copied alone."""
    hi = n if hi is None else hi
    # 8 strided copies into a bytearray: 7-9 ns a word, faster than numpy's transposing copy
    # (9-11) and than strided copies into an array's memoryview (5x slower).
    out = bytearray(8 * (hi - lo))
    for i in range(8):
        out[i::8] = body[i * n + lo:i * n + hi]
    return out


def unshuffle_array(body, n: int, typecode: str, lo: int = 0, hi: int | None = None) -> array:
    """`unshuffle` into an 8-byte array (words in little-endian order, as stored)."""
    out = array(typecode)
    out.frombytes(unshuffle(body, n, lo, hi))
    return out


# ------------------------------------------------------------------ pure Python: SWAR on one big int

def _masks(n: int) -> tuple[int, int, int, int]:
    """(all n lanes, the top bit of each lane, the 63 low bits of each lane, bit 0 of each lane)."""
    return _cached_masks(n) if n <= _CACHED_LANES else _make_masks(n)


_CACHED_LANES = 1 << 16  # masks of longer columns are rebuilt (cheap) rather than kept


@lru_cache(maxsize=16)
def _cached_masks(n: int) -> tuple[int, int, int, int]:
    return _make_masks(n)


def _make_masks(n: int) -> tuple[int, int, int, int]:
    top = int.from_bytes(b"\0\0\0\0\0\0\0\x80" * n, "little")
    ones = int.from_bytes(b"\x01\0\0\0\0\0\0\0" * n, "little")
    every = (1 << (64 * n)) - 1
    return every, top, every ^ top, ones


def _sub(x: int, y: int, top: int, low: int) -> int:
    """Lane-wise x - y (mod 2**64): the top bit of each lane of x is set first so no lane
    borrows from the next, then the true top bits are put back."""
    return ((x | top) - (y & low)) ^ ((x ^ y ^ top) & top)


def _add(x: int, y: int, top: int, low: int) -> int:
    """Lane-wise x + y (mod 2**64): the 63 low bits add without reaching the next lane."""
    return ((x & low) + (y & low)) ^ ((x ^ y) & top)


def _smear(bits: int) -> int:
    """Lanes holding 0 or 1 become 0 or 2**64 - 1 (each 1 times 2**64 - 1, no lane overlaps)."""
    return (bits << 64) - bits


def _pure_forward(code: int, raw: bytes, n: int) -> bytes:
    every, top, low, _ = _masks(n)
    x = int.from_bytes(raw, "little")
    if code == XOR:
        out = x ^ ((x << 64) & every)
    else:
        d = _sub(x, (x << 64) & every, top, low)
        if code == DOD:
            d = _sub(d, (d << 64) & every, top, low)
        out = ((d & low) << 1) ^ _smear((d & top) >> 63)  # zigzag
    return out.to_bytes(8 * n, "little")


def _pure_inverse(code: int, data, n: int, width: int = 64) -> bytes:
    every, top, low, ones = _masks(n)
    x = int.from_bytes(data, "little")
    shift, width_bits = 64, 64 * n
    if code == XOR:
        while shift < width_bits:  # prefix xor by doubling
            x ^= (x << shift) & every
            shift <<= 1
        return x.to_bytes(8 * n, "little")
    x = ((x >> 1) & low) ^ _smear(x & ones)  # undo zigzag
    if code == DELTA and width <= 64 - n.bit_length():
        return _small_prefix_sum(x, n, width)
    for _ in range(2 if code == DOD else 1):
        x = _wide_prefix_sum(x, n)
    return x.to_bytes(8 * n, "little")


def _wide_prefix_sum(x: int, n: int) -> int:
    """Lane-wise prefix sums (mod 2**64) of any lanes: log2(n) doubling passes of SWAR adds."""
    every, top, low, _ = _masks(n)
    step, width_bits = 64, 64 * n
    while step < width_bits:
        x = _add(x, (x << step) & every, top, low)
        step <<= 1
    return x


def _small_prefix_sum(x: int, n: int, width: int) -> bytes:
    """Prefix sums of lanes a0, d1, d2, ... whose differences d are in [-2**(width-1), 2**(width-1))
    and n * 2**width <= 2**64: biased by 2**(width-1) they are small non-negative numbers whose
    sums never leave their lane, so each doubling pass is a plain addition (3 big-integer
    operations instead of 8); the bias and a0 are put back at the end."""
    every, top, low, ones = _masks(n)
    a0 = x & _M64
    bias = width - 1
    x = _add(x ^ a0, (ones ^ 1) << bias, top, low)  # lane 0 is 0, lane i is d_i + 2**(width-1)
    step, width_bits = 64, 64 * n
    while step < width_bits:
        x += (x << step) & every
        step <<= 1
    x = _sub(x, _index(n) << bias, top, low)
    return _add(x, a0 * ones, top, low).to_bytes(8 * n, "little")


def significant_bits(body, n: int) -> int:
    """8 times the number of low byte planes of a shuffled body that hold anything other than
    0 past the first word (the first word, a column's start, is often large)."""
    zeros = bytes(n - 1)
    for plane in range(7, -1, -1):
        start = plane * n + 1
        if body[start:start + n - 1] != zeros:
            return 8 * (plane + 1)
    return 8


# ------------------------------------------------------------------ numpy, when the program already uses it

def _np_forward(np, code: int, raw: bytes) -> bytes:
    u = np.frombuffer(raw, dtype="<u8")
    out = u.copy()
    if code == XOR:
        out[1:] ^= u[:-1]
        return out.tobytes()
    out[1:] -= u[:-1]  # unsigned: wraps around
    if code == DOD:
        out[1:] -= out[:-1].copy()
    signs = (out.view("<i8") >> 63).view("<u8")
    return ((out << np.uint64(1)) ^ signs).tobytes()


def _np_inverse(np, code: int, data) -> bytes:
    z = np.frombuffer(data, dtype="<u8")
    if code == XOR:
        return np.bitwise_xor.accumulate(z).astype("<u8", copy=False).tobytes()
    d = (z >> np.uint64(1)) ^ (np.uint64(0) - (z & np.uint64(1)))
    for _ in range(2 if code == DOD else 1):
        d = np.cumsum(d, dtype="<u8")  # wraps around like int64 arithmetic
    return d.tobytes()


# ------------------------------------------------------------------ the codec's entry points

def is_stride(raw: bytes, n: int) -> bool:
    """True when the n words form an arithmetic progression (mod 2**64), n >= 2."""
    if n < 2:
        return False
    a0, a1 = _PAIR.unpack_from(raw)
    k = (a1 - a0) & _M64
    if n > 2 and (struct.unpack_from("<Q", raw, 16)[0] - a1) & _M64 != k:
        return False  # the usual answer for values and clocks, found from three words
    x = int.from_bytes(raw, "little")
    ones, index = _ones_index(n)
    last = a0 + k * (n - 1)
    if last <= _M64:  # no word wraps: the progression is a0 in every lane plus k times the lane's index
        return x == a0 * ones + k * index
    every, top, low, _ = _masks(n)
    d = _sub(x, (x << 64) & every, top, low) >> 64  # deltas of words 1..n-1
    return d == k * (ones >> 64)


def ascending(column: array) -> bool:
    """True when an int64 column never decreases: numpy's whole-column comparison, else
    `is_stride` for the usual evenly spaced steps, else one sort of the column (a sorted
    column sorts in one pass)."""
    n = len(column)
    if n < 2:
        return True
    np = accel.numpy_for(n)
    if np is not None:
        a = np.frombuffer(column, dtype=np.int64)
        return bool((a[1:] >= a[:-1]).all())
    if _rises_evenly(column, n):
        return True
    values = column.tolist()
    return values == sorted(values)


def extent(column: array) -> tuple[int, int]:
    """``(min, max)`` of a non-empty int64 column. A column that never decreases (steps, the
    writer's clock: nearly every one) has them at its ends, which `is_stride` or one sort of
    its values shows in about half the time two C-level passes take (boxing every word
    twice); a few sampled neighbours out of order send any other column to those passes."""
    n = len(column)
    np = accel.numpy_for(n)
    if np is not None:
        a = np.frombuffer(column, dtype=np.int64)
        return int(a.min()), int(a.max())
    first, last = column[0], column[-1]
    if n < 16 or first > last:
        return min(column), max(column)
    if _rises_evenly(column, n):
        return first, last
    step = n // 8
    if any(column[i] > column[i + 1] for i in range(0, n - 1, step)):
        return min(column), max(column)
    values = column.tolist()
    ordered = sorted(values)  # linear on a sorted list: one run
    return (first, last) if values == ordered else (ordered[0], ordered[-1])


def _rises_evenly(column: array, n: int) -> bool:
    """The column is a0, a0 + k, ... with k >= 0 exactly (the usual steps): no word wrapped,
    since the last one is a0 + k(n - 1). n >= 2."""
    a0, k = column[0], column[1] - column[0]
    return k >= 0 and column[-1] == a0 + k * (n - 1) and is_stride(le_bytes(column), n)


def le_bytes(column: array) -> bytes:
    """Raw little-endian bytes of an 8-byte array, whatever the host order."""
    if _LITTLE:
        return column.tobytes()
    out = array(column.typecode, column)
    out.byteswap()
    return out.tobytes()


def _index(n: int) -> int:
    """The n lanes 0, 1, 2, ... n-1."""
    return _ones_index(n)[1]


_BIG = [0, 0, 0]  # lanes, ones, index: the longest cached, cut down for shorter columns


def _ones_index(n: int) -> tuple[int, int]:
    """(n lanes of 1, the n lanes 0, 1, ... n-1). Chunks have many lengths: one pair of
    2**k lanes is kept and cut (a mask, about 1 ns a lane), never rebuilt per length
    (an index built from a range costs ~20 ns a lane)."""
    if n > _BIG[0]:
        if n > _CACHED_LANES:
            return _build_ones_index(n)
        lanes = 1 << (n - 1).bit_length()
        _BIG[1:] = _build_ones_index(lanes)
        _BIG[0] = lanes
    cut = (1 << (64 * n)) - 1
    return _BIG[1] & cut, _BIG[2] & cut


def _build_ones_index(n: int) -> tuple[int, int]:
    # Doubling: lanes m..2m-1 are lanes 0..m-1 plus m; big-integer operations only.
    ones, index, m = 1, 0, 1
    while m < n:
        shift = 64 * m
        index |= (index + m * ones) << shift
        ones |= ones << shift
        m <<= 1
    cut = (1 << (64 * n)) - 1
    return ones & cut, index & cut


def encode(code: int, raw: bytes, n: int) -> list[bytes]:
    """The body of a column of n words (``raw``, 8n little-endian bytes) under ``code``, in
    parts: STRIDE's 16 bytes, or the 8 byte planes of the transformed words (the codec gives
    each plane a zstd block of its own). STRIDE only for a column where `is_stride` holds."""
    if code == STRIDE:
        a0, a1 = _PAIR.unpack_from(raw)
        return [_PAIR.pack(a0, (a1 - a0) & _M64)]
    if code == RAW:
        return shuffle(raw)
    np = accel.numpy_for(n)
    return shuffle(_np_forward(np, code, raw) if np is not None else _pure_forward(code, raw, n))


def decode(code: int, body, n: int) -> bytes:
    """The 8n little-endian bytes of the column `encode` made ``body`` from (its size checked
    by the caller: `body_size`)."""
    if code == STRIDE:
        a0, k = _PAIR.unpack_from(body)
        if k == 0:
            return a0.to_bytes(8, "little") * n
        if k >= 1 << 63:
            k -= 1 << 64  # a decreasing progression
        if k > 0 and a0 + k * (n - 1) <= _M64:
            np = accel.numpy_for(n)
            if np is not None:
                return (np.arange(n, dtype="<u8") * np.uint64(k) + np.uint64(a0)).tobytes()
            # No word wraps: a0 in every lane plus k times the lane's index, three big-integer
            # operations (about twice as fast as an array built from a range).
            ones, index = _ones_index(n)
            return (a0 * ones + (index if k == 1 else k * index)).to_bytes(8 * n, "little")
        if 0 <= a0 + k * (n - 1) <= _M64:  # no word wraps around: a range builds it at C speed
            words = array("Q", range(a0, a0 + k * n, k))
            if not _LITTLE:
                words.byteswap()
            return words.tobytes()
        # Lanes a0 + i*k (mod 2**64): the prefix sum of a0, k, k, ... as DELTA decodes it.
        ones = _masks(n)[3]
        return _wide_prefix_sum(((ones * (k & _M64)) & ~_M64) | a0, n).to_bytes(8 * n, "little")
    data = unshuffle(body, n)
    if code == RAW:
        return data  # bytes-like: the codec copies it into its array once
    np = accel.numpy_for(n)
    if np is not None:
        return _np_inverse(np, code, data)
    return _pure_inverse(code, data, n, significant_bits(body, n) if code == DELTA else 64)


