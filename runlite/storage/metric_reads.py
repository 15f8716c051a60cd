"""Reading metric series: names, points (windowed, downsampled), summaries, window stats.

Reads decode whole chunks; window statistics combine the stored statistics of chunks that
lie inside the window (Chan's parallel formulas) and decode only the boundary chunks.
"""

from __future__ import annotations

import numbers
from array import array
from typing import Any

from .. import errors
from ..codec import chunks, sketch, stats
from .metrics import CHUNK_COLUMNS, STAT_COLUMNS, stats_from_row, stats_tuple
from ..records import Series, Stats
from .._validation import check_name, to_us

# axis name -> (low column, high column, index in a decoded chunk)
AXES = {"step": ("step_lo", "step_hi", 0), "time": ("time_lo", "time_hi", 1),
        "timestamp": ("ts_lo", "ts_hi", 2)}


def check_axis(xaxis: Any) -> str:
    """``step``, ``time`` or ``timestamp``."""
    if xaxis not in AXES:
        raise errors.ValidationError(f"xaxis must be 'step', 'time' or 'timestamp', got {xaxis!r}")
    return xaxis


def check_bound(value: Any, xaxis: str, what: str):
    """A window bound on ``xaxis``: an int step, seconds, or a timestamp (-> microseconds)."""
    if value is None:
        return None
    if xaxis == "timestamp":
        return to_us(value, what)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise errors.ValidationError(f"{what} must be a number on the {xaxis} axis, got {value!r}")
    return value


def _series_id(conn, run_id: str, name: str, asset: str | None) -> int:
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


def metric_names(conn, run_id: str) -> list[str]:
    """Sorted distinct metric names of a run."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT name FROM series WHERE run_id = ? ORDER BY name", (run_id,))]


def metric_series(conn, run_id: str) -> list[tuple[str, str | None, int]]:
    """(name, asset or None, point count) of every series of a run."""
    return [(r[0], r[1] or None, r[2]) for r in conn.execute(
        "SELECT name, asset, count FROM series WHERE run_id = ? ORDER BY name, asset", (run_id,))]


def _window_sql(xaxis: str, start, stop) -> tuple[str, list]:
    lo, hi, _ = AXES[xaxis]
    sql, params = "", []
    if start is not None:
        sql += f" AND {hi} >= ?"
        params.append(start)
    if stop is not None:
        sql += f" AND {lo} <= ?"
        params.append(stop)
    return sql, params


def _inside(lo, hi, start, stop) -> bool:
    return (start is None or lo >= start) and (stop is None or hi <= stop)


def values(conn, run_id: str, name: str, *, xaxis: str, start, stop, asset, max_points) -> Series:
    """The points of one series (see ``Store.metric_values``)."""
    check_axis(xaxis)
    start = check_bound(start, xaxis, "start")
    stop = check_bound(stop, xaxis, "stop")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 4):
        raise errors.ValidationError(f"max_points must be None or an int >= 4, got {max_points!r}")
    series_id = _series_id(conn, run_id, name, asset)
    if max_points is not None:
        picked = _downsample_by_sketch(conn, series_id, xaxis, start, stop, max_points)
        if picked is not None:
            cols = [array("q", [p[1] for p in picked]), array("d", [p[2] for p in picked]),
                    array("q", [p[3] for p in picked]), array("d", [p[4] for p in picked])]
            return Series(name=name, asset=asset, steps=cols[0], times=cols[1], timestamps=cols[2],
                          values=cols[3])
    lazy = max_points is None and xaxis != "time"
    cols, origin = _decode_window(conn, series_id, xaxis, start, stop, lazy_times=lazy)
    if max_points is not None and len(cols[3]) > max_points:
        keep = stats.downsample(cols[AXES[xaxis][2]], cols[3], max_points)
        cols = [array(c.typecode, map(c.__getitem__, keep)) for c in cols]
    return Series(name=name, asset=asset, steps=cols[0], times=cols[1], timestamps=cols[2], values=cols[3],
                  time_origin_us=origin)


def _in_window(decoded, k: int, start, stop) -> list:
    """The columns of a decoded chunk restricted to ``start <= axis <= stop``."""
    keep = [i for i, x in enumerate(decoded[k]) if (start is None or x >= start) and (stop is None or x <= stop)]
    return [None if part is None else array(part.typecode, map(part.__getitem__, keep)) for part in decoded]


def _decode_window(conn, series_id: int, xaxis: str, start, stop, *, lazy_times: bool = False):
    """The window's columns, and the time origin when times were left to derive lazily.

    With ``lazy_times``, default times are not computed here if every chunk has them (the
    common case): ``Series.times`` derives them from the timestamps on first access.
    """
    lo, hi, k = AXES[xaxis]
    where, params = _window_sql(xaxis, start, stop)
    rows = conn.execute(f"SELECT data, {lo}, {hi} FROM chunks WHERE series_id = ?{where} ORDER BY seq",
                        (series_id, *params)).fetchall()
    origins = {chunks.chunk_time_origin(r[0]) for r in rows if not chunks.chunk_has_times(r[0])}
    lazy = lazy_times and len(origins) == 1 and not any(chunks.chunk_has_times(r[0]) for r in rows)
    cols = [array("q"), None if lazy else array("d"), array("q"), array("d")]
    for data, c_lo, c_hi in rows:
        decoded = chunks.decode_chunk(data, derive_times=not lazy)
        parts = decoded if _inside(c_lo, c_hi, start, stop) else _in_window(decoded, k, start, stop)
        for col, part in zip(cols, parts):
            if col is not None:
                col.extend(part)
    return cols, (origins.pop() if lazy else None)


def _downsample_by_sketch(conn, series_id: int, xaxis: str, start, stop, max_points: int):
    """Downsampled points from block sketches, or None to take the exact (decoding) path."""
    lo, hi, k = AXES[xaxis]
    where, params = _window_sql(xaxis, start, stop)
    rows = conn.execute(
        f"SELECT seq, count, {lo}, {hi}, nan_count, sketch FROM chunks WHERE series_id = ?{where} ORDER BY seq",
        (series_id, *params),
    ).fetchall()
    if sum(r[1] for r in rows) <= max_points or sum(r[1] for r in rows) < 2 * sketch.BLOCK * max_points // 3:
        return None  # few points per bucket: exact is cheap and better
    blocks, offset = [], 0
    for seq, _count, c_lo, c_hi, nan_count, sketch_data in rows:
        if _inside(c_lo, c_hi, start, stop):
            chunk_blocks = sketch.decode(sketch_data)
        else:
            data = conn.execute("SELECT data FROM chunks WHERE series_id = ? AND seq = ?", (series_id, seq)).get
            parts = _in_window(chunks.decode_chunk(data), k, start, stop)
            chunk_blocks = sketch.blocks(*parts, has_nan=nan_count > 0) if parts[0] else []
        for count, points in chunk_blocks:
            blocks.append((offset, count, points))
            offset += count
    if not blocks:
        return None
    return sketch.downsample(blocks, offset, max_points)


def to_stats(chunk: stats.ChunkStats | None) -> Stats:
    """The public Stats of a ChunkStats (count 0 for no points)."""
    if chunk is None:
        return Stats(count=0)
    return Stats(count=chunk.count, nan_count=chunk.nan_count, min=chunk.min, max=chunk.max,
                 avg=chunk.mean, var_pop=chunk.var_pop, first=chunk.first, last=chunk.last,
                 first_step=chunk.first_step, last_step=chunk.last_step, min_step=chunk.min_step,
                 max_step=chunk.max_step)


def summary(conn, run_id: str, name: str, asset) -> Stats:
    """The series' summary, kept at ingest: one row read, no points decoded."""
    series_id = _series_id(conn, run_id, name, asset)
    row = conn.execute("SELECT " + ", ".join(STAT_COLUMNS) + " FROM series WHERE id = ?", (series_id,)).fetchone()
    if row is None:  # the index found it, the table has no such row: a damaged file
        raise errors.CorruptStoreError(f"metric {name!r} of run {run_id}: series {series_id!r} is in the index only")
    return to_stats(stats_from_row(row, STAT_COLUMNS) if row[0] else None)


def window_stats(conn, run_id: str, name: str, *, xaxis: str, start, stop, asset) -> Stats:
    """Statistics of the points with ``start <= axis <= stop``, decoding boundary chunks only."""
    check_axis(xaxis)
    start = check_bound(start, xaxis, "start")
    stop = check_bound(stop, xaxis, "stop")
    series_id = _series_id(conn, run_id, name, asset)
    lo, hi, _ = AXES[xaxis]
    where, params = _window_sql(xaxis, start, stop)
    rows = conn.execute(
        "SELECT seq, " + ", ".join(CHUNK_COLUMNS) + f" FROM chunks WHERE series_id = ?{where} ORDER BY seq",
        (series_id, *params),
    ).fetchall()
    col = {c: i + 1 for i, c in enumerate(CHUNK_COLUMNS)}
    parts = []
    for row in rows:
        if _inside(row[col[lo]], row[col[hi]], start, stop):
            parts.append(stats_tuple(row[1:]))
        else:
            data = conn.execute("SELECT data FROM chunks WHERE series_id = ? AND seq = ?",
                                (series_id, row[0])).get
            part = stats.window_mask_stats(*chunks.decode_chunk(data, derive_times=False), xaxis=xaxis,
                                            start=start, stop=stop, time_origin_us=chunks.chunk_time_origin(data))
            if part is not None:
                parts.append(part)
    total = stats.merge_many(parts)
    return to_stats(total)
