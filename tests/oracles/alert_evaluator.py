"""An exact, per-point evaluator of metric alerts: the oracle the tests compare the checker used
at flush (``runlite.alerts.MetricAlertChecker``) with.

Same semantics as the checker (``runlite/alerts/checker.py`` docstring, ``docs/ALERTS.md``), and
the same rule table (``runlite.alerts.rules.RULE_TABLE``), but computed differently:

* One point at a time: ``feed(time, value)`` performs the checks the point passes. Each point
  enters and leaves the window once and each check is O(1), so ``feed`` is O(1) amortized;
  memory holds the points of the last ``window + frequency`` seconds.
* Exact sums: window sums are running integers (every finite double is an integer multiple of
  2**-1074), so ``"average"``/``"sum"`` are the exact mean/sum rounded once (the checker rounds
  ``fsum / count`` twice, which can only matter within an ulp of the threshold).
* A check whose window stays the same as the previous one is skipped (same verdict), so long
  gaps cost nothing. A time beyond ``+-2**50 * frequency`` counts as that bound (``CheckClock``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from runlite.alerts.checker import CheckClock
from runlite.alerts.rules import AlertDefinition, Transition, as_float, fail, rule_tests
from runlite.errors import ValidationError

_SCALE = 1074  # every finite double is an integer multiple of 2**-1074: window sums stay exact


class MetricAlertEvaluator(CheckClock):
    """Evaluates one metric alert on one run from its points (semantics: module docstring)."""

    _source = "metrics"

    def __init__(self, definition: AlertDefinition, state: str = "ok"):
        super().__init__(definition, state)
        self._w: float = definition.window  # type: ignore[assignment]
        self._each, self._one = rule_tests(definition)
        self._per_value = definition.aggregation in ("at least one", "all")
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
        v = value if type(value) is float else as_float(value)
        if type(v) is not float:
            fail("value", value, "a real number")
        self._last = t
        if t > self._bound:
            self._advance(t, out)
        if v != v:  # NaN: never satisfies a rule, so it is not kept
            return
        if self._per_value:
            x: Any = 1 if next(self._each((v,))) else 0
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
            hit = self._one(v)
        new = "critical" if hit else "ok"
        if new != self.state:
            self._set(b, new, out)
