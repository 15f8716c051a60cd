"""Writing runs received from LangSmith clients (``langsmith/wire.py``), in batches.

A create inserts the run; an update sets only the columns it carries, so a run's creates and
updates may arrive in any order and in any batches. Status follows LangSmith: ended with an
error is ``failed``, ended without one ``completed``, not ended ``running`` (read: pending).
A run whose parent has not arrived (yet, or ever) hangs under a placeholder parent named
``PLACEHOLDER_NAME`` (kind ``placeholder``), made from what its ``dotted_order`` says (id,
trace, start); the parent's own create fills it in when it comes. Clients that name parents
but send no dotted order (OpenTelemetry's) are placed under the stored parent, or a
placeholder of it; when a run turns out to belong elsewhere (its real parent arrived, with a
parent of its own), it moves there with everything below it: ids stay, only ``dotted_order``
and ``trace_id`` are rewritten, in one statement. A parent link that would make a cycle is
left as first stored.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
from typing import Callable

from . import attachments as files
from . import batches
from . import runs as runs_mod
from . import subtrees
from .schema import RUN_COLUMNS
from .._ids import dotted_ids, dotted_segment
from .._validation import dumps, now_us, shown

log = logging.getLogger("runlite")

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


class _NewRows:
    """The rows of a batch's new runs and placeholders, in order (parents first), inserted
    together (``runs.insert_many``: one row a statement costs 3-4x as much) before anything
    reads stored rows to rewrite them, and before the rows that refer to them (events,
    attachments)."""

    def __init__(self, conn):
        self.conn, self.rows, self.added = conn, {}, set()

    def add(self, row: dict) -> None:
        self.rows[row["id"]] = row
        self.added.add(row["id"])

    def dotted_order(self, run_id: str) -> str | None:
        """A run's dotted order, new in this batch or stored; None when it is neither."""
        row = self.rows.get(run_id)
        if row is not None:
            return row["dotted_order"]
        found = self.conn.execute("SELECT dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if found is None else found[0]

    def insert(self) -> None:
        if self.rows:  # all columns, one shape a batch: NULL where a row has no value (its
            # columns with a default in the schema, kind and _DEFAULTS', every row sets)
            values = [value for row in self.rows.values() for value in map(row.get, RUN_COLUMNS)]
            runs_mod.insert_many(self.conn, RUN_COLUMNS, values)
            self.rows = {}


def placeholder_rows(dotted_order: str, session: tuple, now: int,
                     wanted: Callable[[str], bool] | None = None) -> list[dict]:
    """The rows of placeholders for the ancestors ``dotted_order`` names (those ``wanted`` is
    true of, when given), root first: id, trace and start from its segments; ``session`` is
    ``(project id, project name)``."""
    segments = dotted_order.split(".")
    ids = dotted_ids(dotted_order)
    rows = []
    for depth in range(len(ids) - 1):
        if wanted is not None and not wanted(ids[depth]):
            continue
        try:
            start = _segment_us(segments[depth])
        except ValueError:
            start = now
        rows.append({
            **_DEFAULTS, "id": ids[depth], "name": PLACEHOLDER_NAME, "kind": "placeholder", "run_type": "chain",
            "status": "running", "folder": "/", "parent_run_id": ids[depth - 1] if depth else None, "trace_id": ids[0],
            "dotted_order": ".".join(segments[:depth + 1]), "created": start, "started": start, "modified": now,
            "session_id": session[0], "session_name": session[1],
        })
    return rows


def _placeholders(new: _NewRows, dotted_order: str, session: tuple, now: int) -> None:
    """Placeholder rows for the ancestors of ``dotted_order`` that are not stored."""
    for row in placeholder_rows(dotted_order, session, now, lambda run_id: new.dotted_order(run_id) is None):
        new.add(row)


def _place(new: _NewRows, run_id: str, cols: dict, now: int) -> bool:
    """Give a new run without a ``dotted_order`` one: under its parent, or as a root. True
    when its parent is a row this batch added, whose ancestors all have rows already."""
    start = cols.get("started") or now
    parent = cols.get("parent_run_id")
    above = None
    if parent is not None:
        above = new.dotted_order(parent) or dotted_segment(start, parent)
    cols["dotted_order"] = (f"{above}." if above else "") + dotted_segment(start, run_id)
    cols["trace_id"] = dotted_ids(cols["dotted_order"])[0]
    return parent is not None and parent in new.rows


def _target(conn, run_id: str, cols: dict, stored: tuple) -> str | None:
    """Where a stored run belongs now (its new ``dotted_order``), or None to leave it: a
    client's dotted order, or one made under the parent the update names (for clients that
    send parents only, such as OpenTelemetry's) and for placeholders filled in."""
    _ended, _error, dotted, parent_was, kind, started, created = stored
    if "dotted_order" in cols:
        ids = dotted_ids(cols["dotted_order"])
        if len(ids) > 1 and _below(_dotted_of(conn, ids[-2]), dotted):
            return None  # the parent it names is below the run: a cycle, left as it was stored
        return cols["dotted_order"]
    if "parent_run_id" not in cols and kind != "placeholder":
        return None  # nothing says it moved
    parent = cols.get("parent_run_id", parent_was)
    start = cols.get("started") or started or created
    if parent is None:
        return dotted_segment(start, run_id)
    parent_dotted = _dotted_of(conn, parent)
    if _below(parent_dotted, dotted):
        return None  # the parent is below the run: a cycle, left as it was stored
    above = parent_dotted if parent_dotted is not None else dotted_segment(start, parent)
    if kind != "placeholder" and parent == parent_was and dotted.startswith(above + "."):
        return None  # already there
    return f"{above}.{dotted_segment(start, run_id)}"


def _dotted_of(conn, run_id: str) -> str | None:
    """The stored run's dotted order, None when the file has no such run."""
    row = conn.execute("SELECT dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def _below(other: str | None, dotted: str) -> bool:
    """Whether the run at dotted order ``other`` (None: no stored run) is the run at ``dotted``
    or below it."""
    return other is not None and (other == dotted or other.startswith(dotted + "."))


def _relink(conn, old: str, new: str) -> None:
    """Move a run and everything below it from ``old`` to ``new`` dotted order (a new place,
    maybe a new trace): ids stay, paths are rewritten in one statement."""
    old_trace, new_trace = dotted_ids(old)[0], dotted_ids(new)[0]
    below = (subtrees.where(own="dotted_order"), subtrees.values(old_trace, old, old))
    if new_trace != old_trace:
        conn.execute(f"UPDATE feedback SET trace_id = ? WHERE run_id IN (SELECT id FROM runs WHERE {below[0]})",
                     (new_trace, *below[1]))
    conn.execute(f"UPDATE runs SET dotted_order = ? || substr(dotted_order, ?), trace_id = ? WHERE {below[0]}",
                 (new, len(old) + 1, new_trace, *below[1]))


# What a stored run holds when no client gave a value (``_DEFAULTS``): a create fills it in.
_UNSET = {"name": "Unnamed", "metadata": "{}", "tags": "[]"}
_TREE = ("dotted_order", "trace_id", "parent_run_id")  # a run's place: moved as ``_target`` says


def _keep_stored(conn, run, cols: dict, kept_events: set) -> None:
    """A create of a run the file holds (its update arrived first, or the create came twice)
    fills in what the run lacks and replaces nothing: the update is the later state of the
    run. Drops from ``cols`` the create's columns the stored run has a value for, and adds
    the run to ``kept_events`` when its events came from the create and it has some."""
    names = [c for c in run.from_create if c in cols and c in RUN_COLUMNS and c not in _TREE]
    if names:
        values = conn.execute(f"SELECT {', '.join(names)} FROM runs WHERE id = ?", (run.id,)).fetchone()
        stored = dict(zip(names, values))
        for name, value in stored.items():
            if value is not None and _UNSET.get(name) != value:
                if name != "created" or stored.get("started", value) is not None:
                    del cols[name]  # ``created`` goes with ``started``: the start a client gave
    if run.events_from_create and conn.execute("SELECT 1 FROM events WHERE run_id = ? LIMIT 1",
                                                (run.id,)).fetchone():
        kept_events.add(run.id)


def _parents_first(batch: list) -> list:
    """The batch with each run after its parent when both are in it. Clients that send no
    dotted order (OpenTelemetry's) export a span when it ends, children before their parent:
    written first, a child would hang under a placeholder its parent then moves."""
    by_id = {item[0].id: item for item in batch}
    out, placed = [], set()
    for item in batch:
        chain = []
        while item is not None and item[0].id not in placed:
            placed.add(item[0].id)  # also ends a cycle of parent links
            chain.append(item)
            item = by_id.get(item[0].columns.get("parent_run_id"))
        out.extend(reversed(chain))
    return out


def write(conn, batch: list) -> None:
    """Write a batch of remote runs (``SpanBuffer.take`` of ``RemoteRun``s) inside the
    caller's transaction; a run that cannot be written is dropped alone (`batches.write_apart`)."""
    if batch:
        batches.write_apart(conn, batch, _write, lambda item: f"received run {item[0].id}")


def _write(conn, batch: list) -> None:
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    new = _NewRows(conn)
    # Which runs of the batch the file holds, asked once: a run it does not hold (nearly all an
    # OTel export's) is then not read alone, unless the batch made a placeholder of it since.
    held = {row[0] for row in conn.execute("SELECT id FROM runs WHERE id IN (SELECT value FROM json_each(?))",
                                           (dumps([item[0].id for item in batch]),))}
    others = set()  # ids another kind of run of the file has (an experiment's): left as it is
    kept_events = set()  # ids of stored runs whose events a create arriving late leaves alone
    for run, _first_event, _events, _attachments in _parents_first(batch):
        cols = dict(run.columns)
        session = (cols.get("session_id"), cols.get("session_name"))
        if run.id in new.rows:  # a placeholder of this batch, filled in now
            new.insert()
        stored = None if run.id not in held and run.id not in new.added else conn.execute(
            "SELECT ended, error, dotted_order, parent_run_id, kind, started, created FROM runs WHERE id = ?",
            (run.id,)).fetchone()
        if stored is not None and stored[4] not in ("trace", "placeholder"):
            log.error("runlite: received run %s was not written: a %s run of the file has its id", run.id,
                      shown(stored[4]))
            others.add(run.id)
            continue
        if stored is None:
            if "dotted_order" in cols or not _place(new, run.id, cols, now):
                _placeholders(new, cols["dotted_order"], session, now)
            ids = dotted_ids(cols["dotted_order"])
            cols.setdefault("parent_run_id", ids[-2] if len(ids) > 1 else None)
            cols.setdefault("created", cols.get("started") or now)
            new.add({**_DEFAULTS, **cols, "id": run.id, "kind": "trace", "modified": now,
                     "status": _status(cols.get("ended"), cols.get("error"))})
            continue
        new.insert()  # a move reads and rewrites stored rows
        if stored[4] == "trace" and run.from_create:
            _keep_stored(conn, run, cols, kept_events)
        target = _target(conn, run.id, cols, stored)
        cols.pop("dotted_order", None), cols.pop("trace_id", None), cols.pop("parent_run_id", None)
        if target is not None and target != stored[2]:
            _placeholders(new, target, session, now)
            new.insert()
            _relink(conn, stored[2], target)
            ids = dotted_ids(target)
            cols["parent_run_id"] = ids[-2] if len(ids) > 1 else None
        ended = cols.get("ended", stored[0])
        error = cols.get("error", stored[1])
        cols["status"], cols["modified"], cols["kind"] = _status(ended, error), now, "trace"
        names = tuple(cols)
        conn.execute(_update_sql(names), (*cols.values(), run.id))
    new.insert()
    for run, _first_event, events, attachments in batch:
        if run.id in others:
            continue
        if run.replaces_events and run.id not in kept_events:
            conn.execute("DELETE FROM events WHERE run_id = ?", (run.id,))
            conn.executemany(
                "INSERT INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                [(run.id, seq, now if when is None else when, name, message, kwargs_json)
                 for seq, (when, name, message, kwargs_json) in enumerate(events)])
        for name, data, mime in attachments:
            files.save_bytes(conn, run.id, name, data, mime)
