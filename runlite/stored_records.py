"""RunRecords over stored rows: built in under a microsecond, each field decoded when read.

A listing or a trace makes thousands of records and its caller often reads a few fields of
each, so a record keeps its raw ``RUN_COLUMNS`` row and decodes on first access: plain
columns are the row's cells themselves, times are made on each access (looked up first
among those made before: a trace's spans share many), JSON is decoded once and kept in the
record's ``__dict__`` (by non-data descriptors: a kept value is then read without calling
anything, and a first access raises nothing; a small flat value decoded before is copied).
What lives in other tables (named ``events``; of listed runs also descendants' ids,
attachments and ``feedback_stats``) comes from the record's ``loader``, which reads it for
every record of the same read at once (``storage/runs.py`` ``RowLoader``).
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import attrs

from .errors import CorruptStoreError
from ._validation import FAST_US, MAX_STORED_DEPTH, from_us, shown, too_deep
from .records.runs import RunRecord
from .storage.schema import LS_KEPT, RUN_COLUMNS

_scan = json.JSONDecoder().scan_once  # the C scanner: no per-call whitespace handling


# Small JSON values decoded before, by their text: many spans of a trace hold the same small
# inputs, outputs, tags or metadata (a tool's arguments), and copying a flat value costs a fifth
# of decoding it. Only values a shallow copy makes anew are kept (a dict or list of strings,
# numbers, bools and None: immutable, and the decoder's NaN is one object however often
# decoded), each hit returns its own copy, and the cache is emptied when full.
_SMALL: dict[str, Any] = {}
_SMALL_TEXT = 64  # characters (most prompts and documents are longer, and distinct)
_small_json = _SMALL.get
_SMALL_KEPT = 1024


def _flat(value: Any) -> bool:
    """Whether a decoded dict or list holds only scalars (no dict or list)."""
    for item in (value.values() if value.__class__ is dict else value):
        cls = item.__class__
        if cls is dict or cls is list:
            return False
    return True


def _json(text: str | None) -> Any:
    """Decode a JSON column runlite wrote (compact, no surrounding whitespace); ValueError for
    what it cannot have written, nesting over ``MAX_STORED_DEPTH`` included."""
    if text is None:
        return None
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if len(text) <= _SMALL_TEXT:  # only small texts are kept: a large one is not hashed for nothing
        known = _small_json(text)
        if known is not None:
            return known.copy()
    try:
        value, end = _scan(text, 0)
        if end != len(text):
            value = json.loads(text)
    except StopIteration:
        value = json.loads(text)  # raises the usual JSONDecodeError
    except RecursionError:  # the decoder recurses once per level
        raise ValueError("nested too deep to decode") from None
    size = len(text)
    # A text of at most MAX_STORED_DEPTH characters cannot nest deeper (a level is a bracket):
    # most cells are such, and are cleared without a call.
    if size > MAX_STORED_DEPTH and too_deep(value, text):
        raise ValueError(f"nested deeper than {MAX_STORED_DEPTH} levels")
    if size <= _SMALL_TEXT and (value.__class__ is dict or value.__class__ is list) and _flat(value):
        if len(_SMALL) >= _SMALL_KEPT:
            _SMALL.clear()
        _SMALL[text] = value.copy()
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


# A tree sets every record's child ids: its records' loader gives only the other loaded fields.
_TREE_LOADED = tuple(name for name in LOADED_FIELDS if name not in ("child_run_ids", "direct_child_run_ids"))


def _kept_field(name: str):
    def decode(text: str) -> Any:
        return (_json(text) or {}).get(name)  # AttributeError (so CorruptStoreError) if no dict
    return decode


def _tags(text: str | None) -> tuple:
    return () if text == "[]" else tuple(_json(text) or ())  # most runs have no tags


def _metadata(text: str | None) -> dict:
    return {} if text == "{}" else _json(text) or {}  # nor metadata


def _corrupt(record: RunRecord, name: str, exc: Exception) -> CorruptStoreError:
    # Only a damaged file holds a cell runlite cannot decode (SQLite pages carry no checksum).
    return CorruptStoreError(f"run {shown(record._row[0])}: its stored {name} cannot be decoded "
                             f"({type(exc).__name__}: {exc})")


_DECODE_ERRORS = (ValueError, TypeError, OverflowError, AttributeError, KeyError)


class _JsonField:
    """A JSON field, decoded on first access and kept in the record's ``__dict__``: a non-data
    descriptor, so every later access is a plain attribute lookup that never calls it. A NULL
    cell is None, returned without keeping anything (most spans hold no ``extra``, ``system``,
    kept LangSmith fields...), except for ``metadata`` and ``tags``, which are never None."""

    __slots__ = ("name", "index", "decode", "never_none")

    def __init__(self, name: str, index: int, decode=_json):
        self.name, self.index, self.decode = name, index, decode
        self.never_none = decode is _tags or decode is _metadata

    def __get__(self, record, owner=None):
        if record is None:
            return self
        text = record._row[self.index]
        if text is None and not self.never_none:
            return None
        try:
            value = self.decode(text)
        except _DECODE_ERRORS as exc:
            raise _corrupt(record, self.name, exc) from exc
        record.__dict__[self.name] = value
        return value


class _LoadedField:
    """A field that lives in other tables: given by the record's loader on first access (which
    may fill it in every record of the same read at once) and kept in the record's ``__dict__``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, record, owner=None):
        if record is None:
            return self
        loader = record._loader  # (a kept value is found before this is called)
        value = _default(self.name) if loader is None else loader(record, self.name)
        record.__dict__[self.name] = value
        return value


def _plain_field(index: int, name: str) -> property:
    def get(self):
        return self._row[index]

    return property(get, doc=f"{name} (the stored cell)")


_UTC = _dt.timezone.utc
_fromtimestamp = _dt.datetime.fromtimestamp
# Datetimes made from stored microseconds, by their value (they are immutable, so records share
# them): a trace's spans share many times (a batch's ``modified`` and ``heartbeat``, ``started``
# equal to ``created``), and a lookup costs a tenth of making one. Emptied when full, so it
# holds at most 1,024; a time no other cell shares pays a lookup and a store for it.
_TIMES: dict[int, _dt.datetime] = {}
_TIMES_KEPT = 1024


def _time_field(index: int, name: str) -> property:
    # Made on every access, not kept in the record: a kept value's miss would cost more than
    # the lookup in ``_TIMES`` (a trace view reads each span's times once). A cell equal to a
    # key of ``_TIMES`` is that int (cells are ints, floats, text, blobs or NULL): its time.
    # ``from_us`` inlined for the usual cell.
    times = _TIMES
    known = times.get

    def get(self):
        us = self._row[index]
        made = known(us)
        if made is not None:
            return made
        if us.__class__ is int and 0 <= us < FAST_US:
            made = times[us] = _fromtimestamp(us / 1e6, _UTC)
            if len(times) > _TIMES_KEPT:
                times.clear()
            return made
        return None if us is None else from_us(us)

    return property(get, doc=f"{name} (from the stored microseconds)")


def _ordinary(values: tuple) -> RunRecord:
    """An ordinary RunRecord of field values in ``_FIELD_NAMES`` order (a stored record's copy)."""
    return RunRecord(**dict(zip(_FIELD_NAMES, values)))


_STARTED, _CREATED, _ENDED = (_ROW_INDEX[c] for c in ("started", "created", "ended"))
_known_time = _TIMES.get


class _LazyRunRecord(RunRecord):
    """A RunRecord built from a raw row in under a microsecond; fields decode when read and
    JSON and loaded fields are then kept in ``__dict__`` (made on first use, not per record).
    A listed record has no ``child_runs`` (a class attribute: nothing set per record); its
    child ids are loaded fields."""

    __slots__ = ("_row", "_loader", "__dict__")
    _LOADED = LOADED_FIELDS  # the fields its loader gives
    child_runs = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> RunRecord:
        # attrs.evolve constructs through the class: give it an ordinary record (copies: __reduce__).
        return RunRecord(*args, **kwargs)

    def __reduce__(self) -> tuple:
        # copy, deepcopy and pickle make an ordinary record of the same values: the row's
        # decoding and the loader (the store) stay here, and __new__ takes a RunRecord's arguments.
        return _ordinary, (tuple(getattr(self, name) for name in _FIELD_NAMES),)

    # A trace view reads these of every span: straight from the row, one call each. A time
    # not in ``_TIMES`` is made without keeping it there: ``ended`` and a span's start are
    # seldom another span's, and a view reading these reads little else.
    @property
    def start_time(self):
        """When the run started running (its creation time while it is only created)."""
        row = self._row
        us = row[_STARTED]
        if us is None:
            us = row[_CREATED]
        made = _known_time(us)
        if made is not None:
            return made
        if us.__class__ is int and 0 <= us < FAST_US:  # from_us inlined for the usual cell
            return _fromtimestamp(us / 1e6, _UTC)
        return from_us(us)

    @property
    def end_time(self):
        """When the run ended, if it has."""
        us = self._row[_ENDED]
        made = _known_time(us)
        if made is not None:
            return made
        if us.__class__ is int and 0 <= us < FAST_US:
            return _fromtimestamp(us / 1e6, _UTC)
        return None if us is None else from_us(us)

    def _unread(self, name: str) -> bool:
        return name in self._LOADED and self._loader is not None and name not in self.__dict__


for _name in _FIELD_NAMES:
    if _name in _PLAIN:
        setattr(_LazyRunRecord, _name, _plain_field(_ROW_INDEX[_name], _name))
    elif _name in _TIME_COLUMNS:
        setattr(_LazyRunRecord, _name, _time_field(_ROW_INDEX[_name], _name))
    elif _name in LS_KEPT:
        setattr(_LazyRunRecord, _name, _JsonField(_name, _ROW_INDEX["ls_fields"], _kept_field(_name)))
    elif _name in _JSON_COLUMNS:
        setattr(_LazyRunRecord, _name, _JsonField(_name, _ROW_INDEX[_name],
                                                  {"tags": _tags, "metadata": _metadata}.get(_name, _json)))
    elif _name in LOADED_FIELDS:
        setattr(_LazyRunRecord, _name, _LoadedField(_name))
    elif _name not in ("status", "child_runs"):  # status is always set, read by its slot; child_runs above
        raise AssertionError(f"RunRecord field {_name} has no stored form")  # a new field: map it


class _LazyRunRecordNoKept(_LazyRunRecord):
    """A lazy record of a run that keeps no LangSmith fields beyond runlite's columns (a NULL
    ``ls_fields``, every run runlite made itself): those seven fields are None as class
    attributes, read without a call (a trace view reading every field would make 70,000 calls
    for a 10,000-span trace)."""

    __slots__ = ()


class _LazyTreeRecord(_LazyRunRecord):
    """A lazy record of a tree (``lazy_tree``), whose children and child ids are always set:
    read by their slots, without the call that a listed record's loaded child ids make."""

    __slots__ = ()
    _LOADED = _TREE_LOADED
    child_runs = _SLOTS["child_runs"]
    child_run_ids = _SLOTS["child_run_ids"]
    direct_child_run_ids = _SLOTS["direct_child_run_ids"]


class _LazyTreeRecordNoKept(_LazyTreeRecord):
    """``_LazyRunRecordNoKept`` of a tree."""

    __slots__ = ()


class _LazyLeafRecord(_LazyTreeRecord):
    """A record of a tree's leaf (most spans): no children, its empty child fields class
    attributes, so building it sets three slots fewer."""

    __slots__ = ()
    child_runs = child_run_ids = direct_child_run_ids = ()


class _LazyLeafRecordNoKept(_LazyLeafRecord):
    """``_LazyRunRecordNoKept`` of a tree's leaf."""

    __slots__ = ()


for _name in LS_KEPT:
    for _cls in (_LazyRunRecordNoKept, _LazyTreeRecordNoKept, _LazyLeafRecordNoKept):
        setattr(_cls, _name, None)
_LS = _ROW_INDEX["ls_fields"]


def fill(root: RunRecord, found: dict[str, dict]) -> None:
    """Keep field ``name`` (of ``LOADED_FIELDS`` but the child ids) as ``found[name][run id]``
    in every record of the tree under ``root`` that has not read it yet, and its empty value in
    those missing from ``found[name]``: a loader reads such a field for a whole read at once,
    and filling every record then costs less than a call per record."""
    events = found.get("events")
    others = [(name, values.get) for name, values in found.items() if name != "events"]
    stack = [root]
    while stack:  # one pass: each record's __dict__ made once, whichever fields it gets
        record = stack.pop()
        stack.extend(record.child_runs)
        kept = record.__dict__
        run_id = record._row[0]
        if events is not None and "events" not in kept:
            kept["events"] = events.get(run_id, ())  # an immutable empty value, shared
        for name, get in others:
            if name not in kept:
                value = get(run_id)
                kept[name] = {} if value is None else value  # each record its own empty dict


_new = object.__new__
_set_row = _LazyRunRecord.__dict__["_row"].__set__
_set_loader = _LazyRunRecord.__dict__["_loader"].__set__
_set_status, _set_child_ids, _set_direct_ids, _set_children = (
    _SLOTS[n].__set__ for n in ("status", "child_run_ids", "direct_child_run_ids", "child_runs"))


def lazy_runs(rows: list[tuple], statuses: list[str], loader: Any = None) -> list[RunRecord]:
    """A RunRecord over each ``RUN_COLUMNS`` row (extra trailing columns are ignored), with
    ``statuses`` the effective status of each, that decodes each field on first access;
    ``loader(record, field)`` gives each of ``LOADED_FIELDS`` on first access (without a loader
    they are empty). They have no ``child_runs``. One loop sets the three slots directly: a
    listing makes thousands of records, and a call each was a fifth of its time beyond the SQL."""
    new, set_row, set_loader, set_status = _new, _set_row, _set_loader, _set_status
    kept_cls, plain_cls, ls_col = _LazyRunRecord, _LazyRunRecordNoKept, _LS
    out = []
    append = out.append
    for row, status in zip(rows, statuses):
        record = new(kept_cls if row[ls_col] is not None else plain_cls)
        set_row(record, row)
        set_loader(record, loader)
        set_status(record, status)
        append(record)
    return out


def lazy_tree(rows: list[tuple], statuses: list[str], loader: Any = None) -> RunRecord:
    """The first row's record with the others nested as ``child_runs``; ``rows`` in dotted
    order (a parent before its descendants), ``statuses`` the effective status of each row.
    Every record knows its children and every descendant's id; ``loader`` gives the rest of
    ``LOADED_FIELDS`` (attachments, feedback_stats, events) on first access.

    Built bottom-up, so every record is made once with its children already made; the loop
    is the whole cost of a large trace's read, so it sets slots directly and allocates little
    per row (a leaf's empty child fields are class attributes of its class: nothing set).
    """
    new, set_row, set_loader, set_status = _new, _set_row, _set_loader, _set_status
    set_children, set_child_ids, set_direct_ids = _set_children, _set_child_ids, _set_direct_ids
    parent_col, id_col, ls_col = _ROW_INDEX["parent_run_id"], _ROW_INDEX["id"], _LS
    kept_cls, plain_cls, kept_leaf, plain_leaf = (_LazyTreeRecord, _LazyTreeRecordNoKept, _LazyLeafRecord,
                                                  _LazyLeafRecordNoKept)
    # Children collected per parent in two parallel lists (ids, records), in reverse order.
    kid_ids: dict[str, list] = {}
    kid_recs: dict[str, list] = {}
    below: dict[str, tuple] = {}  # every descendant's id, of runs that have children
    rec = None
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        run_id = row[id_col]
        ids = kid_ids.pop(run_id, None)
        if ids is None:
            rec = new(plain_leaf if row[ls_col] is None else kept_leaf)
            set_row(rec, row)
            set_loader(rec, loader)
            set_status(rec, statuses[i])
        else:
            rec = new(plain_cls if row[ls_col] is None else kept_cls)
            set_row(rec, row)
            set_loader(rec, loader)
            set_status(rec, statuses[i])
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
