"""The ``runs`` table: creating, changing and resolving runs, and reading rows as records.

Every statement that writes a run row is generated here from one column list
(``records.RUN_COLUMNS``), so a new column is added in one place.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Iterable

from .. import errors
from . import feedback as feedback_mod
from .schema import FINAL_STATUSES
from .._host import THIS_HOST, effective_status, system_info
from .._ids import dotted_segment, is_uuid, uuid7
from .._validation import dumps, folder_ancestors, now_us, shown, stored_json
from ..records import RUN_COLUMNS, RunRecord, lazy_run



def insert_sql(columns: Iterable[str], *, update: Iterable[str] = (), constants: dict | None = None) -> str:
    """``INSERT INTO runs`` of ``columns`` (bound in that order), upserting ``update`` on a
    known id. ``constants`` maps further columns to SQL literals of runlite's own (never user
    text). Column names must be ``RUN_COLUMNS``: identifiers come from that whitelist only."""
    columns, update, constants = list(columns), list(update), dict(constants or {})
    unknown = [c for c in (*columns, *update, *constants) if c not in RUN_COLUMNS]
    if unknown:
        raise ValueError(f"not columns of runs: {unknown}")  # a programming error, never user input
    names = columns + list(constants)
    sql = (f"INSERT INTO runs ({', '.join(names)}) VALUES ("
           + ", ".join(["?"] * len(columns) + list(constants.values())) + ")")
    if update:
        sql += " ON CONFLICT(id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
    return sql


@functools.lru_cache(maxsize=64)
def _insert_of(columns: tuple[str, ...]) -> str:
    return insert_sql(columns)  # a few shapes of row, each checked and built once


def insert(conn, values: dict[str, Any]) -> None:
    """Insert one run row given as ``{column: value}``."""
    conn.execute(_insert_of(tuple(values)), tuple(values.values()))


def ensure_folder(conn, folder: str, now: int) -> None:
    """Create ``folder`` and its ancestors when missing."""
    for path in folder_ancestors(folder):
        conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES (?, ?)", (path, now))


def create(conn, *, name: str, folder: str, running: bool, parent_id: str | None, values: dict) -> dict:
    """Insert a new run (an experiment, or a span of its parent's trace when ``run_type`` is
    given) inside the caller's transaction; returns its identity. ``values`` holds the other
    checked columns (description, metadata, tags, run_type, inputs, heartbeat_timeout)."""
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
    run_id = uuid7(start)
    segment = dotted_segment(start, run_id)
    if parent_id is None:
        trace_id, dotted_order = run_id, segment
    else:
        dotted_order = f"{parent_order}.{segment}"
    ensure_folder(conn, folder, now)
    live = {"host": THIS_HOST, "pid": os.getpid(), "heartbeat": now, "system": dumps(system_info(), "system")}
    insert(conn, {
        "id": run_id, "name": name, "kind": "trace" if values.get("run_type") else "experiment",
        "status": "running" if running else "created", "folder": folder, "parent_run_id": parent_id,
        "trace_id": trace_id, "dotted_order": dotted_order, "created": start,
        "started": start if running else None, "modified": now, **values, **(live if running else {}),
    })
    return {"id": run_id, "name": name, "status": "running" if running else "created",
            "started": start if running else None, "trace_id": trace_id,
            "dotted_order": dotted_order, "parent_run_id": parent_id, "folder": folder}


def start_created(conn, run_id: str) -> dict:
    """Move a ``created`` run to ``running`` on this host (``reconnect``); returns its identity."""
    row = conn.execute("SELECT name, status, trace_id, dotted_order, parent_run_id, folder FROM runs"
                       " WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no run with id {run_id!r}")
    if row[1] != "created":
        raise errors.RunStateError(
            f"run {row[0]!r} ({run_id}) is {row[1]}; only a 'created' run can be reconnected")
    now = now_us()
    conn.execute("UPDATE runs SET status = 'running', started = ?, modified = ?, host = ?, pid = ?,"
                 " heartbeat = ?, system = ? WHERE id = ?",
                 (now, now, THIS_HOST, os.getpid(), now, dumps(system_info()), run_id))
    return {"id": run_id, "name": row[0], "status": "running", "started": now, "trace_id": row[2],
            "dotted_order": row[3], "parent_run_id": row[4], "folder": row[5]}


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


_FOLDER_FIELDS = ("metadata", "tags", "description")


def set_folder_details(conn, path: str, fields: dict[str, Any]) -> None:
    """Create ``path`` when missing and set the given (already encoded) folder fields."""
    ensure_folder(conn, path, now_us())
    for column in _FOLDER_FIELDS:  # column names come from this whitelist only
        if column in fields:
            conn.execute(f"UPDATE folders SET {column} = ? WHERE path = ?", (fields[column], path))


def finish(conn, run_id: str, name: str, status: str, changes: dict[str, Any]) -> None:
    """Store a final status with its end time and ``changes`` (``error``/``outputs``)."""
    stored = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).get
    if stored in FINAL_STATUSES:
        raise errors.RunStateError(f"run {name!r} ({run_id}) is already {stored}; its status cannot change")
    now = now_us()
    values = {"status": status, "ended": now, "modified": now}
    values.update((c, changes[c]) for c in ("error", "outputs") if c in changes)
    conn.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
                 (*values.values(), run_id))


def terminate(conn, run_id: str, reason: str) -> None:
    """End a running run as ``terminated`` (an alert with ``trigger_abort`` went critical)."""
    now = now_us()
    conn.execute("UPDATE runs SET status = 'terminated', ended = ?, modified = ?, error = coalesce(error, ?)"
                 " WHERE id = ? AND status = 'running'", (now, now, reason, run_id))


def heartbeat(conn, run_ids: list[str], now: int) -> None:
    """Record that these running runs are alive."""
    conn.executemany("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'",
                     [(now, run_id) for run_id in run_ids])


def resolve(conn, id_or_name: str) -> str:
    """The id of the run with this id or unique name."""
    if not isinstance(id_or_name, str) or not id_or_name:
        raise errors.ValidationError(f"a run id or name must be a non-empty str, got {shown(id_or_name)}")
    if is_uuid(id_or_name) and conn.execute("SELECT 1 FROM runs WHERE id = ?", (id_or_name,)).fetchone():
        return id_or_name
    ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE name = ? LIMIT 11", (id_or_name,))]
    if not ids:
        raise errors.NotFoundError(f"no run with id or name {shown(id_or_name, 300)}")
    if len(ids) > 1:
        listed = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise errors.AmbiguousNameError(
            f"{len(ids) if len(ids) <= 10 else 'more than 10'} runs are named {shown(id_or_name, 300)} "
            f"({listed}); use a run id")
    return ids[0]


def existing(conn, run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` that are in the file."""
    return {r[0] for r in _per_run(conn, list(run_ids), "SELECT id FROM runs WHERE id IN (%s)")}


def folder(conn, path: str) -> tuple | None:
    """``(path, description, tags, metadata, created)`` of a folder, or None."""
    return conn.execute("SELECT path, description, tags, metadata, created FROM folders WHERE path = ?",
                        (path,)).fetchone()


def folders(conn) -> list[str]:
    """Every folder path, sorted."""
    return [r[0] for r in conn.execute("SELECT path FROM folders ORDER BY path")]

SELECT_RUN = (
    "SELECT " + ", ".join(f"runs.{c}" for c in RUN_COLUMNS) +
    ", (SELECT json_group_array(id) FROM (SELECT c.id FROM runs AS c"
    " WHERE c.parent_run_id = runs.id ORDER BY c.dotted_order))"
    ", (SELECT json_group_object(name, json_array(mime_type, size)) FROM attachments"
    " WHERE attachments.run_id = runs.id) FROM runs"
)
# Whole trees: child ids come from the rows themselves and attachments from one query,
# not subqueries per row.
SELECT_TREE = "SELECT " + ", ".join(f"runs.{c}" for c in RUN_COLUMNS) + ", NULL, '{}' FROM runs"
N = len(RUN_COLUMNS)
IDX = {c: i for i, c in enumerate(RUN_COLUMNS)}


def _per_run(conn, ids: list[str], sql: str) -> list[tuple]:
    """Rows of ``sql`` (with one ``IN (%s)``) for many run ids, 500 at a time."""
    out: list[tuple] = []
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        out.extend(conn.execute(sql % ", ".join("?" * len(part)), part))
    return out


def records(conn, rows: list[tuple], now: int) -> list[RunRecord]:
    """Records of ``SELECT_TREE``-shaped rows, with child ids and attachments fetched in batches."""
    ids = [row[0] for row in rows]
    children: dict[str, list] = {}
    for parent, child in _per_run(conn, ids, "SELECT parent_run_id, id FROM runs WHERE parent_run_id IN (%s)"
                                              " ORDER BY dotted_order"):
        children.setdefault(parent, []).append(child)
    attached: dict[str, dict] = {}
    for run_id, name, mime, size in _per_run(
            conn, ids, "SELECT run_id, name, mime_type, size FROM attachments WHERE run_id IN (%s)"):
        attached.setdefault(run_id, {})[name] = (mime, size)
    status_col = IDX["status"]
    out = []
    for row in rows:
        run_id = row[0]
        status = row[status_col]
        if status == "running":
            status = effective_status(status, row[IDX["host"]], row[IDX["pid"]], row[IDX["heartbeat"]],
                                      row[IDX["heartbeat_timeout"]], now)
        kids = children.get(run_id)
        out.append(lazy_run(row, status=status, child_run_ids=tuple(kids) if kids else (),
                            attachments=attached.get(run_id) if attached else None))
    return out


def tree(conn, rows: list[tuple], now: int, trace_id: str | None = None) -> RunRecord:
    """The first row's record with the others nested as ``child_runs`` (rows in dotted_order).

    Built bottom-up, so every record is made once with its children already known. With
    ``trace_id`` (the rows are the whole trace), attachments and feedback come from one query
    each instead of batches of ids.
    """
    parent_col, id_col = IDX["parent_run_id"], IDX["id"]
    ids = [row[id_col] for row in rows]
    attached: dict[str, dict] = {}
    if trace_id is not None:
        feedback = feedback_mod.stats_for_trace(conn, trace_id)
        found = conn.execute("SELECT a.run_id, a.name, a.mime_type, a.size FROM attachments AS a"
                             " JOIN runs ON runs.id = a.run_id WHERE runs.trace_id = ?", (trace_id,))
    else:
        feedback = feedback_mod.stats_for(conn, ids)
        found = _per_run(conn, ids, "SELECT run_id, name, mime_type, size FROM attachments WHERE run_id IN (%s)")
    for run_id, name, mime, size in found:
        attached.setdefault(run_id, {})[name] = (mime, size)
    # Children collected per parent in two parallel lists (ids, records), built in reverse
    # order; leaves share the empty tuple: few allocations per row keep this loop cheap.
    kid_ids: dict[str, list] = {}
    kid_recs: dict[str, list] = {}
    status_col, host_col, pid_col = IDX["status"], IDX["host"], IDX["pid"]
    beat_col, timeout_col = IDX["heartbeat"], IDX["heartbeat_timeout"]
    no_feedback = not feedback
    for row in reversed(rows):
        run_id = row[id_col]
        ids = kid_ids.pop(run_id, None)
        if ids is None:
            child_ids = child_recs = ()
        else:
            ids.reverse()
            recs = kid_recs.pop(run_id)
            recs.reverse()
            child_ids, child_recs = tuple(ids), tuple(recs)
        status = row[status_col]
        if status == "running":
            status = effective_status(status, row[host_col], row[pid_col], row[beat_col], row[timeout_col], now)
        rec = lazy_run(row, status=status, child_runs=child_recs, child_run_ids=child_ids,
                       feedback_stats=None if no_feedback else feedback.get(run_id),
                       attachments=attached.get(run_id) if attached else None)
        parent = row[parent_col]
        siblings = kid_ids.get(parent)
        if siblings is None:
            kid_ids[parent] = [run_id]
            kid_recs[parent] = [rec]
        else:
            siblings.append(run_id)
            kid_recs[parent].append(rec)
    return rec


def record(row: tuple, now: int, *, child_runs: tuple = (), child_run_ids: tuple | None = None,
            feedback_stats: dict | None = None, attachments: dict | None = None) -> RunRecord:
    """The (lazy) record of one ``SELECT_RUN`` row, with its effective status."""
    status = row[IDX["status"]]
    if status == "running":
        status = effective_status(status, row[IDX["host"]], row[IDX["pid"]], row[IDX["heartbeat"]],
                                  row[IDX["heartbeat_timeout"]], now)
    if child_run_ids is None:
        child_run_ids = tuple(json.loads(row[N])) if row[N] and row[N] != "[]" else ()
    attached = attachments if attachments is not None else (
        {k: tuple(v) for k, v in json.loads(row[N + 1]).items()} if row[N + 1] != "{}" else {})
    return lazy_run(row[:N], status=status, child_run_ids=child_run_ids, attachments=attached,
                    child_runs=child_runs, feedback_stats=feedback_stats)




def read_one(conn, run_id: str, now: int, *, with_feedback: bool = False) -> RunRecord:
    """The record of one run (child ids and attachments included)."""
    row = conn.execute(SELECT_RUN + " WHERE runs.id = ?", (run_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no run with id {run_id!r}")
    stats = feedback_mod.stats_for(conn, [run_id]).get(run_id) if with_feedback else None
    return record(row, now, feedback_stats=stats)


def read_subtree(conn, run_id: str, now: int) -> RunRecord:
    """A run with its descendants nested as ``child_runs`` (one range scan of its trace)."""
    row = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"no run with id {run_id!r}")
    trace_id, order = row
    rows = conn.execute(SELECT_TREE + " WHERE runs.trace_id = ? AND (runs.id = ? OR (runs.dotted_order > ?"
                        " AND runs.dotted_order < ?)) ORDER BY runs.dotted_order",
                        (trace_id, run_id, order + ".", order + "/")).fetchall()
    return tree(conn, rows, now)


def read_trace(conn, trace_id: str, now: int) -> RunRecord:
    """The root of a trace with the whole tree nested."""
    rows = conn.execute(SELECT_TREE + " WHERE runs.trace_id = ? ORDER BY runs.dotted_order", (trace_id,)).fetchall()
    if not rows:
        raise errors.NotFoundError(f"no trace with id {shown(trace_id, 300)}")
    return tree(conn, rows, now, trace_id)
