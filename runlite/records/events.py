"""A run's events and saved files as reads return them."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .times import iso


@attrs.frozen
class Event:
    """One event of a run: a Simvue log message or a LangSmith named event."""

    seq: int
    time: _dt.datetime
    level: str | None = None
    name: str | None = None
    message: str | None = None
    kwargs: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{name, time (ISO-8601), message, level, kwargs}`` with unset keys left out."""
        out: dict[str, Any] = {"seq": self.seq, "time": iso(self.time)}
        out.update((k, v) for k in ("name", "message", "level", "kwargs") if (v := getattr(self, k)) is not None)
        return out


@attrs.frozen
class Attachment:
    """A file saved by a run, or bytes attached to it; the content is a blob (by SHA-256)."""

    name: str
    category: str | None
    mime_type: str
    size: int
    sha256: str
    original_path: str | None
    created: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``created`` as ISO-8601)."""
        out = attrs.asdict(self)
        out["created"] = iso(self.created)
        return out
