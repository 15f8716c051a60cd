"""Sending stored traces to any OpenTelemetry backend over OTLP/HTTP (a Collector, Jaeger,
Tempo, Phoenix, LangSmith's OTel endpoint, another ``runlite serve``): ``push(store, url)``,
``runlite push --otlp URL [FILTER]``. Needs the ``otel`` extra (the published
``OTLPSpanExporter`` sends the spans; this module only builds them).

What goes: every trace a chosen run belongs to (a run is chosen when it is a LangSmith-style
run, ``kind`` trace or with a ``run_type``, matching the filter), each of its ended runs as one
span. A run not ended yet (and a placeholder for a parent never received) is not sent, as an
OTel SDK exports only ended spans: push again once it ends. Its children are sent and name it
as their parent, so a backend links them when it arrives.

Ids (``span_ids``): a run made from an OTel span (``extra["otel"]``: ``trace_id``,
``span_id``, maybe ``parent_span_id``) goes with its own ids, so it comes home as the same run
(``conventions.run_id``). Any other run (runlite's own spans, LangSmith runs) gets ids derived
from runlite's: the trace id is the 128 bits of the trace's root run id (LangSmith's OTel
exporter does the same: the trace id, in hex, is the runlite trace id without dashes), the
span id the first 64 bits of the BLAKE2b hash of the run id. LangSmith takes the first 64 bits
of the run id itself, but of a uuid7 those are mostly its millisecond, and two runs started in
one millisecond by two processes would share them; a hash shares none in practice, and keeps
a run's id whatever else its trace holds. So pushing again sends the same spans, with the same
ids: "idempotent per span id", as backends keep one span per (trace id, span id).

Nothing is recorded of what was sent (no schema change, no file beside the database): OTLP
has no way to ask a backend what it holds, a record kept here would be wrong for another
backend or one that lost data, and a push would need to write beside a file it only reads.
Pushing again sends everything again, under the same ids; a filter (``"gt(start_time,
...)"``) sends less.

Mapping: the attributes LangSmith's own OTel exporter writes, and the GenAI conventions:
``langsmith.trace.name``, ``langsmith.span.kind`` (run type), ``langsmith.trace.session_name``
(project), ``langsmith.metadata.<key>`` (each metadata value: text, numbers and booleans as
they are, anything else as JSON), ``langsmith.span.tags`` (tags joined by ``", "``),
``gen_ai.operation.name``, ``gen_ai.system`` and ``gen_ai.request.model`` (from the metadata's
``ls_provider`` and ``ls_model_name``), ``gen_ai.usage.input_tokens``/``output_tokens``/
``total_tokens``, ``gen_ai.prompt``/``gen_ai.completion`` (inputs and outputs as JSON),
OpenInference's ``llm.cost.prompt``/``completion``/``total`` (no GenAI name exists for costs),
``gen_ai.response.time_to_first_chunk`` (seconds from the start to the first token). An error
is an ``ERROR`` status whose description is the error text; other ended runs are ``OK``. Run
events are span events (kwargs as attributes, nested values as JSON). Times go in nanoseconds
from runlite's microseconds, exactly. A run made from an OTel span also gets back what
``extra["otel"]`` kept of it: its span name, kind, UNSET status, resource, instrumentation
scope, links and the attributes the receiver did not map; any other run's resource is
``service.name=runlite``. Tags holding a comma go as a list. Not sent: attachments, feedback,
``serialized``, the rest of ``extra``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from .. import errors
from .._urls import check_http_url
from .._validation import check_name, shown
from ..langsmith.traces import chosen_traces, trace_runs

EXTRA = "pip install 'runlite[otel]'"
BATCH_SPANS = 512           # spans an export request
BATCH_BYTES = 4 << 20       # about this many bytes of attributes a request (a larger span goes alone)
TRACE_CHUNK = 200           # traces read from the store at a time
SERVICE = "runlite"         # service.name of the spans runlite made
TRACES_PATH = "/v1/traces"  # added to a URL without a path, as OTEL_EXPORTER_OTLP_ENDPOINT is
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)
_INT64 = 1 << 63
_OPERATIONS = {"llm": "chat", "prompt": "chat", "tool": "execute_tool", "retriever": "retrieval",
               "embedding": "embeddings"}  # LangSmith's table, retriever as the GenAI conventions name it
_KINDS = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")


class PushError(errors.RunliteError):
    """The OTLP endpoint could not be reached, or refused spans. ``result`` is ``push``'s result
    up to the failure (the requests answered before it stay sent)."""

    result: dict | None = None


def _sdk():
    """The OpenTelemetry names used here; ImportError naming the extra."""
    try:
        import requests
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.trace.export import SpanExportResult
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
    except ImportError as exc:
        raise ImportError("pushing over OTLP needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http: "
                          f"{EXTRA}") from exc
    return {"requests": requests, "OTLPSpanExporter": OTLPSpanExporter,
            "ExportTraceServiceResponse": ExportTraceServiceResponse, "Resource": Resource, "Event": Event,
            "ReadableSpan": ReadableSpan, "Link": Link, "SpanExportResult": SpanExportResult,
            "InstrumentationScope": InstrumentationScope, "SpanContext": SpanContext, "SpanKind": SpanKind,
            "Status": Status, "StatusCode": StatusCode, "TraceFlags": TraceFlags, "TraceState": TraceState}


# ---------------------------------------------------------------- arguments


def traces_url(url: Any) -> str:
    """The OTLP/HTTP traces URL of ``url``: a URL without a path gets ``/v1/traces`` (as
    ``OTEL_EXPORTER_OTLP_ENDPOINT``); one with a path is used as it is (as
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). ValidationError unless an http(s) URL."""
    parts = urllib.parse.urlsplit(check_http_url(url, "the OTLP endpoint"))
    if parts.path in ("", "/"):
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, TRACES_PATH, parts.query, parts.fragment))
    return url


def _check_headers(headers: Any) -> dict | None:
    if headers is None:
        return None
    if not isinstance(headers, dict) or len(headers) > 100:
        raise errors.ValidationError(f"headers must be a dict of at most 100 names to values, got {shown(headers)}")
    for name, value in headers.items():
        if (not isinstance(name, str) or not name or len(name) > 256
                or not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name) or not name.isascii()):
            raise errors.ValidationError(f"a header name must be an HTTP token, got {shown(name)}")
        if not isinstance(value, str) or len(value) > 8192 or not value.isprintable():
            raise errors.ValidationError(f"the value of header {name} must be printable text of at most 8192 "
                                         f"characters")
    return dict(headers)


def parse_headers(items: list[str] | None) -> dict | None:
    """``NAME=VALUE`` strings (``runlite push --header``) as a dict; ValidationError if malformed."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise errors.ValidationError(f"a header is NAME=VALUE, got {shown(item)}")
        out[name.strip()] = value.strip()
    return _check_headers(out)


def _check(url, filter, project, headers, timeout) -> tuple:
    url = traces_url(url)
    if filter is not None and not isinstance(filter, str):
        raise errors.ValidationError(f"filter must be a LangSmith filter str or None, got {shown(filter)}")
    if project is not None:
        project = check_name(project, "project")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= 3600):
        raise errors.ValidationError(f"timeout must be None or seconds from 0 to 3600, got {shown(timeout)}")
    return url, project, _check_headers(headers)


# ---------------------------------------------------------------- push


def push(store, url: str, *, filter: str | None = None, project: str | None = None, headers: dict | None = None,
         timeout: float | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Send the traces of ``store`` as OpenTelemetry spans to the OTLP/HTTP endpoint ``url``.

    Args:
        url: the endpoint: a base URL (``http://collector:4318``, ``/v1/traces`` is added) or
            the full traces URL (``https://host/api/otel/v1/traces``).
        filter: a LangSmith filter (as ``Store.list_runs(filter=...)``); the traces of the
            runs matching it go, whole. Default: every trace.
        project: the project named on every span (``langsmith.trace.session_name``); by
            default each run's own.
        headers: headers of every request (an API key...), besides (and over) those of
            ``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` or ``OTEL_EXPORTER_OTLP_HEADERS``.
        timeout: seconds a request may take, retries included (the exporter retries 429 and
            5xx answers and connection errors); default ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT``
            or 10.
        progress: called as ``progress(traces_done, traces)``.

    Returns ``{"endpoint", "traces", "runs", "spans", "unfinished", "requests", "seconds"}``:
    ``spans`` sent (one a run), ``unfinished`` runs not sent as not ended.

    Raises ValidationError (a bad argument or filter), ImportError (no ``otel`` extra),
    PushError (the endpoint unreachable, or answering with an error or rejected spans).
    """
    url, project, headers = _check(url, filter, project, headers, timeout)
    began = time.monotonic()
    traces = chosen_traces(store, filter)  # a bad filter is refused before the SDK is loaded
    sdk = _sdk()
    done = {"endpoint": url, "traces": len(traces), "runs": 0, "spans": 0, "unfinished": 0, "requests": 0,
            "seconds": 0.0}
    sender = _Sender(sdk, url, headers, timeout)
    builder = _Builder(sdk, project)
    try:
        batch: list = []
        size = 0
        for start in range(0, len(traces), TRACE_CHUNK):
            runs = trace_runs(store, traces[start:start + TRACE_CHUNK])
            done["runs"] += len(runs)
            for span, cost in builder.spans(runs, done):
                if batch and (len(batch) >= BATCH_SPANS or size + cost > BATCH_BYTES):
                    sender.send(batch, done)
                    batch, size = [], 0
                batch.append(span)
                size += cost
            if progress is not None and start + TRACE_CHUNK < len(traces):
                progress(start + TRACE_CHUNK, len(traces))
        if batch:
            sender.send(batch, done)
        if progress is not None:
            progress(len(traces), len(traces))
    except PushError as exc:
        exc.result = done
        raise
    finally:
        sender.close()
        done["seconds"] = round(time.monotonic() - began, 3)
    return done


def summary(done: dict) -> str:
    """One line saying what ``push`` did."""
    traces = f"{done['traces']} trace" + ("" if done["traces"] == 1 else "s")
    text = f"sent {done['spans']} spans of {traces} to {done['endpoint']} in {done['requests']} requests"
    if done["unfinished"]:
        text += f"; {done['unfinished']} runs not ended yet were not sent (push again once they end)"
    return text


def command(store, args, progress: Callable[[int, int], None] | None = None) -> int:
    """``runlite push --otlp URL``: push, then print what was done (JSON with ``--json``)."""
    if getattr(args, "endpoint", None) is not None or getattr(args, "api_key", None) is not None:
        raise errors.ValidationError("--endpoint and --api-key go with --langsmith; --otlp takes the URL itself "
                                     "and --header NAME=VALUE for a key")
    done = push(store, args.otlp, filter=args.filter, project=args.project,
                headers=parse_headers(getattr(args, "header", None)), progress=progress)
    print(json.dumps(done, indent=2) if getattr(args, "json", False) else summary(done))
    return 0


# ---------------------------------------------------------------- what goes


def _hex(value: Any, digits: int, zero: bool = False) -> int | None:
    """A non-zero (with ``zero``, any) OTel id from its hex text, else None."""
    if isinstance(value, str) and len(value) == digits:
        try:
            number = int(value, 16)
        except ValueError:
            return None
        return number if number or zero else None
    return None


def _otel(rec) -> dict:
    extra = rec.extra if isinstance(rec.extra, dict) else {}
    otel = extra.get("otel")
    return otel if isinstance(otel, dict) else {}


def derived_span_id(run_id: str) -> int:
    """The OTel span id of a run not made from an OTel span: 64 bits of the BLAKE2b hash of its id."""
    number = int.from_bytes(hashlib.blake2b(uuid.UUID(run_id).bytes, digest_size=8).digest(), "big")
    return number or 1


def span_ids(runs: list) -> dict[str, tuple[int, int, int | None]]:
    """``{run id: (trace id, span id, parent span id or None)}`` of the runs of whole traces:
    an OTel span's own ids, the others derived from runlite's (see the module's text)."""
    by_id = {rec.id: rec for rec in runs}
    own: dict[str, tuple] = {}
    for rec in runs:
        otel = _otel(rec)
        trace, span = _hex(otel.get("trace_id"), 32), _hex(otel.get("span_id"), 16)
        own[rec.id] = (trace, span) if trace and span else (None, derived_span_id(rec.id))
    out = {}
    for rec in runs:
        trace, span = own[rec.id]
        if trace is None:
            root = own.get(rec.trace_id)
            trace = root[0] if root and root[0] else uuid.UUID(rec.trace_id).int
        parent = _hex(_otel(rec).get("parent_span_id"), 16) if own[rec.id][0] else None
        if parent is None and rec.parent_run_id is not None:
            parent = own[rec.parent_run_id][1] if rec.parent_run_id in by_id else derived_span_id(rec.parent_run_id)
        out[rec.id] = (trace, span, parent)
    return out


def _us(when: _dt.datetime) -> int:
    return (when - _EPOCH) // _US


def _event_us(text: Any) -> int | None:
    try:
        when = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return _us(when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc))


def attribute(value: Any) -> Any:
    """A value as an OTel attribute: text, booleans, 64-bit integers and floats as they are,
    anything else as JSON (as LangSmith's exporter writes metadata); None stays None."""
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    return json.dumps(value, ensure_ascii=False, default=str, allow_nan=True)


def _native(value: Any) -> Any:
    """A value that was an OTel attribute, as one again: a list of one primitive type stays a list."""
    if isinstance(value, list) and value and all(type(v) is type(value[0]) for v in value) \
            and isinstance(value[0], (str, bool, int, float)) and attribute(value[0]) == value[0]:
        return value
    return attribute(value)


class _Builder:
    """Runs -> ``ReadableSpan``s, with the resources and scopes they share made once."""

    def __init__(self, sdk: dict, project: str | None):
        self.sdk, self.project = sdk, project
        self.resources: dict[str, Any] = {}
        self.scopes: dict[str, Any] = {}

    def spans(self, runs: list, done: dict) -> Iterator[tuple[Any, int]]:
        """``(span, about how many bytes)`` of every ended run of these whole traces."""
        ids = span_ids(runs)
        for rec in runs:
            if rec.ended is None or rec.kind == "placeholder":
                done["unfinished"] += 1
                continue
            yield self.span(rec, ids[rec.id])

    def _resource(self, otel: dict):
        given = otel.get("resource")
        attrs = {"service.name": SERVICE}
        if isinstance(given, dict):
            attrs.update({str(k): _native(v) for k, v in given.items() if v is not None})
        key = json.dumps(attrs, sort_keys=True, default=str)
        if key not in self.resources:
            self.resources[key] = self.sdk["Resource"](attrs)
        return self.resources[key]

    def _scope(self, otel: dict):
        name, version = otel.get("scope"), otel.get("scope_version")
        name = name if isinstance(name, str) and name else SERVICE
        version = version if isinstance(version, str) and version else None
        given = otel.get("scope_attributes") if isinstance(otel.get("scope_attributes"), dict) else {}
        key = (name, version, json.dumps(given, sort_keys=True, default=str))
        if key not in self.scopes:
            self.scopes[key] = self.sdk["InstrumentationScope"](
                name, version, None, {str(k): _native(v) for k, v in given.items() if v is not None} or None)
        return self.scopes[key]

    def _links(self, otel: dict) -> list:
        links = []
        for link in otel.get("links") or ():
            if not isinstance(link, dict):
                continue
            # (Zero ids too: a link to an invalid span context, kept for its attributes.)
            trace, span = _hex(link.get("trace_id"), 32, zero=True), _hex(link.get("span_id"), 16, zero=True)
            if trace is not None and span is not None:
                given = link.get("attributes") if isinstance(link.get("attributes"), dict) else {}
                links.append(self.sdk["Link"](self.sdk["SpanContext"](trace, span, is_remote=True),
                                              {str(k): _native(v) for k, v in given.items() if v is not None}))
        return links

    def span(self, rec, ids: tuple) -> tuple[Any, int]:
        sdk = self.sdk
        trace, span_id, parent = ids
        otel = _otel(rec)
        flags = sdk["TraceFlags"](sdk["TraceFlags"].SAMPLED)
        state = otel.get("trace_state")
        context = sdk["SpanContext"](trace, span_id, is_remote=False, trace_flags=flags, trace_state=sdk[
            "TraceState"].from_header([state]) if isinstance(state, str) and state else None)
        parent_context = None if parent is None else sdk["SpanContext"](trace, parent, is_remote=False,
                                                                         trace_flags=flags)
        end = _us(rec.ended)
        start = min(_us(rec.started or rec.created or rec.ended), end)
        attrs = self.attributes(rec, start)
        events = []
        for event in rec.events or ():
            when = _event_us(event.get("time"))
            kwargs = event.get("kwargs")
            values = kwargs if isinstance(kwargs, dict) else ({} if kwargs is None else {"kwargs": kwargs})
            values = {str(k): _native(v) for k, v in values.items() if v is not None}  # a list stays a list
            if event.get("message") is not None:
                values.setdefault("message", str(event["message"]))
            events.append(sdk["Event"](str(event.get("name") or "event"), values,
                                       None if when is None else when * 1000))
        kind = str(otel.get("kind") or "INTERNAL").upper().removeprefix("SPANKIND.").removeprefix("SPAN_KIND_")
        if rec.error is not None:
            status = sdk["Status"](sdk["StatusCode"].ERROR, rec.error)
        else:  # OK as LangSmith's exporter says, unless the span came without a status
            status = sdk["Status"](sdk["StatusCode"].UNSET if otel.get("status") == "UNSET" else sdk["StatusCode"].OK)
        name = otel.get("name") if isinstance(otel.get("name"), str) and otel.get("name") else rec.name
        made = sdk["ReadableSpan"](
            name=name, context=context, parent=parent_context, resource=self._resource(otel),
            attributes=attrs, events=events, links=self._links(otel),
            kind=getattr(sdk["SpanKind"], kind if kind in _KINDS else "INTERNAL"), status=status,
            start_time=start * 1000, end_time=end * 1000, instrumentation_scope=self._scope(otel))
        cost = 256 + sum(len(v) for v in attrs.values() if isinstance(v, str)) + 64 * len(events)
        return made, cost

    def attributes(self, rec, start_us: int) -> dict:
        """The span attributes of a run: LangSmith's and the GenAI conventions' names."""
        run_type = rec.run_type or "chain"
        metadata = rec.metadata or {}
        kept = _otel(rec).get("attributes")  # a span's attributes the receiver did not map, as it kept them
        attrs: dict[str, Any] = {str(k): _native(v) for k, v in kept.items() if v is not None} \
            if isinstance(kept, dict) else {}
        attrs.update({"langsmith.trace.name": rec.name, "langsmith.span.kind": run_type,
                      "gen_ai.operation.name": _OPERATIONS.get(run_type, run_type)})
        project = self.project or rec.session_name
        if project:
            attrs["langsmith.trace.session_name"] = project
        if isinstance(metadata.get("ls_provider"), str):
            attrs["gen_ai.system"] = metadata["ls_provider"]
        if isinstance(metadata.get("ls_model_name"), str):
            attrs["gen_ai.request.model"] = metadata["ls_model_name"]
        for key, name in (("prompt_tokens", "gen_ai.usage.input_tokens"),
                          ("completion_tokens", "gen_ai.usage.output_tokens"),
                          ("total_tokens", "gen_ai.usage.total_tokens"),
                          ("prompt_cost", "llm.cost.prompt"), ("completion_cost", "llm.cost.completion"),
                          ("total_cost", "llm.cost.total")):
            value = getattr(rec, key, None)
            if value is not None:
                attrs[name] = attribute(value)
        if rec.first_token_time is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = (_us(rec.first_token_time) - start_us) / 1e6
        if rec.inputs is not None:
            attrs["gen_ai.prompt"] = attribute(rec.inputs)
        if rec.outputs is not None:
            attrs["gen_ai.completion"] = attribute(rec.outputs)
        for key, value in metadata.items():
            value = attribute(value)
            if value is not None:
                attrs[f"langsmith.metadata.{key}"] = value
        if rec.tags:  # joined, as LangSmith's exporter writes them; a list when a tag holds a comma
            tags = list(rec.tags)
            attrs["langsmith.span.tags"] = tags if any("," in tag for tag in tags) else ", ".join(tags)
        return attrs


# ---------------------------------------------------------------- the endpoint


class _Quiet:
    """A logging filter dropping the exporter's own records in this thread while it pushes
    (``PushError`` says what went wrong, once); other threads' exports still log."""

    def __init__(self):
        self.thread = threading.get_ident()

    def filter(self, record) -> bool:
        return threading.get_ident() != self.thread


class _Sender:
    """The published ``OTLPSpanExporter`` over a session that keeps the last answer or failure,
    so a failed export says why, and rejected spans (OTLP's partial success) are not missed."""

    def __init__(self, sdk: dict, url: str, headers: dict | None, timeout: float | None):
        import logging

        self.sdk, self.url = sdk, url
        self.session = _session_class(sdk["requests"])()
        self.exporter = sdk["OTLPSpanExporter"](endpoint=url, headers=headers, timeout=timeout, session=self.session)
        self.quiet = _Quiet()
        self.loggers = [logging.getLogger(name) for name in _LOGGERS]
        for logger in self.loggers:
            logger.addFilter(self.quiet)

    def close(self) -> None:
        try:
            self.exporter.shutdown()
        finally:
            for logger in self.loggers:
                logger.removeFilter(self.quiet)

    def send(self, spans: list, done: dict) -> None:
        self.session.answer = self.session.failure = None
        result = self.exporter.export(spans)
        answer, failure = self.session.answer, self.session.failure
        if result != self.sdk["SpanExportResult"].SUCCESS:
            raise PushError(self._why(len(spans), answer, failure))
        rejected, message = self._rejected(answer)
        if rejected:
            raise PushError(f"the OTLP endpoint at {self.url} rejected {rejected} of {len(spans)} spans"
                            + (f": {message}" if message else ""))
        done["spans"] += len(spans)
        done["requests"] += 1

    def _why(self, count: int, answer, failure) -> str:
        if answer is not None and answer.status_code >= 300:
            return (f"the OTLP endpoint at {self.url} answered HTTP {answer.status_code} {answer.reason or ''}"
                    f"{_said_body(answer)} to {count} spans").replace("  ", " ")
        if failure is not None:
            return f"cannot reach the OTLP endpoint at {self.url}: {_said(failure)}"
        return f"the OTLP exporter could not send {count} spans to {self.url} (too large, or timed out)"

    def _rejected(self, answer) -> tuple[int, str]:
        """OTLP's partial success: ``(rejected spans, message)`` of a protobuf answer."""
        if answer is None or "protobuf" not in (answer.headers.get("content-type") or "") or not answer.content:
            return 0, ""
        try:
            parsed = self.sdk["ExportTraceServiceResponse"].FromString(answer.content)
        except Exception:  # noqa: BLE001 - an answer we cannot read is a success as the exporter saw it
            return 0, ""
        partial = parsed.partial_success
        return int(partial.rejected_spans), _cut(partial.error_message)


def _session_class(requests):
    class Session(requests.Session):
        """Keeps the last answer (``answer``) or failure to connect (``failure``)."""

        answer = failure = None

        def send(self, request, **kwargs):
            try:
                response = super().send(request, **kwargs)
            except Exception as exc:
                self.failure = exc
                raise
            self.answer, self.failure = response, None
            return response

    return Session


def _said_body(answer) -> str:
    """What an error answer says: OTLP's ``google.rpc.Status`` message, JSON or text."""
    body = answer.content or b""
    kind = answer.headers.get("content-type") or ""
    text = ""
    if "protobuf" in kind:
        try:
            from google.rpc.status_pb2 import Status

            text = Status.FromString(body).message
        except Exception:  # noqa: BLE001 - no readable status: say nothing more
            text = ""
    else:
        try:
            parsed = json.loads(body)
            text = (parsed.get("message") or parsed.get("detail") or "") if isinstance(parsed, dict) else ""
            text = text if isinstance(text, str) else json.dumps(text)
        except ValueError:
            text = body[:500].decode("utf-8", "replace")
    text = _cut(text)
    return f" ({text})" if text else ""


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 500 else text[:497] + "..."


def _said(exc: BaseException) -> str:
    return _cut(str(exc)) or type(exc).__name__
