"""The query plans of what a store call reads: a test asserts the plan SQLite chose, not a
timing (``EXPLAIN QUERY PLAN`` of each statement the call ran, with its own bindings)."""

from __future__ import annotations

import apsw


def _explained(store, call, wanted: str, explain: str) -> list[list[tuple]]:
    """The rows of ``explain`` (``EXPLAIN`` or ``EXPLAIN QUERY PLAN``) of each statement holding
    ``wanted`` that ``call()`` runs on this thread's reader, with its own bindings."""
    seen = []
    with store.database.read() as conn:
        conn.exec_trace = lambda _cursor, sql, bindings: seen.append((sql, bindings)) or True
        try:
            call()
        finally:
            conn.exec_trace = None
        return [conn.execute(f"{explain} {sql}", bindings or ()).fetchall() for sql, bindings in seen if wanted in sql]


def read_plans(store, call, wanted: str) -> list[str]:
    """The plan of each statement holding ``wanted`` that ``call()`` runs on this thread's
    reader, its rows joined by " | "."""
    return [" | ".join(row[3] for row in rows) for rows in _explained(store, call, wanted, "EXPLAIN QUERY PLAN")]


def read_programs(store, call, wanted: str) -> list[list[tuple]]:
    """The program of each statement holding ``wanted`` that ``call()`` runs on this thread's
    reader: ``(opcode, p1, p2, p3)`` of each ``EXPLAIN`` row, what SQLite's virtual machine does
    (``("Column", cursor, column, register)`` reads a column of the table or index that
    ``("OpenRead", cursor, root page, ...)`` opened)."""
    return [[row[1:5] for row in rows] for rows in _explained(store, call, wanted, "EXPLAIN")]


def _counter():
    """A progress handler counting SQLite's virtual-machine steps in thousands, and the count."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0
    return steps, count


def read_steps(store, call) -> int:
    """SQLite's virtual-machine steps (in thousands) of what ``call()`` reads on this thread's
    reader: the work it does, whatever the machine's speed."""
    steps, count = _counter()
    with store.database.read() as conn:
        conn.set_progress_handler(count, 1000)
        try:
            call()
        finally:
            conn.set_progress_handler(None)
    return steps[0]


def writer_steps(store, call) -> int:
    """The same of what ``call()`` does on the store's writer connection (a flush's work)."""
    steps, count = _counter()
    with store.database.write() as conn:
        conn.set_progress_handler(count, 1000)
    try:
        call()
    finally:
        with store.database.write() as conn:
            conn.set_progress_handler(None)
    return steps[0]


def read_pages(store, call) -> int:
    """Database pages that ``call()`` asks this thread's reader's page cache for (hits and
    misses): the b-tree work of a read, which VM steps undercount when each step is a seek."""
    with store.database.read() as conn:
        before = [conn.status(op)[0] for op in (apsw.SQLITE_DBSTATUS_CACHE_HIT, apsw.SQLITE_DBSTATUS_CACHE_MISS)]
        call()
        after = [conn.status(op)[0] for op in (apsw.SQLITE_DBSTATUS_CACHE_HIT, apsw.SQLITE_DBSTATUS_CACHE_MISS)]
    return sum(after) - sum(before)


def read_statements(store, call) -> list[str]:
    """The SQL of every statement ``call()`` runs on this thread's reader, in order (its reads
    all share one transaction here: each of the call's reads nests in it)."""
    seen = []
    with store.database.read() as conn:
        conn.exec_trace = lambda _cursor, sql, _bindings: seen.append(sql) or True
        try:
            call()
        finally:
            conn.exec_trace = None
    return seen
