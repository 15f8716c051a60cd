"""LLM tracing: ``traceable`` and ``trace`` make spans (runs of a trace tree) that the store writes
in batches; ``buffer`` holds them in memory until then; ``context`` keeps the current span and
``tracing_context``; ``usage`` derives token fields from LangSmith's ``usage_metadata``."""

from .._defaults import set_default_store
from .api import Span, current_span, trace, traceable, tracing_context
from .context import get_current_run_tree

__all__ = ["Span", "current_span", "get_current_run_tree", "set_default_store", "trace", "traceable",
           "tracing_context"]
