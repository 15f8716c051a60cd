"""Block sketches: both stored forms read the same, small inputs, damage refused."""

from __future__ import annotations

import math
import struct
from array import array

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from runlite.codec import sketch
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
    from runlite.storage import checks, metrics

    n = 1500
    steps = array("q", range(n))
    stamps = array("q", (ORIGIN + 1000 * i for i in range(n)))
    values = array("d", (math.sin(i / 50) + i / 1e3 for i in range(n)))
    made = stats.chunk_stats(steps, None, stamps, values, time_origin_us=ORIGIN)
    stored = metrics.stats_tuple(metrics.stats_row(made))
    data = chunks.encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    old = version_1(sketch.blocks(steps, None, stamps, values, has_nan=False, time_origin_us=ORIGIN))
    monkeypatch.setattr(checks.accel, "numpy_for", lambda _n: np)

    def exact_pass(*_a, **_k):
        raise AssertionError("the exact point-by-point check ran")

    monkeypatch.setattr(checks.stats, "chunk_stats", exact_pass)
    assert checks.chunk_problem(stored, data, sketch_data=old, strict=True) == (None, True)
    damaged = version_1([(c, (p[0], p[1], p[2], (p[3][0], p[3][1], p[3][2], p[3][3], p[3][4] + 1)))
                         for c, p in sketch.blocks(steps, None, stamps, values, has_nan=False,
                                                   time_origin_us=ORIGIN)])
    with pytest.raises(AssertionError, match="exact point-by-point"):
        checks.chunk_problem(stored, data, sketch_data=damaged, strict=True)
