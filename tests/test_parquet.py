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
from runlite.errors import CorruptStoreError, NotFoundError, ValidationError  # noqa: E402
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
    assert counts == {"runs": 3, "series": 4, "metrics": 10, "events": 4, "alerts": 1, "media": 0, "unchanged": 0}
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
    assert counts == {"runs": 1, "series": 1, "metrics": 1, "events": 1, "alerts": 0, "media": 0, "unchanged": 0}
    assert os.listdir(dest / "metrics") == [f"run_id={ids['b']}"]
    assert _sql(f"SELECT DISTINCT run_id FROM {_metrics(dest)}") == [(ids["b"],)]
    assert _sql(f"SELECT id FROM read_parquet('{dest}/runs/*.parquet')") == [(ids["b"],)]
    assert _sql(f"SELECT count(*) FROM read_parquet('{dest}/alerts/*.parquet')") == [(0,)]

    counts = export_parquet(store, tmp_path / "sub2", run_ids=[ids["a"], ids["a"]])
    assert counts == {"runs": 1, "series": 2, "metrics": 8, "events": 3, "alerts": 1, "media": 0, "unchanged": 0}


def test_unknown_or_bad_run_ids_write_nothing(filled, tmp_path):
    store, _ = filled
    dest = tmp_path / "none"
    with pytest.raises(NotFoundError):
        export_parquet(store, dest, run_ids=["00000000-0000-7000-8000-000000000000"])
    with pytest.raises(ValidationError):
        export_parquet(store, dest, run_ids="not-a-list")
    for bad in ({"run_ids": 3.5}, {"progress": "not callable"}):
        with pytest.raises(ValidationError):
            export_parquet(store, dest, **bad)
    assert not dest.exists()


@pytest.mark.parametrize("dest", [None, "", "a\x00b", "\ud800", b"bytes", "x" * 5000, "out-\udcff"],
                         ids=["none", "empty", "nul", "surrogate", "bytes", "too-long", "not-utf8"])
def test_a_dest_that_is_no_folder_path_is_refused_and_nothing_is_written(filled, tmp_path, monkeypatch, dest):
    store, _ = filled
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(ValidationError, match="dest"):
        export_parquet(store, dest)
    assert list(work.iterdir()) == []


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
    assert counts == {"runs": 0, "series": 0, "metrics": 0, "events": 0, "alerts": 0, "media": 0, "unchanged": 0}
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


# Incremental exports -------------------------------------------------------------------------

from runlite.errors import RunliteError  # noqa: E402
from runlite.parquet import DatasetError, files as parquet_files, manifest  # noqa: E402
from runlite.parquet.schema import SCHEMA_VERSION  # noqa: E402

from .plans import read_statements  # noqa: E402


def _stamps(dest) -> dict:
    """Every file of the dataset: (inode, mtime_ns, size), by path relative to ``dest``."""
    out = {}
    for folder, _dirs, names in os.walk(dest):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), dest)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def _of_run(stamps: dict, run_id: str) -> dict:
    return {path: stamp for path, stamp in stamps.items() if f"run_id={run_id}" in path}


def _dump(dest) -> dict:
    """Every dataset's rows in a fixed order (what a reader sees)."""
    return {
        "runs": _sql(f"SELECT * EXCLUDE (tags), to_json(tags) FROM read_parquet('{dest}/runs/*.parquet') ORDER BY id"),
        "series": _sql(f"SELECT * FROM read_parquet('{dest}/series/*.parquet') ORDER BY run_id, name, asset"),
        "metrics": _sql(f"SELECT run_id, name, asset, step, timestamp, CAST(value AS VARCHAR) FROM {_metrics(dest)}"
                        f" ORDER BY ALL"),
        "events": _sql(f"SELECT * FROM {_events(dest)} ORDER BY run_id, seq"),
        "alerts": _sql(f"SELECT * FROM read_parquet('{dest}/alerts/*.parquet') ORDER BY run_id, alert_id"),
    }


@pytest.fixture
def growing(tmp_path):
    """A store with three finished runs and three live ones that will change; yields (store, runs)."""
    store = runlite.open(str(tmp_path / "g.db"))
    done = []
    for i in range(3):
        r = store.init(f"done-{i}")
        r.log_metrics({"loss": 1.0 / (i + 1), "acc": 0.5}, step=0)
        r.log_event(f"finished {i}")
        r.end()
        done.append(r)
    points, events, ending = (store.init(n) for n in ("points", "events", "ending"))
    for r in (points, events, ending):
        r.log_metrics({"loss": 3.0}, step=0)
        r.log_event("started")
    yield store, {"done": done, "points": points, "events": events, "ending": ending}
    store.close()


def test_second_export_writes_only_the_runs_that_changed(growing, tmp_path):
    store, runs = growing
    dest = tmp_path / "ds"
    first = export_parquet(store, dest)
    assert first["runs"] == 6 and first["unchanged"] == 0
    before = _stamps(dest)

    again = export_parquet(store, dest)  # nothing changed: nothing is written, not even the catalogs
    assert again == {"runs": 0, "series": 0, "metrics": 0, "events": 0, "alerts": 0, "media": 0, "unchanged": 6}
    assert _stamps(dest) == before

    runs["points"].log_metrics({"loss": 2.0}, step=1)
    runs["events"].log_event("one more")
    runs["ending"].end()
    counts = export_parquet(store, dest)
    assert counts["runs"] == 3 and counts["unchanged"] == 3
    assert counts["metrics"] == 2 + 1 + 1 and counts["events"] == 1 + 2 + 1
    after = _stamps(dest)
    for r in runs["done"]:  # the files of unchanged runs are the very same files
        assert _of_run(after, r.id) == _of_run(before, r.id) != {}
    changed = _of_run(after, runs["points"].id)
    assert changed.keys() == _of_run(before, runs["points"].id).keys()
    assert changed != _of_run(before, runs["points"].id)

    # What a reader sees is what a fresh export of the store writes.
    assert _dump(dest) == _dump(export_parquet(store, tmp_path / "fresh") and tmp_path / "fresh")
    status = _sql(f"SELECT status FROM read_parquet('{dest}/runs/*.parquet') WHERE id = '{runs['ending'].id}'")
    assert status == [("completed",)]


def test_an_alert_state_change_alone_rewrites_the_run(growing, tmp_path):
    store, runs = growing
    run = runs["points"]
    run.create_user_alert("watch")
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    run.log_alert(name="watch", state="critical")
    counts = export_parquet(store, dest)
    assert counts["runs"] == 1 and counts["alerts"] == 1
    assert _sql(f"SELECT state FROM read_parquet('{dest}/alerts/*.parquet')") == [("critical",)]


def test_exports_of_several_stores_union_and_keep_the_newest_copy(growing, tmp_path):
    store, runs = growing
    snapshot = tmp_path / "snapshot.db"  # another machine's file holding an older copy of a run
    store.export(snapshot, run_ids=[runs["points"].id])
    runs["points"].log_metrics({"loss": 2.0}, step=1)
    store.flush()
    with runlite.open(str(tmp_path / "other.db")) as other:
        mine = other.init("elsewhere")
        mine.log_metrics({"loss": 0.1}, step=0)
        mine.end()
    dest = tmp_path / "ds"
    for order in ([store.path, str(snapshot), str(tmp_path / "other.db")],
                  [str(snapshot), str(tmp_path / "other.db"), store.path]):
        counts = []
        for path in order:
            with runlite.open(path, read_only=True) as source:
                counts.append(export_parquet(source, dest, overwrite=path == order[0]))
        points = dict(_sql(f"SELECT run_id, count(*) FROM {_metrics(dest)} WHERE name = 'loss' GROUP BY run_id"))
        assert points[runs["points"].id] == 2  # the newer copy, whichever file came first
        assert len(points) == 7 and mine.id in points
        assert _sql(f"SELECT count(*), count(DISTINCT id) FROM read_parquet('{dest}/runs/*.parquet')") == [(7, 7)]
    # Exporting every file again writes nothing: an older copy never replaces a newer one.
    before = _stamps(dest)
    for path in (store.path, str(snapshot), str(tmp_path / "other.db")):
        with runlite.open(path, read_only=True) as source:
            assert export_parquet(source, dest)["runs"] == 0
    assert _stamps(dest) == before


def _trace_across_two_files(tmp_path) -> tuple:
    """A trace begun in one file and continued in another, whose file holds a placeholder for
    the parent: (the parent's file, the child's file, the parent's id)."""
    up, here = str(tmp_path / "up.db"), str(tmp_path / "here.db")
    with runlite.open(up) as store:
        with runlite.trace("root", store=store, inputs={"q": 1}) as root:
            headers = {"langsmith-trace": root.dotted_order}
    with runlite.open(here) as store:
        with runlite.trace("served", store=store, parent=headers):
            pass
        assert store.get_run(root.id).kind == "placeholder"
    return up, here, root.id


def _root_row(dest, run_id: str) -> tuple:
    return _sql(f"SELECT name, inputs FROM read_parquet('{dest}/runs/*.parquet') WHERE id = '{run_id}'")[0]


def test_a_run_replaces_its_placeholder_in_a_dataset_never_the_reverse(tmp_path):
    """The placeholder is made when the child arrives, after the run: by its times alone it
    looked the newer copy, and exporting the child's file wrote it over the run."""
    up, here, root_id = _trace_across_two_files(tmp_path)
    for order in ((up, here), (here, up)):
        dest = tmp_path / f"ds-{os.path.basename(order[0])}"
        for path in order:
            with runlite.open(path, read_only=True) as source:
                export_parquet(source, dest)
        assert _root_row(dest, root_id) == ("root", '{"q": 1}')
        for path in order:  # and again: nothing left to write
            with runlite.open(path, read_only=True) as source:
                assert export_parquet(source, dest)["runs"] == 0


def test_a_placeholder_filled_by_a_merge_is_exported_again(tmp_path):
    up, here, root_id = _trace_across_two_files(tmp_path)
    dest = tmp_path / "ds"
    with runlite.open(here, read_only=True) as source:
        export_parquet(source, dest)
    assert _root_row(dest, root_id)[0] != "root"
    runlite.merge(here, up)
    with runlite.open(here, read_only=True) as source:
        assert export_parquet(source, dest)["runs"] == 1
    assert _root_row(dest, root_id) == ("root", '{"q": 1}')


def test_a_run_dated_before_1970_exports_again_incrementally(tmp_path):
    with runlite.open(str(tmp_path / "old.db")) as store:
        store.import_runs([{"id": "01a23cc0-c5ba-7033-9c28-50e4960ee476", "name": "old", "start_time": 1.7e12,
                            "modified": "1969-12-31T23:59:59+00:00"}])
        dest = tmp_path / "ds"
        assert export_parquet(store, dest)["runs"] == 1
        assert export_parquet(store, dest) == {**export_parquet(store, dest), "runs": 0, "unchanged": 1}


def test_a_manifest_of_five_entry_versions_is_read_as_runs_not_placeholders(growing, tmp_path):
    """Exports before the stand-in flag wrote five entries: such a dataset is updated in place."""
    store, _ = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    doc = json.loads((dest / manifest.NAME).read_text())
    doc["runs"] = {run_id: entry[:5] for run_id, entry in doc["runs"].items()}
    (dest / manifest.NAME).write_text(json.dumps(doc))
    assert export_parquet(store, dest)["runs"] == 0


def test_an_interrupted_export_reads_correctly_and_the_next_one_repairs_it(growing, tmp_path, monkeypatch):
    store, runs = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest, run_ids=[r.id for r in runs["done"]])
    real = parquet_files.stage_events
    calls = []

    def crash_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill or Ctrl-C would stop it, mid-export
        return real(*args, **kwargs)

    import runlite.parquet as parquet_pkg

    monkeypatch.setattr(parquet_pkg, "_CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every run
    monkeypatch.setattr(parquet_files, "stage_events", crash_on_the_third)
    runs["points"].log_metrics({"loss": 2.0}, step=1)
    with pytest.raises(KeyboardInterrupt):
        export_parquet(store, dest)
    (dest / parquet_files.STAGING / "half-written.parquet").write_bytes(b"PAR1 and then nothing")

    # The dataset reads: every file whole, each run once, the manifest claims only runs in place.
    seen = _dump(dest)
    ids = [r[0] for r in seen["runs"]]
    assert len(ids) == len(set(ids)) == 5
    held = manifest.read(str(dest), SCHEMA_VERSION)
    assert set(held) <= set(ids)

    monkeypatch.setattr(parquet_files, "stage_events", real)
    counts = export_parquet(store, dest)
    assert counts["runs"] >= 1 and counts["runs"] + counts["unchanged"] == 6
    assert not (dest / parquet_files.STAGING).exists()
    assert _dump(dest) == _dump(export_parquet(store, tmp_path / "fresh") and tmp_path / "fresh")


def test_files_removed_by_hand_are_written_again(growing, tmp_path):
    store, runs = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    victim = runs["done"][1].id
    os.remove(parquet_files.part_path(str(dest), "metrics", victim))
    counts = export_parquet(store, dest)
    assert counts["runs"] == 1 and counts["unchanged"] == 5
    assert os.path.isfile(parquet_files.part_path(str(dest), "metrics", victim))
    os.remove(dest / "runs" / "part-0.parquet")  # a catalog too: every run it listed is written again
    assert export_parquet(store, dest)["runs"] == 6
    assert _dump(dest) == _dump(export_parquet(store, tmp_path / "fresh") and tmp_path / "fresh")


def _change_metadata(store, runs, extra):
    runs["done"][0].update_metadata({"lr": 0.5})
    return runs["done"][0].id


def _change_tags(store, runs, extra):
    runs["done"][1].update_tags(["best"])
    return runs["done"][1].id


def _end_a_span(store, runs, extra):
    extra["span"].end(outputs={"answer": 42})
    return extra["span"].id


def _let_a_heartbeat_go_stale(store, runs, extra):
    """Its status reads ``lost`` now, though no field of its row (``modified`` neither) moved."""
    with store.database.write() as conn:
        conn.execute("UPDATE runs SET heartbeat = heartbeat - 7200000000 WHERE id = ?", (extra["stale"].id,))
    assert store.get_run(extra["stale"].id).status == "lost"
    return extra["stale"].id


@pytest.mark.parametrize("change", [_change_metadata, _change_tags, _end_a_span, _let_a_heartbeat_go_stale],
                         ids=lambda change: change.__name__.strip("_"))
def test_each_kind_of_change_rewrites_that_run_alone(growing, tmp_path, change):
    """(New points, events, an end, an alert state, media: the tests above and test_media_keeping.)"""
    store, runs = growing
    extra = {"span": runs["points"].child("tool-call", run_type="tool", inputs={"q": 1}),
             "stale": store.init("stale", heartbeat_timeout=3600)}  # its next heartbeat in 20 minutes
    store.flush()
    dest = tmp_path / "ds"
    assert export_parquet(store, dest)["runs"] == 8
    before = manifest.read(str(dest), SCHEMA_VERSION)
    changed = change(store, runs, extra)
    counts = export_parquet(store, dest)
    assert counts["runs"] == 1 and counts["unchanged"] == 7
    after = manifest.read(str(dest), SCHEMA_VERSION)
    assert {run_id for run_id in after if after[run_id] != before[run_id]} == {changed}
    assert _dump(dest) == _dump(export_parquet(store, tmp_path / "fresh") and tmp_path / "fresh")
    assert export_parquet(store, dest)["unchanged"] == 8


def test_exporting_again_reads_as_many_statements_for_200_runs_as_for_50(tmp_path):
    """What each run has now is read for all runs at once, not a few reads a run."""
    statements = {}
    for n in (50, 200):
        with runlite.open(str(tmp_path / f"{n}.db")) as store:
            for i in range(n):
                with store.init(f"run-{i}") as run:
                    run.log_metrics({"loss": 1.0 / (i + 1)}, step=0)
                    run.log_event(f"done {i}")
            dest = tmp_path / f"ds-{n}"
            assert export_parquet(store, dest)["runs"] == n
            counts = {}
            statements[n] = read_statements(store, lambda: counts.update(export_parquet(store, dest)))
            assert counts == {"runs": 0, "series": 0, "metrics": 0, "events": 0, "alerts": 0, "media": 0,
                              "unchanged": n}
    assert len(statements[200]) == len(statements[50]) < 20, statements[200]


def test_run_sizes_are_what_an_export_compares(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        run = store.init("sized")
        run.log_metrics({"loss": 1.0, "acc": 0.5}, step=0)
        run.log_metrics({"loss": 0.5}, step=1)
        run.log_metrics({"temp": 40.0}, step=0, asset="node-1")  # a series of an asset counts too
        run.log_event("one")
        run.add_event("new_token", token="hi")
        run.log_histogram("weights", [1.0, 2.0, 2.5], step=0)
        run.log_table("predictions", [{"p": 0.9}], step=3)
        bare = store.init("bare")
        store.flush()
        newest = max(entry.updated for entry in store.media_names(run.id))
        nobody = "01a23cc0-c5ba-7033-9c28-50e4960ee476"
        assert store.run_sizes([run.id, bare.id, nobody]) == {run.id: (4, 2, newest), bare.id: (0, 0, None),
                                                              nobody: (0, 0, None)}
        with store.database.write() as conn:  # a damaged count is said, not summed
            conn.execute("UPDATE series SET count = 'many' WHERE run_id = ? AND name = 'acc'", (run.id,))
        with pytest.raises(CorruptStoreError, match=f"run {run.id}: a stored count of its metric points"):
            store.run_sizes([run.id])
        with pytest.raises(ValidationError):
            store.run_sizes(run.id)


class _Pickled:
    def __reduce__(self):
        return (os.system, ("touch /tmp/runlite-pwned",))


HOSTILE = {
    "not utf-8": b"\xff\xfe\x80garbage",
    "not json": b"{this is not json",
    "a pickle": __import__("pickle").dumps(_Pickled()),
    "a list": b"[]",
    "another format": json.dumps({"format": "other", "schema": SCHEMA_VERSION, "runs": {}}).encode(),
    "a path as run id": json.dumps({"format": "runlite-parquet", "schema": SCHEMA_VERSION,
                                    "runs": {"../../escape": [0, 0, 0, 0, "0" * 32]}}).encode(),
    "a bad entry": json.dumps({"format": "runlite-parquet", "schema": SCHEMA_VERSION,
                               "runs": {"01a23cc0-c5ba-7033-9c28-50e4960ee476": [0, "many", 0, 0, "0" * 32]}}).encode(),
    "a negative count": json.dumps({"format": "runlite-parquet", "schema": SCHEMA_VERSION,
                                    "runs": {"01a23cc0-c5ba-7033-9c28-50e4960ee476": [0, -1, 0, 0, "0" * 32]}}).encode(),
    "NaN": b'{"format": "runlite-parquet", "schema": %d, "runs": {}, "x": NaN}' % SCHEMA_VERSION,
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "runs not an object": json.dumps({"format": "runlite-parquet", "schema": SCHEMA_VERSION, "runs": [1]}).encode(),
    "a stand-in flag of 2": json.dumps({"format": "runlite-parquet", "schema": SCHEMA_VERSION,
                                        "runs": {"01a23cc0-c5ba-7033-9c28-50e4960ee476": [0, 0, 0, 0, "0" * 32, 2]}}
                                       ).encode(),
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_a_hostile_manifest_is_a_clear_error_and_changes_nothing(growing, tmp_path, label):
    store, _ = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    (dest / manifest.NAME).write_bytes(HOSTILE[label])
    before = _stamps(dest)
    with pytest.raises(DatasetError, match=r"runlite-manifest\.json: .*overwrite=True") as info:
        export_parquet(store, dest)
    assert isinstance(info.value, RunliteError)
    assert _stamps(dest) == before and not (dest / parquet_files.STAGING).exists()
    assert not os.path.exists("/tmp/runlite-pwned")
    assert export_parquet(store, dest, overwrite=True)["runs"] == 6  # the way out the message names


def test_a_manifest_of_another_schema_version_is_refused(growing, tmp_path):
    store, _ = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    (dest / manifest.NAME).write_text(json.dumps({"format": "runlite-parquet", "schema": 99, "runs": {}}))
    with pytest.raises(DatasetError, match="schema 99"):
        export_parquet(store, dest)


def test_a_damaged_catalog_is_a_clear_error(growing, tmp_path):
    store, runs = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    (dest / "runs" / "part-0.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DatasetError, match=r"runs.part-0\.parquet: cannot be read as Parquet"):
        export_parquet(store, dest)
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["x"]}), dest / "runs" / "part-0.parquet")
    with pytest.raises(DatasetError, match="not runlite's runs columns"):
        export_parquet(store, dest)


def test_one_export_at_a_time(growing, tmp_path):
    store, _ = growing
    dest = tmp_path / "ds"
    export_parquet(store, dest)
    with manifest.Lock(str(dest)):
        with pytest.raises(DatasetError, match="another export is writing"):
            export_parquet(store, dest)
    assert export_parquet(store, dest)["unchanged"] == 6  # released with its holder


def test_series_catalog_holds_each_series_summary(filled, tmp_path):
    store, ids = filled
    dest = tmp_path / "out"
    export_parquet(store, dest)
    rows = _sql(f"SELECT run_id, name, asset, count, nan_count, min, max, last, last_step"
                f" FROM read_parquet('{dest}/series/*.parquet') ORDER BY run_id, name")
    expected = []
    for run_id in sorted(ids.values()):
        for name, asset, _n in sorted(store.metric_series(run_id), key=lambda s: s[0]):
            s = store.metric_summary(run_id, name, asset=asset)
            expected.append((run_id, name, asset, s.count, s.nan_count, s.min, s.max, s.last, s.last_step))
    assert rows == expected
    loss = [r for r in rows if r[0] == ids["a"] and r[1] == "loss"][0]
    assert loss[3:5] == (6, 1) and loss[7] == 2.0 and loss[8] == 50


def test_the_command_is_incremental_and_a_bad_manifest_is_one_line(growing, tmp_path, capsys):
    from runlite.cli import main

    store, runs = growing
    store.flush()
    dest = str(tmp_path / "ds")
    assert main(["parquet", dest, "--db", store.path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 6
    runs["points"].log_metrics({"loss": 1.0}, step=1)
    store.flush()
    assert main(["parquet", dest, "--db", store.path]) == 0
    out = capsys.readouterr().out
    assert f"wrote {dest}: 1 runs" in out and "5 unchanged" in out
    (tmp_path / "ds" / manifest.NAME).write_text("{garbled")
    assert main(["parquet", dest, "--db", store.path]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("runlite: error: ") and "runlite-manifest.json" in err and "\n" not in err
    assert main(["parquet", dest, "--db", store.path, "--overwrite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 6


def test_a_runs_series_share_row_groups_of_bounded_size(filled, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    store, ids = filled
    export_parquet(store, tmp_path / "one")
    path = parquet_files.part_path(str(tmp_path / "one"), "metrics", ids["a"])
    assert pq.ParquetFile(path).metadata.num_row_groups == 1  # loss and temp together
    monkeypatch.setattr(parquet_files, "ROW_GROUP_POINTS", 3)
    export_parquet(store, tmp_path / "small")
    small = parquet_files.part_path(str(tmp_path / "small"), "metrics", ids["a"])
    sizes = [pq.ParquetFile(small).metadata.row_group(i).num_rows
             for i in range(pq.ParquetFile(small).metadata.num_row_groups)]
    assert sum(sizes) == 8 and max(sizes) <= 6 and len(sizes) >= 2
    assert repr(pq.read_table(small).to_pydict()) == repr(pq.read_table(path).to_pydict())  # NaN, -0.0 too
