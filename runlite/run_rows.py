"""Rows of ``runs`` as records: the SELECTs that read runs and the row -> record code."""

from __future__ import annotations

import json

from . import feedback as feedback_mod
from .records import RUN_COLUMNS, RunRecord, lazy_run
from .runinfo import effective_status

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
    return [record(row, now, child_run_ids=tuple(children.get(row[0], ())), attachments=attached.get(row[0], {}))
            for row in rows]


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
    kids: dict[str, list] = {}
    status_col, empty = IDX["status"], ()
    for row in reversed(rows):
        run_id = row[id_col]
        children = kids.pop(run_id, empty)
        status = row[status_col]
        if status == "running":
            status = effective_status(status, row[IDX["host"]], row[IDX["pid"]], row[IDX["heartbeat"]],
                                      row[IDX["heartbeat_timeout"]], now)
        rec = lazy_run(row, status=status, child_runs=tuple(r for _, r in reversed(children)),
                       child_run_ids=tuple(i for i, _ in reversed(children)),
                       feedback_stats=feedback.get(run_id), attachments=attached.get(run_id))
        kids.setdefault(row[parent_col], []).append((run_id, rec))
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


