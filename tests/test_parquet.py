"""export_parquet: write the datasets, read them back with DuckDB."""

import datetime
import json
import math
import os
import sys

import pytest

pa = pytest.importorskip("pyarrow")
duckdb = pytest.importorskip("duckdb")

import runlite  # noqa: E402
from runlite.errors import NotFoundError, ValidationError  # noqa: E402
from runlite.parquet import export_parquet  # noqa: E402

T0 = 1_700_000_000.0  # epoch seconds of the first logged point


@pytest.fixture
def filled(tmp_path):
    """A store with two experiment runs and a trace child; yields (store, {label: run id})."""
    store = runlite.open(str(tmp_path / "x.db"))
    a = store.init("alpha", metadata={"lr": 0.1, "opt": "adam"}, tags=["base", "gpu"], description="first")
    values = [1.5, float("nan"), float("inf"), float("-inf"), -0.0, 2.0]
    for i, v in enumerate(values):
        a.log_metrics({"loss": v}, step=i * 10, timestamp=T0 + i)
    a.log_metrics({"temp": 40.0}, step=0, timestamp=T0, asset="node-1")
    a.log_metrics({"temp": 41.5}, step=1, timestamp=T0 + 0.25, asset="node-1")
    a.log_event("hello world", timestamp=T0)
    a.log_event("careful", timestamp=T0 + 1, level="warning")
    a.add_event("new_token", time=T0 + 2, token="hi")
    a.create_user_alert("bad-thing")
    a.log_alert(name="bad-thing", state="critical")
    child = a.child("step-1", run_type="llm")
    child.log_metrics({"tokens": 3.0}, step=0, timestamp=T0 + 5)
    child.end(outputs={"text": "ok"})
    a.end()
    b = store.init("beta", tags=["other"])
    b.log_metrics({"loss": 9.0}, step=0, timestamp=T0 + 100)
    b.log_event("beta only", timestamp=T0 + 100)
    b.end()
    yield store, {"a": a.id, "child": child.id, "b": b.id}
    store.close()


def _sql(query: str) -> list:
    return duckdb.sql(query).fetchall()


def _us(when) -> int:
    """Epoch microseconds of an aware datetime, exactly."""
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _metrics(dest) -> str:
    return f"read_parquet('{dest}/metrics/*/*.parquet', hive_partitioning=true)"


def _events(dest) -> str:
    return f"read_parquet('{dest}/events/*/*.parquet', hive_partitioning=true)"


def test_round_trip_through_duckdb(filled, tmp_path):
    store, ids = filled
    dest = tmp_path / "out"
    counts = export_parquet(store, dest)
    assert counts == {"runs": 3, "series": 4, "metrics": 10, "events": 4, "alerts": 1, "unchanged": 0}
    assert (dest / "runs" / "part-0.parquet").is_file()
    assert (dest / "metrics" / f"run_id={ids['a']}" / "part-0.parquet").is_file()

    # Metric points: run_id comes from the partition directory.
    per_run = dict(_sql(f"SELECT run_id, count(*) FROM {_metrics(dest)} GROUP BY run_id"))
    assert per_run == {ids["a"]: 8, ids["child"]: 1, ids["b"]: 1}
    rows = _sql(f"SELECT step, time, epoch_us(timestamp), value, asset FROM {_metrics(dest)}"
                f" WHERE run_id = '{ids['a']}' AND name = 'loss' ORDER BY step")
    expected = store.metric_values(ids["a"], "loss")
    assert [r[0] for r in rows] == list(expected.steps) == [0, 10, 20, 30, 40, 50]
    assert [r[1] for r in rows] == list(expected.times)
    for got, want in zip([r[3] for r in rows], expected.values):
        assert (math.isnan(got) and math.isnan(want)) or got == want
        assert math.copysign(1.0, got) == math.copysign(1.0, want)  # -0.0 stays -0.0
    assert math.isnan(rows[1][3]) and rows[2][3] == math.inf and rows[3][3] == -math.inf
    assert [r[2] for r in rows] == list(expected.timestamps)
    assert rows[0][2] == int(T0 * 1_000_000)
    assert all(r[4] is None for r in rows)
    temps = _sql(f"SELECT asset, step, value FROM {_metrics(dest)} WHERE name = 'temp' ORDER BY step")
    assert temps == [("node-1", 0, 40.0), ("node-1", 1, 41.5)]
    nan_count = _sql(f"SELECT count(*) FROM {_metrics(dest)} WHERE isnan(value)")[0][0]
    assert nan_count == 1

    # Events.
    events = _sql(f"SELECT run_id, seq, epoch_us(time), level, name, message, kwargs FROM {_events(dest)}"
                  f" ORDER BY run_id, time, seq")
    a_events = [e for e in events if e[0] == ids["a"]]
    assert [e[5] for e in a_events] == ["hello world", "careful", None]
    assert [e[3] for e in a_events] == ["info", "warning", None]
    assert a_events[2][4] == "new_token" and json.loads(a_events[2][6]) == {"token": "hi"}
    assert a_events[0][2] == int(T0 * 1_000_000)
    assert [e[5] for e in events if e[0] == ids["b"]] == ["beta only"]
    stored = store.events(ids["a"])
    assert [e[1] for e in a_events] == [e.seq for e in stored]

    # Runs.
    runs = {r[0]: r for r in _sql(
        f"SELECT id, name, tags, metadata, parent_run_id, trace_id, epoch_us(start_time),"
        f" epoch_us(end_time), status, run_type"
        f" FROM read_parquet('{dest}/runs/*.parquet')")}
    assert set(runs) == set(ids.values())
    assert runs[ids["a"]][1] == "alpha" and runs[ids["a"]][2] == ["base", "gpu"]
    assert json.loads(runs[ids["a"]][3]) == {"lr": 0.1, "opt": "adam"}
    assert runs[ids["child"]][4] == ids["a"] and runs[ids["child"]][5] == ids["a"]
    assert runs[ids["child"]][9] == "llm"
    assert runs[ids["b"]][2] == ["other"] and runs[ids["b"]][4] is None
    record = store.get_run(ids["a"])
    assert runs[ids["a"]][6] == _us(record.start_time) and runs[ids["a"]][7] == _us(record.end_time)
    assert runs[ids["a"]][7] is not None
    assert runs[ids["a"]][8] == record.status == "completed"

    # Alerts.
    alerts = _sql(f"SELECT run_id, name, source, state, definition, epoch_us(changed)"
                  f" FROM read_parquet('{dest}/alerts/*.parquet')")
    assert len(alerts) == 1
    run_id, name, source, state, definition, changed = alerts[0]
    assert (run_id, name, state) == (ids["a"], "bad-thing", "critical")
    assert json.loads(definition) == store.alerts()[0].definition
    assert changed == _us(store.alerts()[0].changed)


def test_arrow_types(filled, tmp_path):
    import pyarrow.parquet as pq

    store, ids = filled
    export_parquet(store, tmp_path / "out")
    ts = pa.timestamp("us", tz="UTC")
    metrics = pq.read_table(tmp_path / "out" / "metrics" / f"run_id={ids['a']}" / "part-0.parquet")
    assert metrics.schema.field("timestamp").type == ts
    assert metrics.schema.field("step").type == pa.int64()
    assert metrics.schema.field("value").type == pa.float64()
    runs = pq.read_table(tmp_path / "out" / "runs" / "part-0.parquet")
    assert runs.schema.field("tags").type == pa.list_(pa.string())
    assert runs.schema.field("start_time").type == ts
    events = pq.read_table(tmp_path / "out" / "events" / f"run_id={ids['a']}" / "part-0.parquet")
    assert events.schema.field("time").type == ts


def test_run_ids_subset(filled, tmp_path):
    store, ids = filled
    dest = tmp_path / "sub"
    counts = export_parquet(store, dest, run_ids=[ids["b"]])
    assert counts == {"runs": 1, "series": 1, "metrics": 1, "events": 1, "alerts": 0, "unchanged": 0}
    assert os.listdir(dest / "metrics") == [f"run_id={ids['b']}"]
    assert _sql(f"SELECT DISTINCT run_id FROM {_metrics(dest)}") == [(ids["b"],)]
    assert _sql(f"SELECT id FROM read_parquet('{dest}/runs/*.parquet')") == [(ids["b"],)]
    assert _sql(f"SELECT count(*) FROM read_parquet('{dest}/alerts/*.parquet')") == [(0,)]

    counts = export_parquet(store, tmp_path / "sub2", run_ids=[ids["a"], ids["a"]])
    assert counts == {"runs": 1, "series": 2, "metrics": 8, "events": 3, "alerts": 1, "unchanged": 0}


def test_unknown_or_bad_run_ids_write_nothing(filled, tmp_path):
    store, _ = filled
    dest = tmp_path / "none"
    with pytest.raises(NotFoundError):
        export_parquet(store, dest, run_ids=["00000000-0000-7000-8000-000000000000"])
    with pytest.raises(ValidationError):
        export_parquet(store, dest, run_ids="not-a-list")
    assert not dest.exists()


def test_non_uuid_ids_refused(filled, tmp_path, monkeypatch):
    store, ids = filled
    real = store.runs

    def evil_runs():
        import attrs

        return [attrs.evolve(r, id="../../escape") if r.id == ids["b"] else r for r in real()]

    monkeypatch.setattr(store, "runs", evil_runs)
    with pytest.raises(ValidationError, match="not a UUID"):
        export_parquet(store, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_overwrite(filled, tmp_path):
    store, ids = filled
    dest = tmp_path / "out"
    export_parquet(store, dest)
    (dest / "README.txt").write_text("mine")
    counts = export_parquet(store, dest, run_ids=[ids["b"]], overwrite=True)
    assert counts["runs"] == 1
    # Old partitions are gone, unrelated files stay.
    assert os.listdir(dest / "metrics") == [f"run_id={ids['b']}"]
    assert (dest / "README.txt").read_text() == "mine"

    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(ValidationError):
        export_parquet(store, f, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_parquet(store, empty)["runs"] == 3  # an existing empty directory is fine

    # A directory that is not a dataset (no manifest: someone's files, or an export of an
    # older runlite) is only replaced when asked to.
    foreign = tmp_path / "foreign"
    (foreign / "metrics").mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ValidationError, match="overwrite=True"):
        export_parquet(store, foreign)
    assert sorted(os.listdir(foreign)) == ["metrics", "notes.txt"]
    assert export_parquet(store, foreign, overwrite=True)["runs"] == 3
    assert (foreign / "notes.txt").read_text() == "keep"


def test_empty_store(tmp_path):
    with runlite.open(str(tmp_path / "e.db")) as store:
        counts = export_parquet(store, tmp_path / "out")
    assert counts == {"runs": 0, "series": 0, "metrics": 0, "events": 0, "alerts": 0, "unchanged": 0}
    assert _sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/out/runs/*.parquet')") == [(0,)]
    assert _sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/out/alerts/*.parquet')") == [(0,)]
    assert os.listdir(tmp_path / "out" / "metrics") == []


def test_without_pyarrow(filled, tmp_path, monkeypatch):
    store, _ = filled
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"runlite\[parquet\]"):
        export_parquet(store, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_events_in_pages(filled, tmp_path, monkeypatch):
    from runlite.parquet import files

    store, ids = filled
    monkeypatch.setattr(files, "EVENT_PAGE", 2)
    counts = export_parquet(store, tmp_path / "out", run_ids=[ids["a"]])
    assert counts["events"] == 3
    got = _sql(f"SELECT seq, message FROM {_events(tmp_path / 'out')} ORDER BY time, seq")
    assert got == [(e.seq, e.message) for e in store.events(ids["a"])]
