"""LLM tracing: ``traceable`` and ``trace`` make spans (runs of a trace tree) that the store writes
in batches; ``buffer`` holds them in memory until then."""

from .._defaults import set_default_store
from .api import Span, current_span, trace, traceable

__all__ = ["Span", "current_span", "set_default_store", "trace", "traceable"]
