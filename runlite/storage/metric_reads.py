"""Reading metric series: names, points (windowed, downsampled), summaries, window stats.

Reads decode whole chunks; window statistics combine the stored statistics of chunks that
lie inside the window (Chan's parallel formulas) and decode only the boundary chunks.

Every read is bounded before it decodes, whatever the file holds. A chunk row's numbers are
checked first (a count from 1 to ``MAX_CHUNK_POINTS``, statistics that are numbers, stored
sizes no larger than that count can take), and a chunk's header and sketch must agree with
its row's count, so the counts bound all the work. Then a read refuses with ``LimitError``,
before it inflates anything, to return more than ``MAX_READ_POINTS`` points or to decode more
than ``MAX_DECODE_POINTS``; downsampling (``max_points``) reads only the sketches it needs
and at most ``MAX_SKETCH_BLOCKS`` sketch blocks. Compression lets a small file declare
billions of points, so these caps, not the file's size, are what bound memory and time.
"""

from __future__ import annotations

import numbers
from array import array
from itertools import chain, islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Iterator

from .. import _lazy, errors
from ..codec import chunks, series_sketch, sketch, stats
from . import kept_reads
from .chunk_rows import (AXES, AXIS_COLUMNS, SKETCH_BATCH, STORED_TYPES, UNSOUND_SQL, Chunk, chunk_rows, chunk_sketch,
                         decode, inside_sql, inside_stats, load_sketch, sketch_blobs, sketches, window_sql)
from .stat_rows import STAT_COLUMNS, stats_from_row, stats_tuple
from .._validation import check_name, shown, to_us

if TYPE_CHECKING:
    from ..records.series import Series, Stats

series_records = _lazy.module("runlite.records.series")  # made by reads alone: logging makes none

# A read returns at most this many points (32 MiB a column): docs/GUARANTEES.md holds the
# memory bound this gives. Longer windows are read with max_points or in narrower windows.
MAX_READ_POINTS = 1 << 22
# Points a read may inflate (one chunk at a time): boundary chunks of a window, which a
# sorted axis keeps to two.
MAX_DECODE_POINTS = 1 << 24
# Sketch blocks a downsampled read may inflate; one covers 512 points, and a read needs at
# most about four chunks' sketches a bucket.
MAX_SKETCH_BLOCKS = 1 << 21
# Chunk rows a points read holds (a few dozen MiB of them): 2**30 points in runlite's chunks.
MAX_READ_CHUNKS = 1 << 17

_ENDS_HINT = ("chunks overlapping the window's ends hold that many (an unordered axis); pass a narrower"
              " start/stop")
def check_axis(xaxis: Any) -> str:
    """``step``, ``time`` or ``timestamp``."""
    if not isinstance(xaxis, str) or xaxis not in AXES:  # a list would not even hash
        raise errors.ValidationError(f"xaxis must be 'step', 'time' or 'timestamp', got {shown(xaxis)}")
    return xaxis


def check_max_points(max_points: Any) -> None:
    """None, or an int >= 4 (a bucket keeps its min, max and last; the ends are kept)."""
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 4):
        raise errors.ValidationError(f"max_points must be None or an int >= 4, got {shown(max_points)}")


def check_bound(value: Any, xaxis: str, what: str):
    """A window bound on ``xaxis``: an int step, seconds, or a timestamp (-> microseconds)."""
    if value is None:
        return None
    if xaxis == "timestamp":
        return to_us(value, what)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise errors.ValidationError(f"{what} must be a number on the {xaxis} axis, got {shown(value)}")
    return value


def find_series(conn, run_id: str, name: str, asset: str | None) -> int:
    check_name(name, "metric name")
    key = "" if asset is None else check_name(asset, "asset")
    found = conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ? AND asset = ?",
                         (run_id, name, key)).fetchone()
    if found is None:
        assets = [r[0] for r in conn.execute(
            "SELECT asset FROM series WHERE run_id = ? AND name = ? ORDER BY asset", (run_id, name))]
        if assets:
            shown = ", ".join(repr(a or None) for a in assets)
            raise errors.NotFoundError(f"metric {name!r} of run {run_id} has no asset {asset!r}; it has {shown}")
        raise errors.NotFoundError(f"run {run_id} has no metric {name!r}")
    return found[0]


SYSTEM_SERIES = "system/"  # the series runlite.system samples (docs/SYSTEM.md)


def last_steps(conn, run_id: str) -> dict:
    """A run's last stored steps: ``last_step`` over its series but the system metrics' (None
    with none), ``last_steps`` by name (series without an asset), and ``system_step``, the
    system metrics' own (they count their samples and never move the steps log_metrics gives)."""
    # A series' largest step is its chunks' largest step_hi (its max_step is its largest value's).
    highest = conn.execute("SELECT s.name, s.asset, max(c.step_hi) FROM series AS s JOIN chunks AS c"
                           " ON c.series_id = s.id WHERE s.run_id = ? GROUP BY s.id", (run_id,)).fetchall()
    own = [step for name, _, step in highest if not name.startswith(SYSTEM_SERIES)]
    system = [step for name, _, step in highest if name.startswith(SYSTEM_SERIES)]
    return {"last_step": max(own, default=None), "last_steps": {name: step for name, asset, step in highest
                                                                if asset == ""},
            "system_step": max(system, default=None)}


def run_name(conn, run_id: str) -> str | None:
    """The run's name, which its series carry (None for no such run)."""
    row = conn.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def metric_names(conn, run_id: str) -> list[str]:
    """Sorted distinct metric names of a run."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT name FROM series WHERE run_id = ? ORDER BY name", (run_id,))]


def metric_series(conn, run_id: str) -> list[tuple[str, str | None, int]]:
    """(name, asset or None, point count) of every series of a run."""
    out = []
    for name, asset, count in conn.execute(
            "SELECT name, asset, count FROM series WHERE run_id = ? ORDER BY name, asset", (run_id,)):
        if type(count) is not int or count < 0:  # a damaged cell: SQLite columns keep any type
            raise errors.CorruptStoreError(f"metric {shown(name)} of run {run_id}: its stored count "
                                           f"{shown(count, 40)} is not a number of points")
        out.append((name, asset or None, count))
    return out


# ---------------------------------------------------------------- chunk rows, checked


def _chunks(conn, series_id: int, xaxis: str, start, stop, what: str) -> list[Chunk]:
    """The window's chunks, at most ``MAX_READ_CHUNKS`` of them (a read holds them all)."""
    out = []
    for seq, stored, inside, sizes in chunk_rows(conn, series_id, xaxis, start, stop, what):
        if len(out) == MAX_READ_CHUNKS:
            raise errors.LimitError(f"{what}: this read spans more than {MAX_READ_CHUNKS:,} chunks; pass a"
                                    " narrower start/stop (Store.pack() rewrites small chunks as full ones)")
        out.append(Chunk(seq, stored, inside, sizes))
    return out


def _limit(what: str, count: int, verb: str, cap: int, hint: str) -> errors.LimitError:
    return errors.LimitError(f"{what}: this read would {verb} {count:,} points, more than the {cap:,} one"
                             f" call may; {hint}")


# ---------------------------------------------------------------- points


class _Columns:
    """The window's columns, allocated once at their final size (the rows' counts are exact)
    and filled in log order: growing them chunk by chunk would copy each column many times
    and, at the moment of each copy, hold it twice.

    Default times are left for `Series` to derive while every chunk so far has them from one
    origin (the common case); made explicit as soon as one chunk stores times or counts from
    another origin.
    """

    def __init__(self, total: int, lazy: bool):
        self.lazy = lazy
        self.cols = [array("q", [0]) * total, None, array("q", [0]) * total, array("d", [0.0]) * total]
        self.at = 0
        self.origin = None

    def add(self, cols: list, origin: int) -> None:
        steps, times, stamps, values = cols
        mine, at = self.cols, self.at
        end = at + len(values)
        if mine[1] is None and (times is not None or self.origin not in (None, origin)):
            mine[1] = array("d", [0.0]) * len(mine[0])
            if at:
                mine[1][:at] = chunks.derived_times(mine[2][:at], self.origin)
        if mine[1] is None:
            self.origin = origin
        else:
            mine[1][at:end] = times if times is not None else chunks.derived_times(stamps, origin)
        mine[0][at:end] = steps  # same type and length: one memcpy each
        mine[2][at:end] = stamps
        mine[3][at:end] = values
        self.at = end

    def finish(self) -> tuple[list, int | None]:
        """The columns, and the time origin when times are left to derive."""
        cols = self.cols
        for col in cols:
            if col is not None and len(col) > self.at:  # only if a chunk held fewer than counted
                del col[self.at:]
        if cols[1] is None:
            if self.lazy and self.origin is not None:
                return cols, self.origin
            cols[1] = array("d") if self.origin is None else chunks.derived_times(cols[2], self.origin)
        return cols, None


def _claimed_rows(conn, series_id: int, seq: int, count: int, sizes: tuple, xaxis: str, start, stop,
                  what: str) -> tuple:
    """``(rows, sketch)`` of a window's boundary chunk: when its sketch claims the axis never
    decreases, the rows of the blocks about the window (only those are decoded, and cut by
    bisection alone) and that sketch; else ``(None, None)`` (the whole chunk, cut and proved).
    A chunk of one block has a version-2 sketch, which claims nothing: it is not read."""
    if count <= sketch.BLOCK:
        return None, None
    made = chunk_sketch(conn, series_id, seq, count, sizes[1], what)
    if not (made.flags and made.flags & sketch.AXIS_ASCENDS[xaxis]):
        return None, None
    return made.rows_between(xaxis, start, stop), made


def _boundaries(conn, series_id: int, rows: list[Chunk], xaxis: str, start, stop, *, sketches: bool,
                what: str) -> dict:
    """The window's boundary chunks decoded one at a time: seq -> (points inside the window,
    their columns or None once more than a read returns are held, their `Sketch` or None)."""
    partial = [r for r in rows if not r.inside]
    need = sum(r.count for r in partial)
    if need > MAX_DECODE_POINTS:
        raise _limit(what, need, "decode", MAX_DECODE_POINTS, _ENDS_HINT)
    out, held, k = {}, 0, AXES[xaxis][2]
    for r in partial:
        cut, claimed = _claimed_rows(conn, series_id, r.seq, r.count, r.sizes, xaxis, start, stop, what)
        cols, origin = decode(conn, series_id, r.seq, r.count, r.sizes[0], what, rows=cut)
        derived = k == 1 and cols[1] is None
        if derived:  # cut by its default times, then left to derive as any other chunk's
            cols[1] = chunks.derived_times(cols[2], origin)
        part = stats.window_columns(cols, k, start, stop, ascending=claimed is not None)
        if part is None:
            out[r.seq] = (0, None, None, origin)
            continue
        if derived:
            part = [part[0], None, part[2], part[3]]
        n = len(part[3])
        held += n
        made = None
        if sketches:  # values != values: C-level, True when a NaN is there whatever the row says
            made = sketch.from_blocks(sketch.blocks(*part, has_nan=part[3] != part[3], time_origin_us=origin))
        out[r.seq] = (n, part if held <= MAX_READ_POINTS else None, made, origin)
    return out


# Chunks of at most this many points on average are downsampled from their sketches however
# few points a bucket holds: their decoding is mostly fixed cost (measured: 100-point chunks
# decode as fast as their sketches are read, 1-point chunks several times slower).
_TINY_CHUNK = 8


# A kept re-read passes over its rows at C speed: the rest of it is a few C-level passes too.
_INSIDE, _COUNT = attrgetter("inside"), attrgetter("count")
# A series of at most this many sketch blocks (8,388,608 points in full chunks) is laid out
# whole for re-reads: about 480 bytes a block kept, and the ranks' range minima (`series_sketch.build`).
_LAID_OUT_BLOCKS = 1 << 14


def _laid_out(conn, series_id: int, rows: list[Chunk], seen: tuple, window: tuple, max_points: int, what: str):
    """The `series_sketch.SeriesSketch` of a window's chunks (all inside it), kept while the
    file is unchanged (`kept_reads`, beside the window's rows), or None.

    Made only by a read that may read every chunk's sketch: one of at least a bucket for four
    chunks, as the chunk by chunk walk may (`sketch.downsample` reads at most about four a
    bucket); a coarser read uses it only once made. Kept as False when the series is too
    long, or its sketches or rows do not all read back sound: the chunk by chunk walk, which
    reads only the sketches it needs, then says what is wrong if it reaches it.
    """
    key = ("laid out", *window)
    laid = kept_reads.get(seen, key)
    if laid is not None or len(rows) > 4 * max(1, (max_points - 2) // 3) + 2:
        return laid
    laid = False
    if sum(sketch.block_count(r.count) for r in rows) <= _LAID_OUT_BLOCKS:
        wanted = [(i, r.seq, r.count, r.sizes[1]) for i, r in enumerate(rows)]
        try:
            made = dict(sketches(conn, series_id, wanted, what))
        except errors.CorruptStoreError:
            made = None
        if made is not None:
            items, offset = [], 0
            for i, r in enumerate(rows):
                items.append((offset, r.count, r.min, r.max, made[i]))
                offset += r.count
            laid = series_sketch.build(items) or False
    kept_reads.put(seen, key, laid, laid.nbytes if laid else 64)
    return laid


def _by_sketch(conn, series_id: int, rows: list[Chunk], partials: dict, max_points: int, *,
               clamp: bool, what: str, seen: tuple | None = None, window: tuple = ()):
    """Downsampled points from block sketches as columns (steps, times, timestamps, values), or
    None to take the exact (decoding) path. ``seen``: the rows were kept (`kept_reads`, for
    ``window``) and the file is unchanged since; a window of whole chunks is then downsampled
    from the series laid out (`series_sketch`), made on the first such re-read and kept."""
    if seen is not None and all(map(_INSIDE, rows)):
        laid = _laid_out(conn, series_id, rows, seen, window, max_points, what)
        if laid:
            try:
                return laid.downsample(max_points, clamp=clamp)
            except errors.CorruptStoreError as exc:
                raise errors.CorruptStoreError(f"{what}: {exc}") from None
    items, offset = [], 0
    for r in rows:
        if r.inside:
            items.append((offset, r.count, r.min, r.max, r))
            offset += r.count
        else:
            n, _, made, _ = partials[r.seq]
            if n:
                items.append((offset, n, None, None, made))
                offset += n
    spent = 0
    inside = [r for r in rows if r.inside]
    order = {r.seq: i for i, r in enumerate(inside)}
    fetched: dict = {}  # sketches read ahead, not yet loaded

    def load(chunk: Chunk) -> sketch.Sketch:
        nonlocal spent
        spent += sketch.block_count(chunk.count)
        if spent > MAX_SKETCH_BLOCKS:
            raise errors.LimitError(
                f"{what}: downsampling would read more than {MAX_SKETCH_BLOCKS:,} sketch blocks"
                f" ({sketch.BLOCK} points each); pass a smaller max_points or a narrower start/stop")
        if chunk.sizes[1] > sketch.stored_size_bound(chunk.count):
            raise errors.CorruptStoreError(f"chunk {chunk.seq}: stores a sketch of {chunk.sizes[1]} bytes, more"
                                           f" than {chunk.count} points take")
        data = fetched.pop(chunk.seq, None)
        if data is None:  # this sketch and those of the next inside chunks, in one query
            i = order[chunk.seq]
            group = [r for r in islice(inside, i, i + SKETCH_BATCH)
                     if r.sizes[1] <= sketch.stored_size_bound(r.count)]
            fetched.update(sketch_blobs(conn, series_id, [r.seq for r in group]))
            data = fetched.pop(chunk.seq, None)
        return load_sketch(conn, series_id, chunk.seq, chunk.count, data)

    try:
        picked = sketch.downsample(items, offset, max_points, load, clamp=clamp)
    except errors.CorruptStoreError as exc:  # one prefix naming the series, whichever check refused
        raise errors.CorruptStoreError(f"{what}: {exc}") from None
    if picked is None:
        return None
    return [array("q", [p[1] for p in picked]), array("d", [p[2] for p in picked]),
            array("q", [p[3] for p in picked]), array("d", [p[4] for p in picked])]


def open_window(conn, run_id: str, name: str, xaxis: str, start, stop, asset) -> tuple:
    """``(start, stop, series id, what)`` of a read of one series over a window: the axis and
    bounds checked, the series found (NotFoundError otherwise), ``what`` naming it in errors."""
    check_axis(xaxis)
    start = check_bound(start, xaxis, "start")
    stop = check_bound(stop, xaxis, "stop")
    return start, stop, find_series(conn, run_id, name, asset), f"metric {name!r} of run {run_id}"


def values(conn, run_id: str, name: str, *, xaxis: str, start, stop, asset, max_points) -> Series:
    """The points of one series (see ``Store.metric_values``)."""
    check_max_points(max_points)
    start, stop, series_id, what = open_window(conn, run_id, name, xaxis, start, stop, asset)
    # A downsampled re-read of an unchanged file (a dashboard's) takes the rows it listed before.
    seen = kept_reads.version(conn) if max_points is not None else None
    window = (series_id, xaxis, start, stop)
    rows = kept_reads.get(seen, ("rows", *window))
    if rows is None:
        rows = _chunks(conn, series_id, xaxis, start, stop, what)
        kept_reads.put(seen, ("rows", *window), rows, 256 * len(rows) + 64)
        seen = None  # a first read: the series is laid out for re-reads only
    partials = _boundaries(conn, series_id, rows, xaxis, start, stop, sketches=max_points is not None, what=what)
    total = (sum(r.count if r.inside else partials[r.seq][0] for r in rows) if partials
             else sum(map(_COUNT, rows)))
    if max_points is not None and total > max_points and (
            total >= 2 * sketch.BLOCK * max_points // 3 or total > MAX_READ_POINTS
            or (len(rows) >= 2 * max(1, (max_points - 2) // 3) and total <= _TINY_CHUNK * len(rows))):
        # Many points a bucket (or more than a read returns), or chunks of a few points each,
        # two or more a bucket (a slow loop's flushes): the sketches, with one bucket a block
        # at most when the points are too many to decode. A small chunk is one block, whose
        # sketch holds its min, max and last exactly; decoding it costs many times more.
        cols = _by_sketch(conn, series_id, rows, partials, max_points, clamp=total > MAX_READ_POINTS, what=what,
                          seen=seen, window=window)
        if cols is not None:
            return series_records.Series(name=name, asset=asset, steps=cols[0], times=cols[1],
                                         timestamps=cols[2], values=cols[3], run_id=run_id,
                                         run_name=run_name(conn, run_id))
    if total > MAX_READ_POINTS:
        raise _limit(what, total, "return", MAX_READ_POINTS, "pass max_points to downsample, or read it in"
                     " start/stop windows")
    acc = _Columns(total, lazy=max_points is not None or xaxis != "time")
    for r in rows:
        if r.inside:
            acc.add(*decode(conn, series_id, r.seq, r.count, r.sizes[0], what))
        else:
            n, part, _, origin = partials.pop(r.seq)  # held once: the columns take them over
            if n:
                acc.add(part, origin)
    cols, origin = acc.finish()
    if max_points is not None:
        if len(cols[3]) > max_points:  # equal-count buckets: any column gives downsample the count
            keep = stats.downsample(cols[0], cols[3], max_points)
            cols = [None if c is None else array(c.typecode, map(c.__getitem__, keep)) for c in cols]
        if origin is not None:  # default times of the kept points only (a third of the read's work)
            cols[1], origin = chunks.derived_times(cols[2], origin), None
    return series_records.Series(name=name, asset=asset, steps=cols[0], times=cols[1], timestamps=cols[2],
                                 values=cols[3], time_origin_us=origin, run_id=run_id,
                                 run_name=run_name(conn, run_id))


def check_points(points: Any) -> int:
    """A piece size: an int from 1 to ``MAX_READ_POINTS`` (None: 2^20 points, ~32 MiB of columns)."""
    if points is None:
        return min(1 << 20, MAX_READ_POINTS)
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_READ_POINTS:
        raise errors.ValidationError(f"points must be an int from 1 to {MAX_READ_POINTS:,}, got {shown(points)}")
    return points


def pieces(conn, run_id: str, name: str, asset: str | None, *, points: int) -> Iterator[Series]:
    """A whole series in log order, as pieces of whole chunks holding at most ``points`` points
    each (a chunk larger than that is a piece of its own): for exports, which must not hold a
    long series at once. Call inside one read transaction."""
    series_id = find_series(conn, run_id, name, asset)
    what = f"metric {name!r} of run {run_id}"
    label = {"run_id": run_id, "run_name": run_name(conn, run_id)}
    group: list[Chunk] = []
    held = 0
    for r in chain(_chunks(conn, series_id, "step", None, None, what), (None,)):
        if group and (r is None or held + r.count > points):
            acc = _Columns(held, lazy=False)
            for g in group:
                acc.add(*decode(conn, series_id, g.seq, g.count, g.sizes[0], what))
            cols, _ = acc.finish()
            yield series_records.Series(name=name, asset=asset, steps=cols[0], times=cols[1],
                                        timestamps=cols[2], values=cols[3], **label)
            group, held = [], 0
        if r is not None:
            group.append(r)
            held += r.count


# ---------------------------------------------------------------- statistics


def to_stats(chunk: stats.ChunkStats | None) -> Stats:
    """The public Stats of a ChunkStats (count 0 for no points)."""
    if chunk is None:
        return series_records.Stats(count=0)
    return series_records.Stats(count=chunk.count, nan_count=chunk.nan_count, min=chunk.min, max=chunk.max,
                                avg=chunk.mean, var_pop=chunk.var_pop, first=chunk.first, last=chunk.last,
                                first_step=chunk.first_step, last_step=chunk.last_step, min_step=chunk.min_step,
                                max_step=chunk.max_step)


def summary(conn, run_id: str, name: str, asset) -> Stats:
    """The series' summary, kept at ingest: one row read, no points decoded."""
    series_id = find_series(conn, run_id, name, asset)
    row = conn.execute("SELECT " + ", ".join(STAT_COLUMNS) + " FROM series WHERE id = ?", (series_id,)).fetchone()
    if row is None:  # the index found it, the table has no such row: a damaged file
        raise errors.CorruptStoreError(f"metric {name!r} of run {run_id}: series {series_id!r} is in the index only")
    return summary_of_row(row, run_id, name)


def summary_of_row(row: tuple, run_id: str, name: str) -> Stats:
    """The Stats of a series row's ``STAT_COLUMNS`` cells, checked (CorruptStoreError when a
    cell is not a count or a number: SQLite columns keep any type)."""
    count, nan_count = row[0], row[1]
    if (type(count) is not int or count < 0 or type(nan_count) is not int or not 0 <= nan_count <= count
            or not STORED_TYPES.issuperset(map(type, row))):
        raise errors.CorruptStoreError(f"metric {name!r} of run {run_id}: its summary holds values that are"
                                       f" not counts and numbers ({row!r:.120})")
    return to_stats(stats_from_row(row, STAT_COLUMNS) if count else None)


def window_stats(conn, run_id: str, name: str, *, xaxis: str, start, stop, asset) -> Stats:
    """Statistics of the points with ``start <= axis <= stop``, decoding boundary chunks only.

    One aggregate pass sizes the window: the chunks inside it and those on its ends. Many
    inside chunks are merged by SQLite (`inside_stats`), a few by `stats.merge_many`; the
    ends are decoded and cut (`_end_parts`). Rows that are not sound, or ends interleaved
    with inside chunks (an unsorted axis), take the row-by-row path, which says what is wrong.
    """
    start, stop, series_id, what = open_window(conn, run_id, name, xaxis, start, stop, asset)
    head = list(chunk_rows(conn, series_id, xaxis, start, stop, what, limit=_FEW_CHUNKS + 1))
    if len(head) <= _FEW_CHUNKS:  # a short window (the common one): its rows are all here
        need = sum(stored[0] for _, stored, inside, _ in head if not inside)
        if need > MAX_DECODE_POINTS:
            raise _limit(what, need, "decode", MAX_DECODE_POINTS, _ENDS_HINT)
        return to_stats(stats.merge_many(_row_parts(conn, series_id, xaxis, start, stop, what, head)))
    where, params = window_sql(xaxis, start, stop)
    inside, inside_params = inside_sql(xaxis, start, stop)
    # One pass, no GROUP BY (its sorter would copy every row's blob to take its length).
    n_inside, n_ends, need, lo_seq, hi_seq, bad = conn.execute(
        "SELECT total(ins), total(NOT ins), total(CASE WHEN ins THEN 0 ELSE count END),"
        " min(CASE WHEN ins THEN seq END), max(CASE WHEN ins THEN seq END), total(bad)"
        f" FROM (SELECT coalesce({inside}, 0) != 0 AS ins, count, seq, {UNSOUND_SQL} AS bad"
        f" FROM chunks WHERE series_id = ?{where})", (*inside_params, series_id, *params)).fetchone()
    if need > MAX_DECODE_POINTS:
        raise _limit(what, int(need), "decode", MAX_DECODE_POINTS, _ENDS_HINT)
    if bad or n_inside <= _MERGED_IN_PYTHON:
        return to_stats(stats.merge_many(_row_parts(conn, series_id, xaxis, start, stop, what)))
    parts = _end_parts(conn, series_id, xaxis, start, stop, what, inside, inside_params) if n_ends else []
    if any(lo_seq < seq < hi_seq for seq, _ in parts):
        return to_stats(stats.merge_many(_row_parts(conn, series_id, xaxis, start, stop, what)))
    merged = inside_stats(conn, series_id, inside, inside_params)
    if merged is None:  # infinities or overflow: the exact IEEE rules of the row-by-row merge
        return to_stats(stats.merge_many(_row_parts(conn, series_id, xaxis, start, stop, what)))
    ordered = [p for seq, p in parts if seq < lo_seq] + [merged] + [p for seq, p in parts if seq > hi_seq]
    return to_stats(stats.merge_many(ordered))


# A window of at most this many chunks is read row by row, from one query.
_FEW_CHUNKS = 8
# Up to this many inside chunks are merged in Python (exactly the row-by-row result); more are
# merged by one SQLite aggregate, which costs the same for 20 chunks or 20,000.
_MERGED_IN_PYTHON = 16

def _row_parts(conn, series_id: int, xaxis: str, start, stop, what: str, rows=None):
    """Statistics of the window in log order, row by row: inside chunks from their stored
    statistics, boundary chunks decoded and cut (streamed: one chunk held at a time)."""
    need = 0
    for seq, stored, inside, sizes in rows or chunk_rows(conn, series_id, xaxis, start, stop, what):
        if inside:
            yield stats_tuple(stored)
            continue
        need += stored[0]
        if need > MAX_DECODE_POINTS:
            raise _limit(what, need, "decode", MAX_DECODE_POINTS, _ENDS_HINT)
        part = _cut_stats(conn, series_id, seq, stored[0], sizes, xaxis, start, stop, what)
        if part is not None:
            yield part


def _cut_stats(conn, series_id: int, seq: int, count: int, sizes: tuple, xaxis: str, start, stop, what: str):
    """Statistics of one decoded chunk's points inside the window, or None."""
    rows, claimed = _claimed_rows(conn, series_id, seq, count, sizes, xaxis, start, stop, what)
    if rows is not None and rows[0] == rows[1]:
        return None
    cols, _ = decode(conn, series_id, seq, count, sizes[0], what, columns=AXIS_COLUMNS[xaxis], rows=rows)
    axis = AXES[xaxis][2]
    picked = stats.window_columns(cols, axis, start, stop, ascending=claimed is not None)
    if picked is None:
        return None
    extremes = None
    if claimed is not None:  # the blocks wholly in the window give their extremes from the sketch
        first = rows[0] + stats.bisected(cols[axis], start, stop)[0]
        extremes = sketch.window_extremes(claimed, first, picked[3])
    return stats.window_part(picked[0], picked[3], extremes)


def _end_parts(conn, series_id: int, xaxis: str, start, stop, what: str, inside: str, params: list) -> list:
    """``(seq, statistics)`` of the window's boundary chunks' points in the window."""
    out = []
    for seq, stored, _, sizes in chunk_rows(conn, series_id, xaxis, start, stop, what,
                                             also=(f" AND NOT coalesce({inside}, 0)", params)):
        part = _cut_stats(conn, series_id, seq, stored[0], sizes, xaxis, start, stop, what)
        if part is not None:
            out.append((seq, part))
    return out
