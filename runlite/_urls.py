"""The URLs runlite is given to send to (a push's endpoint), checked before anything is sent."""

from __future__ import annotations

import urllib.parse
from typing import Any

from ._validation import shown
from .errors import ValidationError

__all__ = ["check_http_url"]


def check_http_url(value: Any, what: str) -> str:
    """An http:// or https:// URL naming a host: at most 2,048 printable characters, no space,
    and one ``urllib`` can take apart (a bracketed host that is no IPv6 address, or a port
    that is no number up to 65,535, makes it raise ValueError)."""
    message = f"{what} must be an http:// or https:// URL, got {shown(value)}"
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable() or " " in value:
        raise ValidationError(message)
    try:
        parts = urllib.parse.urlsplit(value)
        fit = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        fit = False
    if not fit:
        raise ValidationError(message)
    return value
