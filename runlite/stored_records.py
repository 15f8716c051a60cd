"""RunRecords over stored rows: built in about a microsecond, each field decoded when read.

A listing or a trace makes thousands of records and its caller often reads a few fields of
each, so a record keeps its raw ``RUN_COLUMNS`` row and decodes on first access: plain
columns are the row's cells themselves, times are made on each access, JSON is decoded once
and kept.
What lives in other tables (named ``events``; of listed runs also descendants' ids,
attachments and ``feedback_stats``) comes from the record's ``loader``, which reads it for
every record of the same read at once (``storage/runs.py`` ``RowLoader``).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from .errors import CorruptStoreError, RunliteError
from ._validation import MAX_STORED_DEPTH, from_us, shown, too_deep
from .records import LS_KEPT, RUN_COLUMNS, RunRecord

_scan = json.JSONDecoder().scan_once  # the C scanner: no per-call whitespace handling


def _json(text: str | None) -> Any:
    """Decode a JSON column runlite wrote (compact, no surrounding whitespace); ValueError for
    what it cannot have written, nesting over ``MAX_STORED_DEPTH`` included."""
    if text is None:
        return None
    if text == "{}":
        return {}
    if text == "[]":
        return []
    try:
        value, end = _scan(text, 0)
        if end != len(text):
            value = json.loads(text)
    except StopIteration:
        value = json.loads(text)  # raises the usual JSONDecodeError
    except RecursionError:  # the decoder recurses once per level
        raise ValueError("nested too deep to decode") from None
    if too_deep(value, text):
        raise ValueError(f"nested deeper than {MAX_STORED_DEPTH} levels")
    return value


_JSON_COLUMNS = {"metadata", "tags", "inputs", "outputs", "extra", "serialized", "system", "ls_fields"}
_TIME_COLUMNS = {"created", "started", "ended", "modified", "first_token_time", "heartbeat"}
# Fields read from other tables by the record's loader (defaults when it has none).
LOADED_FIELDS = ("events", "child_run_ids", "direct_child_run_ids", "attachments", "feedback_stats")

_FIELD_NAMES = tuple(a.name for a in attrs.fields(RunRecord))
_FIELD_DEFAULTS = {a.name: a.default for a in attrs.fields(RunRecord)}
_SLOTS = {name: RunRecord.__dict__[name] for name in _FIELD_NAMES}  # the attrs slot descriptors
_ROW_INDEX = {c: i for i, c in enumerate(RUN_COLUMNS)}
# Columns whose stored cell is the field's value as it is: read from the row on every access
# (an index into a tuple costs less than a cached value's miss would).
_PLAIN = tuple(name for name in _FIELD_NAMES
               if name in _ROW_INDEX and name not in _JSON_COLUMNS and name not in _TIME_COLUMNS
               and name != "status")  # status is computed on read (lost) and always set


def _default(name: str) -> Any:
    default = _FIELD_DEFAULTS[name]
    return default.factory() if isinstance(default, attrs.Factory) else default


def _decode(record: "RunRecord", name: str) -> Any:
    """One cached field of a lazy record: from its raw row, or from the store by its loader."""
    if name in LOADED_FIELDS:
        return _default(name) if record._loader is None else record._loader(record._row[0], name)
    row = record._row
    if name in LS_KEPT:
        kept = _json(row[_ROW_INDEX["ls_fields"]]) or {}
        return kept.get(name)
    if name not in _ROW_INDEX:
        return _default(name)
    raw = row[_ROW_INDEX[name]]
    if name == "tags":
        return tuple(_json(raw) or ())
    if name == "metadata":
        return _json(raw) or {}
    if raw is None:
        return None
    if name in _JSON_COLUMNS:
        return _json(raw)
    if name in _TIME_COLUMNS:
        return from_us(raw)
    return raw


def _miss(record: RunRecord, name: str) -> Any:
    """Decode field ``name`` of ``record`` and keep it in its slot (its first access)."""
    try:
        value = _decode(record, name)
    except RunliteError:
        raise
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError) as exc:
        # Only a damaged file holds a cell runlite cannot decode (SQLite pages carry no checksum).
        raise CorruptStoreError(f"run {shown(record._row[0])}: its stored {name} cannot be decoded "
                                f"({type(exc).__name__}: {exc})") from exc
    _SLOTS[name].__set__(record, value)
    return value


def _cached_field(name: str) -> property:
    slot = _SLOTS[name]

    def get(self):
        try:
            return slot.__get__(self, RunRecord)
        except AttributeError:  # not decoded yet
            return _miss(self, name)

    return property(get, doc=f"{name} (decoded on first access)")


def _nullable_field(name: str, index: int) -> property:
    """A field that is None when its cell (``index``) is NULL, else decoded once and kept:
    most spans hold no ``extra``, ``serialized``, kept LangSmith fields..., and those cost an
    index and a test, not a miss."""
    slot = _SLOTS[name]

    def get(self):
        if self._row[index] is None:
            return None
        try:
            return slot.__get__(self, RunRecord)
        except AttributeError:  # not decoded yet
            return _miss(self, name)

    return property(get, doc=f"{name} (decoded on first access)")


def _plain_field(index: int, name: str) -> property:
    def get(self):
        return self._row[index]

    return property(get, doc=f"{name} (the stored cell)")


def _time_field(index: int, name: str) -> property:
    # Decoded on every access, not kept: making a datetime costs less than the first miss of
    # a kept value would (a trace view reads each span's times once).
    def get(self):
        return from_us(self._row[index])  # CorruptStoreError for a cell that is no time

    return property(get, doc=f"{name} (from the stored microseconds)")


_STARTED, _CREATED, _ENDED = (_ROW_INDEX[c] for c in ("started", "created", "ended"))


class _LazyRunRecord(RunRecord):
    """A RunRecord built from a raw row in about a microsecond; fields decode when read."""

    __slots__ = ("_row", "_loader")

    def __new__(cls, *args: Any, **kwargs: Any) -> RunRecord:
        # attrs.evolve and copies construct through the class: give them an ordinary record.
        return RunRecord(*args, **kwargs)

    # A trace view reads these of every span: straight from the row, one call each.
    @property
    def start_time(self):
        """When the run started running (its creation time while it is only created)."""
        row = self._row
        started = row[_STARTED]
        return from_us(row[_CREATED] if started is None else started)

    @property
    def end_time(self):
        """When the run ended, if it has."""
        return from_us(self._row[_ENDED])

    def _unread(self, name: str) -> bool:
        if name not in LOADED_FIELDS or self._loader is None:
            return False
        try:
            _SLOTS[name].__get__(self, RunRecord)
            return False
        except AttributeError:
            return True


for _name in _FIELD_NAMES:
    if _name in _PLAIN:
        setattr(_LazyRunRecord, _name, _plain_field(_ROW_INDEX[_name], _name))
    elif _name in _TIME_COLUMNS:
        setattr(_LazyRunRecord, _name, _time_field(_ROW_INDEX[_name], _name))
    elif _name in LS_KEPT:
        setattr(_LazyRunRecord, _name, _nullable_field(_name, _ROW_INDEX["ls_fields"]))
    elif _name in _JSON_COLUMNS and _name not in ("metadata", "tags"):  # those two are never None
        setattr(_LazyRunRecord, _name, _nullable_field(_name, _ROW_INDEX[_name]))
    elif _name not in ("status", "child_runs"):  # those two are always set: read by their slots
        setattr(_LazyRunRecord, _name, _cached_field(_name))

_new = object.__new__
_set_row = _LazyRunRecord.__dict__["_row"].__set__
_set_loader = _LazyRunRecord.__dict__["_loader"].__set__
_set_status, _set_child_ids, _set_direct_ids, _set_children, _set_attachments, _set_feedback = (
    _SLOTS[n].__set__ for n in ("status", "child_run_ids", "direct_child_run_ids", "child_runs", "attachments",
                                "feedback_stats"))


def lazy_run(row: tuple, *, status: str, loader: Any = None) -> RunRecord:
    """A RunRecord over a ``RUN_COLUMNS`` row (extra trailing columns are ignored) that decodes
    each field on first access; ``loader(run_id, field)`` gives each of ``LOADED_FIELDS`` on
    first access (without a loader they are empty). It has no ``child_runs``."""
    record = _new(_LazyRunRecord)
    _set_row(record, row)
    _set_loader(record, loader)
    _set_status(record, status)
    _set_children(record, ())
    return record


def lazy_tree(rows: list[tuple], statuses: list[str], loader: Any = None) -> RunRecord:
    """The first row's record with the others nested as ``child_runs``; ``rows`` in dotted
    order (a parent before its descendants), ``statuses`` the effective status of each row.
    Every record knows its children and every descendant's id; ``loader`` gives the rest of
    ``LOADED_FIELDS`` (attachments, feedback_stats, events) on first access.

    Built bottom-up, so every record is made once with its children already made; the loop
    is the whole cost of a large trace's read, so it sets slots directly and allocates little
    per row (leaves share the empty tuple).
    """
    new, set_row, set_loader, set_status = _new, _set_row, _set_loader, _set_status
    set_children, set_child_ids, set_direct_ids = _set_children, _set_child_ids, _set_direct_ids
    parent_col, id_col, cls = _ROW_INDEX["parent_run_id"], _ROW_INDEX["id"], _LazyRunRecord
    # Children collected per parent in two parallel lists (ids, records), in reverse order.
    kid_ids: dict[str, list] = {}
    kid_recs: dict[str, list] = {}
    below: dict[str, tuple] = {}  # every descendant's id, of runs that have children
    rec = None
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        run_id = row[id_col]
        rec = new(cls)
        set_row(rec, row)
        set_loader(rec, loader)
        set_status(rec, statuses[i])
        ids = kid_ids.pop(run_id, None)
        if ids is None:
            set_children(rec, ())
            set_child_ids(rec, ())
            set_direct_ids(rec, ())
        else:
            ids.reverse()
            recs = kid_recs.pop(run_id)
            recs.reverse()
            child_ids = tuple(ids)
            all_ids = []
            for kid in child_ids:
                all_ids.append(kid)
                all_ids.extend(below.pop(kid, ()))
            below[run_id] = all_ids = tuple(all_ids)
            set_children(rec, tuple(recs))
            set_child_ids(rec, all_ids)
            set_direct_ids(rec, child_ids)
        parent = row[parent_col]
        siblings = kid_ids.get(parent)
        if siblings is None:
            kid_ids[parent] = [run_id]
            kid_recs[parent] = [rec]
        else:
            siblings.append(run_id)
            kid_recs[parent].append(rec)
    return rec
