"""The live handles of one store: run writers and traced spans still in memory, flushed by one
background thread (flush deadlines, heartbeats, span batches) and at interpreter exit.

A process may open one file through several stores (``runlite.set_default_store("runs.db")``
for tracing, then ``runlite.open("runs.db")`` to read): a read on any of them first writes
what the others hold for that file, so every reader in the process sees what it traced.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from typing import Any

from .. import _lazy, errors
from .._validation import now_us
from ..storage import metric_buffer
from ..storage import runs as runs_mod
from ..tracing.buffer import SpanBuffer, SpanQueue

ingest_mod = _lazy.module("runlite.storage.ingest")  # the spans' writers, loaded by the first spans
spans_mod = _lazy.module("runlite.storage.spans")

HEARTBEAT_INTERVAL = 30.0  # seconds between heartbeats of a running run (at most a third of its timeout)
TICK = 0.1                 # seconds between background checks (flush deadlines, heartbeats)
LOG_EVERY = 30.0           # seconds between log lines of a background flush that keeps failing

SPAN_AGE_US = int(metric_buffer.FLUSH_INTERVAL * 500_000)  # spans are written at half the flush interval

log = _lazy.log
_REGISTRIES: "weakref.WeakSet[LiveRuns]" = weakref.WeakSet()


_ALL: "weakref.WeakSet[LiveRuns]" = weakref.WeakSet()

# The stores of this process on each file, by the file's real path (an in-memory store is alone).
_SAME_FILE: "dict[str, SameFile]" = {}
_SAME_FILE_LOCK = threading.Lock()


class SameFile:
    """The live runs of this process's stores on one file, as weak references in a tuple that
    is replaced, never changed: a read walks it without a lock (``list(WeakSet)`` costs ~4 us).
    A store dropped unclosed stays as a dead reference until the next store joins or leaves."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.refs: tuple = ()

    @classmethod
    def join(cls, live: "LiveRuns") -> "SameFile":
        """The group of ``live``'s file, ``live`` added."""
        if live.database.memory:
            group = cls(None)
            group.refs = (weakref.ref(live),)
            return group
        key = os.path.realpath(live.database.path)
        with _SAME_FILE_LOCK:
            group = _SAME_FILE.setdefault(key, cls(key))
            group.refs = (*(r for r in group.refs if r() is not None), weakref.ref(live))
        return group

    def leave(self, live: "LiveRuns") -> None:
        """``live``'s store is closed."""
        with _SAME_FILE_LOCK:
            self.refs = tuple(r for r in self.refs if r() not in (None, live))
            if not self.refs and _SAME_FILE.get(self.key) is self:
                del _SAME_FILE[self.key]

    def members(self) -> list:
        """The live runs of the open, writable stores of the group."""
        return [live for live in (ref() for ref in self.refs)
                if live is not None and not live.read_only and not live.database.closed]


def _after_fork_in_child() -> None:
    # A thread the fork did not copy (the ticker) may have held the batch lock.
    for live in list(_ALL):
        live._batch_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_at_exit() -> None:
    """Interpreter exit writes every buffered point, event and span of every live store."""
    for live in list(_REGISTRIES):
        live.flush_all(report=True)


class LiveRuns:
    """Writers of the runs being written through one store, and its span buffer."""

    def __init__(self, database: Any, *, read_only: bool):
        self.database = database
        self.read_only = read_only
        self.writers: set = set()  # held strongly: a dropped Run's buffered points still get written
        self.spans = SpanQueue(on_first=self._spans_buffered, on_full=self.flush_spans)
        # Runs received from LangSmith clients (``runlite serve``), written with the spans.
        self.remote = SpanBuffer(on_first=self._spans_buffered, on_full=self.flush_spans)
        self._batch_lock = threading.Lock()  # batches commit in the order they were taken
        _ALL.add(self)
        self._ticker: _Ticker | None = None
        self._ticker_lock = threading.Lock()
        self._locked_since = 0  # when the ticker first found the file locked by another writer (us)
        self.same_file = SameFile.join(self)  # this store and the others of this process on its file

    def _spans_buffered(self) -> None:
        """Spans wait in a buffer: the modules that write them are imported now, not by the flush
        at interpreter exit (where an import can fail: ``_lazy.load``), and the ticker runs."""
        _lazy.load(spans_mod, ingest_mod)
        self.start()

    def start(self) -> None:
        """Make sure the background thread runs (lazily: a read-only store never starts one)."""
        if self.read_only:
            raise errors.ReadOnlyStoreError(f"the store {self.database.path!r} was opened with read_only=True")
        if self.database.closed:  # a span started on it would never be written
            raise errors.StoreClosedError(f"the store {self.database.path!r} is closed")
        _REGISTRIES.add(self)
        with self._ticker_lock:
            ticker = self._ticker
            if ticker is None or ticker.pid != os.getpid() or not ticker.is_alive():
                self._ticker = _Ticker(self)
                self._ticker.start()

    def add(self, writer: Any) -> None:
        """Flush ``writer`` in the background and send its heartbeats from now on."""
        writer.heartbeat_us = now_us()
        writer.on_fork = self.start
        self.writers.add(writer)
        self.start()

    def receive(self, runs: list) -> None:
        """Queue runs received from elsewhere (``RemoteRun``s: a LangSmith client, an OTel
        exporter) on the batch writer the spans use; a later update folds into a waiting run."""
        if self.read_only:
            raise errors.ReadOnlyStoreError(f"the store {self.database.path!r} was opened with read_only=True")
        for run in runs:
            self.remote.merge(run)

    def discard(self, writer: Any) -> None:
        """Stop flushing ``writer`` (its run ended or its handle was released)."""
        self.writers.discard(writer)

    # -- writing

    def flush_spans(self, wait: bool = True) -> None:
        """Write the buffered spans and remote runs in one transaction (kept for a retry if it
        fails). With ``wait=False`` they stay buffered when another process holds the file's
        write lock."""
        with self._batch_lock:  # a run's later update never commits before its earlier one
            batch, remote = self.spans.take(), self.remote.take()
            if not (batch or remote) or self.database.closed:
                return
            committed = False
            try:
                with (self.database.write() if wait else self.database.try_write()) as conn:
                    if conn is not None:
                        spans_mod.write(conn, batch)
                        ingest_mod.write(conn, remote)
                committed = conn is not None
            finally:
                if not committed:
                    self.spans.give_back(batch)
                    self.remote.give_back(remote)

    def open_run_ids(self) -> set:
        """Ids of the runs open for writing through any store of this process on this file."""
        return {writer.run_id for live in self._file_group() for writer in list(live.writers)}

    def _file_group(self) -> "list[LiveRuns] | tuple[LiveRuns]":
        """The live runs of every store of this process on this file (this one alone, the
        common case, without walking the group's references)."""
        return self.same_file.members() if len(self.same_file.refs) > 1 else (self,)

    def flush_run(self, run_id: str) -> None:
        """Read your own writes: flush pending spans and the live writer of ``run_id`` (held by
        any store of this process on this file) first."""
        self.flush_own_spans()
        for live in self._file_group():
            for writer in list(live.writers):
                if writer.run_id == run_id:
                    try:
                        writer.flush()
                    except errors.StoreError as exc:  # e.g. a full disk: reads must still work
                        # The points stay buffered; the run's next flush, log call or close raises.
                        log.warning("runlite: reading %s without its buffered points: %s", run_id, exc)

    def holds_writers(self) -> bool:
        """Whether a live run of this process writes to this file, through any of its stores
        (a read of some run must then write that run's buffered points first). No lock: a
        read's fast path."""
        return any(live.writers for live in self._file_group())

    def flush_own_spans(self) -> None:
        """Read your own writes: spans traced (and runs received) in this process are written
        before a read, whichever of its stores on this file holds them."""
        if self.holds_spans() and not self.read_only:
            try:
                self.flush_spans()
            except errors.StoreBusyError as exc:  # another process holds the file: read without them
                log.warning("runlite: reading %s without the spans this store holds: %s", self.database.path, exc)
        refs = self.same_file.refs
        if len(refs) > 1:  # the common case, one store a file, ends here
            for ref in refs:
                live = ref()
                if live is not None and live is not self and live.holds_spans():
                    try:
                        live.flush_spans()
                    except errors.StoreError as exc:  # that store's own flush or close raises it
                        log.warning("runlite: reading %s without the spans another store of this "
                                    "process holds: %s", self.database.path, exc)

    def holds_spans(self) -> bool:
        """Whether spans or received runs wait to be written, or a batch of them is being
        written now (a read waits for its commit). No lock: a read's fast path."""
        return self.spans.waiting or self.remote.waiting or self._batch_lock.locked()

    def flush_file(self) -> errors.RunliteError | None:
        """``flush_all`` of every store of this process on this file; the first error."""
        first = None
        for live in self._file_group():
            first = first or live.flush_all()
        return first

    def flush_all(self, *, report: bool = False) -> errors.RunliteError | None:
        """Flush every writer and the spans. Errors are logged with ``report``, otherwise the
        first is returned (a failure of one run does not keep the others from being written)."""
        first = None
        for writer in list(self.writers):
            try:
                writer.flush()
            except Exception as exc:  # noqa: BLE001 - exiting or closing: report, go on
                if report or not isinstance(exc, errors.RunliteError):
                    log.exception("runlite: could not flush run %s", writer.run_id)
                first = first or (exc if isinstance(exc, errors.RunliteError) else None)
        try:
            self.flush_spans()
        except Exception as exc:  # noqa: BLE001 - as a writer's: reported, or returned (flush() raises it)
            if report or not isinstance(exc, errors.RunliteError):
                log.exception("runlite: could not write the spans of %s", self.database.path)
            first = first or (exc if isinstance(exc, errors.RunliteError) else None)
        return first

    def tick(self) -> None:
        """Flush writers whose buffers are due, and write heartbeats that are due.

        Nothing here waits for another process's write lock (a merge may hold it for seconds):
        the thread would hold a writer's lock, or this process's, meanwhile and so block log
        calls. What finds the file locked stays buffered and is tried again on the next tick.
        """
        now = now_us()
        writers = list(self.writers)
        locked = False
        for writer in writers:
            locked = not writer.flush_if_due(now) or locked
        if self.spans.due(now, SPAN_AGE_US) or self.remote.due(now, SPAN_AGE_US):
            self.flush_spans(wait=False)
        interval = int(HEARTBEAT_INTERVAL * 1_000_000)  # or a run's own, shorter (its heartbeat timeout)
        due = [w for w in writers
               if now - w.heartbeat_us >= min(w.heartbeat_every_us or interval, interval) and w in self.writers]
        if due:
            with self.database.try_write() as conn:
                if conn is not None:
                    stopped = set(runs_mod.heartbeat(conn, [w.run_id for w in due], now))
            if conn is not None:  # committed
                for writer in due:
                    writer.heartbeat_us = now
                    if writer.run_id in stopped:  # aborted from outside: this handle ends too
                        writer.on_terminated(from_outside=True)
        # Raised (so logged by the thread, then every LOG_EVERY s) once the file has stayed
        # locked longer than the timeout a waiting write would have had: nothing is lost yet,
        # but points wait in memory and log calls will wait once a buffer is full.
        self._locked_since = (self._locked_since or now) if locked else 0
        if locked and now - self._locked_since > self.database.timeout * 1_000_000:
            raise errors.StoreBusyError(
                f"the file {self.database.path!r} has stayed locked by another writer for longer than "
                f"the timeout ({self.database.timeout:g} s); buffered points wait in memory and are "
                "written once it is free")

    def close(self) -> errors.RunliteError | None:
        """Stop the thread, then release every writer (a last flush each) and write the spans.
        Returns the first error of a writer whose last points, or of spans, that could not be
        written."""
        ticker = self._ticker
        if ticker is not None and ticker.pid == os.getpid():
            ticker.stop.set()
            if ticker is not threading.current_thread():
                ticker.join()
        unwritten = None
        for writer in list(self.writers):
            try:
                writer.release()
            except errors.RunliteError as exc:
                unwritten = unwritten or exc
        self.writers.clear()
        try:
            self.flush_spans()
        except errors.RunliteError as exc:  # the spans are lost with the store: Store.close says so
            unwritten = unwritten or exc
        _REGISTRIES.discard(self)
        self.same_file.leave(self)
        return unwritten


class _Ticker(threading.Thread):
    """The background thread of one store's live runs."""

    def __init__(self, live: LiveRuns):
        super().__init__(name=f"runlite-ticker {live.database.path}", daemon=True)
        self.live_ref = weakref.ref(live)
        self.pid = os.getpid()
        self.stop = threading.Event()

    def run(self) -> None:
        failing, logged_at = "", 0.0
        while not self.stop.wait(TICK):
            live = self.live_ref()
            if live is None or live.database.closed:
                return
            try:
                live.tick()
                if failing:
                    log.warning("runlite: background flush of %s works again", live.database.path)
                    failing = ""
            except errors.StoreClosedError:
                return
            except Exception as exc:  # noqa: BLE001 - keep ticking; the next tick retries
                # A full disk fails every tick: say so when it starts, then every LOG_EVERY s.
                now = time.monotonic()
                if str(exc) != failing or now - logged_at >= LOG_EVERY:
                    log.exception("runlite: background flush of %s failed (retrying)", live.database.path)
                    failing, logged_at = str(exc), now
            del live
