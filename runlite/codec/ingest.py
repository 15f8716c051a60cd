"""A flush's chunk made whole: its statistics row, its blob and its block sketch.

A flush writes each series' new points as a chunk: the statistics its row holds
(`stats.chunk_row`), its blob (`chunks.encode_chunk`) and its block sketch (`sketch.stored`).
`chunk` makes the three from one list of the values. The series of one record shape share
their axis columns (the same steps, times and timestamps objects): what comes of the axis
alone (its ranges, order flags and its columns checked and transformed, `chunks.encoded_axis`)
is made once a flush, in one entry of the caller's ``shared`` dict (`_memo.made_once`), and each
series' values are encoded on it (`chunks.encode_values`).

The statistics of a chunk of one block (at most `sketch.BLOCK` points, more than
`stats.SMALL_GIVEN`) whose values are all finite, nearly every chunk a flush writes, come from
their extremes (a sort) and their sum without `stats.chunk_row`'s checks (`stats.finite_row`),
and such a chunk stores no sketch (`sketch.NONE_STORED`). With the axis checked once, a flush
of 10,000 series of 100 points took about 20% less CPU time (docs/CODEC.md); with it made in
one entry, the extremes from a sort and the column checks not repeated, about 5% less again.
"""

from __future__ import annotations

from array import array

from . import chunks, sketch, stats
from .._memo import made_once
from ..errors import ValidationError

__all__ = ["chunk"]


def chunk(steps: array, times: array | None, timestamps: array, values: array, origin: int,
          shared: dict | None) -> tuple[tuple, bytes, bytes]:
    """``(statistics in ChunkStats field order, blob, stored sketch)`` of one chunk of a
    flush: what `stats.chunk_row`, `chunks.encode_chunk` and `sketch.stored` give for its
    columns (times None for the default ones, counted from ``origin``), made together.
    ``shared``: the dict a flush keeps while its series share axis columns (or None)."""
    n = len(values)
    floats = values.tolist()  # made once for the blocks and the statistics
    one_block = n <= sketch.BLOCK
    # A chunk of one block (at most `sketch.BLOCK` points, nearly every chunk a flush writes)
    # stores no sketch: a read takes its points from the chunk itself (`sketch.NONE_STORED`).
    # Its sum when it holds more than the small lists' points (the statistics' `finite_row`
    # path), None for a NaN or an infinity.
    total = stats.finite_sum(floats) if stats.SMALL_GIVEN < n and one_block else None
    if total is not None:
        # Finite values: a sorted copy gives their extremes sooner than min and max (CPython
        # sorts a list of floats with a float-only compare: 100 values in ~4 us, not ~6), and
        # index() their first places.
        ordered = sorted(floats)
        lo, hi = ordered[0], ordered[-1]
        extremes = (lo, hi, floats.index(lo), floats.index(hi))
        made = None
    elif one_block:  # a few points, or a NaN or an infinity: the statistics find their extremes
        extremes = made = None
    else:
        # min and max pass over a NaN that does not come first; the statistics see it in their
        # sum and take their NaN-aware path, as `sketch.blocks` with has_nan=False trusts them to.
        made = sketch.blocks(steps, times, timestamps, values, has_nan=False, time_origin_us=origin, floats=floats)
        extremes = sketch.extremes(made)
    # What comes of the axis alone, made once for the series sharing it (a wide record's, a run's
    # short ones at its end): its ranges (default times count from the origin: it is in the key),
    # its order (a one-block chunk stores none) and its columns checked and transformed.
    ranges, flags, axis = made_once(shared, (steps, times, timestamps), (one_block, origin),
                                    lambda: _axis(steps, times, timestamps, values, origin, one_block))
    if len(values) != axis[0]:  # (the series of a shape have its axis' length: as encode_chunk checks)
        raise ValidationError(f"values has {len(values)} points but steps has {axis[0]}; all columns must match")
    row = stats.finite_row(steps, floats, extremes, ranges, total) if total is not None else None
    if row is None:
        row = stats.chunk_row(steps, times, timestamps, values, time_origin_us=origin, extremes=extremes,
                              axis=ranges, floats=floats)
    data = chunks.encode_values(axis, values, origin)
    return row, data, sketch.NONE_STORED if made is None else sketch.stored(made, steps, times, timestamps, values,
                                                                           flags=flags)


def _axis(steps: array, times: array | None, timestamps: array, values: array, origin: int,
          one_block: bool) -> tuple:
    """``(ranges, order flags, encoded axis)`` of a chunk's axis columns. The flags are found
    first: a column they show ascending has its range at its ends (one comparison of each
    column, not a comparison and a search of its range)."""
    flags = None if one_block else sketch.order(steps, times, timestamps)
    ranges = None
    if len(values) > 1:
        rise = flags or 0
        ranges = stats.axis_ranges(steps, times, timestamps, origin, steps_rise=bool(rise & sketch.STEPS_ASCEND),
                                   stamps_rise=bool(rise & sketch.TIMESTAMPS_ASCEND),
                                   times_rise=bool(rise & sketch.TIMES_ASCEND))
    return ranges, flags, chunks.encoded_axis(steps, times, timestamps, values, origin)
