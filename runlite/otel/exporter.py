"""An OpenTelemetry ``SpanExporter`` that stores OTel spans as runlite runs (``runlite[otel]``).

Add it to a tracer provider::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider.add_span_processor(BatchSpanProcessor(runlite.otel.RunliteSpanExporter(store)))

Each exported span is mapped by ``conventions.run_payload`` (the GenAI, OpenInference,
OpenLLMetry and LangSmith attribute conventions), checked as ``langsmith.wire.remote_run``
checks a payload (``conventions.checked_run``) and queued at once on the store's batch
writer, as runs from LangSmith clients are. Nothing waits for a trace's root: a span whose
parent has not arrived (yet, or ever: a remote parent) is stored under a placeholder of it,
and moves under the real parent when that arrives (``storage/ingest.py``).

By default ``export`` also writes the batch before it returns (OTel's contract: ``SUCCESS``
means stored), so after ``provider.force_flush()`` (which flushes the span processors, not
the exporter) every ended span is in the file, and a killed process loses only what its
span processor still held. With ``sync=False`` the store's writer writes queued spans within
half its flush interval (0.5 s), in fewer transactions when a ``SimpleSpanProcessor`` exports
spans one by one; ``force_flush`` and ``shutdown`` write them at once. A span that cannot be
stored (an absurd attribute) is logged and makes the batch's result ``FAILURE``; the other
spans of the batch are stored all the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

try:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("runlite.otel needs the otel extra: pip install 'runlite[otel]'") from exc

from .. import errors
from .._defaults import store_or_default
from .._memo import made_once
from .conventions import OtelSpan, checked_run

log = logging.getLogger("runlite")


def from_sdk(span: Any, project: str | None = None, shared: dict | None = None) -> OtelSpan:
    """An ``OtelSpan`` of the SDK's ``ReadableSpan``. With ``shared`` (a dict that lasts one
    export), the attributes of a resource or scope (the SDK's, never changed) are copied once
    for the spans that share it, which then share the copy."""
    ctx = span.context
    parent = span.parent
    status = span.status
    scope = getattr(span, "instrumentation_scope", None)
    resource = getattr(span, "resource", None)
    return OtelSpan(
        trace_id=ctx.trace_id, span_id=ctx.span_id,
        parent_span_id=parent.span_id if parent is not None and parent.span_id else None,
        name=span.name, kind=getattr(span.kind, "name", str(span.kind)),
        start_ns=span.start_time, end_ns=span.end_time,
        attributes=dict(span.attributes or {}),
        events=tuple((e.name, e.timestamp, dict(e.attributes or {})) for e in span.events),
        links=tuple((link.context.trace_id, link.context.span_id, dict(link.attributes or {}))
                    for link in span.links),
        status=getattr(status.status_code, "name", "UNSET") if status is not None else "UNSET",
        status_message=status.description if status is not None else None,
        resource=made_once(shared, (resource,), "attributes", lambda: dict(resource.attributes)) or {},
        scope=scope.name if scope is not None else None,
        scope_version=scope.version if scope is not None else None,
        project=project,
        dropped_attributes=getattr(span, "dropped_attributes", 0) or 0,
        dropped_events=getattr(span, "dropped_events", 0) or 0,
        dropped_links=getattr(span, "dropped_links", 0) or 0,
        trace_state=ctx.trace_state.to_header() or None if getattr(ctx, "trace_state", None) else None,
        scope_attributes=made_once(shared, (scope,), "attributes",
                                   lambda: dict(getattr(scope, "attributes", None) or {})) or {},
    )


class RunliteSpanExporter(SpanExporter):
    """Stores exported OTel spans in a runlite store as they come (see the module's doc).

    Args:
        store: the store (the default store when None).
        project: the LangSmith project (``session_name``) of spans that name none.
        sync: write each exported batch before ``export`` returns (else within 0.5 s).
    """

    def __init__(self, store: Any = None, *, project: str | None = None, sync: bool = True):
        self.store = store_or_default(store)
        self.project = project
        self.sync = sync

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        """Queue (and with ``sync`` write) every span of the batch that can be stored; ``FAILURE``
        when one could not, or the store refused the batch (closed, read-only, disk full)."""
        if isinstance(spans, (str, bytes, dict)) or not isinstance(spans, Iterable):
            raise errors.ValidationError(f"spans must be a sequence of OTel SDK spans, got {type(spans).__name__}")
        runs, refused = [], 0
        shared: dict = {}  # what the batch's spans share, read once (``checked_run``)
        for span in spans:
            try:
                runs.append(checked_run(from_sdk(span, self.project, shared), shared))
            except Exception as exc:  # noqa: BLE001 - one bad span must not lose the others
                refused += 1
                log.warning("runlite: OTel span %r (%s) not stored: %s", getattr(span, "name", "?"), _ids(span), exc)
        if runs:
            try:
                if self.store.closed:
                    raise errors.StoreClosedError(f"the store {self.store.path!r} is closed")
                self.store.live.receive(runs)
            except errors.RunliteError as exc:  # a closed or read-only store
                log.warning("runlite: %d OTel spans not stored: %s", len(runs), exc)
                return SpanExportResult.FAILURE
            if self.sync:
                try:
                    self.store.live.flush_spans()
                except errors.RunliteError as exc:  # e.g. a full disk: kept queued, retried
                    log.warning("runlite: %d OTel spans not written yet: %s", len(runs), exc)
                    return SpanExportResult.FAILURE
        return SpanExportResult.FAILURE if refused else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every span exported so far to the file."""
        try:
            self.store.flush()
        except errors.RunliteError as exc:
            log.warning("runlite: could not write the exported OTel spans: %s", exc)
            return False
        return True

    def shutdown(self) -> None:
        """Write what was exported (the store stays open: it is the caller's)."""
        self.force_flush()


def _ids(span: Any) -> str:
    """A span's ids as a warning names them; what is no SDK span has none."""
    context = getattr(span, "context", None)
    trace_id, span_id = getattr(context, "trace_id", None), getattr(context, "span_id", None)
    if isinstance(trace_id, int) and isinstance(span_id, int):
        return f"trace {trace_id:032x}, span {span_id:016x}"
    return "no span context"
