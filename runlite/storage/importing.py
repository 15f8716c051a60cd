"""Importing runs given as dicts in the ``RunRecord.to_dict()`` shape (LangSmith's Run
interface plus runlite's fields), so records round-trip between stores and from exports.

Saved files cannot come this way (a dict names them, it does not hold their bytes);
``feedback_stats`` and ``child_run_ids`` are derived, not imported.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from . import schema
from .._ids import dotted_ids, is_uuid
from ..records import LS_KEPT, RunRecord
from .._validation import check_choice, check_folder, check_json_value, check_metadata, check_name, check_optional_text, check_tags, dumps, dumps_lenient, now_us


def _us(value) -> int | None:
    return None if value is None else round(value.timestamp() * 1_000_000)


def _flatten(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise errors.ValidationError(f"each run to import must be a dict, got {type(item).__name__}")
        out.append(item)
        out.extend(_flatten(list(item.get("child_runs") or ())))
    return out


def _record(data: dict) -> RunRecord:
    try:
        record = RunRecord.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise errors.ValidationError(f"run dict {str(data.get('id'))!r} is not in the to_dict() shape: {exc}") from None
    if not is_uuid(record.id):
        raise errors.ValidationError(f"run id {record.id!r} must be a lowercase UUID string")
    check_name(record.name, "run name")
    check_choice(record.status, "status", schema.RUN_STATUSES)
    check_folder(record.folder)
    check_metadata(record.metadata)
    check_tags(list(record.tags))
    check_optional_text(record.error, "error")
    ids = dotted_ids(record.dotted_order)
    if not ids or ids[-1] != record.id or ids[0] != record.trace_id:
        raise errors.ValidationError(f"run {record.id}: dotted_order must end with its id and start with its trace_id")
    if (record.parent_run_id is None) != (len(ids) == 1) or (record.parent_run_id and ids[-2] != record.parent_run_id):
        raise errors.ValidationError(f"run {record.id}: parent_run_id does not match dotted_order")
    return record


def import_runs(conn, items: list[dict]) -> list[str]:
    """Insert runs (children given in ``child_runs`` too) inside the caller's transaction."""
    records = sorted((_record(d) for d in _flatten(list(items))), key=lambda r: r.dotted_order)
    now = now_us()
    for rec in records:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (rec.id,)).fetchone():
            raise errors.ValidationError(f"a run with id {rec.id} already exists; nothing was imported")
        for path in _ancestors(rec.folder):
            conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES (?, ?)", (path, now))
        kept = {k: check_json_value(getattr(rec, k), k) for k in LS_KEPT if getattr(rec, k) is not None}
        conn.execute(
            "INSERT INTO runs (id, name, kind, run_type, status, folder, description, metadata, tags,"
            " parent_run_id, trace_id, dotted_order, created, started, ended, modified, inputs, outputs, error,"
            " extra, serialized, session_id, reference_example_id, prompt_tokens, completion_tokens, total_tokens,"
            " prompt_cost, completion_cost, total_cost, first_token_time, host, pid, heartbeat, heartbeat_timeout,"
            " system, ls_fields) VALUES (" + ", ".join("?" * 36) + ")",
            (rec.id, rec.name, rec.kind, rec.run_type, rec.status, rec.folder, rec.description,
             dumps(rec.metadata), dumps(list(rec.tags)), rec.parent_run_id, rec.trace_id, rec.dotted_order,
             _us(rec.created) or _us(rec.started) or now, _us(rec.started), _us(rec.ended),
             _us(rec.modified) or now, None if rec.inputs is None else dumps_lenient(rec.inputs),
             None if rec.outputs is None else dumps_lenient(rec.outputs), rec.error,
             None if rec.extra is None else dumps_lenient(rec.extra),
             None if rec.serialized is None else dumps_lenient(rec.serialized), rec.session_id,
             rec.reference_example_id, rec.prompt_tokens, rec.completion_tokens, rec.total_tokens,
             rec.prompt_cost, rec.completion_cost, rec.total_cost, _us(rec.first_token_time), rec.host, rec.pid,
             _us(rec.heartbeat), rec.heartbeat_timeout, None if rec.system is None else dumps_lenient(rec.system),
             dumps(kept) if kept else None),
        )
        for seq, event in enumerate(rec.events):
            _import_event(conn, rec.id, seq, event, now)
    return [r.id for r in records]


def _ancestors(folder: str) -> list[str]:
    from .._validation import folder_ancestors

    return folder_ancestors(folder)


def _import_event(conn, run_id: str, seq: int, event: Any, now: int) -> None:
    from .._validation import to_us

    if not isinstance(event, dict):
        raise errors.ValidationError(f"events of run {run_id} must be dicts, got {type(event).__name__}")
    time_us = to_us(event["time"]) if event.get("time") is not None else now
    kwargs = event.get("kwargs")
    conn.execute(
        "INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, event.get("seq", seq), time_us, event.get("level"), event.get("name"), event.get("message"),
         None if kwargs is None else dumps_lenient(kwargs)),
    )
