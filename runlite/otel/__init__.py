"""OpenTelemetry in and out: OTel spans stored as runs, and stored runs sent as OTel spans.

``conventions`` maps one span (``OtelSpan``, whatever brought it: the in-process
``RunliteSpanExporter``, or OTLP/HTTP through ``runlite serve``) to a LangSmith run payload
(``langsmith/wire.py``), reading the GenAI, OpenInference, OpenLLMetry and LangSmith
attribute conventions. ``RunliteSpanExporter`` needs the ``otel`` extra.
"""

from .conventions import OtelSpan, run_id, run_payload

__all__ = ["OtelSpan", "RunliteSpanExporter", "run_id", "run_payload"]


def __getattr__(name: str):
    if name == "RunliteSpanExporter":  # needs opentelemetry-sdk: imported when asked for
        from .exporter import RunliteSpanExporter

        return RunliteSpanExporter
    raise AttributeError(f"module 'runlite.otel' has no attribute {name!r}")
