"""Times as records give them: epoch milliseconds (the LangSmith interface's number for times)
and ISO-8601 text in UTC (Simvue's), and back."""

from __future__ import annotations

import datetime as _dt

from .._validation import from_us

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def epoch_ms(value: _dt.datetime | None) -> float | None:
    """Epoch milliseconds, the LangSmith interface's number for times."""
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds / 1000


def iso(value: _dt.datetime | None) -> str | None:
    """ISO-8601 text, UTC written ``Z``."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def from_epoch_ms(value: float | None) -> _dt.datetime | None:
    return None if value is None else from_us(round(value * 1000))


def from_iso(value: str | None) -> _dt.datetime | None:
    return None if value is None else _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
