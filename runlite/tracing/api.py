"""LLM tracing: ``@traceable`` and ``trace()`` make spans, stored as runs of a trace tree.

The parent of a new span is the current span of this context (``contextvars``), so nested
calls form a tree, and threads and asyncio tasks keep theirs. Spans live in memory while
they run and are written by the store in batches (``storage/spans.py``): the traced thread pays
for an id, a timestamp and a list append, not a transaction.

Span statuses map onto run statuses: ``pending`` is ``running``, ``success`` is
``completed``, ``error`` is ``failed``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import time
import traceback
from typing import Any, Callable

from .. import errors
from .._defaults import store_or_default
from .._ids import uuid7
from .._validation import check_metadata, check_name, check_tags, to_us

_current: contextvars.ContextVar = contextvars.ContextVar("runlite_span", default=None)

SPAN_STATUS = {"running": "pending", "created": "pending", "completed": "success", "failed": "error",
               "terminated": "error", "lost": "error"}


def current_span() -> "Span | None":
    """The span of the calling context, if any."""
    return _current.get()


class Span:
    """A span being traced; the handle ``trace()`` gives and ``traceable`` makes."""

    __slots__ = ("store", "id", "name", "run_type", "trace_id", "parent_run_id", "dotted_order",
                 "start_us", "end_us", "inputs", "outputs", "error", "tags", "metadata", "events",
                 "usage", "first_token_us", "attachments", "status", "folder", "pid", "_token",
                 "events_written")

    def __init__(self, store, name: str, run_type: str, inputs: Any, parent: "Span | None",
                 tags: list | None, metadata: dict | None):
        now = time.time_ns() // 1000
        self.store = store
        self.name = name
        self.run_type = run_type
        if parent is not None:
            start = now if now > parent.start_us else parent.start_us  # never before the parent
            self.id = uuid7(start)
            self.trace_id = parent.trace_id
            self.parent_run_id = parent.id
            self.dotted_order = f"{parent.dotted_order}.{_segment(start, self.id)}"
            self.folder = parent.folder
            merged = dict(parent.metadata)  # children inherit metadata (their keys win)
            if metadata:
                merged.update(metadata)
            metadata = merged
        else:
            start = now
            self.id = uuid7(start)
            self.trace_id = self.id
            self.parent_run_id = None
            self.dotted_order = _segment(start, self.id)
            self.folder = "/"
        self.start_us = start
        self.end_us = None
        self.inputs = inputs
        self.outputs = None
        self.error = None
        self.tags = list(tags) if tags else []
        self.metadata = metadata or {}
        self.events: list = []
        self.usage: dict = {}
        self.first_token_us = None
        self.attachments: list = []
        self.status = "running"
        self.pid = os.getpid()
        self._token = None
        self.events_written = 0
        store.live.spans.add(self)

    # -- mutators (LangSmith RunTree style)

    def end(self, outputs: Any = None, error: str | None = None, end_time: Any = None) -> None:
        """End the span: outputs (non-dict wrapped as ``{"output": value}``), error text."""
        if self.end_us is not None:
            return
        if outputs is not None:
            self.outputs = outputs if isinstance(outputs, dict) else {"output": outputs}
        if error is not None:
            self.error = error if isinstance(error, str) else repr(error)
        self.end_us = time.time_ns() // 1000 if end_time is None else to_us(end_time, "end_time")
        self.status = "failed" if self.error is not None else "completed"
        self.store.live.spans.touch(self, ended=True)

    def add_event(self, name: Any, time: Any = None, **kwargs: Any) -> None:
        """Add an event (``start``, ``new_token``...) to the span."""
        if isinstance(name, dict):
            data = dict(name)
            name, time = data.pop("name", "event"), data.pop("time", time)
            kwargs = {**data.pop("kwargs", {}), **data, **kwargs}
        check_name(name, "event name")
        when = _now_us() if time is None else to_us(time, "time")
        self.events.append((when, name, kwargs.pop("message", None), kwargs or None))
        self.store.live.spans.touch(self)

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
        self.outputs = {**(self.outputs or {}), **outputs}
        self.store.live.spans.touch(self)

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
        """Token counts and costs; ``usage_metadata`` (LangSmith's ``input_tokens``,
        ``output_tokens``, ``total_tokens``, ``*_cost``) fills what is not given."""
        if usage_metadata is not None:
            if not isinstance(usage_metadata, dict):
                raise errors.ValidationError("usage_metadata must be a dict")
            self.metadata["usage_metadata"] = check_metadata(usage_metadata, "usage_metadata")
            prompt_tokens = prompt_tokens if prompt_tokens is not None else usage_metadata.get("input_tokens")
            completion_tokens = completion_tokens if completion_tokens is not None else usage_metadata.get("output_tokens")
            total_tokens = total_tokens if total_tokens is not None else usage_metadata.get("total_tokens")
            prompt_cost = prompt_cost if prompt_cost is not None else usage_metadata.get("input_cost")
            completion_cost = completion_cost if completion_cost is not None else usage_metadata.get("output_cost")
            total_cost = total_cost if total_cost is not None else usage_metadata.get("total_cost")
        if total_tokens is None and prompt_tokens is not None and completion_tokens is not None:
            total_tokens = prompt_tokens + completion_tokens
        if total_cost is None and prompt_cost is not None and completion_cost is not None:
            total_cost = prompt_cost + completion_cost
        for key, value, kind in (("prompt_tokens", prompt_tokens, int), ("completion_tokens", completion_tokens, int),
                                 ("total_tokens", total_tokens, int), ("prompt_cost", prompt_cost, float),
                                 ("completion_cost", completion_cost, float), ("total_cost", total_cost, float)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 \
                    or (kind is int and not float(value).is_integer()):
                raise errors.ValidationError(f"{key} must be a number >= 0{' (whole)' if kind is int else ''}, got {value!r}")
            self.usage[key] = kind(value)
        self.store.live.spans.touch(self)

    # -- context manager

    def __enter__(self) -> "Span":
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # exited in another context (generator finalised elsewhere)
                pass
            self._token = None
        if exc_type is not None:
            self.end(error="".join(traceback.format_exception(exc_type, exc, tb)))
        else:
            self.end()
        return False

    def __repr__(self) -> str:
        return f"<runlite.Span {self.name!r} {self.id} {SPAN_STATUS[self.status]}>"


_seg_cache = [0, ""]


def _segment(start_us: int, run_id: str) -> str:
    """A dotted_order segment, with the per-second date text cached."""
    secs, micros = divmod(start_us, 1_000_000)
    if _seg_cache[0] != secs:
        _seg_cache[1] = time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs))
        _seg_cache[0] = secs
    return f"{_seg_cache[1]}{micros:06d}Z{run_id}"


def _traceback(exc: BaseException) -> str:
    """The formatted traceback a failed span records as its error."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _now_us() -> int:
    return time.time_ns() // 1000


def _check_span_args(name, run_type, tags, metadata):
    if name is not None:
        check_name(name, "span name")
    check_name(run_type, "run_type")
    return (check_tags(tags) if tags is not None else None,
            check_metadata(metadata) if metadata is not None else None)


def trace(name: str, run_type: str = "chain", inputs: Any = None, *, store: Any = None,
          parent: Span | None = None, tags: list | None = None, metadata: dict | None = None) -> Span:
    """A span as a context manager: ``with runlite.trace("step", inputs={...}) as span: ...``.

    Leaving the block ends the span (an exception records its traceback and propagates).
    """
    check_name(name, "span name")
    tags, metadata = _check_span_args(None, run_type, tags, metadata)
    if parent is not None and not isinstance(parent, Span):
        raise errors.ValidationError(f"parent must be a Span, got {type(parent).__name__}")
    return Span(store_or_default(store), name, run_type, inputs, parent or _current.get(), tags, metadata)


def _binder(fn: Callable) -> Callable[[tuple, dict], dict]:
    """A fast ``inputs`` builder: bound arguments by name, defaults filled, self/cls left out.

    ``inspect.Signature.bind`` costs ~9 us a call; for plain signatures (no ``*args`` or
    ``**kwargs``) the names are zipped directly.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    defaults = [(p.name, p.default) for p in params if p.default is not p.empty]
    skip = {"self", "cls"} & {p.name for p in params}

    def slow(args: tuple, kwargs: dict) -> dict:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": kwargs}
        bound.apply_defaults()
        return {k: v for k, v in bound.arguments.items() if k not in skip}

    def fast(args: tuple, kwargs: dict) -> dict:
        if len(args) > len(positional):
            return slow(args, kwargs)
        out = dict(zip(positional, args))
        if kwargs:
            out.update(kwargs)
        for name, default in defaults:
            if name not in out:
                out[name] = default
        for name in skip:
            out.pop(name, None)
        return out

    return fast if plain else slow


def traceable(run_type: Any = "chain", *, name: str | None = None, store: Any = None,
              metadata: dict | None = None, tags: list | None = None) -> Callable:
    """Trace every call of a function, coroutine function, generator or async generator.

    Inputs are the bound arguments; outputs the return value (a non-dict wrapped as
    ``{"output": value}``; for generators the yielded items). An exception records its
    traceback in ``error``, marks the span failed and propagates. Usable bare
    (``@traceable``) or with arguments (``@traceable(run_type="llm")``).
    """
    if callable(run_type):  # bare @traceable
        return traceable()(run_type)
    tags, metadata = _check_span_args(name, run_type, tags, metadata)

    def decorate(fn: Callable) -> Callable:
        span_name = name or getattr(fn, "__name__", "traced")
        bind = _binder(fn)

        def new_span(args, kwargs) -> Span:
            return Span(store_or_default(store), span_name, run_type, bind(args, kwargs), _current.get(), tags,
                        dict(metadata) if metadata else None)

        def start(args, kwargs) -> Span:
            span = new_span(args, kwargs)
            span._token = _current.set(span)
            return span

        def finish(span: Span, outputs=None, exc: BaseException | None = None) -> None:
            try:
                _current.reset(span._token)
            except ValueError:
                pass
            span._token = None
            if exc is not None:
                span.end(error=_traceback(exc))
            else:
                span.end(outputs=outputs)

        def first_token(span: Span) -> None:
            if span.first_token_us is None:
                span.first_token_us = _now_us()
                if run_type == "llm":
                    span.events.append((span.first_token_us, "new_token", None, None))

        # A generator runs in its caller's context: its span is current only while its body
        # runs (around each next()), never while it is suspended at a yield.
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args, **kwargs):
                span = new_span(args, kwargs)
                items, agen = [], fn(*args, **kwargs)
                while True:
                    token = _current.set(span)
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    except BaseException as exc:
                        span.end(error=_traceback(exc))
                        raise
                    finally:
                        _current.reset(token)
                    first_token(span)
                    items.append(item)
                    yield item
                span.end(outputs={"output": items})
            return agen_wrapper

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                span = new_span(args, kwargs)
                items, gen = [], fn(*args, **kwargs)
                while True:
                    token = _current.set(span)
                    try:
                        item = next(gen)
                    except StopIteration:
                        break
                    except BaseException as exc:
                        span.end(error=_traceback(exc))
                        raise
                    finally:
                        _current.reset(token)
                    first_token(span)
                    items.append(item)
                    yield item
                span.end(outputs={"output": items})
            return gen_wrapper

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                span = start(args, kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    finish(span, exc=exc)
                    raise
                finish(span, result)
                return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            span = start(args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                finish(span, exc=exc)
                raise
            finish(span, result)
            return result
        return wrapper

    return decorate

