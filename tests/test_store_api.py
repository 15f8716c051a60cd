"""Store.flush, Store.sql, Store.run_id and the one run-listing path."""

import sys

import apsw
import pytest

import runlite
from runlite.storage import runs, search


def test_flush_makes_buffered_points_visible_to_another_connection(tmp_path):
    path = str(tmp_path / "f.db")
    with runlite.open(path) as store:
        run = store.init("r")
        run.log_metrics({"x": 1.0})
        run.log_event("hello")
        with runlite.trace("span", store=store):
            pass
        other = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        count = "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM events), (SELECT count(*) FROM runs)"
        assert other.execute(count).fetchone() == (0, 0, 1)  # still buffered in this process
        store.flush()
        assert other.execute(count).fetchone() == (1, 1, 2)
        other.close()


def test_flush_of_a_read_only_or_closed_store_is_a_no_op(tmp_path):
    path = str(tmp_path / "f.db")
    runlite.open(path).close()
    with runlite.open(path, read_only=True) as store:
        store.flush()
    store.flush()


def test_sql_reads_with_bound_params(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        store.init("a", metadata={"lr": 0.1}).close()
        store.init("b").close()
        result = store.sql("SELECT name FROM runs WHERE name = ? ORDER BY name", ("a",))
        assert result.columns == ("name",) and result.rows == [("a",)] and not result.truncated
        assert result.to_dicts() == [{"name": "a"}]
        assert store.sql("SELECT name FROM runs WHERE name = :n", {"n": "b"}).rows == [("b",)]
        assert store.sql("SELECT json_extract(metadata, '$.lr') FROM runs WHERE name = 'a'").rows == [(0.1,)]


def test_sql_stops_at_max_rows_and_says_so(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        result = store.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
                           max_rows=5)
        assert result.rows == [(1,), (2,), (3,), (4,), (5,)] and result.truncated


def test_sql_times_out(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        with pytest.raises(runlite.StoreError, match="longer than"):
            store.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
                      timeout=0.2)


@pytest.mark.parametrize("path", ["file", ":memory:"])
@pytest.mark.parametrize("query", [
    "DELETE FROM runs", "UPDATE runs SET name = 'x'", "INSERT INTO folders (path, created) VALUES ('/x', 0)",
    "DROP TABLE runs", "PRAGMA user_version = 3", "ATTACH DATABASE ':memory:' AS other",
    "CREATE TABLE evil (x)",
])
def test_sql_changes_nothing(tmp_path, path, query):
    with runlite.open(str(tmp_path / "s.db") if path == "file" else path) as store:
        store.init("keep").close()
        before = store.sql("SELECT id, name, status FROM runs").rows
        with pytest.raises(runlite.ValidationError, match="may only read"):
            store.sql(query)
        assert store.sql("SELECT id, name, status FROM runs").rows == before
        store.init("still writable").close()  # the in-memory store's connection is itself again


def test_sql_runs_exactly_one_statement(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        store.init("keep").close()
        with pytest.raises(runlite.ValidationError, match="one SQL statement"):
            store.sql("SELECT 1; SELECT 2")
        with pytest.raises(runlite.RunliteError):
            store.sql("SELECT 1; DELETE FROM runs")
        # refused before the first runs, however few rows are asked for or the first gives
        for second in ("SELECT 2", "SELECT ?", "garbage", "DROP TABLE runs", "/* a */ ; SELECT 2 -- b"):
            for max_rows in (0, 1, 1000):
                with pytest.raises(runlite.ValidationError, match="one SQL statement"):
                    store.sql("SELECT name FROM runs; " + second, max_rows=max_rows)
        assert store.sql("SELECT count(*) FROM runs").rows == [(1,)]
        # blanks, comments and semicolons after the statement are not a second one
        for tail in (";", " ;; ", "; -- done", "/* done */", ";\n-- a\n/* b */;"):
            assert store.sql("SELECT count(*) FROM runs" + tail).rows == [(1,)]
        assert store.sql("SELECT ? + 1;  -- one", (1,)).rows == [(2,)]


@pytest.mark.parametrize("kwargs, match", [
    ({"query": ""}, "query"), ({"query": 3}, "query"), ({"query": "SELECT 1\x00"}, "NUL"),
    ({"query": "SELECT ?", "params": "x"}, "params"), ({"query": "SELECT 1", "max_rows": -1}, "max_rows"),
    ({"query": "SELECT 1", "max_rows": True}, "max_rows"), ({"query": "SELECT 1", "timeout": 0}, "timeout"),
    ({"query": "SELECT ?", "params": ([1, 2],)}, "params"), ({"query": "SELECT ?", "params": (2**70,)}, "params"),
    ({"query": "SELECT ?", "params": (1, 2)}, "params"), ({"query": [[[]]] * 3}, "query"),
])
def test_sql_refuses_bad_arguments(tmp_path, kwargs, match):
    with runlite.open(str(tmp_path / "s.db")) as store:
        with pytest.raises(runlite.ValidationError, match=match):
            store.sql(**kwargs)


def test_run_id_takes_runs_records_spans_ids_and_names(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        run = store.init("named")
        with runlite.trace("span", store=store) as span:
            pass
        assert store.run_id(run) == store.run_id(run.record) == store.run_id("named") == store.run_id(run.id) == run.id
        assert store.run_id(span) == span.id == store.run_id(span.id)
        for bad in (None, 3, b"named", object()):
            with pytest.raises(runlite.ValidationError):
                store.run_id(bad)
        with pytest.raises(runlite.NotFoundError):
            store.run_id("no such run")


def _run(run_id: str, name: str) -> dict:
    return {"id": run_id, "name": name, "run_type": "chain"}


def test_run_id_takes_a_unique_id_prefix_after_ids_and_names(tmp_path):
    first, second = "aaaa1111-0000-4000-8000-000000000001", "aaaa2222-0000-4000-8000-000000000002"
    other, named = "bbbb1111-0000-4000-8000-000000000003", "cccc1111-0000-4000-8000-000000000004"
    with runlite.open(str(tmp_path / "p.db")) as store:
        store.import_runs([_run(first, "one"), _run(second, "two"), _run(other, "three"), _run(named, "bbbb")])
        assert store.run_id("aaaa1") == store.run_id("AAAA1111-0") == store.run_id(first) == first
        assert store.get_run("bbbb1").name == "three"
        assert store.run_id("bbbb") == named  # a name comes before an id prefix
        assert store.run_id("cccc") == named
        with pytest.raises(runlite.AmbiguousNameError) as info:
            store.run_id("aaaa")
        assert first in str(info.value) and second in str(info.value) and "give more of the id" in str(info.value)
        for too_short_or_not_hex in ("aaa", "a", "aaaz", "-aaa", "aaaa1111-0000-4000-8000-0000000000019"):
            with pytest.raises(runlite.NotFoundError):
                store.run_id(too_short_or_not_hex)
        with pytest.raises(runlite.NotFoundError):
            store.run_id("dddd")


def test_a_read_by_id_or_name_is_one_read_transaction(tmp_path, monkeypatch):
    """get_run and the metric reads resolve a run given as text inside their own read (one
    BEGIN, not two), while a live run of the process still has its buffered points written
    first."""
    path = str(tmp_path / "one.db")
    with runlite.open(path) as store:
        with store.init("done") as run:
            run.log_metrics({"loss": 0.5})
        live = store.init("live")
        live.log_metrics({"loss": 1.5})  # buffered: a read of it must write it first
        with runlite.open(path) as reader:  # another store of the process: it sees the live run's points
            assert list(reader.metric_values("live", "loss").values) == [1.5]
        live.close()
        done_id, live_id = run.id, live.id
    with runlite.open(path, read_only=True) as store:
        reads = []
        real_read = type(store.database).read
        monkeypatch.setattr(type(store.database), "read", lambda db: reads.append(1) or real_read(db))
        for text in (done_id, "done", done_id[:-4], done_id.upper()):
            reads.clear()
            assert store.get_run(text).id == done_id
            assert list(store.metric_values(text, "loss").values) == [0.5]
            assert store.metric_stats(text, "loss").count == 1
            assert len(reads) == 3, text
        assert store.get_run(live_id).name == "live"
        for missing in ("no such run", "dddd", "01234567-89ab-4def-8123-456789abcdef"):
            with pytest.raises(runlite.NotFoundError, match="no run with id or name"):
                store.get_run(missing)
            with pytest.raises(runlite.NotFoundError, match="no run with id or name"):
                store.metric_values(missing, "loss")


def test_an_id_prefix_is_a_range_of_the_primary_key(tmp_path):
    path = str(tmp_path / "p.db")
    runlite.open(path).close()
    conn = apsw.Connection(path)
    seen = []
    conn.exec_trace = lambda _cursor, sql, bindings: seen.append((sql, bindings)) or True
    assert runs.ids_starting_with(conn, "abcf", 11) == []
    ((sql, bindings),) = seen
    assert bindings == ("abcf", "abcg", 11)
    conn.exec_trace = None
    plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, bindings))
    conn.close()
    assert "(id>? AND id<?)" in plan, plan


def test_runs_lists_top_level_runs_or_children_only(tmp_path):
    with runlite.open(str(tmp_path / "r.db")) as store:
        parent = store.init("parent", folder="/a")
        child = parent.child("child")
        child.end()
        parent.close()
        store.init("other", running=False)
        assert [r.name for r in store.runs(is_root=True)] == ["other", "parent"]
        assert [r.name for r in store.runs(is_root=False)] == ["child"]
        assert [r.name for r in store.runs(is_root=True, folder="/a", limit=5)] == ["parent"]
        assert len(store.runs()) == 3
        with pytest.raises(runlite.ValidationError, match="is_root"):
            store.runs(is_root="yes")


def test_run_listing_filters_tags_through_the_tag_index(tmp_path):
    sql, params = search.runs_sql(tags=["a", "b"], folder="/x")
    path = str(tmp_path / "s.db")
    runlite.open(path).close()
    conn = apsw.Connection(path)
    plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    conn.close()
    assert "run_tags" in plan and "json_each" not in sql


def test_every_listing_checks_limit_the_same_way(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        for call in (lambda: store.runs(limit=-1), lambda: store.list_runs(limit=-1),
                     lambda: store.get_runs(limit=-1)):
            with pytest.raises(runlite.ValidationError, match="limit must be None or an int >= 0"):
                call()


def test_runs_by_tags_status_and_limit(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        for i in range(6):
            run = store.init(f"r{i}", tags=["even" if i % 2 == 0 else "odd", "all"])
            if i < 4:
                run.close()
        assert [r.name for r in store.runs(tags=["even", "all"])] == ["r4", "r2", "r0"]
        assert [r.name for r in store.runs(tags=["odd"], status="completed")] == ["r3", "r1"]
        assert [r.name for r in store.runs(status=["running"], limit=1)] == ["r5"]
        assert store.runs(tags=["none"]) == []


def test_iter_metric_values_gives_a_long_series_in_bounded_pieces(tmp_path, monkeypatch):
    from runlite.storage import metric_reads

    with runlite.open(str(tmp_path / "s.db")) as store:
        run = store.init("long")
        for i in range(30_000):
            run.log_metrics({"x": float(i)})
        run.close()
        monkeypatch.setattr(metric_reads, "MAX_READ_POINTS", 10_000)  # a "long" series at test scale
        with pytest.raises(runlite.LimitError, match="max_points"):
            store.metric_values(run, "x")
        pieces = list(store.iter_metric_values(run, "x", points=10_000))
        assert all(len(p) <= 10_000 for p in pieces) and len(pieces) >= 3
        assert [v for p in pieces for v in p.values] == [float(i) for i in range(30_000)]
        assert [s for p in pieces for s in p.steps] == list(range(30_000))
        assert all(p.times[0] >= 0 for p in pieces)
        for bad in (0, 10_001, True, "5"):
            with pytest.raises(runlite.ValidationError, match="points"):
                list(store.iter_metric_values(run, "x", points=bad))


def test_an_iterator_left_half_read_ends_quietly_after_its_store_closes(tmp_path, monkeypatch):
    # Its read transaction ends when it is collected, on a connection the store's close closed:
    # no "Exception ignored" error on the program's stderr.
    import gc

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    store = runlite.open(str(tmp_path / "s.db"))
    run = store.init("long")
    for i in range(3_000):
        run.log_metrics({"x": float(i)})
    run.close()
    pieces = store.iter_metric_values(run, "x", points=1_000)
    assert list(next(pieces).values[:3]) == [0.0, 1.0, 2.0]  # its read transaction open
    store.close()
    del pieces
    gc.collect()
    assert unraisable == []


def test_parquet_exports_a_series_longer_than_one_read(tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    from runlite.parquet import export_parquet
    from runlite.storage import metric_reads

    with runlite.open(str(tmp_path / "s.db")) as store:
        run = store.init("long")
        for i in range(30_000):
            run.log_metrics({"x": float(i)})
        run.close()
        monkeypatch.setattr(metric_reads, "MAX_READ_POINTS", 10_000)
        counts = export_parquet(store, str(tmp_path / "out"))
    assert counts["metrics"] == 30_000
    table = pq.read_table(str(tmp_path / "out" / "metrics" / f"run_id={run.id}" / "part-0.parquet"))
    assert sorted(table.column("value").to_pylist()) == [float(i) for i in range(30_000)]


def _deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


WRONG_ARGUMENTS = {  # every one a ValidationError (FilterError for group_by), not the TypeError it was
    "runs(status=True)": lambda s, run, d: s.runs(status=True),
    "events(level=0)": lambda s, run, d: s.events(run, level=0),
    "events(limit=10,000-deep list)": lambda s, run, d: s.events(run, limit=_deep_list(10_000)),
    "metric_values_many(None)": lambda s, run, d: s.metric_values_many(None, "loss"),
    "run_page(group_by=True)": lambda s, run, d: s.run_page(None, group_by=True),
    "trace_page(order=[])": lambda s, run, d: s.trace_page(order=[]),
    "trace_totals(None)": lambda s, run, d: s.trace_totals(None),
    "runs_to_delete(True)": lambda s, run, d: s.runs_to_delete(True),
    "delete_runs(filter=0)": lambda s, run, d: s.delete_runs(filter=0),
    "export(None)": lambda s, run, d: s.export(None),
    "export(a lone surrogate)": lambda s, run, d: s.export("\ud800"),
    "export(progress=True)": lambda s, run, d: s.export(str(d / "e.db"), progress=True),
    "export(run_ids=True)": lambda s, run, d: s.export(str(d / "e.db"), run_ids=True),
    "merge(None)": lambda s, run, d: s.merge(None),
    "merge(progress=True)": lambda s, run, d: s.merge(str(d / "other.db"), progress=True),
    "backup(True)": lambda s, run, d: s.backup(True),
    "pack(dest=True)": lambda s, run, d: s.pack(dest=True),
    "verify(progress=1)": lambda s, run, d: s.verify(progress=1),
}


@pytest.mark.parametrize("call", WRONG_ARGUMENTS.values(), ids=WRONG_ARGUMENTS.keys())
def test_arguments_of_the_wrong_type_are_validation_errors_and_change_nothing(tmp_path, call):
    runlite.open(str(tmp_path / "other.db")).close()
    with runlite.open(str(tmp_path / "s.db")) as store:
        run = store.init("r")
        run.log_metrics({"loss": 1.0})
        run.close()
        before = store.sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM chunks)").rows
        with pytest.raises(runlite.ValidationError):
            call(store, run.id, tmp_path)
        assert store.sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM chunks)").rows == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["other.db", "s.db"]


def test_infinite_bounds_of_a_chart_are_the_points_own(tmp_path):
    with runlite.open(str(tmp_path / "s.db")) as store:
        with store.init("r") as run:
            for i in range(100):
                run.log_metrics({"loss": float(i)})
        assert store.metric_buckets(run.id, "loss", start=float("-inf"), stop=float("inf")) == \
            store.metric_buckets(run.id, "loss")


def test_tags_lists_each_tag_a_run_of_the_file_has_once_sorted(tmp_path):
    with runlite.open(tmp_path / "t.db") as store:
        assert store.tags() == []
        first = store.init("a", tags=["b", "é", "Z"])
        first.close()
        store.init("b", tags=["b", "😀", "a"]).close()
        store.init("c").close()
        assert store.tags() == sorted({"b", "é", "Z", "😀", "a"})
        store.delete_runs([first.id])
        assert store.tags() == ["a", "b", "😀"]


def test_a_run_is_named_by_a_uuid_as_langsmiths_sdk_gives_ids(tmp_path):
    import uuid

    from langsmith import schemas

    with runlite.open(tmp_path / "u.db") as store:
        run = store.init("by-uuid", run_type="chain")
        run.child("kid", run_type="tool").end()
        run.close()
        as_uuid = uuid.UUID(run.id)
        assert store.read_run(as_uuid).name == "by-uuid"
        assert [r.name for r in store.read_run(as_uuid, load_child_runs=True).child_runs] == ["kid"]
        sdk_run = schemas.Run(id=as_uuid, name="by-uuid", start_time=store.read_run(as_uuid).start_time,
                              run_type="chain", trace_id=as_uuid)
        assert store.get_run(sdk_run).id == run.id  # an SDK Run's id is a UUID
        store.create_feedback(as_uuid, "ok", score=1)
        assert store.list_feedback(run_ids=[run.id])[0]["key"] == "ok"
        with pytest.raises(runlite.NotFoundError):
            store.read_run(uuid.uuid4())
        with pytest.raises(runlite.ValidationError, match="an id \\(str or UUID\\)"):
            store.read_run(3.5)


def test_a_project_without_its_counts_is_read_without_walking_its_runs(tmp_path):
    """LangSmith's SDK reads a project (``read_project``: ``include_stats=false``) before each
    listing by its name; its run count and last start walk every run of it (a project of 320,000
    runs: 79 ms). Without them the project is one index lookup, whatever its size."""
    from .plans import read_steps

    with runlite.open(tmp_path / "p.db") as store:
        for project, runs in (("small", 200), ("large", 3200)):
            with runlite.trace("root", store=store, project_name=project):
                for i in range(runs - 1):
                    runlite.trace(f"s{i}", run_type="tool", store=store).end()
        store.live.flush_spans()
        steps = {name: read_steps(store, lambda name=name: store.project(name, stats=False)) for name in ("small", "large")}
        assert steps["large"] <= 2 * steps["small"] + 1, steps
        full, bare = store.project("large"), store.project("large", stats=False)
        assert full["run_count"] == 3200 and bare["run_count"] is None and bare["last_run_start_time"] is None
        assert {k: v for k, v in full.items() if k not in ("run_count", "last_run_start_time")} == \
            {k: v for k, v in bare.items() if k not in ("run_count", "last_run_start_time")}
        assert store.project(id=full["id"], stats=False) == bare
        with pytest.raises(runlite.NotFoundError):
            store.project("no-such", stats=False)
        with pytest.raises(runlite.ValidationError, match="stats must be True or False"):
            store.project("large", stats="no")
