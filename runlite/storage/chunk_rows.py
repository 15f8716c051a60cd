"""Chunk rows of a metric series, checked before use: the window's rows, their soundness (in
Python and as SQL), one chunk's blob decoded, chunks' sketches read in batches (the last few
decodes of both kept with their bytes: `recent`), and the statistics of the chunks wholly
inside a window merged by SQLite. Used by `metric_reads`; every number a read trusts passes
here first.
"""

from __future__ import annotations

import math
import operator
from itertools import chain, islice
from typing import Any, Iterator

from .. import errors
from ..codec import chunks, sketch
from .recent import Recent
from .stat_rows import CHUNK_COLUMNS

# axis name -> (low column, high column, index in a decoded chunk)
AXES = {"step": ("step_lo", "step_hi", 0), "time": ("time_lo", "time_hi", 1),
        "timestamp": ("ts_lo", "ts_hi", 2)}
# axis name -> the columns a read along it decodes: the axis, the steps and the values (times
# are derived from the timestamps when not stored).
AXIS_COLUMNS = {"step": ("steps", "values"), "time": ("steps", "times", "values"),
                "timestamp": ("steps", "timestamps", "values")}

STORED_TYPES = frozenset((int, float, type(None)))
_INTS = frozenset((int,))
_NUMBER_TYPES = frozenset((int, float))
_COLUMN_NAMES = ("steps", "times", "timestamps", "values")  # a decoded chunk's order
_BATCH = 4096  # chunk rows checked at once
# Statistics from here on must be numbers, never NULL: the steps and the axis ranges.
REQUIRED_FROM = CHUNK_COLUMNS.index("first_step")


def window_sql(xaxis: str, start, stop) -> tuple[str, list]:
    """The SQL (and its values) keeping the chunk rows that may hold points of the window."""
    lo, hi, _ = AXES[xaxis]
    sql, params = "", []
    # A bound that is not a number (a damaged cell) keeps its row in the window, for the row
    # checks to refuse, instead of silently dropping its points. SQL sorts text and blobs above
    # every number (`x >= ''` holds for them alone) and NULL below; comparisons, not typeof()
    # calls: this runs on every chunk row of the series.
    if start is not None:
        sql += f" AND (NOT {hi} < ? OR {hi} IS NULL)"
        params.append(start)
    if stop is not None:
        sql += f" AND ({lo} <= ? OR {lo} >= '' OR {lo} IS NULL)"
        params.append(stop)
    return sql, params


class Chunk:
    """What a read keeps of one chunk row of its window (the blobs are read only when needed)."""

    __slots__ = ("seq", "count", "nan_count", "min", "max", "inside", "sizes")

    def __init__(self, seq: int, stored: tuple, inside: bool, sizes: tuple):
        self.seq, self.inside, self.sizes = seq, inside, sizes
        self.count, self.nan_count, self.min, self.max = stored[0], stored[1], stored[2], stored[3]


def _refusal(what: str, row: tuple) -> errors.CorruptStoreError:
    """What is wrong with a chunk row the checks in `chunk_rows` refused."""
    seq, data_len, sketch_len, stored = row[0], row[1], row[2], row[3:]
    count, nan_count = stored[0], stored[1]
    if type(count) is not int or not 1 <= count <= chunks.MAX_CHUNK_POINTS:
        why = f"records {count!r:.40} points; a chunk holds 1 to {chunks.MAX_CHUNK_POINTS}"
    elif type(nan_count) is not int or not 0 <= nan_count <= count:
        why = f"records {nan_count!r:.40} NaN values of {count} points"
    elif type(data_len) is not int or type(sketch_len) is not int:
        why = f"stores {data_len!r:.40} bytes of points and a sketch of {sketch_len!r:.40}: no blobs"
    else:
        i = next((i for i, v in enumerate(stored)
                  if type(v) not in STORED_TYPES or (v is None and i >= REQUIRED_FROM)), 0)
        why = f"its {CHUNK_COLUMNS[i]} is {stored[i]!r:.40}, not a number"
    return errors.CorruptStoreError(f"{what}, chunk {seq!r:.40}: {why}")


def chunk_rows(conn, series_id: int, xaxis: str, start, stop, what: str, also: tuple = ("", []),
                limit: int = -1):
    """Yield ``(seq, statistics in CHUNK_COLUMNS order, inside the window, (data bytes, sketch
    bytes))`` per chunk of the window in log order, refusing a row whose numbers no valid chunk
    has. The stored sizes are checked against the count where a blob is read (`decode`, `_by_sketch`)."""
    lo_col, hi_col, _ = AXES[xaxis]
    lo_at, hi_at = CHUNK_COLUMNS.index(lo_col), CHUNK_COLUMNS.index(hi_col)
    where, params = window_sql(xaxis, start, stop)
    # length() of a blob reads no overflow page: sizes are checked before any blob is loaded.
    cursor = conn.execute("SELECT seq, length(data), length(sketch), " + ", ".join(CHUNK_COLUMNS)
                          + f" FROM chunks WHERE series_id = ?{where}{also[0]} ORDER BY seq LIMIT ?",
                          (series_id, *params, *also[1], limit))
    for batch in iter(lambda: list(islice(cursor, _BATCH)), []):
        if not _sound(batch):
            raise next(_refusal(what, row) for row in batch if not _sound([row]))
        for row in batch:
            stored = row[3:]
            yield row[0], stored, ((start is None or stored[lo_at] >= start)
                                   and (stop is None or stored[hi_at] <= stop)), row[1:3]


def _sound(rows: list) -> bool:
    """Whether every row has the numbers of a valid chunk, column by column at C speed (this
    runs for every chunk of every window read; `_refusal` says what is wrong with one)."""
    cols = list(zip(*rows))
    counts, nans = cols[3], cols[4]
    return (_INTS.issuperset(map(type, chain.from_iterable(cols[1:5])))  # lengths and counts
            and STORED_TYPES.issuperset(map(type, chain.from_iterable(cols[5:3 + REQUIRED_FROM])))
            and _NUMBER_TYPES.issuperset(map(type, chain.from_iterable(cols[3 + REQUIRED_FROM:])))
            and 0 < min(counts) and max(counts) <= chunks.MAX_CHUNK_POINTS
            and 0 <= min(nans) and all(map(operator.le, nans, counts)))


# Recent decodes (see `recent`), per process, sized in the bytes they hold (the stored blob
# kept to compare with included): a window's boundary chunks cut to the rows about the window
# (4 MiB at most), and sketches (each made `Sketch` holds about six times its raw bytes once
# read; 4 MiB at most, the sketches of a 2,000,000-point series).
_DECODED = Recent(entries=16, budget=4 << 20)
_SKETCHES = Recent(entries=256, budget=4 << 20)
_SKETCH_HELD = 6


def decode(conn, series_id: int, seq: int, count: int, size: int, what: str,
           columns: tuple | None = None, rows: tuple[int, int] | None = None) -> tuple[list, int]:
    """A chunk's columns (times None when they are the default ones) and its time origin;
    ``size`` is its stored bytes, checked against the count before the blob is loaded.
    ``columns`` (names, as `chunks.decode_columns`) decodes only those, the others None,
    and ``rows`` only those points of them: such a decode of a window's boundary chunk is
    kept (`recent`), and the same blob read again for the same rows is not decoded again."""
    if size > chunks.stored_size_bound(count):
        raise errors.CorruptStoreError(f"{what}, chunk {seq}: stores {size} bytes of points, more than {count}"
                                       " points take")
    data = conn.execute("SELECT data FROM chunks WHERE series_id = ? AND seq = ?", (series_id, seq)).get
    if rows is None:
        return _decoded(data, seq, count, what, columns, rows)
    key, how = (series_id, seq), (count, columns, rows)
    kept = _DECODED.get(key, data, how)
    if kept is None:
        kept = _decoded(data, seq, count, what, columns, rows)
        _DECODED.put(key, data, how, kept, len(data) + sum(8 * len(c) for c in kept[0] if c is not None))
    cols, origin = kept
    return [None if c is None else c[:] for c in cols], origin  # copies: the kept arrays stay as decoded


def _decoded(data: bytes, seq: int, count: int, what: str, columns: tuple | None, rows) -> tuple[list, int]:
    try:
        if columns is not None:
            got = chunks.decode_columns(data, expected_count=count, columns=columns, rows=rows)
            return [got.get(name) for name in _COLUMN_NAMES], chunks.chunk_time_origin(data)
        cols = chunks.decode_chunk(data, derive_times=False, expected_count=count, rows=rows)
        return list(cols), chunks.chunk_time_origin(data)
    except errors.CorruptStoreError as exc:
        raise errors.CorruptStoreError(f"{what}, chunk {seq}: {exc}") from None


def chunk_sketch(conn, series_id: int, seq: int, count: int, sketch_size: int, what: str) -> sketch.Sketch:
    """One chunk's sketch, its stored size checked against the count before it is read."""
    if sketch_size > sketch.stored_size_bound(count):
        raise errors.CorruptStoreError(f"{what}, chunk {seq}: stores a sketch of {sketch_size} bytes, more than"
                                       f" {count} points take")
    data = conn.execute("SELECT sketch FROM chunks WHERE series_id = ? AND seq = ?", (series_id, seq)).get
    try:
        return load_sketch(conn, series_id, seq, count, data)
    except errors.CorruptStoreError as exc:
        raise errors.CorruptStoreError(f"{what}, {exc}") from None


def load_sketch(conn, series_id: int, seq: int, count: int, data: bytes) -> sketch.Sketch:
    """The `Sketch` of a chunk's stored sketch (`sketch.load`), or of its points when it stores
    none (a chunk of one block: `sketch.NONE_STORED`): the one made before from the same bytes
    (`recent`; the chunk's own when it stores none). CorruptStoreError names the chunk."""
    if data == sketch.NONE_STORED:
        return _sketch_of_points(conn, series_id, seq, count)
    made = _SKETCHES.get((series_id, seq), data, count)
    if made is None:
        try:
            made = sketch.load(data, count)
        except errors.CorruptStoreError as exc:
            raise errors.CorruptStoreError(f"chunk {seq}: {exc}") from None
        _SKETCHES.put((series_id, seq), data, count, made, len(data) + _SKETCH_HELD * len(made.raw))
    return made


def _sketch_of_points(conn, series_id: int, seq: int, count: int) -> sketch.Sketch:
    """The sketch of a chunk that stores none, made from its points (its blob checked, as any)."""
    if count > sketch.BLOCK:
        raise errors.CorruptStoreError(f"chunk {seq}: stores no sketch, which only a chunk of at most"
                                       f" {sketch.BLOCK} points may, for {count} points")
    bound = chunks.stored_size_bound(count)  # a longer blob is not loaded
    size, data = conn.execute("SELECT length(data), CASE WHEN length(data) <= ? THEN data END FROM chunks"
                              " WHERE series_id = ? AND seq = ?", (bound, series_id, seq)).fetchone()
    if type(size) is not int or size > bound:
        raise errors.CorruptStoreError(f"chunk {seq}: stores {size!r:.40} bytes of points for {count} points")
    how = ("points", count)  # (not a stored sketch's bytes)
    made = _SKETCHES.get((series_id, seq), data, how)
    if made is None:
        try:
            steps, times, stamps, values = chunks.decode_chunk(data, derive_times=False, expected_count=count)
            origin = chunks.chunk_time_origin(data)
        except errors.CorruptStoreError as exc:
            raise errors.CorruptStoreError(f"chunk {seq}: {exc}") from None
        made = sketch.from_blocks(sketch.blocks(steps, times, stamps, values, has_nan=values != values,
                                                time_origin_us=origin))
        _SKETCHES.put((series_id, seq), data, how, made, len(data) + _SKETCH_HELD * len(made.raw))
    return made


def sketches(conn, series_id: int, wanted: list, what: str) -> Iterator[tuple[Any, sketch.Sketch]]:
    """``(key, Sketch)`` for each ``(key, seq, count, stored sketch size)`` in ``wanted``, read
    ``SKETCH_BATCH`` to a query, each size checked against its count before its blob is read."""
    for at in range(0, len(wanted), SKETCH_BATCH):
        group = wanted[at:at + SKETCH_BATCH]
        for _, seq, count, size in group:
            if size > sketch.stored_size_bound(count):
                raise errors.CorruptStoreError(f"{what}, chunk {seq}: stores a sketch of {size} bytes, more than"
                                               f" {count} points take")
        found = sketch_blobs(conn, series_id, [seq for _, seq, _, _ in group])
        for key, seq, count, _ in group:
            try:
                yield key, load_sketch(conn, series_id, seq, count, found.get(seq))
            except errors.CorruptStoreError as exc:
                raise errors.CorruptStoreError(f"{what}, {exc}") from None


# Sketches read by one query: one query a sketch costs more than the sketch.
SKETCH_BATCH = 32


def sketch_blobs(conn, series_id: int, seqs: list) -> dict:
    """``{seq: stored sketch}`` of these chunks of a series, in one query."""
    return dict(conn.execute("SELECT seq, sketch FROM chunks WHERE series_id = ? AND seq IN ("
                             + ", ".join("?" * len(seqs)) + ")", (series_id, *seqs)))


# 1 for a chunk row `_sound` refuses, as SQL over the row (identifiers from CHUNK_COLUMNS).
UNSOUND_SQL = ("(length(data) IS NULL OR length(sketch) IS NULL"
            " OR typeof(count) != 'integer' OR typeof(nan_count) != 'integer'"
            f" OR count < 1 OR count > {chunks.MAX_CHUNK_POINTS} OR nan_count < 0 OR nan_count > count"
            # SQLite sorts NULL < numbers < text < blobs: `c >= ''` is a text or a blob
            + "".join(f" OR {c} >= ''" for c in CHUNK_COLUMNS[2:REQUIRED_FROM])
            + "".join(f" OR NOT coalesce({c} < '', 0)" for c in CHUNK_COLUMNS[REQUIRED_FROM:])
            + ")")
_FLOAT_MAX = "1.7976931348623157e308"


def inside_sql(xaxis: str, start, stop) -> tuple[str, list]:
    """The SQL test of a chunk lying wholly in the window (what `chunk_rows` calls inside)."""
    lo, hi, _ = AXES[xaxis]
    tests = ([f"{lo} >= ?"] if start is not None else []) + ([f"{hi} <= ?"] if stop is not None else [])
    return "(" + (" AND ".join(tests) or "1") + ")", [v for v in (start, stop) if v is not None]


def inside_stats(conn, series_id: int, inside: str, params: list) -> tuple | None:
    """The merged statistics (a ChunkStats tuple) of the chunks wholly in the window, computed
    by SQLite: counts, extremes and ranges by its aggregates, the mean and M2 by Chan's
    formulas over all chunks at once (``sum`` adds floats with compensation); the extremes'
    steps and the ends from the first chunk holding them, as the pairwise merge keeps them.
    None when a chunk has an infinite or NaN mean or M2, or a sum overflows: those follow the
    row-by-row merge's IEEE rules."""
    key = (series_id, *params)
    (n, nans, low, high, lo_seq, hi_seq, weighted, special, step_lo, step_hi, time_lo, time_hi,
     ts_lo, ts_hi) = conn.execute(
        "SELECT total(count), total(nan_count), min(min), max(max), min(seq), max(seq),"
        " total(CASE WHEN count > nan_count THEN mean * (count - nan_count) END),"
        " total(count > nan_count AND (mean IS NULL OR m2 IS NULL"
        f" OR mean NOT BETWEEN -{_FLOAT_MAX} AND {_FLOAT_MAX} OR m2 > {_FLOAT_MAX})),"
        " min(step_lo), max(step_hi), min(time_lo), max(time_hi), min(ts_lo), max(ts_hi)"
        f" FROM chunks WHERE series_id = ? AND {inside}", key).fetchone()
    n, nans = int(n), int(nans)
    mean = m2 = low_step = high_step = None
    if special or not _finite(weighted):
        return None
    if n > nans:
        mean = weighted / (n - nans)
        m2 = conn.execute(
            "SELECT total(m2) + total((count - nan_count) * (mean - ?) * (mean - ?)) FROM chunks"
            f" WHERE series_id = ? AND {inside} AND count > nan_count", (mean, mean, *key)).get
        if not _finite(m2):
            return None
    picked = {}
    for which, value, step in conn.execute(
            f"SELECT * FROM (SELECT 0, min, min_step FROM chunks WHERE series_id = ? AND {inside}"
            " AND min = ? ORDER BY seq LIMIT 1)"
            f" UNION ALL SELECT * FROM (SELECT 1, max, max_step FROM chunks WHERE series_id = ? AND {inside}"
            " AND max = ? ORDER BY seq LIMIT 1)"
            " UNION ALL SELECT 2, first, first_step FROM chunks WHERE series_id = ? AND seq = ?"
            " UNION ALL SELECT 3, last, last_step FROM chunks WHERE series_id = ? AND seq = ?",
            (*key, low, *key, high, series_id, lo_seq, series_id, hi_seq)):
        picked[which] = (value, step)
    if n > nans:
        if 0 not in picked or 1 not in picked:  # an extreme no row equals: leave it to the exact merge
            return None
        (low, low_step), (high, high_step) = picked[0], picked[1]
    (first, first_step), (last, last_step) = picked[2], picked[3]
    return (n, nans, low, high, low_step, high_step, mean, m2,
            math.nan if first is None else first, math.nan if last is None else last, first_step, last_step,
            step_lo, step_hi, time_lo, time_hi, ts_lo, ts_hi)


def _finite(x) -> bool:
    return type(x) is float and math.isfinite(x)  # SQLite gives NULL for NaN
