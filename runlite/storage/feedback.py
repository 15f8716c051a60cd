"""Feedback on runs (LangSmith) and the ``feedback_stats`` computed from it.

``feedback_stats`` is ``{key: {n, avg, stdev, min, max, errors, values}}``: ``n`` counts the
feedback records of the key; ``avg``/``min``/``max`` are over numeric scores (bools count
as 0/1) and None when there is none; ``stdev`` is the sample standard deviation, None under
two scores; ``values`` counts string values (categorical labels); ``errors`` counts records
whose value is a dict with an ``"error"`` key (an evaluator that failed). Stats a run was
imported with are kept and shown under the computed ones (``stats_by_run``).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .. import errors
from .._ids import uuid7
from .._validation import check_json_value, check_name, check_optional_text, dumps, from_us, now_us, shown, stored_json

SOURCE_TYPES = ("api", "model", "app", "evaluator")


def create(conn, run_id: str, key: str, *, score=None, value=None, comment=None, source=None,
           correction=None, feedback_id=None) -> str:
    """Insert one feedback record inside the caller's transaction; returns its id."""
    key, score, value, comment, source, correction, feedback_id = checked(
        key, score=score, value=value, comment=comment, source=source, correction=correction, feedback_id=feedback_id)
    trace_id = conn.execute("SELECT trace_id FROM runs WHERE id = ?", (run_id,)).get
    now = now_us()
    conn.execute(
        "INSERT INTO feedback (id, run_id, trace_id, key, score, value, comment, correction, source, created,"
        " modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (feedback_id, run_id, trace_id, key, score, None if value is None else dumps(value), comment,
         None if correction is None else dumps(correction), None if source is None else dumps(source), now, now),
    )
    return feedback_id


def checked(key: Any, *, score=None, value=None, comment=None, source=None, correction=None,
            feedback_id=None) -> tuple:
    """A feedback record's values as `create` stores them, ``(key, score, value, comment, source,
    correction, feedback_id)`` (a new id when none is given), checked without writing anything:
    a request holding runs and feedback is checked whole before any of it is kept."""
    check_name(key, "feedback key")
    if score is not None:
        if isinstance(score, bool):
            score = float(score)
        elif not isinstance(score, (int, float)) or not math.isfinite(score):
            raise errors.ValidationError(f"feedback score must be a finite number or bool, got {shown(score)}")
    value = check_json_value(value, "feedback value")
    check_optional_text(comment, "comment")
    if isinstance(source, str):
        source = {"type": source}
    if source is not None:
        source = check_json_value(source, "feedback source")
        if not isinstance(source, dict) or source.get("type", "api") not in SOURCE_TYPES:
            raise errors.ValidationError(
                f"feedback source must be a dict with type in {SOURCE_TYPES} (or a type name), got {shown(source)}")
    correction = check_json_value(correction, "correction")
    if feedback_id is None:
        feedback_id = uuid7()
    else:
        check_name(feedback_id, "feedback_id")
    return key, score, value, comment, source, correction, feedback_id


def _loads(text):
    return None if text is None else stored_json(text)


def listing(conn, run_id: str) -> list[dict]:
    """Every feedback record of a run, oldest first."""
    rows = conn.execute(
        "SELECT id, run_id, key, score, value, comment, correction, source, created FROM feedback WHERE run_id = ?"
        " ORDER BY created, id", (run_id,))
    return [_record(row) for row in rows]


# The filters of `search`, each on one bound JSON array of its values.
_WHERE = {
    "run_ids": "run_id IN (SELECT value FROM json_each(?))",
    "keys": "key IN (SELECT value FROM json_each(?))",
    # a record whose source names no type was given through the API
    "sources": "coalesce(CASE WHEN json_valid(source) THEN CASE WHEN json_type(source, '$.type') = 'text'"
               " THEN nullif(json_extract(source, '$.type'), '') END END, 'api') IN (SELECT value FROM json_each(?))",
}


def search(conn, *, run_ids: list[str] | None = None, keys: list[str] | None = None,
           sources: list[str] | None = None, limit: int | None = None, offset: int = 0) -> list[dict]:
    """Feedback records of any run, oldest first, each with its ``trace_id``: of the runs
    ``run_ids``, of the keys ``keys``, from the source types ``sources`` (``SOURCE_TYPES``;
    None: any); ``limit`` records at most after skipping ``offset``. The lists and the page are
    checked by the caller, as every listing's are (``search.id_list``, ``search.check_limit``)."""
    given = {"run_ids": run_ids, "keys": keys, "sources": sources}
    for source in sources or ():
        if source not in SOURCE_TYPES:
            raise errors.ValidationError(f"feedback_source_type {shown(source)} is not one of {', '.join(SOURCE_TYPES)}")
    clauses, params = [], []
    for name, values in given.items():
        if values is None:
            continue
        if name == "keys" and len(values) == 1:  # one key's feedback: read in order from its index, not sorted
            clauses.append("key = ?")
            params.append(values[0])
        else:
            clauses.append(_WHERE[name])
            params.append(dumps(values, name))
    rows = conn.execute(
        "SELECT id, run_id, key, score, value, comment, correction, source, created, trace_id FROM feedback"
        + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY created, id LIMIT ? OFFSET ?",
        (*params, -1 if limit is None else limit, offset or 0))
    return [{**_record(row[:-1]), "trace_id": row[-1]} for row in rows]


def find(conn, feedback_id: str) -> dict | None:
    """The feedback record of this id (as ``listing`` gives them), None when there is none."""
    row = conn.execute("SELECT id, run_id, key, score, value, comment, correction, source, created FROM feedback"
                       " WHERE id = ?", (feedback_id,)).fetchone()
    return None if row is None else _record(row)


def _record(row: tuple) -> dict:
    i, run_id, k, s, v, c, cor, src, t = row
    return {"id": i, "run_id": run_id, "key": k, "score": s, "value": _loads(v), "comment": c,
            "correction": _loads(cor), "feedback_source": _loads(src), "created_at": from_us(t)}


def stats(rows: list[tuple[str, float | None, str | None]]) -> dict:
    """``feedback_stats`` from (key, score, value JSON) rows."""
    by_key: dict[str, list] = {}
    for key, score, value in rows:
        by_key.setdefault(key, []).append((score, _loads(value)))
    out = {}
    for key, items in by_key.items():
        scores = [s for s, _ in items if s is not None]
        labels: dict[str, int] = {}
        for _, v in items:
            if isinstance(v, str):
                labels[v] = labels.get(v, 0) + 1
        out[key] = {
            "n": len(items),
            "avg": statistics.fmean(scores) if scores else None,
            "stdev": statistics.stdev(scores) if len(scores) >= 2 else None,
            "min": min(scores) if scores else None,
            "max": max(scores) if scores else None,
            "errors": sum(1 for _, v in items if isinstance(v, dict) and "error" in v),
            "values": labels,
        }
    return out


def stats_by_run(conn, runs: list[tuple[str, str | None]], trace_id: str | None = None) -> dict[str, dict]:
    """``feedback_stats`` of each of ``runs`` (``(run id, ls_fields cell)`` pairs) that has any: the
    one computation behind every read path. Stats computed from the run's feedback records are
    laid over the stats it was imported with (kept in ``ls_fields``): a computed key wins. With
    ``trace_id`` (``runs`` being that trace's runs, or those of them with an ``ls_fields`` cell)
    feedback is read in one query, else 500 runs a query."""
    out: dict[str, list] = {}
    if trace_id is not None:
        found = conn.execute("SELECT run_id, key, score, value FROM feedback WHERE trace_id = ? ORDER BY created, id",
                             (trace_id,))
    elif conn.execute("SELECT NOT EXISTS (SELECT 1 FROM feedback)").get:
        found = []
    else:
        ids = [run_id for run_id, _ in runs]
        found = [row for start in range(0, len(ids), 500) for row in conn.execute(
            "SELECT run_id, key, score, value FROM feedback WHERE run_id IN (%s) ORDER BY created, id"
            % ", ".join("?" * len(ids[start:start + 500])), ids[start:start + 500])]
    for run_id, key, score, value in found:
        out.setdefault(run_id, []).append((key, score, value))
    computed = {run_id: stats(rows) for run_id, rows in out.items()}
    for run_id, kept in runs:
        if kept is not None and '"feedback_stats"' in kept:  # imported runs only pay for the decode
            kept = stored_json(kept, f"the kept LangSmith fields of run {run_id}")
            imported = kept.get("feedback_stats") if isinstance(kept, dict) else None
            if isinstance(imported, dict) and imported:
                computed[run_id] = {**imported, **computed.get(run_id, {})}
    return computed
