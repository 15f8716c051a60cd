"""Importing runs given as dicts in the ``RunRecord.to_dict()`` shape (LangSmith's Run
interface plus runlite's fields), so records round-trip between stores and from exports.

Saved files cannot come this way (a dict names them, it does not hold their bytes);
``feedback_stats`` and ``child_run_ids`` are derived, not imported.
"""

from __future__ import annotations

import math
from typing import Any

from .. import errors
from .._ids import dotted_ids, is_uuid
from .._validation import (
    INT64_MAX, INT64_MIN, check_choice, check_folder, check_json_value, check_metadata, check_name,
    check_optional_text, check_tags, check_text, dumps, dumps_lenient, now_us, shown, to_us,
)
from ..records import LS_KEPT, RunRecord
from . import runs as runs_mod
from . import schema


def _us(value) -> int | None:
    return None if value is None else round(value.timestamp() * 1_000_000)


def _flatten(items: list[dict]) -> list[dict]:
    """Every run dict, each followed by its ``child_runs`` (depth first), with an explicit
    stack: a trace may be thousands of spans deep. A dict met twice (a cycle) is refused."""
    out: list[dict] = []
    seen: set[int] = set()
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            raise errors.ValidationError(f"each run to import must be a dict, got {type(item).__name__}")
        if id(item) in seen:
            raise errors.ValidationError(f"run dict {shown(item.get('id'))} is given twice (child_runs holds a cycle)")
        seen.add(id(item))
        out.append(item)
        children = item.get("child_runs") or ()
        if not isinstance(children, (list, tuple)):
            raise errors.ValidationError(f"child_runs of run dict {shown(item.get('id'))} must be a list, "
                                         f"got {type(children).__name__}")
        stack.extend(reversed(children))
    return out


def _record(data: dict) -> RunRecord:
    try:  # children are records of their own here: from_dict of this one alone
        record = RunRecord.from_dict({k: v for k, v in data.items() if k != "child_runs"})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise errors.ValidationError(f"run dict {shown(data.get('id'))} is not in the to_dict() shape: "
                                     f"{str(exc)[:300]}") from None
    if not is_uuid(record.id):
        raise errors.ValidationError(f"run id {shown(record.id)} must be a lowercase UUID string")
    check_name(record.name, "run name")
    check_choice(record.status, "status", schema.RUN_STATUSES)
    check_folder(record.folder)
    check_metadata(record.metadata)
    check_tags(list(record.tags))
    check_optional_text(record.error, "error")
    check_name(record.kind, "kind")
    if record.run_type is not None:
        check_name(record.run_type, "run_type")
    for column in _TEXT_COLUMNS:
        check_optional_text(getattr(record, column), f"{column} of run {record.id}")
    for column in _NUMBER_COLUMNS:
        _check_number(getattr(record, column), f"{column} of run {record.id}")
    ids = dotted_ids(check_text(record.dotted_order, "dotted_order", max_len=1 << 24))
    if not ids or ids[-1] != record.id or ids[0] != record.trace_id:
        raise errors.ValidationError(f"run {record.id}: dotted_order must end with its id and start with its trace_id")
    if (record.parent_run_id is None) != (len(ids) == 1) or (record.parent_run_id and ids[-2] != record.parent_run_id):
        raise errors.ValidationError(f"run {record.id}: parent_run_id does not match dotted_order")
    return record


_TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost",
                  "total_cost")
# Columns bound as they are given: each must be what SQLite can store, checked before anything is written.
_TEXT_COLUMNS = ("description", "session_id", "session_name", "reference_example_id", "host")
_NUMBER_COLUMNS = _TOKEN_COLUMNS + ("pid", "heartbeat_timeout")


def _check_number(value: Any, what: str) -> None:
    """None, or a number SQLite stores as it is: a 64-bit int or a finite float."""
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool):
        ok = INT64_MIN <= value <= INT64_MAX
    else:
        ok = isinstance(value, float) and math.isfinite(value)
    if not ok:
        raise errors.ValidationError(f"{what} must be None, a 64-bit int or a finite float; "
                                     f"got {type(value).__name__} {shown(value)}")


def _json(value: Any) -> str | None:
    return None if value is None else dumps_lenient(value)


def import_runs(conn, items: list[dict]) -> list[str]:
    """Insert runs (children given in ``child_runs`` too) inside the caller's transaction."""
    records = sorted((_record(d) for d in _flatten(list(items))), key=lambda r: r.dotted_order)
    now = now_us()
    for rec in records:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (rec.id,)).fetchone():
            raise errors.ValidationError(f"a run with id {rec.id} already exists; nothing was imported")
        runs_mod.ensure_folder(conn, rec.folder, now)
        kept = {k: check_json_value(getattr(rec, k), k) for k in LS_KEPT if getattr(rec, k) is not None}
        runs_mod.insert(conn, {
            "id": rec.id, "name": rec.name, "kind": rec.kind, "run_type": rec.run_type, "status": rec.status,
            "folder": rec.folder, "description": rec.description, "metadata": dumps(rec.metadata),
            "tags": dumps(list(rec.tags)), "parent_run_id": rec.parent_run_id, "trace_id": rec.trace_id,
            "dotted_order": rec.dotted_order, "created": _us(rec.created) or _us(rec.started) or now,
            "started": _us(rec.started), "ended": _us(rec.ended), "modified": _us(rec.modified) or now,
            **{c: _json(getattr(rec, c)) for c in ("inputs", "outputs", "extra", "serialized", "system")},
            "error": rec.error, "session_id": rec.session_id,
            "session_name": rec.session_name, "reference_example_id": rec.reference_example_id,
            **{c: getattr(rec, c) for c in _TOKEN_COLUMNS}, "first_token_time": _us(rec.first_token_time),
            "host": rec.host, "pid": rec.pid, "heartbeat": _us(rec.heartbeat),
            "heartbeat_timeout": rec.heartbeat_timeout, "ls_fields": dumps(kept) if kept else None,
        })
        for seq, event in enumerate(rec.events):
            _import_event(conn, rec.id, seq, event, now)
    return [r.id for r in records]


def _import_event(conn, run_id: str, seq: int, event: Any, now: int) -> None:
    if not isinstance(event, dict):
        raise errors.ValidationError(f"events of run {run_id} must be dicts, got {type(event).__name__}")
    time_us = to_us(event["time"]) if event.get("time") is not None else now
    kwargs = event.get("kwargs")
    seq = event.get("seq", seq)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= INT64_MAX:
        raise errors.ValidationError(f"seq of an event of run {run_id} must be an int >= 0, got {shown(seq)}")
    for key in ("level", "name", "message"):
        check_optional_text(event.get(key), f"{key} of an event of run {run_id}")
    conn.execute(
        "INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, seq, time_us, event.get("level"), event.get("name"), event.get("message"),
         None if kwargs is None else dumps_lenient(kwargs)),
    )
