"""One OpenTelemetry span as a LangSmith run payload: the semantic conventions, pure.

``OtelSpan`` is a span as any source gives it (the SDK's ``ReadableSpan``, an OTLP message);
``run_payload`` maps it to what ``langsmith.wire.remote_run`` takes, and ``checked_run`` to the
run that check makes of it, without writing the payload out and reading it back (what the
exporter and the OTLP receiver store). It reads four attribute
conventions, LangSmith's own first: ``langsmith.*`` (the LangSmith SDK's OTel mode),
OpenInference (``openinference.span.kind``, ``input.value``, ``llm.*``), OpenLLMetry/Traceloop
(``traceloop.*``, ``llm.request.type``, ``gen_ai.prompt.N.*``) and OTel GenAI (``gen_ai.*``,
current and earlier names, and its ``gen_ai.*.message`` events). ``docs/OTEL.md`` has the table.

Inputs and outputs, in their many forms, are ``messages.py``'s; every value is read through
``values.py``. Mapped attributes land in their run fields (not repeated); attributes that
only decide a mapping, and a second form of inputs or outputs, in ``extra.otel.attributes``;
anything else in ``extra.metadata`` under its own name. ``extra.otel`` also holds the OTel ids, kind,
status, scope, resource and links. The payload names its parent but no ``dotted_order``:
``storage/ingest.py`` places the run under its parent or a placeholder, in any arrival order.
"""

from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import operator
import uuid
from typing import Any, NamedTuple

from .. import errors
from .._memo import made_once
from .._validation import MAX_TEXT, lenient_text
from ..langsmith.wire import RemoteRun, mapped_run, remote_run
from ..tracing.usage import usage_fields
from .messages import inputs_outputs
from .values import attributes, clean_name, from_json, plain, storable_metadata

_NS = uuid.UUID("5f1c2a3e-8d4b-4c6e-9a7f-0b1d2e3f4a5b")
_NS_BYTES = _NS.bytes
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MAX_NS = 253402300799 * 10**9  # 9999-12-31T23:59:59Z


class OtelSpan(NamedTuple):
    """One OTel span, independent of where it came from."""

    trace_id: int                 # 128-bit
    span_id: int                  # 64-bit
    parent_span_id: int | None    # None for a root; a remote parent is a parent all the same
    name: str
    kind: str                     # INTERNAL, SERVER, CLIENT, PRODUCER or CONSUMER
    start_ns: int                 # epoch nanoseconds
    end_ns: int | None
    attributes: dict              # str -> str | bool | int | float | list of those
    events: tuple = ()            # (name, time_ns, attributes dict)
    links: tuple = ()             # (trace_id, span_id, attributes dict)
    status: str = "UNSET"         # UNSET, OK or ERROR
    status_message: str | None = None
    resource: dict = {}           # resource attributes (service.name ...)  # noqa: RUF012 (never mutated)
    scope: str | None = None      # the instrumentation scope's name
    project: str | None = None    # a project the transport names (e.g. a Langsmith-Project header)
    scope_version: str | None = None
    dropped_attributes: int = 0   # what the sender's limits dropped (kept as counts in extra)
    dropped_events: int = 0
    dropped_links: int = 0
    trace_state: str | None = None  # W3C tracestate (vendors' entries: "ot=th:8,dd=s:1")
    scope_attributes: dict = {}     # the instrumentation scope's attributes  # noqa: RUF012 (never mutated)


def run_id(trace_id: int, span_id: int) -> str:
    """The runlite run id of an OTel span (the same from every source and every export):
    ``uuid5(_NS, trace_hex + span_hex)``, computed without the ``UUID`` objects (3x faster):
    the SHA-1's hex digits with the version digit set to 5 and the variant's bits to 10."""
    h = hashlib.sha1(_NS_BYTES + f"{trace_id:032x}{span_id:016x}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _run_id(trace_id: int, span_id: int, shared: dict | None) -> str:
    """`run_id`, made once a batch (``shared``) for a span and its children, which name it."""
    if shared is None:
        return run_id(trace_id, span_id)
    key = ("run_id", trace_id, span_id)  # (``made_once``'s keys start with an object's id, an int)
    found = shared.get(key)
    if found is None:
        found = shared[key] = run_id(trace_id, span_id)
    return found


# -- run type: the first of these attributes set to a known value decides ----------------------

RUN_TYPES = ("llm", "chain", "tool", "retriever", "embedding", "prompt", "parser")
KIND_ATTRIBUTES = (
    ("langsmith.span.kind", {t: t for t in RUN_TYPES}),
    ("openinference.span.kind", {
        "llm": "llm", "chain": "chain", "tool": "tool", "retriever": "retriever", "embedding": "embedding",
        "agent": "chain", "reranker": "retriever", "guardrail": "chain", "evaluator": "chain",
        "prompt": "prompt", "decision": "chain"}),
    ("traceloop.span.kind", {"workflow": "chain", "task": "chain", "agent": "chain", "tool": "tool"}),
    ("llm.request.type", {"chat": "llm", "completion": "llm", "embedding": "embedding", "rerank": "retriever"}),
    ("gen_ai.operation.name", {
        "chat": "llm", "text_completion": "llm", "generate_content": "llm", "completion": "llm",
        "embeddings": "embedding", "embedding": "embedding", "retrieval": "retriever", "execute_tool": "tool",
        "create_agent": "chain", "invoke_agent": "chain", "invoke_workflow": "chain"}),
)
_MODEL_TYPES = {"chat": "chat", "generate_content": "chat", "text_completion": "llm", "completion": "llm"}

# -- tokens and costs -> LangSmith usage_metadata ------------------------------------------------

USAGE = (  # attribute, usage_metadata key (the first given wins)
    ("gen_ai.usage.input_tokens", "input_tokens"), ("gen_ai.usage.prompt_tokens", "input_tokens"),
    ("llm.token_count.prompt", "input_tokens"),
    ("gen_ai.usage.output_tokens", "output_tokens"), ("gen_ai.usage.completion_tokens", "output_tokens"),
    ("llm.token_count.completion", "output_tokens"),
    ("gen_ai.usage.total_tokens", "total_tokens"), ("llm.usage.total_tokens", "total_tokens"),
    ("llm.token_count.total", "total_tokens"),
    ("llm.cost.prompt", "input_cost"), ("llm.cost.completion", "output_cost"), ("llm.cost.total", "total_cost"),
)
USAGE_DETAILS = (  # attribute, usage_metadata details dict, key
    ("gen_ai.usage.cache_read.input_tokens", "input_token_details", "cache_read"),
    ("gen_ai.usage.cache_read_input_tokens", "input_token_details", "cache_read"),
    ("llm.token_count.prompt_details.cache_read", "input_token_details", "cache_read"),
    ("gen_ai.usage.cache_creation.input_tokens", "input_token_details", "cache_creation"),
    ("gen_ai.usage.cache_creation_input_tokens", "input_token_details", "cache_creation"),
    ("llm.token_count.prompt_details.cache_write", "input_token_details", "cache_creation"),
    ("llm.token_count.prompt_details.audio", "input_token_details", "audio"),
    ("gen_ai.usage.reasoning.output_tokens", "output_token_details", "reasoning"),
    ("gen_ai.usage.reasoning_tokens", "output_token_details", "reasoning"),
    ("llm.usage.reasoning_tokens", "output_token_details", "reasoning"),
    ("llm.token_count.completion_details.reasoning", "output_token_details", "reasoning"),
    ("llm.token_count.completion_details.audio", "output_token_details", "audio"),
)
# The LangSmith SDK writes these as str(dict) (a Python repr).
USAGE_DICTS = (("gen_ai.usage.input_token_details", "input_token_details"),
               ("gen_ai.usage.output_token_details", "output_token_details"))

# Each table's names, to skip it at once for a span that has none of them (most have few).
_LANGSMITH_KEY = operator.methodcaller("startswith", "langsmith.")
_USAGE_KEYS = frozenset(key for key, _ in USAGE)
_USAGE_NAMES = dict(USAGE)
_USAGE_ORDER = {key: i for i, (key, _) in enumerate(USAGE)}
_DETAIL_KEYS = frozenset(key for key, _, _ in USAGE_DETAILS)
_DICT_KEYS = frozenset(key for key, _ in USAGE_DICTS)

# -- model, provider, invocation parameters -----------------------------------------------------

MODEL = ("gen_ai.request.model", "llm.model_name", "embedding.model_name", "reranker.model_name",
         "gen_ai.response.model")
PROVIDER = ("gen_ai.provider.name", "llm.provider", "gen_ai.system", "llm.system")
PARAMETERS = {  # attribute -> invocation_params key (and ls_* metadata, as LangSmith names them)
    "gen_ai.request.temperature": "temperature", "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p", "gen_ai.request.top_k": "top_k", "gen_ai.request.seed": "seed",
    "gen_ai.request.frequency_penalty": "frequency_penalty", "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop", "gen_ai.request.choice.count": "n", "gen_ai.request.stream": "stream",
    "gen_ai.request.max_completion_tokens": "max_completion_tokens",
}
_LS_PARAMS = {"temperature": "ls_temperature", "max_tokens": "ls_max_tokens", "stop": "ls_stop"}
INVOCATION_JSON = ("llm.invocation_parameters", "embedding.invocation_parameters")

# -- metadata -------------------------------------------------------------------------------------

METADATA_PREFIXES = ("langsmith.metadata.", "traceloop.association.properties.")
METADATA_RENAMED = {"session.id": "session_id", "user.id": "user_id", "gen_ai.conversation.id": "conversation_id"}
RESOURCE_IN_METADATA = ("service.name", "service.namespace", "service.version",
                        "deployment.environment", "deployment.environment.name")
PROJECT_ATTRIBUTES = ("langsmith.trace.session_name",)
PROJECT_RESOURCE = ("langsmith.project", "openinference.project.name")
# Attributes that only decide a mapping (and second forms of inputs/outputs, as one attribute
# when they come back from ``otel/push.py``): kept in extra.otel.attributes, not in metadata.
DECIDING = ("langsmith.span.kind", "openinference.span.kind", "traceloop.span.kind", "llm.request.type",
            "gen_ai.operation.name", "input.mime_type", "output.mime_type", "langsmith.trace.session_id",
            "langsmith.span.runtime", "llm.input_messages", "llm.output_messages", "retrieval.documents")

_DECIDING = frozenset(DECIDING)
_DECIDING_ORDER = {key: i for i, key in enumerate(DECIDING)}

EXCEPTION_EVENT = "exception"


def run_payload(span: OtelSpan) -> dict[str, Any]:
    """The LangSmith run (create) payload of ``span``. Raises ``ValidationError`` for a time
    outside 1970..9999, ``LimitError`` for a value nested over 64 deep; values too large are
    left for ``remote_run`` to refuse."""
    return _with_iso_times(_mapped(span)[0])


def checked_run(span: OtelSpan, shared: dict | None = None) -> RemoteRun:
    """The run of ``span`` as ``remote_run(run_payload(span), "post")`` checks it (the same
    columns, the same errors), without the round trip: the payload's times are not written as
    ISO text to be read back, nor its names and metadata checked again, which the mapping made
    storable (``langsmith.wire.mapped_run``). Metadata the mapping could not check whole takes
    ``remote_run``, whose errors name the run. With ``shared`` (a dict that lasts one batch of
    spans, which nothing changes meanwhile), what spans of the batch share (their resource's and
    scope's attributes, by identity) is read once for all of them."""
    payload, metadata_checked, usage_columns = _mapped(span, shared)
    return mapped_run(payload, usage_columns) if metadata_checked else remote_run(_with_iso_times(payload), "post")


def _with_iso_times(payload: dict) -> dict:
    """``payload`` with its times (epoch microseconds, checked) as ISO-8601 text, as LangSmith's
    payloads have them."""
    for key in ("start_time", "end_time", "first_token_time"):
        if key in payload:
            payload[key] = _iso(payload[key])
    for event in payload.get("events", ()):
        event["time"] = _iso(event["time"])
    return payload


def _mapped(span: OtelSpan, shared: dict | None = None) -> tuple[dict[str, Any], bool, dict | None]:
    """The payload of ``span`` with its times as epoch microseconds, whether its metadata
    passed ``check_metadata`` whole, and the token fields of its ``usage_metadata`` (None
    when it has none)."""
    attrs = attributes(span.attributes)
    used: set[str] = set()
    kept: dict[str, Any] = {}   # -> extra.otel.attributes
    langsmith = any(map(_LANGSMITH_KEY, attrs))
    name = clean_name(attrs.get("langsmith.trace.name") or span.name, "span")
    used.add("langsmith.trace.name")
    run_type, model_type = _run_type(attrs)
    payload: dict[str, Any] = {
        "id": _run_id(span.trace_id, span.span_id, shared), "name": name, "run_type": run_type,
        "start_time": _us(span.start_ns, "start time"),
    }
    if span.end_ns is not None:
        payload["end_time"] = _us(max(span.end_ns, span.start_ns), "end time")
    parent = span.parent_span_id
    if parent and not (langsmith and parent == span.trace_id >> 64):
        # (LangSmith's OTel mode starts a root span under a context whose span id is the
        # first 8 bytes of the trace id: no real parent, so the span is a root.)
        payload["parent_run_id"] = _run_id(span.trace_id, parent, shared)
    metadata = _metadata(attrs, used, kept)
    resource = span.resource or {}
    for key, value in made_once(shared, (resource,), "metadata", lambda: [
            (key, plain(resource[key], key)) for key in RESOURCE_IN_METADATA if key in resource]) if resource else ():
        metadata.setdefault(key, value)
    extra: dict[str, Any] = {}
    _model(attrs, used, kept, metadata, extra, run_type, model_type, langsmith)
    payload["inputs"], outputs = inputs_outputs(attrs, used, kept, span.events)
    if outputs is not None:
        payload["outputs"] = outputs
    tags = _tags(attrs, used)
    if tags:
        payload["tags"] = tags
    usage, usage_columns = _usage(attrs, used, metadata, extra)
    if usage:
        if usage_columns is None:
            usage_columns = usage_fields(usage)
        payload.update(usage_columns)
    ttfc = attrs.get("gen_ai.response.time_to_first_chunk")
    if _number(ttfc) and span.start_ns + ttfc * 1e9 < _MAX_NS:
        payload["first_token_time"] = _us(span.start_ns + round(ttfc * 1e9), "first token time")
        used.add("gen_ai.response.time_to_first_chunk")
    project = None
    if not attrs.keys().isdisjoint(PROJECT_ATTRIBUTES):
        project = next((attrs[k] for k in PROJECT_ATTRIBUTES if isinstance(attrs.get(k), str)), None)
        used.update(k for k in PROJECT_ATTRIBUTES if isinstance(attrs.get(k), str))
    project = project or span.project or (made_once(shared, (resource,), "project", lambda: next(
        (v for k in PROJECT_RESOURCE if isinstance(v := resource.get(k), str)), None)) if resource else None)
    if project and project.strip():
        payload["session_name"] = clean_name(project, "default")
    if span.status == "ERROR":
        payload["error"] = _error(span, langsmith)
    if span.events:
        payload["events"] = [
            {"name": clean_name(ev_name, "event"),
             "time": _us(when if isinstance(when, int) and 0 < when <= _MAX_NS else span.start_ns, "event time"),
             "kwargs": {str(k): plain(v, k) for k, v in (ev_attrs or {}).items()}}
            for ev_name, when, ev_attrs in span.events]
    for key in sorted(attrs.keys() & _DECIDING, key=_DECIDING_ORDER.__getitem__):  # (in the table's order)
        kept[key] = attrs[key]
        used.add(key)
    for key, value in attrs.items():
        if key not in used and key not in kept:
            if key in metadata:  # a convention's metadata key of the same name wins
                kept[key] = value
            else:
                metadata[key] = value
    extra["metadata"], too_large, metadata_checked = storable_metadata(metadata)
    for key, value in too_large.items():  # (a key too long, a text too large for metadata)
        while key in kept:  # (one of the same name kept already: neither value is lost)
            key += "_"
        kept[key] = value
    extra["otel"] = _otel(span, kept, name, shared)
    payload["extra"] = extra
    return payload, metadata_checked, usage_columns


_second: tuple[int, str] = (-1, "")  # the last second formatted: one tuple swapped whole


def _us(ns: Any, what: str) -> int:
    """Epoch nanoseconds, checked, as epoch microseconds (as ISO-8601 text keeps them)."""
    if isinstance(ns, bool) or not isinstance(ns, int) or not 0 <= ns <= _MAX_NS:
        raise errors.ValidationError(f"span {what} {ns!r} is not epoch nanoseconds between 1970 and 9999")
    return ns // 1000


def _iso(us: int) -> str:
    """Epoch microseconds (checked by `_us`) as ISO-8601 (UTC). A span's times mostly fall in
    the second of the one before: its text is formatted once."""
    global _second
    secs, micros = divmod(us, 1_000_000)
    cached = _second
    if cached[0] != secs:
        cached = _second = (secs, (_EPOCH + _dt.timedelta(seconds=secs)).isoformat()[:-6])
    return f"{cached[1]}.{micros:06d}+00:00"


def _number(value: Any) -> bool:
    """A count or cost: an int or float, 0 <= value < 1e18."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e18


def _run_type(attrs: dict) -> tuple[str, str | None]:
    run_type = None
    for key, table in KIND_ATTRIBUTES:
        value = attrs.get(key)
        if isinstance(value, str) and value.strip().lower() in table:
            run_type = table[value.strip().lower()]
            break
    model_type = None
    for key in ("gen_ai.operation.name", "llm.request.type"):
        if isinstance(attrs.get(key), str):
            model_type = model_type or _MODEL_TYPES.get(attrs[key].lower())
    return run_type or "chain", model_type


def _metadata(attrs: dict, used: set, kept: dict) -> dict:
    """Metadata the conventions name: LangSmith's, OpenInference's JSON ``metadata``,
    Traceloop's association properties, session and user ids. Two that name one key with
    different values: the later prefixed one wins (a renamed id never overrides); the other
    attribute is kept whole in ``kept``, not lost."""
    metadata: dict[str, Any] = {}
    origin: dict[str, str] = {}  # metadata key -> the attribute it came from
    ok, decoded = from_json(attrs.get("metadata"), containers_only=True)
    if ok and isinstance(decoded, dict):
        metadata.update(decoded)
        origin.update(dict.fromkeys(decoded, "metadata"))
        used.add("metadata")
    for key, value in attrs.items():
        for prefix in METADATA_PREFIXES if key.startswith(METADATA_PREFIXES) else ():
            if key.startswith(prefix) and len(key) > len(prefix):
                name, decoded = key[len(prefix):], from_json(value, containers_only=True)[1]
                if name in metadata and metadata[name] != decoded:
                    kept[origin[name]] = attrs[origin[name]]
                metadata[name], origin[name] = decoded, key
                used.add(key)
        if key in METADATA_RENAMED:
            name = METADATA_RENAMED[key]
            if name not in metadata:
                metadata[name], origin[name] = value, key
            elif metadata[name] != value:
                kept[key] = value
            used.add(key)
    return metadata


def _model(attrs: dict, used: set, kept: dict, metadata: dict, extra: dict, run_type: str,
           model_type: str | None, langsmith: bool) -> None:
    """Model and provider as ``ls_model_name``/``ls_provider``; request parameters as
    ``extra.invocation_params`` (and ``ls_temperature``...)."""
    # (Each attribute read is marked used only when its value is the one stored: one that
    # another attribute or the run's own metadata overrides stays metadata under its name.)
    model = next((k for k in MODEL if isinstance(attrs.get(k), str) and attrs[k]), None)
    if model is not None and metadata.setdefault("ls_model_name", attrs[model]) == attrs[model]:
        used.add(model)
    # gen_ai.system on a LangSmith span is the SDK's guess from the model name ("langchain"
    # when it has none): the run's own ls_provider metadata, when it has one, wins.
    provider = next((k for k in PROVIDER if isinstance(attrs.get(k), str) and attrs[k]), None)
    if provider is not None and not (langsmith and provider == "gen_ai.system" and run_type != "llm"):
        if metadata.setdefault("ls_provider", attrs[provider]) == attrs[provider]:
            used.add(provider)
    elif provider is not None:
        kept[provider] = attrs[provider]
    if run_type == "llm" and model_type and not langsmith:
        metadata.setdefault("ls_model_type", model_type)
    params: dict[str, Any] = {}
    for key in INVOCATION_JSON if not attrs.keys().isdisjoint(INVOCATION_JSON) else ():
        ok, decoded = from_json(attrs.get(key), containers_only=True)
        if ok and isinstance(decoded, dict):
            params.update(decoded)
            used.add(key)
    for key, name in PARAMETERS.items() if not attrs.keys().isdisjoint(PARAMETERS) else ():
        if key in attrs:
            if params.setdefault(name, attrs[key]) == attrs[key]:
                used.add(key)
            if name in _LS_PARAMS and not langsmith:
                metadata.setdefault(_LS_PARAMS[name], params[name])
    if params:
        extra["invocation_params"] = params


def _tags(attrs: dict, used: set) -> list[str]:
    tags: list[str] = []
    for key in ("langsmith.span.tags", "tag.tags"):
        value = attrs.get(key)
        if value is None:
            continue
        used.add(key)
        if isinstance(value, str):
            ok, decoded = from_json(value, containers_only=True)
            value = decoded if ok and isinstance(decoded, list) else value.split(",")
        for tag in value if isinstance(value, list) else [value]:
            tag = clean_name(tag, "")
            if tag and tag not in tags:
                tags.append(tag)
    return tags


def _usage(attrs: dict, used: set, metadata: dict, extra: dict) -> tuple[dict, dict | None]:
    """LangSmith ``usage_metadata`` from the token and cost attributes, merged under one the
    metadata already carries (LangSmith's own wins); it goes to ``metadata.usage_metadata``.
    Returned with its ``usage_fields`` when the merge derived them (checking it), else None."""
    fields = None
    usage: dict[str, Any] = {}
    taken: dict[str, str] = {}  # attribute -> its usage key (a count or cost), to check after the merge
    keys = attrs.keys()
    # (The span's few token attributes in the table's order, not the whole table walked.)
    for key in sorted(keys & _USAGE_KEYS, key=_USAGE_ORDER.__getitem__):
        value, name = attrs[key], _USAGE_NAMES[key]
        if value is not None and _number(value) and (name.endswith("cost") or float(value).is_integer()):
            if usage.setdefault(name, value if name.endswith("cost") else int(value)) == value:
                used.add(key)
                taken[key] = name
    for key, details, name in USAGE_DETAILS if not keys.isdisjoint(_DETAIL_KEYS) else ():
        value = attrs.get(key)
        if value is not None and _number(value) and float(value).is_integer():
            if usage.setdefault(details, {}).setdefault(name, int(value)) == value:
                used.add(key)
    for key, details in USAGE_DICTS if not keys.isdisjoint(_DICT_KEYS) else ():
        value = attrs.get(key)
        if isinstance(value, str) and len(value) < 10_000 and details not in usage:
            try:
                decoded = ast.literal_eval(value)
            except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
                continue
            if isinstance(decoded, dict) and all(isinstance(k, str) and _number(v) for k, v in decoded.items()):
                usage[details] = decoded
                used.add(key)
    if "usage_metadata" in metadata:
        given = metadata.pop("usage_metadata")
        try:
            if not isinstance(given, dict):
                raise errors.ValidationError("usage_metadata is not a dict")
            merged = {**usage, **given}
            fields = usage_fields(merged)
            usage = merged
            # An attribute whose count the run's own usage_metadata overrode stays metadata.
            used.difference_update(k for k, name in taken.items() if merged[name] != attrs[k])
        except errors.ValidationError:
            extra["usage_metadata_refused"] = given
    if usage:
        metadata["usage_metadata"] = usage
    return usage, fields


def _error(span: OtelSpan, langsmith: bool) -> str:
    """The error text of a failed span: its exception event (the traceback, or type and
    message), after the status description when that says more; else OTel's ``error.type``
    attribute (an HTTP client's span failed by a 503 answer has only that: "503")."""
    text = ""
    for ev_name, _when, ev_attrs in span.events or ():
        if ev_name == EXCEPTION_EVENT and ev_attrs:
            # (Read as JSON-able values, as the events are stored: an SDK's tuple and OTLP's
            # list of the same value, or its NaN, give the same text.)
            kind, message, trace = (plain(ev_attrs.get(key), key) for key in
                                    ("exception.type", "exception.message", "exception.stacktrace"))
            if langsmith and message:
                text = str(message)  # the SDK records Exception(run.error): the run's own error text
            elif trace:
                text = str(trace)
            elif kind or message:
                text = ": ".join(str(p) for p in (kind, message) if p)
    status = span.status_message or ""
    if status and status not in text:  # (a description holding the whole exception text: itself)
        text = status if not text or text in status else f"{status}\n\n{text}"
    error_type = plain((span.attributes or {}).get("error.type"), "error.type")
    text = lenient_text(text or (str(error_type) if error_type not in (None, "") else "error"))
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 20] + "\n... (cut)"


def _otel(span: OtelSpan, kept: dict, name: str, shared: dict | None) -> dict:
    otel: dict[str, Any] = {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}",
                            "kind": span.kind, "status": span.status}
    if span.parent_span_id:
        otel["parent_span_id"] = f"{span.parent_span_id:016x}"
    for key, value in (("status_message", span.status_message), ("name", span.name if name != span.name else None),
                       ("scope", span.scope), ("scope_version", span.scope_version),
                       ("trace_state", span.trace_state)):
        if value:
            otel[key] = value
    if span.resource:
        otel["resource"] = made_once(shared, (span.resource,), "attributes", lambda: attributes(span.resource))
    if span.scope_attributes:
        otel["scope_attributes"] = made_once(shared, (span.scope_attributes,), "attributes",
                                             lambda: attributes(span.scope_attributes))
    if span.links:
        otel["links"] = [{"trace_id": f"{t:032x}", "span_id": f"{s:016x}",
                          "attributes": {str(k): plain(v, k) for k, v in (a or {}).items()}}
                         for t, s, a in span.links]
    dropped = {k: v for k, v in (("attributes", span.dropped_attributes), ("events", span.dropped_events),
                                 ("links", span.dropped_links)) if v}
    if dropped:
        otel["dropped"] = dropped
    if kept:
        otel["attributes"] = kept
    return otel
