"""Rows of ``runs`` as records: the SELECTs that read runs and the row -> record code."""

from __future__ import annotations

import json

from . import feedback as feedback_mod
from typing import Any

from ..records import RUN_COLUMNS, RunRecord, lazy_run
from .._host import effective_status

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


def loader(db) -> Any:
    """A loader of a run's child ids and attachments, for records read in bulk (see lazy_run)."""

    def load(run_id: str) -> tuple[tuple, dict]:
        with db.read() as conn:
            child_ids = tuple(r[0] for r in conn.execute(
                "SELECT id FROM runs WHERE parent_run_id = ? ORDER BY dotted_order", (run_id,)))
            attached = {name: (mime, size) for name, mime, size in conn.execute(
                "SELECT name, mime_type, size FROM attachments WHERE run_id = ?", (run_id,))}
        return child_ids, attached

    return load


def lazy_records(rows: list[tuple], now: int, db) -> list[RunRecord]:
    """Records of ``SELECT_TREE``-shaped rows whose child ids and attachments load on first access."""
    status_col, load = IDX["status"], loader(db)
    out = []
    for row in rows:
        status = row[status_col]
        if status == "running":
            status = effective_status(status, row[IDX["host"]], row[IDX["pid"]], row[IDX["heartbeat"]],
                                      row[IDX["heartbeat_timeout"]], now)
        out.append(lazy_run(row, status=status, loader=load))
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


