"""Reading a run's metric series, events and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from .. import _lazy, errors
from .._validation import shown
from ..storage import metric_reads, metric_sets
from ..storage import events as events_mod

if TYPE_CHECKING:  # annotations only: a record's module loads with the first read that makes one
    import datetime

    from ..records.series import Series, Stats

search = _lazy.module("runlite.storage.search")
stored_sizes = _lazy.module("runlite.storage.run_sizes")
stored_alerts = _lazy.module("runlite.storage.alerts")


def _id_list(run_ids: Any) -> list[str]:
    """Run ids as a list of str (repeats dropped)."""
    if isinstance(run_ids, str) or not isinstance(run_ids, (list, tuple)) \
            or not all(isinstance(i, str) for i in run_ids):
        raise errors.ValidationError(f"run_ids must be a list of run ids (str), got {shown(run_ids)}")
    return list(dict.fromkeys(run_ids))


class SeriesReads:
    """The metric, event and alert reads of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def metric_values_many(self, runs_or_filters: Any, names: list[str] | str | None = None, *,
                           xaxis: str = "step", max_points: int | None = None) -> dict[str, dict[str, Series]]:
        """``{run_id: {name: Series}}`` for several runs (runs or ids, or a filter of either
        grammar), read in one transaction; ``names`` None reads every metric of each run. A run
        without one of the metrics just lacks that key; each Series carries its ``run_id`` and
        ``run_name``. Series logged with an asset are read by ``metric_values(asset=...)``."""
        names = metric_sets.check_names(names)
        run_ids = search.run_ids_for(self, runs_or_filters)
        metric_sets.flush_live(self, run_ids)
        with self.database.read() as conn:
            return metric_sets.values_many(conn, run_ids, names, xaxis=xaxis, max_points=max_points)

    def metric_summaries(self, run_ids: list[str], names: list[str] | str | None = None) -> dict[str, dict[str, Stats]]:
        """``{run_id: {name: Stats}}``: the summaries kept at ingest (as ``metric_summary``) of
        every metric of many runs, or of ``names`` only, in one query (no point is read). Runs
        are given by id (as a listing gives them); a run without such a metric, or no run of
        that id, is left out. Series logged with an asset are read by ``metric_summary``."""
        names = metric_sets.check_names(names)
        run_ids = _id_list(run_ids)
        metric_sets.flush_live(self, run_ids)
        with self.database.read() as conn:
            return metric_sets.summaries_of(conn, run_ids, names)

    def run_sizes(self, run_ids: list[str]) -> dict[str, tuple[int, int, datetime.datetime | None]]:
        """``{run_id: (points, events, media_updated)}`` of many runs (by id) in one read: the
        points of all their series (assets too), their events, and their newest media item's
        timestamp (None without media): what has grown since a copy was taken, in three
        grouped queries whatever the number of runs. An id of no run gets ``(0, 0, None)``."""
        run_ids = _id_list(run_ids)
        metric_sets.flush_live(self, run_ids)
        with self.database.read() as conn:
            return stored_sizes.of(conn, run_ids)

    def metric_name_counts(self, run_ids: list[str]) -> dict[str, int]:
        """``{metric name: how many of the runs have it}`` over many runs (by id), by name, in
        one query: what a comparison of a run set offers to plot (series without an asset)."""
        run_ids = _id_list(run_ids)
        metric_sets.flush_live(self, run_ids)
        with self.database.read() as conn:
            return dict(metric_sets.name_counts(conn, run_ids))

    def metric_names(self, run: Any) -> list[str]:
        """The sorted metric names of a run."""
        return self._metric_read(run, metric_reads.metric_names)

    def metric_series(self, run: Any) -> list[tuple[str, str | None, int]]:
        """``(name, asset, count)`` of every series of a run (asset None when not given)."""
        return self._metric_read(run, metric_reads.metric_series)

    def metric_values(self, run: Any, name: str, *, xaxis: str = "step", start: Any = None,
                      stop: Any = None, asset: str | None = None, max_points: int | None = None) -> Series:
        """The points of one metric series, in logging order.

        Args:
            xaxis: ``step``, ``time`` or ``timestamp``: the axis ``start``/``stop`` bound
                (inclusive both ends) and ``max_points`` buckets along.
            max_points: downsample for plotting: points are split into equal buckets and
                each keeps its min, max and last value, first and last point kept, so
                spikes survive.
        """
        return self._metric_read(run, metric_reads.values, name, xaxis=xaxis, start=start,
                                 stop=stop, asset=asset, max_points=max_points)

    def iter_metric_values(self, run: Any, name: str, *, asset: str | None = None,
                           points: int | None = None) -> Iterator[Series]:
        """A whole series in logging order, as ``Series`` pieces of at most ``points`` points
        (default 2^20; whole chunks): for exports and scans longer than one read returns."""
        points = metric_reads.check_points(points)
        run_id = self.run_id(run)
        self.live.flush_run(run_id)
        with self.database.read() as conn:
            yield from metric_reads.pieces(conn, run_id, name, asset, points=points)

    def metric_summary(self, run: Any, name: str, *, asset: str | None = None) -> Stats:
        """count, nan_count, min, max, avg, var_pop, first, last, and their steps: kept at ingest."""
        return self._metric_read(run, metric_reads.summary, name, asset)

    def metric_stats(self, run: Any, name: str, *, start: Any = None, stop: Any = None,
                     xaxis: str = "step", asset: str | None = None) -> Stats:
        """Statistics over ``start <= axis <= stop``; only the window's boundary chunks are decoded."""
        return self._metric_read(run, metric_reads.window_stats, name, xaxis=xaxis, start=start,
                                 stop=stop, asset=asset)

    def events(self, run: Any, *, contains: str | None = None, level: str | list | None = None,
               since: Any = None, until: Any = None, limit: int | None = None, offset: int = 0) -> list:
        """Events of a run in time order.

        Args:
            contains: only messages containing this text (case-sensitive).
            level: one level or a list of levels.
            since, until: inclusive time bounds (datetime, ISO-8601 or epoch seconds).
        """
        return self._metric_read(run, events_mod.read, contains=contains, level=level, since=since,
                                 until=until, limit=limit, offset=offset)

    def event_count(self, run: Any) -> int:
        """How many events a run has (``events(run, offset=event_count(run) - 5)``: the last five)."""
        return self._metric_read(run, events_mod.count)

    def alerts(self, run: Any = None, *, critical_only: bool = False) -> list:
        """Alerts attached to a run (or to every run) with their states (``AlertState``)."""
        run_id = None if run is None else self.run_id(run)
        if run_id is not None:
            self.live.flush_run(run_id)
        with self.database.read() as conn:
            return stored_alerts.states(conn, run_id, bool(critical_only))

    def alert_history(self, run: Any, name: str) -> list:
        """Every state change of a run's alert, oldest first (``AlertChange``)."""
        return self._metric_read(run, stored_alerts.history, name)

    def outbox(self, *, undelivered_only: bool = True) -> list[dict]:
        """Queued ``email`` notifications for the host application to deliver."""
        with self.database.read() as conn:
            return stored_alerts.outbox(conn, undelivered_only=undelivered_only)

    def mark_delivered(self, outbox_ids: list[int]) -> None:
        """Mark outbox entries as delivered."""
        if not isinstance(outbox_ids, (list, tuple)) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in outbox_ids):
            raise errors.ValidationError(f"outbox_ids must be a list of int ids from outbox(), got {shown(outbox_ids)}")
        with self.database.write() as conn:
            stored_alerts.mark_delivered(conn, list(outbox_ids))
