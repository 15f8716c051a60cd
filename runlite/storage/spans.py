"""The store's span writer: batches of spans written in one transaction.

Spans wait in memory (``tracing/buffer.py``); a batch upserts every span that started,
changed or ended since the last one (parents before children), with the new events and
attachments the batch carries. Spans still running are written as ``running`` and written
again when they end, so a crash leaves them visible (and ``lost`` once their process is gone).

What the traced thread deferred happens here, a piece of a batch (``_PIECE`` spans) at a time:
ids and dotted orders (``Span.columns``), binding inputs, JSON encoding and size checks. Rows go
``runs.ROWS_PER_STATEMENT`` at a time, as one multi-row upsert (``runs.insert_rows_sql``): an
``executemany`` of one row a statement is 3-4x slower (the constant says why).
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import uuid

from . import attachments as files
from . import batches
from . import ingest
from . import runs as runs_mod
from .schema import RUN_COLUMNS
from .._host import THIS_HOST
from .._ids import project_id
from .._validation import MAX_JSON, dumps, dumps_lenient, json_texts, lenient_text, now_us, shown, walk_needed
from ..errors import LimitError

log = logging.getLogger("runlite")

# A span's row is written when it starts and again when it changes or ends (an upsert by id).
_COLUMNS = ("id", "name", "run_type", "status", "folder", "metadata", "tags", "parent_run_id", "trace_id",
            "dotted_order", "created", "started", "ended", "modified", "inputs", "outputs", "error",
            "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
            "first_token_time", "host", "pid", "heartbeat", "session_id", "session_name", "reference_example_id")
_CHANGING = ("status", "ended", "modified", "metadata", "tags", "outputs", "error", "prompt_tokens",
             "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost",
             "first_token_time", "heartbeat")
_CONSTANTS = (("kind", "'trace'"), ("heartbeat_timeout", "NULL"))
_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost")
# Of a batch's items (``SpanQueue.take``: span, first event, events, attachments), and of spans.
_SPAN, _EVENTS_OF, _ATTACHMENTS_OF = operator.itemgetter(0), operator.itemgetter(2), operator.itemgetter(3)
_PARENT, _INPUTS_SET = operator.attrgetter("parent"), operator.attrgetter("inputs_set")
# Spans a batch's rows are made and inserted for at a time (a batch is all that waited: tens of
# thousands when the writer falls behind): the column passes over that many spans stay in the
# processor's caches, and the values made for them are freed before the next piece's are made.
_PIECE = 16 * runs_mod.ROWS_PER_STATEMENT
_EVENTS = "INSERT OR REPLACE INTO events (run_id, seq, time, level, name, message, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _json(value) -> str | None:
    """Any program value as JSON (`dumps_lenient`), None as None; one over ``MAX_JSON`` as a
    marker instead (logged), as the SDK marks inputs it could not process: refusing it would
    fail its whole batch, and every later batch that retries it."""
    if value is None:
        return None
    try:
        return dumps_lenient(value, "span value")
    except LimitError as exc:
        log.warning("runlite: a span's inputs or outputs were not stored: %s", exc)
        return dumps({"ls_error": f"Value dropped: {exc}"})


def _json_column(values: tuple) -> list:
    """``_json`` of every value, in C-level loops when all are plain JSON that the lenient walk
    would write the same (the common case)."""
    if None not in values:
        try:
            texts = json_texts(values)
        except (TypeError, ValueError, RecursionError):
            pass
        else:
            if all(map(str.isascii, texts)) and max(map(len, texts)) <= MAX_JSON and not walk_needed(texts):
                return texts
    return [_json(value) for value in values]


def _checked_json(values: tuple, what: str, empty: str) -> list:
    """JSON of each span's metadata (or tags), ``empty`` for none. They were checked when given,
    but a program may change a span's dict or list in place afterwards, as LangSmith's
    ``RunTree`` lets it (a NaN score, a UUID tag, megabytes of keys): such a value is written
    leniently, or as a marker beyond the JSON limit (logged), never failing the batch."""
    if not any(values):
        return [empty] * len(values)
    try:
        return [dumps(v, what) if v else empty for v in values]
    except (TypeError, ValueError, RecursionError, LimitError):
        return [_lenient_json(v, what, empty) for v in values]


def _lenient_json(value, what: str, empty: str) -> str:
    if not value:
        return empty
    if empty == "[]":  # tags: text each, as a program value shows itself (a UUID as its digits)
        value = [t if isinstance(t, str) else _text(t) for t in value]
    try:
        return dumps_lenient(value, what)  # plain JSON as it is, the rest as the walk writes it
    except LimitError as exc:
        log.warning("runlite: a span's %s was not stored: %s", what, exc)
        return dumps({"ls_error": f"Value dropped: {exc}"}) if empty == "{}" else empty


def _text(value) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a program value whose str() fails is still recorded
        return lenient_text(value)


def _reference(value):
    """A span's reference example id as stored: a UUID object (``RunTree``'s type) as its text,
    text as it is; anything else is no id (logged)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    log.warning("runlite: a span's reference_example_id %s is not an id; not stored", shown(value))
    return None


def rows(batch: list, now: int) -> tuple[list, list]:
    """The values of a batch's span rows (``_COLUMNS`` after one another, one flat list) and
    of its event rows. Built a column at a time: each column's work is one C-level loop."""
    n = len(batch)
    spans = list(map(_SPAN, batch))
    (ids, names, run_types, statuses, folders, metadata, tags, parents, traces, orders, starts, ends, inputs,
     outputs, errors, usage, first_tokens, pids, sessions, references) = spans[0].columns(spans)
    pid = os.getpid()
    if any(usage):
        usage_columns = [[u.get(key) if u else None for u in usage] for key in _USAGE]
    else:
        usage_columns = [(None,) * n] * len(_USAGE)
    if references.count(None) != n and not all(r is None or type(r) is str for r in references):
        references = [_reference(r) for r in references]
    projects = {name: project_id(name) for name in set(sessions) if name is not None}
    columns = (ids, names, run_types, statuses, folders,
               _checked_json(metadata, "metadata", "{}"), _checked_json(tags, "tags", "[]"),
               parents, traces, orders, starts, starts, ends, [now] * n, _json_column(inputs),
               _json_column(outputs), errors, *usage_columns, first_tokens, [THIS_HOST] * n,
               pids if all(pids) else [p or pid for p in pids], [now] * n,
               list(map(projects.get, sessions)), sessions, references)
    # Each column copied to its places (every width-th) at once: half the time of zipping the
    # columns into a tuple a row and chaining those.
    width = len(columns)
    flat = [None] * (n * width)
    for k, column in enumerate(columns):
        flat[k::width] = column
    event_rows = []
    for (_, first_event, events, _), run_id in itertools.compress(zip(batch, ids), map(_EVENTS_OF, batch)):
        for k, (when, event_name, message, kwargs) in enumerate(events, start=first_event):
            event_rows.append((run_id, k, when, None, event_name, message,
                               None if kwargs is None else _json(kwargs)))
    return flat, event_rows


def _write_ancestors(conn, batch: list, now: int) -> None:
    """Rows for the ancestors of the batch's spans whose parent this store does not write,
    root first, each inserted unless its id is stored. Another store of this process on the
    same file writes its spans itself, maybe later, and a child's row needs its parent's (a
    foreign key): their rows as they are now (that store's writer then updates them). A parent
    in another process, or a span traced while tracing was off, is never written: a
    placeholder, as a received run's missing parent gets (`ingest.placeholder_rows`). The
    common case, one store tracing, costs one test a span; a batch of roots, one C-level pass."""
    if not any(map(_PARENT, map(_SPAN, batch))):
        return
    live, held = {}, {}
    ids = None  # the batch's spans by id, made only when needed
    for item in batch:
        span = item[0]
        parent = span.parent
        if parent is None or (parent.store is span.store and parent.pid == span.pid):  # the common case
            continue
        chain = span.outside_ancestors()
        if ids is None:
            ids = {entry[0].id: entry[0] for entry in batch}
        for node, written in chain:
            if written:
                live.setdefault(node.id, node)
        name = span.session_name
        session = (None if name is None else project_id(name), name)
        for row in ingest.placeholder_rows(span.dotted_order, session, now, lambda run_id: run_id not in held):
            held[row["id"]] = row
    if ids is None:
        return
    for run_id in held.keys() & ids.keys():  # a span of the batch, named only by a dotted order
        live.setdefault(run_id, ids[run_id])
    ordered = sorted([(node.dotted_order, node) for node in live.values()]
                     + [(row["dotted_order"], row) for run_id, row in held.items() if run_id not in live],
                     key=lambda pair: pair[0])
    for _, item in ordered:  # one row a statement: each needs the one before it (a rare path)
        if isinstance(item, dict):
            runs_mod.insert_many(conn, RUN_COLUMNS, list(map(item.get, RUN_COLUMNS)), keep_existing=True)
        else:
            flat, _ = rows([(item, 0, (), ())], now)
            runs_mod.insert_many(conn, _COLUMNS, flat, constants=_CONSTANTS, keep_existing=True)


def write(conn, batch: list) -> None:
    """Write a batch (``SpanQueue.take``: spans with their new events and attachments)
    inside the caller's transaction; a span that cannot be written is dropped alone
    (`batches.write_apart`), with its events and attachments."""
    if batch:
        batches.write_apart(conn, batch, _write, _named)


def _named(item) -> str:
    span = item[0]
    return f"span {getattr(span, '_id', None) or 'without an id'} ({shown(getattr(span, 'name', None))})"


def _write(conn, batch: list) -> None:
    now = now_us()
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    _write_ancestors(conn, batch, now)
    written, event_rows = 0, []
    for at in range(0, len(batch), _PIECE):
        piece = batch[at:at + _PIECE]
        flat, events = rows(piece, now)
        written += runs_mod.insert_many(conn, _COLUMNS, flat, _CHANGING, _CONSTANTS)
        _rewrite_inputs(conn, piece, flat)
        event_rows += events
    if written != len(batch):  # a span's id is another run's (counted, not returned: RETURNING cost ~8%)
        batch, event_rows = _collided(conn, batch, event_rows)
    if event_rows:
        conn.executemany(_EVENTS, event_rows)
    for span, _, _, attachments in itertools.compress(batch, map(_ATTACHMENTS_OF, batch)):
        for name, data, mime in attachments:
            files.save_bytes(conn, span.id, name, data, mime)


def _rewrite_inputs(conn, batch: list, flat: list) -> None:
    """Write again the inputs of the spans that were given inputs after they started (``span.inputs
    = ...``, ``add_inputs``): the upsert keeps a row's first inputs, as the SDK sends a run's
    inputs when it starts (an argument the call changes later is not written as changed)."""
    if not any(map(_INPUTS_SET, map(_SPAN, batch))):  # the common case, one C-level pass
        return
    width = len(_COLUMNS)
    again = [flat[k * width:(k + 1) * width] for k, item in enumerate(batch) if item[0].inputs_set]
    if again:
        runs_mod.insert_many(conn, _COLUMNS, list(itertools.chain.from_iterable(again)),
                             (*_CHANGING, "inputs"), _CONSTANTS)


def _collided(conn, batch: list, event_rows: list) -> tuple[list, list]:
    """The batch and event rows without the spans whose id another run of the file has (a
    caller's ``run_id`` taken twice): the upsert left that run as it was (the file holds
    another trace or dotted order for the id), and their events and attachments would go to
    it. They are dropped and logged."""
    written = set()
    for item in batch:
        span = item[0]
        held = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (span.id,)).fetchone()
        if held == (span.trace_id, span.dotted_order):
            written.add(span.id)
        else:
            log.error("runlite: span %s (%s) was not written: another run of the file has its id",
                      span.id, shown(span.name))
    return [item for item in batch if item[0].id in written], [row for row in event_rows if row[0] in written]
