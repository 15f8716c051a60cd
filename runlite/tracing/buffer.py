"""A store's traced spans waiting to be written: the in-memory side of the span writer.

Traced threads add and touch spans (their hot path: one lock and a dict store); the
store's writer takes a batch, writes it (``storage/spans.py``) and gives it back if the
write fails. Two locks, so a traced thread never waits while a batch is assembled:

- ``_lock`` guards the pending map and its age (traced threads and writers);
- ``_drain_lock`` serialises writers moving a span's unwritten events and attachments into
  a batch, and back when the batch fails.

A batch carries the events and attachments it writes. Marking them written when the batch
is taken, rather than after its commit, is what keeps one from being lost or written twice:
a traced thread may add an event between the batch being written and being committed (that
event then goes with the next batch), and two writers may each take a batch holding the
same span (each writes its own events).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Callable

from .._validation import now_us

FLUSH_SPANS = 5_000      # the ticker writes a batch this large at its next tick (0.1 s)
MAX_PENDING = 50_000     # beyond this the traced thread writes itself: memory stays bounded

# A forked child gives every buffer new locks: a thread the fork did not copy (the ticker,
# another traced thread) may have held one, and the child would wait for it forever.
_BUFFERS: "weakref.WeakSet[SpanBuffer]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for buffer in list(_BUFFERS):
        buffer.new_locks()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# One span of a batch: ``(span, first_event, events, attachments)``, with the events (time_us,
# name, message, kwargs) and attachments (name, data, mime type) this batch writes, and the
# index (``seq``) of ``events[0]`` among the span's events. A plain tuple: a batch holds
# thousands and a NamedTuple costs ~0.5 us more each to build.
SpanWrite = tuple


def _order(span: Any) -> str:
    return span.dotted_order


class SpanBuffer:
    """Spans of one store waiting to be written, safe to use from any number of threads.

    Args:
        on_first: called (no argument) before the first span after an empty buffer is kept,
            outside the lock; it starts the writer, and may raise to refuse the span.
        on_full: called (no argument) on the traced thread once ``MAX_PENDING`` spans wait:
            it writes them, so memory stays bounded when the writer falls behind.
    """

    def __init__(self, on_first: Callable[[], None] | None = None,
                 on_full: Callable[[], None] | None = None) -> None:
        self._pending: dict = {}   # span id -> span, in the order first touched
        self._oldest_us = 0        # when the oldest pending span was touched
        self.on_first = on_first
        self.on_full = on_full
        self.new_locks()
        _BUFFERS.add(self)

    def new_locks(self) -> None:
        """Fresh locks (in a forked child, where the old ones may be held for ever)."""
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()

    # -- traced threads (the hot path: the lock is taken by hand, as ``with`` costs ~0.2 us
    # more a call on CPython 3.11; ``finally`` frees it whatever happens)

    def add(self, span: Any) -> None:
        """A new span (written with the next batch)."""
        lock = self._lock
        lock.acquire()
        try:
            pending = self._pending
            if pending:
                pending[span.id] = span
                if len(pending) < MAX_PENDING:
                    return
                full = True
            else:
                full = False
        finally:
            lock.release()
        if full:
            if self.on_full is not None:
                self.on_full()
        else:
            self._first(span)

    def touch(self, span: Any, ended: bool = False) -> None:
        """The span changed: include it in the next batch. Call after changing the span, so a
        batch taken before this call is followed by one that sees the change."""
        lock = self._lock
        lock.acquire()
        try:
            pending = self._pending
            if pending:
                pending[span.id] = span
                return
        finally:
            lock.release()
        self._first(span)

    def merge(self, item: Any) -> None:
        """Keep ``item`` (a remote run), or fold it into the waiting one of its id
        (``waiting.absorb(item)``): a batch writes each run once, its later updates included."""
        with self._lock:
            waiting = self._pending.get(item.id)
            if waiting is not None:
                waiting.absorb(item)
                return
            if self._pending:
                self._pending[item.id] = item
                if len(self._pending) < MAX_PENDING or self.on_full is None:
                    return
                full = True
            else:
                full = False
        if full:
            self.on_full()
        else:
            self._first(item)

    def _first(self, span: Any) -> None:
        """Keep the first span since the last batch, starting the writer first: outside the
        lock (it takes locks of its own), and a read-only store refuses here, keeping nothing."""
        if self.on_first is not None:
            self.on_first()
        with self._lock:
            if not self._pending:
                self._oldest_us = now_us()
            self._pending[span.id] = span

    # -- the writer

    @property
    def pending(self) -> int:
        """How many spans wait to be written."""
        with self._lock:
            return len(self._pending)

    def due(self, now: int, age_us: int) -> bool:
        """Whether a batch should be written now: many spans wait, or the oldest for ``age_us``."""
        with self._lock:
            return bool(self._pending) and (len(self._pending) >= FLUSH_SPANS or now - self._oldest_us >= age_us)

    def take(self) -> list[SpanWrite]:
        """The batch to write (parents first, by dotted_order), leaving the buffer empty.

        Each span's unwritten events and attachments move into the batch: write them with it,
        or `give_back` the batch.
        """
        with self._lock:
            if not self._pending:
                return []
            spans, self._pending = self._pending, {}
        # Traced threads now fill a new map; the spans are drained without blocking them.
        batch = []
        with self._drain_lock:
            for span in sorted(spans.values(), key=_order):
                start, end = span.events_written, len(span.events)  # events are only appended
                events = attachments = ()
                if end != start:
                    span.events_written = end
                    events = span.events[start:end]
                if span.attachments:
                    attachments = span.attachments[:]
                    # Appends only add at the end: the first len(attachments) are these.
                    del span.attachments[:len(attachments)]
                batch.append((span, start, events, attachments))
        return batch

    def give_back(self, batch: list[SpanWrite]) -> None:
        """A batch that could not be written: its spans, events and attachments wait again."""
        with self._drain_lock:
            for span, first_event, _, attachments in reversed(batch):
                if first_event < span.events_written:  # rewriting an event replaces its row
                    span.events_written = first_event
                if attachments:  # older than any attached since: first again
                    span.attachments[:0] = attachments
        with self._lock:
            if not self._pending:
                self._oldest_us = 0  # due at once: the next tick retries
            for span, *_ in batch:
                self._pending.setdefault(span.id, span)
