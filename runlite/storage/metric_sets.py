"""The metrics of many runs at once: their series' summaries in one query, every series of a
run set in one read transaction, the runs' names.

A run set of any size is one statement: its ids are bound as one JSON array (``json_each``),
never as text. Like the filter grammar's ``metric.<name>.<stat>``, these read the series
logged without an asset; a series with an asset is read by ``Store.metric_values(asset=...)``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import errors
from .._validation import check_name, shown
from . import metric_reads
from .stat_rows import STAT_COLUMNS

if TYPE_CHECKING:  # annotations only: metric_reads makes the records
    from ..records.series import Series, Stats

_IN_IDS = "run_id IN (SELECT value FROM json_each(?))"


def _ids(run_ids: list[str]) -> str:
    return json.dumps(list(run_ids))


def check_names(names: Any) -> list[str] | None:
    """Metric names: None (every one), one name, or a list of them (repeats dropped)."""
    if names is None:
        return None
    items = [names] if isinstance(names, str) else names
    if not isinstance(items, (list, tuple)):
        raise errors.ValidationError(f"names must be None, a metric name or a list of them, got {shown(names)}")
    return list(dict.fromkeys(check_name(name, "metric name") for name in items))


def run_names(conn, run_ids: list[str]) -> dict[str, str]:
    """``{run id: name}`` of those of ``run_ids`` that exist."""
    return dict(conn.execute("SELECT id, name FROM runs WHERE id IN (SELECT value FROM json_each(?))",
                             (_ids(run_ids),)))


def summaries_many(conn, run_ids: list[str]) -> list[tuple]:
    """``(run_id, name, last, min, max)`` of every series of those runs (no asset), as kept at
    ingest: one query, no point decoded. Cells as stored: None where there is no value (min and
    max of a series of NaN only) or the value is NaN (``last``), which frames show as NaN."""
    return conn.execute(f"SELECT run_id, name, last, min, max FROM series WHERE asset = '' AND {_IN_IDS}",
                        (_ids(run_ids),)).fetchall()


def summaries_of(conn, run_ids: list[str], names: list[str] | None) -> dict[str, dict[str, Stats]]:
    """``{run_id: {name: Stats}}``: the full summaries kept at ingest of the series (no asset) of
    those runs (of ``names`` only, when given), in one query, no point decoded. Runs without
    any such series are left out; NaN reads back as NaN, as ``metric_summary`` gives it."""
    sql = (f"SELECT run_id, name, {', '.join(STAT_COLUMNS)} FROM series WHERE asset = '' AND {_IN_IDS}")
    params: list[Any] = [_ids(run_ids)]
    if names is not None:
        sql += " AND name IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(names))
    out: dict[str, dict[str, Stats]] = {}
    for row in conn.execute(sql + " ORDER BY run_id, name", params):
        out.setdefault(row[0], {})[row[1]] = metric_reads.summary_of_row(row[2:], row[0], row[1])
    return out


def name_counts(conn, run_ids: list[str]) -> list[tuple[str, int]]:
    """``(name, runs having it)`` of every metric (no asset) of those runs, by name: one query."""
    return conn.execute(f"SELECT name, count(*) FROM series WHERE asset = '' AND {_IN_IDS} GROUP BY name"
                        " ORDER BY name", (_ids(run_ids),)).fetchall()


def series_counts(conn, run_ids: list[str], names: list[str] | None) -> list[tuple[str, str, int]]:
    """``(run_id, name, points)`` of the series of those runs (of ``names`` only, when given)."""
    sql = f"SELECT run_id, name, count FROM series WHERE asset = '' AND {_IN_IDS}"
    params: list[Any] = [_ids(run_ids)]
    if names is not None:
        sql += " AND name IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(names))
    out = []
    for run_id, name, count in conn.execute(sql + " ORDER BY run_id, name", params):
        if type(count) is not int or count < 0:  # a damaged cell: SQLite columns keep any type
            raise errors.CorruptStoreError(f"metric {name!r} of run {run_id}: its stored count {count!r:.40} "
                                           "is not a number of points")
        out.append((run_id, name, count))
    return out


def values_many(conn, run_ids: list[str], names: list[str] | None, *, xaxis: str, max_points: int | None,
                max_total: int | None = None) -> dict[str, dict[str, Series]]:
    """``{run_id: {name: Series}}``: every run of ``run_ids`` a key, in their order, each with
    those of ``names`` it has (every metric with None), in one read. With ``max_total``, a
    ``LimitError`` before any point is read when the series would return more points than that."""
    metric_reads.check_axis(xaxis)
    metric_reads.check_max_points(max_points)
    counts = series_counts(conn, run_ids, names)
    if max_total is not None:
        total = sum(count if max_points is None else min(count, max_points) for _, _, count in counts)
        if total > max_total:
            raise errors.LimitError(f"these series hold {total:,} points, more than the {max_total:,} one call"
                                    " may read; pass max_points, fewer names or fewer runs")
    out: dict[str, dict[str, Series]] = {run_id: {} for run_id in run_ids}
    for run_id, name, _ in counts:
        out[run_id][name] = metric_reads.values(conn, run_id, name, xaxis=xaxis, start=None, stop=None, asset=None,
                                                max_points=max_points)
    if names is not None:  # in the order asked
        out = {run_id: {n: found[n] for n in names if n in found} for run_id, found in out.items()}
    return out


def flush_live(store, run_ids: list[str]) -> None:
    """Read your own writes: the buffered points of those of ``run_ids`` that run in this process."""
    wanted = set(run_ids)
    for run_id in {writer.run_id for writer in list(store.live.writers)} & wanted:
        store.live.flush_run(run_id)
    store.live.flush_own_spans()


class Summaries:
    """``RunList.summaries`` of a store's listing: ``summaries_many`` read when first asked and
    kept (so the listing's frames outlive the store once made)."""

    def __init__(self, store):
        self.store = store
        self.kept: tuple[tuple, list] | None = None

    def __call__(self, run_ids: list[str]) -> list[tuple]:
        key = tuple(run_ids)
        if self.kept is not None and self.kept[0] == key:
            return self.kept[1]
        if self.store.closed:
            raise errors.StoreClosedError("metric summaries are read from the store when first asked for: make the"
                                          " frame before closing it, or pass metrics=False")
        flush_live(self.store, run_ids)
        with self.store.database.read() as conn:
            rows = summaries_many(conn, run_ids)
        self.kept = (key, rows)
        return rows
