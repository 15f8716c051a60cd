"""A file's schema checked against the format (``schema.MIGRATIONS``): every row of its
``sqlite_schema`` must be one runlite's migrations create at its version, or a statistics
table exactly as ANALYZE makes it (``differences``); a file equal to ``schema_snapshot`` is
accepted without making the reference schema in memory.
"""

from __future__ import annotations

import functools
import re

import apsw

from . import schema_snapshot
from .schema import MIGRATIONS, SCHEMA_VERSION

# A file's schema is checked row by row against what runlite's migrations create: every row of
# ``sqlite_schema``, whatever its name. Nothing is skipped by a name pattern: SQLite creates
# its own ``sqlite_*`` rows (the indexes behind PRIMARY KEY and UNIQUE), and a planted object
# may carry any name (a LIKE pattern such as 'sqlite_%' also matches 'sqlitexevil', and a
# ``sqlite_`` name can be written with ``writable_schema``), so SQLite's own rows are compared
# too, from the same reference build.

# SQLite's whitespace between tokens (tokenize.c): runs of it are collapsed, so a file whose
# DDL was written with other indentation still matches. No other character is collapsed
# (str.split would also take U+00A0 and the like, which SQLite reads as part of a name), and
# runlite's DDL holds no comments and no whitespace inside literals, so two statements equal
# after collapsing are the same tokens.
_SQL_SPACE = re.compile("[ \t\n\f\r]+")


def _sql_text(sql: object) -> object:
    if isinstance(sql, str):
        return _SQL_SPACE.sub(" ", sql).strip(" ")
    return sql  # NULL (an index SQLite made for a constraint), or a value no CREATE left: as it is


def _storage(rootpage: object) -> str:
    """What a row's ``rootpage`` says: a b-tree of its own (tables, indexes) or none (views,
    triggers, virtual tables). The page number itself differs between files."""
    if type(rootpage) is int:
        return "b-tree" if rootpage > 0 else "none" if rootpage == 0 else "negative"
    return "not a page number"


def objects(conn: apsw.Connection) -> tuple[tuple, ...]:
    """Every row of a file's ``sqlite_schema`` as ``(type, name, tbl_name, storage, sql)``
    (SQL whitespace collapsed), in a stable order; values are kept as the file holds them."""
    rows = conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema").fetchall()
    found = [(kind, name, table, _storage(root), _sql_text(sql)) for kind, name, table, root, sql in rows]
    return tuple(sorted(found, key=repr))  # repr: a hostile row may hold values of mixed types


def _reference(version: int) -> apsw.Connection:
    """A private in-memory database holding exactly what migrations 1..version create."""
    conn = apsw.Connection(":memory:")
    try:
        for v in range(1, version + 1):
            for statement in MIGRATIONS[v]:
                conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


@functools.lru_cache(maxsize=None)
def expected_objects(version: int = SCHEMA_VERSION) -> tuple[tuple, ...]:
    """What ``objects`` gives for a file at ``version``: exactly what migrations 1..version
    create, SQLite's own rows for them (``sqlite_autoindex_*``) included."""
    conn = _reference(version)
    try:
        return objects(conn)
    finally:
        conn.close()


@functools.lru_cache(maxsize=None)
def statistics_objects() -> frozenset:
    """The rows ``ANALYZE`` (or ``PRAGMA optimize``) adds: SQLite's statistics tables
    (``sqlite_stat1``, and ``sqlite_stat4`` where SQLite was built with it), exactly as this
    SQLite creates them. A file may hold them or not: someone ran ANALYZE on it with the
    sqlite3 shell. They hold query-planner statistics only (no SQL that SQLite runs)."""
    conn = _reference(SCHEMA_VERSION)
    try:
        before = set(objects(conn))
        conn.execute("ANALYZE")
        return frozenset(row for row in objects(conn) if row not in before)
    finally:
        conn.close()


def _shown(value: object) -> str:
    """A type or name from the file as a message shows it: plain when it is a short ASCII
    identifier, else quoted and cut, so a crafted name cannot flood or garble the message."""
    if isinstance(value, str) and value.isascii() and value.isidentifier() and len(value) <= 64:
        return value
    text = repr(value)
    return text if len(text) <= 64 else text[:60] + "..."


def differences(conn: apsw.Connection, version: int) -> list[str]:
    """How a file's schema differs from runlite's at ``version`` (empty when it is the same):
    every ``sqlite_schema`` row must be one migrations 1..version create (type, name, table,
    storage and SQL), or a statistics table exactly as ANALYZE makes it; none may be missing."""
    actual = objects(conn)
    if version == schema_snapshot.VERSION and actual == schema_snapshot.OBJECTS:  # most opens: nothing to make
        return []
    expected = {row[1]: row for row in expected_objects(version)}
    named: dict = {}
    for row in actual:
        named[row[1]] = named.get(row[1], 0) + 1
    unexpected, changed = [], []
    for row in actual:
        kind, name = _shown(row[0]), _shown(row[1])
        if named[row[1]] > 1:  # SQLite keeps triggers apart from tables and indexes: one name, two objects
            unexpected.append(f"more than one object is named {name} ({kind} among them)")
        elif row[1] in expected:
            theirs = expected[row[1]][0]
            if row[0] != theirs:
                changed.append(f"{kind} {name} stands where runlite has the {theirs} {name}")
            elif row != expected[row[1]]:
                changed.append(f"{kind} {name} differs from runlite's")
        elif row not in statistics_objects():  # made when first asked: most files hold no statistics
            unexpected.append(f"unexpected {kind} {name}")
    missing = [f"{row[0]} {row[1]} is missing" for name, row in expected.items() if name not in named]
    return _by_kind(set(unexpected)) + _by_kind(changed) + _by_kind(missing)


# The order messages come in (an error names the first five): two objects under one name and
# rows of a type SQLite does not know, then what runs code (triggers, views), then tables, then
# indexes (SQLite adds one per PRIMARY KEY or UNIQUE constraint of a table already named).
_KIND_ORDER = {"trigger": 0, "view": 1, "table": 2, "index": 3}


def _by_kind(messages) -> list[str]:
    def key(message: str) -> tuple:
        words = message.split(" ", 3)  # "unexpected <kind> ...", "<kind> <name> ...", "more than one..."
        kind = words[1] if message.startswith("unexpected ") else words[0]
        return _KIND_ORDER.get(kind, -1), message
    return sorted(messages, key=key)
