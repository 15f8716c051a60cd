"""Importing runs given as dicts: the ``RunRecord.to_dict()`` shape (LangSmith's Run interface
plus runlite's fields), or as the LangSmith SDK makes them (``RunTree.dict()``,
``schemas.Run(...).dict()``, their JSON), so records round-trip between stores, from exports
and from LangSmith. What an SDK dict may give otherwise, and how it is read (``_normalized``):

- ``status`` in any case (``SUCCESS``, ``Error``, ``pending``) or runlite's word; ``run_status``
  (runlite's word) wins. With neither it is derived as LangSmith does: ``error`` set -> failed,
  ``end_time`` set -> completed, else running.
- times: datetimes, ISO-8601 strings (``Z`` or an offset; naive is UTC) or numbers: epoch
  milliseconds for LangSmith's ``start_time``/``end_time``/``first_token_time``, epoch seconds
  for runlite's ``created``/``started``/``endtime``/``modified``/``heartbeat`` and event times.
- ids as ``uuid.UUID``, costs as ``Decimal`` or numeric strings; ``extra["metadata"]`` is the
  metadata; ``session_name`` alone gets ``session_id = project_id(session_name)``.
- a root without ``dotted_order`` (or with ``schemas.Run``'s stand-in ``start_time.isoformat()
  + id``) gets the segment LangSmith's ``RunTree`` gives it, from start_time and id;
  ``trace_id`` defaults to the first id of the dotted order.
- a run in another's ``child_runs`` is that run's child, as in LangSmith's exports
  (``read_run(load_child_runs=True)``): its ``parent_run_id``, ``trace_id`` and ``dotted_order``
  (the parent's + its own segment) follow from its place when not given, and one given that
  contradicts its place is refused (``_placed``).
- ``events`` are stored as events (keys beyond name, time, kwargs, message, level, seq go into
  ``kwargs``); ``feedback_stats`` are kept and shown under the stats computed from feedback.

Saved files cannot come this way (a dict names them, it does not hold their bytes);
``child_run_ids``, ``direct_child_run_ids`` and ``parent_run_ids`` are derived, not imported.
"""

from __future__ import annotations

import decimal
import math
import re
import uuid
from collections.abc import Iterable
from typing import Any

from .. import errors
from .._ids import dotted_ids, dotted_segment, is_uuid, project_id
from .._validation import (
    INT64_MAX, INT64_MIN, check_folder, check_json_value, check_metadata, check_name,
    check_optional_text, check_tags, check_text, dumps, dumps_lenient, from_us, now_us, shown, to_us,
)
from ..records.runs import FROM_LANGSMITH, RunRecord
from . import runs as runs_mod
from . import schema


def _us(value) -> int | None:
    return None if value is None else round(value.timestamp() * 1_000_000)


def _flatten(items: list[dict]) -> list[tuple[dict, int | None]]:
    """Every run dict, each followed by its ``child_runs`` (depth first), with an explicit
    stack: a trace may be thousands of spans deep. Each comes with the place in the list of the
    dict it is nested in (None for one given at the top). A dict met twice (a cycle) is refused."""
    out: list[tuple[dict, int | None]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(item, None) for item in reversed(items)]
    while stack:
        item, nested_in = stack.pop()
        if not isinstance(item, dict):
            raise errors.ValidationError(f"each run to import must be a dict, got {type(item).__name__}")
        if id(item) in seen:
            raise errors.ValidationError(f"run dict {shown(item.get('id'))} is given twice (child_runs holds a cycle)")
        seen.add(id(item))
        out.append((item, nested_in))
        children = item.get("child_runs") or ()
        if not isinstance(children, (list, tuple)):
            raise errors.ValidationError(f"child_runs of run dict {shown(item.get('id'))} must be a list, "
                                         f"got {type(children).__name__}")
        stack.extend((child, len(out) - 1) for child in reversed(children))
    return out


_LS_TIMES = ("start_time", "end_time", "first_token_time")  # epoch ms in to_dict()
_ISO_TIMES = ("created", "started", "endtime", "modified", "heartbeat")  # ISO-8601 in to_dict()
_LISTS = ("tags", "events", "child_run_ids", "direct_child_run_ids")
_ID_KEYS = ("id", "trace_id", "parent_run_id", "session_id", "reference_example_id", "manifest_id")
_SEGMENT = re.compile(r"\d{8}T\d{12}Z")  # the time part of a dotted_order segment


def _epoch_ms(value: Any, what: str) -> float:
    """A LangSmith time as epoch milliseconds: a number is one already."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > 1e14:
            raise errors.ValidationError(f"{what} {shown(value)} is not a plausible epoch time in milliseconds")
        return value
    return to_us(value, what) / 1000


def _cost(value: Any, what: str) -> Any:
    """A cost given as a Decimal or numeric string, as a float (others are checked later)."""
    if isinstance(value, decimal.Decimal) or isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise errors.ValidationError(f"{what} must be a number, got {shown(value)}") from None
    return value


def _normalized(data: dict, nested_in: RunRecord | None) -> dict:
    """A run dict as the SDK may give it, in the ``to_dict()`` shape (see the module docstring);
    ``nested_in``: the run in whose ``child_runs`` it is."""
    out = {k: v for k, v in data.items() if k != "child_runs"}  # children are records of their own here
    run = shown(out.get("id"))
    for key in _ID_KEYS:
        if isinstance(out.get(key), uuid.UUID):
            out[key] = str(out[key])
    for key in _LISTS:  # read as sequences: text would become a tag (or an id) a character
        if out.get(key) is not None and not isinstance(out[key], (list, tuple)):
            raise errors.ValidationError(f"{key} of run {run} must be a list, got {shown(out[key])}")
    for key in _LS_TIMES:
        if out.get(key) is not None:
            out[key] = _epoch_ms(out[key], f"{key} of run {run}")
    for key in _ISO_TIMES:
        if out.get(key) is not None:
            out[key] = from_us(to_us(out[key], f"{key} of run {run}")).isoformat()
    for key in ("prompt_cost", "completion_cost", "total_cost"):
        out[key] = _cost(out.get(key), f"{key} of run {run}")
    status = out.get("status")
    if out.get("run_status") is None:
        if isinstance(status, str) and status.lower() in FROM_LANGSMITH:
            out["status"] = status.lower()
        elif status is None:  # as LangSmith derives it
            ended = out.get("end_time") is not None or out.get("endtime") is not None
            out["status"] = "failed" if out.get("error") else "completed" if ended else "running"
    extra = out.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise errors.ValidationError(f"extra of run {run} must be a dict, got {shown(extra)}")
    if isinstance(extra, dict) and "metadata" in extra and extra["metadata"] is None:
        out["extra"] = {k: v for k, v in extra.items() if k != "metadata"}
    if out.get("session_name") is not None and out.get("session_id") is None:
        out["session_id"] = project_id(check_name(out["session_name"], f"session_name of run {run}"))
    if nested_in is not None and isinstance(out.get("id"), str):  # a bad id is refused by _record
        _placed(out, nested_in)
    order = out.get("dotted_order")
    if out.get("parent_run_id") is None and isinstance(out.get("id"), str) and (
            not order or (isinstance(order, str) and _stand_in(order, out["id"]))):
        out["dotted_order"] = _own_segment(out)
    if not out.get("trace_id") and isinstance(out.get("dotted_order"), str):
        out["trace_id"] = (dotted_ids(out["dotted_order"]) or [None])[0]
    return out


def _placed(out: dict, parent: RunRecord) -> None:
    """Give a run nested in ``parent``'s ``child_runs`` the parent_run_id, trace_id and
    dotted_order of that place, where they are not given; refuse those given otherwise.
    ``schemas.Run`` fills in a lone run's own id as trace_id and ``start_time.isoformat() + id``
    as dotted_order: a nested run is never its own trace, so those are read as not given."""
    run = out["id"]
    where = f"run {shown(run)} is in the child_runs of run {parent.id}"
    if out.get("parent_run_id") is None:
        out["parent_run_id"] = parent.id
    elif out["parent_run_id"] != parent.id:
        raise errors.ValidationError(f"{where} but its parent_run_id is {shown(out['parent_run_id'])}; "
                                     "nothing was imported")
    if not out.get("trace_id") or out["trace_id"] == run:
        out["trace_id"] = parent.trace_id
    elif out["trace_id"] != parent.trace_id:
        raise errors.ValidationError(f"{where} but its trace_id is {shown(out['trace_id'])}, not the parent's "
                                     f"{parent.trace_id}; nothing was imported")
    order, above = out.get("dotted_order"), parent.dotted_order
    in_place = (isinstance(order, str) and order.startswith(above)  # the parent's and one segment more
                and order.find(".", len(above)) == len(above) and order.find(".", len(above) + 1) == -1)
    if in_place:
        return
    if not order or (isinstance(order, str) and _stand_in(order, run)):
        out["dotted_order"] = f"{above}.{_own_segment(out)}"
    else:
        raise errors.ValidationError(f"{where} but its dotted_order {shown(order)} is not the parent's "
                                     "and one segment more; nothing was imported")


def _stand_in(order: str, run_id: str) -> bool:
    """Whether a root's dotted_order is ``schemas.Run``'s stand-in ``start_time.isoformat() + id``."""
    if not order.endswith(run_id) or _SEGMENT.fullmatch(order[:-len(run_id)]):
        return False
    try:
        to_us(order[:-len(run_id)])
    except errors.ValidationError:
        return False
    return True


def _own_segment(data: dict) -> str:
    """A run's own dotted_order segment from its start (start_time, else started or created, else
    now) and id: a root's whole dotted_order."""
    if data.get("start_time") is not None:
        start = round(data["start_time"] * 1000)
    else:
        start = next((to_us(data[k]) for k in ("started", "created") if data.get(k) is not None), now_us())
    try:
        return dotted_segment(start, data["id"])
    except (OverflowError, OSError, ValueError):
        raise errors.ValidationError(f"run {shown(data['id'])}: start_time {shown(data.get('start_time'))} "
                                     "cannot be written in a dotted_order") from None


def _record(data: dict, nested_in: RunRecord | None = None) -> RunRecord:
    record = RunRecord.from_dict(_normalized(data, nested_in))  # ValidationError for another shape
    if not is_uuid(record.id):
        raise errors.ValidationError(f"run id {shown(record.id)} must be a lowercase UUID string")
    check_name(record.name, "run name")
    if not isinstance(record.status, str) or record.status not in schema.RUN_STATUSES:
        raise errors.ValidationError(
            f"run {record.id}: status must be LangSmith's (success, error, pending: any case) or runlite's "
            f"({', '.join(schema.RUN_STATUSES)}); got {shown(data.get('status'))}")
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


def _fill_placeholder(conn, values: dict[str, Any]) -> bool:
    """Write a run given as ``{column: value}`` over the placeholder stored with its id, trace,
    dotted order and parent (a parent this file had not received); False when there is none."""
    columns = [c for c in values if c != "id"]
    if any(c not in schema.RUN_COLUMNS for c in columns):
        raise ValueError(f"not columns of runs: {columns}")  # a programming error, never user input
    conn.execute("UPDATE runs SET " + ", ".join(f"{c} = ?" for c in columns) + " WHERE id = ? AND kind = 'placeholder'"
                 " AND trace_id IS ? AND dotted_order IS ? AND parent_run_id IS ?",
                 (*(values[c] for c in columns), values["id"], values.get("trace_id"), values.get("dotted_order"),
                  values.get("parent_run_id")))
    return conn.changes() > 0


def import_runs(conn, items: list[dict]) -> list[str]:
    """Insert runs (children given in ``child_runs`` too) inside the caller's transaction."""
    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        raise errors.ValidationError(f"runs to import must be a list of run dicts, got {shown(items)}")
    records: list[RunRecord] = []
    for data, nested_in in _flatten(list(items)):  # a dict comes after the one it is nested in
        records.append(_record(data, None if nested_in is None else records[nested_in]))
    records.sort(key=lambda r: r.dotted_order)
    now = now_us()
    for rec in records:
        stored = conn.execute("SELECT 1 FROM runs WHERE id = ?", (rec.id,)).fetchone() is not None
        runs_mod.ensure_folder(conn, rec.folder, now)
        kept = {k: check_json_value(getattr(rec, k), k) for k in schema.LS_KEPT if getattr(rec, k) is not None}
        if rec.feedback_stats:  # shown under the stats computed from this file's feedback
            if not isinstance(rec.feedback_stats, dict):
                raise errors.ValidationError(f"feedback_stats of run {rec.id} must be a dict, got "
                                             f"{shown(rec.feedback_stats)}")
            kept["feedback_stats"] = check_json_value(rec.feedback_stats, f"feedback_stats of run {rec.id}")
        row = {
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
        }
        if not stored:
            runs_mod.insert(conn, row)
        elif not _fill_placeholder(conn, row):  # a placeholder at its place becomes the run
            raise errors.ValidationError(f"a run with id {rec.id} already exists; nothing was imported")
        for seq, event in enumerate(rec.events):
            _import_event(conn, rec.id, seq, event, now)
    return [r.id for r in records]


_EVENT_KEYS = ("name", "time", "kwargs", "message", "level", "seq")


def _import_event(conn, run_id: str, seq: int, event: Any, now: int) -> None:
    if not isinstance(event, dict):
        raise errors.ValidationError(f"events of run {run_id} must be dicts, got {type(event).__name__}")
    time_us = to_us(event["time"], f"time of an event of run {run_id}") if event.get("time") is not None else now
    kwargs = event.get("kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise errors.ValidationError(f"kwargs of an event of run {run_id} must be a dict, got {shown(kwargs)}")
    others = {k: v for k, v in event.items() if k not in _EVENT_KEYS}
    if others:  # LangSmith events are free-form dicts: what has no column of its own goes into kwargs
        kwargs = {**(kwargs or {}), **others}
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
