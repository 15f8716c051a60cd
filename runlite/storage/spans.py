"""The store's span writer: batches of spans written in one transaction.

Spans wait in memory (``tracing/buffer.py``); a batch upserts every span that started,
changed or ended since the last one (parents before children), with the new events and
attachments the batch carries. Spans still running are written as ``running`` and written
again when they end, so a crash leaves them visible (and ``lost`` once their process is gone).

What the traced thread deferred happens here: ids and dotted orders (``Span.state``), binding
inputs, JSON encoding and size checks. Rows go ``runs.ROWS_PER_STATEMENT`` at a time, as one
multi-row upsert (``runs.insert_rows_sql``): an ``executemany`` of one row a statement is 3-4x
slower (the constant says why).
"""

from __future__ import annotations

import itertools
import logging
import os

from . import attachments as files
from . import runs as runs_mod
from .._host import THIS_HOST
from .._ids import project_id
from .._validation import MAX_JSON, dumps, dumps_lenient, json_texts, now_us, walk_needed
from ..errors import LimitError

log = logging.getLogger("runlite")

# A span's row is written when it starts and again when it changes or ends (an upsert by id).
_COLUMNS = ("id", "name", "run_type", "status", "folder", "metadata", "tags", "parent_run_id", "trace_id",
            "dotted_order", "created", "started", "ended", "modified", "inputs", "outputs", "error",
            "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
            "first_token_time", "host", "pid", "heartbeat", "session_id", "session_name", "reference_example_id")
_CHANGING = ("status", "ended", "modified", "metadata", "tags", "outputs", "error", "prompt_tokens",
             "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
             "first_token_time", "heartbeat")
_CONSTANTS = (("kind", "'trace'"), ("heartbeat_timeout", "NULL"))
_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost")
_EVENTS = "INSERT OR REPLACE INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _json(value) -> str | None:
    """Any program value as JSON (`dumps_lenient`), None as None; one over ``MAX_JSON`` as a
    marker instead (logged), as the SDK marks inputs it could not process: refusing it would
    fail its whole batch, and every later batch that retries it."""
    if value is None:
        return None
    try:
        return dumps_lenient(value, "span value")
    except LimitError as exc:
        log.warning("runlite: a span's inputs or outputs were not stored: %s", exc)
        return dumps({"ls_error": f"Value dropped: {exc}"})


def _json_column(values: tuple) -> list:
    """``_json`` of every value, in C-level loops when all are plain JSON that the lenient walk
    would write the same (the common case)."""
    if None not in values:
        try:
            texts = json_texts(values)
        except (TypeError, ValueError, RecursionError):
            pass
        else:
            if all(map(str.isascii, texts)) and max(map(len, texts)) <= MAX_JSON and not walk_needed(texts):
                return texts
    return [_json(value) for value in values]


def rows(batch: list, now: int) -> tuple[list, list]:
    """The values of a batch's span rows (``_COLUMNS`` after one another, one flat list) and
    of its event rows. Built a column at a time: each column's work is one C-level loop."""
    n = len(batch)
    (ids, names, run_types, statuses, folders, metadata, tags, parents, traces, orders, starts, ends, inputs,
     outputs, errors, usage, first_tokens, pids, sessions, references) = zip(*[item[0].state() for item in batch])
    pid = os.getpid()
    if any(usage):
        usage_columns = [[u.get(key) if u else None for u in usage] for key in _USAGE]
    else:
        usage_columns = [(None,) * n] * len(_USAGE)  # a sequence, not an iterator: zip reads it six times
    columns = (ids, names, run_types, statuses, folders,
               [dumps(m, "metadata") if m else "{}" for m in metadata], [dumps(t, "tags") if t else "[]" for t in tags],
               parents, traces, orders, starts, starts, ends, itertools.repeat(now, n), _json_column(inputs),
               _json_column(outputs), errors, *usage_columns, first_tokens, itertools.repeat(THIS_HOST, n),
               [p or pid for p in pids], itertools.repeat(now, n),
               [None if name is None else project_id(name) for name in sessions], sessions, references)
    flat = list(itertools.chain.from_iterable(zip(*columns)))
    event_rows = []
    for (_, first_event, events, _), run_id in zip(batch, ids):
        for k, (when, event_name, message, kwargs) in enumerate(events, start=first_event):
            event_rows.append((run_id, k, when, None, event_name, message,
                               None if kwargs is None else _json(kwargs)))
    return flat, event_rows


def write(conn, batch: list) -> None:
    """Write a batch (``SpanQueue.take``: spans with their new events and attachments)
    inside the caller's transaction."""
    if not batch:
        return
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    flat, event_rows = rows(batch, now)
    runs_mod.insert_many(conn, _COLUMNS, flat, _CHANGING, _CONSTANTS)
    if event_rows:
        conn.executemany(_EVENTS, event_rows)
    for span, _, _, attachments in batch:
        for name, data, mime in attachments:
            files.save_bytes(conn, span.id, name, data, mime)
