"""Alerts: validated definitions and the pure state machines that evaluate them.

An alert is a named :class:`AlertDefinition` attached to runs; on each run it is ``"ok"`` or
``"critical"``. Sources: ``"metrics"`` (a rule on one metric's values), ``"events"`` (a substring
of logged messages) and ``"user"`` (set by hand). Nothing here does I/O: the writer feeds the
evaluators at ingest and stores the :class:`Transition` objects they return.

Units: ``frequency``, ``window`` and every time are seconds of run time (since the run started).
Legacy ``add_alert(frequency=None)`` means a frequency of 1 s.

Metric alerts (:class:`MetricAlertEvaluator`)
  * Checks are due at run times ``b = k * frequency``, k = 1, 2, ... They are driven by data: the
    check at ``b`` is performed when the first point with a time strictly after ``b`` is fed (or
    :meth:`~MetricAlertEvaluator.advance` passes ``b``), so every point logged at or before ``b``
    counts. A run that stops logging is not checked any more.
  * Time never goes back: a point older than the previous one counts as if logged at the previous
    point's time (kept, not dropped; its own check may already be done).
  * The check at ``b`` looks at the values logged in ``(b - window, b]``. ``"average"``/``"sum"``
    apply the rule to the window's mean/sum (computed exactly, rounded once); ``"at least one"``/
    ``"all"`` apply the rule to each value and hold if at least one/every value satisfies it.
  * Rules are strict: ``"is above"`` v > threshold, ``"is below"`` v < threshold,
    ``"is inside range"`` low < v < high, ``"is outside range"`` v < low or v > high. A value equal
    to the threshold or to a bound satisfies no rule.
  * NaN values are dropped (their time still drives checks). +-inf are values; a mean or sum of
    both +inf and -inf is NaN, which satisfies no rule.
  * A rule that holds makes the state ``"critical"``, otherwise ``"ok"``. A check whose window is
    empty changes nothing. A :class:`Transition` (at time ``b``) is returned only when the state
    changes. The state starts ``"ok"``, or as given when a run is resumed.
  * Cost: each point enters and leaves the window once and each check is O(1) (sums are kept
    as running exact integers), so ``feed`` is O(1) amortized; memory holds the points of the
    last ``window + frequency`` seconds. Times must satisfy ``|time| <= 2**50 * frequency``.

Event alerts (:class:`EventAlertEvaluator`)
  A message containing ``pattern`` (case-sensitive substring) makes the state ``"critical"`` at
  the message's time. Checks are due and driven as for metrics; the check at ``b`` returns the state
  to ``"ok"`` if no message in ``(b - frequency, b]`` matched. An evaluator resumed in the
  ``"critical"`` state acts as if a matching message was logged at the first time it is fed.

User alerts change only through :func:`user_transition`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import numbers
import operator
import sys
from array import array
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ValidationError
from .._validation import check_name, check_optional_text, check_text

SOURCES = ("metrics", "events", "user")
THRESHOLD_RULES = ("is above", "is below")
RANGE_RULES = ("is inside range", "is outside range")
RULES = THRESHOLD_RULES + RANGE_RULES
AGGREGATIONS = ("average", "sum", "at least one", "all")
NOTIFICATIONS = ("none", "email")
STATES = ("ok", "critical")

_OPTIONAL = ("frequency", "window", "rule", "metric", "threshold", "range_low", "range_high",
             "aggregation", "pattern")
_SCALE = 1074  # every finite double is an integer multiple of 2**-1074: window sums stay exact
_MAX_CHECKS = 2.0**50  # beyond this many checks, k * frequency no longer locates boundaries


def shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(arg: str, value: Any, accepted: str) -> None:
    raise ValidationError(f"{arg} must be {accepted}; got {shown(value)}")


def _choice(value: Any, arg: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        _fail(arg, value, "one of " + ", ".join(map(repr, allowed)))
    return value


def _as_float(value: Any) -> Any:
    """A real number (bools refused) as a float, -0.0 as 0.0 (so equal definitions share a key).

    Anything else is returned unchanged, for the validator to refuse.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value) + 0.0
        except (OverflowError, TypeError, ValueError):
            pass
    return value


def _number(value: Any, arg: str, accepted: str, low: float = -math.inf) -> float:
    """``value`` as a float if it is a real number with ``low < value < inf``."""
    value = _as_float(value)
    if type(value) is not float or not low < value < math.inf:
        _fail(arg, value, accepted)
    return value


def _validate(d: AlertDefinition) -> None:
    """Refuse a definition that is malformed or has fields that do not apply to its kind."""
    check_name(d.name, "name")
    _choice(d.source, "source", SOURCES)
    check_optional_text(d.description, "description")
    _choice(d.notification, "notification", NOTIFICATIONS)
    if not isinstance(d.trigger_abort, bool):
        _fail("trigger_abort", d.trigger_abort, "True or False")
    used: set[str] = set()
    if d.source != "user":
        _number(d.frequency, "frequency", "a positive finite number of seconds", 0.0)
        used.add("frequency")
    if d.source == "metrics":
        _number(d.window, "window", "a positive finite number of seconds", 0.0)
        _choice(d.rule, "rule", RULES)
        check_name(d.metric, "metric")
        _choice(d.aggregation, "aggregation", AGGREGATIONS)
        used |= {"window", "rule", "metric", "aggregation"}
        if d.rule in THRESHOLD_RULES:
            _number(d.threshold, "threshold", f"a finite number (required by rule {d.rule!r})")
            used.add("threshold")
        else:
            for arg in ("range_low", "range_high"):
                _number(getattr(d, arg), arg, f"a finite number (required by rule {d.rule!r})")
            if not d.range_low < d.range_high:
                raise ValidationError(f"range_low must be below range_high; got range_low="
                                      f"{d.range_low!r}, range_high={d.range_high!r}")
            used |= {"range_low", "range_high"}
    elif d.source == "events":
        if not check_text(d.pattern, "pattern"):
            _fail("pattern", d.pattern, "a non-empty string")
        used.add("pattern")
    for arg in _OPTIONAL:
        if arg not in used and getattr(d, arg) is not None:
            ranged = d.source == "metrics" and arg in ("threshold", "range_low", "range_high")
            kind = f"rule {d.rule!r}" if ranged else f"a {d.source!r} alert"
            _fail(arg, getattr(d, arg), f"None for {kind}")


@attrs.frozen
class AlertDefinition:
    """A validated, normalized alert definition (fields that do not apply are None).

    The constructor validates (ValidationError otherwise); the factory functions below fill in
    defaults and drop arguments that do not apply. Numbers are stored as floats.
    """

    name: str
    source: str
    description: str | None
    notification: str
    trigger_abort: bool
    frequency: float | None = attrs.field(converter=_as_float)
    window: float | None = attrs.field(converter=_as_float)
    rule: str | None
    metric: str | None
    threshold: float | None = attrs.field(converter=_as_float)
    range_low: float | None = attrs.field(converter=_as_float)
    range_high: float | None = attrs.field(converter=_as_float)
    aggregation: str | None
    pattern: str | None

    def __attrs_post_init__(self) -> None:
        _validate(self)

    def key(self) -> str:
        """Canonical JSON of the whole definition: equal definitions, and only they, share a key."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-able dict (None where a field does not apply)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> AlertDefinition:
        """Rebuild a definition from :meth:`to_dict` output, validating it (it may be untrusted).

        Raises:
            ValidationError: ``d`` is not a dict with exactly the fields, or a field is invalid.
        """
        if not isinstance(d, Mapping):
            _fail("alert definition", d, "a dict")
        fields = [a.name for a in attrs.fields(cls)]
        extra = ", ".join(sorted(map(shown, set(d) - set(fields)))) or "none"
        missing = ", ".join(sorted(set(fields) - set(d))) or "none"
        if extra != "none" or missing != "none":
            raise ValidationError(f"alert definition must have exactly the keys {', '.join(fields)}"
                                  f"; unknown keys: {extra}; missing keys: {missing}")
        return cls(**{k: d[k] for k in fields})


def _make(name: Any, source: str, description: Any, notification: Any, trigger_abort: Any,
          **fields: Any) -> AlertDefinition:
    """Build a definition; the fields not given are None."""
    return AlertDefinition(name, source, description, notification, trigger_abort,
                           **{arg: fields.get(arg) for arg in _OPTIONAL})


def add_alert(name: str, source: str = "metrics", frequency: float | None = None,
              window: float = 5, rule: str | None = None, metric: str | None = None,
              threshold: float | None = None, range_low: float | None = None,
              range_high: float | None = None, notification: str = "none",
              pattern: str | None = None, aggregation: str = "average",
              trigger_abort: bool = False, description: str | None = None) -> AlertDefinition:
    """Legacy Simvue ``add_alert``: one call for every kind of alert.

    ``frequency=None`` means 1 s. As in Simvue, arguments that do not apply to ``source`` (or, for
    metrics, to ``rule``: ``threshold`` vs ``range_low``/``range_high``) are ignored.

    Raises:
        ValidationError: an argument that applies is missing or invalid.
    """
    _choice(source, "source", SOURCES)
    frequency = 1.0 if frequency is None else frequency
    if source == "user":
        return _make(name, source, description, notification, trigger_abort)
    if source == "events":
        return _make(name, source, description, notification, trigger_abort,
                     frequency=frequency, pattern=pattern)
    _choice(rule, "rule", RULES)
    bounds = {"threshold": threshold} if rule in THRESHOLD_RULES else \
        {"range_low": range_low, "range_high": range_high}
    return _make(name, source, description, notification, trigger_abort, frequency=frequency,
                 window=window, rule=rule, metric=metric, aggregation=aggregation, **bounds)


def metric_threshold_alert(name: str, metric: str, threshold: float, rule: str, *,
                           description: str | None = None, window: float | None = None,
                           frequency: float = 1, aggregation: str = "average",
                           notification: str = "none",
                           trigger_abort: bool = False) -> AlertDefinition:
    """Alert when ``metric``, aggregated over ``window`` s (default: ``frequency``), is above or
    below ``threshold``."""
    _choice(rule, "rule", THRESHOLD_RULES)
    return _make(name, "metrics", description, notification, trigger_abort, frequency=frequency,
                 window=frequency if window is None else window, rule=rule, metric=metric,
                 threshold=threshold, aggregation=aggregation)


def metric_range_alert(name: str, metric: str, range_low: float, range_high: float, rule: str, *,
                       description: str | None = None, window: float | None = None,
                       frequency: float = 1, aggregation: str = "average",
                       notification: str = "none", trigger_abort: bool = False) -> AlertDefinition:
    """Alert when ``metric`` is inside/outside the open interval ``(range_low, range_high)``."""
    _choice(rule, "rule", RANGE_RULES)
    return _make(name, "metrics", description, notification, trigger_abort, frequency=frequency,
                 window=frequency if window is None else window, rule=rule, metric=metric,
                 range_low=range_low, range_high=range_high, aggregation=aggregation)


def event_alert(name: str, pattern: str, *, description: str | None = None, frequency: float = 1,
                notification: str = "none", trigger_abort: bool = False) -> AlertDefinition:
    """Alert when a logged message contains ``pattern``; ok again after ``frequency`` s without."""
    return _make(name, "events", description, notification, trigger_abort, frequency=frequency,
                 pattern=pattern)


def user_alert(name: str, *, description: str | None = None, notification: str = "none",
               trigger_abort: bool = False) -> AlertDefinition:
    """An alert whose state is set by hand (:func:`user_transition`)."""
    return _make(name, "user", description, notification, trigger_abort)


@attrs.frozen
class Transition:
    """The state of an alert on a run changed to ``state`` at run time ``time`` (seconds)."""

    time: float
    state: str


def user_transition(definition: AlertDefinition, current_state: str, new_state: str,
                    time: float) -> Transition | None:
    """The transition of a user alert set to ``new_state`` at run time ``time`` (None if unchanged).

    Raises:
        ValidationError: not a user alert, a state not in ``STATES``, or a non-finite time.
    """
    if not isinstance(definition, AlertDefinition) or definition.source != "user":
        _fail("definition", definition, "a user alert (only those are set by hand)")
    _choice(current_state, "current_state", STATES)
    _choice(new_state, "new_state", STATES)
    t = _number(time, "time", "a finite number of seconds")
    return None if new_state == current_state else Transition(t, new_state)


class _Checks:
    """The clock shared by the evaluators: checks due at ``k * frequency``, passed by fed times."""

    _source = ""

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        if not isinstance(definition, AlertDefinition) or definition.source != self._source:
            _fail("definition", definition, f"a {self._source!r} alert")
        self.definition = definition
        self.state = _choice(state, "state", STATES)
        self._f: float = definition.frequency  # type: ignore[assignment]
        self._limit = min(_MAX_CHECKS * self._f, sys.float_info.max)
        self._last = -math.inf  # latest time fed
        self._k = 1  # index of the next check that is due
        self._bound = self._f  # its time, k * frequency

    def _time(self, time: Any) -> float:
        """The validated time, moved up to the latest time fed so far (time never goes back)."""
        t = time if type(time) is float else _as_float(time)
        if type(t) is not float or not -self._limit <= t <= self._limit:
            _fail("time", time, f"a finite number of seconds within +-{self._limit:g}")
        return t if t > self._last else self._last

    def _first(self, lo: int, x: float, offset: float) -> int:
        """The smallest check index ``k >= lo`` with ``k * frequency - offset >= x``."""
        f = self._f
        k = max(lo, math.ceil((x + offset) / f))
        # the division may round either way; step to the exact answer (at most a step or two)
        while k > lo and (k - 1) * f - offset >= x:
            k -= 1
        while k * f - offset < x:
            k += 1
        return k

    def _set(self, time: float, state: str, out: list[Transition]) -> None:
        self.state = state
        out.append(Transition(time, state))

    def advance(self, time: float) -> list[Transition]:
        """Perform the checks due before ``time`` without adding data (e.g. when the run ends)."""
        out: list[Transition] = []
        self._last = self._time(time)
        self._advance(self._last, out)
        return out

    def _advance(self, t: float, out: list[Transition]) -> None:
        raise NotImplementedError


class MetricAlertEvaluator(_Checks):
    """Evaluates one metric alert on one run from its points (module docstring: semantics).

    Each point is added and evicted once and each check costs O(1), so ``feed`` is O(1) amortized;
    memory holds the points of one window.
    """

    _source = "metrics"

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        super().__init__(definition, state)
        self._w: float = definition.window  # type: ignore[assignment]
        lo, hi, th = definition.range_low, definition.range_high, definition.threshold
        self._test = {"is above": lambda v: v > th, "is below": lambda v: v < th,
                      "is inside range": lambda v: lo < v < hi,
                      "is outside range": lambda v: v < lo or v > hi}[definition.rule]
        self._each = definition.aggregation in ("at least one", "all")
        # entries (time, x): x is 1/0 (rule holds) for per-value aggregations, else the value
        # as an exact multiple of 2**-1074, or a float +-inf
        self._win: deque[tuple[float, Any]] = deque()
        self._n = self._total = self._pinf = self._ninf = 0

    def feed(self, time: float, value: float) -> list[Transition]:
        """Add one point of the alert's metric; return the transitions of the checks it passed.

        Raises:
            ValidationError: ``time`` is not a finite number, or ``value`` not a real number.
        """
        out: list[Transition] = []
        self._push(time, value, out)
        return out

    def feed_many(self, times: Any, values: Any) -> list[Transition]:
        """Same as feeding the points one by one (``times``, ``values``: equal-length sequences)."""
        if len(times) != len(values):
            raise ValidationError(f"times and values must have the same length; got {len(times)} "
                                  f"and {len(values)}")
        out: list[Transition] = []
        push = self._push
        for time, value in zip(times, values):
            push(time, value, out)
        return out

    def _push(self, time: Any, value: Any, out: list[Transition]) -> None:
        t = self._time(time)
        v = value if type(value) is float else _as_float(value)
        if type(v) is not float:
            _fail("value", value, "a real number")
        self._last = t
        if t > self._bound:
            self._advance(t, out)
        if v != v:  # NaN: never satisfies a rule, so it is not kept
            return
        if self._each:
            x: Any = 1 if self._test(v) else 0
            self._total += x
        elif v - v == 0.0:  # finite
            num, den = v.as_integer_ratio()
            x = num << (_SCALE + 1 - den.bit_length())
            self._total += x
        else:
            x = v
            if v > 0:
                self._pinf += 1
            else:
                self._ninf += 1
        self._win.append((t, x))
        self._n += 1

    def _advance(self, t: float, out: list[Transition]) -> None:
        f, w, win = self._f, self._w, self._win
        while self._bound < t:
            lower = self._bound - w
            while win and win[0][0] <= lower:
                _, x = win.popleft()
                self._n -= 1
                if type(x) is int:
                    self._total -= x
                elif x > 0:
                    self._pinf -= 1
                else:
                    self._ninf -= 1
            k = self._first(self._k + 1, t, 0.0)  # the first check not passed by t
            if win:
                self._decide(self._bound, out)
                # the window, so the verdict, stays the same until its oldest point leaves it
                if win[0][0] <= (k - 1) * f - w:
                    k = self._first(self._k + 1, win[0][0], w)
            self._k, self._bound = k, k * f

    def _decide(self, b: float, out: list[Transition]) -> None:
        agg = self.definition.aggregation
        if agg == "at least one":
            hit = self._total > 0
        elif agg == "all":
            hit = self._total == self._n
        else:
            if self._pinf or self._ninf:
                v = math.nan if self._pinf and self._ninf else math.inf if self._pinf else -math.inf
            else:
                den = (1 if agg == "sum" else self._n) << _SCALE
                try:
                    v = self._total / den  # int / int: correctly rounded
                except OverflowError:
                    v = math.inf if self._total > 0 else -math.inf
            hit = self._test(v)
        new = "critical" if hit else "ok"
        if new != self.state:
            self._set(b, new, out)


class EventAlertEvaluator(_Checks):
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
            _fail("message", message, "a str")
        out: list[Transition] = []
        self._last = t
        self._advance(t, out)
        if self._pattern in message:
            self._match = t
            if self.state == "ok":
                self._set(t, "critical", out)
        return out

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


class MetricAlertChecker:
    """A metric alert evaluated a batch of points at a time: what the writer uses at flush.

    Same semantics as :class:`MetricAlertEvaluator` (checks at ``k * frequency`` passed by a
    later point, window ``(b - window, b]``, strict rules, NaN dropped, no data no change),
    but the work is done per check, not per point: windows are found by bisection and
    aggregated with C-level ``sum``/``math.fsum``/``map``. The one difference: ``average``
    is ``fsum(window) / count`` (two roundings) instead of one exact rounding, which can only
    matter for a window mean within an ulp of the threshold.
    """

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        if not isinstance(definition, AlertDefinition) or definition.source != "metrics":
            _fail("definition", definition, "a 'metrics' alert")
        self.definition = definition
        self.state = _choice(state, "state", STATES)
        self._f = float(definition.frequency)
        self._w = float(definition.window)
        self._k = 1
        self._last = -math.inf
        self._times = array("d")
        self._values = array("d")
        self._trimmed = 0  # points dropped from the front since the last snapshot
        th, lo, hi = definition.threshold, definition.range_low, definition.range_high
        rule = definition.rule
        if rule == "is above":
            self._holds = lambda seg: map(th.__lt__, seg)
        elif rule == "is below":
            self._holds = lambda seg: map(th.__gt__, seg)
        elif rule == "is inside range":
            self._holds = lambda seg: map(operator.and_, map(lo.__lt__, seg), map(hi.__gt__, seg))
        else:
            self._holds = lambda seg: map(operator.or_, map(lo.__gt__, seg), map(hi.__lt__, seg))

    def feed_arrays(self, times: array, values: array) -> list[Transition]:
        """Add points (run times in seconds, values) in logging order; return transitions."""
        if len(times) != len(values):
            raise ValidationError(f"times and values differ in length: {len(times)} and {len(values)}")
        if not len(times):
            return []
        # Drop points no later check can see (decided by the checks already done, so a
        # restored snapshot never needs them back).
        cut = bisect.bisect_right(self._times, self._k * self._f - self._w)
        if cut:
            del self._times[:cut]
            del self._values[:cut]
            self._trimmed += cut
        if times[0] < self._last or any(map(operator.gt, times, itertools.islice(times, 1, None))):
            times = array("d", itertools.accumulate(times, max, initial=self._last))[1:]  # never back
        self._last = times[-1]  # NaN points are dropped below, but their time drives checks
        total = sum(values)
        if total != total or total in (math.inf, -math.inf):  # NaN present, or infinities
            keep = [v == v for v in values]
            times = array("d", itertools.compress(times, keep))
            values = array("d", itertools.compress(values, keep))
        self._times.extend(times)
        self._values.extend(values)
        out: list[Transition] = []
        T, f, w = self._times, self._f, self._w
        k = self._k
        while k * f < self._last:
            b = k * f
            lo = bisect.bisect_right(T, b - w)
            hi = bisect.bisect_right(T, b, lo)
            if lo < hi:
                self._decide(self._values[lo:hi], b, out)
                k += 1
            elif lo < len(T):  # empty window: jump to the first check that can see T[lo]
                k = max(k + 1, math.ceil(T[lo] / f))
            else:
                k = max(k + 1, math.ceil(self._last / f))
                break
        self._k = k
        return out

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
            hit = any(self._holds(seg))
        elif agg == "all":
            hit = all(self._holds(seg))
        else:
            s = sum(seg)
            if s - s != 0.0:  # an infinity (or inf - inf): follow IEEE as the evaluator does
                pos, neg = math.inf in seg, -math.inf in seg
                v = math.nan if pos and neg else (math.inf if pos else -math.inf if neg else s)
            else:
                v = math.fsum(seg)
                if agg == "average":
                    v /= len(seg)
            hit = v == v and next(self._holds((v,)))
        new = "critical" if hit else "ok"
        if new != self.state:
            self.state = new
            out.append(Transition(b, new))
