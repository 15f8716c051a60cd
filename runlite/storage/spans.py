"""The store's span writer: spans are kept in memory and written in batches.

A batch upserts every span that started, changed or ended since the last one (parents
before children, by dotted_order), with its new events and attachments, in one
transaction. Spans still running are written as ``running`` and written again when they
end, so a crash leaves them visible (and ``lost`` once their process is gone).
"""

from __future__ import annotations

import json
import os
import threading

from . import attachments as files
from .._host import THIS_HOST
from .._validation import MAX_JSON, dumps, dumps_lenient, now_us

FLUSH_SPANS = 5_000      # the ticker writes a batch this large at its next tick (0.1 s)
MAX_PENDING = 50_000     # beyond this the traced thread writes itself: memory stays bounded

_UPSERT = (
    "INSERT INTO runs (id, name, kind, run_type, status, folder, metadata, tags, parent_run_id, trace_id,"
    " dotted_order, created, started, ended, modified, inputs, outputs, error, prompt_tokens,"
    " completion_tokens, total_tokens, prompt_cost, completion_cost, total_cost, first_token_time, host,"
    " pid, heartbeat, heartbeat_timeout)"
    " VALUES (?, ?, 'trace', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
    " ON CONFLICT(id) DO UPDATE SET status = excluded.status, ended = excluded.ended,"
    " modified = excluded.modified, metadata = excluded.metadata, tags = excluded.tags,"
    " outputs = excluded.outputs, error = excluded.error, prompt_tokens = excluded.prompt_tokens,"
    " completion_tokens = excluded.completion_tokens, total_tokens = excluded.total_tokens,"
    " prompt_cost = excluded.prompt_cost, completion_cost = excluded.completion_cost,"
    " total_cost = excluded.total_cost, first_token_time = excluded.first_token_time,"
    " heartbeat = excluded.heartbeat"
)


def _json(value) -> str | None:
    if value is None:
        return None
    try:  # plain JSON first: the common case, and much faster than the lenient walk
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return dumps_lenient(value, "span value")
    return text if len(text) <= MAX_JSON and "\\ud" not in text else dumps_lenient(value, "span value")


class SpanBuffer:
    """Spans of one store waiting to be written."""

    def __init__(self, on_first=None) -> None:
        self.pending: dict = {}
        self.oldest_us = 0
        self.lock = threading.Lock()
        self.on_first = on_first  # starts the store's ticker

    def add(self, span) -> None:
        """A new span (written with the next batch)."""
        self.touch(span)
        if len(self.pending) >= MAX_PENDING:
            span.store._flush_spans()

    def due(self, now: int, age_us: int) -> bool:
        """Whether the ticker should write a batch now."""
        return bool(self.pending) and (len(self.pending) >= FLUSH_SPANS or now - self.oldest_us >= age_us)

    def touch(self, span, ended: bool = False) -> None:
        """The span changed: include it in the next batch."""
        if not self.pending:
            self.oldest_us = now_us()
            if self.on_first is not None:
                self.on_first()
        self.pending[span.id] = span

    def take(self) -> list:
        """The batch to write (parents first), leaving the buffer empty."""
        with self.lock:
            batch, self.pending = self.pending, {}
        return sorted(batch.values(), key=lambda s: s.dotted_order)

    def give_back(self, batch: list) -> None:
        """A batch that could not be written: keep it for the next try."""
        with self.lock:
            for span in batch:
                self.pending.setdefault(span.id, span)


def write(conn, batch: list) -> None:
    """Write a batch of spans inside the caller's transaction."""
    if not batch:
        return
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    rows, event_rows = [], []
    pid = os.getpid()
    for span in batch:
        usage = span.usage
        rows.append((
            span.id, span.name, span.run_type, span.status, span.folder,
            dumps(span.metadata, "metadata") if span.metadata else "{}",
            dumps(span.tags, "tags") if span.tags else "[]", span.parent_run_id, span.trace_id, span.dotted_order, span.start_us,
            span.start_us, span.end_us, now, _json(span.inputs), _json(span.outputs), span.error,
            usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"),
            usage.get("prompt_cost"), usage.get("completion_cost"), usage.get("total_cost"),
            span.first_token_us, THIS_HOST, span.pid if span.pid else pid, now,
        ))
        new_events = span.events[span.events_written:]
        for k, (when, name, message, kwargs) in enumerate(new_events, start=span.events_written):
            event_rows.append((span.id, k, when, None, name, message,
                               None if kwargs is None else json.dumps(kwargs, default=repr)))
    conn.executemany(_UPSERT, rows)
    if event_rows:
        conn.executemany("INSERT OR REPLACE INTO events (run_id, seq, time, level, name, message, kwargs)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", event_rows)
    for span in batch:
        for name, data, mime in span.attachments:
            files.save_bytes(conn, span.id, name, data, mime)


def written(batch: list) -> None:
    """After the batch committed: events and attachments are in the file."""
    for span in batch:
        span.events_written = len(span.events)
        span.attachments = []
