"""The ``runs`` table: creating, changing and resolving runs, and reading rows as records.

Every statement that writes a run row is generated here from one column list
(``schema.RUN_COLUMNS``), so a new column is added in one place.
"""

from __future__ import annotations

import functools
import os
import re
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .. import _lazy, errors
from . import metric_reads, subtrees
from .schema import FINAL_STATUSES, RUN_COLUMNS
from .._host import THIS_HOST, effective_status, system_info, writer_alive
from .._ids import dotted_segment, is_uuid, uuid7
from .._validation import dumps, folder_ancestors, from_us, now_us, shown, stored_json
from ..records.times import iso

if TYPE_CHECKING:
    from ..records.runs import RunRecord

feedback_mod = _lazy.module("runlite.storage.feedback")  # by the first trace read that asks for imported stats
stored_records = _lazy.module("runlite.stored_records")  # records are made by reads: a logging program makes none


def insert_sql(columns: Iterable[str], *, update: Iterable[str] = (), constants: dict | None = None,
               keep_existing: bool = False) -> str:
    """``INSERT INTO runs`` of ``columns`` (bound in that order), upserting ``update`` on a known
    id (only over the same run: its placeholder, filled in whole, or the row of its trace and
    dotted order, never another run with its id: `insert_many` counts the rows it wrote), or
    leaving a known id's row as it is with ``keep_existing``. ``constants`` maps further columns to SQL
    literals of runlite's own (never user text). Column names must be ``RUN_COLUMNS``."""
    columns, update, constants = list(columns), list(update), dict(constants or {})
    unknown = [c for c in (*columns, *update, *constants) if c not in RUN_COLUMNS]
    if unknown:
        raise ValueError(f"not columns of runs: {unknown}")  # a programming error, never user input
    names = columns + list(constants)
    sql = (f"INSERT INTO runs ({', '.join(names)}) VALUES ("
           + ", ".join(["?"] * len(columns) + list(constants.values())) + ")")
    if update:
        filled = [c for c in names if c != "id" and c not in update]
        sql += " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
            [f"{c} = excluded.{c}" for c in update]
            + [f"{c} = CASE WHEN kind = 'placeholder' THEN excluded.{c} ELSE {c} END" for c in filled])
        sql += (" WHERE kind = 'placeholder' OR (trace_id IS excluded.trace_id"
                " AND dotted_order IS excluded.dotted_order)")
    elif keep_existing:
        sql += " ON CONFLICT(id) DO NOTHING"
    return sql


@functools.lru_cache(maxsize=64)
def _insert_of(columns: tuple[str, ...]) -> str:
    return insert_sql(columns)  # a few shapes of row, each checked and built once


def insert(conn, values: dict[str, Any]) -> None:
    """Insert one run row given as ``{column: value}``."""
    conn.execute(_insert_of(tuple(values)), tuple(values.values()))


# Rows a multi-row statement writes. ``runs`` has triggers (its tags index), so SQLite gives
# each statement a statement journal, and a statement of one row copied every page it touched
# (a dozen indexes) into it: measured, SQLite CPU a span row, one row a statement 53 us, 64
# rows 15 us; 10 rows got ~2/3 of that gain, and 500 rows none more than 100.
ROWS_PER_STATEMENT = 64


@functools.lru_cache(maxsize=256)
def insert_rows_sql(columns: tuple[str, ...], rows: int, update: tuple[str, ...] = (),
                    constants: tuple[tuple[str, str], ...] = (), keep_existing: bool = False) -> str:
    """`insert_sql` of ``rows`` rows in one statement (its VALUES row repeated: still text
    generated from ``RUN_COLUMNS`` only); ``constants`` as ``(column, SQL literal)`` pairs."""
    head, _, rest = insert_sql(columns, update=update, constants=dict(constants),
                               keep_existing=keep_existing).partition(" VALUES ")
    row, _, conflict = rest.partition(" ON CONFLICT")
    return f"{head} VALUES {', '.join([row] * rows)}" + (f" ON CONFLICT{conflict}" if conflict else "")


def insert_many(conn, columns: tuple[str, ...], values: list, update: tuple[str, ...] = (),
                constants: tuple[tuple[str, str], ...] = (), keep_existing: bool = False) -> int:
    """Insert (or upsert, as `insert_rows_sql`) run rows ``ROWS_PER_STATEMENT`` to a statement;
    ``values`` holds every row's values of ``columns``, one row after another. Returns how many
    rows the statements wrote (``changes()``: an upsert leaves another run with an id alone)."""
    width = len(columns)
    step = ROWS_PER_STATEMENT * width
    written = 0
    for at in range(0, len(values), step):
        part = values[at:at + step]
        conn.execute(insert_rows_sql(columns, len(part) // width, update, constants, keep_existing), part)
        written += conn.changes()
    return written


def ensure_folder(conn, folder: str, now: int) -> None:
    """Create ``folder`` and its ancestors when missing."""
    for path in folder_ancestors(folder):
        conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES (?, ?)", (path, now))


_SYSTEM_JSON: dict[tuple, str] = {}


def system_json() -> str:
    """This process's ``system`` record as stored JSON, encoded once per working directory and
    pid (the rest of it never changes while the process lives)."""
    info = system_info()
    key = (info["cwd"], info["pid"])
    text = _SYSTEM_JSON.get(key)
    if text is None:
        if len(_SYSTEM_JSON) > 16:  # a process that keeps changing directory: keep a few
            _SYSTEM_JSON.clear()
        text = _SYSTEM_JSON[key] = dumps(info, "system")
    return text


def create(conn, *, name: str, folder: str, running: bool, parent_id: str | None, values: dict,
           run_id: str | None = None) -> dict:
    """Insert a new run (an experiment, or a span of its parent's trace when ``run_type`` is
    given) inside the caller's transaction; returns its identity. ``values`` holds the other
    checked columns (description, metadata, tags, run_type, inputs, heartbeat_timeout);
    ``run_id`` a caller's id (a UUID no run has), else a new uuid7 is made."""
    now = now_us()
    if parent_id is not None:
        row = conn.execute("SELECT trace_id, dotted_order, coalesce(started, created) FROM runs WHERE id = ?",
                           (parent_id,)).fetchone()
        if row is None:
            raise errors.NotFoundError(f"no parent run with id {parent_id!r}")
        trace_id, parent_order, parent_start = row
        start = max(now, parent_start)  # a child never starts before its parent
    else:
        start = now
    run_id = uuid7(start) if run_id is None else run_id
    segment = dotted_segment(start, run_id)
    if parent_id is None:
        trace_id, dotted_order = run_id, segment
    else:
        dotted_order = f"{parent_order}.{segment}"
    ensure_folder(conn, folder, now)
    row = {
        "id": run_id, "name": name, "kind": "trace" if values.get("run_type") else "experiment",
        "status": "running" if running else "created", "folder": folder, "parent_run_id": parent_id,
        "trace_id": trace_id, "dotted_order": dotted_order, "created": start,
        "started": start if running else None, "modified": now, **values,
    }
    if running:  # only a running run has a process (a created one gets these when it starts)
        row.update(host=THIS_HOST, pid=os.getpid(), heartbeat=now, system=system_json())
    insert(conn, row)
    return {"id": run_id, "name": name, "status": "running" if running else "created",
            "started": start if running else None, "trace_id": trace_id,
            "dotted_order": dotted_order, "parent_run_id": parent_id, "folder": folder}


def start_created(conn, run_id: str) -> dict:
    """Move a ``created`` run to ``running`` on this host (``reconnect``); returns its identity."""
    row = conn.execute("SELECT name, status, trace_id, dotted_order, parent_run_id, folder, host, pid, heartbeat,"
                       " heartbeat_timeout FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no run with id {run_id!r}")
    now = now_us()
    if row[1] != "created":
        status = effective_status(row[1], *row[6:10], now)  # a dead process's run says lost
        raise errors.RunStateError(
            f"run {row[0]!r} ({run_id}) is {status}; only a 'created' run can be reconnected"
            + ("" if status == "running" else " (resume it instead: store.resume(run) continues a created, "
               "completed, failed, terminated or lost run)"))
    conn.execute("UPDATE runs SET status = 'running', started = ?, modified = ?, host = ?, pid = ?,"
                 " heartbeat = ?, system = ? WHERE id = ?",
                 (now, now, THIS_HOST, os.getpid(), now, system_json(), run_id))
    return {"id": run_id, "name": row[0], "status": "running", "started": now, "trace_id": row[2],
            "dotted_order": row[3], "parent_run_id": row[4], "folder": row[5]}


RESUMABLE = ("created", "completed", "failed", "terminated", "lost")
_RESUME_COLUMNS = ("name", "status", "host", "pid", "heartbeat", "heartbeat_timeout", "trace_id", "dotted_order",
                   "parent_run_id", "folder", "started", "error", "extra")
MAX_KEPT_ERROR = 4096  # characters of a failed run's error its resume history keeps (the traceback's end)


def resume(conn, run_id: str) -> dict:
    """Move a run that no process runs any more (``RESUMABLE``) back to ``running`` in this
    process, inside the caller's transaction: end time and error cleared, start time kept (run
    time goes on growing), the resume appended to ``extra["resumed"]`` (when, what it was, host,
    pid, and a failed run's error). Returns its identity, ``was``, ``heartbeat_timeout``, the
    run's last step (``last_step``, over every series but the system metrics'; None with none),
    each series' last step (``last_steps``, by name, asset-less series) and the system
    metrics' last step (``system_step``)."""
    row = conn.execute(f"SELECT {', '.join(_RESUME_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no run with id {run_id!r}")
    found = dict(zip(_RESUME_COLUMNS, row))
    now = now_us()
    was = effective_status(*(found[k] for k in ("status", "host", "pid", "heartbeat", "heartbeat_timeout")), now)
    if was not in RESUMABLE:
        age = "no heartbeat" if found["heartbeat"] is None else f"its last heartbeat {(now - found['heartbeat']) / 1e6:.0f} s ago"
        raise errors.RunStateError(
            f"run {found['name']!r} ({run_id}) is {was} (pid {found['pid']} on {found['host']!r}, {age}); only a run "
            f"no process runs any more can be resumed: {', '.join(RESUMABLE)} (a running run reads lost once its "
            "process is gone from this host, or its heartbeat is older than its heartbeat_timeout)")
    if was == "lost" and writer_alive(found["host"], found["pid"], found["heartbeat"]):  # stalled, not gone
        raise errors.RunStateError(f"run {found['name']!r} ({run_id}) reads lost, but its process (pid {found['pid']}) still "
                                   "runs on this host, its heartbeat stalled: resumed, the run would have two writers")
    what = f"the stored extra of run {run_id}"
    extra = {} if found["extra"] is None else stored_json(found["extra"], what)
    if not isinstance(extra, dict) or not isinstance(extra.get("resumed", []), list):
        raise errors.CorruptStoreError(f"{what} is not a JSON object with a list 'resumed': {shown(extra)}")
    entry = {"at": iso(from_us(now)), "was": was, "host": THIS_HOST, "pid": os.getpid()}
    if found["error"] is not None:
        entry["error"] = found["error"][-MAX_KEPT_ERROR:]
    extra["resumed"] = [*extra.get("resumed", []), entry]
    started = now if found["started"] is None else found["started"]
    conn.execute("UPDATE runs SET status = 'running', started = ?, ended = NULL, error = NULL, modified = ?,"
                 " host = ?, pid = ?, heartbeat = ?, system = ?, extra = ? WHERE id = ?",
                 (started, now, THIS_HOST, os.getpid(), now, system_json(), dumps(extra, what), run_id))
    return {**metric_reads.last_steps(conn, run_id), "id": run_id, "name": found["name"], "status": "running", "started": started,
            "trace_id": found["trace_id"], "dotted_order": found["dotted_order"],
            "parent_run_id": found["parent_run_id"], "folder": found["folder"], "was": was,
            "heartbeat_timeout": found["heartbeat_timeout"]}


def named(conn, name: str) -> str | None:
    """The id of the one run called ``name`` (names only, never ids); None when there is none,
    AmbiguousNameError when several are."""
    ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE name = ? LIMIT 11", (name,))]
    if len(ids) > 1:
        raise errors.AmbiguousNameError(
            f"{len(ids) if len(ids) <= 10 else 'more than 10'} runs are named {shown(name, 300)} "
            f"({', '.join(ids[:10])}{', ...' if len(ids) > 10 else ''}); give the run's id")
    return ids[0] if ids else None


_JSON_FIELDS = {"metadata": "metadata", "tags": "tags"}  # the JSON columns a live run changes


def update_json(conn, run_id: str, column: str, change: Callable[[Any], Any]) -> None:
    """Replace a JSON column (``metadata`` or ``tags``) with ``change(current)``."""
    column = _JSON_FIELDS[column]  # identifiers from the whitelist only
    what = f"the stored {column} of run {run_id}"
    current = stored_json(conn.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).get, what)
    if not isinstance(current, dict if column == "metadata" else list):  # damage: nothing to merge into
        raise errors.CorruptStoreError(f"{what} is {type(current).__name__} {shown(current)}, not a JSON "
                                       f"{'object' if column == 'metadata' else 'array'}")
    conn.execute(f"UPDATE runs SET {column} = ?, modified = ? WHERE id = ?",
                 (dumps(change(current), column), now_us(), run_id))


def set_description(conn, run_id: str, description: str) -> None:
    """Replace a run's description (checked text)."""
    conn.execute("UPDATE runs SET description = ?, modified = ? WHERE id = ?", (description, now_us(), run_id))


_FOLDER_FIELDS = ("metadata", "tags", "description")


def set_folder_details(conn, path: str, fields: dict[str, Any]) -> None:
    """Create ``path`` when missing and set the given (already encoded) folder fields."""
    ensure_folder(conn, path, now_us())
    for column in _FOLDER_FIELDS:  # column names come from this whitelist only
        if column in fields:
            conn.execute(f"UPDATE folders SET {column} = ? WHERE path = ?", (fields[column], path))


def finish(conn, run_id: str, name: str, status: str, changes: dict[str, Any], *, again: bool = False) -> bool:
    """Store a final status with its end time and ``changes`` (``error``/``outputs``); False,
    storing nothing, when the run was aborted from outside meanwhile (it stays terminated).
    ``again``: the run has ended, and its final status is set anew (its end time stays)."""
    stored = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).get
    if stored == "terminated" and not again:
        return False
    if (stored in FINAL_STATUSES) != again:
        raise errors.RunStateError(f"run {name!r} ({run_id}) is {stored}; it has not ended" if again else
                                   f"run {name!r} ({run_id}) is already {stored}; its status cannot change")
    now = now_us()
    values = {"status": status, "modified": now} if again else {"status": status, "ended": now, "modified": now}
    values.update((c, changes[c]) for c in ("error", "outputs") if c in changes)
    conn.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
                 (*values.values(), run_id))
    return True


def terminate(conn, run_id: str, reason: str) -> None:
    """End a running run as ``terminated`` (an alert with ``trigger_abort`` went critical)."""
    now = now_us()
    conn.execute("UPDATE runs SET status = 'terminated', ended = ?, modified = ?, error = coalesce(error, ?)"
                 " WHERE id = ? AND status = 'running'", (now, now, reason, run_id))


def heartbeat(conn, run_ids: list[str], now: int) -> list[str]:
    """Record that these running runs are alive; returns those of them the file says were
    stopped from outside (``abort``), which their process then ends."""
    conn.executemany("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'",
                     [(now, run_id) for run_id in run_ids])
    return [run_id for run_id in run_ids
            if conn.execute("SELECT 1 FROM runs WHERE id = ? AND status = 'terminated'", (run_id,)).fetchone()]


def abort(conn, run_id: str, reason: str) -> None:
    """Stop a created or running run from outside its process (Simvue's ``abort_run``): it is
    ``terminated`` with ``reason`` as its error; its process sees it at its next heartbeat."""
    status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if status is None or status[0] not in ("created", "running"):
        raise errors.RunStateError(f"run {run_id} is not running (status {status[0] if status else None!r}): "
                                   "only a created or running run can be aborted")
    now = now_us()
    conn.execute("UPDATE runs SET status = 'terminated', ended = ?, modified = ?, error = ? WHERE id = ?",
                 (now, now, reason, run_id))


MIN_ID_PREFIX = 4  # hex digits a short id needs at least (like git's abbreviated hashes)
_ID_PREFIX = re.compile(r"[0-9a-f]{%d}[0-9a-f-]{0,32}" % MIN_ID_PREFIX)
_LISTED = 10  # candidates an ambiguity error names


def resolve(conn, id_or_name: str) -> str:
    """The id of the run with this id, else this unique name, else the one id starting with
    it (a prefix of at least ``MIN_ID_PREFIX`` hex digits, any case)."""
    if not isinstance(id_or_name, str) or not id_or_name:
        raise errors.ValidationError(f"a run id or name must be a non-empty str, got {shown(id_or_name)}")
    if is_uuid(id_or_name) and conn.execute("SELECT 1 FROM runs WHERE id = ?", (id_or_name,)).fetchone():
        return id_or_name
    ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE name = ? LIMIT ?", (id_or_name, _LISTED + 1))]
    if len(ids) > 1:
        raise errors.AmbiguousNameError(f"{_count(ids)} runs are named {shown(id_or_name, 300)} "
                                        f"({_listing(ids)}); use a run id")
    if not ids and _ID_PREFIX.fullmatch(prefix := id_or_name.lower()):
        ids = ids_starting_with(conn, prefix, _LISTED + 1)
        if len(ids) > 1:
            raise errors.AmbiguousNameError(f"{_count(ids)} run ids start with {prefix!r} ({_listing(ids)}); "
                                            "give more of the id")
    if not ids:
        raise errors.NotFoundError(f"no run with id or name {shown(id_or_name, 300)}")
    return ids[0]


def ids_starting_with(conn, prefix: str, limit: int) -> list[str]:
    """Run ids starting with ``prefix``, in order, at most ``limit``: a range of the primary key
    (``prefix <= id < prefix`` with its last character's successor; ids are ASCII)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return [r[0] for r in conn.execute("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                                       (prefix, upper, limit))]


def _count(ids: list[str]) -> str:
    return str(len(ids)) if len(ids) <= _LISTED else f"more than {_LISTED}"


def _listing(ids: list[str]) -> str:
    return ", ".join(ids[:_LISTED]) + (", ..." if len(ids) > _LISTED else "")


def with_descendants(conn, run_ids: list[str]) -> list[str]:
    """``run_ids`` (those in the file) and their descendants, each once, every run before its
    descendants: what ``archive.delete_runs`` deletes."""
    found: dict[str, None] = {}
    for run_id in run_ids:
        row = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None and run_id not in found:
            found.update(dict.fromkeys(r[0] for r in conn.execute(
                f"SELECT id FROM runs WHERE {subtrees.where()} ORDER BY dotted_order",
                subtrees.values(row[0], row[1], run_id))))
    return list(found)


def existing(conn, run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` that are in the file."""
    return {r[0] for r in _per_run(conn, list(run_ids), "SELECT id FROM runs WHERE id IN (%s)")}


def folder(conn, path: str) -> dict:
    """A folder's details: path, description, tags, metadata, created; NotFoundError if there is none."""
    row = conn.execute("SELECT path, description, tags, metadata, created FROM folders WHERE path = ?",
                       (path,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no folder {path!r}")
    return {"path": row[0], "description": row[1], "tags": stored_json(row[2]),
            "metadata": stored_json(row[3]), "created": from_us(row[4])}


def folders(conn) -> list[str]:
    """Every folder path, sorted."""
    return [r[0] for r in conn.execute("SELECT path FROM folders ORDER BY path")]


def delete_folders(conn, paths: list[str]) -> list[str]:
    """Delete the records of folders no run is in, deepest first (never ``/``); returns the
    paths deleted (``runlite.simvue`` ``Client.delete_folder``)."""
    gone = []
    for path in sorted(set(paths) - {"/"}, key=lambda p: (-p.count("/"), p)):
        conn.execute("DELETE FROM folders WHERE path = ? AND NOT EXISTS"
                     " (SELECT 1 FROM runs WHERE runs.folder = folders.path)", (path,))
        if conn.changes():
            gone.append(path)
    return gone

# Listings and trees read rows of this shape; child ids, attachments, feedback and events come
# from a few queries per read when first used (``RowLoader``), not subqueries per row.
SELECT_TREE = "SELECT " + ", ".join(f"runs.{c}" for c in RUN_COLUMNS) + " FROM runs"
IDX = {c: i for i, c in enumerate(RUN_COLUMNS)}
_ID, _LS = IDX["id"], IDX["ls_fields"]


def _per_run(conn, ids: list[str], sql: str) -> list[tuple]:
    """Rows of ``sql`` (with one ``IN (%s)``) for many run ids, 500 at a time."""
    out: list[tuple] = []
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        out.extend(conn.execute(sql % ", ".join("?" * len(part)), part))
    return out


def status_of(row: tuple, now: int) -> str:
    """A ``SELECT_TREE`` row's effective status (``lost`` computed)."""
    status = row[IDX["status"]]
    if status == "running":  # lost is computed on read
        status = effective_status(status, row[IDX["host"]], row[IDX["pid"]], row[IDX["heartbeat"]],
                                  row[IDX["heartbeat_timeout"]], now)
    return status


def _event_dict(run_id: str, t: int, name: str, message: str | None, kwargs: str | None) -> dict:
    event = {"name": name, "time": iso(from_us(t))}
    if kwargs is not None:
        event["kwargs"] = stored_json(kwargs, f"the kwargs of an event of run {run_id}")
    if message is not None:
        event["message"] = message
    return event


_EVENTS = "SELECT run_id, time, name, message, kwargs FROM events WHERE name IS NOT NULL AND "


def named_events_of(conn, run_ids: list[str], trace_id: str | None = None) -> dict[str, tuple]:
    """The LangSmith-style events (those with a name) of many runs (those that have any), or with
    ``trace_id`` of every run of that trace (one query), as ``{name, time (ISO-8601), kwargs?,
    message?}`` in the order they were added; Simvue log messages (no name) are left out."""
    if trace_id is not None:
        found = conn.execute(_EVENTS + "run_id IN (SELECT id FROM runs WHERE trace_id = ?) ORDER BY run_id, seq",
                             (trace_id,))
    else:
        found = _per_run(conn, run_ids, _EVENTS + "run_id IN (%s) ORDER BY run_id, seq")
    out: dict[str, list] = {}
    for run_id, t, name, message, kwargs in found:
        out.setdefault(run_id, []).append(_event_dict(run_id, t, name, message, kwargs))
    return {run_id: tuple(events) for run_id, events in out.items()}


def _descendants(conn, ids: list[str]) -> dict[str, tuple]:
    """``{run id: (every descendant's id, the children's ids)}`` of those of ``ids`` with children
    (dotted order), each run's read in order from its own range of the trace index: sorting the
    descendants of many runs together sorted their dotted orders (kilobytes each deep in a chain)."""
    out = {}
    for (run_id,) in _per_run(conn, ids, "SELECT DISTINCT parent_run_id FROM runs WHERE parent_run_id IN (%s)"):
        trace_id, order = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
        below = conn.execute(f"SELECT id, parent_run_id FROM runs WHERE {subtrees.where()} ORDER BY dotted_order",
                             subtrees.values(trace_id, order, run_id)).fetchall()[1:]  # after the run itself
        out[run_id] = (tuple(kid for kid, _ in below), tuple(kid for kid, parent in below if parent == run_id))
    return out


def _attachments(conn, ids: list[str], trace_id: str | None) -> dict[str, dict]:
    """``{run id: {name: (mime type, size)}}`` of those of ``ids`` (or of the trace) with attachments."""
    if trace_id is not None:
        found = conn.execute("SELECT a.run_id, a.name, a.mime_type, a.size FROM attachments AS a"
                             " JOIN runs ON runs.id = a.run_id WHERE runs.trace_id = ?", (trace_id,))
    else:
        found = _per_run(conn, ids, "SELECT run_id, name, mime_type, size FROM attachments WHERE run_id IN (%s)")
    attached: dict[str, dict] = {}
    for run_id, name, mime, size in found:
        attached.setdefault(run_id, {})[name] = (mime, size)
    return attached


LOADED_PARTS = ("events", "descendants", "attachments", "feedback_stats")


class RowLoader:
    """The ``loader`` of the records of one read (``stored_records.lazy_runs``): what lives in
    other tables (named events; descendants' ids, attachments, feedback_stats) is read the first
    time any record of the read needs any of it, for every record of the read at once (a few
    queries, never one per record), and kept. With ``trace_id`` the rows are that whole trace
    (one query per part). ``parts`` narrows what that first use reads (a listing's ``select``).

    So a read's records outlive the store once one of them has used one of those fields; if
    none has when the store closes, those fields raise StoreClosedError.
    """

    def __init__(self, database, rows: list[tuple], trace_id: str | None = None, parts=LOADED_PARTS):
        self.database, self.rows, self.trace_id, self.wanted = database, rows, trace_id, tuple(parts)
        self.parts: dict[str, dict] = {}
        # A tree's root, weakly (its records hold this loader): the parts read are then kept in
        # every record of the tree at once (``stored_records.fill``), not given one call each.
        self.root: Any = None

    def __call__(self, record, name: str) -> Any:
        run_id = record.id
        part = "descendants" if name in ("child_run_ids", "direct_child_run_ids") else name
        if part not in self.parts:
            read = self._read(run_id, name, part)
            root = self.root() if self.root is not None else None
            if root is not None:
                stored_records.fill(root, {p: self.parts[p] for p in read if p != "descendants"})
        return self.value(run_id, name)

    def value(self, run_id: str, name: str) -> Any:
        """Field ``name`` (of ``LOADED_FIELDS``) of run ``run_id`` from a part already read."""
        part = "descendants" if name in ("child_run_ids", "direct_child_run_ids") else name
        value = self.parts[part].get(run_id)
        if part == "descendants":
            return () if value is None else value[name == "direct_child_run_ids"]
        if value is None:
            return () if part == "events" else {}
        return value

    def _read(self, run_id: str, name: str, part: str) -> tuple[str, ...]:
        """Read the parts still missing of those wanted and ``part``; returns their names."""
        if self.database.closed:
            raise errors.StoreClosedError(
                f"the {name} of run {run_id} are read from the store when first used ({name}, to_dict(), ==);"
                " read them before closing it")
        missing = [p for p in self.wanted + (part,) if p not in self.parts]
        ids = [row[_ID] for row in self.rows] if self.trace_id is None or "descendants" in missing else []
        with self.database.read() as conn:  # a whole trace's parts are read by its id, not its runs' ids
            for one in dict.fromkeys(missing):
                if one == "events":
                    found = named_events_of(conn, ids, self.trace_id)
                elif one == "descendants":  # a tree knows its descendants: no record of it asks
                    found = _descendants(conn, ids)
                elif one == "attachments":
                    found = _attachments(conn, ids, self.trace_id)
                else:  # of a trace, only its runs with kept LangSmith fields may hold imported stats
                    kept = [(row[_ID], row[_LS]) for row in self.rows if self.trace_id is None or row[_LS] is not None]
                    found = feedback_mod.stats_by_run(conn, kept, self.trace_id)
                self.parts[one] = found
        return tuple(dict.fromkeys(missing))


def records(database, rows: list[tuple], now: int, parts=LOADED_PARTS) -> list[RunRecord]:
    """Records of ``SELECT_TREE`` rows; their descendants' and children's ids (dotted order),
    attachments, feedback_stats and events read on first use, for all of them at once
    (``parts`` of those; see ``RowLoader``)."""
    loader = RowLoader(database, rows, parts=parts)
    at = IDX["status"]  # lost is computed for running rows only: the others' is stored
    statuses = [row[at] if row[at] != "running" else status_of(row, now) for row in rows]
    return stored_records.lazy_runs(rows, statuses, loader)


def tree(database, rows: list[tuple], now: int, trace_id: str | None = None) -> RunRecord:
    """The first row's record with the others nested as ``child_runs`` (rows in dotted_order;
    see ``stored_records.lazy_tree``); attachments, feedback_stats and events are read on first
    use, for the whole tree at once (with ``trace_id``, the rows being that trace: one query each).
    """
    status_col = IDX["status"]
    statuses = [status_of(row, now) if row[status_col] == "running" else row[status_col] for row in rows]
    loader = RowLoader(database, rows, trace_id, parts=("events", "attachments", "feedback_stats"))
    root = stored_records.lazy_tree(rows, statuses, loader)
    if root is not None:
        loader.root = weakref.ref(root)
    return root


def read_one(database, id_or_name: str, now: int) -> RunRecord:
    """The record of one run by id or unique name (`resolve`, in the same read transaction),
    as listings make it (descendants' ids, attachments, feedback_stats and events read on
    first use)."""
    with database.read() as conn:
        # An id (the common case) is read at once; anything else is resolved first.
        rows = conn.execute(SELECT_TREE + " WHERE runs.id = ?", (id_or_name,)).fetchall() \
            if is_uuid(id_or_name) else []
        if not rows:
            rows = conn.execute(SELECT_TREE + " WHERE runs.id = ?", (resolve(conn, id_or_name),)).fetchall()
    return records(database, rows, now)[0]


def read_subtree(database, run_id: str, now: int) -> RunRecord:
    """A run with its descendants nested as ``child_runs`` (one range scan of its trace)."""
    with database.read() as conn:
        row = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise errors.NotFoundError(f"no run with id {run_id!r}")
        trace_id, order = row
        rows = conn.execute(f"{SELECT_TREE} WHERE {subtrees.where()} ORDER BY runs.dotted_order",
                            subtrees.values(trace_id, order, run_id)).fetchall()
    return tree(database, rows, now)


def read_trace(database, trace_id: str, now: int) -> RunRecord:
    """The root of a trace with the whole tree nested."""
    with database.read() as conn:
        rows = conn.execute(SELECT_TREE + " WHERE runs.trace_id = ? ORDER BY runs.dotted_order",
                            (trace_id,)).fetchall()
        if not rows:
            raise errors.NotFoundError(f"no trace with id {shown(trace_id, 300)}")
    return tree(database, rows, now, trace_id)
