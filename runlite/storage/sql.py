"""A caller's own read-only SQL (``Store.sql``, ``runlite sql``): one statement on a connection
of its own whose authorizer allows reads only, bounded in rows and in time.
"""

from __future__ import annotations

import time
from typing import Any

import apsw

from .. import errors
from ..records.query import QueryResult
from .._validation import shown
from . import connection as db, policy

MAX_ROWS = 1_000_000  # the most rows one call may ask for


def _check(query: Any, params: Any, max_rows: Any, timeout: Any) -> tuple:
    if not isinstance(query, str) or not query.strip():
        raise errors.ValidationError(f"query must be one SQL statement as a non-empty str, got {shown(query)}")
    if "\x00" in query:  # SQLite cannot take it
        raise errors.ValidationError("the SQL query holds a NUL character")
    if isinstance(params, (str, bytes)) or not isinstance(params, (tuple, list, dict)):
        raise errors.ValidationError(f"params must be a tuple or list (or a dict for :name), got {shown(params)}")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 0 <= max_rows <= MAX_ROWS:
        raise errors.ValidationError(f"max_rows must be an int from 0 to {MAX_ROWS:,}, got {shown(max_rows)}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86_400:
        raise errors.ValidationError(f"timeout must be seconds between 0 and 86400, got {shown(timeout)}")
    return query, params, max_rows, float(timeout)


def run(database, query: str, params: Any = (), *, max_rows: int, timeout: float) -> QueryResult:
    """Run exactly one read-only statement; stop after ``max_rows`` rows or ``timeout`` seconds."""
    query, params, max_rows, timeout = _check(query, params, max_rows, timeout)
    if database.memory:  # one connection holds the whole database: read-only for this query only
        with database.read() as conn:
            authorizer = conn.authorizer
            policy.connection_read_only_authorizer(conn)
            try:
                return _run(conn, database.path, query, params, max_rows, timeout)
            finally:
                conn.authorizer = authorizer
                conn.set_progress_handler(None)
    profile = policy.untrusted_profile if database.untrusted else policy.reader_profile
    conn = database.connect(writable=False, profile=profile)
    try:
        return _run(conn, database.path, query, params, max_rows, timeout)
    finally:
        conn.close()


def _holds_a_statement(conn, text: str) -> bool:
    """Whether ``text`` holds a statement SQLite would run (not just blanks, comments, ``;``).
    Each is prepared and stopped before it runs; anything SQLite cannot prepare (a syntax
    error, a refused table, a parameter left unbound) is text that is not nothing either."""
    def stop_at_a_statement(cursor, _sql, _bindings) -> bool:
        return not cursor.has_vdbe

    cursor = conn.cursor()
    cursor.exec_trace = stop_at_a_statement
    try:
        cursor.execute(text, can_cache=False)
    except apsw.Error:  # stopped before a statement ran, or one SQLite cannot prepare
        return True
    return False


def _run(conn, path: str, query: str, params: Any, max_rows: int, timeout: float) -> QueryResult:
    deadline = time.monotonic() + timeout
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
    consumed = 0  # characters of the query SQLite has prepared so far

    def one_statement(cursor, sql, _bindings) -> bool:
        nonlocal consumed
        consumed += len(sql)  # apsw hands over each statement's text as written, in order
        if not cursor.has_vdbe:  # only blanks, comments or a ';': nothing to run
            return True
        return not _holds_a_statement(conn, query[consumed:])  # the first runs only when it is the only one

    try:
        with db.translated(path):
            cursor = conn.cursor()
            cursor.exec_trace = one_statement
            try:
                try:
                    cursor.execute(query, params)
                except (TypeError, OverflowError, apsw.BindingsError) as exc:  # a value SQLite cannot bind
                    raise errors.ValidationError(
                        f"params must match the query's placeholders and hold only None, int64, float, str or "
                        f"bytes values: {exc}") from None
                except apsw.AuthError:  # the authorizer refused it while preparing: nothing ran
                    raise errors.ValidationError(
                        "the SQL may only read (SELECT, WITH, a pragma that reads): this statement would "
                        "change the file or reach another one") from None
                try:
                    columns = tuple(d[0] for d in cursor.get_description())
                except apsw.ExecutionCompleteError:  # a statement that returned no rows at all
                    columns = ()
                rows, truncated = [], False
                for row in cursor:  # a second statement starts when the first is done: refused
                    if len(rows) >= max_rows:
                        truncated = True
                        break
                    rows.append(row)
            except apsw.ExecTraceAbort:
                raise errors.ValidationError(
                    "runlite runs one SQL statement at a time; the query holds more") from None
    except errors.StoreError as exc:
        if "interrupt" in str(exc):
            raise errors.StoreError(f"the query ran longer than {timeout:g} s (timeout)") from None
        raise
    return QueryResult(columns=columns, rows=rows, truncated=truncated)
