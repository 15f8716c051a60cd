"""LangSmith's run payloads (what its SDKs send to create and update runs) as runlite rows.

``remote_run(payload, op)`` checks one ``post`` or ``patch`` payload and gives a ``RemoteRun``:
the columns the payload sets (a patch leaves the others as stored), its events (a payload's
``events`` replace the run's) and attachments. Everything is checked here, before anything is
queued, so a bad payload is refused whole and changes nothing. The store writes remote runs
in batches beside traced spans (``storage/ingest.py``).
"""

from __future__ import annotations

import uuid
from typing import Any

from .. import errors
from .._ids import dotted_ids, dotted_segment, is_uuid, project_id
from .._validation import (
    EARLIEST_US, MAX_JSON, check_metadata, check_name, check_optional_text, check_tags, dumps, dumps_lenient, shown,
    to_us,
)
from ..tracing.usage import usage_fields

DEFAULT_PROJECT = "default"  # LangSmith's project for runs that name none
OPS = ("post", "patch")
_LS_KEPT = ("app_path", "in_dataset", "manifest_id", "inputs_s3_urls", "outputs_s3_urls")
# What each is, as LangSmith's SDKs read it back (a run they cannot read fails every listing
# of its project).
_LS_KINDS = {"app_path": str, "in_dataset": bool, "manifest_id": is_uuid, "inputs_s3_urls": dict,
             "outputs_s3_urls": dict}
_LS_KIND_NAMES = {"app_path": "a str", "in_dataset": "true or false", "manifest_id": "a UUID",
                  "inputs_s3_urls": "an object", "outputs_s3_urls": "an object"}


class RemoteRun:
    """One run create or update received from a LangSmith client, waiting to be written.

    ``columns`` are the ``runs`` columns it sets (JSON columns already encoded); ``events``,
    as ``(time_us, name, message, kwargs as JSON text)``, replace the run's when
    ``replaces_events`` (a payload without ``events`` leaves them alone); ``attachments`` are
    ``(name, bytes, mime)``.
    Creates and updates of a run still waiting merge into it (``absorb``), as the SDK folds
    them. An update is the later state of its run whatever order they arrive in: a create
    fills in what no update set, and never replaces it (``from_create`` are the columns, and
    ``events_from_create`` tells whether the events, only a create gave; ``storage/ingest.py``
    holds a create to the same against a stored run).
    """

    __slots__ = ("id", "dotted_order", "columns", "events", "replaces_events", "events_written", "attachments", "op",
                 "from_create", "events_from_create")

    def __init__(self, run_id: str, op: str, columns: dict, events: list | None, attachments: list):
        self.id = run_id
        self.op = op
        self.columns = columns
        self.dotted_order = columns.get("dotted_order") or ""
        self.events = events if events is not None else []
        self.replaces_events = events is not None
        self.events_written = 0
        self.attachments = attachments
        self.from_create = set(columns) if op == "post" else set()
        self.events_from_create = op == "post" and events is not None

    def absorb(self, later: "RemoteRun") -> None:
        """Fold a later create or update of the same run into this one: an update's values
        win, a create's fill in the columns (and events) nothing set yet."""
        if later.op == "post":
            for key, value in later.columns.items():
                if key not in self.columns:
                    self.columns[key] = value
                    self.from_create.add(key)
            if later.replaces_events and not self.replaces_events:
                self.events, self.events_written, self.replaces_events = later.events, 0, True
                self.events_from_create = True
            self.op = "post"
        else:
            self.columns.update(later.columns)
            self.from_create.difference_update(later.columns)
            if later.replaces_events:
                self.events, self.events_written, self.replaces_events = later.events, 0, True
                self.events_from_create = False
        self.dotted_order = self.columns.get("dotted_order") or ""
        self.attachments.extend(later.attachments)

    def __repr__(self) -> str:
        return f"<RemoteRun {self.op} {self.id}>"


def _uuid(value: Any, what: str) -> str:
    if is_uuid(value):  # already in the form the store keeps (every SDK sends that)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) <= 64:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise errors.ValidationError(f"{what} must be a UUID, got {shown(value)}")


def _time(value: Any, what: str) -> int:
    """ISO-8601 text (LangSmith's Python SDK) or epoch milliseconds (its JS SDK)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not EARLIEST_US / 1000 <= value <= 1e14:  # 0001-01-01 to the year 5138, as to_us takes seconds
            raise errors.ValidationError(f"{what} {shown(value)} is not a plausible time in epoch milliseconds")
        return round(value * 1000)
    return to_us(value, what)


def _json_column(value: Any, what: str) -> str | None:
    if value is None:
        return None
    text = dumps_lenient(value, what)
    if len(text) > MAX_JSON:
        raise errors.LimitError(f"{what} is {len(text):,} bytes of JSON; at most {MAX_JSON:,} are kept")
    return text


def _events(value: Any, run_id: str) -> list:
    if not isinstance(value, list):
        raise errors.ValidationError(f"events of run {run_id} must be a list, got {shown(value)}")
    out = []
    for i, event in enumerate(value):
        if not isinstance(event, dict):
            raise errors.ValidationError(f"event {i} of run {run_id} must be an object, got {shown(event)}")
        event = dict(event)
        name = check_name(event.pop("name", "event"), f"name of event {i} of run {run_id}")
        when = event.pop("time", None)
        message = event.pop("message", None)
        if message is not None and not isinstance(message, str):  # e.g. the SDK's list of uploaded files
            event["message"], message = message, None
        message = check_optional_text(message, f"message of event {i} of run {run_id}")
        kwargs = event.pop("kwargs", None)
        if kwargs is not None and not isinstance(kwargs, dict):
            raise errors.ValidationError(f"kwargs of event {i} of run {run_id} must be an object")
        rest = {**(kwargs or {}), **event}
        # Encoded (and sized) now, not when written: over the limit there, the run was dropped
        # after its request had been answered.
        out.append((None if when is None else _time(when, f"time of event {i} of run {run_id}"),
                    name, message, _json_column(rest or None, f"event {i} of run {run_id}")))
    return out


def remote_run(payload: Any, op: str) -> RemoteRun:
    """Check one run payload of a ``post`` (create) or ``patch`` (update)."""
    if not isinstance(payload, dict):
        raise errors.ValidationError(f"a run must be a JSON object, got {shown(payload)}")
    run_id = _uuid(payload.get("id"), "run id")
    cols: dict[str, Any] = {}
    p = payload.get
    if p("name") is not None:
        cols["name"] = check_name(p("name"), f"name of run {run_id}")
    if p("run_type") is not None:
        cols["run_type"] = check_name(p("run_type"), f"run_type of run {run_id}")
    if p("start_time") is not None:
        cols["started"] = cols["created"] = _time(p("start_time"), f"start_time of run {run_id}")
    if p("end_time") is not None:
        cols["ended"] = _time(p("end_time"), f"end_time of run {run_id}")
    if p("error") is not None:
        cols["error"] = check_optional_text(p("error") if isinstance(p("error"), str) else dumps_lenient(p("error")),
                                            f"error of run {run_id}")
    for key in ("inputs", "outputs", "serialized"):
        if p(key) is not None:
            value = p(key)
            if not isinstance(value, dict):  # LangSmith's SDKs read each back as an object
                if key == "serialized":
                    raise errors.ValidationError(f"serialized of run {run_id} must be an object, got {shown(value)}")
                value = {key[:-1]: value}  # {"input": ...}, {"output": ...}, as the SDKs wrap them
            cols[key] = _json_column(value, f"{key} of run {run_id}")
    if p("tags") is not None:
        cols["tags"] = dumps(check_tags(p("tags"), f"tags of run {run_id}"))
    extra = p("extra")
    usage = None
    if extra is not None:
        if not isinstance(extra, dict):
            raise errors.ValidationError(f"extra of run {run_id} must be an object, got {shown(extra)}")
        extra = dict(extra)
        metadata = extra.pop("metadata", None)
        if metadata is not None:
            metadata = check_metadata(metadata, f"metadata of run {run_id}")
            cols["metadata"] = dumps(metadata)
            usage = metadata.get("usage_metadata")
        cols["extra"] = _json_column(extra, f"extra of run {run_id}")
    _add_tokens(p, cols, usage, cols.get("run_type", "llm"))  # an update does not repeat the type
    _tree(payload, run_id, cols)
    if p("reference_example_id") is not None:
        cols["reference_example_id"] = _uuid(p("reference_example_id"), f"reference_example_id of run {run_id}")
    kept = {k: p(k) for k in _LS_KEPT if p(k) is not None}
    for key, kind in _LS_KINDS.items():
        if key in kept and not (isinstance(kept[key], kind) if isinstance(kind, type) else kind(kept[key])):
            raise errors.ValidationError(f"{key} of run {run_id} must be {_LS_KIND_NAMES[key]}, got {shown(kept[key])}")
    if kept:
        cols["ls_fields"] = _json_column(kept, f"fields of run {run_id}")
    events = None
    if p("events") is not None:
        events = _events(p("events"), run_id)
        tokens = [when for when, name, _, _ in events if name == "new_token" and when is not None]
        if tokens:
            cols.setdefault("first_token_time", min(tokens))
    if p("first_token_time") is not None:
        cols["first_token_time"] = _time(p("first_token_time"), f"first_token_time of run {run_id}")
    if op == "post":
        cols.setdefault("name", "Unnamed")
        cols.setdefault("run_type", "chain")
        if "session_id" not in cols:
            cols["session_name"], cols["session_id"] = DEFAULT_PROJECT, project_id(DEFAULT_PROJECT)
    return RemoteRun(run_id, op, cols, events, [])


def mapped_run(payload: dict, usage_columns: dict | None = None) -> RemoteRun:
    """The run ``remote_run(payload, "post")`` gives (the same columns, the same errors) of a
    create payload runlite's OTel mapping made (``otel/conventions.py``), which holds only what
    that mapping writes: a run id, names, run type, tags, project and event names as clean
    names (``clean_name``), its times as checked epoch microseconds, the error as clean text,
    ``extra.metadata`` passed by ``check_metadata``. Those are not checked again; what only the
    encoding can tell still is, in ``remote_run``'s order: the JSON columns encoded and sized,
    token fields derived from ``usage_metadata`` (``usage_columns`` when the mapping derived
    them from the ``usage_metadata`` it wrote: the fields the payload holds, which deriving them
    again from those fields gives too)."""
    run_id = payload["id"]
    p = payload.get
    cols: dict[str, Any] = {"name": payload["name"], "run_type": payload["run_type"]}
    cols["started"] = cols["created"] = payload["start_time"]
    if p("end_time") is not None:
        cols["ended"] = payload["end_time"]
    if p("error") is not None:
        cols["error"] = payload["error"]
    for key in ("inputs", "outputs"):
        value = p(key)
        if value is not None:
            cols[key] = _json_column(value if isinstance(value, dict) else {key[:-1]: value}, f"{key} of run {run_id}")
    if p("tags") is not None:
        cols["tags"] = dumps(payload["tags"])
    extra = dict(payload["extra"])
    metadata = extra.pop("metadata")
    cols["metadata"] = dumps(metadata)
    usage = metadata.get("usage_metadata")
    cols["extra"] = _json_column(extra, f"extra of run {run_id}")
    if usage_columns is not None:
        cols.update(usage_columns)
    else:
        _add_tokens(p, cols, usage, cols["run_type"])
    parent = p("parent_run_id")
    if parent is None:
        cols["dotted_order"], cols["trace_id"] = dotted_segment(cols["started"], run_id), run_id
    else:
        cols["parent_run_id"] = parent
    session = p("session_name")
    if session is not None:
        cols["session_name"], cols["session_id"] = session, project_id(session)
    events = None
    if p("events") is not None:
        events = [(event["time"], event["name"], None, _json_column(event["kwargs"] or None, f"event {i} of run {run_id}"))
                  for i, event in enumerate(payload["events"])]
        tokens = [when for when, name, _, _ in events if name == "new_token"]
        if tokens:
            cols.setdefault("first_token_time", min(tokens))
    if p("first_token_time") is not None:
        cols["first_token_time"] = payload["first_token_time"]
    if "session_id" not in cols:
        cols["session_name"], cols["session_id"] = DEFAULT_PROJECT, project_id(DEFAULT_PROJECT)
    return RemoteRun(run_id, "post", cols, events, [])


def _add_tokens(p, cols: dict, usage: Any, run_type: str) -> None:
    """A run's token fields, as LangSmith derives them for llm runs: from its ``usage_metadata``
    (the metadata's, else the outputs'), then from the payload's own counts (``p``: its
    ``get``) where those gave none."""
    outputs = p("outputs")
    if usage is None and isinstance(outputs, dict) and isinstance(outputs.get("usage_metadata"), dict):
        usage = outputs["usage_metadata"]
    if isinstance(usage, dict) and run_type == "llm":
        cols.update(usage_fields(usage))
    given = {_USAGE_NAME[key]: p(key) for key in _USAGE_NAME if p(key) is not None and key not in cols}
    if given:
        cols.update(usage_fields(given))


_USAGE_NAME = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens", "total_tokens": "total_tokens",
               "prompt_cost": "input_cost", "completion_cost": "output_cost", "total_cost": "total_cost"}


def _tree(payload: dict, run_id: str, cols: dict) -> None:
    """The run's place in its trace and project: ``dotted_order`` (checked against its id,
    trace and parent, as LangSmith defines it), ``trace_id``, ``parent_run_id``, session."""
    p = payload.get
    parent = None if p("parent_run_id") is None else _uuid(p("parent_run_id"), f"parent_run_id of run {run_id}")
    trace = None if p("trace_id") is None else _uuid(p("trace_id"), f"trace_id of run {run_id}")
    dotted = p("dotted_order")
    if dotted is not None:
        if not isinstance(dotted, str) or len(dotted) > 1 << 16:
            raise errors.ValidationError(f"dotted_order of run {run_id} must be a str, got {shown(dotted)}")
        ids = dotted_ids(dotted)
        if not ids or ids[-1] != run_id or any(len(s) < 37 for s in dotted.split(".")):
            raise errors.ValidationError(f"dotted_order of run {run_id} must end with its id, got {shown(dotted)}")
        # Each segment names a run of the trace, an ancestor the file may hold only as a
        # placeholder: a UUID each, none twice (a run would be its own ancestor).
        if not dotted.isascii() or not all(map(is_uuid, ids)) or len(set(ids)) != len(ids):
            raise errors.ValidationError(f"dotted_order of run {run_id} must name a different run (a UUID) in each"
                                         f" segment, got {shown(dotted)}")
        if trace is not None and ids[0] != trace:
            raise errors.ValidationError(f"dotted_order of run {run_id} must start with its trace_id {trace}")
        if parent is not None and (len(ids) < 2 or ids[-2] != parent):
            raise errors.ValidationError(f"dotted_order of run {run_id} does not end with its parent {parent}")
        if parent is None and len(ids) > 1:
            parent = ids[-2]
        cols["dotted_order"], cols["trace_id"] = dotted, ids[0]
    elif parent is None and "started" in cols and trace in (None, run_id):
        # A root without a dotted order (older clients): LangSmith's own fallback.
        cols["dotted_order"], cols["trace_id"] = dotted_segment(cols["started"], run_id), run_id
    elif trace is not None:
        cols["trace_id"] = trace
    if parent is not None:
        cols["parent_run_id"] = parent
    session = p("session_name")
    if session is not None:
        cols["session_name"] = check_name(session, f"session_name of run {run_id}")
        cols["session_id"] = project_id(cols["session_name"])
    elif p("session_id") is not None:
        cols["session_id"] = _uuid(p("session_id"), f"session_id of run {run_id}")
