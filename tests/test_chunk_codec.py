"""Chunk codec version 2: per-column transforms (runlite.codec.lanes), fuzzed round trips in
both the pure and numpy paths, version-1 chunks still read, damage refused."""

from __future__ import annotations

import math
import random
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlite.codec import lanes
from runlite.codec.chunks import (
    CODEC_VERSION,
    decode_chunk,
    decode_columns,
    derived_times,
    encode_chunk,
    encode_chunk_v1,
    stored_size_bound,
)
from runlite.errors import CorruptStoreError, ValidationError

from .strategies import CODEC_MODES, codec_mode

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
ORIGIN = 1_700_000_000_000_000

MODES = CODEC_MODES
path = codec_mode


def floats_from_bits(raw: bytes) -> array:
    a = array("d")
    a.frombytes(raw)
    return a


SPECIAL = floats_from_bits(b"".join(struct.pack("<Q", b) for b in (
    0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FF0000000000000, 0xFFF0000000000000,
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFF)))


def int_column(rng: random.Random, n: int) -> array:
    """Counters, clocks, progressions that wrap, extremes and noise: every int transform's case."""
    kind = rng.randrange(7)
    if kind == 0:
        return array("q", range(n))
    if kind == 1:
        start, step = rng.randrange(INT64_MIN, INT64_MAX), rng.randrange(-(1 << 62), 1 << 62)
        return array("q", [((start + i * step + (1 << 63)) % (1 << 64)) - (1 << 63) for i in range(n)])  # wraps
    if kind == 2:
        t, out = ORIGIN, []
        for _ in range(n):
            t += rng.randrange(0, 30)
            out.append(t)
        return array("q", out)
    if kind == 3:
        return array("q", [rng.choice([INT64_MIN, INT64_MAX, 0, -1, 1]) for _ in range(n)])
    if kind == 4:
        return array("q", [rng.randrange(INT64_MIN, INT64_MAX + 1) for _ in range(n)])
    if kind == 5:
        return array("q", [INT64_MAX - 3 * i for i in range(n)])
    return array("q", sorted(rng.randrange(-50, 50) for _ in range(n)))  # equal steps, gaps


def float_column(rng: random.Random, n: int) -> array:
    """Loss curves, constants, counters, float32 values, random bits and special values."""
    kind = rng.randrange(7)
    if kind == 0:
        return array("d", [2 * math.exp(-i / 300) + rng.gauss(0, 1e-4) for i in range(n)])
    if kind == 1:
        return array("d", [rng.choice([0.25, -0.0])] * n)
    if kind == 2:
        return array("d", [float(i * 3) for i in range(n)])
    if kind == 3:
        return array("d", array("f", [rng.random() for _ in range(n)]))
    if kind == 4:
        return floats_from_bits(rng.randbytes(8 * n))
    if kind == 5:
        return array("d", [rng.choice(SPECIAL) for _ in range(n)])
    return array("d", [-1e-3 * i for i in range(n)])


def assert_same(got, want) -> None:
    assert got.typecode == want.typecode and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("enc_mode", MODES)
@pytest.mark.parametrize("dec_mode", MODES)
def test_random_columns_round_trip_bit_exactly(enc_mode, dec_mode):
    rng = random.Random(f"{enc_mode}{dec_mode}")
    for _ in range(120):
        n = rng.choice([1, 2, 3, 5, 17, 255, 256, 257, 600, 1500])
        steps, stamps, values = int_column(rng, n), int_column(rng, n), float_column(rng, n)
        times = float_column(rng, n) if rng.random() < 0.5 else None
        origin = rng.choice([ORIGIN, INT64_MIN, INT64_MAX, 0])
        with path(enc_mode):
            blob = encode_chunk(steps, times, stamps, values, time_origin_us=origin)
        assert blob[0] == CODEC_VERSION and len(blob) <= stored_size_bound(n)
        with path(dec_mode):
            s2, t2, ts2, v2 = decode_chunk(blob, expected_count=n)
        assert_same(s2, steps)
        assert_same(ts2, stamps)
        assert_same(v2, values)
        assert_same(t2, times if times is not None else derived_times(stamps, origin))


def test_chunks_sharing_axis_columns_encode_as_alone():
    """Series of one record shape share their steps and timestamps objects: encoded with a
    ``shared`` dict, each chunk's blob is the one it gets alone (plain, one frame or a frame a
    column; against either of two time origins)."""
    rng = random.Random(5)
    for n in (1, 64, 65, 300, 5000):
        steps, stamps = array("q", range(7, 7 + n)), int_column(rng, n)
        times = float_column(rng, n) if n in (64, 300) else None
        shared: dict = {}
        for k in range(6):
            values = float_column(rng, n) if k != 2 else array("d", [1.5] * n)  # a constant: STRIDE
            origin = ORIGIN if k % 2 else 0
            alone = encode_chunk(steps, times, stamps, values, time_origin_us=origin)
            assert encode_chunk(steps, times, stamps, values, time_origin_us=origin, shared=shared) == alone
        # The axis columns, made once an origin; never the values.
        assert [objects for objects, _ in shared.values()] == [(steps, times, stamps)] * 2
        for wrong in (array("d", [0.5] * (n + 1)), array("q", [1] * n)):  # each chunk's values still checked
            with pytest.raises(ValidationError, match="values"):
                encode_chunk(steps, times, stamps, wrong, time_origin_us=ORIGIN, shared=shared)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", sorted(lanes.KNOWN - {lanes.STRIDE}))
def test_every_transform_inverts_on_any_words(mode, code):
    rng = random.Random(code)
    for n in (1, 2, 3, 64, 1000):
        for raw in (rng.randbytes(8 * n), b"\xff" * 8 * n, bytes(8 * n),
                    b"".join(struct.pack("<q", v) for v in int_column(rng, n))):
            with path(mode):
                body = b"".join(lanes.encode(code, raw, n))
                assert len(body) == lanes.body_size(code, n)
                assert lanes.decode(code, body, n) == raw


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, (1 << 64) - 1), step=st.integers(0, (1 << 64) - 1), n=st.integers(2, 300))
def test_stride_detects_and_rebuilds_any_progression(start, step, n):
    raw = b"".join(((start + i * step) % (1 << 64)).to_bytes(8, "little") for i in range(n))
    assert lanes.is_stride(raw, n)
    body = b"".join(lanes.encode(lanes.STRIDE, raw, n))
    assert len(body) == 16
    assert lanes.decode(lanes.STRIDE, body, n) == raw
    if n > 2:
        broken = bytearray(raw)
        broken[8 * (n // 2)] ^= 1
        assert not lanes.is_stride(bytes(broken), n)


def test_regular_steps_and_constants_cost_almost_nothing():
    n = 5000
    steps, values = array("q", range(10_000, 10_000 + n)), array("d", [0.5] * n)
    stamps = array("q", range(ORIGIN, ORIGIN + 1000 * n, 1000))
    blob = encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    # Constant values are one 16-byte word and stride; counters' byte planes cost zstd little.
    assert (struct.unpack_from("<H", blob, 2)[0] >> 12) == lanes.STRIDE
    assert len(blob) < 0.3 * n
    assert len(blob) < len(encode_chunk_v1(steps, None, stamps, values, time_origin_us=ORIGIN))
    s2, _, ts2, v2 = decode_chunk(blob)
    assert s2 == steps and ts2 == stamps and v2 == values


@pytest.mark.parametrize("mode", MODES)
def test_short_chunks_store_evenly_spaced_steps_as_a_stride(mode):
    """A chunk too short for zstd to find repeats in its steps' low plane (65-255 points: a
    short run's series, a wide record's) stores steps in a progression as STRIDE, 16 bytes;
    every window of it reads back exactly, decreasing and wrapping progressions too."""
    rng = random.Random(9)
    for n, first, step in ((100, 0, 1), (65, 7, 3), (255, -5, -2), (100, (1 << 63) - 50, 1)):
        steps = array("q", [((first + i * step + (1 << 63)) % (1 << 64)) - (1 << 63) for i in range(n)])
        stamps, values = int_column(rng, n), float_column(rng, n)
        with path(mode):
            blob = encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
            uneven = array("q", steps)
            uneven[n // 2] += 1
            unevenly = encode_chunk(uneven, None, stamps, values, time_origin_us=ORIGIN)
        assert struct.unpack_from("<H", blob, 2)[0] & 15 == lanes.STRIDE
        assert struct.unpack_from("<H", unevenly, 2)[0] & 15 == lanes.RAW
        assert len(blob) < len(unevenly)
        with path(mode):
            s2, _, ts2, v2 = decode_chunk(blob, expected_count=n)
            assert (s2, ts2, v2) == (steps, stamps, values)
            assert decode_chunk(unevenly)[0] == uneven
            for lo, hi in ((0, n), (3, 17), (n - 1, n), (5, 5)):
                got = decode_columns(blob, columns=("steps", "values"), rows=(lo, hi))
                assert got["steps"] == steps[lo:hi] and got["values"] == values[lo:hi]
    # From _TRY_FROM points on, zstd codes evenly spaced steps' planes in a few bytes: RAW.
    n = 256
    blob = encode_chunk(array("q", range(n)), None, int_column(rng, n), float_column(rng, n), time_origin_us=ORIGIN)
    assert struct.unpack_from("<H", blob, 2)[0] & 15 == lanes.RAW


def test_noisy_curve_is_smaller_than_in_version_1():
    rng = random.Random(4)
    n = 5000
    steps = array("q", range(n))
    stamps = array("q", [ORIGIN + 14 * i + rng.randrange(5) for i in range(n)])
    values = array("d", [2 * math.exp(-i / 3e4) + 0.01 * math.sin(i / 7) + rng.gauss(0, 1e-4) for i in range(n)])
    v1 = encode_chunk_v1(steps, None, stamps, values, time_origin_us=ORIGIN)
    v2 = encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    # Noise in the low bytes: RAW byte planes (a slow-to-decode transform would save < 1 B/pt).
    assert len(v2) <= len(v1) and (struct.unpack_from("<H", v2, 2)[0] >> 12) == lanes.RAW


def test_smooth_schedule_takes_a_transform_and_shrinks():
    n = 5000
    steps, stamps = array("q", range(n)), array("q", range(ORIGIN, ORIGIN + 1000 * n, 1000))
    values = array("d", [1e-3 * (1 + math.cos(math.pi * i / n)) / 2 for i in range(n)])
    v1 = encode_chunk_v1(steps, None, stamps, values, time_origin_us=ORIGIN)
    v2 = encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    assert (struct.unpack_from("<H", v2, 2)[0] >> 12) in (lanes.DELTA, lanes.DOD, lanes.XOR)
    assert len(v2) < 0.75 * len(v1)
    assert decode_chunk(v2)[3] == values


@pytest.mark.parametrize("n", [1, 2, 63, 64])
def test_tiny_chunks_are_stored_plain_and_checked(n):
    rng = random.Random(n)
    cols = (int_column(rng, n), float_column(rng, n), int_column(rng, n), float_column(rng, n))
    for times in (cols[1], None):
        blob = encode_chunk(cols[0], times, cols[2], cols[3], time_origin_us=ORIGIN)
        assert blob[1] & 8 and len(blob) == 16 + 8 * n * (3 + (times is not None)) + 4
        s2, t2, ts2, v2 = decode_chunk(blob, derive_times=False, expected_count=n)
        assert_same(s2, cols[0])
        assert_same(ts2, cols[2])
        assert_same(v2, cols[3])
        assert t2 is None if times is None else t2.tobytes() == times.tobytes()
        for k in range(len(blob)):  # any flipped bit is refused (header checks or the CRC)
            bad = bytearray(blob)
            bad[k] ^= 1 << (k % 8)
            with pytest.raises(CorruptStoreError):
                decode_chunk(bytes(bad), expected_count=n)
        for cut in (blob[:-1], blob + b"\0"):
            with pytest.raises(CorruptStoreError):
                decode_chunk(cut)


@pytest.mark.parametrize("mode", MODES)
def test_version_1_chunks_still_decode(mode):
    rng = random.Random(11)
    for _ in range(30):
        n = rng.choice([1, 7, 300, 2000])
        steps, stamps, values = int_column(rng, n), int_column(rng, n), float_column(rng, n)
        times = float_column(rng, n) if rng.random() < 0.5 else None
        blob = encode_chunk_v1(steps, times, stamps, values, time_origin_us=ORIGIN)
        assert blob[0] == 1 and len(blob) <= stored_size_bound(n)
        with path(mode):
            s2, t2, ts2, v2 = decode_chunk(blob, derive_times=False)
        assert_same(s2, steps)
        assert_same(ts2, stamps)
        assert_same(v2, values)
        assert t2 is None if times is None else t2.tobytes() == times.tobytes()


# A chunk as the version-1 encoder wrote it (2 points, default times; the bytes the encoder of
# files written before version 2 produced): such files hold exactly these bytes.
V1_FIXTURE = bytes.fromhex(
    "010000000200000000401e18240a060028b52ffd244075010034020100000002"
    "00000000401e18240a0600010140401e1e181824240a0a060600e0f83f3f0300"
    "e0283010aeb904d47614be"
)


def test_a_stored_version_1_chunk_decodes():
    steps, times, stamps, values = decode_chunk(V1_FIXTURE)
    assert list(steps) == [1, 2] and list(values) == [0.5, 1.5]
    assert list(stamps) == [ORIGIN, ORIGIN + 1] and list(times) == [0.0, 1e-6]


def test_every_truncation_and_extension_of_a_version_2_chunk_is_refused():
    rng = random.Random(2)
    n = 300
    blob = encode_chunk(int_column(rng, n), float_column(rng, n), int_column(rng, n), float_column(rng, n),
                        time_origin_us=ORIGIN)
    for k in range(len(blob)):
        with pytest.raises(CorruptStoreError):
            decode_chunk(blob[:k])
    for tail in (b"\0", blob[-7:], blob):
        with pytest.raises(CorruptStoreError):
            decode_chunk(blob + tail)


@pytest.mark.parametrize("seed", range(4))
def test_damaged_version_2_chunks_are_refused_or_decode_the_same(seed):
    rng = random.Random(seed)
    n = rng.choice([5, 300])
    cols = (int_column(rng, n), None, int_column(rng, n), float_column(rng, n))
    blob = encode_chunk(*cols, time_origin_us=ORIGIN)
    good = [c.tobytes() for c in decode_chunk(blob, derive_times=False) if c is not None]
    for _ in range(400):
        bad = bytearray(blob)
        for _ in range(rng.choice([1, 1, 2, 5])):
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        try:
            got = decode_chunk(bytes(bad), derive_times=False)
        except CorruptStoreError:
            continue
        # zstd ignores a few frame header bits: decoding then gives the same data.
        assert [c.tobytes() for c in got if c is not None] == good


def test_hostile_sizes_are_refused_before_allocating():
    n = 1 << 20
    header = struct.pack("<BBHIq", 2, 0, 0, n, ORIGIN)
    for sizes in ((0, 0, 0), (1, 1, 1), (0xFFFFFFFF, 1, 1)):
        with pytest.raises(CorruptStoreError):
            decode_chunk(header + struct.pack("<3I", *sizes) + b"x" * 3)
    with pytest.raises(CorruptStoreError):
        decode_chunk(header + b"\0\0")  # shorter than its size table


@pytest.mark.parametrize("width_bytes", range(1, 8))
def test_delta_decodes_differences_at_the_edges_of_each_width(width_bytes):
    # Pure decoding takes a faster path when every difference fits a few bytes: differences
    # at the very edges of each width (zigzag to 2**(8p) - 1 and 2**(8p - 1)) must round-trip.
    rng = random.Random(width_bytes)
    edge = 1 << (8 * width_bytes - 1)
    for n in (2, 3, 100, 4097):
        diffs = [rng.choice([edge - 1, -edge, -edge + 1, 0, 1, -1]) for _ in range(n - 1)]
        words, value = [], rng.randrange(1 << 64)
        for d in [0] + diffs:
            value = (value + d) % (1 << 64)
            words.append(value)
        raw = b"".join(w.to_bytes(8, "little") for w in words)
        body = b"".join(lanes.encode(lanes.DELTA, raw, n))
        for mode in MODES:
            with path(mode):
                assert lanes.decode(lanes.DELTA, body, n) == raw


@pytest.mark.parametrize("mode", MODES)
def test_decode_columns_gives_what_decode_chunk_gives(mode):
    rng = random.Random(f"cols{mode}")
    names = ("steps", "times", "timestamps", "values")
    for _ in range(40):
        n = rng.choice([1, 64, 65, 255, 256, 700])
        times = float_column(rng, n) if rng.random() < 0.5 else None
        cols = (int_column(rng, n), times, int_column(rng, n), float_column(rng, n))
        encode = rng.choice([encode_chunk, encode_chunk_v1])
        blob = encode(*cols, time_origin_us=ORIGIN)
        with path(mode):
            full = dict(zip(names, decode_chunk(blob)))
            asked = tuple(name for name in names if rng.random() < 0.5) or ("values",)
            got = decode_columns(blob, expected_count=n, columns=asked)
        assert list(got) == list(asked)
        for name in asked:
            assert_same(got[name], full[name])


@pytest.mark.parametrize("mode", MODES)
def test_decode_columns_cuts_rows_as_slicing_does(mode):
    """Every body (plain, one frame, a frame a column with a DOD column, version 1) and every
    column kind (RAW, a constant, a transformed schedule) cut to rows is the whole column sliced."""
    rng = random.Random(f"rows{mode}")
    names = ("steps", "times", "timestamps", "values")
    for _ in range(40):
        n = rng.choice([1, 64, 65, 700, 2000])
        kind = rng.randrange(3)
        if kind == 0:
            values = float_column(rng, n)
        elif kind == 1:
            values = array("d", [0.25] * n)  # a constant: STRIDE
        else:  # smooth: DOD, and a frame a column
            values = array("d", [3e-4 * (1 + math.cos(math.pi * (i + 20000) / 60000)) / 2 for i in range(n)])
        times = float_column(rng, n) if rng.random() < 0.3 else None
        cols = (array("q", range(n)), times, int_column(rng, n), values)
        blob = rng.choice([encode_chunk, encode_chunk_v1])(*cols, time_origin_us=ORIGIN)
        lo = rng.randrange(n + 1)
        hi = rng.randrange(lo, n + 1)
        with path(mode):
            full = dict(zip(names, decode_chunk(blob)))
            got = decode_columns(blob, expected_count=n, columns=names, rows=(lo, hi))
        for name in names:
            assert_same(got[name], full[name][lo:hi])


def test_decode_columns_refuses_rows_outside_the_chunk():
    blob = encode_chunk(array("q", range(300)), None, array("q", range(300)), array("d", [1.0] * 300),
                        time_origin_us=ORIGIN)
    for bad in ((0, 301), (5, 4), (-1, 3), [0, 3], (0.0, 3), (1,)):
        with pytest.raises(ValidationError, match="rows"):
            decode_columns(blob, rows=bad)


def test_decode_columns_refuses_unknown_names_and_damage():
    rng = random.Random(5)
    n = 600
    blob = encode_chunk(int_column(rng, n), None, int_column(rng, n), float_column(rng, n), time_origin_us=ORIGIN)
    for bad in (("value",), "values", None, ("steps", 3)):
        with pytest.raises(ValidationError):
            decode_columns(blob, columns=bad)
    with pytest.raises(CorruptStoreError):
        decode_columns(blob, expected_count=n + 1)
    with pytest.raises(CorruptStoreError):  # the values frame cut short
        decode_columns(blob[:-3], columns=("values",))


@pytest.mark.parametrize("use_numpy", [False, True])
@settings(max_examples=200)
@given(words=st.lists(st.one_of(st.integers(INT64_MIN, INT64_MAX), st.integers(-3, 3)), min_size=1, max_size=80),
       shape=st.sampled_from(["as is", "sorted", "stride", "sorted, one swapped"]))
def test_extent_is_min_and_max_whatever_the_order(use_numpy, words, shape):
    if use_numpy:
        pytest.importorskip("numpy")
    if shape.startswith("sorted"):
        words = sorted(words)
        if shape.endswith("swapped") and len(words) > 2:  # ascending but for one pair the samples may miss
            i = len(words) // 2 + 1
            words[i - 1], words[i] = words[i], words[i - 1]
    elif shape == "stride":
        words = [((words[0] + i * (words[-1] % 7) + 2**63) % 2**64) - 2**63 for i in range(len(words))]
    from runlite.codec import accel

    with accel.numpy_mode(use_numpy, min_items=1):
        assert lanes.extent(array("q", words)) == (min(words), max(words))
