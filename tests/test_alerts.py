"""Tests for runlite.alerts: definitions, validation, and the alert state machines."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlite import alerts as A
from runlite.alerts import AlertDefinition, Transition
from runlite.errors import LimitError, ValidationError
from tests.oracles.alert_evaluator import MetricAlertEvaluator

NAN, INF = math.nan, math.inf


def threshold(rule="is above", th=10, **kw):
    return A.metric_threshold_alert("a", "loss", th, rule, **kw)


def ranged(rule="is inside range", lo=-1, hi=1, **kw):
    return A.metric_range_alert("a", "loss", lo, hi, rule, **kw)


def states(transitions):
    return [(t.time, t.state) for t in transitions]


# --- validation -----------------------------------------------------------------------------

BAD_CALLS = [
    # (factory, kwargs, words the message must contain)
    (A.user_alert, {"name": ""}, ["name", "''"]),
    (A.user_alert, {"name": "   "}, ["name", "blank"]),
    (A.user_alert, {"name": 5}, ["name", "5"]),
    (A.user_alert, {"name": "bad\nname"}, ["name", "control"]),
    (A.user_alert, {"name": "x", "description": 3}, ["description", "3"]),
    (A.user_alert, {"name": "x", "notification": "sms"}, ["notification", "'sms'", "'email'"]),
    (A.user_alert, {"name": "x", "trigger_abort": 1}, ["trigger_abort", "1", "True or False"]),
    (A.event_alert, {"name": "x", "pattern": ""}, ["pattern", "non-empty"]),
    (A.event_alert, {"name": "x", "pattern": None}, ["pattern", "None"]),
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": 0}, ["frequency", "from 1e-06 to 1e+09"]),
    # a denormal frequency made the checker loop for ever; a huge one overflowed the stored times
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": 1e-320}, ["frequency", "1e-320"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "is above", "frequency": 1e300},
     ["frequency", "1e+300"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "is above", "window": 1e-7},
     ["window", "1e-07"]),
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": -1}, ["frequency", "-1"]),
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": INF}, ["frequency", "inf"]),
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": True}, ["frequency", "True"]),
    (A.event_alert, {"name": "x", "pattern": "E", "frequency": "1"}, ["frequency", "'1'"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "above"},
     ["rule", "'above'", "'is above'", "'is below'"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1,
                                "rule": "is inside range"}, ["rule", "'is inside range'"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "", "threshold": 1, "rule": "is above"},
     ["metric"]),
    (A.metric_threshold_alert, {"name": "x", "metric": None, "threshold": 1, "rule": "is above"},
     ["metric", "None"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": None, "rule": "is above"},
     ["threshold", "None", "'is above'"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": NAN, "rule": "is below"},
     ["threshold", "nan", "finite"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": -INF, "rule": "is below"},
     ["threshold", "-inf"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": False,
                                "rule": "is below"}, ["threshold", "False"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 10**400,
                                "rule": "is below"}, ["threshold", "finite"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "is above",
                                "window": 0}, ["window", "from 1e-06"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "is above",
                                "frequency": NAN}, ["frequency", "nan"]),
    (A.metric_threshold_alert, {"name": "x", "metric": "m", "threshold": 1, "rule": "is above",
                                "aggregation": "mean"},
     ["aggregation", "'mean'", "'at least one'"]),
    (A.metric_range_alert, {"name": "x", "metric": "m", "range_low": 2, "range_high": 1,
                            "rule": "is inside range"}, ["range_low", "range_high", "below"]),
    (A.metric_range_alert, {"name": "x", "metric": "m", "range_low": 1, "range_high": 1,
                            "rule": "is outside range"}, ["range_low", "range_high"]),
    (A.metric_range_alert, {"name": "x", "metric": "m", "range_low": None, "range_high": 1,
                            "rule": "is outside range"}, ["range_low", "None"]),
    (A.metric_range_alert, {"name": "x", "metric": "m", "range_low": 0, "range_high": NAN,
                            "rule": "is outside range"}, ["range_high", "nan"]),
    (A.metric_range_alert, {"name": "x", "metric": "m", "range_low": 0, "range_high": 1,
                            "rule": "is above"}, ["rule", "'is above'", "'is inside range'"]),
    (A.add_alert, {"name": "x", "source": "logs"}, ["source", "'logs'", "'metrics'"]),
    (A.add_alert, {"name": "x", "metric": "m", "threshold": 1}, ["rule", "None"]),
    (A.add_alert, {"name": "x", "rule": "is above", "threshold": 1}, ["metric", "None"]),
    (A.add_alert, {"name": "x", "rule": "is above", "metric": "m"}, ["threshold", "None"]),
    (A.add_alert, {"name": "x", "rule": "is inside range", "metric": "m", "range_low": 0},
     ["range_high", "None"]),
    (A.add_alert, {"name": "x", "source": "events"}, ["pattern", "None"]),
    (A.add_alert, {"name": "x", "source": "events", "pattern": "E", "frequency": 0},
     ["frequency", "0"]),
]


@pytest.mark.parametrize(("factory", "kwargs", "words"), BAD_CALLS)
def test_bad_definitions_are_refused_with_a_helpful_message(factory, kwargs, words):
    with pytest.raises(ValidationError) as info:
        factory(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_name_length_limit():
    assert A.user_alert("n" * 256).name == "n" * 256
    with pytest.raises(LimitError, match="256"):
        A.user_alert("n" * 257)


def test_legacy_add_alert_normalizes_and_ignores_what_does_not_apply():
    d = A.add_alert("x", metric="loss", rule="is above", threshold=3, range_low=1, pattern="p")
    assert (d.frequency, d.window, d.threshold, d.range_low, d.pattern) == \
        (1.0, 5.0, 3.0, None, None)
    assert d == A.metric_threshold_alert("x", "loss", 3.0, "is above", window=5)
    r = A.add_alert("x", metric="loss", rule="is outside range", threshold=3, range_low=0,
                    range_high=2, frequency=2, window=4, aggregation="all")
    assert (r.threshold, r.range_low, r.range_high, r.frequency) == (None, 0.0, 2.0, 2.0)
    e = A.add_alert("x", source="events", pattern="ERR", metric="loss", rule="nonsense")
    assert e == A.event_alert("x", "ERR")
    assert A.add_alert("x", source="user", frequency=-5, window=0) == A.user_alert("x")


def test_new_api_defaults():
    d = threshold(frequency=3)
    assert (d.frequency, d.window, d.aggregation, d.notification, d.trigger_abort) == \
        (3.0, 3.0, "average", "none", False)
    assert type(d.threshold) is float
    assert A.event_alert("x", "E").frequency == 1.0
    assert A.user_alert("x", description="d", notification="email", trigger_abort=True) \
        .to_dict()["trigger_abort"] is True


def test_constructor_refuses_fields_that_do_not_apply():
    fields = threshold().to_dict()
    with pytest.raises(ValidationError, match="range_low must be None for rule 'is above'"):
        AlertDefinition(**{**fields, "range_low": 1.0})
    with pytest.raises(ValidationError, match="pattern must be None for a 'metrics' alert"):
        AlertDefinition(**{**fields, "pattern": "p"})
    user = A.user_alert("u").to_dict()
    with pytest.raises(ValidationError, match="frequency must be None for a 'user' alert"):
        AlertDefinition(**{**user, "frequency": 1.0})


# --- keys and dicts -------------------------------------------------------------------------

def test_key_equal_for_identical_definitions_and_different_otherwise():
    assert threshold().key() == threshold().key()
    assert threshold(th=10).key() == threshold(th=10.0).key()  # ints are stored as floats
    assert threshold(th=0.0).key() == threshold(th=-0.0).key()
    variants = [threshold(), threshold(th=11), threshold("is below"), threshold(window=2),
                threshold(frequency=2), threshold(aggregation="sum"), threshold(trigger_abort=True),
                threshold(notification="email"), threshold(description="d"),
                A.metric_threshold_alert("b", "loss", 10, "is above"),
                A.metric_threshold_alert("a", "acc", 10, "is above"),
                ranged(), ranged(hi=2), A.event_alert("a", "E"), A.user_alert("a")]
    assert len({v.key() for v in variants}) == len(variants)
    assert json.loads(threshold().key()) == threshold().to_dict()


names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20) \
    .filter(str.strip)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**6, 10**6)
positive = st.floats(min_value=1e-3, max_value=1e6) | st.integers(1, 10**6)
common = {"description": st.none() | st.text(max_size=20),
          "notification": st.sampled_from(A.NOTIFICATIONS), "trigger_abort": st.booleans()}
metric_kw = {**common, "frequency": positive, "window": st.none() | positive,
             "aggregation": st.sampled_from(A.AGGREGATIONS)}
definitions = st.one_of(
    st.builds(A.metric_threshold_alert, names, names, numbers, st.sampled_from(A.THRESHOLD_RULES),
              **metric_kw),
    st.builds(lambda name, metric, a, b, rule, **kw: A.metric_range_alert(
        name, metric, min(a, b), max(a, b) + 1, rule, **kw),
        names, names, st.integers(-1000, 1000), st.integers(-1000, 1000),
        st.sampled_from(A.RANGE_RULES), **metric_kw),
    st.builds(A.event_alert, names, names, frequency=positive, **common),
    st.builds(A.user_alert, names, **common),
)


@given(definitions)
def test_dict_round_trip(d):
    assert AlertDefinition.from_dict(d.to_dict()) == d
    through_json = AlertDefinition.from_dict(json.loads(json.dumps(d.to_dict())))
    assert through_json == d and through_json.key() == d.key()


@pytest.mark.parametrize("change", [
    {"threshold": NAN}, {"threshold": "10"}, {"threshold": None}, {"threshold": True},
    {"window": -1.0}, {"frequency": [1]}, {"name": None}, {"name": {"x": 1}},
    {"rule": "IS ABOVE"}, {"source": "events"}, {"trigger_abort": "yes"},
    {"aggregation": None}, {"range_low": 0.0}, {"pattern": "x"}, {"description": b"d"},
])
def test_from_dict_refuses_hostile_values(change):
    with pytest.raises(ValidationError):
        AlertDefinition.from_dict({**threshold().to_dict(), **change})


def test_from_dict_refuses_wrong_shapes():
    good = threshold().to_dict()
    with pytest.raises(ValidationError, match="unknown keys: 'evil'"):
        AlertDefinition.from_dict({**good, "evil": 1})
    missing = dict(good)
    del missing["pattern"]
    with pytest.raises(ValidationError, match="missing keys: pattern"):
        AlertDefinition.from_dict(missing)
    with pytest.raises(ValidationError, match="unknown keys: 1"):
        AlertDefinition.from_dict({**good, 1: 2})
    for bad in (None, [], "x", list(good.items())):
        with pytest.raises(ValidationError):
            AlertDefinition.from_dict(bad)
    with pytest.raises(ValidationError, match="window"):
        AlertDefinition.from_dict({**good, "window": 10**400})


# --- metric evaluator: hand-computed timelines ------------------------------------------------

# frequency 1 s, window 2 s: the check at b sees the points in (b - 2, b].
TIMELINE = [(0.5, -1.0), (0.9, 2.0), (1.5, -3.0), (2.5, 4.0), (3.5, 5.0), (4.5, -2.0),
            (5.5, -2.0), (6.5, 0.0)]
# b=1 {-1, 2}     avg .5    sum 1      (checked when 1.5 is fed)
# b=2 {-1, 2, -3} avg -2/3  sum -2
# b=3 {-3, 4}     avg .5    sum 1
# b=4 {4, 5}      avg 4.5   sum 9
# b=5 {5, -2}     avg 1.5   sum 3
# b=6 {-2, -2}    avg -2    sum -4     (checked when 6.5 is fed)
# b=7 {-2, 0}     avg -1    sum -2     (checked by advance(9))
# b=8 {0}         avg 0     sum 0      (checked by advance(9))
C, OK = "critical", "ok"
EXPECTED = {
    ("is above", 1.5): {  # 1.5 itself is not above 1.5
        "average": [(4, C), (5, OK)], "sum": [(4, C), (6, OK)],
        "at least one": [(1, C), (6, OK)], "all": [(4, C), (5, OK)]},
    ("is below", -1.5): {
        "average": [(6, C), (7, OK)], "sum": [(2, C), (3, OK), (6, C), (8, OK)],
        "at least one": [(2, C), (4, OK), (5, C), (8, OK)], "all": [(6, C), (7, OK)]},
    ("is inside range", (-1, 1)): {  # -1 and 1 are not inside (-1, 1)
        "average": [(1, C), (4, OK), (8, C)], "sum": [(8, C)],
        "at least one": [(7, C)], "all": [(8, C)]},
    ("is outside range", (-1, 1)): {  # ... nor outside it
        "average": [(4, C), (7, OK)], "sum": [(2, C), (3, OK), (4, C), (8, OK)],
        "at least one": [(1, C), (8, OK)], "all": [(3, C), (7, OK)]},
}


def make(rule, arg, aggregation, frequency=1, window=2):
    if rule in A.THRESHOLD_RULES:
        return threshold(rule, arg, aggregation=aggregation, frequency=frequency, window=window)
    return ranged(rule, *arg, aggregation=aggregation, frequency=frequency, window=window)


@pytest.mark.parametrize(("rule", "arg", "aggregation", "expected"), [
    (rule, arg, agg, expected) for (rule, arg), by_agg in EXPECTED.items()
    for agg, expected in by_agg.items()])
def test_rule_and_aggregation_timelines(rule, arg, aggregation, expected):
    ev = MetricAlertEvaluator(make(rule, arg, aggregation))
    got = []
    for t, v in TIMELINE:
        out = ev.feed(t, v)
        assert all(tr.time < t for tr in out)  # a point only completes earlier checks
        got += out
    got += ev.advance(9)
    assert states(got) == expected
    assert ev.state == (expected[-1][1] if expected else OK)


def test_transitions_come_back_with_the_point_that_completes_the_check():
    ev = MetricAlertEvaluator(threshold("is above", 10, window=1))
    assert ev.feed(0.5, 5) == []               # nothing checked yet
    assert ev.feed(1.0, 50) == []              # t=1 is still in the check at 1: not done yet
    assert ev.feed(1.5, 0) == [Transition(1.0, C)]   # check 1: (0, 1] = {5, 50}, avg 27.5
    assert ev.feed(2.0, 0) == []
    assert ev.feed(3.5, 0) == [Transition(2.0, OK)]  # check 2: {0, 0}; check 3: (2, 3] empty
    assert ev.state == OK


def test_no_data_keeps_the_state_and_long_gaps_are_skipped():
    ev = MetricAlertEvaluator(threshold("is above", 10, window=10))
    assert ev.feed(0.5, 20) == []
    # checks 1..10 see {20}; checks 11..100 see nothing: the state stays critical
    assert ev.feed(100.5, 0) == [Transition(1.0, C)]
    assert ev.feed(1e9, 0) == [Transition(101.0, OK)]
    assert ev.feed(1e9 + 20, 50) == []  # checks up to 1e9+19: window (.., b] holds only 0s
    assert ev.advance(1e9 + 21) == [Transition(1e9 + 20, C)]


def test_nan_is_ignored_and_never_satisfies_a_rule():
    for agg in A.AGGREGATIONS:
        ev = MetricAlertEvaluator(threshold("is below", 0, aggregation=agg, window=1))
        got = ev.feed_many([0.5, 0.7, 1.5, 2.5, 3.5], [-1, NAN, NAN, NAN, 1])
        # check 1: {-1} (NaN dropped) -> critical; check 2: only NaN -> no data, no change;
        # check 3: only NaN -> no change
        assert states(got) == [(1, C)], agg
        assert states(ev.advance(5)) == [(4, OK)], agg


def test_infinities():
    ev = MetricAlertEvaluator(threshold("is above", 1e300, aggregation="sum", window=1))
    # check 1: 1e308 + 1e308 overflows to inf > 1e300; check 2: inf; check 3: inf + -inf is NaN
    got = ev.feed_many([0.2, 0.4, 1.5, 2.5, 2.6, 3.5], [1e308, 1e308, INF, INF, -INF, 0])
    assert states(got) == [(1, C), (3, OK)]
    ev = MetricAlertEvaluator(threshold("is below", -1e300, aggregation="average"))
    assert states(ev.feed_many([0.5, 1.5, 2.5], [-INF, -1e308, 0])) == [(1, C)]
    assert ev.state == C  # check 1: mean of {-inf} is -inf; check 2: -1e308 < -1e300 too


def test_sums_stay_exact_when_big_values_leave_the_window():
    ev = MetricAlertEvaluator(threshold("is above", 0.05, aggregation="sum", window=1))
    # a float running sum would keep 1e20 + 0.1 - 1e20 == 0.0 and miss check 2
    got = ev.feed_many([0.5, 1.2, 2.5], [1e20, 0.1, 0])
    assert states(got) == [(1, C)]
    assert ev.feed(3.5, 0) == [Transition(3.0, OK)]  # check 2 {0.1} stays critical; 3 is {0}


def test_late_points_count_at_the_latest_time():
    ev = MetricAlertEvaluator(threshold("is above", 10, window=1))
    assert ev.feed(2.5, 0) == []
    assert ev.feed(0.5, 100) == []        # counted at 2.5, in the check at 3
    assert ev.feed(3.1, 0) == [Transition(3.0, C)]


def test_resumed_critical_state_and_bad_inputs():
    ev = MetricAlertEvaluator(threshold(), state=C)
    assert ev.state == C and ev.feed(0.5, 0) == [] and ev.advance(0.9) == []
    assert ev.feed(2.5, 0) == [Transition(1.0, OK)]
    with pytest.raises(ValidationError, match="state"):
        MetricAlertEvaluator(threshold(), state="warning")
    with pytest.raises(ValidationError, match="definition"):
        MetricAlertEvaluator(A.event_alert("e", "E"))
    for time, value in [(NAN, 1), (INF, 1), ("1", 1), (None, 1), (1, "2"), (1, None)]:
        with pytest.raises(ValidationError):
            ev.feed(time, value)
    with pytest.raises(ValidationError, match="same length"):
        ev.feed_many([1, 2], [1])
    assert ev.feed(3.5, 0) == [] and ev.state == OK  # refused points changed nothing


def test_times_beyond_exact_check_times_count_at_the_bound():
    """Checks are located exactly within 2**50 of them: a time past that counts as the bound,
    in the oracle (its clock) and the checker alike."""
    from array import array

    d = threshold(th=1, window=1)
    bound = 2.0**50 * d.frequency
    ev, checker = MetricAlertEvaluator(d), A.MetricAlertChecker(d)
    assert ev.feed_many([0.5, 1e300, 1e300], [5, 0, 0]) == [Transition(1.0, C)]
    assert ev.advance(-1e300) == [] and ev.advance(1e308) == []  # the check at the bound: never passed
    assert ev.feed(1e308, 0) == []  # ...however far the time
    assert checker.feed_arrays(array("d", [0.5, 1e300, 1e300]), array("d", [5, 0, 0])) == [Transition(1.0, C)]
    assert checker.advance(1e308) == [] and checker.advance(1e308, final=True) == [Transition(bound, OK)]


# --- metric evaluator: against a brute-force model ------------------------------------------

# The rules as docs/ALERTS.md states them, written independently of runlite.alerts.RULE_TABLE:
# a rule added to the table needs its line here too.
SPEC = {
    "is above": lambda d, v: v > d.threshold,
    "is below": lambda d, v: v < d.threshold,
    "is inside range": lambda d, v: d.range_low < v < d.range_high,
    "is outside range": lambda d, v: v < d.range_low or v > d.range_high,
}


def holds(d, v):
    return SPEC[d.rule](d, v)


def test_rule_table_is_the_one_source_of_rules():
    assert set(SPEC) == set(A.RULE_TABLE) == set(A.RULES)
    assert set(A.THRESHOLD_RULES) | set(A.RANGE_RULES) == set(A.RULES)
    for rule in A.THRESHOLD_RULES:
        assert A.RULE_TABLE[rule].bounds == ("threshold",)
    for rule in A.RANGE_RULES:
        assert A.RULE_TABLE[rule].bounds == ("range_low", "range_high")


@pytest.mark.parametrize("rule", list(A.RULE_TABLE))
def test_rule_tests_match_the_spec_and_are_strict(rule):
    d = make_any(rule, 0.5, "average", 1, 1)
    bounds = [getattr(d, field) for field in A.RULE_TABLE[rule].bounds]
    values = [-INF, -1e308, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 1e308, INF] + bounds + \
        [math.nextafter(b, s) for b in bounds for s in (-INF, INF)]
    each, one = A.rule_tests(d)
    expected = [holds(d, v) for v in values]
    assert list(each(values)) == expected
    assert [one(v) for v in values] == expected
    assert not any(one(b) for b in bounds)  # strict: a value equal to a bound satisfies none
    assert one(NAN) is False  # a mean of +inf and -inf satisfies no rule


def brute_force(d, times, values, end):
    """Every due check recomputed from scratch, with exact arithmetic for sums and means."""
    f, w = d.frequency, d.window
    points, last = [], -INF
    for t, v in zip(times, values):
        last = max(last, float(t))
        points.append((last, v))
    last = max(last, end)
    state, out, k = OK, [], 1
    while k * f < last:
        b = k * f
        k += 1
        window = [v for t, v in points if b - w < t <= b and v == v]
        if not window:
            continue
        if d.aggregation in ("average", "sum"):
            total = sum(map(Fraction, window), Fraction(0))
            hit = holds(d, float(total if d.aggregation == "sum" else total / len(window)))
        else:
            hits = [holds(d, v) for v in window]
            hit = any(hits) if d.aggregation == "at least one" else all(hits)
        if (C if hit else OK) != state:
            state = C if hit else OK
            out.append(Transition(b, state))
    return out


def make_any(rule, arg, aggregation, frequency, window):
    return make(rule, arg if rule in A.THRESHOLD_RULES else (arg - 1, arg + 1), aggregation,
                frequency, window)


metric_definitions = st.builds(
    make_any, st.sampled_from(A.RULES), st.sampled_from([0.0, 1.0, -0.5]),
    st.sampled_from(A.AGGREGATIONS), st.sampled_from([0.5, 1, 1.5, 2.5, 0.3]),
    st.sampled_from([0.5, 1, 2, 3.7, 0.1]))
timelines = st.lists(
    st.tuples(st.integers(-4, 60).map(lambda q: q / 4),  # quarter seconds: points on boundaries
              st.integers(-3, 3).map(float) | st.just(NAN) | st.floats(-1e6, 1e6)),
    max_size=30)


@settings(max_examples=300, deadline=None)
@given(metric_definitions, timelines, st.integers(0, 70).map(lambda q: q / 4))
def test_evaluator_matches_brute_force(d, timeline, end):
    times, values = [t for t, _ in timeline], [v for _, v in timeline]
    ev = MetricAlertEvaluator(d)
    got = ev.feed_many(times, values) + ev.advance(end)
    assert got == brute_force(d, times, values, end)


@settings(deadline=None)
@given(metric_definitions, timelines)
def test_feed_many_equals_repeated_feed(d, timeline):
    one, many = MetricAlertEvaluator(d), MetricAlertEvaluator(d)
    fed = [tr for t, v in timeline for tr in one.feed(t, v)]
    assert many.feed_many([t for t, _ in timeline], [v for _, v in timeline]) == fed
    assert one.state == many.state


def test_feed_many_keeps_a_bounded_window():
    # What it holds, not a timing: a window that only grows would make each point cost more.
    ev = MetricAlertEvaluator(threshold("is above", 0.5, aggregation="average", window=5))
    n = 100_000
    got = ev.feed_many([i / 100 for i in range(n)], [float(i % 7 == 0) for i in range(n)])
    assert got == []  # the mean over 5 s stays 1/7-ish
    assert len(ev._win) <= 601  # the window (5 s) plus the points since the last check (1 s)


# --- event and user alerts ------------------------------------------------------------------

def test_event_alert_timeline():
    ev = A.EventAlertEvaluator(A.event_alert("e", "ERROR", frequency=2))
    assert ev.feed(0.5, "all fine") == []
    assert ev.feed(1.0, "an ERROR here") == [Transition(1.0, C)]
    assert ev.feed(1.5, "error, lower case") == []          # case-sensitive: no match
    assert ev.feed(2.5, "fine") == []                       # check 2: (0, 2] held the match at 1
    assert ev.feed(3.0, "ERROR again") == []                # already critical
    assert ev.feed(4.5, "fine") == []                       # check 4: (2, 4] held the match at 3
    assert ev.feed(6.5, "fine") == [Transition(6.0, OK)]    # check 6: (4, 6] held none
    assert ev.feed(7.0, "x") == [] and ev.state == OK
    # back to ok at check 10, and critical again at 13, returned together
    assert ev.feed(8.0, "ERROR") == [Transition(8.0, C)]
    assert ev.feed(13.0, "ERROR!") == [Transition(10.0, OK), Transition(13.0, C)]
    # check 14: (12, 14] holds the match at 13; check 16: (14, 16] holds none
    assert ev.advance(16) == [] and ev.advance(16.5) == [Transition(16.0, OK)]


def test_event_alert_resumed_critical_and_bad_inputs():
    ev = A.EventAlertEvaluator(A.event_alert("e", "ERROR"), state=C)
    assert ev.feed(1000.5, "resumed") == []       # acts as if a match was logged at 1000.5
    assert ev.feed(1001.2, "still quiet") == []   # check 1001: (1000, 1001] "held" it
    assert ev.feed(1002.6, "quiet") == [Transition(1002.0, OK)]
    assert ev.feed(1001.0, "late ERROR") == [Transition(1002.6, C)]  # late: counted at 1002.6
    with pytest.raises(ValidationError, match="message"):
        ev.feed(1003, None)
    with pytest.raises(ValidationError, match="time"):
        ev.feed(NAN, "ERROR")
    with pytest.raises(ValidationError, match="definition"):
        A.EventAlertEvaluator(threshold())


def test_user_transitions():
    u = A.user_alert("manual")
    assert A.user_transition(u, OK, C, 12) == Transition(12.0, C)
    assert A.user_transition(u, C, OK, 13.5) == Transition(13.5, OK)
    assert A.user_transition(u, C, C, 14) is None
    with pytest.raises(ValidationError, match="new_state.*'warning'"):
        A.user_transition(u, OK, "warning", 1)
    with pytest.raises(ValidationError, match="current_state"):
        A.user_transition(u, None, OK, 1)
    with pytest.raises(ValidationError, match="time"):
        A.user_transition(u, OK, C, NAN)
    with pytest.raises(ValidationError, match="user alert"):
        A.user_transition(threshold(), OK, C, 1)


def event_brute_force(f, feeds):
    """Every due check recomputed from scratch over all matching times so far."""
    state, out, matches, last, k = OK, [], [], -INF, 1
    for t, message in feeds:
        last = max(last, t)
        while k * f < last:
            b = k * f
            if state == C and not any(b - f < m <= b for m in matches):
                state = OK
                out.append(Transition(b, OK))
            k += 1
        if "ERR" in message:
            matches.append(last)
            if state == OK:
                state = C
                out.append(Transition(last, C))
    return out


@settings(deadline=None)
@given(st.sampled_from([0.5, 1, 2.5, 0.3]),
       st.lists(st.tuples(st.integers(-4, 60).map(lambda q: q / 4),
                          st.sampled_from(["ERR", "xERRx", "err", "fine", ""])), max_size=30))
def test_event_evaluator_matches_brute_force(frequency, feeds):
    ev = A.EventAlertEvaluator(A.event_alert("e", "ERR", frequency=frequency))
    assert [tr for t, m in feeds for tr in ev.feed(t, m)] == event_brute_force(frequency, feeds)
