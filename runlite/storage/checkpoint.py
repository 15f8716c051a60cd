"""The write-ahead log copied into the file on a thread of its own: no commit runs a checkpoint.

SQLite copies its log back into the file (a checkpoint) once the log reaches 1,000 pages, on
the connection whose commit crossed that line, and syncs the log and the file to disk first
and last. The disk decides what that costs: about 20 ms for a 4 MB log here (a 4 KiB page
synced cost ~24 us), paid by whichever log call or run end committed at the line (in one
run of every thirty-odd short runs, a quarter of their whole time), and ~95 ms by each 10 MB
flush of a wide record.

So the writer's commits only note the log's size (a WAL hook: it replaces SQLite's automatic
checkpoint on that connection), and past the line a thread copies the log on a connection of
its own. A checkpoint there is PASSIVE: it never waits for, nor blocks, a reader or a
writer, and it copies only frames no reader still needs. Nothing acknowledged depends on it:
every commit is in the log until the file holds it.

SQLite starts the log afresh at a write that finds every frame of it in the file. Commits
that go on while the thread copies leave new frames behind each round, so the thread copies
again while that remainder is large, and copies the last few holding this process's write
lock and, when no other process is writing, the file's (a transaction that writes nothing):
no commit comes between, the next write starts a new log, and the log stays near 1,000
pages. A writer that commits meanwhile waits for that round, about 5 ms here (the file's
sync), once a checkpoint. SQLite's own checkpoint, racing the commits of writers in other
processes, let the log grow without end (200 MB in seconds, four processes of short runs).

A disk slower than the writer (a sync of 50 ms or more: a busy disk, a cloud volume) left
thousands of pages behind each round: short runs took the log past 4,000 pages. So once the
log passes twice the line while a copy is under way (`behind`), the copy takes the locks at
the end of its round and the process's next write waits for it (`wait`), as SQLite's own
checkpoint would make the committing writer wait: the log stays under 2,000 pages and one
commit whatever the disk. Writers of other processes wait too: each process's copy waits for
another's under way (SQLITE_BUSY) and its last round for their writes. A reader holding older
frames is the exception: no copy can help, so nothing waits and the log grows until it ends.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import apsw

from ..errors import RunliteError

__all__ = ["LOG_PAGES", "Checkpointer"]

LOG_PAGES = 1000      # the log's size at which it is copied: SQLite's own automatic checkpoint
_LOCKED_PAGES = 64    # a remainder this small is copied holding the write locks (its copy ~1 ms; the sync ~5)
_MAX_ROUNDS = 4       # rounds without the lock, then the rest with it
_CEILING = 2 * LOG_PAGES  # past it during a copy, writes wait for the copy: the log never outgrows the disk
_HOLD_WAIT_MS = 2000      # behind, how long a copy waits for other processes' writes and copies to end


class Checkpointer:
    """Copies one file's log for this process's writer connection (`watch`), off its thread.

    ``write_lock`` is the process's write lock (held around each write transaction);
    ``connect`` opens the two connections the copies use, once, when first needed.
    """

    def __init__(self, write_lock, connect: Callable[[], apsw.Connection]) -> None:
        self._write_lock = write_lock
        self._connect = connect
        self._state = threading.Lock()  # guards the fields below (the writer's hook and the thread)
        self._pages = 0                 # frames in the log after the writer's last commit
        self._thread: threading.Thread | None = None
        self._closed = False
        self._paused = False            # no copy begins (a fork is under way)
        self.behind = False             # the log passed the ceiling during this copy: writes `wait` for it
        self._held = False              # the last round left frames a reader needs: waiting would not help
        self._copier: apsw.Connection | None = None  # the copies' own connection, once opened
        self._holder: apsw.Connection | None = None  # holds the file's write lock for the last round

    def watch(self, writer: apsw.Connection) -> None:
        """Take over the log's checkpoints from ``writer``'s commits."""
        writer.set_wal_hook(self._committed)

    def _committed(self, _conn, _name: str, pages: int) -> int:
        # Called by SQLite inside each commit of the writer: it must not raise, nor wait for a copy.
        with self._state:
            self._pages = pages
            if pages >= LOG_PAGES and self._thread is None and not (self._closed or self._paused):
                # A thread a checkpoint (one in every few dozen short runs' commits): none lingers idle.
                thread = threading.Thread(target=self._run, name="runlite-checkpoint", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had now: the next commit past the line tries again
                    return apsw.SQLITE_OK
                self._thread = thread
            if pages >= _CEILING and self._thread is not None and not self._held:
                self.behind = True
        return apsw.SQLITE_OK

    def _run(self) -> None:
        try:
            self._copy()
        except (apsw.Error, RunliteError):  # the connection's open failed: a runlite error
            pass  # nothing is lost (the log holds every commit): the next commit past the line tries again
        finally:
            with self._state:
                self._thread = None
                self.behind = False

    def _copy(self) -> None:
        if self._copier is None:
            self._copier, self._holder = self._connect(), self._connect()
            # A connection that has read nothing has not opened the log: its checkpoint copies nothing.
            self._copier.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()
        for _ in range(_MAX_ROUNDS):
            frames, copied = self._round()
            with self._state:
                self._held = copied < frames
                behind = self._pages - frames  # committed while this round copied
                if self._held or self._closed:  # held: a reader still needs older frames (the next
                    return                      # commit tries again)
            if behind <= _LOCKED_PAGES or self.behind:  # behind: a writer waits for this copy
                break
        # The rest, with no commit meanwhile: the next write starts a new log. This process's
        # writers wait on its lock; other processes' (their busy handlers) on the file's write
        # lock, held by a transaction that writes nothing, when it is free at once.
        with self._write_lock:
            # Another process's write goes first; behind, the holder waits for it to end.
            self._holder.set_busy_timeout(_HOLD_WAIT_MS if self.behind else 0)
            try:
                self._holder.execute("BEGIN IMMEDIATE")
            except (apsw.BusyError, apsw.LockedError):  # another process is writing: this process's only
                pass
            try:
                self._round()
            finally:
                self._let_go()

    def _round(self) -> tuple[int, int]:
        """One PASSIVE copy: the log's frames, and how many of them the file holds. Another
        process copying the log meanwhile makes it fail (SQLITE_BUSY: the next commit past the
        line tries again); behind, it is tried again until that copy ends, as this process's
        writers wait for this one."""
        deadline = time.monotonic() + _HOLD_WAIT_MS / 1000
        while True:
            try:
                return self._copier.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            except apsw.BusyError:
                if not self.behind or time.monotonic() > deadline:
                    raise
                time.sleep(0.002)

    def _let_go(self) -> None:
        """End the holder's transaction; if even that fails, close both connections (a closed
        connection holds no lock: the file's write lock is never left taken)."""
        if not self._holder.in_transaction:
            return
        try:
            self._holder.execute("ROLLBACK")
        except apsw.Error:
            self._close_connections()
            raise

    def wait(self) -> None:
        """Wait for the copy under way (called before a write when `behind`). Not to be called
        holding the write lock: the copy's last round takes it."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def pause(self, timeout: float) -> None:
        """Begin no copy until `resume`, and wait up to ``timeout`` s for one under way: a fork
        then finds the copies' connections idle, to be closed in the child like idle readers.
        Not to be called holding the write lock: a copy's last round may be waiting for it."""
        with self._state:
            self._paused = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def resume(self) -> None:
        """Copies begin again (the next commit past the line starts one)."""
        with self._state:
            self._paused = False

    def close(self) -> None:
        """Wait for a copy under way, then close the copies' connections (idempotent). Not to be
        called holding the write lock, as `pause`."""
        with self._state:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join()
        self._close_connections()

    def _close_connections(self) -> None:
        for conn in self.connections():
            try:
                conn.close()
            except apsw.Error:
                pass
        self._copier = self._holder = None

    def connections(self) -> list[apsw.Connection]:
        """The connections it opened (none before its first copy): a forked child closes them."""
        return [conn for conn in (self._copier, self._holder) if conn is not None]
