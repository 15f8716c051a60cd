"""A flush's chunk made whole (runlite.codec.ingest): the statistics row, blob and sketch each
series' new points get are, bit for bit, what `stats.chunk_row`, `chunks.encode_chunk` and
`sketch.make` give each alone, whichever way the chunk takes (one block without NaN extremes,
or the general one), its axis shared with other series or not, in the pure and numpy paths."""

from __future__ import annotations

import math
import os
import random
import struct
from array import array

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runlite.codec import chunks, ingest, sketch, stats
from runlite.errors import ValidationError

from .strategies import CODEC_MODES, codec_mode, special_floats

ORIGIN = 1_700_000_000_000_000
FULL = bool(os.environ.get("RUNLITE_FULL"))
# Around the boundaries of each way: one point, the small lists' path (8), a plain chunk (64),
# one frame, a frame a column (256), one block (512), several.
SIZES = (1, 2, 8, 9, 64, 65, 100, 255, 256, 512, 513, 1100)


def _bits(row: tuple) -> tuple:
    """A row's fields, floats as their bit patterns (NaN payloads and -0.0 compared too)."""
    return tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row)


def _alone(steps, times, stamps, values, origin: int) -> tuple:
    return (_bits(stats.chunk_row(steps, times, stamps, values, time_origin_us=origin)),
            chunks.encode_chunk(steps, times, stamps, values, time_origin_us=origin),
            sketch.make(steps, times, stamps, values, has_nan=False, time_origin_us=origin))


def _value_column(rng: random.Random, n: int, kind: str) -> array:
    if kind == "curve":
        return array("d", [2 * math.exp(-i / 300) + rng.gauss(0, 1e-3) for i in range(n)])
    if kind == "constant":
        return array("d", [0.25] * n)
    if kind == "ties":  # equal extremes, -0.0 beside 0.0: the first of each is the one kept
        return array("d", [rng.choice([-0.0, 0.0, 1.0, -1.0]) for _ in range(n)])
    special = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, -1e308]
    values = array("d", [rng.gauss(0, 1) for _ in range(n)])
    for _ in range(rng.randint(1, 3)):
        values[rng.randrange(n)] = rng.choice(special)
    if kind == "nan first":
        values[0] = math.nan
    return values


@pytest.mark.parametrize("mode", CODEC_MODES)
@pytest.mark.parametrize("explicit_times", [False, True])
def test_a_flush_chunk_is_what_each_codec_makes_alone(mode, explicit_times):
    rng = random.Random(f"{mode}{explicit_times}")
    with codec_mode(mode):
        for n in SIZES:
            steps = array("q", range(5, 5 + n)) if n % 2 else array("q", [rng.randrange(1000) for _ in range(n)])
            stamps = array("q", sorted(ORIGIN + rng.randrange(10 ** 9) for _ in range(n)))
            times = array("d", [rng.uniform(0, 1e4) for _ in range(n)]) if explicit_times else None
            shared: dict = {}  # the series of one record shape: their axis shared
            for kind in ("curve", "constant", "ties", "special", "nan first"):
                values = _value_column(rng, n, kind)
                origin = rng.choice([ORIGIN, 0])
                row, data, made = ingest.chunk(steps, times, stamps, values, origin, shared)
                assert (_bits(row), data, made) == _alone(steps, times, stamps, values, origin), (n, kind)
                again, *blobs = ingest.chunk(steps, times, stamps, values, origin, None)  # nothing shared
                assert (_bits(again), *blobs) == (_bits(row), data, made)


@settings(max_examples=60 * (10 if FULL else 1), deadline=None)
@given(values=st.lists(st.one_of(special_floats, st.floats(-4, 4)), min_size=1, max_size=80),
       explicit_times=st.booleans())
@example(values=[-1.7976931348623157e308] * 3, explicit_times=False)  # a sum beyond the float range (a random run's)
def test_any_values_make_the_same_chunk(values, explicit_times):
    n = len(values)
    steps, stamps = array("q", range(n)), array("q", range(ORIGIN, ORIGIN + 1000 * n, 1000))
    times = array("d", [0.5 * i for i in range(n)]) if explicit_times else None
    values = array("d", values)
    row, data, made = ingest.chunk(steps, times, stamps, values, ORIGIN, {})
    assert (_bits(row), data, made) == _alone(steps, times, stamps, values, ORIGIN)


@pytest.mark.parametrize("shared", [{}, None])
def test_values_of_another_length_than_their_axis_are_refused(shared):
    steps, stamps = array("q", range(100)), array("q", range(ORIGIN, ORIGIN + 100_000, 1000))
    ingest.chunk(steps, None, stamps, array("d", [1.0] * 100), ORIGIN, shared)  # the axis made (and kept)
    with pytest.raises(ValidationError, match="values has 99 points but steps has 100"):
        ingest.chunk(steps, None, stamps, array("d", [1.0] * 99), ORIGIN, shared)
