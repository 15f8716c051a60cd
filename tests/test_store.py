"""Opening files: identity, refusal of foreign/newer/non-SQLite files, migrations, profiles."""

import os
import pprint

import apsw
import pytest

import runlite
from runlite.storage import connection as db, policy, schema, schema_check, schema_snapshot


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_open_creates_file_with_identity(db_path):
    with runlite.open(db_path):
        pass
    conn = apsw.Connection(db_path)
    assert conn.execute("PRAGMA application_id").get == schema.APPLICATION_ID
    assert conn.execute("PRAGMA user_version").get == schema.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").get == "wal"
    conn.close()


def test_memory_store_works():
    with runlite.open(":memory:") as s:
        run = s.init("m")
        run.close()
        assert s.get_run("m").status == "completed"


def test_read_only_never_creates(tmp_path):
    path = str(tmp_path / "missing.db")
    with pytest.raises(runlite.NotFoundError):
        runlite.open(path, read_only=True)
    assert not os.path.exists(path)


def test_read_only_refuses_writes(db_path):
    runlite.open(db_path).close()
    with runlite.open(db_path, read_only=True) as s:
        with pytest.raises(runlite.ReadOnlyStoreError):
            s.init("x")
        assert s.runs() == []


def test_read_only_sees_writes_of_writer(db_path):
    with runlite.open(db_path) as w, runlite.open(db_path, read_only=True) as r:
        w.init("a").close()
        assert [x.name for x in r.runs()] == ["a"]


def test_non_sqlite_file_refused_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    before = _bytes(path)
    with pytest.raises(runlite.NotARunliteFile):
        runlite.open(str(path))
    with pytest.raises(runlite.NotARunliteFile):
        runlite.open(str(path), read_only=True)
    assert _bytes(path) == before


def test_foreign_sqlite_file_refused_untouched(tmp_path):
    path = str(tmp_path / "other.db")
    conn = apsw.Connection(path)
    conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1); PRAGMA application_id=1234")
    conn.close()
    before = _bytes(path)
    with pytest.raises(runlite.NotARunliteFile, match="another application"):
        runlite.open(path)
    assert _bytes(path) == before
    # No application_id but tables: another application's file too.
    path2 = str(tmp_path / "other2.db")
    conn = apsw.Connection(path2)
    conn.execute("CREATE TABLE runs(x)")
    conn.close()
    with pytest.raises(runlite.NotARunliteFile):
        runlite.open(path2)


def test_newer_schema_refused_untouched(db_path):
    runlite.open(db_path).close()
    conn = apsw.Connection(db_path)
    conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    conn.close()
    before = _bytes(db_path)
    with pytest.raises(runlite.SchemaTooNew, match="newer"):
        runlite.open(db_path)
    with pytest.raises(runlite.SchemaTooNew):
        runlite.open(db_path, read_only=True)
    assert _bytes(db_path) == before


def _file_at_version(path, version):
    conn = apsw.Connection(path)
    conn.execute("BEGIN")
    for v in range(1, version + 1):
        for statement in schema.MIGRATIONS[v]:
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version={version}")
    conn.execute("INSERT INTO folders (path, created) VALUES ('/', 0)")
    conn.execute(
        "INSERT INTO runs (id, name, status, folder, trace_id, dotted_order, created, modified)"
        " VALUES ('01000000-0000-7000-8000-000000000000', 'old', 'completed', '/',"
        " '01000000-0000-7000-8000-000000000000', '19700101T000000000000Z01000000-0000-7000-8000-000000000000', 0, 0)"
    )
    conn.execute("COMMIT")
    conn.close()


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION + 1))
def test_older_schemas_migrate_and_keep_runs(tmp_path, version):
    path = str(tmp_path / f"v{version}.db")
    _file_at_version(path, version)
    with runlite.open(path) as s:
        assert s.get_run("old").status == "completed"
    conn = apsw.Connection(path)
    assert conn.execute("PRAGMA user_version").get == schema.SCHEMA_VERSION
    conn.close()


def test_failed_migration_rolls_back_whole(tmp_path, monkeypatch):
    path = str(tmp_path / "m.db")
    _file_at_version(path, schema.SCHEMA_VERSION)
    broken = dict(schema.MIGRATIONS)
    broken[schema.SCHEMA_VERSION + 1] = ("CREATE TABLE fine (x)", "THIS IS NOT SQL")
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    with pytest.raises(runlite.StoreError):
        runlite.open(path)
    monkeypatch.undo()
    conn = apsw.Connection(path)
    assert conn.execute("PRAGMA user_version").get == schema.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'fine'").get == 0
    conn.close()


def test_read_only_open_of_older_schema_asks_for_upgrade(tmp_path, monkeypatch):
    path = str(tmp_path / "old.db")
    _file_at_version(path, schema.SCHEMA_VERSION)
    newer = dict(schema.MIGRATIONS)
    newer[schema.SCHEMA_VERSION + 1] = ("CREATE TABLE later (x)",)
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "READ_AS_IS_FROM", schema.SCHEMA_VERSION)  # a new table: no older file reads as is
    with pytest.raises(runlite.StoreError, match="upgrade"):
        runlite.open(path, read_only=True)


@pytest.mark.parametrize("version", range(1, schema.SCHEMA_VERSION + 1))
def test_a_file_whose_tables_are_current_is_read_without_an_upgrade(tmp_path, version):
    """A file of an older runlite whose tables are today's (later migrations changed indexes
    only) opens read-only, verifies and merges as it is: the file is not written. Older ones
    ask for the upgrade."""
    path = str(tmp_path / f"v{version}.db")
    _file_at_version(path, version)
    before = open(path, "rb").read()
    if not schema.READ_AS_IS_FROM <= version:
        with pytest.raises(runlite.StoreError, match="upgrade"):
            runlite.open(path, read_only=True)
        with runlite.open(str(tmp_path / "dest.db")) as dest, pytest.raises(runlite.StoreError, match="upgrade"):
            dest.merge(path)
        return
    with runlite.open(path, read_only=True) as old:
        assert old.get_run("old").status == "completed"
        assert [r.name for r in old.list_runs(limit=5)] == ["old"]
        assert old.verify().ok
    with runlite.open(str(tmp_path / "dest.db")) as dest:
        dest.merge(path)
        assert dest.get_run("old").status == "completed"
    assert open(path, "rb").read() == before


def test_connection_policy(store):
    state = store.database._current()
    conn = state.writer
    assert conn.execute("PRAGMA synchronous").get == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").get == 1
    assert conn.execute("PRAGMA trusted_schema").get == 0
    assert conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, -1) == 1
    assert conn.execute("PRAGMA busy_timeout").get == 30_000


def test_a_query_run_with_new_values_is_not_planned_again(store, db_path):
    """Every connection keeps its plans stable: with SQLite's STAT4 built in, a cached range
    query with ORDER BY was otherwise prepared again (authorizer and planner) on each new
    binding, costing several times the query itself."""
    readers = [store.database.connect(writable=False, profile=profile)
               for profile in (policy.reader_profile, policy.untrusted_profile)]
    sql = "SELECT seq FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq"
    for conn in [store.database._current().writer, *readers]:
        assert conn.config(apsw.SQLITE_DBCONFIG_ENABLE_QPSG, -1) == 1
        prepared = []
        conn.authorizer = lambda *call: prepared.append(call) or apsw.SQLITE_OK  # called as a statement is prepared
        conn.execute(sql, (1, 0, 5)).fetchall()
        assert prepared
        prepared.clear()
        for lo in range(1, 4):
            conn.execute(sql, (1, lo, lo + 5)).fetchall()
        assert prepared == []
        conn.authorizer = None
    for conn in readers:
        conn.close()


def test_durable_means_full_sync(db_path):
    with runlite.open(db_path, durable=True, timeout=5) as s:
        conn = s.database._current().writer
        assert conn.execute("PRAGMA synchronous").get == 2
        assert conn.execute("PRAGMA busy_timeout").get == 5000


def test_no_process_wide_hooks(db_path):
    before = list(apsw.connection_hooks)
    with runlite.open(db_path) as s:
        s.init("x").close()
    assert apsw.connection_hooks == before


def test_write_rolls_back_on_error(store):
    with pytest.raises(ZeroDivisionError):
        with store.database.write() as conn:
            conn.execute("INSERT INTO folders (path, created) VALUES ('/zz', 0)")
            1 / 0
    assert "/zz" not in store.folders()


def test_untrusted_profile_blocks_writes_and_triggers(db_path):
    runlite.open(db_path).close()
    d = db.Database(db_path, read_only=True, durable=False, timeout=1)
    conn = d.connect(writable=False, profile=policy.untrusted_profile)
    assert conn.execute("SELECT count(*) FROM runs").get == 0  # reads are allowed
    for statement in ("CREATE TEMP TABLE x(y)", "PRAGMA writable_schema=ON", "ATTACH ':memory:' AS x"):
        with pytest.raises(apsw.AuthError):
            conn.execute(statement)
    conn.authorizer = None
    assert conn.execute("PRAGMA cell_size_check").get == 1
    assert conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, -1) == 0
    assert conn.config(apsw.SQLITE_DBCONFIG_ENABLE_VIEW, -1) == 0
    conn.close()


@pytest.mark.parametrize("bad", [dict(timeout=-1), dict(timeout="5"), dict(read_only="yes"), dict(durable=1)])
def test_open_validates_arguments(db_path, bad):
    with pytest.raises(runlite.ValidationError):
        runlite.open(db_path, **bad)
    assert not os.path.exists(db_path)


def test_closed_store_raises(db_path):
    s = runlite.open(db_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(runlite.StoreClosedError):
        s.runs()


def test_logging_through_a_run_of_a_closed_store_raises_and_nothing_acknowledged_is_lost(db_path):
    """A log call after its store closed returned True and its points were never written."""
    store = runlite.open(db_path)
    run = store.init("r")
    run.log_metrics({"a": 1.0})
    store.close()
    for call in (lambda: run.log_metrics({"a": 2.0}), lambda: run.log_metrics({"a": 3.0}, step=5),
                 lambda: run.log_event("hello"), lambda: run.add_event("e", message="m")):
        with pytest.raises(runlite.StoreClosedError, match="was closed"):
            call()
    with runlite.open(db_path) as s:
        assert list(s.metric_values(run.id, "a").values) == [1.0] and s.events(run.id) == []


def test_a_thread_logging_while_the_store_closes_loses_nothing_it_was_told_was_logged(db_path):
    import threading

    store = runlite.open(db_path)
    run = store.init("r")
    acknowledged, refused, started = [], [], threading.Event()

    def logger():
        i = 0
        while True:
            try:
                run.log_metrics({"x": float(i)})
            except runlite.StoreClosedError:
                refused.append(i)
                return
            acknowledged.append(float(i))
            started.set()
            i += 1

    thread = threading.Thread(target=logger)
    thread.start()
    started.wait(10)
    store.close()
    thread.join(10)
    assert refused and acknowledged
    with runlite.open(db_path) as s:
        assert list(s.metric_values(run.id, "x").values) == acknowledged


@pytest.mark.parametrize("planted", [
    "CREATE TRIGGER wipe AFTER INSERT ON runs BEGIN DELETE FROM runs; END",
    "CREATE VIEW peek AS SELECT id FROM runs",
    "CREATE INDEX mine ON runs(name, status)",
    "CREATE TABLE extra (x)",
])
def test_open_refuses_a_schema_runlite_did_not_make(db_path, planted):
    runlite.open(db_path).close()
    conn = apsw.Connection(db_path)
    conn.execute(planted)
    conn.close()
    before = open(db_path, "rb").read()
    for kwargs in ({}, {"read_only": True}):
        with pytest.raises(runlite.NotARunliteFile, match="schema is not runlite's"):
            runlite.open(db_path, **kwargs)
    assert open(db_path, "rb").read() == before


def test_open_refuses_a_version_that_does_not_match_the_schema(db_path):
    runlite.open(db_path).close()
    # The newest version whose schema is not the current one (a migration may change no table
    # nor index, only what the file may hold).
    older = max(v for v in schema.MIGRATIONS if any(schema.MIGRATIONS[w] for w in range(v + 1, schema.SCHEMA_VERSION + 1)))
    conn = apsw.Connection(db_path)
    conn.execute(f"PRAGMA user_version={older}")  # a damaged header
    conn.close()
    with pytest.raises(runlite.NotARunliteFile, match=r"unexpected (table|index)|index runs_\w+ differs from runlite's"):
        runlite.open(db_path)  # never re-runs a migration over tables that exist


def test_the_schema_snapshot_is_what_the_migrations_make():
    """An open compares a file with ``schema_snapshot`` before making runlite's schema in memory:
    a file equal to it is accepted as it stands, so it must be exactly what the migrations make."""
    made = schema_check.expected_objects(schema.SCHEMA_VERSION)
    assert (schema_snapshot.VERSION, schema_snapshot.OBJECTS) == (schema.SCHEMA_VERSION, made), (
        f"runlite/storage/schema_snapshot.py is out of date: VERSION = {schema.SCHEMA_VERSION}, and OBJECTS ="
        f" {pprint.pformat(made, width=112)}")


def test_an_open_makes_runlite_schema_only_for_a_file_unlike_the_snapshot(tmp_path, monkeypatch):
    made = []
    expected = schema_check.expected_objects
    monkeypatch.setattr(schema_check, "expected_objects", lambda version: made.append(version) or expected(version))
    current, older = str(tmp_path / "current.db"), str(tmp_path / "older.db")
    runlite.open(current).close()
    with runlite.open(current, read_only=True) as store:
        assert store.get_runs() == []
    assert made == []  # the file is the snapshot: nothing made
    _file_at_version(older, schema.SCHEMA_VERSION - 1)
    with runlite.open(older, read_only=True) as store:
        assert [r.name for r in store.get_runs()] == ["old"]
    assert made == [schema.SCHEMA_VERSION - 1]
    conn = apsw.Connection(current)
    conn.execute("CREATE TRIGGER wipe AFTER INSERT ON runs BEGIN DELETE FROM runs; END")
    conn.close()
    with pytest.raises(runlite.NotARunliteFile, match="unexpected trigger wipe"):
        runlite.open(current)
