"""Connection policy: small named functions, one setting each, grouped into profiles.

Applied only to connections runlite opens itself (`connection.Database.connect`, a merge's or
a copy's own connection): never through process-wide apsw hooks, because a library must not
change its host's global state.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

import apsw

from .. import errors
from .._json_equal import JSON_EQUAL, json_equal


def connection_busy_timeout(conn: apsw.Connection, seconds: float) -> None:
    """Wait up to ``seconds`` for a lock instead of failing at once (https://sqlite.org/c3ref/busy_timeout.html)."""
    conn.set_busy_timeout(int(seconds * 1000))


WAL_RETRY_FIRST, WAL_RETRY_MAX = 0.001, 0.05  # seconds: backoff between journal-mode attempts


def connection_wal(conn: apsw.Connection, timeout: float = 0.0) -> None:
    """Write-ahead log: readers never block the writer (https://sqlite.org/wal.html).

    Switching a rollback-journal file to WAL writes its header while this statement already
    holds a read lock, and SQLite never calls the busy handler to upgrade a held lock (that
    could deadlock): with other processes creating or migrating the same file at that moment
    it returns SQLITE_BUSY within milliseconds, whatever the busy timeout. So the switch is
    retried with backoff until ``timeout`` seconds have passed.
    """
    deadline, delay = time.monotonic() + timeout, WAL_RETRY_FIRST
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").get
            break
        except (apsw.BusyError, apsw.LockedError):
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, WAL_RETRY_MAX)
    if mode not in ("wal", "memory"):
        raise errors.StoreError(f"could not switch the file to WAL journal mode (got {mode!r})")


def connection_synchronous(conn: apsw.Connection, durable: bool) -> None:
    """NORMAL survives an application crash; FULL also a power cut (https://sqlite.org/pragma.html#pragma_synchronous)."""
    conn.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")


def connection_foreign_keys(conn: apsw.Connection) -> None:
    """Enforce REFERENCES clauses (https://sqlite.org/foreignkeys.html)."""
    conn.execute("PRAGMA foreign_keys=ON")


def connection_defensive(conn: apsw.Connection) -> None:
    """No schema tampering from SQL (https://sqlite.org/c3ref/c_dbconfig_defensive.html)."""
    conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 1)


def connection_untrusted_schema(conn: apsw.Connection) -> None:
    """The file's schema may not call functions with side effects (https://sqlite.org/pragma.html#pragma_trusted_schema)."""
    conn.config(apsw.SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)


def connection_no_dqs(conn: apsw.Connection) -> None:
    """Double-quoted strings are identifiers only (https://sqlite.org/quirks.html#dblquote)."""
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)


def connection_stable_plans(conn: apsw.Connection) -> None:
    """Plans never depend on bound values (https://sqlite.org/c3ref/c_dbconfig_defensive.html),
    so a cached statement run with new values is not prepared again: with SQLite's STAT4
    built in, each new binding of a range or ORDER BY query otherwise re-planned it (and re-ran
    the authorizer), several times the cost of running it."""
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_QPSG, 1)


def connection_no_mmap(conn: apsw.Connection) -> None:
    """Read pages through the VFS so a damaged file gives errors, not faults (https://sqlite.org/mmap.html)."""
    conn.execute("PRAGMA mmap_size=0")


def connection_cell_size_check(conn: apsw.Connection) -> None:
    """Check cell sizes on every page read (https://sqlite.org/pragma.html#pragma_cell_size_check)."""
    conn.execute("PRAGMA cell_size_check=ON")


def connection_no_triggers_or_views(conn: apsw.Connection) -> None:
    """A foreign file's triggers and views never run (https://sqlite.org/c3ref/c_dbconfig_defensive.html)."""
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_VIEW, 0)


# data_version: fts5's own integrity check reads it, so verify() can report such a table.
_READ_PRAGMAS = frozenset(("application_id", "user_version", "journal_mode", "page_size", "page_count",
                           "freelist_count", "quick_check", "integrity_check", "schema_version", "data_version"))


def connection_read_only_authorizer(conn: apsw.Connection) -> None:
    """Only SELECT, reads, functions, read transactions and reading a few pragmas: a query
    connection cannot change anything (https://sqlite.org/c3ref/set_authorizer.html)."""
    allowed = {apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_FUNCTION, apsw.SQLITE_RECURSIVE,
               apsw.SQLITE_TRANSACTION}

    def authorize(action, name, value, *_rest):
        if action in allowed:
            return apsw.SQLITE_OK
        if action == apsw.SQLITE_PRAGMA and name in _READ_PRAGMAS and value is None:
            return apsw.SQLITE_OK
        return apsw.SQLITE_DENY

    conn.authorizer = authorize


_parsed_operand = lru_cache(maxsize=64)(json.loads)  # a filter's operand is the same for every row


def _json_equal(stored, operand) -> int:
    """1 when the JSON texts ``stored`` and ``operand`` hold equal values (``_json_equal.json_equal``),
    else 0: NULL, a number, or text that is not JSON (a damaged row) equals nothing."""
    if not isinstance(stored, str) or not isinstance(operand, str):
        return 0
    try:
        return int(json_equal(json.loads(stored), _parsed_operand(operand)))
    except (ValueError, RecursionError):
        return 0


def connection_json_equal(conn: apsw.Connection) -> None:
    """The SQL function filters compare JSON objects and arrays with (``_json_equal.JSON_EQUAL``):
    deterministic, and for SQL runlite runs only, never for a file's schema to call
    (https://sqlite.org/c3ref/c_deterministic.html)."""
    conn.create_scalar_function(JSON_EQUAL, _json_equal, 2, deterministic=True, flags=apsw.SQLITE_DIRECTONLY)


def _common(conn: apsw.Connection, timeout: float) -> None:
    connection_busy_timeout(conn, timeout)
    connection_defensive(conn)
    connection_untrusted_schema(conn)
    connection_no_dqs(conn)
    connection_stable_plans(conn)
    connection_no_mmap(conn)
    connection_foreign_keys(conn)
    connection_json_equal(conn)


def writer_profile(conn: apsw.Connection, *, timeout: float, durable: bool) -> None:
    """The connection that writes: the common policy plus synchronous."""
    _common(conn, timeout)
    connection_synchronous(conn, durable)


def reader_profile(conn: apsw.Connection, *, timeout: float) -> None:
    """A read-only connection of a trusted file; queries built from filters run here."""
    _common(conn, timeout)
    connection_read_only_authorizer(conn)


UNTRUSTED_MAX_VALUE = 128 << 20  # bytes: a value of a foreign file larger than this is refused


def connection_value_limit(conn: apsw.Connection, limit: int = UNTRUSTED_MAX_VALUE) -> None:
    """No string or blob over ``limit`` bytes is read (https://sqlite.org/c3ref/limit.html)."""
    conn.limit(apsw.SQLITE_LIMIT_LENGTH, limit)


def untrusted_profile(conn: apsw.Connection, *, timeout: float) -> None:
    """A read-only connection to a file that came from someone else."""
    _common(conn, timeout)
    connection_cell_size_check(conn)
    connection_no_triggers_or_views(conn)
    connection_value_limit(conn)
    connection_read_only_authorizer(conn)
