"""Statistics as SQL rows and back: the columns of a chunk row and of a series summary, NaN
stored as NULL and read back as NaN where a value must exist (see the schema)."""

from __future__ import annotations

import math
import operator

from ..codec import stats

STAT_COLUMNS = ("count", "nan_count", "min", "max", "min_step", "max_step", "mean", "m2",
                "first", "last", "first_step", "last_step")
CHUNK_COLUMNS = STAT_COLUMNS + ("step_lo", "step_hi", "time_lo", "time_hi", "ts_lo", "ts_hi")
NO_AXES = (0, 0, 0.0, 0.0, 0, 0)  # a series summary keeps no axis ranges: these complete its ChunkStats

# ChunkStats' fields are in CHUNK_COLUMNS order: a ChunkStats as a tuple is its row.
_CHUNK_FIELDS = operator.attrgetter(*CHUNK_COLUMNS)
_NAN = math.nan


def sql_values(values: tuple) -> tuple:
    """Statistics as SQL values: NaN stored as NULL (ints and None equal themselves)."""
    return tuple([None if v != v else v for v in values])


def stats_row(chunk: stats.ChunkStats, columns=CHUNK_COLUMNS) -> tuple:
    """The SQL values of ``chunk`` (NaN stored as NULL), in ``columns`` order."""
    values = _CHUNK_FIELDS(chunk) if columns is CHUNK_COLUMNS else operator.attrgetter(*columns)(chunk)
    return sql_values(values)


def stats_tuple(row: tuple) -> tuple:
    """SQL statistics (``CHUNK_COLUMNS`` or ``STAT_COLUMNS`` order) as a ChunkStats-ordered
    tuple, NULL read back as NaN where a value must exist (see the schema)."""
    count, nan_count, mn, mx, mn_step, mx_step, mean, m2, first, last = row[:10]
    if count > nan_count:
        mean = _NAN if mean is None else mean
        m2 = _NAN if m2 is None else m2
    if count:
        first = _NAN if first is None else first
        last = _NAN if last is None else last
    return (count, nan_count, mn, mx, mn_step, mx_step, mean, m2, first, last) + tuple(row[10:])


def stats_from_row(row: tuple, columns=CHUNK_COLUMNS) -> stats.ChunkStats:
    """A ChunkStats from SQL statistics in ``columns`` order: CHUNK_COLUMNS, or a series
    summary's STAT_COLUMNS (whose axis ranges, not kept, are 0)."""
    if columns != CHUNK_COLUMNS and columns != STAT_COLUMNS:
        raise ValueError("statistics are read in CHUNK_COLUMNS or STAT_COLUMNS order")
    return stats.ChunkStats(*stats_tuple(row), *(NO_AXES if columns == STAT_COLUMNS else ()))
