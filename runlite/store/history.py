"""A run set's metric history as one wide data frame, as W&B's ``run.history()``."""

from __future__ import annotations

from typing import Any

from .. import _lazy, errors
from ..frames import history_frame, pandas
from ..storage import metric_reads, metric_sets

search = _lazy.module("runlite.storage.search")

# Points one history may read (as many as one ``metric_values`` call returns: 128 MiB of
# columns); the frame itself is bounded by ``frames.MAX_FRAME_CELLS``.
MAX_HISTORY_POINTS = metric_reads.MAX_READ_POINTS


class HistoryReads:
    """``Store.history``. A mixin of ``Store``, which gives ``database``, ``live`` and ``run_id``."""

    def history(self, runs: Any, names: list[str] | str | None = None, *, xaxis: str = "step",
                max_points: int | None = None):
        """One DataFrame of the metrics of ``runs``: a row per (run, x) at which any of them
        has a point, columns ``run`` (id), ``run_name``, the axis, then one per metric (NaN where
        it has no point at that x; the last point logged there where it has several). Rows by
        run id (creation order for runlite's ids), then x. Needs pandas.

        Args:
            runs: a Run, RunRecord or run id/name; a list of them or a RunList; or a filter of
                either grammar (a str with a space or a parenthesis).
            names: a metric name or a list of them; None: every metric of those runs.
            xaxis: ``step`` (int64), ``time`` (seconds since the run started) or ``timestamp``
                (``datetime64[us, UTC]``).
            max_points: downsample each series first (min, max and last of each bucket kept).

        A metric named ``run``, ``run_name`` or like the axis gets the column ``metric.<name>``.
        At most ``MAX_HISTORY_POINTS`` points are read and ``frames.MAX_FRAME_CELLS`` cells
        made; more is a ``LimitError`` before anything is read (pass ``max_points``).
        """
        pandas("Store.history()")  # before any read
        names = metric_sets.check_names(names)
        metric_reads.check_axis(xaxis)
        run_ids = sorted(set(self._history_runs(runs)))
        metric_sets.flush_live(self, run_ids)
        with self.database.read() as conn:
            found = metric_sets.values_many(conn, run_ids, names, xaxis=xaxis, max_points=max_points,
                                            max_total=MAX_HISTORY_POINTS)
            labels = metric_sets.run_names(conn, run_ids)
        if names is None:
            names = sorted({name for series in found.values() for name in series})
        return history_frame([(run_id, labels.get(run_id), found[run_id]) for run_id in run_ids], names, xaxis)

    def _history_runs(self, runs: Any) -> list[str]:
        """Run ids of ``history``'s ``runs``."""
        if isinstance(runs, str):
            if " " in runs or "(" in runs:
                return search.run_ids_for(self, runs)
            return [self.run_id(runs)]
        if isinstance(runs, (list, tuple)):
            return search.run_ids_for(self, runs)
        if hasattr(runs, "id"):  # a Run, a RunRecord, a span
            return [self.run_id(runs)]
        raise errors.ValidationError("runs must be a Run, a RunRecord, a run id or name, a list of them, or a"
                                     f" filter string; got {type(runs).__name__}")
