"""Recipe runs in the store: cookbooks, computing from machine data, idempotence, import."""

import ast
import datetime as dt
import os

import pytest

import runlite

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
