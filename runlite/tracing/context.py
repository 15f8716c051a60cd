"""The tracing context, as the LangSmith SDK keeps it: the current span and what
``tracing_context`` sets, in ``contextvars`` (so threads and asyncio tasks keep their own).

Also what a traced call is given: the checks of ``langsmith_extra``, run ids and the
decorator's options, the parsing of a distributed-tracing parent (a ``langsmith-trace``
dotted order with its ``baggage`` header), a call's inputs (``binder``), the SDK's
fail-closed ``process_inputs``/``process_outputs`` (``processed``), and the traced streams a
``reduce_fn`` function returns. Nothing here makes spans: ``api.py`` does.
"""

from __future__ import annotations

import calendar
import contextvars
import functools
import inspect
import itertools
import json
import logging
import operator
import os
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any, AsyncIterator, Callable, Iterator

from .. import errors
from .._validation import check_metadata, check_name, check_tags, digits, lenient_text, shown

current: contextvars.ContextVar = contextvars.ContextVar("runlite_span", default=None)
settings: contextvars.ContextVar = contextvars.ContextVar("runlite_tracing_context", default=None)

log = logging.getLogger("runlite")

# The keys of the SDK's ``LangSmithExtra`` (langsmith/run_helpers.py); the last row is accepted
# and ignored (a LangSmith client, write replicas, an agent address, the run's ``extra``).
EXTRA_KEYS = frozenset({"name", "metadata", "tags", "run_id", "parent", "run_tree", "project_name",
                        "reference_example_id", "on_end", "_on_success",
                        "client", "replicas", "address", "run_extra"})


class Settings:
    """What a ``tracing_context`` block set: its project, tags, metadata and ``enabled``, and
    ``anchor``, the span that was current when it was entered. Its tags and metadata go to spans
    made while ``anchor`` is current; deeper spans have them through their parents."""

    __slots__ = ("project_name", "tags", "metadata", "enabled", "anchor")

    def __init__(self, project_name, tags, metadata, enabled, anchor):
        self.project_name = project_name
        self.tags = tags
        self.metadata = metadata
        self.enabled = enabled
        self.anchor = anchor


class _NoSpans:
    """The span buffer of ``NOWHERE``: it keeps nothing."""

    def add(self, span: Any) -> None:
        pass

    def touch(self, span: Any, ended: bool = False) -> None:
        pass


class _Nowhere:
    """The store of spans never written: spans made while tracing is disabled, and stand-ins
    for parents in another process."""

    class live:  # noqa: N801 - the shape of Store.live
        spans = _NoSpans()


NOWHERE = _Nowhere()


def get_current_run_tree() -> Any:
    """The current span (LangSmith's ``get_current_run_tree``), or None."""
    return current.get()


def enter(project_name: str | None, tags: list | None, metadata: dict | None, parent: Any,
          enabled: bool | None) -> tuple:
    """Start a ``tracing_context`` block: ``parent`` is a span, ``False`` (no parent inside) or
    None (the current span). As in the SDK every setting is replaced (a nested block without
    ``tags`` has none of the outer block's), except ``enabled``, which None keeps."""
    outer = settings.get()
    if enabled is None and outer is not None:
        enabled = outer.enabled
    span_token = None
    if parent is not None:
        span_token = current.set(None if parent is False else parent)
    anchor = current.get()
    return span_token, settings.set(Settings(project_name, tags, metadata or None, enabled, anchor))


def leave(tokens: tuple) -> None:
    """End the block ``enter`` started (in the context it was started in)."""
    span_token, settings_token = tokens
    settings.reset(settings_token)
    if span_token is not None:
        current.reset(span_token)


def merge_tags(first: list | None, second: list | None) -> list:
    """``first`` then the tags of ``second`` not in it (tags are inherited without duplicates)."""
    out = list(first) if first else []
    for tag in second or ():
        if tag not in out:
            out.append(tag)
    return out


@functools.lru_cache(maxsize=1)
def env_project() -> str | None:
    """``$LANGSMITH_PROJECT``, else ``$LANGCHAIN_PROJECT`` (blank values, and those that are no
    name, skipped), else None.

    Read once, as the SDK reads it (``langsmith.utils.get_env_var`` is cached): a miss in
    ``os.environ`` costs microseconds, a root span ~10. ``env_project.cache_clear()`` reads again.
    """
    for key in ("LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"):
        value = os.environ.get(key)
        if value is not None and value.strip():
            # Bytes that are not UTF-8 reach os.environ as lone surrogates, which no file can
            # hold: every span of the project would fail its write. They read as U+FFFD; a
            # value runlite still cannot take as a name (a control character, too long) is
            # passed over, with a warning, as a project given in the code would be refused.
            try:
                return check_name(lenient_text(value), f"${key}")
            except errors.ValidationError as exc:
                log.warning("runlite: $%s is not used as the project: %s", key, exc)
    return None


def check_run_id(value: Any, what: str = "run_id") -> str:
    """A run id: a UUID or its text, as canonical lowercase text."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise errors.ValidationError(f"{what} must be a UUID or UUID text, got {shown(value)}")


def check_project(value: Any, what: str = "project_name") -> str | None:
    return None if value is None else check_name(value, what)


def check_callable(value: Any, what: str, accepted: str = "a callable or None") -> Any:
    if value is not None and not callable(value):
        raise errors.ValidationError(f"{what} must be {accepted}, got {type(value).__name__} {shown(value)}")
    return value


def check_enabled(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise errors.ValidationError(f"enabled must be True, False or None, got {shown(value)}")
    return value


class Extra:
    """A checked ``langsmith_extra`` dict (every field None when not given)."""

    __slots__ = ("name", "tags", "metadata", "run_id", "parent", "project_name", "reference_example_id",
                 "on_end", "on_success")

    def __init__(self, extra: Any):
        if not isinstance(extra, Mapping):
            raise errors.ValidationError(f"langsmith_extra must be a dict, got {type(extra).__name__}")
        unknown = [key for key in extra if key not in EXTRA_KEYS]
        if unknown:
            raise errors.ValidationError(f"langsmith_extra has unknown keys {shown(sorted(map(str, unknown)))}; "
                                         f"accepted: {', '.join(sorted(EXTRA_KEYS))}")
        get = extra.get
        self.name = None if get("name") is None else check_name(get("name"), "langsmith_extra name")
        self.tags = None if get("tags") is None else check_tags(get("tags"), "langsmith_extra tags")
        self.metadata = None if get("metadata") is None else check_metadata(get("metadata"),
                                                                            "langsmith_extra metadata")
        self.run_id = None if get("run_id") is None else check_run_id(get("run_id"), "langsmith_extra run_id")
        self.reference_example_id = (None if get("reference_example_id") is None else
                                     check_run_id(get("reference_example_id"), "langsmith_extra reference_example_id"))
        self.project_name = check_project(get("project_name"), "langsmith_extra project_name")
        parent = get("parent")
        self.parent = get("run_tree") if parent is None else parent  # run_tree: the SDK's old name
        self.on_end = check_callable(get("on_end"), "langsmith_extra on_end")
        self.on_success = check_callable(get("_on_success"), "langsmith_extra _on_success")


class Remote:
    """A parent from another process: what a ``langsmith-trace`` header and its ``baggage`` say."""

    __slots__ = ("dotted_order", "trace_id", "id", "parent_run_id", "start_us", "tags", "metadata",
                 "project_name")


def _segment(text: str) -> tuple[int, str]:
    """(start_us, run id) of one dotted_order segment: ``%Y%m%dT%H%M%S%fZ`` then a UUID."""
    stamp, run_id = text[:-36], text[-36:]
    try:
        when = time.strptime(stamp[:15], "%Y%m%dT%H%M%S")
        micros = digits(stamp[15:21], 6)
        if len(stamp) != 22 or stamp[-1] != "Z" or micros is None or not stamp.isascii():
            raise ValueError(stamp)
        return calendar.timegm(when) * 1_000_000 + micros, check_run_id(run_id)
    except (ValueError, errors.ValidationError):
        raise errors.ValidationError(
            f"a dotted_order segment is <%Y%m%dT%H%M%S%fZ><uuid>, got {shown(text)}") from None


def _baggage(header: Any, remote: Remote) -> None:
    """The SDK's ``baggage`` items (``langsmith-metadata``, ``-tags``, ``-project``); like the
    SDK, a malformed header is ignored rather than failing the request it came with."""
    if isinstance(header, bytes):
        header = header.decode("utf-8", "replace")
    if not isinstance(header, str):
        return
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        try:
            if key == "langsmith-metadata":
                remote.metadata = check_metadata(json.loads(urllib.parse.unquote(value)), "baggage metadata")
            elif key == "langsmith-tags":
                remote.tags = check_tags(urllib.parse.unquote(value).split(","), "baggage tags")
            elif key == "langsmith-project":
                remote.project_name = check_name(urllib.parse.unquote(value), "baggage project")
        except (ValueError, errors.RunliteError):
            continue


def remote_parent(parent: str | Mapping) -> Remote | None:
    """A parent given as a dotted order, or as headers (``langsmith-trace`` and ``baggage``, str
    or bytes keys); None for headers without a trace (the SDK then starts a new trace)."""
    headers: Mapping = {}
    if isinstance(parent, Mapping):
        headers = parent
        parent = headers.get("langsmith-trace") or headers.get(b"langsmith-trace")
        if not parent:
            return None
        if isinstance(parent, bytes):
            parent = parent.decode("utf-8", "replace")
    if not isinstance(parent, str):
        raise errors.ValidationError(f"langsmith-trace must be a dotted_order str, got {type(parent).__name__}")
    dotted = parent.strip()
    segments = [_segment(part) for part in dotted.split(".")]
    if len({run_id for _, run_id in segments}) != len(segments):  # its runs would be their own ancestors
        raise errors.ValidationError(f"langsmith-trace {shown(dotted)} names a run twice; each run of a"
                                     " dotted_order is another's parent")
    remote = Remote()
    remote.dotted_order, remote.trace_id = dotted, segments[0][1]
    remote.start_us, remote.id = segments[-1]
    remote.parent_run_id = segments[-2][1] if len(segments) > 1 else None
    remote.tags, remote.metadata, remote.project_name = [], {}, None
    if headers:
        _baggage(headers.get("baggage", headers.get(b"baggage")), remote)
    return remote


class TracedStream:
    """What a function traced with ``reduce_fn`` returns when its result is iterable (the SDK's
    ``_TracedStream``, for ``stream=True`` LLM clients): the result itself (its attributes, its
    ``with``), traced as it is consumed. Each item goes to ``seen(item)``, the span current
    while it is produced; the end (exhausted, failed, ``with`` left, or collected) calls
    ``done(exc)`` once."""

    def __init__(self, stream: Any, span: Any, seen: Callable, done: Callable):
        self._ls_stream, self._ls_span, self._ls_seen, self._ls_done = stream, span, seen, done
        self._ls_it: Any = None
        self._ls_open = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_ls_"):  # not set yet (a failed __init__): never ask the stream
            raise AttributeError(name)
        return getattr(self._ls_stream, name)

    def __repr__(self) -> str:
        return f"Traceable({self._ls_stream!r})"

    def _ls_end(self, exc: BaseException | None) -> None:
        if self._ls_open:
            self._ls_open = False
            self._ls_done(exc)

    def _ls_took(self, token: Any, exc: BaseException | None, end: type) -> None:
        current.reset(token)
        if exc is not None:
            self._ls_end(None if isinstance(exc, end) else exc)

    def __del__(self) -> None:
        try:
            self._ls_end(None)
        except Exception:  # noqa: BLE001, S110 - a finalizer must not raise
            pass


class SyncStream(TracedStream):
    """A traced iterable."""

    def __iter__(self) -> Iterator:
        """As the SDK's: a generator, so a consumer that breaks out ends the span with
        GeneratorExit (as a traced generator's), the items so far kept."""
        while True:
            try:
                item = self.__next__()
            except StopIteration:
                return
            try:
                yield item
            except BaseException as exc:
                self._ls_end(exc)
                raise

    def __next__(self) -> Any:
        if self._ls_it is None:
            self._ls_it = iter(self._ls_stream)
        token = current.set(self._ls_span)
        try:
            item = next(self._ls_it)
        except BaseException as exc:
            self._ls_took(token, exc, StopIteration)
            raise
        self._ls_took(token, None, StopIteration)
        self._ls_seen(item)
        return item

    def __enter__(self) -> "SyncStream":
        self._ls_stream.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._ls_stream.__exit__(*exc_info)
        finally:
            self._ls_end(exc_info[1])


class AsyncStream(TracedStream):
    """A traced async iterable."""

    async def __aiter__(self) -> AsyncIterator:
        """As the SDK's: an async generator; one closed early ends the span without an error."""
        while True:
            try:
                item = await self.__anext__()
            except StopAsyncIteration:
                return
            try:
                yield item
            except BaseException:
                self._ls_end(None)
                raise

    async def __anext__(self) -> Any:
        if self._ls_it is None:
            self._ls_it = self._ls_stream.__aiter__()
        token = current.set(self._ls_span)
        try:
            item = await self._ls_it.__anext__()
        except BaseException as exc:
            self._ls_took(token, exc, StopAsyncIteration)
            raise
        self._ls_took(token, None, StopAsyncIteration)
        self._ls_seen(item)
        return item

    async def __aenter__(self) -> "AsyncStream":
        await self._ls_stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._ls_stream.__aexit__(*exc_info)
        finally:
            self._ls_end(exc_info[1])


def binder(fn: Callable, skip: set) -> Callable[[tuple, dict], dict]:
    """A fast ``inputs`` builder: bound arguments by name, defaults filled, ``skip`` left out,
    ``**kwargs`` flattened (as the SDK's ``_get_inputs``).

    ``inspect.Signature.bind`` costs ~9 us a call; for plain signatures (no ``*args`` or
    ``**kwargs``) the names are zipped directly.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    defaults = [(p.name, p.default) for p in params if p.default is not p.empty]
    skip = skip & {p.name for p in params}
    var_keyword = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)

    def slow(args: tuple, kwargs: dict) -> dict:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": kwargs}
        bound.apply_defaults()
        out = {k: v for k, v in bound.arguments.items() if k not in skip}
        if var_keyword in out:  # as the SDK's _get_inputs: **kwargs flattened into the inputs
            out.update(out[var_keyword])
            out.pop(var_keyword)
        return out

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

    # For `many`: with n positional arguments and no keywords, the names the inputs hold and
    # the defaults that follow the arguments, in fast's order; leading skipped parameters
    # (``self``) are cut from the arguments. Other skips fall back to fast.
    cut = next((k for k, name in enumerate(positional) if name not in skip), len(positional))
    names, tails = [], []
    for n in range(len(positional) + 1):
        fill = [(name, default) for name, default in defaults if name not in positional[:n]]
        names.append((*positional[cut:n], *(name for name, _ in fill)))
        tails.append(tuple(default for _, default in fill))
    simple = not skip - set(positional[:cut]) and not any(name in skip for name, _ in defaults)
    arguments, keywords = operator.itemgetter(1), operator.itemgetter(2)

    def many(calls: list) -> list:
        """``fast`` of each ``(binder, args, kwargs)``, in C-level passes when no call has
        keywords or more arguments than parameters (the span writer binds a batch at once)."""
        given = list(map(arguments, calls))
        lengths = list(map(len, given))
        if not simple or any(map(keywords, calls)) or max(lengths) > len(positional) or min(lengths) < cut:
            return [fast(call[1], call[2]) for call in calls]
        if cut:
            given = map(operator.getitem, given, itertools.repeat(slice(cut, None)))
        return list(map(dict, map(zip, map(names.__getitem__, lengths),
                                  map(operator.add, given, map(tails.__getitem__, lengths)))))

    if plain:
        fast.many = many
    return fast if plain else slow


def bound(inputs: list, calls: list) -> list:
    """Each span's inputs: ``inputs[k]``, or ``calls[k]`` (``(binder, args, kwargs)``) bound;
    all at once by the binder's ``many`` when one binder has them all (a batch of one function)."""
    binders = set(map(_BINDER, filter(None, calls)))
    many = getattr(next(iter(binders)), "many", None) if len(binders) == 1 and None not in calls else None
    if many is not None:
        return many(calls)
    return [given if call is None else call[0](call[1], call[2]) for given, call in zip(inputs, calls)]


_BINDER = operator.itemgetter(0)


def processed(process: Callable, value: Any, what: str, name: str) -> Any:
    """``process(value)``; if it raises, the SDK's marker instead of the value (fail closed: the
    raw value is never kept, and the exception's message, which may quote it, is only logged)."""
    try:
        return process(value)
    except Exception as exc:  # noqa: BLE001 - a user's redactor may raise anything
        log.warning("process_%s failed for %s; dropping %s: %r", what, name, what, exc)
        kind = type(exc).__name__
        kind = kind[:64] if kind.isidentifier() else "unknown"
        return {"ls_error": f"Processing failed; {what} dropped (process_{what}: {kind})"}


def run_hook(hook: Callable | None, span: Any, what: str) -> None:
    """A ``langsmith_extra`` callback; as the SDK's, one that fails is reported, not raised."""
    if hook is not None:
        try:
            hook(span)
        except Exception as exc:  # noqa: BLE001 - a user's callback may raise anything
            log.warning("langsmith_extra %s failed for span %s: %r", what, span.id, exc)
