"""HTML views of a store: self-contained reports and the local read-only viewer.

``Viewer(store).get(path)`` gives a viewer page's bytes with no I/O, for desktop tools that
embed the pages (imported lazily: the viewer's modules load only when asked for).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Viewer"]


def __getattr__(name: str) -> Any:
    if name == "Viewer":
        from .viewer import Viewer

        return Viewer
    raise AttributeError(f"module 'runlite.ui' has no attribute {name!r}")
