"""What waits to be written by a store's batch writer: traced spans (``SpanQueue``) and runs
received from LangSmith or OpenTelemetry clients (``SpanBuffer``).

Traced threads add and touch spans; the store's writer takes a batch, writes it
(``storage/spans.py``, ``storage/ingest.py``) and gives it back if the write fails.

``SpanQueue`` is the traced thread's hot path: no lock, one flag test and a ``deque.append``
(atomic under the GIL) per start or change, and the writer drops repeats when it takes a
batch. ``SpanBuffer`` keeps received runs by id under a lock, so that an update folds into the
waiting create (``merge``). Both hand batches in the same shape.

A batch carries the events and attachments it writes. Marking them written when the batch
is taken, rather than after its commit, is what keeps one from being lost or written twice:
a traced thread may add an event between the batch being written and being committed (that
event then goes with the next batch), and two writers may each take a batch holding the
same span (each writes its own events).
"""

from __future__ import annotations

import collections
import itertools
import operator
import os
import threading
import weakref
from typing import Any, Callable

from .. import _lazy
from .._validation import now_us
from ..errors import StoreClosedError

log = _lazy.log

FLUSH_SPANS = 5_000      # the ticker writes a batch this large at its next tick (0.1 s)
MAX_PENDING = 50_000     # beyond this the traced thread writes itself: memory stays bounded

# A forked child gives every buffer new locks: a thread the fork did not copy (the ticker,
# another traced thread) may have held one, and the child would wait for it forever.
_BUFFERS: "weakref.WeakSet[SpanBuffer | SpanQueue]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for buffer in list(_BUFFERS):
        buffer.new_locks()
        buffer.forget()  # the parent writes what waited at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# One span of a batch: ``(span, first_event, events, attachments)``, with the events (time_us,
# name, message, kwargs) and attachments (name, data, mime type) this batch writes, and the
# index (``seq``) of ``events[0]`` among the span's events. A plain tuple: a batch holds
# thousands and a NamedTuple costs ~0.5 us more each to build.
SpanWrite = tuple


_PID, _WRITTEN = operator.attrgetter("pid"), operator.attrgetter("events_written")
_NEWS = operator.methodcaller("news")
_NOTHING = (None, None)  # a span's news() when it never had events or attachments


def _order(span: Any) -> str:
    return span.dotted_order


def _attachments_of(span: Any) -> list:
    return span.attachments


def _drain(span: Any, events: list | None, attachments: list | None) -> SpanWrite:
    """A span's place in a batch: its events not written yet and its attachments, moved into
    the batch (the caller holds the drain lock)."""
    start = span.events_written
    new_events = new_attachments = ()
    if events is not None:
        end = len(events)  # events are only appended
        if end != start:
            span.events_written = end
            new_events = events[start:end]
    if attachments:
        new_attachments = attachments[:]
        # Appends only add at the end: the first len(new_attachments) are these.
        del attachments[:len(new_attachments)]
    return (span, start, new_events, new_attachments)


def _undrain(batch: list[SpanWrite], attachments_of: Callable[[Any], list]) -> None:
    """Put a failed batch's events and attachments back on their spans (drain lock held)."""
    for span, first_event, _, attachments in reversed(batch):
        if first_event < span.events_written:  # rewriting an event replaces its row
            span.events_written = first_event
        if attachments:  # older than any attached since: first again
            attachments_of(span)[:0] = attachments


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

    def forget(self) -> None:
        """Drop what waits (in a forked child: the parent writes it)."""
        self._pending = {}
        self._oldest_us = 0

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

    @property
    def waiting(self) -> bool:
        """Whether any span waits (no lock: a read's fast path; ``take`` tells for sure)."""
        return bool(self._pending)

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
        with self._drain_lock:
            return [_drain(span, span.events, span.attachments) for span in sorted(spans.values(), key=_order)]

    def give_back(self, batch: list[SpanWrite]) -> None:
        """A batch that could not be written: its spans, events and attachments wait again. A
        run received again meanwhile (a later update of it) folds into the one given back."""
        with self._drain_lock:
            _undrain(batch, _attachments_of)
        with self._lock:
            if not self._pending:
                self._oldest_us = 0  # due at once: the next tick retries
            for span, *_ in batch:
                waiting = self._pending.get(span.id)
                if waiting is not None and waiting is not span:
                    span.absorb(waiting)  # the later one's values win, as when it merged
                self._pending[span.id] = span


class SpanQueue:
    """Traced spans of one store waiting to be written: traced threads never take a lock.

    A span is queued when it starts, and again when it changes after a batch took it: its
    ``queued`` flag says whether it waits already. The writer clears the flag of each span it
    takes before reading the span, and a traced thread changes a span before testing the flag,
    so a change is either seen by the batch that took the span or queues it again. A span may
    be queued twice (two threads changing it at once, or a failed batch given back): a batch
    holds it once. Batches keep the order spans were first queued, parents before children (a
    span is queued as it is made, after its parent).

    Spans give the queue ``events_written``, ``queued`` and ``news()`` (their events and
    attachments, None when they never had any; ``attachments`` when given back). Callbacks are
    those of ``SpanBuffer``.
    """

    def __init__(self, on_first: Callable[[], None] | None = None,
                 on_full: Callable[[], None] | None = None) -> None:
        self._queue: collections.deque = collections.deque()
        self._retry: list = []   # spans of a failed batch: first in the next one
        self._oldest_us = 0      # when the writer or a traced thread saw the queue wake; 0: asleep
        self.on_first = on_first
        self.on_full = on_full
        self.new_locks()
        _BUFFERS.add(self)

    def new_locks(self) -> None:
        """A fresh lock (in a forked child, where the old one may be held for ever); the next
        span wakes the writer, which the child has yet to start."""
        self._lock = threading.Lock()  # writers moving events and attachments in and out of batches
        self._oldest_us = 0

    def forget(self) -> None:
        """Drop what waits (in a forked child: the parent writes it)."""
        self._queue.clear()
        self._retry = []

    # -- traced threads

    def add(self, span: Any) -> None:
        """A new span (written with the next batch)."""
        if not self._oldest_us:
            self._wake()  # may refuse (a read-only store): nothing kept
        span.queued = True
        queue = self._queue
        queue.append(span)
        if len(queue) >= MAX_PENDING and self.on_full is not None:
            self.on_full()

    def touch(self, span: Any, ended: bool = False) -> None:
        """The span changed: include it in the next batch. Call after changing the span. A span
        changed after its store closed is not written: said in the log, not raised (the span's
        end must not fail the traced call, which has its result)."""
        if not span.queued:
            if not self._oldest_us:
                try:
                    self._wake()
                except StoreClosedError as exc:
                    log.warning("runlite: span %s changed after its store closed; not written: %s",
                                getattr(span, "_id", None) or getattr(span, "name", "?"), exc)
                    return
            span.queued = True
            self._queue.append(span)

    def _wake(self) -> None:
        """The first span since the writer last emptied the queue: start the writer (which may
        refuse, raising), and the age clock."""
        if self.on_first is not None:
            self.on_first()
        self._oldest_us = now_us()

    # -- the writer

    @property
    def pending(self) -> int:
        """How many spans wait to be written."""
        return len(dict.fromkeys([*self._retry, *self._queue]))

    @property
    def waiting(self) -> bool:
        """Whether any span waits (no lock: a read's fast path; ``take`` tells for sure)."""
        return bool(self._queue or self._retry)

    def due(self, now: int, age_us: int) -> bool:
        """Whether a batch should be written now: many spans wait, or the oldest for ``age_us``."""
        waiting = len(self._queue) + len(self._retry)
        if not waiting:
            return False
        if not self._oldest_us:  # queued while the writer was emptying the queue: the clock starts now
            self._oldest_us = now
        return waiting >= FLUSH_SPANS or now - self._oldest_us >= age_us

    def take(self) -> list[SpanWrite]:
        """The batch to write (in the order first queued), leaving the queue empty.

        Each span's unwritten events and attachments move into the batch: write them with it,
        or `give_back` the batch.
        """
        self._oldest_us = 0  # asleep: the next span wakes the writer's clock again
        with self._lock:
            queue = self._queue
            popleft = queue.popleft
            spans = self._retry + [popleft() for _ in range(len(queue))]  # appends may go on meanwhile
            self._retry = []
            spans = list(dict.fromkeys(spans))
            # Every flag cleared before any span is read: a later change queues it again.
            collections.deque(map(setattr, spans, itertools.repeat("queued"), itertools.repeat(False)), maxlen=0)
            pid = os.getpid()
            pids = list(map(_PID, spans))
            if pids.count(pid) != len(pids):  # spans a forked child inherited: their own process writes them
                spans = [span for span in spans if span.pid == pid]
            news = list(map(_NEWS, spans))
            if news.count(_NOTHING) == len(news) and not any(map(_WRITTEN, spans)):  # the common case
                return list(zip(spans, itertools.repeat(0), itertools.repeat(()), itertools.repeat(())))
            batch = []
            for span, (events, attachments) in zip(spans, news):
                if events is None and not attachments and not span.events_written:
                    batch.append((span, 0, (), ()))  # nothing to move
                else:
                    batch.append(_drain(span, events, attachments))
        return batch

    def give_back(self, batch: list[SpanWrite]) -> None:
        """A batch that could not be written: its spans, events and attachments wait again,
        before any queued since."""
        if not batch:
            return
        with self._lock:
            _undrain(batch, _attachments_of)
            for span, *_ in batch:
                span.queued = True
            self._retry[:0] = [span for span, *_ in batch]
        self._oldest_us = 1  # due at once: the next tick retries
