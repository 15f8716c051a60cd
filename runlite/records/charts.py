"""A metric series cut into buckets for charts (``Store.metric_buckets``)."""

from __future__ import annotations

import attrs


@attrs.frozen
class Buckets:
    """A metric series cut into equal buckets along an x axis, for charts
    (``Store.metric_buckets``): one entry per bucket holding points, in x order.

    ``x`` is the middle of the bucket's points' x range (steps, seconds since the run
    started, or epoch seconds for ``timestamp``); ``mean`` is the mean of its non-NaN values
    (None when all are NaN), ``min``/``max`` their extremes; ``count`` includes NaN points.
    """

    name: str
    asset: str | None
    run_id: str
    run_name: str | None
    xaxis: str
    x: list
    mean: list
    min: list
    max: list
    count: list
    nan_count: list

    def __len__(self) -> int:
        return len(self.x)
