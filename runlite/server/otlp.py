"""OTLP/HTTP traces in: ``POST /v1/traces`` (and ``/otel/v1/traces``, where LangSmith takes
OTLP), as any language's OpenTelemetry SDK or an OpenTelemetry Collector sends them.

A body is an ``ExportTraceServiceRequest`` in binary protobuf (``application/x-protobuf``)
or in OTLP's JSON (``application/json``: protobuf's JSON mapping, but trace and span ids as
hex text), plain or compressed (``http.body``: gzip, deflate, zstd). It is decoded with the
published protobuf classes (``opentelemetry-proto``), never by hand. Each span becomes an
``otel.conventions.OtelSpan``, then a checked ``RemoteRun`` (``conventions.checked_run``: what
``langsmith.wire.remote_run`` makes of its LangSmith run payload, ``run_payload``); only
when every span of the request passed is any queued on the store's batch writer
(``store.live.receive``), so a refused request stores nothing. A ``Langsmith-Project`` header
names the project, as LangSmith's OTLP endpoint takes it.

Answers are OTLP's: 200 with an ``ExportTraceServiceResponse`` on success; on a refusal a
``google.rpc.Status`` (its ``message`` says what was wrong), both in the request's encoding.
A request is taken or refused whole, never in part, so ``partial_success`` is never set.
Statuses: 400 for a body that is not a valid request (OTLP: the client must not retry it),
413 past a stated limit, 415 for another Content-Type, 503 (retried by clients, with
``Retry-After``) while the file is busy or its disk full, or while the server closes it.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any

from .. import errors
from .._validation import lenient_text, shown
from ..langsmith.wire import RemoteRun
from ..otel.conventions import OtelSpan, checked_run
from ..otel.values import storable_float
from .http import body, hand_over, in_thread, json_value, utf8

PROTOBUF, JSON = "application/x-protobuf", "application/json"
_MEDIA = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}

MAX_SPANS = 50_000           # spans of one request (an SDK sends 512 at a time, a Collector 8,192)
MAX_SPAN_BYTES = 16 << 20    # one span, encoded: as much as one JSON column of a run holds
MAX_ITEMS = 10_000           # attributes, events or links of one span, or attributes of a resource

_KINDS = ("INTERNAL", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")  # 0, UNSPECIFIED: INTERNAL
_STATUSES = ("UNSET", "OK", "ERROR")
# google.rpc.Code of each HTTP status answered (OTLP clients only log it).
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 500: 13, 501: 12, 503: 14}
_IDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))

_log = logging.getLogger("runlite.server")


class _Missing(errors.RunliteError):
    """The server extra's OTLP classes (opentelemetry-proto) are not installed."""


# -- decoding


def _proto():
    try:
        from google.protobuf import json_format
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        raise _Missing("this server cannot take OTLP: install opentelemetry-proto (pip install 'runlite[server]')") \
            from None
    return trace_service_pb2, json_format, DecodeError


def decode(data: bytes, media: str):
    """The ``ExportTraceServiceRequest`` a body holds (``media`` ``PROTOBUF`` or ``JSON``);
    ValidationError when it is not one."""
    service, json_format, decode_error = _proto()
    request = service.ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(data)
        except (decode_error, RecursionError, ValueError) as exc:
            raise errors.ValidationError(f"the body is not an OTLP ExportTraceServiceRequest in protobuf (malformed, "
                                         f"truncated or nested too deeply): {str(exc)[:200] or type(exc).__name__}"
                                         ) from None
        return request
    doc = json_value(data)
    if not isinstance(doc, dict):
        raise errors.ValidationError(f"an OTLP/JSON body must be an object ({{\"resourceSpans\": [...]}}), "
                                     f"got {shown(doc)}")
    _hex_ids(doc)
    if _SURROGATE_ESCAPE.search(data):
        doc = _without_lone_surrogates(doc)
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except Exception as exc:  # noqa: BLE001 - ParseError, and what it lets through: OverflowError for an
        # Infinity where an int belongs, SystemError for an enum named by a lone surrogate...
        raise errors.ValidationError(f"the body is not an OTLP ExportTraceServiceRequest in JSON: "
                                     f"{_parse_error(exc)}") from None
    return request


# A JSON escape of a UTF-16 surrogate (most pair up into one character, a lone one stays).
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89abcdefABCDEF]")
_FIELD_FAILED = re.compile(r"Failed to parse (\w+) field: ")


def _without_lone_surrogates(doc: Any) -> Any:
    """``doc`` with every lone surrogate in its texts (keys too) as U+FFFD. JavaScript's SDK
    writes one as a ``\\udXXX`` escape (its attribute length limit can cut a string between
    the two halves of an emoji); protobuf's parser refuses it, and the whole request with it."""
    root = [doc]
    stack: list = [(root, 0)]
    while stack:  # (not recursive: a document nested as deep as json.loads goes)
        holder, key = stack.pop()
        value = holder[key]
        if isinstance(value, str):
            holder[key] = lenient_text(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            cleaned = {lenient_text(k): v for k, v in value.items()}
            holder[key] = cleaned
            stack.extend((cleaned, k) for k in cleaned)
    return root[0]


def _parse_error(exc: Exception) -> str:
    """protobuf's JSON parse error, its cause first: it nests a "Failed to parse X field: "
    for each level, which would hide the cause of a deep one past any cut."""
    text = str(exc)
    fields = _FIELD_FAILED.findall(text)
    cause = _FIELD_FAILED.sub("", text).rstrip(".") or type(exc).__name__
    path = ".".join(fields[:8]) + (f"...({len(fields) - 8} levels more)" if len(fields) > 8 else "")
    return f"{cause[:300]} (in {path})" if path else cause[:300]


def _items(value: Any, *keys: str) -> list:
    """``value[key]`` for the first key present (OTLP/JSON's lowerCamelCase or the proto
    name, as protobuf's JSON parser takes both) when it is a list; else nothing."""
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                return value[key] if isinstance(value[key], list) else []
    return []


def _hex_ids(doc: dict) -> None:
    """OTLP/JSON ids are hex text, not base64 as protobuf's JSON mapping has bytes: rewrite
    them (in place) for ``json_format``. Refuses ids that are not hex."""
    for r, resource_spans in enumerate(_items(doc, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_items(resource_spans, "scopeSpans", "scope_spans")):
            for i, span in enumerate(_items(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _hex_fields(span, where)
                for k, link in enumerate(_items(span, "links")):
                    _hex_fields(link, f"link {k} of {where}")


def _hex_fields(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        return
    for names in _IDS:
        for key in names:
            value = item.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) % 2 or not all(c in "0123456789abcdefABCDEF" for c in value):
                raise errors.ValidationError(f"{names[0]} of {where} must be hex digits (OTLP/JSON ids are hex, not "
                                             f"base64), got {shown(value)}")
            item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


# -- spans


def spans(request, project: str | None = None) -> list[OtelSpan]:
    """Every span of a decoded request as an ``OtelSpan``, checked: ids of OTLP's lengths, a
    start time, enums, sizes within the limits, no cycle of parent links within the request.
    ``project`` is the one the request names (LangSmith's ``Langsmith-Project`` header)."""
    count = sum(len(scope_spans.spans) for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans)
    if count > MAX_SPANS:
        raise errors.LimitError(f"the request holds {count:,} spans; this server takes at most {MAX_SPANS:,} at once "
                                "(lower the exporter's batch size)")
    out = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes, f"the resource of resourceSpans[{r}]")
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            scope = scope_spans.scope
            scope_attributes = _attributes(scope.attributes, f"the scope of resourceSpans[{r}].scopeSpans[{s}]")
            for i, span in enumerate(scope_spans.spans):
                out.append(_span(span, resource, scope, scope_attributes, project, _Where(span, r, s, i)))
    _acyclic(out)
    return out


class _Where:
    """Where a span is in its request, as error messages name it: formatted only when one is
    raised (``f"{where}"``), not for each of the thousands of spans that pass."""

    __slots__ = ("span", "at")

    def __init__(self, span, *at: int):
        self.span, self.at = span, at

    def __str__(self) -> str:
        r, s, i = self.at
        return f"span {shown(self.span.name, 60)} (resourceSpans[{r}].scopeSpans[{s}].spans[{i}])"


def _span(span, resource: dict, scope, scope_attributes: dict, project: str | None, where: _Where) -> OtelSpan:
    size = span.ByteSize()
    if size > MAX_SPAN_BYTES:
        raise errors.LimitError(f"{where} is {size:,} bytes; a span may be at most {MAX_SPAN_BYTES:,}")
    for what, items in (("attributes", span.attributes), ("events", span.events), ("links", span.links)):
        if len(items) > MAX_ITEMS:
            raise errors.LimitError(f"{where} has {len(items):,} {what}; a span may have at most {MAX_ITEMS:,}")
    trace_id = _id(span.trace_id, 16, "trace_id", where)
    span_id = _id(span.span_id, 8, "span_id", where)
    parent = _id(span.parent_span_id, 8, "parent_span_id", where, optional=True)
    if parent == span_id:
        raise errors.ValidationError(f"{where} names itself as its parent: parent links must not make a cycle")
    if not 0 <= span.kind < len(_KINDS):
        raise errors.ValidationError(f"kind of {where} is {span.kind}, not an OTLP SpanKind (0 to 5)")
    if not 0 <= span.status.code < len(_STATUSES):
        raise errors.ValidationError(f"status code of {where} is {span.status.code}, not an OTLP StatusCode (0 to 2)")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano or None
    if not start:
        raise errors.ValidationError(f"{where} has no start_time_unix_nano (OTLP requires one)")
    events = tuple((event.name, event.time_unix_nano, _attributes(event.attributes, f"event {k} of {where}"))
                   for k, event in enumerate(span.events))
    # A link to an invalid (all-zero) span context is OTel's too: SDKs keep one that carries
    # attributes or a trace state (the spec's "SHOULD be recorded"), and send its zero ids.
    links = tuple((_id(link.trace_id, 16, "trace_id", f"link {k} of {where}", optional=True) or 0,
                   _id(link.span_id, 8, "span_id", f"link {k} of {where}", optional=True) or 0,
                   _attributes(link.attributes, f"link {k} of {where}"))
                  for k, link in enumerate(span.links))
    return OtelSpan(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=span.name,
                    kind=_KINDS[span.kind], start_ns=start, end_ns=end,
                    attributes=_attributes(span.attributes, where), events=events, links=links,
                    status=_STATUSES[span.status.code], status_message=span.status.message or None,
                    resource=resource, scope=scope.name or None, scope_version=scope.version or None,
                    project=project, dropped_attributes=span.dropped_attributes_count,
                    dropped_events=span.dropped_events_count, dropped_links=span.dropped_links_count,
                    trace_state=span.trace_state or None, scope_attributes=scope_attributes)


def _id(raw: bytes, size: int, what: str, where: "str | _Where", optional: bool = False) -> int | None:
    """An OTLP id as an int: exactly ``size`` bytes and not all zero (OTLP's invalid id); an
    optional one (a parent, a link's) may be empty or zero, meaning none."""
    if optional and raw in (b"", bytes(size)):
        return None
    if len(raw) != size:
        raise errors.ValidationError(f"{what} of {where} is {len(raw)} bytes; OTLP's are {size} bytes "
                                     f"({2 * size} hex digits)")
    value = int.from_bytes(raw, "big")
    if not value:
        raise errors.ValidationError(f"{what} of {where} is all zeros, OTLP's invalid id")
    return value


def _attributes(pairs, where: "str | _Where") -> dict:
    """OTLP ``KeyValue``s as a dict (a repeated key: the last wins)."""
    if len(pairs) > MAX_ITEMS:
        raise errors.LimitError(f"{where} has {len(pairs):,} attributes; at most {MAX_ITEMS:,} are taken")
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value) -> Any:
    """An OTLP ``AnyValue``: str, bool, int, float, list, dict (kvlist), bytes, None when
    unset. Floats JSON cannot hold (NaN, infinities) are kept as their names: a run's
    metadata refuses them, and one such value must not refuse a whole request."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {pair.key: _value(pair.value) for pair in value.kvlist_value.values}
    got = getattr(value, which)
    return storable_float(got) if which == "double_value" else got


def _acyclic(found: list[OtelSpan]) -> None:
    """Refuse parent links that go round in a loop within the request (a stored span's
    links are the ingest's to keep: ``storage/ingest.py`` leaves a cycle unlinked)."""
    parent = {(s.trace_id, s.span_id): s.parent_span_id for s in found}
    done: set = set()
    for key in parent:
        path: list = []
        seen: set = set()
        while key in parent and key not in done:
            if key in seen:
                raise errors.ValidationError(f"the parent links of span {key[1]:016x} of trace {key[0]:032x} make "
                                             "a cycle: a span cannot be its own ancestor")
            seen.add(key)
            path.append(key)
            up = parent[key]
            key = None if up is None else (key[0], up)
        done.update(path)


def received(data: bytes, media: str, project: str | None = None) -> list[RemoteRun]:
    """The checked runs of one request body: all of them, or an error and none."""
    shared: dict = {}  # a request's resources and scopes, read once for their spans
    return [checked_run(span, shared) for span in spans(decode(data, media), project)]


# -- answers


def _media(request) -> str | None:
    return _MEDIA.get(request.headers.get("content-type", "").split(";")[0].strip().lower())


def _message(media: str, message, status: int = 200, headers: dict | None = None):
    from starlette.responses import Response

    if media == JSON:
        from google.protobuf import json_format

        data = json_format.MessageToJson(message, indent=None).encode()
    else:
        data = message.SerializeToString()
    return Response(data, status_code=status, media_type=media, headers=headers)


def refusal(request, status: int, message: str, headers: dict | None = None):
    """OTLP's answer to a refused request: a ``google.rpc.Status`` in the request's encoding
    (binary protobuf when the request's is not OTLP's)."""
    try:
        from google.rpc import status_pb2
    except ImportError:  # googleapis-common-protos missing: say so in LangSmith's form
        from .http import error_response

        return error_response(status, message)
    rpc = status_pb2.Status(code=_RPC_CODE.get(status, 2), message=utf8(message[:2000]))
    return _message(_media(request) or PROTOBUF, rpc, status, headers)


def _status(exc: errors.RunliteError) -> int:
    if isinstance(exc, _Missing):
        return 501
    if isinstance(exc, errors.LimitError):
        return 413
    if isinstance(exc, errors.ReadOnlyStoreError):
        return 403
    if isinstance(exc, (errors.StoreBusyError, errors.StoreFullError, errors.StoreClosedError)):
        return 503  # the file's state, not the request's: OTLP clients retry a 503, and drop on a 400
    if isinstance(exc, errors.StoreError):
        return 500
    return 400  # OTLP: data that cannot be decoded or is invalid, not to be retried


async def traces(request, store, max_body):
    """``POST /v1/traces``: store every span of the request, or none and say why."""
    media = _media(request)
    if media is None:
        kind = request.headers.get("content-type", "")
        return refusal(request, 415, f"Content-Type {shown(kind, 60)} is not OTLP/HTTP's: send "
                                     "application/x-protobuf or application/json")
    try:
        data = await body(request, max_body)
        project = request.headers.get("langsmith-project", "").strip() or None
        await hand_over(store, await in_thread(received, data, media, project))
        service, _, _ = _proto()
        return _message(media, service.ExportTraceServiceResponse())
    except errors.RunliteError as exc:
        status = _status(exc)
        return refusal(request, status, str(exc), {"Retry-After": "1"} if status == 503 else None)
    except Exception as exc:  # a bug: answered as OTLP's 500, logged, the server keeps serving
        _log.exception("POST %s failed", request.url.path)
        return refusal(request, 500, f"the server failed: {type(exc).__name__}")


ROUTES = (
    ("/v1/traces", ["POST"], traces),
    ("/otel/v1/traces", ["POST"], traces),
)
