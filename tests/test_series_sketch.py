"""A series' sketches laid out end to end (codec/series_sketch.py): a downsampling from them
picks exactly the points `sketch.downsample` picks from the chunks, in the same order, with
the same refusals, whatever the values (NaN runs, infinities, -0.0), chunk sizes and
max_points."""

from __future__ import annotations

import math
import random
import struct
from array import array

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from runlite.codec import series_sketch, sketch
from runlite.errors import CorruptStoreError

VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, math.nan, 1.0, -1.0, math.inf, -math.inf]))
SIZES = st.sampled_from([1, 2, 3, 100, 511, 512, 513, 1024, 1500, 4099])


def _chunk(offset: int, values: list[float], form: int = 3) -> sketch.Sketch:
    n = len(values)
    steps = array("q", range(offset, offset + n))
    stamps = array("q", range(10 ** 15 + 7 * offset, 10 ** 15 + 7 * (offset + n), 7))
    cols = (steps, None, stamps, array("d", values))
    if form == 1:  # version 1: one zstd frame of row entries
        raw = b"".join(struct.pack("<I", c) + b"".join(struct.pack("<Iqdqd", *p) for p in pts)
                       for c, pts in sketch.blocks(*cols, has_nan=True))
        return sketch.load(zstandard.ZstdCompressor(level=1, write_content_size=True).compress(raw), n)
    if form == 2:
        return sketch.load(sketch.encode(sketch.blocks(*cols, has_nan=True)), n)
    stored = sketch.make(*cols, has_nan=True)
    if stored == sketch.NONE_STORED:  # a chunk of one block stores none: a read makes it of its points
        return sketch.from_blocks(sketch.blocks(*cols, has_nan=True))
    return sketch.load(stored, n)


def _series(chunks: list[list[float]], forms=(3,)) -> list[tuple]:
    """``(offset, count, min, max, Sketch)`` per chunk, the extremes as a chunk row stores them."""
    items, offset = [], 0
    for k, values in enumerate(chunks):
        real = [v for v in values if v == v]
        items.append((offset, len(values), min(real) if real else None, max(real) if real else None,
                      _chunk(offset, values, forms[k % len(forms)])))
        offset += len(values)
    return items


def _walked(items: list[tuple], max_points: int, clamp: bool):
    """What `sketch.downsample` picks, each chunk's sketch loaded only when it asks (as a read
    does: chunks inside one bucket are compared by their stored extremes), as columns."""
    keyed = [(offset, count, low, high, k) for k, (offset, count, low, high, _) in enumerate(items)]
    total = sum(item[1] for item in items)
    picked = sketch.downsample(keyed, total, max_points, lambda k: items[k][4], clamp=clamp)
    if picked is None:
        return None
    return [array("q", [p[1] for p in picked]), array("d", [p[2] for p in picked]),
            array("q", [p[3] for p in picked]), array("d", [p[4] for p in picked])]


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return [c.typecode for c in a] == [c.typecode for c in b] and [c.tobytes() for c in a] == [c.tobytes() for c in b]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(SIZES, st.sampled_from([0.0, 0.02, 0.5, 1.0])), min_size=1, max_size=9),
       st.lists(VALUES, min_size=1, max_size=20), st.integers(0, 2 ** 32),
       st.sampled_from([4, 5, 7, 8, 11, 20, 50, 200, 1000]), st.booleans())
def test_it_picks_what_the_chunk_by_chunk_walk_picks(shape, palette, seed, max_points, clamp):
    rnd = random.Random(seed)
    chunks = [[math.nan if rnd.random() < nan_share else rnd.choice(palette) for _ in range(size)]
              for size, nan_share in shape]
    items = _series(chunks, forms=(3, 2, 1))
    laid = series_sketch.build(items)
    assert laid is not None
    assert _same(laid.downsample(max_points, clamp=clamp), _walked(items, max_points, clamp))


def test_it_picks_the_same_points_on_long_noisy_series_with_many_buckets():
    rnd = random.Random(5)
    for sizes in ([7693] * 20, [1] * 300 + [5000] * 3, [rnd.randint(1, 3000) for _ in range(60)]):
        chunks = [[rnd.gauss(0, 1) if rnd.random() > 0.01 else rnd.choice([math.nan, math.inf, -0.0])
                   for _ in range(size)] for size in sizes]
        items = _series(chunks)
        laid = series_sketch.build(items)
        for max_points in (4, 10, 100, 333, 1000, 3000, 10 ** 6):
            for clamp in (False, True):
                assert _same(laid.downsample(max_points, clamp=clamp), _walked(items, max_points, clamp))


def test_column_is_each_blocks_field_as_point_gives_it_in_every_form():
    values = [math.sin(i / 50) if i % 97 else math.nan for i in range(1500)]
    for form in (1, 2, 3):
        sk = _chunk(40, values, form)
        for which in range(4):
            for field in range(5):
                got = sk.column(which, field)
                want = [sk.point(b, which)[field] - (b * sketch.BLOCK if field == 0 else 0)
                        for b in range(sk.nblocks)]
                assert list(map(repr, got)) == list(map(repr, want))  # NaN too


def test_a_chunk_whose_stored_extremes_are_not_its_sketchs_is_left_to_the_walk():
    items = _series([[1.0, 2.0, 3.0] * 400, [5.0, 6.0] * 600])
    assert series_sketch.build(items) is not None
    lying_min = [items[0], (*items[1][:2], 4.0, *items[1][3:])]
    lying_max = [items[0], (*items[1][:3], 7.0, items[1][4])]
    all_nan_claimed = [items[0], (*items[1][:2], None, *items[1][3:])]
    for items in (lying_min, lying_max, all_nan_claimed):
        assert series_sketch.build(items) is None
    assert series_sketch.build([]) is None


def _misplaced(values: list[float], block: int, which: int, at: int) -> bytes:
    """A chunk's sketch with one point of one block placed at ``at`` of its block."""
    cols = (array("q", range(len(values))), None, array("q", range(len(values))), array("d", values))
    made = sketch.blocks(*cols, has_nan=True)
    count, points = made[block]
    points = list(points)
    points[which] = (at, *points[which][1:])
    made[block] = (count, tuple(points))
    return sketch.encode(made, sketch.block_sums(cols[3]), 0)


def _outcome(pick):
    try:
        got = pick()
    except CorruptStoreError as exc:
        return "refused", str(exc)
    return "picked", None if got is None else [c.tobytes() for c in got]


@pytest.mark.parametrize("block, which", [(0, 0), (1, 0), (1, 1), (2, 2), (3, 3), (1, 3)])
def test_a_point_placed_beyond_its_block_is_refused_when_the_walk_refuses_it(block, which):
    """Refused with the walk's message when a picked point is misplaced, picked the same when
    no bucket picks it."""
    rnd = random.Random(block * 4 + which)
    values = [rnd.random() for _ in range(4 * sketch.BLOCK - 100)]
    data = _misplaced(values, block, which, sketch.BLOCK + 3)
    items = [(0, len(values), min(values), max(values), sketch.load(data, len(values)))]
    laid = series_sketch.build(items)
    outcomes = set()
    for max_points in (5, 8, 11, 14):
        fast = _outcome(lambda: laid.downsample(max_points))
        assert fast == _outcome(lambda: _walked(items, max_points, False))
        outcomes.add(fast[0])
    # max_points=14: a bucket a block, each keeping its min, max and last; only the series'
    # first block's first point is picked
    assert ("refused" in outcomes) == ((block, which) != (1, 0))


def test_too_few_blocks_give_none_unless_clamped():
    items = _series([[float(i) for i in range(3 * sketch.BLOCK)]])
    laid = series_sketch.build(items)
    assert laid.downsample(100) is None and _walked(items, 100, False) is None
    assert _same(laid.downsample(100, clamp=True), _walked(items, 100, True))
