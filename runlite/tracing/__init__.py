"""LLM tracing: ``traceable`` and ``trace`` make spans (runs of a trace tree) that the store writes
in batches; ``buffer`` holds them in memory until then; ``context`` keeps the current span and
``tracing_context``; ``usage`` derives token fields from LangSmith's ``usage_metadata``.

Every store holds a span buffer (``buffer``), so opening one imports this package: the names
below load on first use (PEP 562), as runlite's own do, and a program that never traces does not
import ``api`` and ``context``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:
    from .._defaults import set_default_store
    from .api import Span, current_span, trace, traceable, tracing_context
    from .context import get_current_run_tree

_LAZY = {"set_default_store": "runlite._defaults", "get_current_run_tree": "runlite.tracing.context",
         **dict.fromkeys(("Span", "current_span", "trace", "traceable", "tracing_context"), "runlite.tracing.api")}


__getattr__ = _lazy.names_getter(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Span", "current_span", "get_current_run_tree", "set_default_store", "trace", "traceable",
           "tracing_context"]
