"""Events of a run: Simvue log messages and LangSmith named events, buffered with metrics.

One event record holds ``name``, ``message``, ``level``, ``time`` and ``kwargs``. Events are
numbered per run (``seq``), so an archive merge recognises ones it already has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _lazy, errors
from .._validation import (
    check_choice, check_name, check_text, dumps_lenient, from_us, one_or_many, shown, stored_json, to_us,
)

if TYPE_CHECKING:
    from ..records.events import Event

event_records = _lazy.module("runlite.records.events")  # made by reads alone: logging makes none

LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_MESSAGE = 1 << 20  # characters of one message


class EventBuffer:
    """Events of one run waiting to be flushed, as ready-to-insert rows
    ``(seq, time_us, level, name, message, kwargs_json)`` (appended by ``Run``)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.oldest_us = 0
        self.next_seq = 0

    def clear(self) -> None:
        """Forget the buffered rows (after a successful flush)."""
        self.rows = []


def check_message(message: Any) -> str:
    """A log message: text up to 1 Mi characters."""
    return check_text(message, "message", max_len=MAX_MESSAGE)


def check_level(level: Any) -> str:
    """One of debug, info, warning, error, critical."""
    return check_choice(level, "level", LEVELS)


def kwargs_json(kwargs: dict) -> str | None:
    """LangSmith event kwargs as JSON (program values allowed; see ``dumps_lenient``)."""
    return dumps_lenient(kwargs, "event kwargs") if kwargs else None


def flush(conn, run_id: str, buffer: EventBuffer) -> None:
    """Insert the buffered events inside the caller's transaction, after the run's stored ones.

    A writer numbers its events itself, from what the file held when it started; another
    writer of the run may have stored events since (a resume after an abort while the first
    handle still logs, a forked child logging to its parent's run): the buffer's events then
    move up past them, in their order, instead of failing the flush (and, retried, every one
    after it) on the run's event numbers."""
    rows = buffer.rows
    if not rows:
        return
    shift = next_seq(conn, run_id) - rows[0][0]
    conn.executemany(
        "INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(run_id, *row) for row in rows] if shift <= 0 else [(run_id, row[0] + shift, *row[1:]) for row in rows],
    )


def insert(conn, run_id: str, time_us: int, level: str, message: str) -> None:
    """Insert one log message now, after the run's stored events, inside the caller's
    transaction (a run's own history, such as a resume, written with the change it records)."""
    conn.execute("INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES"
                 " (?, (SELECT coalesce(max(seq) + 1, 0) FROM events WHERE run_id = ?), ?, ?, NULL, ?, NULL)",
                 (run_id, run_id, time_us, check_level(level), check_message(message)))


def next_seq(conn, run_id: str) -> int:
    """The seq the next event of a run gets (after what the file holds)."""
    return conn.execute("SELECT coalesce(max(seq) + 1, 0) FROM events WHERE run_id = ?", (run_id,)).get


def read(conn, run_id: str, *, contains=None, level=None, since=None, until=None,
         limit=None, offset=0) -> list[Event]:
    """Events of a run in time order (see ``Store.events``)."""
    where, params = ["run_id = ?"], [run_id]
    if contains is not None:
        check_text(contains, "contains", max_len=MAX_MESSAGE)
        where.append("instr(message, ?) > 0")  # plain substring: no LIKE wildcards to escape
        params.append(contains)
    if level is not None:
        levels = one_or_many(level, "level")
        for item in levels:
            check_level(item)
        where.append("level IN (%s)" % ", ".join("?" * len(levels)))
        params.extend(levels)
    start, start_params = "", []  # where the events read start: since, or a deep page's first event
    if since is not None:
        start, start_params = " AND time >= ?", [to_us(since, "since")]
    if until is not None:
        where.append("time <= ?")
        params.append(to_us(until, "until"))
    for value, what in ((limit, "limit"), (offset, "offset")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise errors.ValidationError(f"{what} must be an int >= 0, got {shown(value)}")
    filters = " AND ".join(where)
    if offset:
        # OFFSET looks up every event it skips in the table (3 pages each: 54 ms for the last page
        # of 160k events). The index events_time (run_id, time, seq) holds the time and the key, so
        # the page's first event is found there and only the page's events are read (6 ms); a filter
        # on the level or the message still reads each event it skips, as only the table holds them.
        # That first event replaces since as the start (it implies it): given both, SQLite ranges the
        # index from since and looks up every event on the way to the page again.
        start = (" AND (time, seq) >= (SELECT time, seq FROM events WHERE " + filters + start +
                 " ORDER BY time, seq LIMIT 1 OFFSET ?)")
        start_params = [*params, *start_params, offset]
    sql = ("SELECT seq, time, level, name, message, kwargs FROM events WHERE " + filters + start +
           " ORDER BY time, seq LIMIT ?")
    params.extend((*start_params, -1 if limit is None else limit))
    # Positional: a run may hold millions of events, and keywords cost a third more a record.
    return [event_records.Event(seq, from_us(t), lvl, name, msg, None if kw is None else stored_json(kw))
            for seq, t, lvl, name, msg, kw in conn.execute(sql, params)]


def count(conn, run_id: str) -> int:
    """How many events a run has."""
    return conn.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,)).get


def check_event_name(name: Any) -> str:
    """A LangSmith event name (``start``, ``end``, ``new_token``...)."""
    return check_name(name, "event name")
