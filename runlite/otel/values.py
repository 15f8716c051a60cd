"""Attribute values as JSON-able data, and JSON text found in attributes: what the OTel
conventions (``conventions.py``, ``messages.py``) read every value through. Pure."""

from __future__ import annotations

import json
from typing import Any

from .. import errors
from .._validation import MAX_DEPTH

SCALARS = frozenset((str, bool, int, float, type(None)))


def attributes(given: Any) -> dict:
    """A span's (or a resource's) attributes as a new dict of JSON-able values: copied as they
    are when every key is a str and every value a scalar (nearly always), else by `plain`."""
    given = given or {}
    if SCALARS.issuperset(map(type, given.values())) and all(type(k) is str for k in given):
        return dict(given)
    return {str(k): plain(v, k) for k, v in given.items()}


def plain(value: Any, what: str, depth: int = 0) -> Any:
    """An attribute value (of attribute ``what``) as JSON-able data (sequences as lists, bytes as hex)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if depth >= MAX_DEPTH:
        raise errors.LimitError(f"attribute {what!r} is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__"):
        return [plain(v, what, depth + 1) for v in value]
    return str(value)


def from_json(value: Any, containers_only: bool = False) -> tuple[bool, Any]:
    """``(True, decoded)`` when ``value`` is JSON text (only objects and arrays with ``containers_only``)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or (containers_only and not (text[:1] in "[{" and text[-1:] in "]}")):
        return False, value
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, value
