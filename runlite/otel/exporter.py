"""An OpenTelemetry ``SpanExporter`` that stores OTel spans as runlite runs (``runlite[otel]``).

Add it to a tracer provider::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider.add_span_processor(BatchSpanProcessor(runlite.otel.RunliteSpanExporter(store)))

Mapping: a span becomes a run of kind ``trace`` (id derived from the OTel trace and span
ids), parent links from OTel parents, attributes as metadata, GenAI token attributes
(``gen_ai.usage.input_tokens``/``output_tokens``, and the older ``prompt_tokens``/
``completion_tokens``) as tokens, span events as events, an ERROR status as ``failed`` with
its description as the error. OTel children end before their parents, so spans are held
until their trace's root arrives and the whole tree is written at once; ``shutdown()``
writes what is left, the topmost held span of each trace as its root.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Sequence

try:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("runlite.otel needs the otel extra: pip install 'runlite[otel]'") from exc

from .._defaults import store_or_default
from .._ids import dotted_segment
from ..storage import runs as runs_mod
from .._validation import from_us

_NS = uuid.UUID("5f1c2a3e-8d4b-4c6e-9a7f-0b1d2e3f4a5b")
_TOKEN_KEYS = {
    "gen_ai.usage.input_tokens": "prompt_tokens", "gen_ai.usage.prompt_tokens": "prompt_tokens",
    "gen_ai.usage.output_tokens": "completion_tokens", "gen_ai.usage.completion_tokens": "completion_tokens",
    "gen_ai.usage.total_tokens": "total_tokens", "llm.usage.total_tokens": "total_tokens",
}
_RUN_TYPES = {"chat": "llm", "text_completion": "llm", "generate_content": "llm", "embeddings": "embedding",
              "execute_tool": "tool", "retrieval": "retriever"}


def run_id(trace_id: int, span_id: int) -> str:
    """The runlite run id of an OTel span (stable across exports)."""
    return str(uuid.uuid5(_NS, f"{trace_id:032x}{span_id:016x}"))


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, (tuple, list)) else v


class RunliteSpanExporter(SpanExporter):
    """Stores finished OTel spans in a runlite store (one trace written when its root ends)."""

    def __init__(self, store: Any = None, *, folder: str = "/"):
        self.store = store_or_default(store)
        self.folder = folder
        self._held: dict[int, dict[int, Any]] = {}  # OTel trace id -> span id -> span
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        """Hold the spans; write every trace whose root span has now ended."""
        complete = []
        with self._lock:
            for span in spans:
                ctx = span.context
                self._held.setdefault(ctx.trace_id, {})[ctx.span_id] = span
                if span.parent is None or span.parent.is_remote:
                    complete.append(ctx.trace_id)
            batches = [self._held.pop(t) for t in complete if t in self._held]
        try:
            for batch in batches:
                self._write(batch)
        except Exception:  # noqa: BLE001 - the SDK expects a result, not an exception
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Write the traces whose root never ended (their topmost held span as root)."""
        with self._lock:
            batches, self._held = list(self._held.values()), {}
        for batch in batches:
            self._write(batch)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered beyond what waits for its root."""
        return True

    def _write(self, batch: dict[int, Any]) -> None:
        children: dict[int | None, list] = {}
        for span in batch.values():
            parent = span.parent.span_id if span.parent is not None and span.parent.span_id in batch else None
            children.setdefault(parent, []).append(span)
        dicts = []
        for root in sorted(children.get(None, []), key=lambda s: s.start_time or 0):
            dicts.append(self._tree(root, None, children))
        with self.store.database.read() as conn:
            existing = runs_mod.existing(conn, [d["id"] for d in dicts])
        fresh = [d for d in dicts if d["id"] not in existing]  # a trace exported twice is kept once
        if fresh:
            self.store.import_runs(fresh)

    def _tree(self, span: Any, parent: tuple | None, children: dict) -> dict:
        """The run dict of ``span`` with its children; ``parent`` is (id, dotted_order, trace_id, start_us)."""
        ctx = span.context
        rid = run_id(ctx.trace_id, ctx.span_id)
        start_us = (span.start_time or 0) // 1000
        if parent is not None:
            start_us = max(start_us, parent[3])  # a child never starts before its parent
            dotted, trace = f"{parent[1]}.{dotted_segment(start_us, rid)}", parent[2]
        else:
            dotted, trace = dotted_segment(start_us, rid), rid
        attributes = {k: _value(v) for k, v in (span.attributes or {}).items()}
        tokens = {}
        for key, name in _TOKEN_KEYS.items():
            if key in attributes and isinstance(attributes[key], int):
                tokens[name] = attributes.pop(key)
        if "total_tokens" not in tokens and {"prompt_tokens", "completion_tokens"} <= tokens.keys():
            tokens["total_tokens"] = tokens["prompt_tokens"] + tokens["completion_tokens"]
        failed = span.status is not None and span.status.status_code == StatusCode.ERROR
        end_us = None if span.end_time is None else max(span.end_time // 1000, start_us)
        operation = str(attributes.get("gen_ai.operation.name", ""))
        record = {
            "id": rid, "name": span.name or "span", "run_type": _RUN_TYPES.get(operation, "chain"),
            "status": "failed" if failed else ("completed" if end_us is not None else "running"),
            "kind": "trace", "folder": self.folder, "trace_id": trace, "dotted_order": dotted,
            "parent_run_id": parent[0] if parent else None, "inputs": {}, "outputs": None,
            "error": (span.status.description or "error") if failed else None,
            "extra": {"metadata": attributes, "otel": {"trace_id": f"{ctx.trace_id:032x}",
                                                       "span_id": f"{ctx.span_id:016x}",
                                                       "kind": str(getattr(span.kind, "name", span.kind))}},
            "tags": [], "created": from_us(start_us).isoformat(), "started": from_us(start_us).isoformat(),
            "endtime": None if end_us is None else from_us(end_us).isoformat(),
            "events": [{"name": e.name, "time": from_us(e.timestamp // 1000).isoformat(),
                        "kwargs": {k: _value(v) for k, v in (e.attributes or {}).items()} or None}
                       for e in span.events],
            **tokens,
        }
        kids = sorted(children.get(ctx.span_id, []), key=lambda s: s.start_time or 0)
        record["child_runs"] = [self._tree(k, (rid, dotted, trace, start_us), children) for k in kids]
        return record
