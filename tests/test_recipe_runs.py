"""Recipe runs in the store: cookbooks, computing from machine data, idempotence, import."""

import ast
import datetime as dt
import os

import pytest

import runlite

from .plans import read_plans

SEED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "seeds", "000_732e1215a5ed32b1.txt")

SPEED = {"asset": "press", "name": "speed", "type": "continuous",
         "bins": [{"from": None, "from_is_inclusive": False, "to": 340, "to_is_inclusive": False},
                  {"from": 340, "from_is_inclusive": True, "to": 6000, "to_is_inclusive": True}]}


def _machine(store, name="line-1", minutes=30, start="2024-03-01T08:00:00+00:00"):
    """One record a minute: speed 400 for 10 minutes, 100, then 500; temperature and parts."""
    t0 = dt.datetime.fromisoformat(start)
    with store.init(name) as run:
        for m in range(minutes):
            speed = 400 if m < 10 else (100 if m < 15 else 500)
            run.log_metrics({"speed": speed, "temp": 200 + m, "good": 1.0, "scrap": 1.0 if m % 10 == 0 else 0.0},
                            asset="press", timestamp=t0 + dt.timedelta(minutes=m))
    return run


def _cookbook(store, **extra):
    return store.create_cookbook(
        "press-book", levers=[("press", "temp")],
        outcomes=[{"asset": "press", "name": "temp", "optimize": "minimize"},
                  {"asset": "press", "name": "quality", "formula": "good / (good + scrap) * 100",
                   "aggregates": {"good": "sum", "scrap": "sum"}, "weight": 2}],
        constraints=[SPEED], **extra)


def test_compute_store_and_query(store):
    source = _machine(store)
    book = _cookbook(store)
    runs = store.compute_recipe_runs(book, sources=[source])
    assert [r.constraint_group_id for r in runs] == ["1", "0", "1"]  # speed 100 is in the (None,340) bin
    first, slow, last = (r.to_dict() for r in runs)
    assert slow["constraints"] == ["(None,340)"] and slow["_count"] == 5 and last["_count"] == 15
    assert first["_count"] == 10 and first["_earliest"] == "2024-03-01T08:00:00+00:00"
    assert first["_duration_seconds"] == 540.0 and first["constraints"] == ["[340,6000]"]
    assert first["levers"][0]["value"]["count"] == 10.0 and first["levers"][0]["value"]["min"] == 200.0
    quality = first["outcomes"][1]
    assert quality["kpi"]["dependencies"] == {"good": 10.0, "scrap": 1.0}
    assert quality["value"]["avg"] == pytest.approx(10 / 11 * 100)
    # recipe runs are runs: queries and records cover them, linked to their source
    rec = store.get_run(runs[0].run_id)
    assert rec.kind == "recipe" and rec.status == "completed" and rec.metadata["cookbook"] == book.id
    assert len(store.get_runs(["kind == recipe"])) == 3
    with store.database.read() as conn:
        assert conn.execute("SELECT source_run_id FROM run_sources WHERE run_id = ?", (runs[0].run_id,)).get == source.id
    best = store.recipe_runs(book)
    assert [r.score for r in best] == sorted((r.score for r in runs), reverse=True)
    assert store.recipe_runs("press-book", limit=1) == best[:1]
    assert store.cookbook("press-book") == book


def test_levers_at_the_float_range_edge_are_computed_and_stored(store):
    # Their exact sum is beyond the float range, their mean is not: the run is stored with it.
    top = 1.7976931348623157e308
    t0 = dt.datetime(2024, 3, 1, 8, tzinfo=dt.timezone.utc)
    with store.init("edge") as source:
        for m, temp in enumerate([-top, -top, -top, top, top, top]):
            source.log_metrics({"speed": 400 if m < 3 else 100, "temp": temp, "good": 1.0, "scrap": 0.0},
                               asset="press", timestamp=t0 + dt.timedelta(minutes=m))
    runs = store.compute_recipe_runs(_cookbook(store), sources=[source])
    levers = [r.to_dict()["levers"][0]["value"] for r in runs]
    assert levers == [{"avg": -top, "count": 3.0, "max": -top, "min": -top, "var_pop": 0.0},
                      {"avg": top, "count": 3.0, "max": top, "min": top, "var_pop": 0.0}]
    assert [r.to_dict()["outcomes"][0]["value"]["avg"] for r in runs] == [-top, top]
    assert [r["levers"][0]["value"] for r in (x.to_dict() for x in store.recipe_runs("press-book"))] in (
        levers, levers[::-1])


def test_recompute_is_idempotent(store):
    source = _machine(store)
    book = _cookbook(store)
    once = store.compute_recipe_runs(book, sources=[source.id])
    twice = store.compute_recipe_runs(book, sources=[source.name])
    assert [r.run_id for r in once] == [r.run_id for r in twice]
    assert [r.to_dict() for r in once] == [r.to_dict() for r in twice]
    assert len(store.runs(status="completed")) == 1 + 3


def test_min_duration_and_filters(store):
    source = _machine(store)
    book = _cookbook(store, min_duration=600, record_filters=[{"asset": "press", "name": "scrap", "op": "eq",
                                                                "value": 0}])
    runs = store.compute_recipe_runs(book, sources=[source])
    assert len(runs) == 1 and runs[0].to_dict()["_count_muted"] == 1  # the 9- and 4-minute runs are too short
    assert runs[0].to_dict()["filters"] == [{"asset": "press", "name": "scrap", "op": "eq", "value": 0}]


@pytest.mark.parametrize("bad, field", [
    (dict(levers=[("press",)]), "levers"), (dict(outcomes=[{"asset": "p", "name": "x", "optimize": "max"}]), "optimize"),
    (dict(constraints=[{**SPEED, "type": "fuzzy"}]), "type"),
    (dict(outcomes=[{"asset": "p", "name": "k", "formula": "__import__('os')", "aggregates": {}}]), "formula"),
])
def test_bad_cookbooks_name_the_field(store, bad, field):
    args = dict(levers=[("press", "temp")], outcomes=[("press", "temp")])
    args.update(bad)
    with pytest.raises(runlite.ValidationError, match=field):
        store.create_cookbook("bad", **args)
    with pytest.raises(runlite.NotFoundError):
        store.cookbook("bad")


def _seed_dict():
    if not os.path.exists(SEED):
        pytest.skip("the seed documents travel beside the project (../shared)")
    text = open(SEED, encoding="utf-8").read()
    return ast.literal_eval(text[text.index("{"): text.index("```", text.index("{"))])


def test_import_seed_run_round_trips(store):
    seed = _seed_dict()
    (imported,) = store.import_recipe_runs([seed])
    assert imported.to_dict() == seed
    (listed,) = store.recipe_runs(seed["cookbook"])
    assert listed.to_dict() == seed
    again = store.import_recipe_runs(seed)  # importing again replaces, never duplicates
    assert [r.run_id for r in again] == [imported.run_id] and len(store.recipe_runs(seed["cookbook"])) == 1
    rec = store.get_run(imported.run_id)
    assert rec.kind == "recipe" and rec.start_time.isoformat() == seed["_earliest"]
    with pytest.raises(runlite.ValidationError):
        store.import_recipe_runs([{**seed, "extra": 1}])


def _at(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize("path, value", [
    (["_score"], float("nan")), (["_score"], [1]), (["_score"], "high"), (["i_vals"], None), (["levers"], [1]),
    (["levers", 0, "value"], "x"), (["levers", 0, "value", "avg"], "x"), (["outcomes", 0, "value", "count"], "2"),
    (["_earliest"], 5), (["_count"], "ten"), (["outcomes", 0, "kpi"], "k"), (["constraint_group_id"], None),
])
def test_import_refuses_a_run_of_other_types_and_its_group_stays_readable(store, path, value):
    """Only the keys were checked: a NaN or list score raised a bare ValueError or TypeError, and
    a value of another type was stored, after which every top_results of its group failed."""
    good = _seed_dict()
    store.import_recipe_runs([good])
    bad = _at(_seed_dict(), path, value)
    bad["_count"] = bad["_count"] + 1 if isinstance(bad["_count"], int) else bad["_count"]
    with pytest.raises(runlite.ValidationError):
        store.import_recipe_runs([bad])
    assert [r.to_dict() for r in store.recipe_runs(good["cookbook"])] == [good]
    store.top_results(good["cookbook"])


def test_machine_data_holding_an_infinity_is_refused_with_a_clear_error(store):
    """The seed format's JSON holds no infinity: computing raised a bare ValueError."""
    with store.init("hot") as hot:
        t0 = dt.datetime.fromisoformat("2024-03-01T08:00:00+00:00")
        for m in range(30):
            hot.log_metrics({"speed": 400, "temp": float("inf") if m == 3 else 200.0, "good": 1.0, "scrap": 0.0},
                            asset="press", timestamp=t0 + dt.timedelta(minutes=m))
    book = _cookbook(store)
    with pytest.raises(runlite.ValidationError, match="finite number"):
        store.compute_recipe_runs(book, sources=[hot])
    assert store.recipe_runs(book) == []


def test_machine_data_logged_out_of_time_order_is_taken_in_time_order(store):
    """A backfill in one source run was refused; the same points over two runs were sorted."""
    t0 = dt.datetime.fromisoformat("2024-03-01T08:00:00+00:00")
    minutes = [2, 0, 1, 3] + list(range(4, 20))
    with store.init("backfilled") as one:
        for m in minutes:
            one.log_metrics({"speed": 400, "temp": 200.0 + m, "good": 1.0, "scrap": 0.0}, asset="press",
                            timestamp=t0 + dt.timedelta(minutes=m))
    with store.init("in-order") as ordered:
        for m in sorted(minutes):
            ordered.log_metrics({"speed": 400, "temp": 200.0 + m, "good": 1.0, "scrap": 0.0}, asset="press",
                                timestamp=t0 + dt.timedelta(minutes=m))
    book = _cookbook(store)
    got = [r.to_dict() for r in store.compute_recipe_runs(book, sources=[one])]
    want = [r.to_dict() for r in store.compute_recipe_runs(book, sources=[ordered])]
    assert got and [(r["_count"], r["levers"]) for r in got] == [(r["_count"], r["levers"]) for r in want]


def test_import_keeps_distinct_runs_sharing_start_and_group(store):
    """Two different runs with the same cookbook, _earliest and constraint group are both kept;
    the same run imported again (even re-scored) replaces itself."""
    seed = _seed_dict()
    other = {**seed, "_latest": "2022-10-21T00:50:00+00:00", "_duration_seconds": 868.0, "_count": 15}
    first = store.import_recipe_runs([seed, other])
    assert len({r.run_id for r in first}) == 2
    assert sorted(r.to_dict()["_count"] for r in store.recipe_runs(seed["cookbook"])) == [12, 15]
    lever = {**seed["levers"][0], "value": {**seed["levers"][0]["value"], "avg": 1.0}}
    third = {**seed, "levers": [lever, *seed["levers"][1:]]}  # same times, different lever statistics
    (added,) = store.import_recipe_runs([third])
    assert added.run_id not in {r.run_id for r in first} and len(store.recipe_runs(seed["cookbook"])) == 3
    # the same content again, in any order, and re-scored: idempotent
    rescored = {**seed, "_score": 0.5, "i_vals": [seed["i_vals"][0], {**seed["i_vals"][1], "value": 7}]}
    again = store.import_recipe_runs([other, rescored, third])
    assert sorted(r.run_id for r in again) == sorted([*(r.run_id for r in first), added.run_id])
    runs = store.recipe_runs(seed["cookbook"])
    assert len(runs) == 3 and {r.score for r in runs} == {1.0, 0.5}


def _sm_cookbook():
    """A Sight Machine cookbook as smsdk's get_cookbooks() returns it (trimmed to the keys runlite reads
    and a few it ignores), with two recipe groups keyed by the product field ``product``."""
    def field(name, kind="continuous"):
        return {"fieldName": name, "machineId": "m1", "machineName": "press", "machineDisplayName": "Press",
                "fieldType": kind, "machineType": "Press", "fieldDisplayName": name, "fieldUnit": ""}

    def group(gid, values):
        return {"id": gid, "values": values, "runBoundaries": [], "topRun": 10,
                "maxDuration": {"isEnabled": False, "minimum": 0, "unit": "second"},
                "constraints": [{**{k: SPEED[k] for k in ("asset", "name", "type")}, "values": SPEED["bins"]}],
                "levers": [field("temp")],
                "outcomes": [{"field": field("quality", "kpi"), "weight": 1, "optimization_func": "maximize"}],
                "filters": {"duration": {"isEnabled": True, "minimum": 2, "unit": "minute"}, "recordFilters": []},
                "dateRange": {"value": {"relativeAmount": 7, "relativeUnit": "day"}},
                "computeDeployedDateRange": None, "statsCalculationSetting": "default"}
    return {"hash": "h", "tag": "demo", "name": "Press book", "assetNames": ["press"], "assets": [],
            "key_constraint": {"field": field("product", "categorical"), "valueMap": {"1": 0, "2": 1}},
            "recipe_groups": [group("RG1", ["1"]), group("RG2", ["2"])], "metadata": {}, "id": "sm-cookbook-1",
            "updatetime": "2023-03-21 03:59:54.634000"}


KPIS = [{"name": "quality", "formula": "good / (good + scrap) * 100",
         "dependencies": [{"name": "good", "aggregate": "sum"}, {"name": "scrap", "aggregate": "sum"}]}]


def test_sight_machine_cookbook_top_results(store):
    source = _machine(store)
    with store.init("product") as run:  # product 1 for 20 minutes, then 2
        for m in (0, 20):
            run.log_metrics({"product": 1 if m == 0 else 2}, asset="press",
                            timestamp=dt.datetime(2024, 3, 1, 8, m, tzinfo=dt.timezone.utc))
    book = store.create_cookbook(_sm_cookbook(), recipe_group="RG1", kpis=KPIS)
    assert store.cookbook("RG1") == book and book.parent == "sm-cookbook-1"
    assert store.create_cookbook(_sm_cookbook(), recipe_group="RG1", kpis=KPIS) == book  # same id: replaced
    runs = store.compute_recipe_runs("RG1", sources=[source, run])
    # speed 400 for minutes 0-9 (bin 1), 100 for 10-14 (bin 0), 500 from 15 (bin 1), product 1 until 19
    assert [(r.to_dict()["_earliest"][11:16], r.constraint_group_id, r.to_dict()["cookbook"]) for r in runs] == [
        ("08:00", "1", "sm-cookbook-1"), ("08:10", "0", "sm-cookbook-1"), ("08:15", "1", "sm-cookbook-1")]
    top = store.top_results("RG1", limit=1)
    assert set(top) == {"runs", "constraint_group"} and len(top["runs"]) == 1
    assert top["runs"][0] == store.recipe_runs("RG1", limit=1)[0].to_dict()
    groups = {g["constraint_group_id"]: g for g in top["constraint_group"]}
    assert groups["0"] == runs[1].to_dict()  # a group of one run: the run
    assert groups["1"]["_count"] == 15 and groups["1"]["levers"][0]["value"]["count"] == 15.0
    assert groups["1"]["levers"][0]["value"]["avg"] == pytest.approx(sum(list(range(200, 210)) + [215, 216, 217, 218, 219]) / 15)
    assert len(store.top_results("RG1", limit=None)["runs"]) == 3
    with pytest.raises(runlite.NotFoundError):
        store.top_results("RG9")


def test_sight_machine_current_value(store):
    now = dt.datetime.now(dt.timezone.utc)
    with store.init("machine-a") as run:
        run.log_metrics({"temp": 201.5}, asset="press", timestamp=now - dt.timedelta(minutes=30))
        run.log_metrics({"temp": 203.0}, asset="press", timestamp=now - dt.timedelta(minutes=10))
    with store.init("machine-b") as run:
        run.log_metrics({"temp": 999.0}, asset="other", timestamp=now - dt.timedelta(minutes=1))
        run.log_metrics({"temp": 150.0}, asset="press", timestamp=now - dt.timedelta(minutes=20))
    variables = [{"asset": "press", "name": "temp"}, {"asset": "press", "name": "missing"}]
    assert store.current_value(variables) == [{"asset": "press", "name": "temp", "values": {"latest": 203.0}},
                                              {"asset": "press", "name": "missing", "values": {"latest": None}}]
    assert store.current_value(variables[:1], 5) == [{"asset": "press", "name": "temp", "values": {"latest": None}}]
    earlier = now - dt.timedelta(minutes=15)  # as of 15 minutes ago, over the 10 minutes before
    assert store.current_value(variables[:1], 10, at=earlier)[0]["values"]["latest"] == 150.0
    with pytest.raises(runlite.ValidationError):
        store.current_value({"asset": "press", "name": "temp"})


def test_current_value_finds_series_by_asset_and_name_and_other_series_skip_that_index(store):
    """Series are looked up by name across runs only with their asset: by the index of series that
    have one (schema version 15). A metric logged without an asset is kept out of it, so a run's
    end does not write a page of it for each of its metrics."""
    with store.init("machine") as run:
        run.log_metrics({"temp": 201.5, "speed": 3.0}, asset="press")
    with store.init("training") as run:
        run.log_metrics({"loss": 0.5, "acc": 0.9})
    plan, = read_plans(store, lambda: store.current_value([{"asset": "press", "name": "temp"}]), "DISTINCT run_id")
    assert "series_asset_name (asset=? AND name=?)" in plan, plan
    for blank in ("", " "):  # refused alike whether or not a series of no asset bears the name
        for name in ("loss", "nothing"):
            with pytest.raises(runlite.ValidationError, match=r"variables\[0\] asset must not be empty or blank"):
                store.current_value([{"asset": blank, "name": name}])
    with store.database.read() as conn:
        kept = conn.execute("SELECT name FROM series INDEXED BY series_asset_name WHERE asset <> '' ORDER BY name")
        assert [name for (name,) in kept] == ["speed", "temp"]


def test_import_sight_machine_top_results(store):
    """The SDK's top results dict imports its runs; top_results gives them back in that shape."""
    seed = _seed_dict()
    later = {**seed, "_earliest": "2022-10-21T01:00:00+00:00", "_latest": "2022-10-21T01:10:49+00:00",
             "_score": 0.5}
    imported = store.import_recipe_runs({"runs": [seed, later], "constraint_group": [seed]})
    assert len(imported) == 2
    top = store.top_results(seed["cookbook"], limit=1)
    assert top["runs"] == [seed]
    (group,) = top["constraint_group"]
    assert group["_count"] == 24 and group["_score"] == 0.75 and group["constraint_group_id"] == "0"
    assert group["outcomes"][0]["value"]["avg"] == 100.0 and group["outcomes"][0]["kpi"]["dependencies"] == {
        "Output": 18.0, "ScrapQuantity": 0.0}
    assert group["levers"][0]["value"]["avg"] == pytest.approx(seed["levers"][0]["value"]["avg"])
    assert group["levers"][0]["value"]["var_pop"] == pytest.approx(seed["levers"][0]["value"]["var_pop"])
