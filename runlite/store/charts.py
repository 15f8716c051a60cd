"""Reading a metric series as chart buckets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _lazy

if TYPE_CHECKING:  # annotations only: a record's module loads with the first read that makes one
    from ..records.charts import Buckets

metric_buckets = _lazy.module("runlite.storage.metric_buckets")


class ChartReads:
    """``Store.metric_buckets``. A mixin of ``Store``, which gives ``_metric_read``."""

    def metric_buckets(self, run: Any, name: str, *, buckets: int = 400, xaxis: str = "step",
                       start: Any = None, stop: Any = None, asset: str | None = None) -> Buckets:
        """One series cut into ``buckets`` equal slices of ``start <= x <= stop`` (the whole
        series when None), each with the exact mean, min and max of its points: what a chart
        of that many pixel columns draws (the line the mean, the band min..max).

        The cost is bounded by ``buckets``, not by the points: chunks inside one bucket are
        read from the statistics kept at ingest; a chunk on a bucket's edge at most half a
        bucket wide goes whole to the bucket holding its middle (that edge snaps to the chunk's,
        each bucket exact for the points it holds); only wider chunks are decoded and cut.

        Args:
            xaxis: ``step``, ``time`` (seconds since the run started) or ``timestamp`` (bounds as
                for ``metric_values``; the returned x in epoch seconds).
            buckets: an int from 1 to 4000.
        """
        return self._metric_read(run, metric_buckets.buckets, name, xaxis=xaxis, start=start, stop=stop,
                                 asset=asset, count=buckets)
