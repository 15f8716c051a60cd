"""Writing runs received from LangSmith clients (``langsmith/wire.py``), in batches.

A create inserts the run; an update sets only the columns it carries, so a run's creates and
updates may arrive in any order and in any batches. Status follows LangSmith: ended with an
error is ``failed``, ended without one ``completed``, not ended ``running`` (read: pending).
A run whose parent has not arrived (yet, or ever) hangs under a placeholder parent named
``PLACEHOLDER_NAME``, made from what its ``dotted_order`` says (id, trace, start); the parent's
own create fills it in when it comes.
"""

from __future__ import annotations

import datetime as _dt
import functools

from . import attachments as files
from . import runs as runs_mod
from .._ids import dotted_ids, dotted_segment
from .._validation import dumps_lenient, now_us
from ..records import RUN_COLUMNS

PLACEHOLDER_NAME = "(parent not received)"

_DEFAULTS = {"name": "Unnamed", "folder": "/", "metadata": "{}", "tags": "[]"}


@functools.lru_cache(maxsize=256)
def _update_sql(columns: tuple[str, ...]) -> str:
    if any(c not in RUN_COLUMNS for c in columns):  # identifiers from the whitelist only
        raise ValueError(f"not columns of runs: {columns}")
    return f"UPDATE runs SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"


def _status(ended, error) -> str:
    return "running" if ended is None else ("failed" if error is not None else "completed")


def _segment_us(segment: str) -> int:
    """The start time a dotted_order segment carries (``%Y%m%dT%H%M%S%fZ`` + id)."""
    stamp = _dt.datetime.strptime(segment[:-36], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=_dt.timezone.utc)
    return round(stamp.timestamp() * 1_000_000)


def _placeholders(conn, dotted_order: str, session: tuple, now: int) -> None:
    """Placeholder rows for the ancestors of ``dotted_order`` that are not stored."""
    segments = dotted_order.split(".")
    ids = dotted_ids(dotted_order)
    for depth in range(len(ids) - 1):
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (ids[depth],)).fetchone():
            continue
        try:
            start = _segment_us(segments[depth])
        except ValueError:
            start = now
        runs_mod.insert(conn, {
            "id": ids[depth], "name": PLACEHOLDER_NAME, "kind": "trace", "run_type": "chain", "status": "running",
            "folder": "/", "parent_run_id": ids[depth - 1] if depth else None, "trace_id": ids[0],
            "dotted_order": ".".join(segments[:depth + 1]), "created": start, "started": start, "modified": now,
            "session_id": session[0], "session_name": session[1],
        })


def _place(conn, run_id: str, cols: dict, now: int) -> None:
    """Give a new run without a ``dotted_order`` one: under its stored parent, or as a root."""
    start = cols.get("started") or now
    parent = cols.get("parent_run_id")
    above = None
    if parent is not None:
        row = conn.execute("SELECT dotted_order FROM runs WHERE id = ?", (parent,)).fetchone()
        above = row[0] if row else dotted_segment(start, parent)
    cols["dotted_order"] = (f"{above}." if above else "") + dotted_segment(start, run_id)
    cols["trace_id"] = dotted_ids(cols["dotted_order"])[0]


def write(conn, batch: list) -> None:
    """Write a batch of remote runs (``SpanBuffer.take`` of ``RemoteRun``s, parents first)
    inside the caller's transaction."""
    if not batch:
        return
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    for run, _first_event, events, attachments in batch:
        cols = dict(run.columns)
        stored = conn.execute("SELECT ended, error FROM runs WHERE id = ?", (run.id,)).fetchone()
        if stored is None:
            if "dotted_order" not in cols:
                _place(conn, run.id, cols, now)
            _placeholders(conn, cols["dotted_order"], (cols.get("session_id"), cols.get("session_name")), now)
            ids = dotted_ids(cols["dotted_order"])
            cols.setdefault("parent_run_id", ids[-2] if len(ids) > 1 else None)
            cols.setdefault("created", cols.get("started") or now)
            row = {**_DEFAULTS, **cols, "id": run.id, "kind": "trace", "modified": now,
                   "status": _status(cols.get("ended"), cols.get("error"))}
            runs_mod.insert(conn, row)
        else:
            ended = cols.get("ended", stored[0])
            error = cols.get("error", stored[1])
            cols["status"], cols["modified"] = _status(ended, error), now
            if "dotted_order" in cols:
                _placeholders(conn, cols["dotted_order"], (cols.get("session_id"), cols.get("session_name")), now)
            names = tuple(cols)
            conn.execute(_update_sql(names), (*cols.values(), run.id))
        if run.replaces_events:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run.id,))
            conn.executemany(
                "INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                [(run.id, seq, now if when is None else when, name, message,
                  None if kwargs is None else dumps_lenient(kwargs, "event kwargs"))
                 for seq, (when, name, message, kwargs) in enumerate(events)])
        for name, data, mime in attachments:
            files.save_bytes(conn, run.id, name, data, mime)
