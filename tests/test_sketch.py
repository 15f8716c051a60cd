"""Block sketches: both stored forms read the same, small inputs, damage refused."""

from __future__ import annotations

import math
import random
import struct
from array import array

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from runlite.codec import accel, lanes, sketch
from runlite.errors import CorruptStoreError

ORIGIN = 1_700_000_000_000_000
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, math.nan]))


def version_1(block_list) -> bytes:
    """A sketch as runlite first stored it: one zstd frame of 148-byte row entries."""
    out = bytearray()
    for count, points in block_list:
        out += struct.pack("<I", count)
        for p in points:
            out += struct.pack("<Iqdqd", *p)
    return zstandard.ZstdCompressor(level=1, write_content_size=True).compress(bytes(out))


def reference_blocks(steps, times, stamps, values):
    """Every BLOCK points: the first, the first lowest and highest non-NaN (the last point when
    all are NaN), and the last, with times derived from the timestamps when None."""
    out = []
    for lo in range(0, len(values), sketch.BLOCK):
        seg = list(values[lo:lo + sketch.BLOCK])
        real = [i for i, v in enumerate(seg) if not math.isnan(v)]
        i_min = min(real, key=lambda i: (seg[i], i)) if real else len(seg) - 1
        i_max = min(real, key=lambda i: (-seg[i], i)) if real else len(seg) - 1
        pts = []
        for i in (0, i_min, i_max, len(seg) - 1):
            j = lo + i
            t = times[j] if times is not None else (stamps[j] - ORIGIN) / 1e6
            pts.append((i, steps[j], t, stamps[j], values[j]))
        out.append((len(seg), tuple(pts)))
    return out


def bits(blocks):
    return [(n, tuple(struct.pack("<Iqdqd", *p) for p in pts)) for n, pts in blocks]


def columns(values, explicit):
    n = len(values)
    steps = array("q", range(5, 5 + n))
    stamps = array("q", (ORIGIN + 1000 * i for i in range(n)))
    times = array("d", (i / 3 for i in range(n))) if explicit else None
    return steps, times, stamps, array("d", values)


@settings(max_examples=80)
@given(values=st.lists(VALUES, min_size=1, max_size=1200), explicit=st.booleans())
def test_blocks_and_both_forms_agree_with_the_reference(values, explicit):
    cols = columns(values, explicit)
    made = sketch.blocks(*cols, has_nan=any(map(math.isnan, values)), time_origin_us=ORIGIN)
    assert bits(made) == bits(reference_blocks(*cols))
    n = len(values)
    new, old = sketch.encode(made), version_1(made)
    assert new[:1] == b"\x02" and old[:1] != b"\x02"
    assert bits(sketch.decode(new)) == bits(made) == bits(sketch.decode(old))
    a, b = sketch.load(new, n), sketch.load(old, n)
    assert a.mins().tobytes() == b.mins().tobytes() and a.maxs().tobytes() == b.maxs().tobytes()
    for block in range(a.nblocks):
        for which in range(4):
            assert struct.pack("<Iqdqd", *a.point(block, which)) == struct.pack("<Iqdqd", *b.point(block, which))
    assert len(new) <= sketch.stored_size_bound(n)


def test_version_2_is_no_larger_for_one_block_and_compresses_columns():
    for n in (1, 2, 100, 512):
        made = sketch.blocks(*columns([i * 0.37 for i in range(n)], False), has_nan=False, time_origin_us=ORIGIN)
        assert len(sketch.encode(made)) <= len(version_1(made)) + 2
    many = sketch.encode(sketch.blocks(*columns([math.sin(i / 9) for i in range(5000)], False),
                                       has_nan=False, time_origin_us=ORIGIN))
    assert many[:1] == b"\x02" and len(many) < 10 * 148


def test_points_of_a_tiny_chunk_are_all_in_its_sketch():
    for values in ([2.5], [3.0, -1.0]):
        cols = columns(values, False)
        sk = sketch.load(sketch.encode(sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN)), len(values))
        got = {p[0]: p for p in sk.points()}
        assert [got[i][4] for i in sorted(got)] == values
        assert [got[i][1] for i in sorted(got)] == list(cols[0])


def v2(body: bytes) -> bytes:
    return b"\x02" + zstandard.ZstdCompressor(write_content_size=True).compress(body)


@pytest.mark.parametrize("data, count, message", [
    (v2(bytes(100)), 1, "declares 100 bytes"),                     # a body of the wrong size
    (b"\x02not zstd", 1, "not a zstd frame"),
    (v2(struct.pack("<I", 7) + bytes(144)), 1, "other sizes"),     # a block of 7 for 1 point
    (v2(bytes(148)), 600, "declares 148 bytes"),                    # one block for a chunk of two
    (v2(bytes(148)) + b"\x02", 1, "unused data"),
])
def test_damaged_sketches_are_refused(data, count, message):
    with pytest.raises(CorruptStoreError, match=message):
        sketch.load(data, count)


def test_a_point_outside_its_block_is_refused():
    made = sketch.blocks(*columns([1.0, 2.0], False), has_nan=False, time_origin_us=ORIGIN)
    raw = bytearray(sketch._columns(made))
    struct.pack_into("<I", raw, 4, 9)  # the first point's position: 9 in a block of 2
    with pytest.raises(CorruptStoreError, match="at 9 in a block of 2"):
        sketch.load(v2(bytes(raw)), 2).point(0, 0)


def test_a_merge_checks_a_version_1_sketch_without_the_exact_pass(monkeypatch):
    """Files written before the columnar layout hold version-1 sketches: a merge still checks
    their chunks by numpy's whole-column pass, not point by point."""
    np = pytest.importorskip("numpy")  # noqa: F841  (the fast pass needs it)
    from runlite.codec import chunks, stats
    from runlite.storage import checks, stat_rows

    n = 1500
    steps = array("q", range(n))
    stamps = array("q", (ORIGIN + 1000 * i for i in range(n)))
    values = array("d", (math.sin(i / 50) + i / 1e3 for i in range(n)))
    made = stats.chunk_stats(steps, None, stamps, values, time_origin_us=ORIGIN)
    stored = stat_rows.stats_tuple(stat_rows.stats_row(made))
    data = chunks.encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    old = version_1(sketch.blocks(steps, None, stamps, values, has_nan=False, time_origin_us=ORIGIN))
    monkeypatch.setattr(checks.accel, "numpy_for", lambda _n: np)

    def exact_pass(*_a, **_k):
        raise AssertionError("the exact point-by-point check ran")

    monkeypatch.setattr(checks.stats, "chunk_row", exact_pass)
    assert checks.chunk_problem(stored, data, sketch_data=old) == (None, True)
    damaged = version_1([(c, (p[0], p[1], p[2], (p[3][0], p[3][1], p[3][2], p[3][3], p[3][4] + 1)))
                         for c, p in sketch.blocks(steps, None, stamps, values, has_nan=False,
                                                   time_origin_us=ORIGIN)])
    with pytest.raises(AssertionError, match="exact point-by-point"):
        checks.chunk_problem(stored, data, sketch_data=damaged)


# ---------------------------------------------------------------- version 3: block sums and order flags

ALL_ASCEND = sketch.STEPS_ASCEND | sketch.TIMES_ASCEND | sketch.TIMESTAMPS_ASCEND


def test_version_3_holds_each_blocks_exact_sum_and_the_order_of_its_axes():
    cols = columns([math.sin(i / 7) * 1e6 + 1e-3 * i for i in range(1300)], False)
    data = sketch.make(*cols, has_nan=False, time_origin_us=ORIGIN)
    assert data[:1] == b"\x03"
    sk = sketch.load(data, 1300)
    assert list(sk.sums()) == [math.fsum(cols[3][lo:lo + 512]) for lo in (0, 512, 1024)]
    assert sk.flags & sketch.STEPS_ASCEND
    blocks, sums, flags = sketch.decode_all(data)
    assert bits(blocks) == bits(reference_blocks(*cols)) and sums == sk.sums() and flags == sk.flags
    assert sketch.decode(data) == blocks
    # Points read from it as from version 2.
    old = sketch.load(sketch.encode(sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN)), 1300)
    assert [sk.point(b, w) for b in range(3) for w in range(4)] == [old.point(b, w) for b in range(3) for w in range(4)]
    assert old.sums() is None and old.flags is None and sketch.decode_all(sketch.encode(blocks))[1:] == (None, None)


@pytest.mark.parametrize("values, want", [
    ([1.0, 2.0, 0.5], [3.5]),
    ([1e16, 1.0, -1e16], [1.0]),              # exact: a float sum would give 0.0
    ([1.0, math.nan], [math.nan]),
    ([math.inf, 1.0], [math.inf]),
    ([math.inf, -math.inf], [math.nan]),      # undefined
    ([1.7e308, 1.7e308], [math.nan]),         # beyond the float range
    ([2.0] * 512 + [math.nan], [1024.0, math.nan]),
])
def test_block_sums(values, want):
    got = sketch.block_sums(array("d", values))
    assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in want]


def test_order_flags_say_which_axes_never_decrease():
    steps, times, stamps, values = columns([0.0] * 700, True)
    assert sketch.order(steps, times, stamps) == ALL_ASCEND
    assert sketch.order(steps, None, stamps) == ALL_ASCEND  # default times follow the timestamps
    down = array("q", reversed(steps))
    assert sketch.order(down, times, stamps) == sketch.TIMES_ASCEND | sketch.TIMESTAMPS_ASCEND
    back = array("d", times)
    back[600] = -1.0
    assert sketch.order(steps, back, stamps) == sketch.STEPS_ASCEND | sketch.TIMESTAMPS_ASCEND
    late = array("q", stamps)
    late[3] += 10**9
    assert sketch.order(steps, None, late) == sketch.STEPS_ASCEND
    # Without numpy too: a file written by a program that never imports it charts its time axes
    # from the sketches (a clear flag would claim nothing, and send charts to decoding).
    with accel.numpy_mode(False):
        assert sketch.order(steps, None, stamps) == ALL_ASCEND
        assert sketch.order(steps, times, stamps) == ALL_ASCEND
        assert sketch.order(steps, back, late) == sketch.STEPS_ASCEND


@pytest.mark.parametrize("use_numpy", [False, True])
@settings(max_examples=150)
@given(words=st.lists(st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(-3, 3)), max_size=40),
       shape=st.sampled_from(["as is", "sorted", "stride"]))
def test_lanes_ascending_agrees_with_comparing_neighbours(use_numpy, words, shape):
    if shape == "sorted":
        words = sorted(words)
    elif shape == "stride" and words:
        words = [((words[0] + i * (words[-1] % 7) + 2**63) % 2**64) - 2**63 for i in range(len(words))]
    with accel.numpy_mode(use_numpy, min_items=1):
        assert lanes.ascending(array("q", words)) == all(a <= b for a, b in zip(words, words[1:]))


def v3(body: bytes) -> bytes:
    return b"\x03" + zstandard.ZstdCompressor(write_content_size=True).compress(body)


def test_damaged_version_3_sketches_are_refused():
    cols = columns([1.0, 2.0], False)
    good = sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN)
    body = sketch._columns(good) + struct.pack("<d", 3.0)
    assert sketch.load(v3(body + b"\x07"), 2).flags == 7
    with pytest.raises(CorruptStoreError, match="order flags 8"):
        sketch.load(v3(body + b"\x08"), 2)
    with pytest.raises(CorruptStoreError, match="declares"):
        sketch.load(v3(body), 2)  # no flags byte
    with pytest.raises(CorruptStoreError, match="sums and order flags"):
        sketch.decode_all(v3(body + b"\x01\x00"))


@pytest.mark.parametrize("use_numpy", [False, True])
def test_a_merge_refuses_a_wrong_block_sum_or_a_false_order_flag(use_numpy):
    if use_numpy:
        pytest.importorskip("numpy")
    from runlite.codec import chunks, stats
    from runlite.storage import checks, stat_rows

    n = 1500
    steps = array("q", range(n))
    stamps = array("q", (ORIGIN + 1000 * i for i in range(n)))
    values = array("d", (math.sin(i / 50) + i / 1e3 for i in range(n)))
    stored = stat_rows.stats_tuple(stat_rows.stats_row(stats.chunk_stats(steps, None, stamps, values,
                                                                     time_origin_us=ORIGIN)))
    data = chunks.encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    blocks = sketch.blocks(steps, None, stamps, values, has_nan=False, time_origin_us=ORIGIN)
    sums = sketch.block_sums(values)
    with accel.numpy_mode(use_numpy, min_items=1):
        def problem(sk):
            return checks.chunk_problem(stored, data, sketch_data=sk)[0]

        assert problem(sketch.encode(blocks, sums, ALL_ASCEND)) is None
        assert problem(sketch.encode(blocks, sums, 0)) is None  # a clear flag claims nothing
        assert problem(sketch.encode(blocks)) is None           # version 2: no sums to check
        off = array("d", sums)
        off[1] = math.nextafter(off[1], math.inf)
        assert "does not match" in problem(sketch.encode(blocks, off, ALL_ASCEND))
        down = array("q", reversed(steps))
        data_down = chunks.encode_chunk(down, None, stamps, values, time_origin_us=ORIGIN)
        stored_down = stat_rows.stats_tuple(stat_rows.stats_row(stats.chunk_stats(down, None, stamps, values,
                                                                              time_origin_us=ORIGIN)))
        blocks_down = sketch.blocks(down, None, stamps, values, has_nan=False, time_origin_us=ORIGIN)
        claims = sketch.encode(blocks_down, sums, ALL_ASCEND)  # steps do not ascend
        assert "does not match" in checks.chunk_problem(stored_down, data_down, sketch_data=claims)[0]
        honest = sketch.encode(blocks_down, sums, ALL_ASCEND & ~sketch.STEPS_ASCEND)
        assert checks.chunk_problem(stored_down, data_down, sketch_data=honest)[0] is None


@settings(max_examples=120, deadline=None)
@given(n=st.integers(513, 2600), gaps=st.lists(st.integers(0, 3), min_size=1, max_size=50),
       start=st.one_of(st.none(), st.integers(-5, 6000)), width=st.one_of(st.none(), st.integers(0, 3000)),
       axis=st.sampled_from(["step", "time", "timestamp"]))
def test_rows_between_hold_every_point_of_a_window_in_whole_blocks(n, gaps, start, width, axis):
    steps = array("q", [0] * n)
    for i in range(1, n):  # never decreasing, with repeats and jumps
        steps[i] = steps[i - 1] + gaps[i % len(gaps)]
    times = array("d", [s / 4 for s in steps])
    stamps = array("q", [ORIGIN + 1000 * s for s in steps])
    values = array("d", range(n))
    made = sketch.blocks(steps, times, stamps, values, has_nan=False, time_origin_us=ORIGIN)
    flags = sketch.order(steps, times, stamps)
    sk = sketch.load(sketch.encode(made, sketch.block_sums(values), flags), n)
    assert sk.flags == ALL_ASCEND
    column = {"step": steps, "time": times, "timestamp": stamps}[axis]
    scale = {"step": 1, "time": 0.25, "timestamp": 1000}[axis]
    shift = ORIGIN if axis == "timestamp" else 0
    lo_x = None if start is None else shift + start * scale
    hi_x = None if width is None else shift + ((start or 0) + width) * scale
    lo, hi = sk.rows_between(axis, lo_x, hi_x)
    inside = [i for i, x in enumerate(column) if (lo_x is None or x >= lo_x) and (hi_x is None or x <= hi_x)]
    assert 0 <= lo <= hi <= n and all(x % sketch.BLOCK == 0 or x == n for x in (lo, hi))
    assert all(lo <= i < hi for i in inside)
    assert hi - lo <= (len(inside) // sketch.BLOCK + 2) * sketch.BLOCK  # at most a block too wide at each end


@settings(max_examples=150)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -0.0, 1.5, -1.5])),
                       min_size=1, max_size=1600))
def test_extremes_from_blocks_are_the_first_lowest_and_highest(values):
    from runlite.codec import stats

    cols = columns(values, False)
    made = sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN)
    lo, hi, ilo, ihi = sketch.extremes(made)
    assert (lo, hi, ilo, ihi) == (min(values), max(values), values.index(min(values)), values.index(max(values)))
    plain = stats.chunk_stats(*cols, time_origin_us=ORIGIN)
    given = stats.chunk_stats(*cols, time_origin_us=ORIGIN, extremes=(lo, hi, ilo, ihi))
    assert given == plain
    for x, y in ((lo, plain.min), (hi, plain.max), (given.min, plain.min), (given.max, plain.max)):
        assert struct.pack("<d", x) == struct.pack("<d", y)  # the same zero's sign too


@settings(max_examples=300)
@given(palette=st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0]), min_size=1, max_size=4),
       n=st.one_of(st.integers(1, 1100), st.integers(1100, 2200)), seed=st.integers(0, 2**32), data=st.data())
def test_window_extremes_from_whole_blocks_are_those_of_the_points(palette, n, seed, data):
    """A window's points from any position to any other: the blocks wholly among them give
    their extremes from the sketch, the part blocks at each end are passed over; the result is
    the first lowest and highest point, as min/max/index over every point give it. Few distinct
    values (half of them from a small palette), so the extremes repeat across blocks and the
    window's ends (ties), and may be zeros of either sign."""
    rnd = random.Random(seed)
    values = [rnd.choice(palette) if rnd.random() < 0.5 else rnd.uniform(-0.5, 0.5) for _ in range(n)]
    cols = columns(values, False)
    made = sketch.from_blocks(sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN))
    first = data.draw(st.integers(0, n - 1))
    last = n - data.draw(st.integers(0, n - first - 1))  # small draws (the usual ones) make wide windows
    window = array("d", values[first:last])
    got = sketch.window_extremes(made, first, window)
    assert (got is not None) == (-(-first // sketch.BLOCK) < last // sketch.BLOCK)
    if got is not None:
        lo, hi = min(window), max(window)
        assert got[2:] == (window.index(lo), window.index(hi))
        assert [struct.pack("<d", x) for x in got[:2]] == [struct.pack("<d", x) for x in (lo, hi)]


@settings(max_examples=150)
@given(values=st.lists(VALUES, min_size=1, max_size=1200), explicit=st.booleans())
def test_blocks_told_no_nan_are_right_with_nan_anywhere(values, explicit):
    """The flush makes blocks before it has counted NaN values: ``has_nan=False`` must give
    the same blocks as the NaN-aware way whatever the values (a NaN first in a block too)."""
    cols = columns(values, explicit)
    told = sketch.blocks(*cols, has_nan=False, time_origin_us=ORIGIN)
    assert bits(told) == bits(sketch.blocks(*cols, has_nan=True, time_origin_us=ORIGIN))
    assert bits(told) == bits(reference_blocks(*cols))
