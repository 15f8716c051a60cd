"""A metric series as reads return it: its points (``Series``) and its statistics (``Stats``)."""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import MissingExtraError


@attrs.frozen(eq=False)
class Series:
    """The points of one metric series as parallel ``array`` columns, in logging order.

    ``steps`` (int64), ``times`` (float64 seconds since the run started), ``timestamps``
    (int64 microseconds since the Unix epoch, UTC) and ``values`` (float64; NaN and
    infinities exact). Default times are derived from the timestamps on first access.
    ``run_id`` and ``run_name`` name the run of a series read from a store (None for one made
    by hand); equality compares the name, asset and points only.
    """

    name: str
    asset: str | None
    steps: Any
    _times: Any = attrs.field(alias="times")
    timestamps: Any
    values: Any
    time_origin_us: int | None = None  # set when ``times`` is derived lazily
    run_id: str | None = None
    run_name: str | None = None

    @property
    def times(self):
        """Seconds since the run started, per point."""
        if self._times is None:
            from ..codec.chunks import derived_times

            object.__setattr__(self, "_times", derived_times(self.timestamps, self.time_origin_us))
        return self._times

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Series):
            return NotImplemented
        return (self.name, self.asset) == (other.name, other.asset) and all(
            a.tobytes() == b.tobytes()
            for a, b in zip((self.steps, self.times, self.timestamps, self.values),
                            (other.steps, other.times, other.timestamps, other.values))
        )

    def to_numpy(self) -> dict:
        """The columns as numpy arrays (zero-copy views); needs numpy."""
        try:
            import numpy as np
        except ImportError as exc:  # pragma: no cover
            raise MissingExtraError("Series.to_numpy() needs numpy: pip install numpy") from exc
        return {
            "step": np.frombuffer(self.steps, dtype=np.int64),
            "time": np.frombuffer(self.times, dtype=np.float64),
            "timestamp": np.frombuffer(self.timestamps, dtype=np.int64).astype("datetime64[us]"),
            "value": np.frombuffer(self.values, dtype=np.float64),
        }

    def to_pandas(self):
        """A DataFrame with columns step, time, timestamp (``datetime64[us, UTC]``), value, then
        run (id), run_name and metric on every row (and asset, when the series has one), so
        frames of several series concatenate into one long frame; needs pandas."""
        from ..frames import series_frame

        return series_frame(self)


@attrs.frozen
class Stats:
    """Statistics of a metric series (or a window of it).

    ``avg`` and ``var_pop`` are over the non-NaN values; ``count`` includes NaN points.
    """

    count: int
    nan_count: int = 0
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    var_pop: float | None = None
    first: float | None = None
    last: float | None = None
    first_step: int | None = None
    last_step: int | None = None
    min_step: int | None = None
    max_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields."""
        return attrs.asdict(self)
