"""LLM tracing: ``traceable`` and ``trace`` make spans (runs of a trace tree) that the store writes
in batches; ``buffer`` holds them in memory until then; ``context`` keeps the current span and
``tracing_context``; ``usage`` derives token fields from LangSmith's ``usage_metadata``.

Every store holds a span buffer (``buffer``), so opening one imports this package: the names
below load on first use (PEP 562), as runlite's own do, and a program that never traces does not
import ``api`` and ``context``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._defaults import set_default_store
    from .api import Span, current_span, trace, traceable, tracing_context
    from .context import get_current_run_tree

_LAZY = {"set_default_store": "runlite._defaults", "get_current_run_tree": "runlite.tracing.context",
         **dict.fromkeys(("Span", "current_span", "trace", "traceable", "tracing_context"), "runlite.tracing.api")}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runlite.tracing' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Span", "current_span", "get_current_run_tree", "set_default_store", "trace", "traceable",
           "tracing_context"]
