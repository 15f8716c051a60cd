"""A span being traced (LangSmith's ``RunTree``): what the traced thread records of a call, and
what the span writer reads of it.

The traced thread pays only for what must happen there: the start and end clock, references
to the parent, the call's arguments and its result, and a place in the store's span queue.
The rest is derived on first use, normally by the span writer off the traced thread: the id (a
uuid7 with the span's start time), the trace id and dotted order (from the parent's), the inputs
(the arguments bound to the function's parameters by the decorator's binder), and the empty
containers a span with no tags, metadata, events, usage or attachments never needs.

Derived values are computed once and kept; two threads asking at the same moment get the same
value (the first one made is kept), so an id, once seen, never changes.

Like the values the SDK holds in a ``RunTree``, inputs and outputs are references to the
caller's objects: they are serialised when the span is written (within a second), so an object
the caller changes before then is written as changed. (The LangSmith SDK serialises inputs when
the run is posted, at the call's start, and outputs at its end.)
"""

from __future__ import annotations

import collections
import itertools
import operator
import os
import threading
import time
import traceback
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .. import errors
from .._ids import dotted_ids, dotted_segment, dotted_segments, uuid7, uuid7_many
from .._validation import check_metadata, check_name, check_tags, dumps_lenient, lenient_text, shown, to_us
from . import context
from .context import NOWHERE, merge_tags
from ..storage.events import check_message
from .usage import COSTS, COUNTS, number, usage_fields

SPAN_STATUS = {"running": "pending", "created": "pending", "completed": "success", "failed": "error",
               "terminated": "error", "lost": "error"}

_time_ns = time.time_ns
_env_project = context.env_project
_derive_lock = threading.Lock()  # derived values (an id, bound inputs) are made once
_pid = os.getpid()               # os.getpid() is a system call; a fork updates this


def _after_fork_in_child() -> None:
    global _pid, _derive_lock
    _pid = os.getpid()
    _derive_lock = threading.Lock()  # a thread the fork did not copy may have held it


def _before_fork() -> None:
    """Make the ids of the forking thread's current spans now: a forked child's spans name
    them as parents, and made on each side after the fork they would differ."""
    span = context.current.get()
    while span is not None:
        span.dotted_order  # noqa: B018 - made with the id and the trace id, kept on the span
        span = span.parent


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)

_UNSET: Any = object()  # an argument of Span.set not given
_ID, _ORDER, _TRACE = operator.attrgetter("_id"), operator.attrgetter("_dotted_order"), operator.attrgetter("_trace_id")
_PARENT, _START = operator.attrgetter("parent"), operator.attrgetter("start_us")
_NONES = itertools.repeat(None)
_NO_NEWS = (None, None)  # the news of a span without events or attachments, shared
# What `Span.columns` reads of each span, its derived values made first: a C-level pass a column
# (no tuple a span, which would also wake the garbage collector every 700 spans).
_READ = [operator.attrgetter(name) for name in (
    "_id", "name", "run_type", "status", "folder", "_metadata", "_tags", "parent", "_parent_run_id", "_trace_id",
    "_dotted_order", "start_us", "end_us", "_inputs", "_call", "outputs", "error", "_usage", "first_token_us", "pid",
    "session_name", "reference_example_id")]


def _copies(values: list, kind: type) -> Any:
    """A copy of each container, None for an empty one (one C-level test when all are)."""
    return [kind(v) if v else None for v in values] if any(values) else (None,) * len(values)


def _derive(spans: list) -> None:
    """Make the ids, trace ids and dotted orders a batch of spans lacks, in the batch's order
    (its spans' ids increase as the batch goes), as the properties would one at a time: the
    ids by one `uuid7_many`, and for roots (the common case) the rest in C-level passes."""
    if None in map(_ID, spans):
        with _derive_lock:  # the properties wait: an id, once made, is kept
            lacking = _lacking(spans, _ID)
            _set_each(lacking, "_id", uuid7_many(list(map(_START, lacking))))
    roots = _lacking(_lacking(spans, _ORDER), _PARENT)
    _set_each(roots, "_dotted_order", dotted_segments(list(map(_START, roots)), list(map(_ID, roots))))
    roots = _lacking(roots, _TRACE)
    _set_each(roots, "_trace_id", map(_ID, roots))
    for span in _lacking(spans, _ORDER):  # children, parents first
        above = span.parent._dotted_order if span.parent is not None else None
        span._dotted_order = span.dotted_order if above is None else f"{above}.{dotted_segment(span.start_us, span._id)}"
    for span in _lacking(spans, _TRACE):
        span.trace_id  # noqa: B018 - made (the root's id, or its parent's) and kept


def _lacking(spans: list, read: Any) -> list:
    """The spans whose ``read(span)`` is None, in C-level passes."""
    return list(itertools.compress(spans, map(operator.is_, map(read, spans), _NONES)))


def _set_each(spans: list, name: str, values: Any) -> None:
    """``setattr(span, name, value)`` for each pair, in a C-level loop."""
    collections.deque(map(setattr, spans, itertools.repeat(name), values), maxlen=0)


def _mapping(value: Any, what: str) -> dict:
    if not isinstance(value, Mapping):
        raise errors.ValidationError(f"{what} must be a dict, got {type(value).__name__} {shown(value)}")
    return dict(value)


def _other_file(store, other) -> bool:
    """Whether two stores keep their runs in different files (neither the store of spans
    never written, which a remote parent's stand-in and a disabled trace use)."""
    if store is NOWHERE or other is NOWHERE:
        return False
    # The file's path, not the group: a store closed before the other opened left its group.
    mine, theirs = store.live.same_file, other.live.same_file
    return mine is not theirs and (mine.key is None or mine.key != theirs.key)


class Span:
    """A span being traced; the handle ``trace()`` gives and ``traceable`` makes (LangSmith's
    ``RunTree``). Children inherit its tags (no duplicates), metadata (their keys win), folder
    and project (``session_name``).

    ``id``, ``trace_id``, ``parent_run_id``, ``dotted_order`` and ``inputs`` are derived on first
    use; ``queued`` belongs to the store's span queue (whether a batch will write the span)."""

    # Class defaults: a span sets only what differs, each attribute set costing the traced thread.
    parent: "Span | None" = None
    end_us: int | None = None
    outputs: Any = None
    error: str | None = None
    first_token_us: int | None = None
    status = "running"
    folder = "/"
    reference_example_id: str | None = None
    events_written = 0
    queued = False
    outputs_set = False             # set(outputs=...) was called: end() keeps them
    inputs_set = False              # inputs given after the start: each write rewrites them
    callbacks: tuple | None = None  # (on_success, on_end) from langsmith_extra
    token: Any = None               # the context token while the span is current (``with``)
    _id: str | None = None
    _trace_id: str | None = None
    _dotted_order: str | None = None
    _parent_run_id: str | None = None
    _inputs: Any = None
    _call: tuple | None = None      # (binder, args, kwargs): inputs not bound yet
    _tags: list | None = None
    _metadata: dict | None = None
    _events: list | None = None
    _usage: dict | None = None
    _attachments: list | None = None

    def __init__(self, store, name: str, run_type: str, inputs: Any, parent: "Span | None",
                 tags: list | None, metadata: dict | None, project: str | None = None,
                 run_id: str | None = None, call: tuple | None = None):
        """``metadata`` becomes the span's own (pass a copy); ``call`` is ``(binder, args,
        kwargs)``, bound to the inputs when first asked for instead of ``inputs``."""
        now = _time_ns() // 1000
        self.store = store
        self.name = name
        self.run_type = run_type
        self.pid = _pid
        if run_id is not None and parent is not None and run_id in dotted_ids(parent.dotted_order):
            raise errors.ValidationError(f"run_id {run_id} is the id of one of the span's ancestors")
        if parent is not None and parent.store is not store and _other_file(parent.store, store):
            parent = None  # a span of another file (the current span of a trace into another store) is
            # no parent here: its row is not in this file, so the child would never be written
        if parent is None:
            self.start_us = now
            self.session_name = project if project is not None else _env_project()
        else:
            self.parent = parent
            start = parent.start_us
            self.start_us = now if now > start else start  # never before the parent
            self.session_name = parent.session_name  # a child is in its parent's project
            if parent.folder != "/":
                self.folder = parent.folder
            if parent._metadata:
                merged = dict(parent._metadata)  # children inherit metadata (their keys win)
                if metadata:
                    merged.update(metadata)
                metadata = merged
            if parent._tags:
                tags = merge_tags(parent._tags, tags)
        if tags:
            self._tags = list(tags)
        if metadata:
            self._metadata = metadata
        if run_id is not None:
            self._id = run_id
        if call is not None:
            self._call = call
        elif inputs is not None:
            self._inputs = inputs
        store.live.spans.add(self)

    # -- derived on first use

    @property
    def id(self) -> str:
        """The run id: a uuid7 of the span's start, made when first asked for."""
        run_id = self._id
        if run_id is None:
            with _derive_lock:
                run_id = self._id
                if run_id is None:
                    run_id = self._id = uuid7(self.start_us)
        return run_id

    @id.setter
    def id(self, value: str) -> None:
        self._id = value

    @property
    def trace_id(self) -> str:
        """The id of the trace's root span."""
        trace = self._trace_id
        if trace is None:
            chain, node = [], self  # iterative: traces may be thousands of spans deep
            while node._trace_id is None and node.parent is not None:
                chain.append(node)
                node = node.parent
            trace = node._trace_id
            if trace is None:
                trace = node._trace_id = node.id
            for span in chain:
                span._trace_id = trace
        return trace

    @trace_id.setter
    def trace_id(self, value: str) -> None:
        self._trace_id = value

    @property
    def parent_run_id(self) -> str | None:
        """The parent span's id, or None for a root."""
        parent = self.parent
        return parent.id if parent is not None else self._parent_run_id

    @parent_run_id.setter
    def parent_run_id(self, value: str | None) -> None:
        self._parent_run_id = value

    @property
    def dotted_order(self) -> str:
        """The parent's dotted order, then this span's segment (its start and id)."""
        order = self._dotted_order
        if order is None:
            chain, node = [], self
            while node._dotted_order is None and node.parent is not None:
                chain.append(node)
                node = node.parent
            order = node._dotted_order
            if order is None:
                order = node._dotted_order = dotted_segment(node.start_us, node.id)
            for span in reversed(chain):
                order = span._dotted_order = f"{order}.{dotted_segment(span.start_us, span.id)}"
        return order

    @dotted_order.setter
    def dotted_order(self, value: str) -> None:
        self._dotted_order = value

    @property
    def inputs(self) -> Any:
        """The inputs: the call's arguments by parameter name (bound when first asked for)."""
        call = self._call
        if call is not None:
            bound = call[0](call[1], call[2])
            with _derive_lock:
                if self._call is call:  # the first binding is kept
                    self._inputs, self._call = bound, None
        return self._inputs

    @inputs.setter
    def inputs(self, value: Any) -> None:
        with _derive_lock:
            self._inputs, self._call = value, None
        self.inputs_set = True  # written again whenever the span is (else its first write stays)
        self.store.live.spans.touch(self)

    def _container(self, name: str, kind: type) -> Any:
        """A container made on first use; threads racing here share the one kept."""
        with _derive_lock:
            value = getattr(self, name)
            if value is None:
                value = kind()
                setattr(self, name, value)
        return value

    @property
    def tags(self) -> list:
        return self._tags if self._tags is not None else self._container("_tags", list)

    @tags.setter
    def tags(self, value: list) -> None:
        # Kept as given (the caller may go on changing it, as LangSmith's RunTree allows); only
        # the container is checked here: text would be written a character a tag.
        if value is not None and not isinstance(value, list):
            raise errors.ValidationError(f"tags must be a list of text or None, got {type(value).__name__}"
                                         f" {shown(value)}")
        self._tags = value

    @property
    def metadata(self) -> dict:
        return self._metadata if self._metadata is not None else self._container("_metadata", dict)

    @metadata.setter
    def metadata(self, value: dict) -> None:
        if value is not None and not isinstance(value, dict):  # it failed the span's write: the span was lost
            raise errors.ValidationError(f"metadata must be a dict or None, got {type(value).__name__} {shown(value)}")
        self._metadata = value

    @property
    def events(self) -> list:
        """Events as ``(time_us, name, message, kwargs)``; the span writer writes new ones."""
        return self._events if self._events is not None else self._container("_events", list)

    @property
    def usage(self) -> dict:
        """Token counts and costs (``prompt_tokens``... ``total_cost``)."""
        return self._usage if self._usage is not None else self._container("_usage", dict)

    @property
    def attachments(self) -> list:
        """Attachments ``(name, bytes, mime type)`` not written yet."""
        return self._attachments if self._attachments is not None else self._container("_attachments", list)

    def news(self) -> tuple[list | None, list | None]:
        """(events, attachments) as they are, None where the span never had any: the span
        queue drains what is new of them without making empty lists (nor a tuple a span)."""
        return _NO_NEWS if self._events is None and self._attachments is None else (self._events, self._attachments)

    @staticmethod
    def columns(spans: list) -> tuple:
        """What the span writer stores of a batch, a column each (``_READ``'s, ``parent`` as
        its id, ``_call`` bound into the inputs), each read in a C-level pass: a span a traced
        thread changes meanwhile is queued again (its flag was cleared first), and the next
        batch writes it whole; until then a running row has no end time. Metadata, tags and
        usage are copies (None when empty). Parents come before their children in a batch: a
        child finds its parent's values made."""
        _derive(spans)
        (ids, names, run_types, statuses, folders, metadata, tags, parents, own_parents, traces, orders, starts,
         ends, inputs, calls, outputs, errors, usage, first_tokens, pids, sessions,
         references) = [list(map(read, spans)) for read in _READ]
        if any(parents):
            own_parents = [own if parent is None else parent._id or parent.id
                           for parent, own in zip(parents, own_parents)]
        if any(calls):  # bound here without keeping the result: no lock, and the same dict each time
            inputs = context.bound(inputs, calls)
        if "running" in statuses and any(ends):  # read mid-``end()`` (it sets the status last): no
            ends = [None if s == "running" else e for s, e in zip(statuses, ends)]  # end time until it is done
        return (ids, names, run_types, statuses, folders, _copies(metadata, dict), _copies(tags, list), own_parents,
                traces, orders, starts, ends, inputs, outputs, errors, _copies(usage, dict), first_tokens, pids,
                sessions, references)

    def outside_ancestors(self) -> list[tuple["Span", bool]]:
        """The span's ancestors, root first, each with whether a store writes it (False: a
        stand-in for a parent in another process, or a span traced while tracing was off),
        when its parent is not written by its own store in its own process (a forked child's
        span under its parent's); else [] (the span writer's test)."""
        parent = self.parent
        if parent is None or (parent.store is self.store and parent.pid == self.pid):
            return []
        chain = []
        while parent is not None:  # iterative: traces may be thousands of spans deep
            chain.append((parent, parent.store is not NOWHERE))
            parent = parent.parent
        chain.reverse()
        return chain

    # -- mutators (LangSmith RunTree style)

    def end(self, outputs: Any = None, error: str | None = None, end_time: Any = None, events: Any = None,
            metadata: dict | None = None) -> None:
        """End the span, as ``RunTree.end``: outputs (non-dict wrapped as ``{"output": value}``)
        merged into those it has, error text, ``events`` added (as ``add_event`` takes them),
        ``metadata`` merged. Ended again (a traced function that ended its own span returns),
        it merges again and takes the new end time, as the SDK's does."""
        end_us = _time_ns() // 1000 if end_time is None else to_us(end_time, "end_time")  # before any change
        new_events = None if events is None else self._checked_events(events)
        metadata = None if metadata is None else check_metadata(metadata)
        if outputs is not None:
            outputs = outputs if isinstance(outputs, dict) else {"output": outputs}
            if not self.outputs_set:  # set(outputs=...) is final, as in the SDK
                self.outputs = {**self.outputs, **outputs} if self.outputs else outputs  # RunTree.end merges
        if error is not None:
            self.error = lenient_text(error)
        if new_events:
            self.events.extend(new_events)
        if metadata:
            self.metadata.update(metadata)
        self.end_us = end_us
        self.status = "failed" if self.error is not None else "completed"
        self.store.live.spans.touch(self)

    def add_event(self, name: Any, time: Any = None, **kwargs: Any) -> None:
        """Add an event (``start``, ``new_token``...) to the span. A ``message`` that is text is
        the event's message (a lone surrogate as U+FFFD); any other value stays with the
        event's other values, as LangSmith keeps an event's keys whatever they hold. As
        ``RunTree.add_event``, ``name`` may be an event dict (``name``, ``time``, ``message``,
        ``kwargs``...) or a list of them (all checked before any is added)."""
        if isinstance(name, (list, tuple)) and time is None and not kwargs:
            new = self._checked_events(name)
        else:
            new = [self._event(name, time, kwargs)]
        self.events.extend(new)
        self.store.live.spans.touch(self)

    def _checked_events(self, events: Any) -> list:
        """Events as ``end(events=...)`` and ``add_event`` take them: one, or a list."""
        if isinstance(events, (list, tuple)):
            return [self._event(event, None, {}) for event in events]
        return [self._event(events, None, {})]

    @staticmethod
    def _event(name: Any, time: Any, kwargs: dict) -> tuple:
        """One checked event ``(time_us, name, message, kwargs)``."""
        if isinstance(name, Mapping):
            data = dict(name)
            name, time = data.pop("name", "event"), data.pop("time", time)
            more = data.pop("kwargs", None) or {}
            if not isinstance(more, Mapping):
                raise errors.ValidationError(f"an event's kwargs must be a dict, got {shown(more)}")
            kwargs = {**more, **data, **kwargs}
        check_name(name, "event name")
        when = _time_ns() // 1000 if time is None else to_us(time, "time")
        message = kwargs.pop("message", None)
        if isinstance(message, str):
            message = check_message(lenient_text(message))
        elif message is not None:
            kwargs["message"], message = message, None
        return (when, name, message, kwargs or None)

    def add_tags(self, tags: list | str) -> None:
        """Append tags."""
        self.tags.extend(check_tags([tags] if isinstance(tags, str) else tags))
        self.store.live.spans.touch(self)

    def add_metadata(self, metadata: dict) -> None:
        """Merge metadata (new keys win)."""
        self.metadata.update(check_metadata(metadata))
        self.store.live.spans.touch(self)

    def add_outputs(self, outputs: dict) -> None:
        """Merge outputs."""
        outputs = _mapping(outputs, "outputs to add")
        self.outputs = {**(self.outputs or {}), **outputs}
        self.store.live.spans.touch(self)

    def add_inputs(self, inputs: dict) -> None:
        """Merge inputs (``RunTree.add_inputs``)."""
        inputs = _mapping(inputs, "inputs to add")
        current = self.inputs
        self.inputs = {**(current if isinstance(current, Mapping) else {} if current is None else {"input": current}),
                       **inputs}

    def set(self, *, inputs: Any = _UNSET, outputs: Any = _UNSET, tags: Any = _UNSET, metadata: Any = _UNSET,
            usage_metadata: Any = _UNSET) -> None:
        """As ``RunTree.set``: replace the inputs, outputs or tags, merge metadata, keep a
        ``usage_metadata`` (as ``set_usage``). Outputs set here are final: ``end()`` and the
        traced function's return leave them as they are. All are checked before any is set."""
        tags = tags if tags is _UNSET else check_tags(tags or [])  # (a str is refused, not taken letter by letter)
        metadata = metadata if metadata in (_UNSET, None) else check_metadata(metadata)
        inputs = inputs if inputs is _UNSET else _mapping(inputs or {}, "inputs")
        outputs = outputs if outputs is _UNSET else _mapping(outputs or {}, "outputs")
        if usage_metadata is not _UNSET:
            self.set_usage(usage_metadata=usage_metadata)
        if tags is not _UNSET:
            self.tags = tags
        if metadata not in (_UNSET, None):
            self.metadata.update(metadata)
        if inputs is not _UNSET:
            self.inputs = inputs
        if outputs is not _UNSET:
            self.outputs, self.outputs_set = outputs, True
        self.store.live.spans.touch(self)

    def create_child(self, name: str, run_type: str = "chain", *, run_id: Any = None, inputs: Any = None,
                     outputs: Any = None, error: str | None = None, reference_example_id: Any = None,
                     start_time: Any = None, end_time: Any = None, tags: list | None = None,
                     extra: dict | None = None, **ignored: Any) -> "Span":
        """A child span in this span's store (``RunTree.create_child``; its ``serialized`` and
        ``attachments`` are ignored); ``extra["metadata"]`` is its metadata."""
        check_name(name, "span name")
        check_name(run_type, "run_type")
        tags = None if tags is None else check_tags(tags)
        metadata = (extra or {}).get("metadata")
        metadata = None if metadata is None else dict(check_metadata(metadata))
        run_id = None if run_id is None else context.check_run_id(run_id)
        reference = None if reference_example_id is None else context.check_run_id(reference_example_id,
                                                                                   "reference_example_id")
        start_us = None if start_time is None else to_us(start_time, "start_time")
        end_us = None if end_time is None else to_us(end_time, "end_time")
        child = Span(self.store, name, run_type, inputs, self, tags, metadata, None, run_id)
        if start_us is not None:
            child.start_us = max(start_us, self.start_us)  # never before its parent, as the SDK's
        child.reference_example_id = reference
        if outputs is not None or error is not None or end_us is not None:
            child.outputs = None if outputs is None else _mapping(outputs, "outputs")
            child.error = None if error is None else lenient_text(error)
            if end_us is not None:
                child.end(end_time=end_time)
        return child

    def post(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to send (``RunTree.post``): the store writes its spans."""

    def patch(self, *args: Any, **kwargs: Any) -> None:
        """Ends the span if it is still running, as ``RunTree.patch``; the store writes it."""
        if self.end_us is None:
            self.end()

    def attach(self, name: str, data: bytes, mime_type: str = "application/octet-stream") -> None:
        """Attach bytes (stored as a blob when the span is written)."""
        from ..storage.attachments import check_attach_name, check_mime

        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise errors.ValidationError(f"attachment data must be bytes, got {type(data).__name__}")
        self.attachments.append((check_attach_name(name), bytes(data), check_mime(mime_type)))
        self.store.live.spans.touch(self)

    def set_usage(self, *, prompt_tokens: int | None = None, completion_tokens: int | None = None,
                  total_tokens: int | None = None, usage_metadata: dict | None = None,
                  prompt_cost: float | None = None, completion_cost: float | None = None,
                  total_cost: float | None = None) -> None:
        """Token counts and costs. ``usage_metadata`` (LangSmith's: ``input_tokens``,
        ``output_tokens``, ``total_tokens``, ``*_cost``, ``*_details``) is kept in
        ``metadata["usage_metadata"]`` and fills what is not given (``usage.usage_fields``)."""
        given = {}
        for key, value, what in (("input_tokens", prompt_tokens, "prompt_tokens"),
                                 ("output_tokens", completion_tokens, "completion_tokens"),
                                 ("total_tokens", total_tokens, "total_tokens"), ("input_cost", prompt_cost, "prompt_cost"),
                                 ("output_cost", completion_cost, "completion_cost"), ("total_cost", total_cost, "total_cost")):
            if value is not None:
                given[key] = number(value, what, whole=key.endswith("tokens"))
        if usage_metadata is not None:
            usage_fields(usage_metadata)  # checked whole, as the SDK's RunTree.set checks it
            self.metadata["usage_metadata"] = check_metadata(usage_metadata, "usage_metadata")
            given = {**{key: value for key, value in usage_metadata.items() if key in COUNTS or key in COSTS}, **given}
        self.usage.update(usage_fields(given))
        self.store.live.spans.touch(self)

    def to_headers(self) -> dict[str, str]:
        """Headers that make this span the parent of spans in another process, as LangSmith's
        ``RunTree.to_headers``: ``langsmith-trace`` (the dotted order) and ``baggage`` (the
        span's metadata, tags and project), for ``parent=`` or ``langsmith_extra={"parent":
        ...}`` there, with runlite or the LangSmith SDK."""
        items = []
        if self._metadata:
            items.append("langsmith-metadata=" + urllib.parse.quote(dumps_lenient(self._metadata, "metadata")))
        if self._tags:
            items.append("langsmith-tags=" + urllib.parse.quote(",".join(map(str, self._tags))))
        if self.session_name:
            items.append("langsmith-project=" + urllib.parse.quote(self.session_name))
        return {"langsmith-trace": self.dotted_order, "baggage": ",".join(items)}

    # -- context manager

    def __enter__(self) -> "Span":
        self.token = context.current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.token is not None:
            try:
                context.current.reset(self.token)
            except ValueError:  # exited in another context (generator finalised elsewhere)
                pass
            self.token = None
        if exc_type is not None:
            self.end(error="".join(traceback.format_exception(exc_type, exc, tb)))
        elif self.end_us is None:  # as the SDK's trace(): a span ended inside keeps its end
            self.end()
        return False

    def __repr__(self) -> str:
        return f"<runlite.Span {self.name!r} {self.id} {SPAN_STATUS[self.status]}>"


# CPython 3.11 closes a class's table of shared attribute names after a few instances: a name first set later (the
# writer's ids) costs each span a dict of its own (~2.5 us). One instance names 30 (all that fit) in a root's order.
collections.deque(map(setattr, itertools.repeat(object.__new__(Span)), (
    "store", "name", "run_type", "pid", "start_us", "session_name", "_call", "queued", "outputs", "end_us", "status",
    "_id", "_dotted_order", "_trace_id", "parent", "_tags", "_metadata", "folder", "error", "_inputs", "token",
    "events_written", "_events", "_usage", "callbacks", "first_token_us", "reference_example_id", "_parent_run_id",
    "outputs_set", "inputs_set"), _NONES), maxlen=0)
