"""Keeping and shipping a runlite file: ``verify``, ``backup`` and ``export``.

``verify`` reads everything: SQLite's integrity check, the schema against the one the
migrations create, every blob (parts decode, sizes add up, SHA-256 matches), every metric
chunk (decodes; its stored statistics match its points), every series summary (matches
its chunks) and every media row (its image, table or histogram is what the row says).
``backup`` copies the file with SQLite's online backup API in one step from a read snapshot,
so writers go on meanwhile, then checks the copy opens as a runlite file.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import urllib.parse

import apsw
import attrs

from . import blobs, checks, connection as db, media, merge_rows, policy, schema, schema_check
from .copies import check_dest, written_whole
from .. import errors
from .metrics import rechunk
from .stat_rows import STAT_COLUMNS
from .._validation import folder_ancestors

MAX_PROBLEMS = 1000  # a report lists at most this many problems (and says when it stopped)


@attrs.frozen
class VerifyReport:
    """What ``Store.verify`` found: ``ok`` when ``problems`` is empty; ``checked`` counts."""

    ok: bool
    problems: tuple[str, ...]
    checked: dict

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"ok": self.ok, "problems": list(self.problems), "checked": dict(self.checked)}


def verify(conn, progress=None) -> VerifyReport:
    """Check everything in the file; never raises for what it finds (see ``VerifyReport``).

    ``progress(done, total)``, when given, is called as blobs and series are checked.
    """
    problems: list[str] = []
    work = conn.execute("SELECT (SELECT count(*) FROM blobs) + (SELECT count(*) FROM series)").get
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, work)
    checked = {"blobs": 0, "chunks": 0, "series": 0, "media": 0}

    def problem(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        for line in result[:50]:
            problem(f"integrity check: {line}")
    if conn.execute("PRAGMA application_id").get != schema.APPLICATION_ID:
        problem("the application_id is not runlite's")
    version = conn.execute("PRAGMA user_version").get
    if not schema.read_as_is(version):
        problem(f"schema version {version}, expected {schema.READ_AS_IS_FROM} to {schema.SCHEMA_VERSION}")
    for difference in schema_check.differences(conn, version if schema.read_as_is(version) else schema.SCHEMA_VERSION):
        problem(f"schema: {difference}")

    for (sha,) in conn.execute("SELECT sha256 FROM blobs").fetchall():
        checked["blobs"] += 1
        advance()
        for text in blobs.verify_blob(conn, sha):
            problem(text)
    for run_id, name in conn.execute(
            "SELECT a.run_id, a.name FROM attachments AS a LEFT JOIN blobs AS b ON b.sha256 = a.sha256"
            " WHERE b.sha256 IS NULL"):
        problem(f"attachment {name!r} of run {run_id}: its blob is missing")
    checked["media"] = conn.execute("SELECT count(*) FROM media").get
    for text in media.problems(conn):  # every row, its blob or packed bytes decoded and compared
        problem(text)

    for series_id, run_id, name, *summary in conn.execute(
            "SELECT id, run_id, name, " + ", ".join(STAT_COLUMNS) + " FROM series").fetchall():
        checked["series"] += 1
        advance()
        found, chunk_count = checks.series_problems(conn, series_id, f"series {name!r} of run {run_id}",
                                                    tuple(summary))
        checked["chunks"] += chunk_count
        for text in found:
            problem(text)
    for text in checks.json_cell_problems(conn):  # reads decode these: a cell they would refuse is damage
        problem(text)
    for text in checks.text_problems(conn):  # and these
        problem(text)
    return VerifyReport(ok=not problems, problems=tuple(problems), checked=checked)


def backup(source, dest: str, *, overwrite: bool = False, durable: bool = False) -> str:
    """Copy the file behind connection ``source`` to ``dest`` (a consistent snapshot)."""
    check_dest(dest, source.filename, overwrite=overwrite, what="backup")
    with written_whole(dest, durable=durable, what="backup") as tmp:
        target = apsw.Connection(tmp)
        try:
            job = target.backup("main", source, "main")
            try:
                job.step(-1)  # all pages in one step: one snapshot, no restart when writers commit
            finally:
                # finish() raises the step's real error ("database or disk is full"); the context
                # manager's exit reports "not an error", or SystemError under a Python VFS.
                job.finish()
            target.execute("PRAGMA journal_mode=WAL").fetchall()
        finally:
            target.close()
    return dest


# ---------------------------------------------------------------- export

_FILE_BLOBS = "SELECT sha256 FROM src.attachments WHERE run_id IN (SELECT id FROM sel)"
_MEDIA_BLOBS = "SELECT sha256 FROM src.media WHERE run_id IN (SELECT id FROM sel) AND sha256 IS NOT NULL"
# How each table follows the exported runs (``sel`` holds their ids). Every table of the
# schema is either here or in NOT_EXPORTED: a test keeps the two complete.
EXPORTED = (
    ("folders", "path IN (SELECT path FROM sel_folders)"),
    ("runs", "id IN (SELECT id FROM sel) ORDER BY dotted_order"),
    ("series", "run_id IN (SELECT id FROM sel)"),
    ("chunks", "series_id IN (SELECT id FROM src.series WHERE run_id IN (SELECT id FROM sel))"),
    ("events", "run_id IN (SELECT id FROM sel)"),
    ("blobs", f"sha256 IN ({_FILE_BLOBS} UNION {_MEDIA_BLOBS})"),
    ("blob_parts", f"sha256 IN ({_FILE_BLOBS} UNION {_MEDIA_BLOBS})"),
    ("attachments", "run_id IN (SELECT id FROM sel)"),
    ("media", "run_id IN (SELECT id FROM sel)"),
    ("alerts", "id IN (SELECT alert_id FROM src.run_alerts WHERE run_id IN (SELECT id FROM sel))"),
    ("run_alerts", "run_id IN (SELECT id FROM sel)"),
    ("alert_history", "run_id IN (SELECT id FROM sel)"),
    ("outbox", "run_id IN (SELECT id FROM sel)"),
    ("feedback", "run_id IN (SELECT id FROM sel)"),
    ("cookbooks", "id IN (SELECT cookbook_id FROM src.recipe_runs WHERE run_id IN (SELECT id FROM sel))"),
    ("recipe_runs", "run_id IN (SELECT id FROM sel)"),
    ("run_sources", "run_id IN (SELECT id FROM sel)"),
)
NOT_EXPORTED = ("run_tags",)  # rebuilt by its trigger as runs are inserted
# Without attachments: no attachment rows, and only the blobs media use (media always go along).
_WITHOUT_FILES = {"blobs": f"sha256 IN ({_MEDIA_BLOBS})", "blob_parts": f"sha256 IN ({_MEDIA_BLOBS})",
                  "attachments": None}


def export(source_path: str, dest: str, run_ids: list[str], *, include_attachments: bool = True,
           timeout: float = 30.0, progress=None, durable: bool = False, overwrite: bool = False) -> dict:
    """Write a new runlite file at ``dest`` holding ``run_ids`` (whole traces) and what they use
    (replacing a file there, whole, once written, with ``overwrite``).

    Returns counts of the rows copied per table.
    """
    check_dest(dest, source_path, overwrite=overwrite, what="export")
    counts: dict[str, int] = {}
    with written_whole(dest, durable=durable, what="export") as tmp:
        create_empty(tmp, timeout=timeout)
        with db.translated(dest):
            # URI filenames, so the source can be attached read-only (mode=ro).
            conn = apsw.Connection(tmp, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI)
        try:
            with db.translated(dest):
                policy.writer_profile(conn, timeout=timeout, durable=False)
                _export_rows(conn, source_path, run_ids, include_attachments, counts, progress)
        except BaseException:
            db.rollback(conn)
            raise
        finally:
            conn.close()
    return counts


def _export_rows(conn, source_path: str, run_ids: list[str], include_attachments: bool, counts: dict,
                 progress) -> None:
    uri = "file:" + urllib.parse.quote(os.path.abspath(source_path)) + "?mode=ro"
    conn.execute("ATTACH DATABASE ? AS src", (uri,))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TEMP TABLE sel (id TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO sel (id) SELECT id FROM src.runs WHERE trace_id ="
                     " (SELECT trace_id FROM src.runs WHERE id = ?)", [(r,) for r in run_ids])
    folders = {p for (f,) in conn.execute("SELECT DISTINCT folder FROM src.runs WHERE id IN (SELECT id FROM sel)")
               for p in folder_ancestors(f)}
    conn.execute("CREATE TEMP TABLE sel_folders (path TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO sel_folders VALUES (?)", [(p,) for p in sorted(folders)])
    for step, (table, where) in enumerate(EXPORTED, start=1):
        if progress is not None:
            progress(step, len(EXPORTED))
        if not include_attachments and table in _WITHOUT_FILES:
            where = _WITHOUT_FILES[table]
            if where is None:
                continue
        before = conn.execute(f"SELECT count(*) FROM main.{table}").get  # names from EXPORTED only
        conn.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM src.{table} WHERE {where}")
        counts[table] = conn.execute(f"SELECT count(*) FROM main.{table}").get - before
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")


# ---------------------------------------------------------------- deleting and packing


def delete_runs(conn, doomed: list[str]) -> int:
    """Delete runs given with all their descendants (``runs.with_descendants``; everything of
    theirs cascades); returns runs deleted. Blobs are left for ``pack`` (another run may still
    use them)."""
    ids = json.dumps(doomed)
    conn.execute("DELETE FROM outbox WHERE run_id IN (SELECT value FROM json_each(?))", (ids,))  # a queue
    # children first: a parent row is referenced by its children's parent_run_id
    for (run_id,) in conn.execute("SELECT id FROM runs WHERE id IN (SELECT value FROM json_each(?))"
                                  " ORDER BY length(dotted_order) DESC", (ids,)).fetchall():
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    return len(doomed)


def create_empty(path: str, *, timeout: float = 30.0) -> None:
    """A new, empty runlite file at the current schema."""
    database = db.Database(path, read_only=False, durable=False, timeout=timeout)
    try:
        database.open_for_writing()
    finally:
        database.close()


def ended_before(conn, cutoff_us: int) -> list[str]:
    """Ids of runs that ended before ``cutoff_us``."""
    return [r[0] for r in conn.execute("SELECT id FROM runs WHERE ended IS NOT NULL AND ended < ?", (cutoff_us,))]


def all_run_ids(conn) -> list[str]:
    """Every run id of the file."""
    return [r[0] for r in conn.execute("SELECT id FROM runs")]


def pack(database, *, dest: str | None, progress=None, overwrite: bool = False) -> dict:
    """Drop unused blobs, merge small metric chunks, then ``VACUUM`` in place or into ``dest``."""
    if dest is not None:  # before anything changes: a failed call changes nothing
        check_dest(dest, database.path, overwrite=overwrite, what="pack")
    with database.write() as conn:
        dropped = drop_unreferenced_blobs(conn)
        series_ids = [r[0] for r in conn.execute("SELECT id FROM series")]
        merged = sum(rechunk(conn, series_id) for series_id in series_ids)  # small chunks into full ones
    if progress is not None:
        progress(1, 2)  # then the VACUUM, one statement
    with database.outside_transaction() as conn:
        if dest is None:
            conn.execute("VACUUM")
        else:
            vacuum_into(conn, dest, durable=database.durable)
    if progress is not None:
        progress(2, 2)
    return {"blobs_dropped": dropped, "series_rechunked": merged, "dest": dest}


# The blobs no attachment or media row uses. Histograms have no blob: their NULL must not reach
# NOT IN (which would then match nothing).
_UNUSED_BLOBS = ("sha256 NOT IN (SELECT sha256 FROM attachments UNION ALL"
                 " SELECT sha256 FROM media WHERE sha256 IS NOT NULL)")


def reclaimable(conn) -> dict:
    """What ``pack`` would reclaim for sure: the blobs no attachment or media row uses (how many,
    their stored bytes) and the file's free pages (bytes). Merging small chunks saves more,
    unknown before."""
    blobs, stored = conn.execute(f"SELECT count(*), coalesce(sum(stored), 0) FROM blobs WHERE {_UNUSED_BLOBS}"
                                 ).fetchone()
    free = conn.execute("PRAGMA freelist_count").get * conn.execute("PRAGMA page_size").get
    return {"blobs_unused": blobs, "blob_bytes": stored, "free_bytes": free}


def drop_unreferenced_blobs(conn) -> int:
    """Delete blobs no attachment or media row uses (their parts cascade); returns blobs deleted."""
    before = conn.execute("SELECT count(*) FROM blobs").get
    conn.execute(f"DELETE FROM blobs WHERE {_UNUSED_BLOBS}")
    return before - conn.execute("SELECT count(*) FROM blobs").get


def vacuum_into(conn, dest: str, *, durable: bool) -> None:
    """``VACUUM INTO`` a copy that appears at ``dest`` only once complete (``written_whole``)."""
    with written_whole(dest, durable=durable, what="pack") as tmp:
        conn.execute("VACUUM INTO ?", (tmp,))


# ---------------------------------------------------------------- merge

MERGE_VALUE_LIMIT = 128 << 20  # bytes: no value of a source file may be larger
_FIXED_RUN_COLUMNS = ("id", "trace_id", "dotted_order", "parent_run_id", "created", "kind")

# A run's identity: what is written when it is created and never changes after. The same id
# with another identity in the two files is two runs that came by one id (e.g. made by a
# runlite that drew ids from a seeded ``random``), not one run that went on: upserting would
# graft one run's name, status, series and events onto the other. Such a merge is refused
# whole rather than keeping both: the other run's descendants, series, events, files, alerts
# and feedback all point at the id, so keeping both would mean rewriting ids across every
# table and a trace's dotted_order, and another file merged later would still hold the
# old id. Refusing names the ids; the user decides which file's run to delete or export.
_IDENTITY_COLUMNS = ("name", "kind", "run_type", "parent_run_id", "trace_id", "dotted_order", "created")
_START_COLUMNS = ("started", "host", "pid")  # NULL while a run is 'created', then fixed when it starts
# ...but a resume moves a run to another process: host and pid may differ once either copy was resumed.
_RESUMED = "coalesce(CASE WHEN json_valid({a}.extra) THEN json_type({a}.extra, '$.resumed') = 'array' END, 0)"
# A placeholder stands for a parent its file never received (another process traced it): the
# same run as the one it stands for when both sit at the same place in the same trace. The
# run then replaces the placeholder, whichever file holds which; a placeholder never replaces
# a run. (One placed by parent id alone, an OTel child's, may sit elsewhere: still a conflict.)
_STANDS_FOR = ("(m.kind = 'placeholder' OR s.kind = 'placeholder') AND m.trace_id IS s.trace_id"
               " AND m.dotted_order IS s.dotted_order AND m.parent_run_id IS s.parent_run_id")


def check_source(path: str, timeout: float) -> None:
    """Refuse a file that is not a sound runlite file of this schema (read-only, untrusted)."""
    if not os.path.isfile(path):
        raise errors.NotFoundError(f"no file at {path!r} to merge")
    with db.translated(path):
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        with db.translated(path):
            policy.untrusted_profile(conn, timeout=timeout)
            version = db.check_identity(conn, path)
            if not schema.read_as_is(version):
                raise errors.StoreError(f"{path!r} has schema version {version}; open it once with this runlite "
                                        f"to upgrade it to {schema.SCHEMA_VERSION} before merging")
            conn.authorizer = None  # quick_check and the schema read are pragmas/reads of our own choosing
            check = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if check != ["ok"]:
                raise errors.CorruptStoreError(f"{path!r} failed its integrity check: {check[0]}")
            if schema_check.differences(conn, version):
                raise errors.NotARunliteFile(f"{path!r} has a schema runlite did not make (extra or changed"
                                             " tables, indexes, triggers or views); it was not merged")
    finally:
        _close_quietly(conn)


def _close_quietly(conn) -> None:
    """Close ``conn`` whatever happens. SQLite reads the file as it lets go of it, and that read
    can fail (an I/O error); by then the merge has committed, or an error is already on its way
    out that says what went wrong first, so such a failure changes nothing and is not raised."""
    try:
        conn.close()
    except apsw.Error:
        with contextlib.suppress(apsw.Error):
            conn.close(True)  # force: the handle is released whatever closing reported


def _damaged(source: str, problem: str) -> errors.CorruptStoreError:
    return errors.CorruptStoreError(
        f"{source!r} was not merged: {problem}. The file is damaged; a merge brings in only sound rows"
        " (chunks that decode and match their statistics and sketch, summaries that match their chunks,"
        " blobs whose parts hash to their key, cells of the right type). Nothing was changed")


def merge(dest: str, source: str, *, timeout: float, progress=None, durable: bool = False) -> dict:
    """Bring the runs of ``source`` into ``dest`` in one transaction (see ``Store.merge``);
    ``durable`` as the destination store was opened (its commit also survives a power cut).
    A run (or alert) id found in both files with different identities refuses the whole merge
    with ``MergeConflictError`` and writes nothing, so a returned report's ``run_conflicts``
    is always 0 (it says the check ran). Every row brought in is checked first, in the same
    transaction (``checks``): a damaged one refuses the whole merge with ``CorruptStoreError``."""
    check_source(source, timeout)
    with db.translated(dest):
        conn = apsw.Connection(dest, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI)
    both = f"{dest}, merging {source}"  # inside the transaction a failing read or write may be either file's
    counts: dict[str, int] = {}
    try:
        with db.translated(dest):
            policy.writer_profile(conn, timeout=timeout, durable=durable)
            conn.limit(apsw.SQLITE_LIMIT_LENGTH, MERGE_VALUE_LIMIT)
        with db.translated(source):
            conn.execute("ATTACH DATABASE ? AS src", ("file:" + urllib.parse.quote(os.path.abspath(source)) + "?mode=ro",))
        with db.translated(both):
            conn.execute("BEGIN IMMEDIATE")
            _refuse_damaged_rows(conn, source)  # before anything is written
            counts["run_conflicts"] = _refuse_run_conflicts(conn, source)
            merge_rows.refuse_feedback_conflicts(conn, source)
            try:
                _copy_rows(conn, source, counts, progress)
            except (apsw.ConstraintError, apsw.SQLError) as exc:
                # The source passed its own integrity check, so a row that breaks a constraint
                # here (a reference to nothing, tags that are not JSON) is a damaged source row.
                raise _damaged(source, f"its rows break the file's constraints ({exc})") from exc
            conn.execute("COMMIT")
    except BaseException:
        db.rollback(conn)
        raise
    finally:
        with contextlib.suppress(apsw.Error):
            conn.execute("DETACH DATABASE src")
        _close_quietly(conn)
    return counts


def _refuse_damaged_rows(conn, source: str) -> None:
    """Raise ``CorruptStoreError`` when the source's cells are of the wrong type
    (``checks.ROW_TYPES``), hold what no read could return (JSON nested too deep, text that
    is not UTF-8, a series name a read refuses: merged, they would damage this file), or its
    alert states name an alert it does not hold."""
    problems = checks.row_type_problems(conn, db="src")
    if not problems:  # (the scans below take the cells' types as checked)
        first = next(itertools.chain(checks.json_cell_problems(conn, db="src"), checks.text_problems(conn, db="src")),
                     None)
        problems = [] if first is None else [first]
    missing = conn.execute(
        "SELECT alert_id FROM src.run_alerts WHERE alert_id NOT IN (SELECT id FROM src.alerts) UNION ALL"
        " SELECT alert_id FROM src.alert_history WHERE alert_id NOT IN (SELECT id FROM src.alerts) LIMIT 1").fetchone()
    if missing is not None:
        problems.append(f"its alert states or history name alert {missing[0]!r:.60}, which it does not hold")
    if problems:
        raise _damaged(source, problems[0])


def _copy_rows(conn, source: str, counts: dict, progress) -> None:
    """Every table's rows the destination lacks (runs and series upserted by their rules)."""
    def damaged(problem: str) -> errors.CorruptStoreError:
        return _damaged(source, problem)

    before = conn.execute("SELECT count(*) FROM main.runs").get
    merge_rows.folders(conn, damaged)
    # A newer copy of a run updates what changes as it goes on; a run replaces its placeholder
    # whole (its kind and creation too); a placeholder replaces nothing.
    fill = [f"{c} = CASE WHEN runs.kind = 'placeholder' THEN excluded.{c} ELSE runs.{c} END"
            for c in _FIXED_RUN_COLUMNS if c != "id"]  # names from code only
    mutable = [f"{c} = excluded.{c}" for c in schema.RUN_COLUMNS if c not in _FIXED_RUN_COLUMNS]
    columns = ", ".join(schema.RUN_COLUMNS)
    conn.execute(
        "INSERT INTO main.runs (" + columns + ") SELECT " + columns +
        " FROM src.runs WHERE true ORDER BY dotted_order ON CONFLICT(id) DO UPDATE SET " +
        ", ".join(fill + mutable) + " WHERE excluded.kind IS NOT 'placeholder'"
        " AND (runs.kind = 'placeholder' OR excluded.modified > runs.modified)")
    counts["runs_added"] = conn.execute("SELECT count(*) FROM main.runs").get - before
    counts["series_copied"] = merge_rows.series(conn, damaged, progress)
    new_blobs = [r[0] for r in conn.execute(
        "SELECT sha256 FROM src.blobs WHERE sha256 NOT IN (SELECT sha256 FROM main.blobs)")]
    for table in ("events", "blobs", "feedback", "cookbooks", "run_sources"):
        n = conn.execute(f"SELECT count(*) FROM main.{table}").get  # table names from this tuple
        conn.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM src.{table}")
        counts[f"{table}_added"] = conn.execute(f"SELECT count(*) FROM main.{table}").get - n
    counts["events_added"] += merge_rows.diverged_events(conn)
    # Feedback found in both (the same run's, `merge_rows.refuse_feedback_conflicts`): the later edit wins.
    conn.execute("UPDATE main.feedback SET (score, value, comment, correction, source, modified) = (SELECT"
                 " s.score, s.value, s.comment, s.correction, s.source, s.modified FROM src.feedback AS s WHERE"
                 " s.id = feedback.id) WHERE id IN (SELECT id FROM src.feedback) AND modified < (SELECT s.modified"
                 " FROM src.feedback AS s WHERE s.id = feedback.id)")
    # The parts of new blobs only: a blob already here is whole, and parts a source holds
    # beyond it (a damaged or hostile file) would join it and make it fail its checks.
    conn.executemany("INSERT OR IGNORE INTO main.blob_parts (sha256, seq, size, data)"
                     " SELECT sha256, seq, size, data FROM src.blob_parts WHERE sha256 = ?",
                     [(sha,) for sha in new_blobs])
    # Content is shared by hash: a blob whose parts do not hash to its key would spoil
    # every later save of that content here, so each new one is checked (part by part).
    for sha in new_blobs:
        problems = blobs.verify_blob(conn, sha) if isinstance(sha, str) else [f"blob key {sha!r:.40}"]
        if problems:
            raise _damaged(source, problems[0])
    conn.execute(
        "INSERT INTO main.attachments SELECT * FROM src.attachments WHERE true ON CONFLICT(run_id, name)"
        " DO UPDATE SET category = excluded.category, mime_type = excluded.mime_type, size = excluded.size,"
        " sha256 = excluded.sha256, original_path = excluded.original_path, created = excluded.created"
        " WHERE excluded.created > attachments.created")
    counts["media_copied"] = media.merge(conn, damaged)  # blobs are in by now
    conn.execute("INSERT OR IGNORE INTO main.recipe_runs SELECT * FROM src.recipe_runs")
    merge_rows.alerts(conn, source, damaged)


def _run_conflicts(conn) -> list[str]:
    """Ids of source runs whose identity differs from the destination's run of that id."""
    same = [f"m.{c} IS s.{c}" for c in _IDENTITY_COLUMNS]  # column names from code only
    resumed = f"{_RESUMED.format(a='m')} OR {_RESUMED.format(a='s')}"
    same += [f"(m.{c} IS NULL OR s.{c} IS NULL OR m.{c} IS s.{c}{' OR ' + resumed if c != 'started' else ''})"
             for c in _START_COLUMNS]
    return [r[0] for r in conn.execute(
        "SELECT s.id FROM src.runs AS s JOIN main.runs AS m ON m.id = s.id WHERE NOT (" + " AND ".join(same) +
        f") AND NOT ({_STANDS_FOR}) ORDER BY s.id")]


def _refuse_run_conflicts(conn, source: str) -> int:
    """Raise ``MergeConflictError`` naming the conflicting ids, if any; else 0 (for the report)."""
    ids = _run_conflicts(conn)
    if not ids:
        return 0
    shown = ", ".join(ids[:merge_rows.CONFLICTS_SHOWN]) + (f" and {len(ids) - merge_rows.CONFLICTS_SHOWN} more"
                                                   if len(ids) > merge_rows.CONFLICTS_SHOWN else "")
    raise errors.MergeConflictError(
        f"{source!r} was not merged: {len(ids)} of its runs have the id of a different run here ({shown}). "
        f"A run found in both files must be the same run: equal {', '.join(_IDENTITY_COLUMNS)}, and equal "
        f"{', '.join(_START_COLUMNS)} once started (host and pid may differ once resumed); only what changes "
        "as a run goes on (status, end, outputs, "
        "metadata, tags, metrics, events, files) may differ. Delete or export those runs from one of the files "
        "first; nothing was changed", run_ids=ids)


