"""Tests of runlite.recipes: cookbooks and recipe runs computed from machine records."""

import datetime as dt
import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runlite.recipes import cookbook, engine as recipes
from runlite.errors import KpiError, ValidationError
from runlite.recipes.engine import Cookbook, best_runs, compute, make_cookbook

NAN = math.nan
S = 1_000_000  # one second in microseconds
QUALITY = ("((Output) / (Output + ScrapQuantity)) * 100 if ((Output + ScrapQuantity) > 0) else None")

# The seed's run (seed 000), verbatim.
SEED_RUN = {
    '_count': 12, '_count_muted': 0, '_duration_seconds': 649.0,
    '_earliest': '2022-10-21T00:35:32+00:00', '_latest': '2022-10-21T00:46:21+00:00', '_score': 1.0,
    'constraint_group_id': '0', 'constraints': [], 'cookbook': '63ab6b263fa4880c06334b03', 'filters': [],
    'i_vals': [{'asset': 'SHARED', 'name': 'group', 'value': '0'},
               {'asset': 'SHARED', 'name': 'sequence', 'value': 2}],
    'levers': [
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 2, 'name': 'stats__AluminumTempAvg__val',
         'value': {'avg': 659.8448127439334, 'count': 9.0, 'max': 671.1048565509, 'min': 653.718308813,
                   'var_pop': 29.816738449355437}},
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 3, 'name': 'stats__AluminumTempMax__val',
         'value': {'avg': 659.8448127439334, 'count': 9.0, 'max': 671.1048565509, 'min': 653.718308813,
                   'var_pop': 29.816738449355437}},
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 4, 'name': 'stats__DieTemp__val',
         'value': {'avg': 290.8228674053778, 'count': 9.0, 'max': 295.2332287849, 'min': 284.84446548529996,
                   'var_pop': 11.993829414162574}},
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 5, 'name': 'stats__InjectionCurveDifference__val',
         'value': {'avg': 1.576386980588889, 'count': 9.0, 'max': 2.8598220936, 'min': 0.3786822327000001,
                   'var_pop': 0.810658290414194}},
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 6, 'name': 'stats__InjectionPressureMax__val',
         'value': {'avg': 39.537370569911104, 'count': 9.0, 'max': 44.0884060904, 'min': 35.4952094968,
                   'var_pop': 5.452849234986407}},
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 7, 'name': 'stats__InjectionPressureMin__val',
         'value': {'avg': 36.76283137485556, 'count': 9.0, 'max': 38.8721003798, 'min': 35.0169147198,
                   'var_pop': 1.2194962602188073}}],
    'outcomes': [
        {'asset': 'JB_HM_Diecast_1', 'd_pos': 0,
         'kpi': {'aggregates': {'Output': 'sum', 'ScrapQuantity': 'sum'},
                 'dependencies': {'Output': 9.0, 'ScrapQuantity': 0.0},
                 'formula': '((Output) / (Output + ScrapQuantity)) * 100 '
                            'if ((Output + ScrapQuantity) > 0) else '
                            'None'},
         'name': 'quality',
         'value': {'avg': 100.0, 'count': 100.0, 'max': 100.0, 'min': 100.0, 'normal': 1.0000000000000002,
                   'var_pop': 100.0}}]}


def us(text: str) -> int:
    t = dt.datetime.fromisoformat(text)
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def nine_values(lo: float, hi: float, mean: float, var: float) -> list[float]:
    """9 values with exactly this min, max, mean and population variance (lo and hi included)."""
    rest = (9 * mean - lo - hi) / 7
    spread = 9 * var - (lo - mean) ** 2 - (hi - mean) ** 2 - 7 * (rest - mean) ** 2
    c = math.sqrt(spread / 6)
    values = [lo, hi] + [rest + c * u for u in (-1, -1, -1, 0, 1, 1, 1)]
    assert all(lo <= v <= hi for v in values)
    return values


def same_shape(got, want, path="run"):
    """Same key sets at every level, numbers close, everything else equal."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: {sorted(got)} != {sorted(want)}"
        for k in want:
            same_shape(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            same_shape(g, w, f"{path}[{i}]")
    elif isinstance(want, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), \
            f"{path}: {got!r} != {want!r}"
    else:
        assert got == want and type(got) is type(want), f"{path}: {got!r} != {want!r}"


# --- the seed's run ----------------------------------------------------------------------------

def seed_cookbook() -> Cookbook:
    asset = "JB_HM_Diecast_1"
    return make_cookbook(
        "63ab6b263fa4880c06334b03", "Diecast quality",
        levers=[(asset, lever["name"]) for lever in SEED_RUN["levers"]],
        outcomes=[{"asset": asset, "name": "quality", "formula": QUALITY,
                   "aggregates": {"Output": "sum", "ScrapQuantity": "sum"}}])


def seed_series() -> dict:
    asset = "JB_HM_Diecast_1"
    start, end = us("2022-10-21T00:35:32+00:00"), us("2022-10-21T00:46:21+00:00")
    times = [start + k * (end - start) // 11 for k in range(12)]
    assert times[-1] == end
    carrying = [0, 1, 2, 4, 5, 7, 8, 9, 11]  # 9 of the 12 records carry lever values
    series = {}
    for lever in SEED_RUN["levers"]:
        v = lever["value"]
        values = nine_values(v["min"], v["max"], v["avg"], v["var_pop"])
        series[(asset, lever["name"])] = ([times[k] for k in carrying], values)
    series[(asset, "Output")] = (times, [1.0 if k in carrying else 0.0 for k in range(12)])
    series[(asset, "ScrapQuantity")] = (times, [0.0] * 12)
    return series


def test_the_seed_run_is_reproduced_from_machine_records():
    runs = compute(seed_cookbook(), seed_series())
    assert len(runs) == 1
    run = runs[0]
    want = json.loads(json.dumps(SEED_RUN))
    # Two documented differences: the sequence (ordinal among the returned runs: this is the only
    # one) and d_pos (this cookbook has no key constraint, so levers follow the outcomes; with the
    # seed's Sight Machine cookbook both match: test_seed_run_exactly_with_the_sight_machine_cookbook).
    assert run["i_vals"][1] == {"asset": "SHARED", "name": "sequence", "value": 0}
    want["i_vals"][1]["value"] = 0
    for got_lever, want_lever in zip(run["levers"], want["levers"]):
        assert got_lever["d_pos"] == want_lever["d_pos"] - 1
        want_lever["d_pos"] -= 1
    same_shape(run, want)
    assert run["outcomes"][0]["value"]["normal"] == 1.0 and run["_score"] == 1.0
    assert run["_earliest"] == SEED_RUN["_earliest"] and run["_latest"] == SEED_RUN["_latest"]


def test_seed_run_through_json_and_windowing():
    cb = seed_cookbook()
    runs = compute(cb, seed_series())
    assert json.loads(json.dumps(runs, allow_nan=False)) == runs
    # a window cutting off the first 3 records: the run starts at the 4th
    start = us("2022-10-21T00:35:32+00:00") + 3 * 59 * S
    (cut,) = compute(cb, seed_series(), start_us=start)
    assert cut["_count"] == 9 and cut["_earliest"] == "2022-10-21T00:38:29+00:00"
    assert compute(cb, seed_series(), start_us=us("2023-01-01T00:00:00+00:00")) == []


# --- segmentation ------------------------------------------------------------------------------

def ts(*seconds):
    return [int(s * S) for s in seconds]


def simple(constraints=(), boundaries=(), filters=(), min_duration=None, levers=(("A", "lever"),),
           outcomes=(("A", "out"),)):
    return make_cookbook("cb", "test", levers=levers, outcomes=outcomes, constraints=constraints,
                         run_boundaries=boundaries, record_filters=filters, min_duration=min_duration)


SPEED = {"asset": "A", "name": "speed", "type": "continuous",
         "bins": [{"from": None, "to": 340, "to_is_inclusive": False},
                  {"from": 340, "from_is_inclusive": True, "to": 6000, "to_is_inclusive": True},
                  {"from": 6000, "from_is_inclusive": False, "to": None}]}


def test_bin_edges_and_inclusivity():
    t = ts(0, 1, 2, 3, 4, 5, 6)
    series = {("A", "speed"): (t, [339.9, 340, 6000.0, 6000.1, 7000, -1e300, 340.0]),
              ("A", "lever"): (t, [1.0, 2, 3, 4, 5, 6, 7])}
    runs = compute(simple([SPEED]), series)
    assert [r["constraints"] for r in runs] == [["(None,340)"], ["[340,6000]"], ["(6000,None)"], ["(None,340)"],
                                                ["[340,6000]"]]
    assert [r["constraint_group_id"] for r in runs] == ["0", "1", "2", "0", "1"]
    assert [r["_count"] for r in runs] == [1, 2, 2, 1, 1]
    assert [r["i_vals"][1]["value"] for r in runs] == [0, 0, 0, 1, 1]  # sequence within each group
    assert runs[1]["levers"][0]["value"] == {"avg": 2.5, "count": 2.0, "max": 3.0, "min": 2.0, "var_pop": 0.25}


def test_overlapping_bins_first_wins_and_closed_point_bins():
    c = {"asset": "A", "name": "x", "type": "continuous",
         "bins": [{"from": 5, "to": 5, "to_is_inclusive": True}, {"from": 0, "to": 10},
                  {"from": 0, "from_is_inclusive": False, "to": 20, "to_is_inclusive": True}]}
    t = ts(0, 1, 2, 3, 4)
    series = {("A", "x"): (t, [5, 4.5, 10, 20, 20.5]), ("A", "lever"): (t, [1.0] * 5)}
    runs = compute(simple([c]), series)
    assert [r["constraints"][0] for r in runs] == ["[5,5]", "[0,10)", "(0,20]"]
    assert [r["_count"] for r in runs] == [1, 1, 2]  # 20.5 is in no bin


def test_values_in_no_bin_and_missing_values_end_runs():
    t = ts(0, 1, 2, 3, 4, 5, 6)
    c = dict(SPEED, bins=SPEED["bins"][1:2])  # only [340,6000]
    series = {("A", "speed"): (t, [400, 500, 100, 600, NAN, 700, 800]),
              ("A", "lever"): (t, [1.0, 2, 3, 4, 5, 6, 7])}
    runs = compute(simple([c]), series)
    assert [(r["_earliest"][-14:-6], r["_count"]) for r in runs] == [("00:00:00", 2), ("00:00:03", 1),
                                                                      ("00:00:05", 2)]
    assert [r["i_vals"][1]["value"] for r in runs] == [0, 1, 2]
    # records before the constraint field's first point are in no group
    series[("A", "lever")] = (ts(-2, *range(7)), [0.0, 1, 2, 3, 4, 5, 6, 7])
    assert compute(simple([c]), series)[0]["_earliest"].endswith("00:00:00+00:00")


def test_run_boundaries_split_runs_and_show_in_i_vals():
    t = ts(0, 1, 2, 3, 4, 5)
    series = {("A", "shift"): (t, [1.0, 1, 2, 2, NAN, 1]), ("A", "lever"): (t, [1.0] * 6)}
    runs = compute(simple(boundaries=[("A", "shift")]), series)
    assert [r["_count"] for r in runs] == [2, 2, 1, 1]
    assert [r["i_vals"][2] for r in runs] == [{"asset": "A", "name": "shift", "value": v}
                                              for v in (1.0, 2.0, None, 1.0)]
    assert [r["i_vals"][1]["value"] for r in runs] == [0, 1, 2, 3]  # one constraint group: "0"
    # boundaries and constraints together; str boundary values
    series[("A", "batch")] = (ts(0, 3), ["b1", "b2"])
    series[("A", "speed")] = (t, [400.0] * 6)
    runs = compute(simple([SPEED], boundaries=[("A", "batch")]), series)
    assert [(r["i_vals"][2]["value"], r["_count"]) for r in runs] == [("b1", 3), ("b2", 3)]


def test_muted_records_are_counted_but_left_out():
    t = ts(0, 1, 2, 3, 4, 5, 6, 7)
    series = {("A", "running"): (t, [0.0, 1, 1, 0, 1, 1, 0, 0]),
              ("A", "speed"): (t, [400.0, 400, 400, 7000, 400, 400, 7000, 400]),
              ("A", "lever"): (t, [100.0, 1, 2, 100, 3, 4, 100, 100])}
    f = [{"asset": "A", "name": "running", "op": "eq", "value": 1}]
    runs = compute(simple([SPEED], filters=f), series)
    # record 0 is muted with no run in progress: in no run. Record 3 is muted: it joins the run
    # (its speed 7000 does not split it); records 6-7 are muted: they extend the run's end.
    assert len(runs) == 1
    (run,) = runs
    assert run["_count"] == 7 and run["_count_muted"] == 3
    assert run["_earliest"].endswith("00:00:01+00:00") and run["_latest"].endswith("00:00:07+00:00")
    assert run["levers"][0]["value"]["avg"] == 2.5 and run["levers"][0]["value"]["count"] == 4.0
    assert run["filters"] == f
    # a missing filter value fails the filter; neq/gt on the same data
    series[("A", "running")] = (t, [1.0, 1, NAN, 1, 1, 1, 1, 1])
    (run,) = compute(simple(filters=f), series)[:1]
    assert run["_count_muted"] == 1 and run["levers"][0]["value"]["count"] == 7.0
    gt = [{"asset": "A", "name": "lever", "op": "gt", "value": 50}]
    (run,) = compute(simple(filters=gt), series)
    assert run["_count"] == 8 and run["_count_muted"] == 4 and run["levers"][0]["value"]["max"] == 100.0
    # a field with no points at all: every record is muted, so there is no run
    nothing = [{"asset": "A", "name": "absent", "op": "neq", "value": 0}]
    assert compute(simple(filters=nothing), series) == []


def test_runs_shorter_than_min_duration_are_dropped():
    t = ts(0, 10, 20, 30, 31, 40, 100, 200)
    series = {("A", "speed"): (t, [400.0, 400, 400, 7000, 7000, 400, 400, 7000]), ("A", "lever"): (t, [1.0] * 8)}
    all_runs = compute(simple([SPEED]), series)
    assert [r["_duration_seconds"] for r in all_runs] == [20.0, 1.0, 60.0, 0.0]
    kept = compute(simple([SPEED], min_duration=20), series)
    assert [r["_duration_seconds"] for r in kept] == [20.0, 60.0]
    assert [r["i_vals"][1]["value"] for r in kept] == [0, 1]  # sequence counts the returned runs


def test_categorical_bins():
    c = {"asset": "A", "name": "product", "type": "categorical", "bins": [["P1", "P2"], "P3", 7, ["P1", 8.5]]}
    t = ts(0, 1, 2, 3, 4, 5, 6, 7)
    series = {("A", "product"): (t, ["P1", "P2", "P3", 7.0, "7", 8.5, "P1", NAN]), ("A", "lever"): (t, [1.0] * 8)}
    runs = compute(simple([c]), series)
    assert [(r["constraints"], r["_count"]) for r in runs] == [([["P1", "P2"]], 2), (["P3"], 1), ([7], 1),
                                                               ([["P1", 8.5]], 1), ([["P1", "P2"]], 1)]
    assert [r["constraint_group_id"] for r in runs] == ["0", "1", "2", "3", "0"]


def test_two_constraints_make_mixed_radix_groups():
    prod = {"asset": "A", "name": "product", "type": "categorical", "bins": [1, 2]}
    t = ts(0, 1, 2, 3)
    series = {("A", "product"): (t, [1.0, 2, 2, 1]), ("B", "speed"): (ts(0.5, 2.5), [7000.0, 100]),
              ("A", "lever"): (t, [1.0] * 4)}
    runs = compute(simple([prod, dict(SPEED, asset="B")]), series)
    # records at 0, .5, 1, 2, 2.5, 3; the speed is missing at record 0
    assert [(r["constraint_group_id"], r["constraints"], r["_count"]) for r in runs] == [
        ("2", [1, "(6000,None)"], 1), ("5", [2, "(6000,None)"], 2), ("3", [2, "(None,340)"], 1),
        ("0", [1, "(None,340)"], 1)]


def test_multiple_assets_logged_values_not_carried():
    series = {("A", "speed"): (ts(0, 10), [400.0, 7000.0]),
              ("B", "lever"): (ts(1, 2, 3, 11, 12), [1.0, 2.0, 3.0, 10.0, 20.0]),
              ("B", "out"): (ts(5), [9.0])}
    cb = simple([SPEED], levers=[("B", "lever")], outcomes=[("B", "out")])
    first, second = compute(cb, series)
    assert first["_count"] == 5 and first["_earliest"].endswith(":00+00:00")  # records 0, 1, 2, 3, 5
    assert first["levers"][0]["value"]["avg"] == 2.0
    assert first["outcomes"][0]["value"]["avg"] == 9.0
    # the outcome's value is not carried into the second run: count 0, None statistics
    assert second["outcomes"][0]["value"] == {"avg": None, "count": 0.0, "max": None, "min": None, "normal": None,
                                              "var_pop": None}
    assert second["_score"] is None and second["outcomes"][0]["kpi"] is None
    assert second["levers"][0]["value"]["count"] == 2.0


def test_missing_lever_values_and_duplicates():
    t = ts(0, 1, 2, 3)
    series = {("A", "lever"): (ts(0, 1, 1, 2, 3), [1.0, 5.0, 2.0, NAN, 3.0]), ("A", "out"): (t, [1.0] * 4)}
    (run,) = compute(simple(), series)
    assert run["_count"] == 4 and run["levers"][0]["value"]["count"] == 3.0  # 5.0 is overwritten, NaN missing
    assert run["levers"][0]["value"]["avg"] == 2.0
    (run,) = compute(simple(), {("A", "out"): (t, [1.0] * 4)})  # no lever series at all
    assert run["levers"][0]["value"] == {"avg": None, "count": 0.0, "max": None, "min": None, "var_pop": None}


def test_window_carries_values_in():
    t = ts(0, 1, 2, 3, 4)
    series = {("A", "speed"): (ts(0), [7000.0]), ("A", "lever"): (t, [1.0, 2, 3, 4, 5])}
    (run,) = compute(simple([SPEED]), series, start_us=2 * S, end_us=3 * S)
    assert run["constraints"] == ["(6000,None)"] and run["_count"] == 2 and run["levers"][0]["value"]["avg"] == 3.5
    assert compute(simple([SPEED]), series, start_us=10 * S) == []
    with pytest.raises(ValidationError, match="end_us"):
        compute(simple(), series, start_us=2 * S, end_us=S)


def test_kpi_outcomes():
    kpi = {"asset": "A", "name": "ratio", "formula": "a / b", "aggregates": {"a": "max", "b": "avg"}}
    t = ts(0, 1, 2, 3)
    series = {("A", "speed"): (t, [400.0, 400, 7000, 7000]), ("A", "a"): (t, [2.0, 4.0, 1.0, 1.0]),
              ("A", "b"): (t, [1.0, 3.0, 0.0, 0.0]), ("A", "lever"): (t, [1.0] * 4)}
    first, second = compute(simple([SPEED], outcomes=[kpi]), series)
    assert first["outcomes"][0]["kpi"] == {"aggregates": {"a": "max", "b": "avg"},
                                           "dependencies": {"a": 4.0, "b": 2.0}, "formula": "a / b"}
    assert first["outcomes"][0]["value"] == dict.fromkeys(("avg", "count", "max", "min", "var_pop"), 2.0) | {
        "normal": 1.0}
    assert second["outcomes"][0]["value"]["avg"] is None and second["_score"] is None  # division by zero
    assert second["outcomes"][0]["value"]["normal"] is None


def test_bad_series():
    cb = simple()
    with pytest.raises(ValidationError, match="sorted"):
        compute(cb, {("A", "lever"): (ts(1, 0), [1.0, 2.0])})
    with pytest.raises(ValidationError, match="2 timestamps but 1 values"):
        compute(cb, {("A", "lever"): (ts(0, 1), [1.0])})
    with pytest.raises(ValidationError, match="not a number"):
        compute(cb, {("A", "lever"): (ts(0, 1), ["a", "b"])})
    with pytest.raises(ValidationError, match="Cookbook"):
        compute(cb.to_dict(), {})
    assert compute(cb, {}) == []


def test_other_sequence_types_and_odd_values():
    import array
    import gc

    t = ts(0, 1, 2, 3)
    series = {("A", "speed"): (tuple(t), ["fast", 400.0, None, 7000]),  # a str is in no continuous bin
              ("A", "lever"): (array.array("q", t), array.array("d", [1.0, 2.0, 3.0, math.inf]))}
    runs = compute(simple([SPEED]), series)
    assert [(r["constraints"], r["_count"]) for r in runs] == [(["[340,6000]"], 1), (["(6000,None)"], 1)]
    assert runs[1]["levers"][0]["value"]["max"] == math.inf
    # a library never touches process-wide state such as the garbage collector
    assert gc.isenabled()
    compute(simple([SPEED]), series)
    assert gc.isenabled()


def test_statistics_at_the_float_range_edge():
    top = 1.7976931348623157e308
    t = ts(0, 1, 2, 3)
    runs = compute(simple(outcomes=(("A", "lever"),)), {("A", "lever"): (t, [-top, -top, -top, -top])})
    assert runs[0]["levers"][0]["value"] == {"avg": -top, "count": 4.0, "max": -top, "min": -top, "var_pop": 0.0}
    assert runs[0]["outcomes"][0]["value"]["avg"] == -top
    # a spread beyond the float range: the mean is exact, the variance IEEE's inf
    spread = compute(simple(), {("A", "lever"): (t, [top, -top, top, -top])})[0]["levers"][0]["value"]
    assert spread["avg"] == 0.0 and spread["var_pop"] == math.inf
    # a KPI's average of values that large
    cb = make_cookbook("cb", "t", levers=[("A", "lever")],
                       outcomes=[{"asset": "A", "name": "k", "formula": "x", "aggregates": {"x": "avg"}}])
    assert compute(cb, {("A", "x"): (t, [top] * 4), ("A", "lever"): (t, [1.0] * 4)})[0]["outcomes"][0]["value"][
        "avg"] == top


# --- normal and _score -------------------------------------------------------------------------

def scored_runs(optimize_a="maximize", optimize_b="minimize", a=(10.0, 20.0, 40.0), b=(5.0, 5.0, 1.0),
                last=(99.0, 99.0)):
    """Three runs of group 0 (speed 400) and one of group 2 (speed 7000), outcomes a (w 1) and b (w 3)."""
    t = ts(0, 1, 2, 3)
    series = {("A", "shift"): (t, [1.0, 2, 3, 4]), ("A", "speed"): (t, [400.0, 400, 400, 7000]),
              ("A", "a"): (t, [*a, last[0]]), ("A", "b"): (t, [*b, last[1]]), ("A", "lever"): (t, [1.0] * 4)}
    cb = simple([SPEED], boundaries=[("A", "shift")],
                outcomes=[{"asset": "A", "name": "a", "optimize": optimize_a},
                          {"asset": "A", "name": "b", "optimize": optimize_b, "weight": 3}])
    return cb, compute(cb, series)


def normals(run):
    return [o["value"]["normal"] for o in run["outcomes"]]


def test_normal_and_score_hand_computed():
    cb, runs = scored_runs()
    # a maximised over 10, 20, 40 -> 0, 1/3, 1; b minimised over 5, 5, 1 -> 0, 0, 1
    assert [normals(r) for r in runs[:3]] == [[0.0, 0.0], [1 / 3, 0.0], [1.0, 1.0]]
    assert [r["_score"] for r in runs[:3]] == [0.0, (1 / 3) / 4, 1.0]
    # alone in its group: placed in the range of all runs (a: 10..99 maximised, b: 1..99 minimised)
    assert normals(runs[3]) == [1.0, 0.0] and runs[3]["_score"] == 0.25
    assert best_runs(cb, runs) == [runs[2], runs[1], runs[0], runs[3]]
    assert best_runs(make_cookbook(**{**cb.to_dict(), "top_runs": 1}), runs) == [runs[2], runs[3]]

    _cb, runs = scored_runs("minimize", "maximize")
    assert [normals(r) for r in runs[:3]] == [[1.0, 1.0], [2 / 3, 1.0], [0.0, 0.0]]
    assert runs[0]["_score"] == 1.0 and runs[1]["_score"] == pytest.approx((2 / 3 + 3) / 4)


def test_equal_values_normalise_to_one_and_missing_to_none():
    _cb, runs = scored_runs(a=(7.0, 7.0, 7.0), b=(2.0, NAN, 4.0), last=(7.0, 3.0))
    assert [normals(r) for r in runs[:3]] == [[1.0, 1.0], [1.0, None], [1.0, 0.0]]
    # _score averages the outcomes that have a normal, by weight
    assert [r["_score"] for r in runs[:3]] == [1.0, 1.0, 0.25]
    # b of the lone run (3, minimised) is placed in the range 2..4 of all runs
    assert normals(runs[3]) == [1.0, 0.5]


def test_lone_run_scored_relative_to_other_groups():
    """A group with one run no longer gets 1.0 for free: it cannot outrank the worst run of a
    two-run group unless its outcome is better than that run's."""
    t = ts(0, 1, 2)
    series = {("A", "speed"): (t, [400.0, 400, 7000]), ("A", "shift"): (t, [1.0, 2, 3]),
              ("A", "a"): (t, [10.0, 20.0, 5.0]), ("A", "lever"): (t, [1.0] * 3)}
    cb = simple([SPEED], boundaries=[("A", "shift")], outcomes=[("A", "a")])
    worst, best, lone = compute(cb, series)
    assert (worst["_score"], best["_score"], lone["_score"]) == (0.0, 1.0, 0.0)  # not above the worst
    series[("A", "a")] = (t, [10.0, 20.0, 15.0])
    worst, best, lone = compute(cb, series)
    assert (worst["_score"], best["_score"], lone["_score"]) == (0.0, 1.0, 0.5)


# --- cookbook validation -----------------------------------------------------------------------

GOOD = dict(levers=[("A", "l1"), {"asset": "A", "name": "l2"}],
            outcomes=[("A", "o1"), {"asset": "A", "name": "o2", "weight": 2, "optimize": "minimize"},
                      {"asset": "A", "name": "q", "formula": QUALITY,
                       "aggregates": {"Output": "sum", "ScrapQuantity": "sum"}}],
            constraints=[SPEED, {"asset": "A", "name": "p", "type": "categorical", "bins": ["x", [1, 2]]}],
            run_boundaries=[("A", "shift")], min_duration=30,
            record_filters=[{"asset": "A", "name": "running", "op": "gte", "value": 1}], top_runs=5)


def with_change(path, value):
    kwargs = json.loads(json.dumps(GOOD))
    target = kwargs
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return kwargs


@pytest.mark.parametrize("path, value, message", [
    (("outcomes", 1, "optimize"), "max", "outcomes[1].optimize must be one of 'maximize', 'minimize'; got 'max'"),
    (("outcomes", 1, "weight"), 0, "outcomes[1].weight must be > 0"),
    (("outcomes", 1, "weight"), True, "outcomes[1].weight must be a number"),
    (("outcomes", 0), "A", "outcomes[0] must be an (asset, name) pair"),
    (("outcomes", 1, "colour"), 1, "outcomes[1] has unknown key 'colour'"),
    (("outcomes", 2, "aggregates", "Output"), "median", "outcomes[2].aggregates['Output'] must be one of"),
    (("outcomes", 2, "aggregates"), KeyError, "outcomes[2].aggregates must be a dict"),
    (("outcomes",), [], "outcomes must hold at least one"),
    (("levers", 1, "asset"), "", "levers[1].asset must not be empty"),
    (("levers", 0), ["A"], "levers[0] must be an (asset, name) pair"),
    (("levers", 1), ["A", "l1"], "levers[1] ('A', 'l1') repeats levers[0]"),
    (("levers",), "A.l1", "levers must be a list"),
    (("constraints", 0, "type"), "binned", "constraints[0].type must be one of 'continuous', 'categorical'"),
    (("constraints", 0, "bins", 1, "from"), 7000, "constraints[0].bins[1].from (7000) must be <="),
    (("constraints", 0, "bins", 1, "to"), "high", "constraints[0].bins[1].to must be a number"),
    (("constraints", 0, "bins", 1, "to_is_inclusive"), 1, "constraints[0].bins[1].to_is_inclusive must be True"),
    (("constraints", 0, "bins", 0, "to"), None, None),  # valid: unbounded
    (("constraints", 0, "bins", 2, "from"), 6000.0, None),
    (("constraints", 0, "bins"), [], "constraints[0].bins must hold at least one bin"),
    (("constraints", 1, "bins", 1), [], "constraints[1].bins[1] must hold at least one value"),
    (("constraints", 1, "bins", 1), [1, None], "constraints[1].bins[1][1] must be a number"),
    (("constraints", 1, "bins", 0), True, "constraints[1].bins[0] must be a number"),
    (("constraints", 1, "name"), "speed", "constraints[1] ('A', 'speed') repeats constraints[0]"),
    (("run_boundaries", 0), {"asset": "A"}, "run_boundaries[0] is missing 'name'"),
    (("record_filters", 0, "op"), "ge", "record_filters[0].op must be one of 'eq', 'neq'"),
    (("record_filters", 0, "value"), None, "record_filters[0].value must be a number"),
    (("min_duration",), -1, "min_duration must be >= 0"),
    (("min_duration",), "1m", "min_duration must be a number"),
    (("top_runs",), 0, "top_runs must be an int >= 1"),
    (("top_runs",), 2.0, "top_runs must be an int >= 1"),
])
def test_validation_errors_name_the_field(path, value, message):
    kwargs = with_change(path, value)
    if message is None:
        make_cookbook("id", "name", **kwargs)
        return
    with pytest.raises(ValidationError) as info:
        make_cookbook("id", "name", **kwargs)
    assert message in str(info.value)


def test_formula_errors_are_kpi_errors_naming_the_outcome():
    kwargs = with_change(("outcomes", 2, "formula"), "Output / Missing")
    with pytest.raises(KpiError, match=r"outcomes\[2\]\.formula: unknown name 'Missing'"):
        make_cookbook("id", "name", **kwargs)
    kwargs = with_change(("outcomes", 2, "formula"), "__import__('os')")
    with pytest.raises(KpiError, match=r"outcomes\[2\]\.formula"):
        make_cookbook("id", "name", **kwargs)
    kwargs = with_change(("outcomes", 1, "aggregates"), {"x": "sum"})
    with pytest.raises(ValidationError, match=r"outcomes\[1\]\.aggregates is given without a formula"):
        make_cookbook("id", "name", **kwargs)


def test_from_dict_refuses_untrusted_shapes():
    good = make_cookbook("id", "name", **GOOD).to_dict()
    for bad, message in [([], "a cookbook must be a dict"), ({**good, "extra": 1}, "unknown key 'extra'"),
                         ({k: v for k, v in good.items() if k != "outcomes"}, "cookbook is missing 'outcomes'"),
                         ({**good, "id": 5}, "id must be a str"), ({**good, "name": " "}, "name must not be empty")]:
        with pytest.raises(ValidationError, match=message):
            Cookbook.from_dict(bad)


def test_to_dict_shape():
    cb = make_cookbook("id", "name", **GOOD)
    d = cb.to_dict()
    assert list(d) == ["id", "name", "levers", "outcomes", "constraints", "run_boundaries", "min_duration",
                       "record_filters", "top_runs"]
    assert d["levers"] == [{"asset": "A", "name": "l1"}, {"asset": "A", "name": "l2"}]
    assert d["outcomes"][0] == {"asset": "A", "name": "o1", "weight": 1.0, "optimize": "maximize"}
    assert d["outcomes"][2]["aggregates"] == {"Output": "sum", "ScrapQuantity": "sum"}
    assert d["constraints"][0]["bins"][0] == {"from": None, "from_is_inclusive": True, "to": 340,
                                              "to_is_inclusive": False}
    assert d["constraints"][1]["bins"] == ["x", [1, 2]]
    assert Cookbook.from_dict(json.loads(json.dumps(d))) == cb
    assert make_cookbook("id", "name", levers=cb.levers, outcomes=cb.outcomes, constraints=cb.constraints,
                         run_boundaries=cb.run_boundaries, min_duration=cb.min_duration,
                         record_filters=cb.record_filters, top_runs=cb.top_runs) == cb
    assert hash(cb) == hash(Cookbook.from_dict(d))


names = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).filter(str.strip)
numbers_ = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e9, 1e9, allow_nan=False))
scalars = st.one_of(names, st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))
pairs = st.tuples(names, names)


@st.composite
def continuous_bins(draw):
    lo = draw(st.none() | numbers_)
    hi = draw(st.none() | numbers_)
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    closed = lo is not None and hi is not None and lo == hi
    return {"from": lo, "from_is_inclusive": closed or draw(st.booleans()), "to": hi,
            "to_is_inclusive": closed or draw(st.booleans())}


outcome_dicts = st.one_of(
    pairs,
    st.fixed_dictionaries({"asset": names, "name": names},
                          optional={"weight": st.floats(0.01, 100), "optimize": st.sampled_from(cookbook.OPTIMIZE)}),
    st.fixed_dictionaries({"asset": names, "name": names, "formula": st.just("a + b * 2"),
                           "aggregates": st.fixed_dictionaries({"a": st.sampled_from(recipes.AGGREGATES),
                                                                "b": st.sampled_from(recipes.AGGREGATES)})}),
)
constraint_dicts = st.one_of(
    st.fixed_dictionaries({"asset": names, "name": names, "type": st.just("continuous"),
                           "bins": st.lists(continuous_bins(), min_size=1, max_size=4)}),
    st.fixed_dictionaries({"asset": names, "name": names, "type": st.just("categorical"),
                           "bins": st.lists(scalars | st.lists(scalars, min_size=1, max_size=3),
                                            min_size=1, max_size=4)}),
)
filter_dicts = st.fixed_dictionaries({"asset": names, "name": names, "op": st.sampled_from(list(recipes.OPERATORS)),
                                      "value": scalars})


def unique_by_field(items):
    seen, out = set(), []
    for x in items:
        key = tuple(x) if isinstance(x, tuple) else (x["asset"], x["name"])
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


@settings(max_examples=100, deadline=None)
@given(id_=names, name=names, levers=st.lists(pairs, max_size=4),
       outcomes=st.lists(outcome_dicts, min_size=1, max_size=3),
       constraints=st.lists(constraint_dicts, max_size=3), boundaries=st.lists(pairs, max_size=2),
       min_duration=st.none() | st.floats(0, 1e6), filters=st.lists(filter_dicts, max_size=3),
       top_runs=st.integers(1, 1000))
def test_cookbook_round_trip(id_, name, levers, outcomes, constraints, boundaries, min_duration, filters, top_runs):
    cb = make_cookbook(id_, name, levers=unique_by_field(levers), outcomes=unique_by_field(outcomes),
                       constraints=unique_by_field(constraints), run_boundaries=unique_by_field(boundaries),
                       min_duration=min_duration, record_filters=filters, top_runs=top_runs)
    assert Cookbook.from_dict(cb.to_dict()) == cb
    assert Cookbook.from_dict(json.loads(json.dumps(cb.to_dict()))) == cb
    assert Cookbook.from_dict(cb.to_dict()).to_dict() == cb.to_dict()


# --- compute against a literal per-record reference ---------------------------------------------

def _contains(b, v):
    if not isinstance(v, (int, float)) or v != v:
        return False
    if b["from"] is not None and not (v > b["from"] or (b["from_is_inclusive"] and v == b["from"])):
        return False
    if b["to"] is not None and not (v < b["to"] or (b["to_is_inclusive"] and v == b["to"])):
        return False
    return True


def _bin_of(c, v):
    for i, b in enumerate(c["bins"]):
        if c["type"] == "continuous":
            if _contains(b, v):
                return i
        elif v is not None and any(v == x and isinstance(v, str) == isinstance(x, str)
                                   for x in (b if isinstance(b, list) else [b])):
            return i
    return None


def _passes(f, v):
    if v is None:
        return False
    try:
        return bool({"eq": v == f["value"], "neq": v != f["value"]}[f["op"]]) if f["op"] in ("eq", "neq") else \
            bool({"gt": lambda: v > f["value"], "gte": lambda: v >= f["value"], "lt": lambda: v < f["value"],
                  "lte": lambda: v <= f["value"]}[f["op"]]())
    except TypeError:
        return False


def reference(cb: Cookbook, series: dict, start_us=None, end_us=None) -> list[dict]:
    """The spec, one record at a time, as plainly as possible."""
    d = cb.to_dict()
    stat = [(x["asset"], x["name"]) for x in d["levers"]]
    for o in d["outcomes"]:
        stat += [(o["asset"], dep) for dep in o["aggregates"]] if "formula" in o else [(o["asset"], o["name"])]
    keyf = [(c["asset"], c["name"]) for c in d["constraints"]] + \
        [(b["asset"], b["name"]) for b in d["run_boundaries"]] + [(f["asset"], f["name"]) for f in d["record_filters"]]
    stat = list(dict.fromkeys(stat))
    fields = set(stat + keyf)
    lo, hi = (-math.inf if start_us is None else start_us), (math.inf if end_us is None else end_us)
    times = sorted({t for f in fields if f in series for t in series[f][0] if lo <= t <= hi})
    current = {f: None for f in fields}
    points = []
    for f in fields:
        for t, v in zip(*series.get(f, ([], []))):
            points.append((t, f, None if v != v else v))
    points.sort(key=lambda p: p[0])  # stable: within a series, later points stay later
    k = 0
    while k < len(points) and points[k][0] < lo:
        current[points[k][1]] = points[k][2]
        k += 1
    runs, run = [], None
    for t in times:
        logged = {}
        while k < len(points) and points[k][0] == t:
            _t, f, v = points[k]
            current[f] = logged[f] = v
            k += 1
        if not all(_passes(f, current[(f["asset"], f["name"])]) for f in d["record_filters"]):
            if run is not None:
                run["last"] = t
                run["count"] += 1
                run["muted"] += 1
            continue
        bins = [_bin_of(c, current[(c["asset"], c["name"])]) for c in d["constraints"]]
        if None in bins:
            run = None
            continue
        key = (tuple(bins), tuple(current[(b["asset"], b["name"])] for b in d["run_boundaries"]))
        if run is None or run["key"] != key:
            run = {"first": t, "last": t, "count": 0, "muted": 0, "key": key, "values": {f: [] for f in stat}}
            runs.append(run)
        run["last"] = t
        run["count"] += 1
        for f in stat:
            if logged.get(f) is not None:
                run["values"][f].append(logged[f])
    if d["min_duration"] is not None:
        runs = [r for r in runs if (r["last"] - r["first"]) / 1e6 >= d["min_duration"]]

    def stats(xs):
        if not xs:
            return {"avg": None, "count": 0.0, "max": None, "min": None, "var_pop": None}
        m = sum(xs) / len(xs)
        return {"avg": m, "count": float(len(xs)), "max": float(max(xs)), "min": float(min(xs)),
                "var_pop": sum((x - m) ** 2 for x in xs) / len(xs)}

    out, seq = [], {}
    for r in runs:
        gid = 0
        for c, b in zip(d["constraints"], r["key"][0]):
            gid = gid * len(c["bins"]) + b
        n = seq.get(gid, 0)
        seq[gid] = n + 1
        outcomes = []
        for i, o in enumerate(d["outcomes"]):
            if "formula" in o:
                deps = {}
                for dep, how in o["aggregates"].items():
                    xs = r["values"][(o["asset"], dep)]
                    deps[dep] = None if not xs else float({"sum": sum(xs), "avg": sum(xs) / max(len(xs), 1),
                                                           "min": min(xs), "max": max(xs)}[how])
                x = recipes._kpi.evaluate(o["formula"], deps)
                value = dict.fromkeys(("avg", "count", "max", "min", "var_pop"), x)
                kpi = {"aggregates": o["aggregates"], "dependencies": deps, "formula": o["formula"]}
            else:
                value, kpi = stats(r["values"][(o["asset"], o["name"])]), None
            value["normal"] = None
            outcomes.append({"asset": o["asset"], "d_pos": i, "kpi": kpi, "name": o["name"], "value": value})
        levers = [{"asset": x["asset"], "d_pos": len(d["outcomes"]) + i, "name": x["name"],
                   "value": stats(r["values"][(x["asset"], x["name"])])} for i, x in enumerate(d["levers"])]
        labels = []
        for c, b in zip(cb.constraints, r["key"][0]):
            labels.append(c.label(b))
        out.append({
            "_count": r["count"], "_count_muted": r["muted"], "_duration_seconds": (r["last"] - r["first"]) / 1e6,
            "_earliest": dt.datetime.fromtimestamp(r["first"] / 1e6, dt.timezone.utc).isoformat(),
            "_latest": dt.datetime.fromtimestamp(r["last"] / 1e6, dt.timezone.utc).isoformat(),
            "_score": None, "constraint_group_id": str(gid), "constraints": labels, "cookbook": d["id"],
            "filters": d["record_filters"],
            "i_vals": [{"asset": "SHARED", "name": "group", "value": str(gid)},
                       {"asset": "SHARED", "name": "sequence", "value": n}]
            + [{"asset": b["asset"], "name": b["name"], "value": v} for b, v in zip(d["run_boundaries"], r["key"][1])],
            "levers": levers, "outcomes": outcomes})
    for i, o in enumerate(d["outcomes"]):
        every = [q["outcomes"][i]["value"]["avg"] for q in out]
        every = [x for x in every if x is not None]
        for run in out:
            x = run["outcomes"][i]["value"]["avg"]
            group = [q["outcomes"][i]["value"]["avg"] for q in out
                     if q["constraint_group_id"] == run["constraint_group_id"]]
            group = [g for g in group if g is not None]
            if x is not None:
                lo_, hi_ = min(group), max(group)
                if lo_ == hi_:  # a group without spread is placed in the range of every run
                    lo_, hi_ = min(every), max(every)
                run["outcomes"][i]["value"]["normal"] = 1.0 if hi_ == lo_ else (
                    (x - lo_) / (hi_ - lo_) if o["optimize"] == "maximize" else (hi_ - x) / (hi_ - lo_))
    for run in out:
        ws = [(o["weight"], q["value"]["normal"]) for o, q in zip(d["outcomes"], run["outcomes"])
              if q["value"]["normal"] is not None]
        run["_score"] = sum(w * n for w, n in ws) / sum(w for w, _ in ws) if ws else None
    return out


def compare(got, want, path="runs"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            compare(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {got!r} != {want!r}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


EDGE_VALUES = [0.0, 2.5, 5.0, 7.5, 10.0, 12.0, NAN]
CONT = st.lists(st.sampled_from([None, 0, 5, 10]), min_size=2, max_size=2).map(
    lambda e: (e[0], e[1]) if e[0] is None or e[1] is None or e[0] <= e[1] else (e[1], e[0]))


@st.composite
def scenario(draw):
    assets = ["A", "B"][:draw(st.integers(1, 2))]
    field = lambda: (draw(st.sampled_from(assets)), draw(st.sampled_from(["f1", "f2", "f3", "f4"])))  # noqa: E731
    constraints = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            bins = []
            for _ in range(draw(st.integers(1, 3))):
                a, b = draw(CONT)
                closed = a is not None and a == b
                bins.append({"from": a, "from_is_inclusive": closed or draw(st.booleans()), "to": b,
                             "to_is_inclusive": closed or draw(st.booleans())})
            constraints.append({"asset": field()[0], "name": "c%d" % len(constraints), "type": "continuous",
                                "bins": bins})
        else:
            bins = draw(st.lists(st.sampled_from([0, 5, 10, 2.5]) | st.lists(st.sampled_from([0, 5, 7.5, 12]),
                                                                              min_size=1, max_size=2),
                                 min_size=1, max_size=3))
            constraints.append({"asset": field()[0], "name": "c%d" % len(constraints), "type": "categorical",
                                "bins": bins})
    levers = list(dict.fromkeys(field() for _ in range(draw(st.integers(0, 3)))))
    outcomes = [{"asset": "A", "name": "f1", "optimize": draw(st.sampled_from(cookbook.OPTIMIZE)),
                 "weight": draw(st.sampled_from([1, 2.5]))}]
    if draw(st.booleans()):
        outcomes.append({"asset": draw(st.sampled_from(assets)), "name": "k", "formula": "f2 / f3 if f3 else f2",
                         "aggregates": {"f2": draw(st.sampled_from(recipes.AGGREGATES)),
                                        "f3": draw(st.sampled_from(recipes.AGGREGATES))}})
    boundaries = list(dict.fromkeys(field() for _ in range(draw(st.integers(0, 1)))))
    filters = [{"asset": a, "name": n, "op": draw(st.sampled_from(list(recipes.OPERATORS))),
                "value": draw(st.sampled_from([0, 5, 7.5]))}
               for a, n in (field() for _ in range(draw(st.integers(0, 2))))]
    cb = make_cookbook("cb", "gen", levers=levers, outcomes=outcomes, constraints=constraints,
                       run_boundaries=boundaries, record_filters=filters,
                       min_duration=draw(st.sampled_from([None, 0, 2, 5])))
    series = {}
    shared = {a: sorted(draw(st.lists(st.integers(0, 20), max_size=12))) for a in assets}
    for a in assets:
        for name in ["f1", "f2", "f3", "f4"] + [c["name"] for c in constraints]:
            if draw(st.integers(0, 5)) == 0:
                continue  # some fields have no series
            times = shared[a] if draw(st.booleans()) else sorted(draw(st.lists(st.integers(0, 20), max_size=8)))
            series[(a, name)] = ([t * S for t in times], [draw(st.sampled_from(EDGE_VALUES)) for _ in times])
    start = draw(st.none() | st.integers(0, 10))
    end = draw(st.none() | st.integers(10, 25))
    return cb, series, (None if start is None else start * S), (None if end is None else end * S)


# Two groups of one run each, whose KPI differs (found by a randomized run): neither group has a
# spread, so each run is placed in the range of both runs (0.0 and 1.0), not given 1.0.
LONE_RUNS = (make_cookbook("cb", "gen", levers=[], outcomes=[
    {"asset": "A", "name": "f1", "optimize": "maximize", "weight": 1},
    {"asset": "B", "name": "k", "formula": "f2 / f3 if f3 else f2", "aggregates": {"f2": "sum", "f3": "sum"}}],
    constraints=[{"asset": "B", "name": "c0", "type": "continuous", "bins": [
        {"from": None, "from_is_inclusive": False, "to": 0, "to_is_inclusive": False},
        {"from": 0, "from_is_inclusive": True, "to": 0, "to_is_inclusive": True},
        {"from": None, "from_is_inclusive": False, "to": None, "to_is_inclusive": False}]}]),
    {("B", "f2"): ([0, S], [0.0, 2.5]), ("B", "c0"): ([0, S], [0.0, 2.5])}, None, None)


@settings(max_examples=300, deadline=None)
@given(scenario())
@example(LONE_RUNS)
def test_compute_matches_a_per_record_reference(case):
    cb, series, start, end = case
    compare(compute(cb, series, start_us=start, end_us=end), reference(cb, series, start, end))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.just(NAN) | st.sampled_from([340.0, 6000.0]),
                min_size=1, max_size=40))
def test_continuous_lookup_matches_first_containing_bin(values):
    c = cookbook._constraint(SPEED, "c")
    over = cookbook._constraint({**SPEED, "bins": [{"from": 0, "to": 340, "to_is_inclusive": True}, *SPEED["bins"]]},
                               "c")
    for con in (c, over):
        lookup = recipes._Continuous(con)
        want = [next((i for i, b in enumerate(con.bins) if b.contains(v)), None) for v in values]
        assert lookup.many(values) == want == [lookup.one(v) for v in values]


# --- Sight Machine's SDK shape -----------------------------------------------------------------

def sm_field(name, kind="continuous", machine="JB_HM_Diecast_1"):
    """A field descriptor as smsdk's cookbook JSON has them."""
    return {"fieldName": name, "machineId": "e2df2b4f115b763f45d04fa2", "machineName": machine,
            "machineDisplayName": "Hamilton - Diecast 1", "fieldType": kind, "machineType": "Diecast",
            "fieldDisplayName": name, "fieldUnit": ""}


def sm_group(gid, values, **extra):
    group = {
        "id": gid, "values": values, "runBoundaries": [],
        "maxDuration": {"isEnabled": False, "minimum": 0, "unit": "second"}, "topRun": 10, "constraints": [],
        "levers": [sm_field(lever["name"]) for lever in SEED_RUN["levers"]],
        "outcomes": [{"field": sm_field("quality", "kpi"), "weight": 1, "optimization_func": "maximize"}],
        "filters": {"duration": {"isEnabled": False, "minimum": 0, "unit": "second"}, "recordFilters": []},
        "dateRange": {"value": {"relativeAmount": 7, "relativeUnit": "day"}, "config": {"mode": "relative"}},
        "computeDeployedDateRange": None, "statsCalculationSetting": "default"}
    return group | {"deployed": dict(group)} | extra


def sm_cookbook(*groups):
    """A cookbook in the shape smsdk's ``get_cookbooks()`` returns (its tests/cookbook fixture)."""
    return {"hash": "64hujs5f", "tag": "demo", "auto_generated_parent": {}, "name": "Test cookbook",
            "assetNames": ["JB_HM_Diecast_1"],
            "key_constraint": {"field": sm_field("stats__Cylinders__val", "categorical"), "valueMap": {"4": 1, "6": 0}},
            "recipe_groups": list(groups) or [sm_group("DJy4jyEEi", ["6"]), sm_group("ByxJEiJFKj", ["4"])],
            "metadata": {"created_by": {"id": "5a1c", "email": "a@example.com", "metadata": {}}},
            "updatetime": "2023-03-21 03:59:54.634000", "assets": [], "id": "63ab6b263fa4880c06334b03"}


SM_KPIS = [{"name": "quality", "display_name": "Quality", "formula": QUALITY, "data_type": "float",
            "dependencies": [{"name": "Output", "aggregate": "sum"}, {"name": "ScrapQuantity", "aggregate": "sum"}]}]


def test_cookbook_from_sight_machine_json():
    d = sm_cookbook()
    with pytest.raises(ValidationError, match="recipe_group must be one of"):
        Cookbook.from_dict(d)  # two recipe groups: say which
    cb = Cookbook.from_dict(d, recipe_group="DJy4jyEEi", kpis=SM_KPIS)
    assert (cb.id, cb.parent, cb.run_cookbook, cb.top_runs, cb.min_duration) == (
        "DJy4jyEEi", "63ab6b263fa4880c06334b03", "63ab6b263fa4880c06334b03", 10, None)
    assert cb.levers == tuple(("JB_HM_Diecast_1", lever["name"]) for lever in SEED_RUN["levers"])
    (quality,) = cb.outcomes
    assert quality.formula == QUALITY and dict(quality.aggregates) == {"Output": "sum", "ScrapQuantity": "sum"}
    assert cb.key_constraint.to_dict() == {"asset": "JB_HM_Diecast_1", "name": "stats__Cylinders__val",
                                           "type": "categorical", "bins": [["6", 6]]}
    assert Cookbook.from_dict(json.loads(json.dumps(cb.to_dict()))) == cb  # stored and read back
    # without the KPI's definition the KPI is read as a logged field; the only group needs no id
    lone = Cookbook.from_dict(sm_cookbook(sm_group("G", ["4"], filters={
        "duration": {"isEnabled": True, "minimum": 5, "unit": "minute"},
        "recordFilters": [{"asset": "JB_HM_Diecast_1", "name": "running", "op": "gt", "value": 0}]})))
    assert lone.id == "G" and not lone.outcomes[0].is_kpi and lone.min_duration == 300.0
    assert lone.record_filters[0].op == "gt"
    bad = sm_cookbook(sm_group("G", ["4"], topRun=0, outcomes=[{"field": {"fieldName": "q"}}]))
    with pytest.raises(ValidationError, match=r"recipe_groups\[0\].outcomes\[0\].field.machineName"):
        Cookbook.from_dict(bad)


def test_seed_run_exactly_with_the_sight_machine_cookbook():
    """With the seed's cookbook as Sight Machine holds it (key constraint Cylinders), the seed run
    comes back exactly: d_pos 0 then 2..7, sequence 2 (the third run of group "0"), its cookbook id."""
    cb = Cookbook.from_dict(sm_cookbook(), recipe_group="DJy4jyEEi", kpis=SM_KPIS)
    series = seed_series()
    start = us(SEED_RUN["_earliest"])
    # product 6 (this group), 4 (another group: no run), 6, 4, then 6 from the seed run's start on
    series[("JB_HM_Diecast_1", "stats__Cylinders__val")] = (
        [start - k * S for k in (100, 80, 60, 40)] + [start], [6.0, 4.0, "6", 4, 6])
    runs = compute(cb, series)
    assert [r["i_vals"][1]["value"] for r in runs] == [0, 1, 2] and [r["_count"] for r in runs] == [1, 1, 12]
    same_shape(runs[2], SEED_RUN)
    assert [lever["d_pos"] for lever in runs[2]["levers"]] == [2, 3, 4, 5, 6, 7]
    assert runs[2]["constraints"] == [] and runs[2]["constraint_group_id"] == "0"
    # a native cookbook without a key constraint keeps levers right after the outcomes
    assert [lever["d_pos"] for lever in compute(seed_cookbook(), seed_series())[0]["levers"]] == [1, 2, 3, 4, 5, 6]


def test_constraint_group_rows_pool_the_top_runs():
    from runlite.recipes.scores import constraint_groups
    t = ts(0, 1, 2, 3, 4, 5)
    series = {("A", "speed"): (t, [400.0, 400, 400, 400, 7000, 7000]), ("A", "shift"): (t, [1.0, 1, 2, 2, 3, 3]),
              ("A", "lever"): (t, [1.0, 3, 5, 9, 2, 2]), ("A", "out"): (t, [1.0, 1, 2, 2, 5, 5])}
    cb = simple([SPEED], boundaries=[("A", "shift")], outcomes=[("A", "out")])
    runs = compute(cb, series)
    g0, g2 = constraint_groups(runs, 10)
    assert g2 == runs[2]  # one run: the run itself, as in smsdk's fixture
    assert (g0["_count"], g0["_earliest"], g0["_latest"], g0["constraint_group_id"]) == (
        4, runs[0]["_earliest"], runs[1]["_latest"], "1")
    assert g0["i_vals"] == [{"asset": "SHARED", "name": "group", "value": "1"}]
    lever = g0["levers"][0]["value"]
    assert lever == {"avg": 4.5, "count": 4.0, "max": 9.0, "min": 1.0, "var_pop": pytest.approx(8.75)}
    assert g0["outcomes"][0]["value"]["normal"] == 0.5 and g0["_score"] == 0.5
    (only_best,) = [g for g in constraint_groups(runs, 1) if g["constraint_group_id"] == "1"]
    assert only_best == runs[1]


def test_scores_and_pooled_rows_at_the_float_range_edge():
    from runlite.recipes.scores import constraint_groups
    top = 1.7976931348623157e308
    t = ts(0, 1, 2, 3, 4, 5)
    series = {("A", "speed"): (t, [400.0] * 6), ("A", "shift"): (t, [1.0, 1, 1, 2, 2, 2]),
              ("A", "lever"): (t, [top, top, top, -top, -top, -top]), ("A", "out"): (t, [-top] * 3 + [top] * 3)}
    runs = compute(simple([SPEED], boundaries=[("A", "shift")]), series)
    # normal is placed in a range wider than the largest float: 0 and 1, not NaN
    assert [r["outcomes"][0]["value"]["normal"] for r in runs] == [0.0, 1.0]
    assert [r["_score"] for r in runs] == [0.0, 1.0]
    (row,) = constraint_groups(runs, 10)
    assert row["levers"][0]["value"] == {"avg": 0.0, "count": 6.0, "max": top, "min": -top, "var_pop": math.inf}
    # the same runs' shares pooled where count * avg is beyond the range: the mean, not inf
    same = compute(simple([SPEED], boundaries=[("A", "shift")]), {**series, ("A", "lever"): (t, [top] * 6)})
    (row,) = constraint_groups(same, 10)
    assert row["levers"][0]["value"] == {"avg": top, "count": 6.0, "max": top, "min": top, "var_pop": 0.0}
    # deviations whose square is beyond the range (1e200 from the mean): inf, not OverflowError
    wide = compute(simple([SPEED], boundaries=[("A", "shift")]),
                   {**series, ("A", "lever"): (t, [1e200] * 3 + [-1e200] * 3)})
    (row,) = constraint_groups(wide, 10)
    assert row["levers"][0]["value"] == {"avg": 0.0, "count": 6.0, "max": 1e200, "min": -1e200, "var_pop": math.inf}
