"""LLM tracing: ``@traceable`` and ``trace()`` make spans, stored as runs of a trace tree.

They follow the LangSmith SDK's ``@traceable``, ``trace`` and ``RunTree`` (``langsmith_extra``,
``tracing_context``, projects, ``reduce_fn``, ``process_inputs``/``process_outputs``,
``usage_metadata``), so LangSmith code runs with ``from runlite import traceable``.

The parent of a new span is the current span of this context (``contextvars``, kept in
``context.py``), so nested calls form a tree, and threads and asyncio tasks keep theirs. Spans
live in memory while they run and are written by the store in batches (``storage/spans.py``):
the traced thread pays for two clock reads, references to the call's arguments and result and a
queue append (``span.py``), not an id, a JSON encoding or a transaction.

Span statuses map onto run statuses: ``pending`` is ``running``, ``success`` is
``completed``, ``error`` is ``failed``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
import traceback
from collections.abc import Mapping
from typing import Any, Callable, Iterator

from .. import errors
from .._defaults import store_or_default
from .._validation import check_metadata, check_name, check_tags
from . import context
from .context import (NOWHERE, AsyncStream, Extra, SyncStream, binder, check_callable, check_enabled, check_project,
                      check_run_id, merge_tags, processed, run_hook)
from .span import SPAN_STATUS, Span  # noqa: F401 - SPAN_STATUS: the statuses' LangSmith names, here as before
from .usage import take_usage

log = logging.getLogger("runlite")

_current = context.current
_settings = context.settings
_env_project = context.env_project
_time_ns = time.time_ns


def current_span() -> "Span | None":
    """The span of the calling context, if any."""
    return _current.get()


def _traceback(exc: BaseException) -> str:
    """The formatted traceback a failed span records as its error."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# Results that are never a pydantic model: a plain return's span ends without asking.
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple})


def _as_outputs(value: Any) -> dict:
    """A result that is no dict as a span's outputs, as the SDK's ``_container_end``: a pydantic
    model (``model_dump``) as its fields in JSON form, anything else as ``{"output": value}``."""
    dump = None if isinstance(value, type) else getattr(value, "model_dump", None)
    if callable(dump):
        try:
            dumped = dump(exclude_none=True, mode="json")
        except Exception as exc:  # noqa: BLE001 - as the SDK: the value is kept as it is instead
            log.debug("model_dump failed for %s: %r", type(value).__name__, exc)
        else:
            if isinstance(dumped, dict):
                return dumped
    return {"output": value}


def _function_name(fn: Any) -> str:
    """A traced callable's span name, as the SDK's: its ``__name__``, a ``functools.partial``'s
    function's, else a callable object's class name."""
    for _ in range(3):
        if hasattr(fn, "__name__"):
            return fn.__name__
        if not isinstance(fn, functools.partial):
            return type(fn).__name__
        fn = fn.func
    return "traced"


def _now_us() -> int:
    return time.time_ns() // 1000


def _check_span_args(name, run_type, tags, metadata):
    if name is not None:
        check_name(name, "span name")
    check_name(run_type, "run_type")
    return (check_tags(tags) if tags is not None else None,
            check_metadata(metadata) if metadata is not None else None)


# -- parents, projects, what the tracing context adds

def _parent(value: Any, project: str | None) -> "Span | None":
    """The parent a span was given: a Span, a dotted order or headers from another process (a
    stand-in span, never written, in the header's project, else ``project``), ``"ignore"``
    (none), or None (the current span)."""
    if value is None:
        return _current.get()
    if isinstance(value, Span):
        return value
    if isinstance(value, str) and value == "ignore":
        return None
    if isinstance(value, (str, Mapping)):
        remote = context.remote_parent(value)
        if remote is None:
            return None
        span = Span(NOWHERE, "parent", "chain", None, None, remote.tags, remote.metadata,
                    remote.project_name or project)
        span.id, span.trace_id, span.parent_run_id = remote.id, remote.trace_id, remote.parent_run_id
        span.dotted_order, span.start_us = remote.dotted_order, remote.start_us
        return span
    raise errors.ValidationError("parent must be a Span, a dotted_order str, headers with 'langsmith-trace', "
                                 f"'ignore' or None, got {type(value).__name__}")


def _is_on(enabled: bool | None, ctx: context.Settings | None) -> bool:
    """Tracing for this span: the decorator's ``enabled`` wins, then ``tracing_context``'s."""
    if enabled is not None:
        return enabled
    return ctx is None or ctx.enabled is not False


def _own(ctx: context.Settings | None, *layers: tuple) -> tuple[list, dict | None]:
    """A span's own tags and metadata: the ``tracing_context`` it is made directly in, then each
    ``(tags, metadata)`` layer (later metadata keys win); its parent's go under them."""
    tags, metadata = None, None
    if ctx is not None and ctx.anchor is _current.get():
        tags, metadata = ctx.tags, ctx.metadata
    for more_tags, more_metadata in layers:
        tags = merge_tags(tags, more_tags)
        if more_metadata:
            metadata = {**metadata, **more_metadata} if metadata else dict(more_metadata)
    return tags, (dict(metadata) if metadata else None)


def _home(store: Any, parent: Any) -> Any:
    """The store a span is written to: the one named, else its parent span's (a child in
    another file than its parent could never be written: its parent is not there), else the
    process's default."""
    if store is not None:
        return store
    home = getattr(parent, "store", None)
    return home if home is not None and home is not NOWHERE else store_or_default(None)


def trace(name: str, run_type: str = "chain", inputs: Any = None, *, store: Any = None,
          parent: Any = None, tags: list | None = None, metadata: dict | None = None,
          project_name: str | None = None, run_id: Any = None, reference_example_id: Any = None) -> Span:
    """A span as a context manager: ``with runlite.trace("step", inputs={...}) as span: ...``.

    Leaving the block ends the span (an exception records its traceback and propagates).
    ``parent`` is a Span, a dotted order or headers from another process, or None (the current
    span). A root span's project is ``project_name``, else ``tracing_context``'s, else the
    current span's, else ``$LANGSMITH_PROJECT``; a child's is its parent's. Under
    ``tracing_context(enabled=False)`` the span works but is never written.
    """
    check_name(name, "span name")
    tags, metadata = _check_span_args(None, run_type, tags, metadata)
    project_name = check_project(project_name)
    run_id = None if run_id is None else check_run_id(run_id)
    if reference_example_id is not None:  # checked before the span is made: a made span is written
        reference_example_id = check_run_id(reference_example_id, "reference_example_id")
    ctx = _settings.get()
    here = _current.get()
    if project_name is None:
        project_name = ctx.project_name if ctx is not None and ctx.project_name is not None else \
            (here.session_name if here is not None else None)
    parent_span = _parent(parent, project_name)
    own_tags, own_metadata = _own(ctx, (tags, metadata))
    span = Span(_home(store, parent_span) if _is_on(None, ctx) else NOWHERE, name, run_type, inputs, parent_span,
                own_tags, own_metadata, project_name, run_id)
    if reference_example_id is not None:
        span.reference_example_id = reference_example_id
    return span


@contextlib.contextmanager
def tracing_context(*, project_name: str | None = None, tags: list | None = None, metadata: dict | None = None,
                    parent: Any = None, enabled: bool | None = None) -> Iterator[None]:
    """Set the tracing context for a block, as LangSmith's ``tracing_context``.

    Spans made directly inside get ``tags`` and ``metadata`` (their descendants inherit them);
    a root span goes to ``project_name``. ``parent`` (a Span, a dotted order or headers, or
    ``False`` for none) is the parent of spans made inside. ``enabled=False`` traces nothing
    inside, except functions decorated with ``enabled=True``; None keeps the outer setting.
    Like the SDK's, a nested block replaces the outer block's project, tags and metadata.
    """
    project_name = check_project(project_name)
    tags = None if tags is None else check_tags(tags)
    metadata = None if metadata is None else check_metadata(metadata)
    enabled = check_enabled(enabled)
    if parent is not None and parent is not False:
        parent = _parent(parent, project_name)
        if parent is None:  # headers without a trace: spans inside start new traces
            parent = False
    tokens = context.enter(project_name, tags, metadata, parent, enabled)
    try:
        yield
    finally:
        context.leave(tokens)


# -- traceable

def traceable(run_type: Any = "chain", *, name: str | None = None, store: Any = None,
              metadata: dict | None = None, tags: list | None = None, project_name: str | None = None,
              reduce_fn: Callable | None = None, process_inputs: Callable | None = None,
              process_outputs: Callable | None = None, enabled: bool | None = None) -> Callable:
    """Trace every call of a function, coroutine function, generator or async generator.

    As LangSmith's ``@traceable``. Inputs are the bound arguments (``process_inputs(inputs)``
    if given); outputs the return value (``process_outputs(value)`` if given; a pydantic model
    as its ``model_dump(mode="json")``, another non-dict wrapped as ``{"output": value}``; for generators the yielded items, or ``reduce_fn(items)``; with
    ``reduce_fn``, a function returning an iterable, such as a streamed LLM response, returns
    it traced as it is consumed). An exception records its traceback in ``error``, marks the
    span failed and propagates; a generator closed early records ``GeneratorExit`` and the
    items so far, as the SDK does. A returned dict's ``usage_metadata`` goes to the metadata
    and fills an llm span's token and cost fields. Every call accepts ``langsmith_extra={...}``
    (name, tags, metadata, run_id, parent, project_name, reference_example_id, on_end), never
    an input. A root span's project is ``tracing_context``'s, else ``langsmith_extra``'s, else
    ``project_name``, else ``$LANGSMITH_PROJECT``; a child's is its parent's. ``enabled=False``
    calls the function untraced (and with no current span), ``True`` traces it even under
    ``tracing_context(enabled=False)``. Usable bare (``@traceable``) or with arguments
    (``@traceable(run_type="llm")``); bad options raise ``ValidationError`` here.
    """
    if callable(run_type):  # bare @traceable
        return traceable()(run_type)
    tags, metadata = _check_span_args(name, run_type, tags, metadata)
    project_name = check_project(project_name)
    check_callable(reduce_fn, "reduce_fn", "a callable (list of items -> output) or None")
    check_callable(process_inputs, "process_inputs", "a callable (inputs dict -> dict) or None")
    check_callable(process_outputs, "process_outputs", "a callable (outputs -> dict) or None")
    enabled = check_enabled(enabled)

    def decorate(fn: Callable) -> Callable:
        if not callable(fn):
            raise errors.ValidationError(f"traceable decorates a function, got {type(fn).__name__}")
        span_name = name or _function_name(fn)
        wants_run_tree = "run_tree" in inspect.signature(fn).parameters  # the SDK passes the span
        bind = binder(fn, {"self", "cls"})
        # Inputs are bound when the span is written (off the traced thread), except when they
        # go through process_inputs (the SDK calls it at the start) or the span is passed in as
        # ``run_tree`` (it joins the kwargs).
        lazy = process_inputs is None and not wants_run_tree
        hot = enabled is not False  # when no langsmith_extra and no tracing_context: the hot path

        if process_inputs is None:
            inputs_of = bind
        else:
            def inputs_of(args, kwargs):
                return processed(process_inputs, bind(args, kwargs), "inputs", span_name)

        def start(args, kwargs, extra) -> Span | None:
            """The call's span (not yet current), or None when this call is not traced."""
            ctx = _settings.get()
            if extra is None and ctx is None and hot:  # the hot path
                here = _current.get()
                target = store if store is not None else _home(None, here)
                if lazy:
                    span = Span(target, span_name, run_type, None, here, tags,
                                dict(metadata) if metadata else None, project_name, None, (bind, args, kwargs))
                else:
                    span = Span(target, span_name, run_type, inputs_of(args, kwargs), here, tags,
                                dict(metadata) if metadata else None, project_name)
            elif not _is_on(enabled, ctx):
                span = None
            else:
                extra = Extra(extra) if extra is not None else None
                project = ctx.project_name if ctx is not None else None
                if extra is None:
                    parent, own = _current.get(), _own(ctx, (tags, metadata))
                else:
                    project = project or extra.project_name
                    parent = _parent(extra.parent, project or project_name)
                    own = _own(ctx, (extra.tags, extra.metadata), (tags, metadata))
                span = Span(_home(store, parent), extra.name if extra and extra.name else span_name, run_type,
                            inputs_of(args, kwargs), parent, own[0], own[1], project or project_name,
                            extra.run_id if extra else None)
                if extra is not None:
                    span.reference_example_id = extra.reference_example_id
                    if extra.on_end or extra.on_success:
                        span.callbacks = (extra.on_success, extra.on_end)
            if wants_run_tree:
                kwargs["run_tree"] = span
            return span

        def finish(span: Span, outputs: Any = None, exc: BaseException | None = None) -> None:
            """As the SDK's ``_container_end``: outputs processed, always a dict (None too, and
            on errors), a returned ``usage_metadata`` taken, the span ended, then ``on_end``."""
            if process_outputs is not None:
                outputs = processed(process_outputs, outputs, "outputs", span.name)
            if not isinstance(outputs, dict):
                outputs = _as_outputs(outputs)
            if outputs.get("usage_metadata"):
                take_usage(span, outputs["usage_metadata"])
            hooks = span.callbacks
            if exc is not None:
                span.end(outputs=outputs, error=_traceback(exc))
            else:
                if hooks is not None:
                    run_hook(hooks[0], span, "_on_success")
                span.end(outputs)
            if hooks is not None:
                run_hook(hooks[1], span, "on_end")

        def item_seen(span: Span, items: list, item: Any) -> None:
            if span.first_token_us is None:
                span.first_token_us = _now_us()
                if run_type == "llm":
                    span.events.append((span.first_token_us, "new_token", None, None))
            items.append(item)

        def stream_end(span: Span | None, items: list, exc: BaseException, reraise: bool = True) -> Any:
            """End a generator's span: ``exc`` is StopIteration (its value, if any, is the last
            item and is returned), StopAsyncIteration, or what ended it early (re-raised)."""
            value = None
            if isinstance(exc, (StopIteration, StopAsyncIteration)):
                value = getattr(exc, "value", None)
                if value is not None:
                    items.append(value)
                exc = None
            if span is not None:
                outputs: Any = items or None  # as the SDK's _get_function_result
                if reduce_fn is not None and items:
                    try:
                        outputs = reduce_fn(items)
                    except Exception as error:  # noqa: BLE001 - as the SDK: the items are kept instead
                        log.warning("reduce_fn failed for span %s: %r", span.id, error)
                finish(span, outputs, exc)
            if exc is not None and reraise:
                raise exc
            return value

        def settle(span: Span, result: Any, async_first: bool) -> Any:
            """``reduce_fn`` on a function that is no generator (the SDK's ``stream_wrapper``): a
            returned iterable is traced as it is consumed; anything else ends the span now."""
            kinds = ((AsyncStream, "__aiter__"), (SyncStream, "__iter__"))
            for kind, method in kinds if async_first else kinds[::-1]:
                if hasattr(result, method):
                    items: list = []
                    return kind(result, span, lambda item: item_seen(span, items, item),
                                lambda exc: stream_end(span, items, exc or StopIteration(), reraise=False))
            finish(span, result)
            return result

        streams = reduce_fn is not None

        # A generator runs in its caller's context: its span is current only while its body
        # runs (around each step), never while it is suspended at a yield. As ``yield from``
        # does, the caller's send() and throw() reach the generator (which may handle what is
        # thrown in and go on), close() closes it. The two loops differ only in how they step
        # and close; an untraced call runs with no current span.
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args, langsmith_extra=None, **kwargs):
                span = start(args, kwargs, langsmith_extra)
                items, agen = [], fn(*args, **kwargs)
                sent, thrown = None, None  # what the caller's asend() or athrow() passes on
                while True:
                    token = _current.set(span)
                    try:
                        item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
                    except BaseException as exc:
                        _current.reset(token)
                        stream_end(span, items, exc)
                        return
                    finally:
                        thrown = None
                    _current.reset(token)
                    if span is not None:
                        item_seen(span, items, item)
                    try:
                        sent = yield item
                    except GeneratorExit as exc:  # closed early
                        token = _current.set(span)
                        try:
                            await agen.aclose()
                        finally:
                            _current.reset(token)
                            stream_end(span, items, exc, reraise=False)
                        raise
                    except BaseException as exc:  # thrown in: the generator may handle it
                        sent, thrown = None, exc
            return agen_wrapper

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, langsmith_extra=None, **kwargs):
                span = start(args, kwargs, langsmith_extra)
                items, gen = [], fn(*args, **kwargs)
                sent, thrown = None, None  # what the caller's send() or throw() passes on
                while True:
                    token = _current.set(span)
                    try:
                        item = gen.send(sent) if thrown is None else gen.throw(thrown)
                    except BaseException as exc:
                        _current.reset(token)
                        return stream_end(span, items, exc)
                    finally:
                        thrown = None
                    _current.reset(token)
                    if span is not None:
                        item_seen(span, items, item)
                    try:
                        sent = yield item
                    except GeneratorExit as exc:  # closed early
                        token = _current.set(span)
                        try:
                            gen.close()
                        finally:
                            _current.reset(token)
                            stream_end(span, items, exc, reraise=False)
                        raise
                    except BaseException as exc:  # thrown in: the generator may handle it
                        sent, thrown = None, exc
            return gen_wrapper

        # The hot path (no langsmith_extra, no tracing_context, inputs bound later) is written
        # out in the sync and async wrappers, as are ``finish`` and ``Span.end`` for a plain
        # return: each Python call saved is ~0.1 us of the few the traced thread pays a span.
        quick = lazy and hot
        plain_end = process_outputs is None and not streams

        def ended(span: Span, result: Any) -> bool:
            """``finish`` of a plain (not dict) return when nothing else is due; False otherwise."""
            if (plain_end and span.outputs is None and span.end_us is None and span.callbacks is None
                    and (type(result) in _PLAIN or type(result) is not dict and not hasattr(result, "model_dump"))):
                span.outputs = {"output": result}
                span.end_us = _time_ns() // 1000
                span.status = "completed" if span.error is None else "failed"
                if not span.queued:  # changed first, then the flag: the span queue's protocol
                    span.store.live.spans.touch(span)
                return True
            return False

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, langsmith_extra=None, **kwargs):
                if langsmith_extra is None and quick and _settings.get() is None:
                    here = _current.get()
                    home = store if store is not None else _home(None, here)  # no lookup when a store is named
                    span = Span(home, span_name, run_type, None, here, tags,
                                dict(metadata) if metadata else None, project_name, None,
                                (bind, args, kwargs))
                else:
                    span = start(args, kwargs, langsmith_extra)
                token = _current.set(span)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    _current.reset(token)
                    if span is not None:
                        finish(span, exc=exc)
                    raise
                _current.reset(token)
                if span is not None and not ended(span, result):
                    if streams:
                        return settle(span, result, True)
                    finish(span, result)
                return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, langsmith_extra=None, **kwargs):
            if langsmith_extra is None and quick and _settings.get() is None:
                here = _current.get()
                home = store if store is not None else _home(None, here)  # no lookup when a store is named
                span = Span(home, span_name, run_type, None, here, tags,
                            dict(metadata) if metadata else None, project_name, None,
                            (bind, args, kwargs))
            else:
                span = start(args, kwargs, langsmith_extra)
            token = _current.set(span)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _current.reset(token)
                if span is not None:
                    finish(span, exc=exc)
                raise
            _current.reset(token)
            if span is not None:
                if (plain_end and span.outputs is None and span.end_us is None and span.callbacks is None
                        and (type(result) in _PLAIN or type(result) is not dict
                             and not hasattr(result, "model_dump"))):  # ended(span, result), written out
                    span.outputs = {"output": result}
                    span.end_us = _time_ns() // 1000
                    span.status = "completed" if span.error is None else "failed"
                    if not span.queued:  # changed first, then the flag: the span queue's protocol
                        span.store.live.spans.touch(span)
                    return result
                if streams:
                    return settle(span, result, False)
                finish(span, result)
            return result
        return wrapper

    return decorate
