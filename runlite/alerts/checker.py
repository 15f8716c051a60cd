"""The alert state machines used at ingest: metric alerts a batch at a time, event alerts.

Nothing here does I/O: the writer feeds the evaluators as it flushes and stores the
:class:`~runlite.alerts.rules.Transition` objects they return. Semantics (``docs/ALERTS.md``):

* Checks are due at run times ``b = k * frequency``, k = 1, 2, ... They are driven by data: the
  check at ``b`` is performed when the first point with a time strictly after ``b`` is fed (or
  ``advance`` passes ``b``), so every point logged at or before ``b`` counts. The writer
  advances metric checks on the run's wall clock (Simvue's schedule) and at the run's end.
* Time never goes back: a point older than the previous one counts as if logged at the previous
  point's time (kept, not dropped; its own check may already be done).
* Checks are located exactly within ``2**50`` checks of the run's start: a time beyond
  ``+-2**50 * frequency`` (35 years at a microsecond) counts as that bound, so no time, however
  far (a ``time=`` of 1e300, an event stamped in 1900), can stall or fail the flush feeding it.
* A state change is returned as a ``Transition`` at the check's time ``b`` only when the state
  changes. The state starts ``"ok"``, or as given when a run is resumed.

Metric alerts (:class:`MetricAlertChecker`): the check at ``b`` looks at the values logged in
``(b - window, b]``. ``"average"``/``"sum"`` apply the rule (``rules.RULE_TABLE``) to the window's
mean/sum; ``"at least one"``/``"all"`` apply it to each value and hold if at least one/every value
satisfies it. NaN values are dropped (their time still drives checks); +-inf are values, and a
mean or sum of both +inf and -inf is NaN, which satisfies no rule. A rule that holds makes the
state ``"critical"``, otherwise ``"ok"``; a check whose window is empty changes nothing. The tests
hold an exact per-point evaluator of the same semantics (``tests/oracles/alert_evaluator.py``)
that the checker is compared with.

Event alerts (:class:`EventAlertEvaluator`): a message containing ``pattern`` (case-sensitive
substring) makes the state ``"critical"`` at the message's time. The check at ``b`` returns the
state to ``"ok"`` if no message in ``(b - frequency, b]`` matched. The writer advances a critical
event alert's checks on the run's wall clock (``next_check``), and every one at the run's end
(``advance(..., final=True)``), as it does metric checks. An evaluator resumed in the
``"critical"`` state acts as if a matching message was logged at the first time it is fed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import sys
from array import array
from typing import Any

from ..errors import ValidationError
from .._validation import check_choice
from .rules import STATES, AlertDefinition, Transition, as_float, fail, rule_tests

_MAX_CHECKS = 2.0**50  # beyond this many checks, k * frequency no longer locates boundaries


def _start(definition: Any, source: str, state: Any) -> str:
    """Refuse a definition not of ``source`` or a state not in ``STATES``; return the state."""
    if not isinstance(definition, AlertDefinition) or definition.source != source:
        fail("definition", definition, f"a {source!r} alert")
    return check_choice(state, "state", STATES)


def _limit(f: float) -> float:
    """The largest time, in seconds, whose checks are located exactly (``2**50`` checks)."""
    return min(_MAX_CHECKS * f, sys.float_info.max)


def _first_check(f: float, lo: int, x: float, offset: float) -> int:
    """The smallest check index ``k >= lo`` with ``k * f - offset >= x``, as floats compute it."""
    k = max(lo, math.ceil((x + offset) / f))
    # the division may round either way; step to the exact answer (at most a step or two)
    while k > lo and (k - 1) * f - offset >= x:
        k -= 1
    while k * f - offset < x:
        k += 1
    return k


class CheckClock:
    """Checks due at ``k * frequency``, passed by fed times: the base of per-item evaluators.

    Subclasses set ``_source`` and implement ``_advance(t, out)`` (perform the checks due
    before ``t``, appending transitions to ``out``). A time beyond ``+-2**50 * frequency``
    counts as that bound.
    """

    _source = ""

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        self.state = _start(definition, self._source, state)
        self.definition = definition
        self._f: float = definition.frequency  # type: ignore[assignment]
        self._limit = _limit(self._f)
        self._last = -math.inf  # latest time fed
        self._k = 1  # index of the next check that is due
        self._bound = self._f  # its time, k * frequency

    def _time(self, time: Any) -> float:
        """The validated time, within +-``_limit`` and moved up to the latest time fed so far
        (time never goes back)."""
        t = time if type(time) is float else as_float(time)
        if type(t) is not float or not math.isfinite(t):
            fail("time", time, "a finite number of seconds")
        t = min(max(t, -self._limit), self._limit)
        return t if t > self._last else self._last

    def _first(self, lo: int, x: float, offset: float) -> int:
        """The smallest check index ``k >= lo`` with ``k * frequency - offset >= x``."""
        return _first_check(self._f, lo, x, offset)

    def _set(self, time: float, state: str, out: list[Transition]) -> None:
        self.state = state
        out.append(Transition(time, state))

    def advance(self, time: float, *, final: bool = False) -> list[Transition]:
        """Perform the checks due before ``time`` without adding data. With ``final`` (the run
        ends at ``time``) the next check is performed too: nothing more can be fed."""
        out: list[Transition] = []
        self._last = self._time(time)
        self._advance(self._last, out)
        if final:
            self._last = max(self._last, math.nextafter(self._bound, math.inf))
            self._advance(self._last, out)
        return out

    def _advance(self, t: float, out: list[Transition]) -> None:
        raise NotImplementedError


class EventAlertEvaluator(CheckClock):
    """Evaluates one event alert on one run from its messages (semantics: module docstring)."""

    _source = "events"

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        super().__init__(definition, state)
        self._pattern: str = definition.pattern  # type: ignore[assignment]
        self._match: float | None = None  # time of the latest matching message

    def feed(self, time: float, message: str) -> list[Transition]:
        """Add one logged message; return the transitions it caused (checks passed, then a match).

        Raises:
            ValidationError: ``time`` is not a finite number, or ``message`` not a str.
        """
        t = self._time(time)
        if not isinstance(message, str):
            fail("message", message, "a str")
        out: list[Transition] = []
        self._last = t
        self._advance(t, out)
        if self._pattern in message:
            self._match = t
            if self.state == "ok":
                self._set(t, "critical", out)
        return out

    def next_check(self) -> float | None:
        """The run time of the next check that could return the state to ``ok`` with no new
        message (None while ``ok``: only a message changes it)."""
        if self.state != "critical":
            return None
        if self._match is None:  # resumed critical: its silence starts at the next time fed
            return self._bound
        return self._first(self._k, self._match, self._f) * self._f

    def _advance(self, t: float, out: list[Transition]) -> None:
        if self.state == "critical" and self._match is None:
            self._match = t  # resumed critical: wait for a full frequency of silence
        if t <= self._bound:
            return
        if self.state == "critical":
            k = self._first(self._k, self._match, self._f)  # type: ignore[arg-type]
            if k * self._f < t:
                self._set(k * self._f, "ok", out)
        self._k = self._first(self._k + 1, t, 0.0)
        self._bound = self._k * self._f


def never_decrease(times: array) -> bool:
    """Whether each time is at least the one before (one C-level pass)."""
    return not any(map(operator.gt, times, itertools.islice(times, 1, None)))


class MetricAlertChecker:
    """A metric alert evaluated a batch of points at a time: what the writer uses at flush.

    The work is done per check, not per point: windows are found by bisection and aggregated
    with C-level ``sum``/``math.fsum``/``map``. Against the tests' exact evaluator the one
    difference is that ``average`` is ``fsum(window) / count`` (two roundings) instead of one
    exact rounding, which can only matter for a window mean within an ulp of the threshold.
    """

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        self.state = _start(definition, "metrics", state)
        self.definition = definition
        self._f = float(definition.frequency)  # type: ignore[arg-type]
        self._w = float(definition.window)  # type: ignore[arg-type]
        self._k = 1
        self._last = -math.inf
        self._limit = _limit(self._f)
        self._times = array("d")
        self._values = array("d")
        self._trimmed = 0  # points dropped from the front since the last snapshot
        self._each, self._one = rule_tests(definition)

    def feed_arrays(self, times: array, values: array, *, rising: bool | None = None) -> list[Transition]:
        """Add points (run times in seconds, values) in logging order; return transitions.

        ``rising``: whether ``times`` never decrease (`never_decrease`), when the caller knows it
        (the metrics of one record shape share their times: a flush checks them once); None
        checks here.
        """
        if len(times) != len(values):
            raise ValidationError(f"times and values differ in length: {len(times)} and {len(values)}")
        if rising is not None and type(rising) is not bool:
            raise ValidationError(f"rising must be True, False or None, got {type(rising).__name__}")
        if not len(times):
            return []
        # Drop points no later check can see (decided by the checks already done, so a
        # restored snapshot never needs them back).
        cut = bisect.bisect_right(self._times, self._k * self._f - self._w)
        if cut:
            del self._times[:cut]
            del self._values[:cut]
            self._trimmed += cut
        if times[0] < self._last or not (never_decrease(times) if rising is None else rising):
            times = array("d", itertools.accumulate(times, max, initial=self._last))[1:]  # never back
        lim = self._limit  # times now never decrease: the first and last are the extremes
        if times[-1] > lim or times[0] < -lim:  # beyond exact check times: counted at the bound
            times = array("d", (lim if t > lim else -lim if t < -lim else t for t in times))
        self._last = times[-1]  # NaN points are dropped below, but their time drives checks
        total = sum(values)
        if total != total or total in (math.inf, -math.inf):  # NaN present, or infinities
            keep = [v == v for v in values]
            times = array("d", itertools.compress(times, keep))
            values = array("d", itertools.compress(values, keep))
        self._times.extend(times)
        self._values.extend(values)
        out: list[Transition] = []
        self._checks(out)
        return out

    def next_check(self) -> float | None:
        """The run time of the next check not yet performed (None: no point a check could see)."""
        return self._k * self._f if self._times else None

    def advance(self, time: float, *, final: bool = False) -> list[Transition]:
        """Perform the checks due before run time ``time`` with no new point (the writer's
        schedule: every ``frequency`` s of the run's clock); later points older than ``time``
        count as logged at ``time``. With ``final`` (the run ends) the next check is performed
        too: its window can get no more points. With no point a check could see, nothing
        happens (the clock does not move: an empty window changes nothing)."""
        t = as_float(time)
        if type(t) is not float or not math.isfinite(t):
            fail("time", time, "a finite number of seconds")
        out: list[Transition] = []
        if not self._times:
            return out
        t = min(t, self._limit)
        if t > self._last:
            self._last = t
        self._checks(out)
        if final and self._times:
            self._last = max(self._last, math.nextafter(self._k * self._f, math.inf))
            self._checks(out)
        return out

    def _checks(self, out: list[Transition]) -> None:
        """Perform every check at a time before the latest time fed (``_last``)."""
        T, f, w = self._times, self._f, self._w
        k = self._k
        while k * f < self._last:
            b = k * f
            lo = bisect.bisect_right(T, b - w)
            hi = bisect.bisect_right(T, b, lo)
            if lo < hi:
                self._decide(self._values[lo:hi], b, out)
                # The checks after this one see the same points, and decide the same, until a
                # point enters (T[hi] <= b) or leaves (T[lo] <= b - w): skip to the first that
                # differs, so a window many times the frequency costs a check a point, not one
                # a frequency (a 1,000 s window checked every microsecond). Never past the
                # checks not due yet (at or after the latest time fed): a later point may
                # still fall in their windows.
                enter = _first_check(f, k + 1, T[hi] if hi < len(T) else self._last, 0.0)
                k = min(enter, _first_check(f, k + 1, T[lo], w))
            elif lo < len(T):  # empty window: jump to the first check that can see T[lo]
                k = max(k + 1, math.ceil(T[lo] / f))
            else:
                k = max(k + 1, math.ceil(self._last / f))
                break
        self._k = k

    def snapshot(self) -> tuple:
        """Cheap state to ``restore`` if the points just fed are not stored after all."""
        self._trimmed = 0
        return (self.state, self._k, self._last, len(self._times))

    def restore(self, snap: tuple) -> None:
        """Forget everything fed since ``snapshot``."""
        self.state, self._k, self._last, n = snap
        keep = n - self._trimmed
        del self._times[keep:]
        del self._values[keep:]

    def _decide(self, seg: array, b: float, out: list[Transition]) -> None:
        agg = self.definition.aggregation
        if agg == "at least one":
            hit = any(self._each(seg))
        elif agg == "all":
            hit = all(self._each(seg))
        else:
            s = sum(seg)
            if s - s != 0.0:  # an infinity (or inf - inf): follow IEEE as the exact evaluator does
                pos, neg = math.inf in seg, -math.inf in seg
                v = math.nan if pos and neg else (math.inf if pos else -math.inf if neg else s)
            else:
                v = math.fsum(seg)
                if agg == "average":
                    v /= len(seg)
            hit = self._one(v)
        new = "critical" if hit else "ok"
        if new != self.state:
            self.state = new
            out.append(Transition(b, new))
