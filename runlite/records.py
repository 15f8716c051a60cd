"""Frozen attrs records returned by reads, and their ``to_dict()`` forms.

Records are values: reading the same run twice gives equal records. Times are aware UTC
datetimes on the record; ``to_dict()`` gives JSON-ready values (see ``RunRecord.to_dict``).
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import attrs

from .errors import CorruptStoreError, RunliteError
from ._ids import dotted_ids
from ._validation import from_us

# The fields of the LangSmith ``Run`` interface (seed 001), in its order.
LANGSMITH_FIELDS = (
    "id", "inputs", "name", "run_type", "app_path", "attachments", "child_run_ids", "child_runs",
    "completion_tokens", "dotted_order", "end_time", "error", "events", "extra", "feedback_stats",
    "first_token_time", "in_dataset", "inputs_s3_urls", "manifest_id", "outputs", "outputs_s3_urls",
    "parent_run_id", "parent_run_ids", "prompt_tokens", "reference_example_id", "serialized",
    "session_id", "start_time", "status", "tags", "total_tokens", "trace_id",
)
# The Simvue run fields runlite adds beside them.
SIMVUE_FIELDS = (
    "folder", "metadata", "description", "created", "started", "endtime", "modified", "kind",
    "system", "host", "pid", "heartbeat", "heartbeat_timeout", "prompt_cost", "completion_cost",
    "total_cost",
)


def _ms(value: _dt.datetime | None) -> float | None:
    """Epoch milliseconds, the LangSmith interface's number for times."""
    if value is None:
        return None
    delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds / 1000


def _iso(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _from_ms(value: float | None) -> _dt.datetime | None:
    return None if value is None else from_us(round(value * 1000))


def _from_iso(value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@attrs.frozen(eq=False)
class RunRecord:
    """One run as stored: an experiment run, a trace span or a recipe run.

    Records read in bulk decode each field on first access (see ``lazy_run``); they
    compare equal to ordinary records with the same values. Runs listed by ``list_runs`` and
    ``get_runs`` read ``child_run_ids`` and ``attachments`` from the store when first
    accessed, so read those before closing the store.
    """

    id: str
    name: str
    status: str
    kind: str = "experiment"
    run_type: str | None = None
    folder: str = "/"
    description: str | None = None
    metadata: dict = attrs.field(factory=dict)
    tags: tuple[str, ...] = ()
    parent_run_id: str | None = None
    trace_id: str = ""
    dotted_order: str = ""
    created: _dt.datetime | None = None
    started: _dt.datetime | None = None
    ended: _dt.datetime | None = None
    modified: _dt.datetime | None = None
    inputs: dict | None = None
    outputs: dict | None = None
    error: str | None = None
    extra: dict | None = None
    serialized: dict | None = None
    session_id: str | None = None
    reference_example_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_cost: float | None = None
    completion_cost: float | None = None
    total_cost: float | None = None
    first_token_time: _dt.datetime | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat: _dt.datetime | None = None
    heartbeat_timeout: float | None = None
    system: dict | None = None
    app_path: str | None = None
    in_dataset: bool | None = None
    manifest_id: str | None = None
    inputs_s3_urls: dict | None = None
    outputs_s3_urls: dict | None = None
    child_run_ids: tuple[str, ...] = ()
    child_runs: tuple["RunRecord", ...] = ()
    attachments: dict = attrs.field(factory=dict)
    events: tuple[dict, ...] = ()
    feedback_stats: dict = attrs.field(factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunRecord):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELD_NAMES)

    __hash__ = None  # records hold dicts

    @property
    def parent_run_ids(self) -> list[str]:
        """Every ancestor's id, root first (from ``dotted_order``)."""
        return dotted_ids(self.dotted_order)[:-1]

    @property
    def start_time(self) -> _dt.datetime | None:
        """When the run started running (its creation time while it is only created)."""
        return self.started or self.created

    @property
    def end_time(self) -> _dt.datetime | None:
        """When the run ended, if it has."""
        return self.ended

    @property
    def latency(self) -> float | None:
        """Seconds from start to end, None while the run has not ended."""
        if self.ended is None or self.start_time is None:
            return None
        return (self.ended - self.start_time).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """Every LangSmith ``Run`` field plus the Simvue fields, JSON-ready.

        LangSmith times (``start_time``, ``end_time``, ``first_token_time``) are epoch
        milliseconds as in its interface; Simvue times (``created``, ``started``,
        ``endtime``, ``modified``, ``heartbeat``) are ISO-8601 strings in UTC.
        ``extra["metadata"]`` is the run's metadata, as LangSmith keeps it.
        """
        extra = dict(self.extra or {})
        extra["metadata"] = self.metadata
        out: dict[str, Any] = {
            "id": self.id,
            "inputs": self.inputs if self.inputs is not None else {},
            "name": self.name,
            "run_type": self.run_type,
            "app_path": self.app_path,
            "attachments": {k: list(v) for k, v in self.attachments.items()},
            "child_run_ids": list(self.child_run_ids),
            "child_runs": [child.to_dict() for child in self.child_runs],
            "completion_tokens": self.completion_tokens,
            "dotted_order": self.dotted_order,
            "end_time": _ms(self.ended),
            "error": self.error,
            "events": [dict(e) for e in self.events],
            "extra": extra,
            "feedback_stats": self.feedback_stats,
            "first_token_time": _ms(self.first_token_time),
            "in_dataset": self.in_dataset,
            "inputs_s3_urls": self.inputs_s3_urls,
            "manifest_id": self.manifest_id,
            "outputs": self.outputs,
            "outputs_s3_urls": self.outputs_s3_urls,
            "parent_run_id": self.parent_run_id,
            "parent_run_ids": self.parent_run_ids,
            "prompt_tokens": self.prompt_tokens,
            "reference_example_id": self.reference_example_id,
            "serialized": self.serialized,
            "session_id": self.session_id,
            "start_time": _ms(self.start_time),
            "status": self.status,
            "tags": list(self.tags),
            "total_tokens": self.total_tokens,
            "trace_id": self.trace_id,
            "folder": self.folder,
            "metadata": self.metadata,
            "description": self.description,
            "created": _iso(self.created),
            "started": _iso(self.started),
            "endtime": _iso(self.ended),
            "modified": _iso(self.modified),
            "kind": self.kind,
            "system": self.system,
            "host": self.host,
            "pid": self.pid,
            "heartbeat": _iso(self.heartbeat),
            "heartbeat_timeout": self.heartbeat_timeout,
            "prompt_cost": self.prompt_cost,
            "completion_cost": self.completion_cost,
            "total_cost": self.total_cost,
        }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        """The inverse of ``to_dict()``."""
        extra = dict(data.get("extra") or {})
        metadata = extra.pop("metadata", data.get("metadata") or {})
        return cls(
            id=data["id"],
            name=data["name"],
            status=data["status"],
            kind=data.get("kind", "experiment"),
            run_type=data.get("run_type"),
            folder=data.get("folder", "/"),
            description=data.get("description"),
            metadata=metadata,
            tags=tuple(data.get("tags") or ()),
            parent_run_id=data.get("parent_run_id"),
            trace_id=data.get("trace_id", ""),
            dotted_order=data.get("dotted_order", ""),
            created=_from_iso(data.get("created")) or _from_ms(data.get("start_time")),
            started=_from_iso(data.get("started")) or _from_ms(data.get("start_time")),
            ended=_from_iso(data.get("endtime")) or _from_ms(data.get("end_time")),
            modified=_from_iso(data.get("modified")),
            inputs=data.get("inputs") or None,
            outputs=data.get("outputs"),
            error=data.get("error"),
            extra=extra or None,
            serialized=data.get("serialized"),
            session_id=data.get("session_id"),
            reference_example_id=data.get("reference_example_id"),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            total_tokens=data.get("total_tokens"),
            prompt_cost=data.get("prompt_cost"),
            completion_cost=data.get("completion_cost"),
            total_cost=data.get("total_cost"),
            first_token_time=_from_ms(data.get("first_token_time")),
            host=data.get("host"),
            pid=data.get("pid"),
            heartbeat=_from_iso(data.get("heartbeat")),
            heartbeat_timeout=data.get("heartbeat_timeout"),
            system=data.get("system"),
            app_path=data.get("app_path"),
            in_dataset=data.get("in_dataset"),
            manifest_id=data.get("manifest_id"),
            inputs_s3_urls=data.get("inputs_s3_urls"),
            outputs_s3_urls=data.get("outputs_s3_urls"),
            child_run_ids=tuple(data.get("child_run_ids") or ()),
            child_runs=tuple(cls.from_dict(c) for c in data.get("child_runs") or ()),
            attachments={k: tuple(v) for k, v in (data.get("attachments") or {}).items()},
            events=tuple(data.get("events") or ()),
            feedback_stats=data.get("feedback_stats") or {},
        )


_scan = json.JSONDecoder().scan_once  # the C scanner: no per-call whitespace handling


def _json(text: str | None) -> Any:
    """Decode a JSON column runlite wrote (compact, no surrounding whitespace)."""
    if text is None:
        return None
    if text == "{}":
        return {}
    if text == "[]":
        return []
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # raises the usual JSONDecodeError
    return value if end == len(text) else json.loads(text)


# Columns of ``runs`` read into a RunRecord, in SELECT order.
RUN_COLUMNS = (
    "id", "name", "status", "kind", "run_type", "folder", "description", "metadata", "tags",
    "parent_run_id", "trace_id", "dotted_order", "created", "started", "ended", "modified",
    "inputs", "outputs", "error", "extra", "serialized", "session_id", "reference_example_id",
    "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost",
    "total_cost", "first_token_time", "host", "pid", "heartbeat", "heartbeat_timeout", "system",
    "ls_fields",
)
_JSON_COLUMNS = {"metadata", "tags", "inputs", "outputs", "extra", "serialized", "system", "ls_fields"}
LS_KEPT = ("app_path", "in_dataset", "manifest_id", "inputs_s3_urls", "outputs_s3_urls")
_TIME_COLUMNS = {"created", "started", "ended", "modified", "first_token_time", "heartbeat"}



def _epoch_us_to_numpy(timestamps):  # pragma: no cover - exercised when numpy is present
    import numpy as np

    return np.frombuffer(timestamps, dtype=np.int64).astype("datetime64[us]")


@attrs.frozen(eq=False)
class Series:
    """The points of one metric series as parallel ``array`` columns, in logging order.

    ``steps`` (int64), ``times`` (float64 seconds since the run started), ``timestamps``
    (int64 microseconds since the Unix epoch, UTC) and ``values`` (float64; NaN and
    infinities exact). Default times are derived from the timestamps on first access.
    """

    name: str
    asset: str | None
    steps: Any
    _times: Any = attrs.field(alias="times")
    timestamps: Any
    values: Any
    time_origin_us: int | None = None  # set when ``times`` is derived lazily

    @property
    def times(self):
        """Seconds since the run started, per point."""
        if self._times is None:
            from .codec.chunks import derived_times

            object.__setattr__(self, "_times", derived_times(self.timestamps, self.time_origin_us))
        return self._times

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Series):
            return NotImplemented
        return (self.name, self.asset) == (other.name, other.asset) and all(
            a.tobytes() == b.tobytes()
            for a, b in zip((self.steps, self.times, self.timestamps, self.values),
                            (other.steps, other.times, other.timestamps, other.values))
        )

    def to_numpy(self) -> dict:
        """The columns as numpy arrays (zero-copy views); needs numpy."""
        try:
            import numpy as np
        except ImportError as exc:  # pragma: no cover
            raise ImportError("Series.to_numpy() needs numpy: pip install numpy") from exc
        return {
            "step": np.frombuffer(self.steps, dtype=np.int64),
            "time": np.frombuffer(self.times, dtype=np.float64),
            "timestamp": _epoch_us_to_numpy(self.timestamps),
            "value": np.frombuffer(self.values, dtype=np.float64),
        }

    def to_pandas(self):
        """A DataFrame with columns step, time, timestamp (UTC), value; needs pandas."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover
            raise ImportError("Series.to_pandas() needs pandas: pip install pandas") from exc
        cols = self.to_numpy()
        frame = pd.DataFrame(cols)
        frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
        return frame


@attrs.frozen
class Stats:
    """Statistics of a metric series (or a window of it).

    ``avg`` and ``var_pop`` are over the non-NaN values; ``count`` includes NaN points.
    """

    count: int
    nan_count: int = 0
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    var_pop: float | None = None
    first: float | None = None
    last: float | None = None
    first_step: int | None = None
    last_step: int | None = None
    min_step: int | None = None
    max_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields."""
        return attrs.asdict(self)


@attrs.frozen
class Event:
    """One event of a run: a Simvue log message or a LangSmith named event."""

    seq: int
    time: _dt.datetime
    level: str | None = None
    name: str | None = None
    message: str | None = None
    kwargs: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{name, time (ISO-8601), message, level, kwargs}`` with unset keys left out."""
        out: dict[str, Any] = {"seq": self.seq, "time": _iso(self.time)}
        for key in ("name", "message", "level", "kwargs"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@attrs.frozen
class Attachment:
    """A file saved by a run, or bytes attached to it; the content is a blob (by SHA-256)."""

    name: str
    category: str | None
    mime_type: str
    size: int
    sha256: str
    original_path: str | None
    created: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``created`` as ISO-8601)."""
        out = attrs.asdict(self)
        out["created"] = _iso(self.created)
        return out


# ---------------------------------------------------------------- lazy records

_FIELD_NAMES = tuple(a.name for a in attrs.fields(RunRecord))
_FIELD_DEFAULTS = {a.name: a.default for a in attrs.fields(RunRecord)}
_SLOTS = {name: RunRecord.__dict__[name] for name in _FIELD_NAMES}  # the attrs slot descriptors
_ROW_INDEX = {c: i for i, c in enumerate(RUN_COLUMNS)}


_RELATED = ("child_run_ids", "attachments")  # fields a loader reads from the store on demand


def _decode(record: "RunRecord", name: str) -> Any:
    """One field of a lazy record, from its raw row (or from the store, for related fields)."""
    if name in _RELATED and record._loader is not None:
        child_ids, attached = record._loader(record._row[_ROW_INDEX["id"]])
        _SLOTS["child_run_ids"].__set__(record, child_ids)
        _SLOTS["attachments"].__set__(record, attached)
        return child_ids if name == "child_run_ids" else attached
    row = record._row
    if name in LS_KEPT:
        kept = _json(row[_ROW_INDEX["ls_fields"]]) or {}
        return kept.get(name)
    if name not in _ROW_INDEX:
        default = _FIELD_DEFAULTS[name]
        return default.factory() if isinstance(default, attrs.Factory) else default
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


def _lazy_field(name: str) -> property:
    slot = _SLOTS[name]

    def get(self):
        try:
            return slot.__get__(self, RunRecord)
        except AttributeError:  # not decoded yet
            try:
                value = _decode(self, name)
            except RunliteError:
                raise
            except (ValueError, TypeError, OverflowError, AttributeError, KeyError) as exc:
                # Only a damaged file holds a cell runlite cannot decode (SQLite pages carry no checksum).
                raise CorruptStoreError(f"run {self._row[0]!r:.80}: its stored {name} cannot be decoded "
                                        f"({type(exc).__name__}: {exc})") from exc
            slot.__set__(self, value)
            return value

    return property(get, doc=f"{name} (decoded on first access)")


class _LazyRunRecord(RunRecord):
    """A RunRecord built from a raw row in about a microsecond; fields decode when read."""

    __slots__ = ("_row", "_loader")

    def __new__(cls, *args: Any, **kwargs: Any) -> RunRecord:
        # attrs.evolve and copies construct through the class: give them an ordinary record.
        return RunRecord(*args, **kwargs)


for _name in _FIELD_NAMES:
    setattr(_LazyRunRecord, _name, _lazy_field(_name))
_ROW_SLOT = _LazyRunRecord.__dict__["_row"]
_set_loader = _LazyRunRecord.__dict__["_loader"].__set__


def lazy_run(row: tuple, *, status: str, child_run_ids: tuple = (), attachments: dict | None = None,
             child_runs: tuple = (), feedback_stats: dict | None = None, loader: Any = None) -> RunRecord:
    """A RunRecord over a ``RUN_COLUMNS`` row that decodes each field on first access.

    With ``loader``, ``child_run_ids`` and ``attachments`` are read on first access by
    ``loader(run_id) -> (child ids, attachments)`` instead of being given.
    """
    record = _new(_LazyRunRecord)
    _set_row(record, row)  # may hold extra trailing columns: only RUN_COLUMNS positions are read
    _set_loader(record, loader)
    _set_status(record, status)
    # Slots left unset take their default (a fresh {} or ()) on first access.
    if child_run_ids:
        _set_child_ids(record, child_run_ids)
    if child_runs:
        _set_children(record, child_runs)
    if attachments:
        _set_attachments(record, attachments)
    if feedback_stats:
        _set_feedback(record, feedback_stats)
    return record


_new = object.__new__
_set_row = _ROW_SLOT.__set__
_set_status = _SLOTS["status"].__set__
_set_child_ids = _SLOTS["child_run_ids"].__set__
_set_children = _SLOTS["child_runs"].__set__
_set_attachments = _SLOTS["attachments"].__set__
_set_feedback = _SLOTS["feedback_stats"].__set__


@attrs.frozen
class QueryResult:
    """Rows of ``Store.sql``: column names, rows as tuples, and whether ``max_rows`` cut them."""

    columns: tuple
    rows: list
    truncated: bool = False

    def to_dicts(self) -> list[dict[str, Any]]:
        """Each row as ``{column: value}``."""
        return [dict(zip(self.columns, row)) for row in self.rows]


class RunList(list):
    """A list of RunRecords (what run listings return), with ``to_pandas()``."""

    def to_pandas(self):
        """A DataFrame: one row per run, metadata flattened to ``metadata.<key>`` columns; needs pandas."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover
            raise ImportError("RunList.to_pandas() needs pandas: pip install 'runlite[pandas]'") from exc
        rows = []
        for rec in self:
            data = {k: v for k, v in rec.to_dict().items() if k not in ("child_runs", "metadata", "extra")}
            data.update({f"metadata.{k}": v for k, v in rec.metadata.items()})
            rows.append(data)
        frame = pd.DataFrame(rows)
        for column in ("created", "started", "endtime", "modified", "heartbeat"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame
