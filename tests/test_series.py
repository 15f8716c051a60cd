"""Tests of the metric-series codec (runlite.codec): chunk format, statistics, window stats,
downsampling, and the safe zstd decoding every stored frame goes through."""

from __future__ import annotations

import math
import os
import random
import struct
import threading
import time
from array import array

import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runlite.codec import moments, sketch, stats, zstd
from runlite.codec.chunks import (
    CODEC_VERSION,
    MAX_CHUNK_POINTS,
    decode_chunk,
    derived_times,
    encode_chunk,
    encode_chunk_v1,
)
from runlite.codec.stats import (
    ChunkStats,
    chunk_stats,
    downsample,
    merge_stats,
    stats_from_values,
    window_mask_stats,
)
from runlite.errors import CorruptStoreError, LimitError, ValidationError

from .strategies import CODEC_MODES, codec_mode

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
FULL = bool(os.environ.get("RUNLITE_FULL"))  # set by `pytest --full`


def examples(k: int) -> int:
    """Hypothesis example count: modest by default, ten times more under --full."""
    return k * 10 if FULL else k

ORIGIN = 1_700_000_000_000_000

MODES = CODEC_MODES
accel = codec_mode


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def key(stats) -> tuple:
    """Fields of a stats object, floats as bit patterns (NaN-safe, -0.0-aware equality)."""
    return tuple(bits(v) if isinstance(v, float) else v for v in stats)


def from_bits(b: bytes) -> float:
    return struct.unpack("<d", b)[0]


SPECIAL = [math.nan, -math.nan, from_bits(b"\x01\x00\x00\x00\x00\x00\xf8\x7f"),  # NaN payload
           math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
           1e308, -1e308, 1.7976931348623157e308]
any_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(SPECIAL))
int64 = st.one_of(st.integers(INT64_MIN, INT64_MAX),
                  st.sampled_from([INT64_MIN, INT64_MAX, 0, -1, 1, ORIGIN]))


@st.composite
def columns(draw, max_size=60, floats=any_float):
    n = draw(st.integers(1, max_size))
    steps = draw(st.lists(int64, min_size=n, max_size=n))
    ts = draw(st.lists(int64, min_size=n, max_size=n))
    times = draw(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=n, max_size=n))
    values = draw(st.lists(floats, min_size=n, max_size=n))
    return array("q", steps), array("d", times), array("q", ts), array("d", values)


def loss_curve(n: int, seed: int = 1):
    rng = random.Random(seed)
    steps = array("q", range(n))
    ts, t = [], ORIGIN
    for _ in range(n):
        t += 1000 + rng.randint(-20, 20)
        ts.append(t)
    values = array("d", [2 * math.exp(-i / 3e5) + 0.01 * math.sin(i / 7) + rng.gauss(0, 1e-3)
                         for i in range(n)])
    return steps, array("q", ts), values


# ---------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------

@settings(max_examples=examples(60), deadline=None)
@given(cols=columns(), origin=int64, explicit=st.booleans())
def test_roundtrip_bit_exact(cols, origin, explicit):
    steps, times, ts, values = cols
    blob = encode_chunk(steps, times if explicit else None, ts, values, time_origin_us=origin)
    for mode in MODES:
        with accel(mode):
            s2, t2, ts2, v2 = decode_chunk(blob)
        assert s2.tobytes() == steps.tobytes()
        assert ts2.tobytes() == ts.tobytes()
        assert v2.tobytes() == values.tobytes()
        want = times if explicit else array("d", [(t - origin) / 1e6 for t in ts])
        assert t2.tobytes() == want.tobytes()
        assert (s2.typecode, t2.typecode, ts2.typecode, v2.typecode) == ("q", "d", "q", "d")


def test_roundtrip_special_values_and_bytearray_input():
    values = array("d", SPECIAL)
    n = len(values)
    steps = array("q", [INT64_MIN, INT64_MAX] + [0] * (n - 2))
    ts = array("q", [INT64_MAX, INT64_MIN] + list(range(n - 2)))
    blob = encode_chunk(steps, None, ts, values, time_origin_us=INT64_MIN)
    for data in (blob, bytearray(blob), memoryview(blob)):
        s2, t2, ts2, v2 = decode_chunk(data)
        assert [bits(v) for v in v2] == [bits(v) for v in values]
        assert s2 == steps and ts2 == ts
        assert t2.tobytes() == array("d", [(t - INT64_MIN) / 1e6 for t in ts]).tobytes()


@settings(max_examples=examples(80), deadline=None)
@given(ts=st.lists(int64, max_size=40), origin=int64)
def test_derived_times_exact(ts, origin):
    want = array("d", [(t - origin) / 1e6 for t in ts]).tobytes()
    for mode in MODES:
        with accel(mode):
            assert derived_times(array("q", ts), origin).tobytes() == want


@pytest.mark.parametrize("mode", MODES)
def test_derived_times_large_column(mode):
    rng = random.Random(7)
    ts = array("q", [ORIGIN + rng.randrange(-10**12, 10**15) for _ in range(20_000)]
               + [INT64_MAX, INT64_MIN, 1 << 53, (1 << 53) + 1, (1 << 60) + 12345])
    for origin in (ORIGIN, 0, -ORIGIN, INT64_MAX):
        with accel(mode):
            got = derived_times(ts, origin)
        assert got.tobytes() == array("d", [(t - origin) / 1e6 for t in ts]).tobytes()


def test_loss_curve_compresses_below_10_bytes_a_point():
    steps, ts, values = loss_curve(100_000)
    size = 0
    for a in range(0, 100_000, 20_000):
        sl = slice(a, a + 20_000)
        size += len(encode_chunk(steps[sl], None, ts[sl], values[sl], time_origin_us=ORIGIN))
    assert size / 100_000 < 10


def test_encode_validation():
    q, d = array("q", [1, 2]), array("d", [1.0, 2.0])
    with pytest.raises(ValidationError):
        encode_chunk(array("q"), None, array("q"), array("d"), time_origin_us=0)
    with pytest.raises(ValidationError):
        encode_chunk(q, None, q, array("d", [1.0]), time_origin_us=0)
    with pytest.raises(ValidationError):
        encode_chunk(q, array("d", [1.0]), q, d, time_origin_us=0)
    with pytest.raises(ValidationError):
        encode_chunk(array("l", [1, 2]), None, q, d, time_origin_us=0)
    with pytest.raises(ValidationError):
        encode_chunk([1, 2], None, q, d, time_origin_us=0)
    with pytest.raises(ValidationError):
        encode_chunk(q, None, q, d, time_origin_us=1 << 63)
    with pytest.raises(ValidationError):
        encode_chunk(q, None, q, d, time_origin_us=1.5)
    big_q = array("q", bytes(8 * (MAX_CHUNK_POINTS + 1)))
    big_d = array("d", bytes(8 * (MAX_CHUNK_POINTS + 1)))
    with pytest.raises(LimitError):
        encode_chunk(big_q, None, big_q, big_d, time_origin_us=0)


# ---------------------------------------------------------------------------
# Corrupt input
# ---------------------------------------------------------------------------

def small_blob(explicit_times: bool = False) -> bytes:
    steps, ts, values = loss_curve(50)
    times = derived_times(ts, ORIGIN) if explicit_times else None
    return encode_chunk(steps, times, ts, values, time_origin_us=ORIGIN)


def header(n: int, flags: int = 0, version: int = CODEC_VERSION) -> bytes:
    return struct.pack("<BBHIq", version, flags, 0, n, ORIGIN)


def fake_frame(content_size: int | None, block: bytes = b"") -> bytes:
    """A zstd frame header (single segment, no checksum) with a declared size."""
    if content_size is None:
        return zstandard.ZstdCompressor(write_content_size=False).compress(block)
    # Frame header descriptor: FCS field 8 bytes (3 << 6), single segment (1 << 5).
    fhd = struct.pack("<IB", 0xFD2FB528, 0xE0) + struct.pack("<Q", content_size)
    # One last RLE block of 128 KiB of b"x": header = last | (RLE << 1) | (size << 3).
    return fhd + (1 | (1 << 1) | ((128 * 1024) << 3)).to_bytes(3, "little") + b"x"


@pytest.mark.parametrize("explicit", [False, True])
def test_every_truncation_is_refused(explicit):
    blob = small_blob(explicit)
    for k in range(len(blob)):
        with pytest.raises(CorruptStoreError):
            decode_chunk(blob[:k])


def test_byte_flips_are_refused_or_harmless():
    blob = small_blob()
    good = [c.tobytes() for c in decode_chunk(blob)]
    rng = random.Random(3)
    for pos in range(len(blob)):
        for _ in range(3):
            bad = bytearray(blob)
            bad[pos] ^= 1 << rng.randrange(8)
            try:
                got = decode_chunk(bytes(bad))
            except CorruptStoreError:
                continue
            # zstd ignores a few header bits; decoding then gives the same data.
            assert [c.tobytes() for c in got] == good, pos


@pytest.mark.parametrize("data", [
    b"", b"\x01", b"garbage" * 10, bytes(100), b"\x01" + bytes(15) + b"\x28\xb5\x2f\xfd",
    random.Random(5).randbytes(300),
])
def test_garbage_is_refused(data):
    with pytest.raises(CorruptStoreError):
        decode_chunk(data)


def test_non_bytes_is_refused():
    with pytest.raises(CorruptStoreError):
        decode_chunk("not bytes")  # type: ignore[arg-type]


# Per format: the byte changes each header field must refuse (version 2 also carries a
# transform code per column in the header's third and fourth bytes).
BAD_HEADER_BYTES = {
    1: ((0, 0), (0, 2), (0, 255), (1, 0x02), (1, 0x80), (2, 1), (3, 1)),
    2: ((0, 0), (0, 1), (0, 3), (0, 255), (1, 0x02), (1, 0x80),
        (2, 0x0F), (2, 0x20), (3, 0xF0), (3, 0x05)),   # unknown codes; a times code without times
}


@pytest.mark.parametrize("version", [1, 2])
def test_wrong_version_flags_reserved_and_n(version):
    steps, ts, values = loss_curve(50)
    encode = encode_chunk_v1 if version == 1 else encode_chunk
    blob = bytearray(encode(steps, None, ts, values, time_origin_us=ORIGIN))
    assert blob[0] == version
    for pos, value in BAD_HEADER_BYTES[version]:
        bad = bytearray(blob)
        bad[pos] = value
        with pytest.raises(CorruptStoreError):
            decode_chunk(bytes(bad))
    for n in (0, 49, 51, MAX_CHUNK_POINTS + 1, 0xFFFFFFFF):
        bad = bytearray(blob)
        struct.pack_into("<I", bad, 4, n)
        with pytest.raises(CorruptStoreError):
            decode_chunk(bytes(bad))


def test_header_copy_mismatch_is_refused():
    # Same frame under an outer header with another origin: body header differs.
    blob = small_blob()
    bad = struct.pack("<BBHIq", CODEC_VERSION, 0, 0, 50, ORIGIN + 1) + blob[16:]
    with pytest.raises(CorruptStoreError):
        decode_chunk(bad)


def test_trailing_data_is_refused():
    blob = small_blob()
    for tail in (b"\0", b"xyz", blob[16:], zstandard.ZstdCompressor().compress(b"")):
        with pytest.raises(CorruptStoreError):
            decode_chunk(blob + tail)


@pytest.mark.parametrize("declared", [1 << 40, (1 << 64) - 1, 16 + 24 * MAX_CHUNK_POINTS + 1])
def test_zstd_bomb_declaring_huge_size_is_refused_fast(declared):
    t0 = time.perf_counter()
    for n in (1, MAX_CHUNK_POINTS):
        with pytest.raises(CorruptStoreError):
            decode_chunk(header(n) + fake_frame(declared))
    assert time.perf_counter() - t0 < 1.0


def test_frame_without_declared_size_is_refused():
    for block in (b"", bytes(16 + 24)):
        with pytest.raises(CorruptStoreError):
            decode_chunk(header(1) + fake_frame(None, block))


def test_frame_of_right_size_but_wrong_content_is_refused():
    # A legitimate-looking frame of exactly the expected size: only the checksum /
    # header copy can catch it, and memory stays bounded by the expected size.
    n = 1000
    body = zstandard.ZstdCompressor(write_checksum=True).compress(bytes(16 + 24 * n))
    for version in (1, 2):
        with pytest.raises(CorruptStoreError):
            decode_chunk(header(n, version=version) + body)
    steps, ts, values = loss_curve(50)
    blob = encode_chunk_v1(steps, None, ts, values, time_origin_us=ORIGIN)
    raw = zstandard.ZstdDecompressor().decompress(blob[16:])
    unchecked = zstandard.ZstdCompressor(write_checksum=False).compress(raw[:-1] + b"\x01")
    got = decode_chunk(blob[:16] + unchecked)  # version 1, no checksum: data decodes (by design)
    assert got[3][-1] != decode_chunk(blob)[3][-1]


def test_decode_from_threads():
    blobs = [small_blob(bool(i % 2)) for i in range(4)]
    want = [decode_chunk(b)[3].tobytes() for b in blobs]
    errors = []

    def work(i):
        try:
            for _ in range(50):
                assert decode_chunk(blobs[i])[3].tobytes() == want[i]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def reference_stats(steps, times, ts, values) -> ChunkStats:
    """Direct, loop-by-loop computation of the documented semantics."""
    clean = [v for v in values if not math.isnan(v)]
    lo = hi = lo_step = hi_step = mean = m2 = None
    for v, s in zip(values, steps):
        if math.isnan(v):
            continue
        if lo is None or v < lo:
            lo, lo_step = v, s
        if hi is None or v > hi:
            hi, hi_step = v, s
    if clean:
        if all(map(math.isfinite, clean)):
            k = len(clean)
            try:
                mean = math.fsum(clean) / k
            except OverflowError:  # the exact sum is beyond the float range
                mean = math.fsum(v / k for v in clean)
            try:
                m2 = math.fsum((v - mean) * (v - mean) for v in clean)
            except OverflowError:
                m2 = math.inf
        else:
            # Documented: the mean is the sign of the infinities, NaN if both occur.
            pos, neg = math.inf in clean, -math.inf in clean
            mean, m2 = (math.nan if pos and neg else math.inf if pos else -math.inf), math.nan
    return ChunkStats(
        count=len(values), nan_count=len(values) - len(clean), min=lo, max=hi,
        min_step=lo_step, max_step=hi_step, mean=mean, m2=m2,
        first=values[0], last=values[-1], first_step=steps[0], last_step=steps[-1],
        step_lo=min(steps), step_hi=max(steps), time_lo=min(times), time_hi=max(times),
        ts_lo=min(ts), ts_hi=max(ts))


def same_float(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return bits(a) == bits(b) or (math.isnan(a) and math.isnan(b))


def close(a, b, scale: float) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return same_float(a, b) or (math.isnan(a) and math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=scale)


def assert_stats_match(got: ChunkStats, want: ChunkStats):
    for name in ("count", "nan_count", "min_step", "max_step", "first_step", "last_step",
                 "step_lo", "step_hi", "ts_lo", "ts_hi"):
        assert getattr(got, name) == getattr(want, name), name
    for name in ("min", "max", "first", "last", "time_lo", "time_hi"):
        assert same_float(getattr(got, name), getattr(want, name)), name
    k = got.count - got.nan_count
    big = max([abs(x) for x in (got.min, got.max) if x is not None and math.isfinite(x)] or [0.0])
    assert close(got.mean, want.mean, 1e-15 * big + 1e-300), (got.mean, want.mean)
    # M2 error: a few ulps of M2 plus k * (mean error)**2 from the rounded mean.
    assert close(got.m2, want.m2, k * (1e-14 * big) * (1e-14 * big) + 1e-300), (got.m2, want.m2)


moderate = st.one_of(st.floats(-1e100, 1e100), st.sampled_from([math.nan, 0.0, -0.0, 1.5]))
moderate_or_inf = st.one_of(moderate, st.sampled_from([math.inf, -math.inf]))


@settings(max_examples=examples(60), deadline=None)
@given(cols=columns(max_size=120, floats=moderate_or_inf))
def test_chunk_stats_matches_reference(cols):
    steps, times, ts, values = cols
    want = reference_stats(steps, times, ts, values)
    got = []
    for mode in MODES:
        with accel(mode):
            got.append(chunk_stats(steps, times, ts, values))
        assert_stats_match(got[-1], want)
    assert len({key(g) for g in got}) == 1  # numpy changes speed, never a bit


@settings(max_examples=examples(40), deadline=None)
@given(cols=columns(max_size=40))
def test_chunk_stats_extreme_floats(cols):
    steps, times, ts, values = cols
    want = reference_stats(steps, times, ts, values)
    for mode in MODES:
        with accel(mode):
            assert_stats_match(chunk_stats(steps, times, ts, values), want)


def test_chunk_stats_large_finite_column_uses_fast_path():
    rng = random.Random(11)
    steps, ts, values = loss_curve(5000)
    values = array("d", [v + rng.gauss(0, 1e6) for v in values])
    times = derived_times(ts, ORIGIN)
    want = reference_stats(steps, times, ts, values)
    for mode in MODES:
        with accel(mode):
            assert_stats_match(chunk_stats(steps, times, ts, values), want)
            # times=None derives time_lo/time_hi from the timestamps, exactly.
            assert chunk_stats(steps, None, ts, values, time_origin_us=ORIGIN) == \
                chunk_stats(steps, times, ts, values)


def test_chunk_stats_small_cases():
    s = chunk_stats([3, 4], [0.5, 0.25], [10, 20], [1.0, 0.0])
    assert (s.mean, s.m2, s.var_pop) == (0.5, 0.5, 0.25)
    assert (s.min, s.min_step, s.max, s.max_step) == (0.0, 4, 1.0, 3)
    assert (s.time_lo, s.time_hi, s.first, s.last) == (0.25, 0.5, 1.0, 0.0)
    s = chunk_stats([1, 2], [0.0, 1.0], [0, 1], [math.nan, math.nan])
    assert (s.count, s.nan_count, s.min, s.mean, s.m2, s.var_pop) == (2, 2, None, None, None, None)
    assert math.isnan(s.first) and s.min_step is None
    s = chunk_stats([1, 2, 3], [0.0] * 3, [0] * 3, [math.inf, 1.0, -math.inf])
    assert math.isnan(s.mean) and math.isnan(s.m2) and (s.min, s.max) == (-math.inf, math.inf)
    s = chunk_stats([1, 2], [0.0] * 2, [0] * 2, [1e308, 1.7e308])
    assert s.mean == pytest.approx(1.35e308) and s.m2 == math.inf
    with pytest.raises(ValidationError):
        chunk_stats([], [], [], [])
    with pytest.raises(ValidationError):
        chunk_stats([1], None, [1], [1.0])
    with pytest.raises(ValidationError):
        chunk_stats([1, 2], [0.0], [1, 2], [1.0, 2.0])
    assert stats_from_values([]).count == 0


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                          st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324])),
                min_size=1, max_size=40))
@example([6.633307302489134e16] * 3)  # their fsum over 3 is an ulp above them
@example([-1.7976931348623157e308] * 3)  # their exact sum is beyond the float range
def test_a_mean_is_the_exact_one_within_a_rounding_and_never_overflows(xs):
    # Also where the exact sum is beyond the float range (the mean never is), as for three of -max.
    from fractions import Fraction
    exact = sum(map(Fraction, xs)) / len(xs)
    for got in (moments.mean_of(xs), moments.mean_of(xs, None, (min(xs), max(xs)))):
        assert math.isfinite(got)
        assert abs(Fraction(got) - exact) <= Fraction(max(map(abs, xs))) / 2 ** 50 + Fraction(2) ** -1070
    # given the extremes, within them: a constant column's mean is its value
    assert min(xs) <= got <= max(xs)
    assert moments.mean_m2([xs[0]] * len(xs), None, (xs[0], xs[0])) == (xs[0], 0.0)


def test_a_mean_with_infinities_is_ieee():
    top = 1.7976931348623157e308
    assert moments.mean_of([top, top, math.inf]) == math.inf and moments.mean_of([-math.inf, 1.0]) == -math.inf
    assert math.isnan(moments.mean_of([math.inf, -math.inf])) and math.isnan(moments.mean_of([top, top, math.inf,
                                                                                              -math.inf]))
    assert moments.mean_of([-top] * 3) == -top and moments.mean_of([1.0, 2.0], total=3.0) == 1.5


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.sampled_from([0.0, 1.0, 1e9, -3e15, 1e300]), st.sampled_from([1e-300, 1e-3, 1.0, 1e290]),
       st.randoms(use_true_random=False))
def test_a_chunks_m2_is_within_a_few_ulps_of_the_exact_one(n, offset, spread, rnd):
    # Up to 16 values M2 is the correctly rounded sum of the squared deviations from the
    # (rounded) mean; beyond, math.dist's square: within a few ulps of it, also where the values
    # sit far from zero (cancellation) or near the float range's ends.
    from fractions import Fraction
    values = [offset + spread * rnd.uniform(-1, 1) for _ in range(n)]
    if not all(map(math.isfinite, values)):
        return
    s = stats_from_values(values)
    mean = Fraction(s.mean)  # M2 is about the stored (rounded) mean: what a reader combines with
    exact = sum((Fraction(v) - mean) ** 2 for v in values)
    if exact > Fraction(2) ** 1023 * 2:  # beyond the float range: stored as infinity
        assert s.m2 == math.inf
        return
    if n <= 16:
        assert s.m2 == float(exact)
    else:
        assert abs(Fraction(s.m2) - exact) <= 4 * Fraction(math.ulp(float(exact)))


@pytest.mark.parametrize("values", [[1.0, 1.00025], [0.1, 0.2, 0.3], [1e9 + 0.1, 1e9 - 0.7, 1e9], [0.0, 1.0]])
def test_a_few_values_m2_is_the_exact_sum_rounded_once(values):
    # The rounded squares summed exactly (fsum) missed by an ulp for 1.0 and 1.00025.
    from fractions import Fraction
    s = stats_from_values(values)
    assert s.m2 == float(sum((Fraction(v) - Fraction(s.mean)) ** 2 for v in values))


@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("times", [None, [2.5]])
def test_a_one_point_chunk_has_the_figures_of_the_general_path(value, times):
    # One point (a slow loop's flush writes one a series) has a path of its own: the same
    # figures, bit for bit, as the same point among others cut away again.
    one = chunk_stats([7], times, [ORIGIN + 1_500_000], [value], time_origin_us=ORIGIN)
    want = reference_stats([7], times or [1.5], [ORIGIN + 1_500_000], [value])
    assert key(one) == key(want)  # bit for bit: the mean of -0.0 is fsum's 0.0, an infinite one has NaN M2
    assert key(ChunkStats(*stats.chunk_row([7], times, [ORIGIN + 1_500_000], [value], time_origin_us=ORIGIN))) \
        == key(one)


@settings(max_examples=examples(80), deadline=None)
@given(cols=columns(max_size=100), sort=st.booleans())
def test_axis_ranges_of_columns_known_to_rise_are_their_ends(cols, sort):
    steps, times, ts, _ = cols
    if sort:
        steps, ts = array("q", sorted(steps)), array("q", sorted(ts))
        times = array("d", sorted(times))
    flags = sketch.order(steps, times, ts)
    known = stats.axis_ranges(steps, times, ts, ORIGIN, steps_rise=bool(flags & sketch.STEPS_ASCEND),
                              stamps_rise=bool(flags & sketch.TIMESTAMPS_ASCEND),
                              times_rise=bool(flags & sketch.TIMES_ASCEND))
    assert repr(known) == repr(stats.axis_ranges(steps, times, ts, ORIGIN))  # bit for bit: -0.0 is not 0.0


@pytest.mark.parametrize("times", [[-1.0, 0.0, -0.0], [-0.0, 0.0, 0.0], [0.0, -0.0], [-2.5, -0.0]])
def test_rising_times_ending_at_zero_keep_the_sign_max_gives(times):
    steps, ts = array("q", range(len(times))), array("q", range(ORIGIN, ORIGIN + len(times)))
    times = array("d", times)
    assert sketch.order(steps, times, ts) & sketch.TIMES_ASCEND
    known = stats.axis_ranges(steps, times, ts, ORIGIN, times_rise=True)
    assert repr(known) == repr(stats.axis_ranges(steps, times, ts, ORIGIN))


@settings(max_examples=examples(80), deadline=None)
@given(cols=columns(max_size=100, floats=moderate_or_inf))
def test_a_flush_chunk_row_has_the_figures_of_one_computed_alone(cols):
    # A flush hands chunk_row the extremes of the chunk's sketch blocks and the axis ranges its
    # series share, and small chunks then take the general path: the same figures, bit for bit.
    # It hands both the values as a list too, made once.
    steps, times, ts, values = cols
    floats = values.tolist()
    made = sketch.blocks(steps, times, ts, values, has_nan=False, time_origin_us=ORIGIN, floats=floats)
    assert repr(made) == repr(sketch.blocks(steps, times, ts, values, has_nan=False, time_origin_us=ORIGIN))
    axis = stats.axis_ranges(steps, times, ts, ORIGIN)
    given = stats.chunk_row(steps, times, ts, values, time_origin_us=ORIGIN, extremes=sketch.extremes(made),
                            axis=axis, floats=floats)
    alone = stats.chunk_row(steps, times, ts, values, time_origin_us=ORIGIN)
    assert key(ChunkStats(*given)) == key(ChunkStats(*alone))


def test_values_given_as_a_list_must_be_all_of_them():
    values = array("d", [1.0, 2.0, 3.0])
    assert stats.stats_from_values(values, floats=[1.0, 2.0, 3.0]) == stats.stats_from_values(values)
    with pytest.raises(ValidationError, match="3 values as a list, got 2"):
        stats.stats_from_values(values, floats=[1.0, 2.0])
    for n in (3, 300):  # the small chunks' path and the general one
        steps, stamps, values = array("q", range(n)), array("q", range(ORIGIN, ORIGIN + n)), array("d", range(n))
        with pytest.raises(ValidationError, match=f"{n} values as a list, got 2"):
            stats.chunk_row(steps, None, stamps, values, time_origin_us=ORIGIN, floats=[1.0, 2.0])


@settings(max_examples=examples(50), deadline=None)
@given(cols=columns(max_size=100, floats=moderate_or_inf), cut=st.integers(0, 100))
def test_merge_equals_stats_of_concatenation(cols, cut):
    steps, times, ts, values = cols
    n = len(values)
    cut = 1 + cut % n if n > 1 else 1
    if cut >= n:
        cut = n - 1 if n > 1 else None
    if cut is None:
        return
    a = chunk_stats(steps[:cut], times[:cut], ts[:cut], values[:cut])
    b = chunk_stats(steps[cut:], times[cut:], ts[cut:], values[cut:])
    assert_stats_match(merge_stats(a, b), chunk_stats(steps, times, ts, values))


def test_merge_many_chunks_matches_whole():
    steps, ts, values = loss_curve(20_000)
    times = derived_times(ts, ORIGIN)
    acc = None
    for a in range(0, 20_000, 3000):
        sl = slice(a, a + 3000)
        s = chunk_stats(steps[sl], times[sl], ts[sl], values[sl])
        acc = s if acc is None else merge_stats(acc, s)
    whole = chunk_stats(steps, times, ts, values)
    assert_stats_match(acc, whole)
    assert acc.var_pop == pytest.approx(whole.var_pop, rel=1e-12)


def test_merge_ties_keep_first_step():
    a = chunk_stats([1, 2], [0.0, 0.0], [0, 0], [5.0, 1.0])
    b = chunk_stats([3, 4], [0.0, 0.0], [0, 0], [1.0, 5.0])
    m = merge_stats(a, b)
    assert (m.min_step, m.max_step, m.first_step, m.last_step) == (2, 1, 1, 4)


# ---------------------------------------------------------------------------
# Window statistics
# ---------------------------------------------------------------------------

bound = st.one_of(st.none(), st.integers(-50, 50), st.floats(-50, 50))


@settings(max_examples=examples(80), deadline=None)
@given(n=st.integers(1, 60), data=st.data(), xaxis=st.sampled_from(["step", "time", "timestamp"]),
       start=bound, stop=bound, sort=st.booleans())
def test_window_mask_stats_matches_direct(n, data, xaxis, start, stop, sort):
    small = st.integers(-40, 40)
    steps = data.draw(st.lists(small, min_size=n, max_size=n))
    ts = data.draw(st.lists(small, min_size=n, max_size=n))
    times = data.draw(st.lists(st.floats(-40, 40), min_size=n, max_size=n))
    values = data.draw(st.lists(moderate, min_size=n, max_size=n))
    if sort:
        steps, ts, times = sorted(steps), sorted(ts), sorted(times)
    axis = {"step": steps, "time": times, "timestamp": ts}[xaxis]
    sel = [i for i, v in enumerate(axis)
           if (start is None or start <= v) and (stop is None or v <= stop)]
    got = window_mask_stats(array("q", steps), array("d", times), array("q", ts),
                            array("d", values), xaxis=xaxis, start=start, stop=stop)
    if not sel:
        assert got is None
        return
    pick = lambda col: [col[i] for i in sel]  # noqa: E731
    want = reference_stats(pick(steps), pick(times), pick(ts), pick(values))
    assert_stats_match(got, want)


def test_window_mask_stats_validation():
    cols = (array("q", [1]), array("d", [0.0]), array("q", [1]), array("d", [1.0]))
    with pytest.raises(ValidationError):
        window_mask_stats(*cols, xaxis="wall", start=0, stop=1)
    with pytest.raises(ValidationError):
        window_mask_stats(*cols, xaxis="step", start=math.nan, stop=1)
    with pytest.raises(ValidationError):
        window_mask_stats(*cols, xaxis="step", start="0", stop=1)
    with pytest.raises(ValidationError):
        window_mask_stats(cols[0], None, cols[2], cols[3], xaxis="step")
    assert window_mask_stats(*cols, xaxis="step", start=2, stop=None) is None
    assert window_mask_stats(*cols, xaxis="step").count == 1


# ---------------------------------------------------------------------------
# Downsampling
# ---------------------------------------------------------------------------

def check_downsample(values, max_points, idx):
    n = len(values)
    assert idx == sorted(set(idx))
    assert all(0 <= i < n for i in idx)
    if n <= max_points:
        assert idx == list(range(n))
        return
    assert len(idx) <= max_points
    assert idx[0] == 0 and idx[-1] == n - 1
    clean = [v for v in values if not math.isnan(v)]
    if clean:
        kept = {bits(values[i]) for i in idx}
        assert bits(min(clean)) in kept or min(clean) in [values[i] for i in idx]
        assert bits(max(clean)) in kept or max(clean) in [values[i] for i in idx]


@settings(max_examples=examples(100), deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([math.nan, math.inf,
                                                                      -math.inf, -0.0])),
                       max_size=300),
       max_points=st.integers(4, 60))
def test_downsample_properties(values, max_points):
    got = []
    for mode in MODES:
        with accel(mode):
            got.append(downsample(range(len(values)), array("d", values), max_points))
        check_downsample(values, max_points, got[-1])
    assert all(g == got[0] for g in got)


def test_downsample_large_and_nan_buckets():
    steps, ts, values = loss_curve(100_000)
    values[50_000] = -5.0
    values[70_000] = 9.0
    for i in range(0, 30_000):
        values[i] = math.nan
    got = []
    for mode in MODES:
        with accel(mode):
            got.append(downsample(steps, values, 1000))
        check_downsample(values, 1000, got[-1])
        assert 50_000 in got[-1] and 70_000 in got[-1] and 0 in got[-1]
    assert all(g == got[0] for g in got)


@pytest.mark.parametrize("bad", [3, 0, -1, 4.0, True, "10", None])
def test_downsample_rejects_bad_max_points(bad):
    with pytest.raises(ValidationError):
        downsample([1, 2, 3], [1.0, 2.0, 3.0], bad)


def test_downsample_length_mismatch():
    with pytest.raises(ValidationError):
        downsample([1, 2], [1.0], 10)


def test_downsample_nan_next_to_infinite_extremes():
    values = array("d", [math.nan, math.inf, 1.0, math.nan, -math.inf, -0.0, 0.0] * 300)
    got = []
    for mode in MODES:
        with accel(mode):
            got.append(downsample(range(len(values)), values, 40))
        check_downsample(values, 40, got[-1])
    assert all(g == got[0] for g in got)
    assert all(math.isnan(values[i]) for i in downsample(range(50), array("d", [math.nan] * 50), 4))


# ---------------------------------------------------------------------------- safe zstd decoding

def _sketch_of(n: int) -> bytes:
    steps = array("q", range(n))
    values = array("d", (math.sin(i / 50) for i in range(n)))
    stamps = array("q", (ORIGIN + 1000 * i for i in range(n)))
    return sketch.encode(sketch.blocks(steps, None, stamps, values, has_nan=False, time_origin_us=ORIGIN))


def test_sketch_round_trips():
    blocks = sketch.decode(_sketch_of(2000))
    assert [count for count, _ in blocks] == [512, 512, 512, 464]
    assert sketch.decode(sketch.encode([])) == []


@pytest.mark.parametrize("data, message", [
    (None, "NoneType, not a zstd frame"),                   # was a TypeError
    (b"not a sketch at all", "not a zstd frame"),          # was a zstandard.ZstdError
    (zstandard.ZstdCompressor().compress(bytes(1 << 23)), "more than the 4194304 allowed"),
    (zstandard.ZstdCompressor(write_content_size=False).compress(bytes(148)), "does not declare"),
    (zstandard.ZstdCompressor().compress(bytes(149)), "not whole 148-byte blocks"),
    (_sketch_of(600) + _sketch_of(600), "unused data"),     # a second frame was ignored before
])
def test_sketch_decode_refuses_damage_with_corrupt_store_error(data, message):
    with pytest.raises(CorruptStoreError, match=message):
        sketch.decode(data)


def test_chunk_decode_errors_name_the_chunk_body():
    blob = encode_chunk_v1(array("q", [1, 2]), None, array("q", [ORIGIN, ORIGIN + 1]), array("d", [0.5, 1.5]),
                           time_origin_us=ORIGIN)
    with pytest.raises(CorruptStoreError, match="^chunk body: .*unused data"):
        decode_chunk(blob + blob[16:])  # a second frame after the body
    with pytest.raises(CorruptStoreError, match="^chunk body: the zstd frame declares 56 bytes, 64 expected"):
        decode_chunk(blob[:16] + zstd.compress(bytes(56), level=1))  # 2 points: 16 + 2 * 3 * 8 bytes


