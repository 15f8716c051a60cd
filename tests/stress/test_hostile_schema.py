"""Hostile schemas under any name: an object runlite did not make is refused by every way in.

Each case plants one object into a sound runlite file with a raw SQLite connection, as an
attacker would: a trigger that renames every run and deletes every chunk on the next insert,
a view, a UNIQUE index, a table, a hidden fts5 table with its shadow tables. The names are
the ones a ``LIKE 'sqlite_%'`` filter skips (``_`` matches any character: ``sqlitexevil``),
``sqlite_*`` names written with ``writable_schema`` (``sqlite_evil``, SQLite's own
``sqlite_autoindex_*`` and ``sqlite_stat1``), and runlite's own names in another role. Every
way in must refuse the file with ``NotARunliteFile`` or ``CorruptStoreError`` and change
nothing, in the hostile file or in a merge destination:

- ``runlite.open(path)``, then ``init`` a run (what a program does next: a planted trigger fires);
- ``runlite.open(path, read_only=True)`` and ``open(path, read_only=True, untrusted=True)``;
- ``Store.merge(path)`` into a file of one's own;
- ``verify()`` of a store opened before the object was planted: it must report it (an fts5
  table too: its integrity check reads ``PRAGMA data_version``, which the read-only authorizer allows).

Files ``ANALYZE`` ran on (``sqlite_stat1``, ``sqlite_stat4``, exactly as SQLite makes them)
are runlite's all the same: every way in accepts them.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import time

import apsw
import pytest

import runlite
from tests.stress.conftest import check_file, count, raw

REFUSED = (runlite.NotARunliteFile, runlite.CorruptStoreError)
PAYLOAD = "UPDATE runs SET name = 'PWNED'; DELETE FROM chunks;"
PLACEHOLDER = "zzplantedzz"  # the name an object is created under before it is renamed

# Names a LIKE 'sqlite_%' filter skips that a plain CREATE accepts (SQLite reserves only the
# prefix 'sqlite_', in any case).
WILDCARD_NAMES = ["sqlitexevil", "SQLITExevil", "sqlite%evil", "sqlite-evil", "sqlite evil", "sqliteéevil",
                  "sqlite0", "Sqlite.evil"]
# Names only writable_schema can give; SQLite loads such objects when their SQL names them so.
RESERVED_NAMES = ["sqlite_evil", "SQLITE_EVIL", "sqlite_autoindex_runs_9", "sqlite_stat9", "sqlite_sequence_x",
                  "sqlite_master_x"]

# kind -> (DDL with {name}, whether tbl_name is the object's own name)
KINDS = {
    "trigger": (f"CREATE TRIGGER {{name}} AFTER INSERT ON runs BEGIN {PAYLOAD} END", False),
    "view": ("CREATE VIEW {name} AS SELECT id, name FROM runs", True),
    "index": ("CREATE UNIQUE INDEX {name} ON runs(name)", False),  # every later init of a known name fails
    "table": ("CREATE TABLE {name} (payload BLOB)", True),
}


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- the sound file and its plants


def build_good(path: str) -> None:
    """Two runs with series, an attachment; then in rollback-journal mode, as a file that was
    handed over (and so a raw connection can plant while a read-only store holds it open)."""
    with runlite.open(path) as store:
        run = store.init("victim", tags=["t"], metadata={"k": 1})
        for i in range(300):
            run.log_metrics({"loss": 1 / (i + 1)}, step=i)
        run.attach("a.bin", bytes(range(256)) * 8, "application/octet-stream")
        run.close()
        other = store.init("bystander")
        other.log_metrics({"acc": 0.5})
        other.close()
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def writable_schema(conn: apsw.Connection) -> None:
    conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 0)
    conn.execute("PRAGMA writable_schema=ON")


def plant_sql(*statements: str):
    def plant(path: str) -> None:
        conn = raw(path)
        for statement in statements:
            conn.execute(statement)
        conn.close()
    return plant


def plant_renamed(ddl: str, name: str, own_table: bool, *before: str):
    """Create the object under PLACEHOLDER, then give it ``name`` in sqlite_schema (its SQL
    too, so SQLite loads it under that name)."""
    def plant(path: str) -> None:
        conn = raw(path)
        for statement in before:
            conn.execute(statement)
        conn.execute(ddl.format(name=PLACEHOLDER))
        writable_schema(conn)
        with conn:
            conn.execute("UPDATE sqlite_schema SET name = ?, sql = replace(sql, ?, ?),"
                         " tbl_name = CASE WHEN ? THEN ? ELSE tbl_name END WHERE name = ?",
                         (name, PLACEHOLDER, quoted(name), own_table, name, PLACEHOLDER))
        conn.close()
    return plant


def plant_row(kind: str, name: str, table: str, sql: str | None, rootpage_of: str | None = None):
    """A row written into sqlite_schema directly (rootpage that of ``rootpage_of``, or 0)."""
    def plant(path: str) -> None:
        conn = raw(path)
        writable_schema(conn)
        with conn:
            root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (rootpage_of,)).get \
                if rootpage_of else 0
            conn.execute("INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, ?, ?)",
                         (kind, name, table, root, sql))
        conn.close()
    return plant


def schema_names(path: str) -> list:
    """Every name in sqlite_schema, read whatever SQLite thinks of the schema."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        writable_schema(conn)  # also: schema errors do not stop the read
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_schema")]
    finally:
        conn.close()


HIDDEN_FTS5 = ("CREATE VIRTUAL TABLE sqlitexfts USING fts5(body)", "INSERT INTO sqlitexfts (body) VALUES ('hidden')")
FTS5_SYNC = ("CREATE TRIGGER sqlitexfts_sync AFTER INSERT ON runs BEGIN INSERT INTO sqlitexfts (body)"
             f" VALUES (NEW.name); {PAYLOAD} END")
# verify() of a store opened before an fts5 table was planted: see test_verify_reports_a_hidden_fts5_table
NO_VERIFY = ("hidden fts5 table and its shadow tables", "hidden fts5 table kept in sync by a hidden trigger")


def hostile_cases() -> list[tuple[str, object, str]]:
    """(description, plant(path), a name the plant must have put into sqlite_schema)."""
    cases = []
    for kind, (ddl, own_table) in KINDS.items():
        for name in WILDCARD_NAMES[:count(1, len(WILDCARD_NAMES))]:
            cases.append((f"{kind} {name!r} (LIKE wildcard)", plant_sql(ddl.format(name=quoted(name))), name))
        for name in RESERVED_NAMES[:count(1, len(RESERVED_NAMES))]:
            cases.append((f"{kind} {name!r} (writable_schema)", plant_renamed(ddl, name, own_table), name))
    trigger = KINDS["trigger"][0]
    cases += [
        (NO_VERIFY[0], plant_sql(*HIDDEN_FTS5), "sqlitexfts_data"),
        (NO_VERIFY[1], plant_sql(*HIDDEN_FTS5, FTS5_SYNC), "sqlitexfts_sync"),
        ("trigger in place of runlite's index runs_name", plant_sql(
            "DROP INDEX runs_name", trigger.format(name="runs_name")), "runs_name"),
        ("trigger beside runlite's index of the same name (runs_status)", plant_sql(
            trigger.format(name="runs_status")), "runs_status"),
        ("trigger named as SQLite's own index sqlite_autoindex_runs_1",
         plant_renamed(trigger, "sqlite_autoindex_runs_1", False), "sqlite_autoindex_runs_1"),
        ("extra UNIQUE index sqlite_autoindex_runs_2 on runs",
         plant_renamed(KINDS["index"][0], "sqlite_autoindex_runs_2", False), "sqlite_autoindex_runs_2"),
        ("extra constraint-style index row sqlite_autoindex_runs_2 (NULL sql)",
         plant_row("index", "sqlite_autoindex_runs_2", "runs", None, rootpage_of="runs_name"),
         "sqlite_autoindex_runs_2"),
        ("runlite's trigger runs_tags_insert with a payload added", plant_sql(
            "DROP TRIGGER runs_tags_insert",
            "CREATE TRIGGER runs_tags_insert AFTER INSERT ON runs WHEN NEW.tags != '[]' BEGIN"
            " INSERT OR IGNORE INTO run_tags (tag, run_id) SELECT value, NEW.id FROM json_each(NEW.tags);"
            f" {PAYLOAD} END"), "runs_tags_insert"),
        ("sqlite_stat1 redefined (an extra column)", plant_renamed(
            "CREATE TABLE {name} (tbl, idx, stat, extra)", "sqlite_stat1", True), "sqlite_stat1"),
        ("sqlite_stat1 as a view", plant_renamed(
            "CREATE VIEW {name} AS SELECT 'runs' AS tbl, NULL AS idx, '1' AS stat", "sqlite_stat1", True),
         "sqlite_stat1"),
        ("sqlite_sequence left by an AUTOINCREMENT table (runlite uses none)", plant_sql(
            "CREATE TABLE sqlitexseq (id INTEGER PRIMARY KEY AUTOINCREMENT)",
            "INSERT INTO sqlitexseq DEFAULT VALUES", "DROP TABLE sqlitexseq"), "sqlite_sequence"),
    ]
    return cases


# ---------------------------------------------------------------- the ways in


def sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def content(path: str) -> str:
    """A digest of every row of every table (our own file: its names are ours). A read-write
    connection that only reads: a read-only one may not open a WAL file whose -shm is gone."""
    conn = apsw.Connection(path)
    try:
        digest = hashlib.sha256()
        for (table,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").fetchall():
            rows = sorted(map(repr, conn.execute(f"SELECT * FROM {quoted(table)}")))
            digest.update(repr((table, rows)).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def damage(path: str, chunks_before: int) -> int:
    """Runs renamed by a planted trigger plus chunks it deleted (only read, triggers off)."""
    conn = apsw.Connection(path)
    try:
        conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
        writable_schema(conn)
        pwned = conn.execute("SELECT count(*) FROM runs WHERE name = 'PWNED'").get
        return pwned + max(0, chunks_before - conn.execute("SELECT count(*) FROM chunks").get)
    except apsw.Error:
        return 0
    finally:
        conn.close()


def way_open(path: str, dest: str) -> None:
    with runlite.open(path) as store:
        store.init("after-open").close()  # what a program does next: a planted trigger fires here


def way_read_only(path: str, dest: str) -> None:
    with runlite.open(path, read_only=True) as store:
        store.runs()


def way_untrusted(path: str, dest: str) -> None:
    with runlite.open(path, read_only=True, untrusted=True) as store:
        store.runs()


def way_merge(path: str, dest: str) -> None:
    with runlite.open(dest) as store:
        store.merge(path)


WAYS = {"open": way_open, "open read_only": way_read_only, "open untrusted": way_untrusted, "merge": way_merge}


def attempt(call) -> dict:
    start = time.perf_counter()
    try:
        call()
        result = {"outcome": "accepted"}
    except REFUSED as exc:
        result = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300]}
    except runlite.RunliteError as exc:
        result = {"outcome": "other error", "error": type(exc).__name__, "message": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 - an escape is what this test looks for
        result = {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:300]}
    return {**result, "seconds": time.perf_counter() - start}


def try_every_way(good: str, dest_good: str, folder, name: str, plant, planted_name: str | None) -> list[dict]:
    """Each way in on a fresh copy of the planted file (and of the merge destination)."""
    conn = apsw.Connection(good, flags=apsw.SQLITE_OPEN_READONLY)
    chunks = conn.execute("SELECT count(*) FROM chunks").get
    conn.close()
    rows = []
    for way, call in WAYS.items():
        path, dest = str(folder / f"{way}.db"), str(folder / f"{way}-dest.db")
        shutil.copy(good, path)
        shutil.copy(dest_good, dest)
        plant(path)
        assert planted_name is None or planted_name in schema_names(path), f"{name}: the plant did not take"
        before, dest_before = sha(path), content(dest)
        result = attempt(lambda: call(path, dest))
        rows.append({"case": name, "way": way, **result, "hostile changed": sha(path) != before,
                     "dest changed": content(dest) != dest_before, "lost": damage(path, chunks)})
    if name in NO_VERIFY:
        return rows
    rows.append(verify_after_plant(good, folder, name, plant, chunks))
    return rows


def verify_after_plant(good: str, folder, name: str, plant, chunks: int) -> dict:
    """``verify()`` of a store opened on the sound file before the object was planted under
    it: the report must name the schema difference (or the call refuse the file)."""
    path = str(folder / "verify.db")
    shutil.copy(good, path)
    with runlite.open(path, read_only=True) as store:
        plant(path)
        before = sha(path)
        start = time.perf_counter()
        try:
            report = store.verify()
            named = any(problem.startswith("schema:") for problem in report.problems)
            result = {"outcome": "accepted" if report.ok else "refused" if named else "other problems",
                      "error": "verify", "message": "; ".join(report.problems[:3])[:300]}
        except REFUSED as exc:
            result = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300]}
        except Exception as exc:  # noqa: BLE001
            result = {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:300]}
        result["seconds"] = time.perf_counter() - start
    return {"case": name, "way": "verify", **result, "hostile changed": sha(path) != before,
            "dest changed": False, "lost": damage(path, chunks)}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _summary(rows: list[dict]) -> str:
    slowest = max(rows, key=lambda r: r["seconds"])
    return (f"max {slowest['seconds'] * 1e3:.0f} ms an attempt ({slowest['case']}: {slowest['way']}), "
            f"{sum(r['seconds'] for r in rows):.1f} s in all")


def _brief(rows: list[dict]) -> list[tuple]:
    return [(r["case"], r["way"], r["outcome"], r.get("error"), r.get("message", "")[:200],
             r["hostile changed"], r["dest changed"], r["lost"]) for r in rows]


# ---------------------------------------------------------------- the tests


def test_objects_under_any_name_are_refused_by_every_way_in(tmp_path, guarantee):
    good, dest_good = str(tmp_path / "good.db"), str(tmp_path / "dest.db")
    build_good(good)
    with runlite.open(dest_good) as store:  # a merge destination with data of its own
        store.init("mine").close()
    rss_before = _rss_mib()
    rows = []
    cases = hostile_cases()
    for i, (name, plant, planted_name) in enumerate(cases):
        folder = tmp_path / f"case{i:02d}"
        folder.mkdir()
        rows += try_every_way(good, dest_good, folder, name, plant, planted_name)
    growth = _rss_mib() - rss_before
    bad = [r for r in rows if r["outcome"] != "refused" or r["hostile changed"] or r["dest changed"] or r["lost"]]
    lost = sum(r["lost"] for r in rows)
    errors = sorted({r["error"] for r in rows if r["outcome"] == "refused"})
    guarantee("hostile schema objects under any name (sqlitexevil, sqlite_evil, sqlite_autoindex_*, hidden fts5, "
              "sqlite_stat1): every way in refuses", rounds=len(rows), failures=len(bad), lost=lost,
              note=f"{len(cases)} planted files x (open + init, open read_only, open untrusted, merge; verify of a "
                   f"store opened before the plant: {len(cases) - len(NO_VERIFY)} files), refused with "
                   f"{', '.join(errors)}; hostile files changed {sum(r['hostile changed'] for r in rows)}, merge "
                   f"destinations changed {sum(r['dest changed'] for r in rows)}; {_summary(rows)}; "
                   f"peak RSS growth {growth:.1f} MiB")
    for r in rows:
        print(f"{r['case'][:60]:60} {r['way']:15} {r['outcome']:10} {r.get('error', ''):18} "
              f"{r['seconds'] * 1e3:7.1f} ms lost {r['lost']}")
    assert not bad, _brief(bad)
    check_file(dest_good)


def test_files_analyze_ran_on_are_accepted_by_every_way_in(tmp_path, guarantee):
    """sqlite_stat1/sqlite_stat4 exactly as SQLite makes them are not a hostile schema."""
    good, dest_good = str(tmp_path / "good.db"), str(tmp_path / "dest.db")
    build_good(good)
    with runlite.open(dest_good) as store:
        store.init("mine").close()
    cases = [
        ("as runlite wrote it", plant_sql(), None),
        ("after ANALYZE (sqlite_stat1, sqlite_stat4)", plant_sql("ANALYZE"), "sqlite_stat4"),
        ("after ANALYZE by a SQLite without STAT4 (sqlite_stat1 only)",
         plant_sql("ANALYZE", "DROP TABLE sqlite_stat4"), "sqlite_stat1"),
    ]
    rows = []
    for i, (name, plant, planted_name) in enumerate(cases):
        folder = tmp_path / f"case{i:02d}"
        folder.mkdir()
        rows += try_every_way(good, dest_good, folder, name, plant, planted_name)
    bad = [r for r in rows if r["outcome"] != "accepted" or r["lost"]]
    guarantee("files ANALYZE ran on (sqlite_stat1/4 as SQLite makes them): every way in accepts them",
              rounds=len(rows), failures=len(bad),
              note=f"{len(cases)} files x (open, open read_only, open untrusted, merge, verify); {_summary(rows)}")
    assert not bad, _brief(bad)
    for i in range(len(cases)):
        check_file(tmp_path / f"case{i:02d}" / "open.db")


def test_verify_reports_a_hidden_fts5_table(tmp_path):
    path = str(tmp_path / "good.db")
    build_good(path)
    with runlite.open(path, read_only=True) as store:
        plant_sql(*HIDDEN_FTS5, FTS5_SYNC)(path)
        report = store.verify()
    assert not report.ok
    assert any(p.startswith("schema: unexpected") and "sqlitexfts" in p for p in report.problems), report.problems
