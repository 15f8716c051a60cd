"""OpenTelemetry: ``RunliteSpanExporter`` stores OTel spans as runs (``runlite[otel]``)."""

__all__ = ["RunliteSpanExporter", "run_id"]


def __getattr__(name: str):
    if name in __all__:  # needs opentelemetry-sdk: imported when asked for
        from . import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'runlite.otel' has no attribute {name!r}")
