"""Runs as reads return them: ``RunRecord`` (an experiment run, a trace span or a recipe run)
and ``RunList``, with their ``to_dict()`` in LangSmith's and Simvue's words."""

from __future__ import annotations

import copy
import datetime as _dt
from typing import Any

import attrs

from .._ids import dotted_ids
from ..errors import ValidationError
from .times import epoch_ms, from_epoch_ms, from_iso, iso

# The fields of the LangSmith ``Run`` interface (seed 001), in its order.
LANGSMITH_FIELDS = (
    "id", "inputs", "name", "run_type", "app_path", "attachments", "child_run_ids", "child_runs",
    "completion_tokens", "dotted_order", "end_time", "error", "events", "extra", "feedback_stats",
    "first_token_time", "in_dataset", "inputs_s3_urls", "manifest_id", "outputs", "outputs_s3_urls",
    "parent_run_id", "parent_run_ids", "prompt_tokens", "reference_example_id", "serialized",
    "session_id", "start_time", "status", "tags", "total_tokens", "trace_id",
)
# The fields runlite adds beside them: Simvue's, and LangSmith's beyond that interface.
SIMVUE_FIELDS = (
    "folder", "metadata", "description", "created", "started", "endtime", "modified", "kind",
    "system", "host", "pid", "heartbeat", "heartbeat_timeout", "prompt_cost", "completion_cost",
    "total_cost", "session_name", "run_status", "direct_child_run_ids", "prompt_token_details",
    "completion_token_details",
)
# LangSmith's status word of each runlite status (``to_dict()["status"]``; ``run_status`` keeps
# runlite's), and the runlite status a LangSmith word is read back as.
LANGSMITH_STATUS = {"completed": "success", "failed": "error", "terminated": "error", "lost": "error",
                    "created": "pending", "running": "pending"}
FROM_LANGSMITH = {"success": "completed", "error": "failed", "pending": "running"}


def usage_details(metadata: Any, key: str) -> Any:
    """``metadata["usage_metadata"][key]`` (LangSmith's token details: its whole counts, the
    only values LangSmith's SDKs read back), or None."""
    usage = metadata.get("usage_metadata") if isinstance(metadata, dict) else None
    details = usage.get(key) if isinstance(usage, dict) else None
    if not isinstance(details, dict):
        return None
    return {k: v for k, v in details.items() if type(v) is int or (isinstance(v, float) and v.is_integer())}


@attrs.frozen(eq=False)
class RunRecord:
    """One run as stored: an experiment run, a trace span or a recipe run.

    Records read from a store decode each field on first access (see ``stored_records``); they
    compare equal to ordinary records with the same values. Their ``events`` (and, of listed
    runs, ``child_run_ids``, ``direct_child_run_ids``, ``attachments`` and ``feedback_stats``)
    are read from the store on first access, for every record of the same read at once (so is
    what ``to_dict()`` and ``==`` use): read them before closing it. Copied, deep-copied or
    pickled, such a record gives an ordinary one of the same values.
    ``child_run_ids`` holds every descendant's id, ``direct_child_run_ids`` the children's.
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
    session_name: str | None = None
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
    prompt_token_details: dict | None = None  # kept when given apart from metadata's usage_metadata
    completion_token_details: dict | None = None
    child_run_ids: tuple[str, ...] = ()
    direct_child_run_ids: tuple[str, ...] = ()
    child_runs: tuple["RunRecord", ...] = ()
    attachments: dict = attrs.field(factory=dict)
    events: tuple[dict, ...] = ()
    feedback_stats: dict = attrs.field(factory=dict)

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
        start = self.start_time
        return None if self.ended is None or start is None else (self.ended - start).total_seconds()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunRecord):
            return NotImplemented
        # Pairs still to compare wait on an explicit stack: comparing child_runs tuples with
        # ``==`` would recurse once per level, and a trace may be thousands of spans deep.
        pairs = [(self, other)]
        while pairs:
            a, b = pairs.pop()
            kids_a, kids_b = a.child_runs, b.child_runs
            if len(kids_a) != len(kids_b) or not all(getattr(a, f) == getattr(b, f) for f in _OWN_FIELDS):
                return False
            for x, y in zip(kids_a, kids_b):
                if isinstance(x, RunRecord) and isinstance(y, RunRecord):
                    pairs.append((x, y))
                elif not x == y:
                    return False
        return True

    __hash__ = None  # records hold dicts

    def _unread(self, name: str) -> bool:
        """Whether field ``name`` is still to be read from the store (see ``stored_records``)."""
        return False

    def __repr__(self) -> str:
        # As attrs writes it, without recursing per level of child_runs: the pieces still to
        # write (records, or text) wait on an explicit stack and are joined once.
        out, stack = [], [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            kids = [k if isinstance(k, RunRecord) else repr(k) for k in item.child_runs]
            out.append(f"RunRecord({_fields_repr(item, _BEFORE_CHILDREN)}, child_runs=(")
            stack.append(("," if len(kids) == 1 else "") + f"), {_fields_repr(item, _AFTER_CHILDREN)})")
            for i in range(len(kids) - 1, -1, -1):
                stack += [kids[i], ", "] if i else [kids[i]]
        return "".join(out)

    def to_dict(self, *, child_runs: bool = True) -> dict[str, Any]:
        """Every LangSmith ``Run`` field plus the Simvue fields, JSON-ready; with
        ``child_runs=False`` this run alone (``child_runs`` empty, ``child_run_ids`` kept).

        LangSmith times (``start_time``, ``end_time``, ``first_token_time``) are epoch
        milliseconds as in its interface; Simvue times (``created``, ``started``,
        ``endtime``, ``modified``, ``heartbeat``) and event times are ISO-8601 strings in UTC.
        ``extra["metadata"]`` is the run's metadata, as LangSmith keeps it. ``status`` is
        LangSmith's word (``LANGSMITH_STATUS``: success, error, pending), ``run_status`` runlite's.
        """
        # Top-down with an explicit stack (a trace may be thousands of spans deep): each
        # record's dict is made with an empty ``child_runs`` list that its children fill.
        root = self._own_dict()
        if not child_runs:
            return root
        stack = [(self, root)]
        while stack:
            rec, out = stack.pop()
            for child in rec.child_runs:
                out["child_runs"].append(data := child._own_dict())
                stack.append((child, data))
        return root

    def _own_dict(self) -> dict[str, Any]:
        """``to_dict()`` of this record alone, with ``child_runs`` an empty list."""
        extra = dict(self.extra or {})
        extra["metadata"] = self.metadata
        made = {
            "inputs": self.inputs if self.inputs is not None else {}, "extra": extra, "child_runs": [],
            "attachments": {k: list(v) for k, v in self.attachments.items()}, "tags": list(self.tags),
            "child_run_ids": list(self.child_run_ids), "events": [dict(e) for e in self.events],
            "direct_child_run_ids": list(self.direct_child_run_ids), "run_status": self.status,
            "status": LANGSMITH_STATUS.get(self.status, self.status),
            "prompt_token_details": usage_details(self.metadata, "input_token_details") or self.prompt_token_details,
            "completion_token_details": usage_details(self.metadata, "output_token_details")
            or self.completion_token_details,
            "start_time": epoch_ms(self.start_time), "end_time": epoch_ms(self.ended),
            "first_token_time": epoch_ms(self.first_token_time),
            "created": iso(self.created), "started": iso(self.started), "endtime": iso(self.ended),
            "modified": iso(self.modified), "heartbeat": iso(self.heartbeat),
        }
        # Every other key is the attribute of its name; keys in LangSmith's order, then Simvue's.
        return {key: made[key] if key in made else getattr(self, key) for key in _DICT_KEYS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        """The inverse of ``to_dict()`` (``status`` from ``run_status``, else from LangSmith's word).
        ValidationError (a ValueError) for what is not in that shape: a dict of the tree without
        ``id``, ``name`` or a status, a value of the wrong type (tags that are no list, a time
        that is no ISO text or epoch milliseconds), a dict met twice (a cycle)."""
        try:
            return cls._from_dict(data)
        except ValidationError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            named = data.get("id") if isinstance(data, dict) else None
            raise ValidationError(f"run dict {named!r:.80} is not in the to_dict() shape: "
                                  f"{type(exc).__name__}: {str(exc)[:300]}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> "RunRecord":
        # Breadth-first, then made from the last dict back: a dict's children come after it,
        # so each record is made once, its children already made, without recursion (a trace
        # may be thousands of spans deep). A dict met twice (a cycle) is refused.
        order, parents, seen = [data], [-1], {id(data)}
        for i, item in enumerate(order):  # grows while it is walked
            for child in item.get("child_runs") or ():
                if id(child) in seen:
                    raise ValidationError("child_runs holds a dict that is already in the tree (a cycle)")
                seen.add(id(child))
                order.append(child)
                parents.append(i)
        kids: list[list] = [[] for _ in order]
        for j in range(len(order) - 1, 0, -1):
            kids[parents[j]].append(cls._one_from_dict(order[j], tuple(reversed(kids[j]))))
        return cls._one_from_dict(data, tuple(reversed(kids[0])))

    @classmethod
    def _one_from_dict(cls, data: dict[str, Any], child_runs: tuple) -> "RunRecord":
        """One record of ``from_dict``, its children already made."""
        extra = dict(data.get("extra") or {})
        metadata = extra.pop("metadata", data.get("metadata") or {})
        status = data["run_status"] if data.get("run_status") is not None else data["status"]
        details = {key: None if data.get(key) == usage_details(metadata, f"{side}_token_details") else data.get(key)
                   for key, side in (("prompt_token_details", "input"), ("completion_token_details", "output"))}
        return cls(
            id=data["id"], name=data["name"],
            status=FROM_LANGSMITH.get(status, status) if isinstance(status, str) else status,
            kind=data.get("kind", "experiment"), folder=data.get("folder", "/"),
            metadata=metadata, tags=tuple(data.get("tags") or ()),
            trace_id=data.get("trace_id", ""), dotted_order=data.get("dotted_order", ""),
            created=from_iso(data.get("created")) or from_epoch_ms(data.get("start_time")),
            started=from_iso(data.get("started")) or from_epoch_ms(data.get("start_time")),
            ended=from_iso(data.get("endtime")) or from_epoch_ms(data.get("end_time")),
            modified=from_iso(data.get("modified")), heartbeat=from_iso(data.get("heartbeat")),
            inputs=data.get("inputs") or None, extra=extra or None,
            first_token_time=from_epoch_ms(data.get("first_token_time")),
            child_run_ids=tuple(data.get("child_run_ids") or ()),
            direct_child_run_ids=tuple(data.get("direct_child_run_ids") or ()), child_runs=child_runs,
            attachments={k: tuple(v) for k, v in (data.get("attachments") or {}).items()},
            events=tuple(data.get("events") or ()),
            feedback_stats=data.get("feedback_stats") or {},
            **details, **{name: data.get(name) for name in _AS_GIVEN},
        )


# Fields ``from_dict`` takes as the dict gives them (None when missing).
_AS_GIVEN = (
    "run_type", "description", "parent_run_id", "outputs", "error", "serialized", "session_id", "session_name",
    "reference_example_id", "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost",
    "completion_cost", "total_cost", "host", "pid", "heartbeat_timeout", "system", "app_path", "in_dataset",
    "manifest_id", "inputs_s3_urls", "outputs_s3_urls",
)


def _fields_repr(record: RunRecord, names: tuple[str, ...]) -> str:
    # A repr reads nothing from the store (it may be shown after the store closed).
    return ", ".join(f"{name}=<read on first use>" if record._unread(name)
                     else f"{name}={getattr(record, name)!r}" for name in names)


_FIELD_NAMES = tuple(a.name for a in attrs.fields(RunRecord))
_OWN_FIELDS = tuple(f for f in _FIELD_NAMES if f != "child_runs")
_BEFORE_CHILDREN = _FIELD_NAMES[:_FIELD_NAMES.index("child_runs")]
_AFTER_CHILDREN = _FIELD_NAMES[_FIELD_NAMES.index("child_runs") + 1:]
_DICT_KEYS = LANGSMITH_FIELDS + SIMVUE_FIELDS



class RunList(list):
    """A list of RunRecords (what run listings return), with ``to_pandas()``.

    ``summaries`` is what gives the listed runs' metric summaries to ``to_pandas()`` (set by
    the store that listed them; None for a list made by hand): a callable taking run ids and
    returning ``(run_id, name, last, min, max)`` rows. A copy keeps it; a pickled list (sent to
    another process) holds its records only, as one made by hand.
    """

    def __init__(self, records: Any = (), *, summaries: Any = None):
        super().__init__(records)
        self.summaries = summaries

    def __copy__(self) -> "RunList":
        return RunList(self, summaries=self.summaries)

    def __deepcopy__(self, memo: dict) -> "RunList":
        # The records copied; the store that gives their summaries shared, as a store is not copied.
        return RunList(copy.deepcopy(list(self), memo), summaries=self.summaries)

    def __reduce__(self) -> tuple:
        # Pickled (sent to another process), the list holds its records only: the store that gives
        # their summaries stays in this process (to_pandas then says the list has none).
        return RunList, (list(self),)

    def to_pandas(self, columns: str = "experiment", *, metrics: Any = None, metadata: Any = True):
        """A DataFrame, one row per run (docs/FRAMES.md); needs pandas.

        Args:
            columns: ``"experiment"``: id, name, status (``lost`` computed), folder, created,
                started, ended, duration (seconds), tags, description; ``"langsmith"``: id, name,
                run_type, status (LangSmith's word), start_time, end_time, latency, tokens, costs,
                error, inputs, outputs, tags, trace_id, parent_run_id, session_name...; ``"all"``:
                both and every other stored field. Times are ``datetime64[us, UTC]``.
            metrics: ``metric.<name>.last``/``.min``/``.max`` columns from the summaries kept at
                ingest (one query for every listed run): True (every metric; the default but for
                ``"langsmith"``), False, or a list of metric names. Read from the store when
                first asked and kept: ask before closing the store, or pass ``metrics=False``.
            metadata: ``metadata.<key>`` columns, nested dicts flattened with dots: True, False,
                or a list of keys (``"optimizer.lr"`` for a nested one).
        """
        from ..frames import runs_frame

        for item in self:
            if not isinstance(item, RunRecord):
                raise ValidationError(f"to_pandas() makes a row of each RunRecord; this list holds a "
                                      f"{type(item).__name__}")
        return runs_frame(self, columns, metrics=metrics, metadata=metadata, summaries=self.summaries,
                          status_words=LANGSMITH_STATUS)
