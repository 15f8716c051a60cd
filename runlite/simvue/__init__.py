"""Simvue 2.x's public names over runlite: ``import runlite.simvue as simvue`` is the migration.

``Run`` and ``Handler`` are here; ``Client`` (the read API) is imported from ``.client`` when
first asked for.
"""

from __future__ import annotations

from typing import Any

from .handler import Handler
from .run import Run


def __getattr__(name: str) -> Any:
    if name == "Client":
        from .client import Client
        return Client
    raise AttributeError(f"module 'runlite.simvue' has no attribute {name!r}")


__all__ = ["Client", "Handler", "Run"]
