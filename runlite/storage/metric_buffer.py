"""A live run's metric buffer: the records logged and not yet flushed.

The hot path (``MetricBuffer.add``, and the writer's own fast path) appends to ``array``
columns: one shared record axis (step, time, timestamp) per run, and per record shape (the
names a call logged, in order) the record indices and the values, row-major. A flush
(``storage/metrics.py``) takes each series' columns from ``series_columns``: the series of
one shape share their axis objects, so what comes of the axis alone is made once a flush.
"""

from __future__ import annotations

import numbers
from array import array
from typing import Any

from .. import errors
from ..codec import chunks
from .._validation import check_name, is_real, scalar_item, shown

FLUSH_INTERVAL = 1.0        # seconds: a point older than this is in the file (see GUARANTEES)
FLUSH_POINTS = 100_000      # a buffer of this many points is flushed at once...
# ...or, with records of WIDE_RECORD names or more, of FLUSH_RECORDS records of its widest
# shape if that is more points (at most MAX_FLUSH_POINTS, 8 MB of values): each series' new
# points then fill a tail-sized chunk, never merged again, however wide the records.
WIDE_RECORD = 32
FLUSH_RECORDS = 4_096
MAX_FLUSH_POINTS = 1_000_000
EXACT_INT = 1 << 53         # ints beyond this are not exact as float64


def _value(name: str, value: Any) -> float:
    """A metric value as float64 (int, float, bool; numpy scalars too)."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool:
        if -EXACT_INT <= value <= EXACT_INT:
            return float(value)
        raise errors.ValidationError(
            f"metric {name!r}: int {shown(value)} is beyond 2**53 and cannot be stored exactly; log it as a float"
        )
    if not is_real(value) and isinstance(value, numbers.Real):  # numpy's timedelta64 and datetime64
        raise errors.ValidationError(f"metric {name!r} has a {type(value).__name__} value {shown(value)}; a"
                                     " duration or a date is not a metric value (log it as a number of seconds)")
    if isinstance(value, numbers.Integral):
        return _value(name, int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):  # e.g. Fraction(10**400): beyond float64
            raise errors.ValidationError(
                f"metric {name!r}: {type(value).__name__} {shown(value)} cannot be converted to a float64"
            ) from None
    if getattr(getattr(value, "dtype", None), "kind", None) == "b":  # a numpy bool (not a numbers.Integral)
        return 1.0 if value else 0.0
    item = scalar_item(value)  # a 0-d tensor or array: the number it holds
    if item is not value and not isinstance(item, str):
        return _value(name, item)
    raise errors.ValidationError(
        f"metric {name!r} has a {type(value).__name__} value {shown(value)}; accepted are int, float, bool"
        " and numpy or torch scalars (0-d values with item())"
    )


def check_metrics(metrics: dict) -> None:
    """Refuse a record ``log_metrics`` would refuse (names and values), logging nothing: for
    records a caller drops, which must be refused alike whether kept or not."""
    for name, value in metrics.items():
        check_name(name, "metric name")
        _value(name, value)


class _Shape:
    """Records that logged the same names (in the same order) for the same asset.

    Their values are stored row-major in one array, so a call appends all its values in
    one C call and a series' column is the extended slice ``values[j::k]``.
    """

    __slots__ = ("names", "width", "asset", "rows", "values")

    def __init__(self, names: tuple, asset: str):
        self.names = names
        self.width = len(names)
        self.asset = asset
        self.rows = array("q")    # indices into the run's record axis
        self.values = array("d")

    def column(self, j: int) -> array:
        """The values of the ``j``-th name, one a record."""
        return self.values[j::self.width] if self.width > 1 else self.values


_FLOAT_ONLY = frozenset((float,))
MAX_KEPT_SHAPES = 256  # record shapes kept from one flush to the next


class MetricBuffer:
    """Points of one run waiting to be flushed.

    The record axis is kept lazily: ``steps`` is None while every record's step is
    ``step_base`` plus its index (the default steps count up by one a call), and ``times``
    None while every record's time is the default one, derived from its timestamp. A call
    with an explicit step or time makes the column then.
    """

    def __init__(self) -> None:
        self.shapes: dict[tuple, _Shape] = {}
        # The size-based flush threshold: scaled with the width, so a 10,000-wide record
        # does not make chunks of 10 points.
        self.flush_points = FLUSH_POINTS
        self.origin = 0
        self.clear()

    def clear(self) -> None:
        """Forget everything buffered (after a successful flush); the shapes seen (their
        names already checked) are kept, emptied."""
        self.steps: array | None = None
        self.step_base = 0
        self.times: array | None = None
        self.timestamps = array("q")
        if len(self.shapes) > MAX_KEPT_SHAPES:  # names that change every call: keep none
            self.shapes = {}
        for shape in self.shapes.values():
            shape.rows = array("q")
            shape.values = array("d")
        self.last: _Shape | None = None
        self.points = 0
        self.oldest_us = 0
        # Set by the writer: until then (epoch us) a call like the last one, with default
        # step, time and timestamp, may append directly (0: it may not).
        self.fast_until = 0

    def shape_of(self, names: tuple, asset: str) -> _Shape:
        """The shape of records logging ``names`` for ``asset`` (its names checked once)."""
        shape = self.last
        if shape is None or shape.names != names or shape.asset != asset:
            shape = self.shapes.get((names, asset))
            if shape is None:
                for name in names:
                    check_name(name, "metric name")
                shape = self.shapes[(names, asset)] = _Shape(names, asset)
                if len(names) >= WIDE_RECORD:
                    self.flush_points = max(self.flush_points, min(FLUSH_RECORDS * len(names), MAX_FLUSH_POINTS))
        return shape

    def add(self, metrics: dict, step: int, time: float | None, timestamp_us: int,
            asset: str, time_origin_us: int, arrival_us: int) -> None:
        """Validate every value, then append the record; raises before appending anything."""
        names = tuple(metrics)
        shape = self.shape_of(names, asset)
        raw = metrics.values()
        if _FLOAT_ONLY.issuperset(map(type, raw)):
            values = raw  # floats only (the common case): array.extend converts in C
        else:
            values = [_value(name, value) for name, value in zip(names, raw)]
        self.last = shape
        n = len(self.timestamps)
        if not n:
            self.oldest_us = arrival_us
            self.step_base = step
            self.origin = time_origin_us
        elif time_origin_us != self.origin and self.times is None:
            self.times = chunks.derived_times(self.timestamps, self.origin)
        if self.steps is None and step != self.step_base + n:
            self.steps = array("q", range(self.step_base, self.step_base + n))
        if time is not None and self.times is None:
            self.times = chunks.derived_times(self.timestamps, self.origin)
        if self.steps is not None:  # first: the one append that may refuse its value
            self.steps.append(step)
        shape.values.extend(values)
        shape.rows.append(n)
        self.timestamps.append(timestamp_us)
        if self.times is not None:
            self.times.append((timestamp_us - time_origin_us) / 1e6 if time is None else time)
        self.points += len(names)

    def absorb(self, later: "MetricBuffer") -> None:
        """Append the records of ``later`` (logged after these) to this buffer, in order."""
        n, m = len(self.timestamps), len(later.timestamps)
        if not m:
            return
        if not n:
            self.__dict__.update(later.__dict__)
            return
        if self.times is None and (later.times is not None or later.origin != self.origin):
            self.times = chunks.derived_times(self.timestamps, self.origin)
        if self.times is not None:
            self.times += later.times if later.times is not None else chunks.derived_times(later.timestamps, later.origin)
        if self.steps is not None or later.steps is not None or later.step_base != self.step_base + n:
            if self.steps is None:
                self.steps = array("q", range(self.step_base, self.step_base + n))
            self.steps += later.steps if later.steps is not None else array(
                "q", range(later.step_base, later.step_base + m))
        self.timestamps += later.timestamps
        for key, shape in later.shapes.items():
            if not shape.rows:
                continue
            mine = self.shapes.get(key)
            if mine is None:
                mine = self.shapes[key] = _Shape(*key)
            mine.rows += array("q", [r + n for r in shape.rows])
            mine.values += shape.values
        self.points += later.points
        self.flush_points = max(self.flush_points, later.flush_points)
        self.last = None
        self.fast_until = 0

    def emptied(self) -> "MetricBuffer":
        """A new empty buffer that knows the shapes of this one (their names checked)."""
        fresh = MetricBuffer()
        if len(self.shapes) <= MAX_KEPT_SHAPES:
            fresh.shapes = {key: _Shape(*key) for key in self.shapes}
        fresh.flush_points = self.flush_points
        return fresh

    def _axis(self, rows: array) -> tuple:
        """The steps, times (None: the default ones) and timestamps of ``rows``."""
        steps, times, stamps = self.steps, self.times, self.timestamps
        lo, hi = rows[0], rows[-1] + 1
        if hi - lo == len(rows):  # contiguous records: slice the shared axis
            return (array("q", range(self.step_base + lo, self.step_base + hi)) if steps is None else steps[lo:hi],
                    None if times is None else times[lo:hi], stamps[lo:hi])
        base = self.step_base
        return (array("q", [base + r for r in rows]) if steps is None else array("q", map(steps.__getitem__, rows)),
                None if times is None else array("d", map(times.__getitem__, rows)),
                array("q", map(stamps.__getitem__, rows)))

    def series_columns(self):
        """Yield ``((name, asset), (steps, times, timestamps, values))`` per series, times None
        when they are the default ones (derived from the timestamps)."""
        shapes = [shape for shape in self.shapes.values() if shape.rows]  # (a refused call's have none)
        if len(shapes) == 1:  # one record shape (nearly every flush): its series share its axis
            shape, = shapes
            steps, times, stamps = self._axis(shape.rows)
            for j, name in enumerate(shape.names):
                yield (name, shape.asset), (steps, times, stamps, shape.column(j))
            return
        pieces: dict[tuple[str, str], list] = {}
        axes: dict[int, tuple] = {}  # id of a shape's rows (the shape keeps them alive) -> their axis
        for shape in shapes:
            for j, name in enumerate(shape.names):
                pieces.setdefault((name, shape.asset), []).append((shape.rows, shape.column(j)))
        for key, parts in pieces.items():
            if len(parts) == 1:
                rows, values = parts[0]
            else:  # the series was logged in records of different shapes: merge in log order
                rows = array("q")
                values = array("d")
                for r, v in parts:
                    rows.extend(r)
                    values.extend(v)
                order = sorted(range(len(rows)), key=rows.__getitem__)
                rows = array("q", map(rows.__getitem__, order))
                values = array("d", map(values.__getitem__, order))
            if len(parts) > 1:
                steps, times, stamps = self._axis(rows)
            else:  # the series of one record shape share its axis
                steps, times, stamps = axes.get(id(rows)) or axes.setdefault(id(rows), self._axis(rows))
            yield key, (steps, times, stamps, values)
