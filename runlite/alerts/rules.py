"""Alert definitions: validation, the factory functions, and the rule table.

An alert is a named :class:`AlertDefinition` attached to runs; on each run it is ``"ok"`` or
``"critical"``. Sources: ``"metrics"`` (a rule on one metric's values), ``"events"`` (a substring
of logged messages) and ``"user"`` (set by hand, :func:`user_transition`). Nothing here does I/O;
the state machines that evaluate definitions are in :mod:`runlite.alerts.checker`, and the
semantics in ``docs/ALERTS.md``.

Units: ``frequency``, ``window`` and every time are seconds of run time (since the run started).
Legacy ``add_alert(frequency=None)`` means a frequency of 1 s.

Metric rules live in one table, :data:`RULE_TABLE`: a rule's row names the definition fields it
reads (its bounds) and the test deciding whether a value satisfies it. Validation, the factory
functions, the checker used at flush and the tests' exact evaluator all read that table, so a new
rule on the existing fields (``threshold`` or ``range_low``/``range_high``) is one new row.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..errors import ValidationError
from .._validation import check_choice, check_name, check_optional_text, check_text, shown


@attrs.frozen
class Rule:
    """One metric rule: ``bounds`` are the definition fields it reads, in increasing order (each
    must be below the next); ``test(*bounds, values)`` yields, for each value (a float, never
    NaN), whether it satisfies the rule. Tests are lazy ``map`` chains of float comparisons, so
    the checker applies them to a whole window at C speed."""

    bounds: tuple[str, ...]
    test: Callable[..., Iterator[bool]]


# Rules are strict: a value equal to the threshold or to a bound satisfies none of them.
RULE_TABLE: dict[str, Rule] = {
    "is above": Rule(("threshold",), lambda th, vs: map(th.__lt__, vs)),  # v > threshold
    "is below": Rule(("threshold",), lambda th, vs: map(th.__gt__, vs)),  # v < threshold
    "is inside range": Rule(("range_low", "range_high"),  # low < v < high
                            lambda lo, hi, vs: map(operator.and_, map(lo.__lt__, vs), map(hi.__gt__, vs))),
    "is outside range": Rule(("range_low", "range_high"),  # v < low or v > high
                             lambda lo, hi, vs: map(operator.or_, map(lo.__gt__, vs), map(hi.__lt__, vs))),
}

SOURCES = ("metrics", "events", "user")
RULES = tuple(RULE_TABLE)
THRESHOLD_RULES = tuple(name for name, r in RULE_TABLE.items() if r.bounds == ("threshold",))
RANGE_RULES = tuple(name for name, r in RULE_TABLE.items() if r.bounds == ("range_low", "range_high"))
AGGREGATIONS = ("average", "sum", "at least one", "all")
NOTIFICATIONS = ("none", "email")
STATES = ("ok", "critical")

_OPTIONAL = ("frequency", "window", "rule", "metric", "threshold", "range_low", "range_high",
             "aggregation", "pattern")
_BOUNDS = frozenset(field for r in RULE_TABLE.values() for field in r.bounds)


def rule_tests(definition: AlertDefinition) -> tuple[Callable[[Iterable[float]], Iterator[bool]],
                                                   Callable[[float], bool]]:
    """A metric definition's rule as ``(each, one)``: ``each(values)`` yields whether each value
    (floats, NaN already dropped) satisfies it; ``one(value)`` decides one aggregate value (a
    mean or sum, which is NaN for a window holding both infinities: NaN satisfies no rule)."""
    rule = RULE_TABLE[definition.rule]  # type: ignore[index]
    each = functools.partial(rule.test, *(getattr(definition, field) for field in rule.bounds))

    def one(value: float) -> bool:
        return value == value and next(each((value,)))

    return each, one


def fail(arg: str, value: Any, accepted: str) -> None:
    """Raise the ValidationError ``<arg> must be <accepted>; got <value>``."""
    raise ValidationError(f"{arg} must be {accepted}; got {shown(value)}")


def as_float(value: Any) -> Any:
    """A real number (bools refused) as a float, -0.0 as 0.0 (so equal definitions share a key).

    Anything else is returned unchanged, for the validator to refuse.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value) + 0.0
        except (OverflowError, TypeError, ValueError):
            pass
    return value


def number(value: Any, arg: str, accepted: str, low: float = -math.inf) -> float:
    """``value`` as a float if it is a real number with ``low < value < inf``."""
    value = as_float(value)
    if type(value) is not float or not low < value < math.inf:
        fail(arg, value, accepted)
    return value


# Seconds a frequency or window may take. The checker finds check times as k * frequency,
# exact while a run's time stays within 2**50 checks: down to a microsecond that holds for
# 30 years of run time (1e-320 s looped for ever); up to 30 years, the times it adds up
# stay within the 64-bit microseconds they are stored in (1e300 s overflowed them).
MIN_PERIOD, MAX_PERIOD = 1e-6, 1e9


def period(value: Any, arg: str) -> float:
    """A frequency or window: seconds from ``MIN_PERIOD`` to ``MAX_PERIOD``."""
    value = as_float(value)
    if type(value) is not float or not MIN_PERIOD <= value <= MAX_PERIOD:
        fail(arg, value, f"a number of seconds from {MIN_PERIOD:g} to {MAX_PERIOD:g}")
    return value


def _validate(d: AlertDefinition) -> None:
    """Refuse a definition that is malformed or has fields that do not apply to its kind."""
    check_name(d.name, "name")
    check_choice(d.source, "source", SOURCES)
    check_optional_text(d.description, "description")
    check_choice(d.notification, "notification", NOTIFICATIONS)
    if not isinstance(d.trigger_abort, bool):
        fail("trigger_abort", d.trigger_abort, "True or False")
    used: set[str] = set()
    if d.source != "user":
        period(d.frequency, "frequency")
        used.add("frequency")
    if d.source == "metrics":
        period(d.window, "window")
        check_choice(d.rule, "rule", RULES)
        check_name(d.metric, "metric")
        check_choice(d.aggregation, "aggregation", AGGREGATIONS)
        used |= {"window", "rule", "metric", "aggregation"}
        bounds = RULE_TABLE[d.rule].bounds  # type: ignore[index]
        for arg in bounds:
            number(getattr(d, arg), arg, f"a finite number (required by rule {d.rule!r})")
        for lower, upper in zip(bounds, bounds[1:]):
            if not getattr(d, lower) < getattr(d, upper):
                raise ValidationError(f"{lower} must be below {upper}; got {lower}="
                                      f"{getattr(d, lower)!r}, {upper}={getattr(d, upper)!r}")
        used |= set(bounds)
    elif d.source == "events":
        if not check_text(d.pattern, "pattern"):
            fail("pattern", d.pattern, "a non-empty string")
        used.add("pattern")
    for arg in _OPTIONAL:
        if arg not in used and getattr(d, arg) is not None:
            ranged = d.source == "metrics" and arg in _BOUNDS
            kind = f"rule {d.rule!r}" if ranged else f"a {d.source!r} alert"
            fail(arg, getattr(d, arg), f"None for {kind}")


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
    frequency: float | None = attrs.field(converter=as_float)
    window: float | None = attrs.field(converter=as_float)
    rule: str | None
    metric: str | None
    threshold: float | None = attrs.field(converter=as_float)
    range_low: float | None = attrs.field(converter=as_float)
    range_high: float | None = attrs.field(converter=as_float)
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
            fail("alert definition", d, "a dict")
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
    check_choice(source, "source", SOURCES)
    frequency = 1.0 if frequency is None else frequency
    if source == "user":
        return _make(name, source, description, notification, trigger_abort)
    if source == "events":
        return _make(name, source, description, notification, trigger_abort,
                     frequency=frequency, pattern=pattern)
    check_choice(rule, "rule", RULES)
    given = {"threshold": threshold, "range_low": range_low, "range_high": range_high}
    bounds = {field: given[field] for field in RULE_TABLE[rule].bounds}
    return _make(name, source, description, notification, trigger_abort, frequency=frequency,
                 window=window, rule=rule, metric=metric, aggregation=aggregation, **bounds)


def metric_threshold_alert(name: str, metric: str, threshold: float, rule: str, *,
                           description: str | None = None, window: float | None = None,
                           frequency: float = 1, aggregation: str = "average",
                           notification: str = "none",
                           trigger_abort: bool = False) -> AlertDefinition:
    """Alert when ``metric``, aggregated over ``window`` s (default: ``frequency``), is above or
    below ``threshold``."""
    check_choice(rule, "rule", THRESHOLD_RULES)
    return _make(name, "metrics", description, notification, trigger_abort, frequency=frequency,
                 window=frequency if window is None else window, rule=rule, metric=metric,
                 threshold=threshold, aggregation=aggregation)


def metric_range_alert(name: str, metric: str, range_low: float, range_high: float, rule: str, *,
                       description: str | None = None, window: float | None = None,
                       frequency: float = 1, aggregation: str = "average",
                       notification: str = "none", trigger_abort: bool = False) -> AlertDefinition:
    """Alert when ``metric`` is inside/outside the open interval ``(range_low, range_high)``."""
    check_choice(rule, "rule", RANGE_RULES)
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
        fail("definition", definition, "a user alert (only those are set by hand)")
    check_choice(current_state, "current_state", STATES)
    check_choice(new_state, "new_state", STATES)
    t = number(time, "time", "a finite number of seconds")
    return None if new_state == current_state else Transition(t, new_state)
