"""The store's span writer: batches of spans written in one transaction.

Spans wait in memory (``tracing/buffer.py``); a batch upserts every span that started,
changed or ended since the last one (parents before children, by dotted_order), with the
new events and attachments the batch carries. Spans still running are written as
``running`` and written again when they end, so a crash leaves them visible (and ``lost``
once their process is gone).
"""

from __future__ import annotations

import functools
import json
import os

from . import attachments as files
from . import runs as runs_mod
from .._host import THIS_HOST
from .._ids import project_id
from .._validation import MAX_JSON, dumps, dumps_lenient, now_us

# A span's row is written when it starts and again when it changes or ends (an upsert by id).
_COLUMNS = ("id", "name", "run_type", "status", "folder", "metadata", "tags", "parent_run_id", "trace_id",
            "dotted_order", "created", "started", "ended", "modified", "inputs", "outputs", "error",
            "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
            "first_token_time", "host", "pid", "heartbeat", "session_id", "session_name", "reference_example_id")
_CHANGING = ("status", "ended", "modified", "metadata", "tags", "outputs", "error", "prompt_tokens",
             "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
             "first_token_time", "heartbeat")
_UPSERT = runs_mod.insert_sql(_COLUMNS, update=_CHANGING, constants={"kind": "'trace'", "heartbeat_timeout": "NULL"})


@functools.lru_cache(maxsize=256)
def _project_id(name: str | None) -> str | None:
    return None if name is None else project_id(name)


def _json(value) -> str | None:
    if value is None:
        return None
    try:  # plain JSON first: the common case, and much faster than the lenient walk
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return dumps_lenient(value, "span value")
    return text if len(text) <= MAX_JSON and "\\ud" not in text else dumps_lenient(value, "span value")


def write(conn, batch: list) -> None:
    """Write a batch (``SpanBuffer.take``: spans with their new events and attachments)
    inside the caller's transaction."""
    if not batch:
        return
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    rows, event_rows = [], []
    pid = os.getpid()
    for span, first_event, events, _ in batch:
        # A traced thread may change the span meanwhile: copy what its methods change in
        # place (one C-level copy each, atomic under the GIL) before walking it. A change
        # not seen here touched the span again, so the next batch writes it.
        usage, metadata, tags = dict(span.usage), dict(span.metadata), list(span.tags)
        rows.append((
            span.id, span.name, span.run_type, span.status, span.folder,
            dumps(metadata, "metadata") if metadata else "{}",
            dumps(tags, "tags") if tags else "[]", span.parent_run_id, span.trace_id, span.dotted_order, span.start_us,
            span.start_us, span.end_us, now, _json(span.inputs), _json(span.outputs), span.error,
            usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"),
            usage.get("prompt_cost"), usage.get("completion_cost"), usage.get("total_cost"),
            span.first_token_us, THIS_HOST, span.pid if span.pid else pid, now,
            _project_id(span.session_name), span.session_name, span.reference_example_id,
        ))
        for k, (when, name, message, kwargs) in enumerate(events, start=first_event):
            event_rows.append((span.id, k, when, None, name, message,
                               None if kwargs is None else json.dumps(kwargs, default=repr)))
    conn.executemany(_UPSERT, rows)
    if event_rows:
        conn.executemany("INSERT OR REPLACE INTO events (run_id, seq, time, level, name, message, kwargs)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", event_rows)
    for span, _, _, attachments in batch:
        for name, data, mime in attachments:
            files.save_bytes(conn, span.id, name, data, mime)

