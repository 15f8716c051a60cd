"""Feedback on runs (LangSmith) and the ``feedback_stats`` computed from it.

``feedback_stats`` is ``{key: {n, avg, stdev, min, max, errors, values}}``: ``n`` counts the
feedback records of the key; ``avg``/``min``/``max`` are over numeric scores (bools count
as 0/1) and None when there is none; ``stdev`` is the sample standard deviation, None under
two scores; ``values`` counts string values (categorical labels); ``errors`` counts records
whose value is a dict with an ``"error"`` key (an evaluator that failed).
"""

from __future__ import annotations

import math
import statistics

from .. import errors
from .._ids import uuid7
from .._validation import check_json_value, check_name, check_optional_text, dumps, from_us, now_us, shown, stored_json

SOURCE_TYPES = ("api", "model", "app", "evaluator")


def create(conn, run_id: str, key: str, *, score=None, value=None, comment=None, source=None,
           correction=None, feedback_id=None) -> str:
    """Insert one feedback record inside the caller's transaction; returns its id."""
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
    trace_id = conn.execute("SELECT trace_id FROM runs WHERE id = ?", (run_id,)).get
    now = now_us()
    conn.execute(
        "INSERT INTO feedback (id, run_id, trace_id, key, score, value, comment, correction, source, created,"
        " modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (feedback_id, run_id, trace_id, key, score, None if value is None else dumps(value), comment,
         None if correction is None else dumps(correction), None if source is None else dumps(source), now, now),
    )
    return feedback_id


def _loads(text):
    return None if text is None else stored_json(text)


def listing(conn, run_id: str) -> list[dict]:
    """Every feedback record of a run, oldest first."""
    rows = conn.execute(
        "SELECT id, key, score, value, comment, correction, source, created FROM feedback WHERE run_id = ?"
        " ORDER BY created, id", (run_id,))
    return [{"id": i, "run_id": run_id, "key": k, "score": s, "value": _loads(v), "comment": c,
             "correction": _loads(cor), "feedback_source": _loads(src), "created_at": from_us(t)}
            for i, k, s, v, c, cor, src, t in rows]


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


def stats_for(conn, run_ids: list[str]) -> dict[str, dict]:
    """``feedback_stats`` of each run that has feedback."""
    out: dict[str, list] = {}
    if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM feedback)").get:
        return {}
    for start in range(0, len(run_ids), 500):
        part = run_ids[start:start + 500]
        for run_id, key, score, value in conn.execute(
            "SELECT run_id, key, score, value FROM feedback WHERE run_id IN (%s) ORDER BY created, id"
            % ", ".join("?" * len(part)), part,
        ):
            out.setdefault(run_id, []).append((key, score, value))
    return {run_id: stats(rows) for run_id, rows in out.items()}


def stats_for_trace(conn, trace_id: str) -> dict[str, dict]:
    """``feedback_stats`` of each run of a trace that has feedback."""
    out: dict[str, list] = {}
    for run_id, key, score, value in conn.execute(
            "SELECT run_id, key, score, value FROM feedback WHERE trace_id = ? ORDER BY created, id", (trace_id,)):
        out.setdefault(run_id, []).append((key, score, value))
    return {run_id: stats(rows) for run_id, rows in out.items()}
