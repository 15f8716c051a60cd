"""Connections to one runlite file: transactions, error translation, fork safety.

Each connection gets a profile of `policy` (the writer's, a reader's, or an untrusted
file's reader's) when it opens.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import weakref
from typing import Callable, Iterator

import apsw

from .. import errors
from . import schema, schema_check
from .checkpoint import Checkpointer
from .policy import connection_busy_timeout, connection_wal, reader_profile, untrusted_profile, writer_profile

# ---------------------------------------------------------------- errors


def rollback(conn: apsw.Connection) -> None:
    """Roll back after an error, never masking it: SQLite may have rolled back already (disk
    full, I/O error), and a ROLLBACK that fails must not replace the error that matters."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except apsw.Error:
            pass


def translate(exc: BaseException, path: str = "") -> errors.RunliteError:
    """Map an apsw exception to the runlite error a caller can act on."""
    where = f" ({path})" if path else ""
    text = f"{exc}{where}"
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return errors.StoreBusyError(f"the file stayed locked by another writer: {text}")
    if isinstance(exc, apsw.FullError):
        return errors.StoreFullError(f"the disk or the file's size limit is full: {text}")
    if isinstance(exc, apsw.NotADBError):
        return errors.NotARunliteFile(f"not a SQLite file: {text}")
    if isinstance(exc, (apsw.CorruptError, apsw.FormatError)):
        return errors.CorruptStoreError(f"the file is damaged: {text}")
    if isinstance(exc, apsw.ReadOnlyError):
        return errors.ReadOnlyStoreError(f"the file cannot be written: {text}")
    if isinstance(exc, apsw.TooBigError):
        return errors.LimitError(f"a value is larger than the store accepts: {text}")
    if isinstance(exc, apsw.CantOpenError):
        return errors.StoreError(f"cannot open the file: {text}")
    if isinstance(exc, apsw.IOError):  # the disk or filesystem failed; the file itself may be fine
        return errors.StoreError(f"an I/O error reading or writing the file: {text}")
    if isinstance(exc, UnicodeDecodeError):
        return errors.CorruptStoreError(f"the file holds text that is not UTF-8: {text}")
    # Raised while binding a caller's value that no check caught first: the caller's mistake.
    if isinstance(exc, UnicodeEncodeError):
        return errors.ValidationError(f"a value holds a lone surrogate, which is not valid Unicode: {text}")
    if isinstance(exc, OverflowError):
        return errors.ValidationError(f"a number is too large to store (beyond 64 bits): {text}")
    if isinstance(exc, json.JSONDecodeError):
        return errors.CorruptStoreError(f"the file holds JSON runlite cannot decode: {text}")
    return errors.StoreError(f"{type(exc).__name__}: {text}")


# JSONDecodeError too: runlite decodes only JSON it wrote, so inside a transaction an
# undecodable value means a damaged file (SQLite pages carry no checksum).
_TRANSLATED = (apsw.Error, UnicodeDecodeError, UnicodeEncodeError, OverflowError, json.JSONDecodeError)


class translated:  # noqa: N801 - used as a function: ``with translated(path):``
    """Re-raise apsw errors inside the block as runlite errors. A class, not a generator: every
    transaction enters it, and a generator's context manager costs several times more."""

    __slots__ = ("path",)

    def __init__(self, path: str = "") -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None and isinstance(exc, _TRANSLATED):
            raise translate(exc, self.path) from exc


# ---------------------------------------------------------------- the database

LOCAL_WAIT = 0.01  # seconds try_write waits for another thread of this process to finish its write

# A child never uses the connections it inherited through fork(). SQLite keeps one lock
# record per file and process, shared by all its connections: while inherited ones stay open
# the child's new connections take no real file lock, so the parent closing its last
# connection would delete the WAL under the child's writes. So the child closes every idle
# inherited connection without a checkpoint (that leaves the file and the parent alone), and
# every reader, even one inside a read (an iterator between pieces): ending a read writes
# nothing the parent shares. The writer, busy at the fork, is kept referenced, so apsw never
# closes it (rolling back could touch the WAL index the parent shares); so is a reader another
# thread was stepping (apsw refuses to close it). Forks wait for runlite's write transactions,
# and a while for reads other threads are stepping, so those are rare.
_FORK_ORPHANS: list = []
_OPEN: "weakref.WeakSet[Database]" = weakref.WeakSet()  # file Databases with connections here
_HELD_AT_FORK: list = []
_PAUSED_AT_FORK: list = []  # checkpointers (`checkpoint.Checkpointer`) idle across a fork


def _drop_inherited(writer, readers) -> None:
    for conn, reader in ((writer, False), *((r, True) for r in readers)):
        if conn is None:
            continue
        try:
            if reader or not conn.in_transaction:
                conn.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
                conn.close(True)  # force: a read left open ends (its statements finalized)
                continue
        except apsw.Error:  # in use by a thread the fork left behind
            pass
        _FORK_ORPHANS.append(conn)


FORK_READ_WAIT = 1.0  # seconds a fork waits for reads other threads are stepping


def _stepping(conn) -> bool:
    """Whether another thread is inside a call on ``conn`` (apsw refuses it to this one)."""
    try:
        conn.in_transaction  # noqa: B018 - the property is the probe
    except apsw.ThreadingViolationError:
        return True
    except apsw.Error:
        return False
    return False


def _before_fork() -> None:
    for database in list(_OPEN):
        checkpointer = database._state.checkpointer
        if checkpointer is not None:  # before the lock, which a copy's last round may be waiting for
            checkpointer.pause(database.timeout + 1)
            _PAUSED_AT_FORK.append(checkpointer)
        lock = database._state.lock
        if lock.acquire(timeout=database.timeout + 1):  # bounded: a fork never deadlocks on us
            _HELD_AT_FORK.append(lock)
        deadline = time.monotonic() + FORK_READ_WAIT
        for conn in list(database._state.readers):
            while _stepping(conn) and time.monotonic() < deadline:
                time.sleep(0.001)


def _after_fork() -> None:
    while _PAUSED_AT_FORK:
        _PAUSED_AT_FORK.pop().resume()
    while _HELD_AT_FORK:
        try:
            _HELD_AT_FORK.pop().release()
        except RuntimeError:  # pragma: no cover - not owned by this thread after all
            pass


def _after_fork_in_child() -> None:
    _after_fork()
    for database in list(_OPEN):  # at once: the child may open the same file anew
        database._adopt_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork_in_child)


class _ProcessState:
    """Connections and locks of one process; replaced wholesale after a fork."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.writer: apsw.Connection | None = None
        self.checkpointer: Checkpointer | None = None  # the writer's log copied off its thread
        self.depth = 0
        self.owner = 0  # thread id holding the write transaction
        self.local = threading.local()
        self.readers: dict[apsw.Connection, weakref.finalize] = {}  # each with its thread's retirer


class _ThreadReader:
    """Held in one thread's local storage: when the thread ends, its reader connection closes
    (a server with a thread per request would otherwise keep one connection per request)."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: apsw.Connection):
        self.conn = conn


def _retire_reader(state: _ProcessState, conn: apsw.Connection) -> None:
    if state.pid != os.getpid():  # inherited through fork: the child leaves it alone
        return
    state.readers.pop(conn, None)  # no lock: this may run in any thread, during garbage collection
    try:
        conn.close()
    except apsw.Error:
        pass


class _Transaction:
    """The body of a write begun on ``conn`` (``state.lock`` held): commit at the end, roll back
    on an error; a nested use joins the outer transaction. This and `_Write` are classes, not
    generators: every write enters them, and a generator's context manager costs more (with
    `translated` a class too, an empty write took 10.3 us, now 7.3)."""

    __slots__ = ("state", "conn", "path", "outer")

    def __init__(self, state: _ProcessState, conn: apsw.Connection, path: str) -> None:
        self.state, self.conn, self.path = state, conn, path

    def __enter__(self) -> apsw.Connection:
        state = self.state
        self.outer = not state.depth
        if self.outer:
            state.depth, state.owner = 1, threading.get_ident()
        else:
            state.depth += 1
        return self.conn

    def __exit__(self, kind, exc, tb) -> None:
        state = self.state
        if not self.outer:
            state.depth -= 1
            return
        try:
            if exc is None:
                try:
                    self.conn.execute("COMMIT")
                except BaseException as failed:
                    self._abort(failed)
                    raise
            else:
                self._abort(exc)
        finally:
            state.depth, state.owner = 0, 0

    def _abort(self, exc: BaseException) -> None:
        """Roll back; an apsw error (or a damaged value) is raised again as a runlite error."""
        rollback(self.conn)
        if isinstance(exc, _TRANSLATED):
            raise translate(exc, self.path) from exc


def _copy_behind(state: _ProcessState) -> bool:
    """The log's copy has fallen behind the writer (`Checkpointer.behind`): a write beginning
    on a thread not already in one waits for it (it cannot while holding the write lock)."""
    checkpointer = state.checkpointer
    return checkpointer is not None and checkpointer.behind and state.owner != threading.get_ident()


class _Write:
    """``Database.write()``: this process's lock, ``BEGIN IMMEDIATE`` unless a write is already
    open on this thread, then the `_Transaction`."""

    __slots__ = ("database", "state", "body")

    def __init__(self, database: "Database") -> None:
        self.database = database

    def __enter__(self) -> apsw.Connection:
        database = self.database
        state = self.state = database._current()
        if _copy_behind(state):
            state.checkpointer.wait()
        state.lock.acquire()
        try:
            conn = database._writer(state)
            if not state.depth:
                with translated(database.path):
                    conn.execute("BEGIN IMMEDIATE")
            self.body = _Transaction(state, conn, database.path)
            return self.body.__enter__()
        except BaseException:
            state.lock.release()
            raise

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self.body.__exit__(kind, exc, tb)
        finally:
            self.state.lock.release()


class Database:
    """One runlite file: lazily opened writer and per-thread reader connections.

    Writes go through one writer connection per process, serialised by a lock and always
    inside ``BEGIN IMMEDIATE`` (a deferred read-then-write transaction would fail with
    SQLITE_BUSY under contention, and no timeout helps). Reads use one read-only connection
    per thread, inside a read transaction, so each read sees one consistent snapshot and
    never blocks the writer. An in-memory database has one connection for everything.
    """

    def __init__(self, path: str, *, read_only: bool, durable: bool, timeout: float, untrusted: bool = False):
        self.path = path
        self.read_only = read_only
        self.untrusted = untrusted  # readers get the untrusted profile (a file from someone else)
        self.durable = durable
        self.timeout = timeout
        self.memory = path == ":memory:"
        self.closed = False
        self._state = _ProcessState()
        if not self.memory:
            _OPEN.add(self)

    # -- connections

    def _adopt_fork(self) -> _ProcessState:
        """This process's state: after a fork, a new one (the inherited connections dropped)."""
        state = self._state
        if state.pid != os.getpid() and not self.memory:
            copiers = state.checkpointer.connections() if state.checkpointer else []
            _drop_inherited(state.writer, [*state.readers, *copiers])
            for retire in state.readers.values():
                retire.detach()
            state = self._state = _ProcessState()
        return state

    def _current(self) -> _ProcessState:
        if self.closed:
            raise errors.StoreClosedError(f"the store {self.path!r} is closed")
        state = self._adopt_fork()
        if state.pid != os.getpid():
            raise errors.StoreError("an in-memory store cannot be used after fork()")
        return state

    def connect(self, *, writable: bool, profile: Callable[..., None]) -> apsw.Connection:
        """A new connection with ``profile`` applied (errors translated)."""
        flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE if writable else apsw.SQLITE_OPEN_READONLY
        with translated(self.path):
            conn = apsw.Connection(self.path, flags=flags)
            try:
                if profile is writer_profile:
                    profile(conn, timeout=self.timeout, durable=self.durable)
                else:
                    profile(conn, timeout=self.timeout)
            except BaseException:
                conn.close()
                raise
        return conn

    def _writer(self, state: _ProcessState) -> apsw.Connection:
        if state.writer is None:
            if self.read_only:
                raise errors.ReadOnlyStoreError(f"the store {self.path!r} was opened with read_only=True")
            state.writer = self.connect(writable=True, profile=writer_profile)
            if not self.memory:
                state.checkpointer = Checkpointer(state.lock, lambda: self.connect(writable=True, profile=writer_profile))
                state.checkpointer.watch(state.writer)
        return state.writer

    def write(self) -> "_Write":
        """A write transaction (``BEGIN IMMEDIATE``), as ``with db.write() as conn:``; nested use
        joins the outer one.

        On any exception the transaction rolls back, unless SQLite already rolled it back
        itself (disk full, I/O error): then ROLLBACK would fail and mask the real error.
        """
        return _Write(self)

    @contextlib.contextmanager
    def try_write(self) -> Iterator[apsw.Connection | None]:
        """A write transaction if one can begin now, else ``None``: it never waits for the file.

        For due flushes of buffered points: another process may hold the file's write lock
        for seconds (a merge is one transaction), and a log call must not wait that long.
        The caller tries again later; a call that must write uses ``write()``. The file's lock
        is not waited for (a zero busy timeout for this one ``BEGIN``); this process's lock
        only ``LOCAL_WAIT`` s: another thread's write takes milliseconds, unless that thread
        is itself waiting for the file.
        """
        state = self._current()
        if _copy_behind(state) or not state.lock.acquire(timeout=LOCAL_WAIT):
            yield None  # a log call never waits for the log's copy either
            return
        try:
            conn = self._writer(state)
            if not state.depth and not self._begin_at_once(conn):
                yield None
                return
            with _Transaction(state, conn, self.path):
                yield conn
        finally:
            state.lock.release()

    def _begin_at_once(self, conn: apsw.Connection) -> bool:
        """``BEGIN IMMEDIATE`` without waiting: False when another connection holds the lock."""
        connection_busy_timeout(conn, 0)
        try:
            with translated(self.path):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except (apsw.BusyError, apsw.LockedError):
                    rollback(conn)
                    return False
        finally:
            connection_busy_timeout(conn, self.timeout)
        return True

    @contextlib.contextmanager
    def outside_transaction(self) -> Iterator[apsw.Connection]:
        """The writer, held exclusively but in no transaction: for ``VACUUM``, which cannot
        run inside one, and for opening (journal mode, migrations)."""
        state = self._current()
        with state.lock:
            conn = self._writer(state)
            with translated(self.path):
                yield conn

    def open_for_writing(self) -> None:
        """Create or upgrade the file's schema and switch it to WAL (run once at open)."""
        with self.outside_transaction() as conn:
            migrate(conn, self.path)
            connection_wal(conn, self.timeout)

    def check_readable(self) -> int:
        """The schema version of a file opened read-only (identity checked)."""
        with self.read() as conn:
            return check_identity(conn, self.path)

    @contextlib.contextmanager
    def read(self) -> Iterator[apsw.Connection]:
        """A read transaction on this thread's reader: one consistent snapshot."""
        state = self._current()
        if self.memory:
            with state.lock:
                conn = self._writer(state)
                with translated(self.path):
                    yield conn
            return
        if state.depth and state.owner == threading.get_ident():  # reading inside our own write: see it
            with translated(self.path):
                yield state.writer
            return
        holder = getattr(state.local, "reader", None)
        if holder is None:
            conn = self.connect(writable=False, profile=untrusted_profile if self.untrusted else reader_profile)
            holder = state.local.reader = _ThreadReader(conn)
            state.readers[conn] = weakref.finalize(holder, _retire_reader, state, conn)
        conn = holder.conn
        if conn.in_transaction:  # nested read on this thread: same snapshot
            with translated(self.path):
                yield conn
            return
        with translated(self.path):
            conn.execute("BEGIN")
        try:
            with translated(self.path):
                yield conn
        finally:
            try:  # (the store's close may have closed it: a half-read iterator ends after it)
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except apsw.Error:
                pass

    def close(self) -> None:
        """Close every connection of this process (idempotent)."""
        if self.closed:
            return
        state = self._adopt_fork()
        self.closed = True
        _OPEN.discard(self)
        if state.pid != os.getpid():  # an in-memory store inherited through fork: not ours
            return
        if state.checkpointer is not None:  # first, and outside the lock its last round may wait for
            state.checkpointer.close()
        with state.lock:
            for retire in list(state.readers.values()):
                retire()  # closes that reader, once
            if state.writer is not None:
                try:
                    state.writer.close()
                except apsw.Error:
                    pass
            state.writer = None


# ---------------------------------------------------------------- identity and migrations


def _has_tables(conn: apsw.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_schema").get > 0


def check_identity(conn: apsw.Connection, path: str) -> int:
    """The file's schema version, after checking it is a runlite file this library can read.

    Returns 0 for an empty new file.
    """
    with translated(path):
        app_id = conn.execute("PRAGMA application_id").get
        version = conn.execute("PRAGMA user_version").get
        tables = _has_tables(conn)
    if app_id == 0 and version == 0 and not tables:
        return 0
    if app_id != schema.APPLICATION_ID:
        raise errors.NotARunliteFile(
            f"{path!r} is a SQLite file of another application (application_id {app_id:#x}, "
            f"runlite files have {schema.APPLICATION_ID:#x}); it was left untouched"
        )
    if version < 0:  # runlite never writes one: a damaged header (MIGRATIONS has no such key)
        raise errors.CorruptStoreError(f"{path!r} has a negative schema version ({version}): its header is damaged")
    if version > schema.SCHEMA_VERSION:
        raise errors.SchemaTooNew(
            f"{path!r} has schema version {version}, newer than this runlite "
            f"(knows up to {schema.SCHEMA_VERSION}); upgrade runlite to read it. The file was left untouched"
        )
    # Every row of sqlite_schema, whatever its name, before anything else touches the file: the
    # same check for a trusted open (writable or not) as for a file from someone else, so no
    # foreign trigger or view ever runs on a write, and no migration runs on a stranger.
    with translated(path):
        found = schema_check.differences(conn, version)
    if found:
        raise errors.NotARunliteFile(
            f"{path!r} says it is a runlite file of schema version {version}, but its schema is not "
            f"runlite's ({'; '.join(found[:5])}{'; ...' if len(found) > 5 else ''}); runlite opens only files "
            f"whose schema is exactly what its migrations create (plus SQLite's ANALYZE statistics). "
            f"It was left untouched"
        )
    return version


def migrate(conn: apsw.Connection, path: str) -> int:
    """Bring the file to the current schema in one transaction; return the version found."""
    with translated(path):
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = check_identity(conn, path)  # again, now under the write lock
            for version in range(found + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.MIGRATIONS[version]:
                    conn.execute(statement)
            if found < schema.SCHEMA_VERSION:
                conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID:d}")
                conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION:d}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    return found
