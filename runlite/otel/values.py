"""Attribute values as JSON-able data, and JSON text found in attributes: what the OTel
conventions (``conventions.py``, ``messages.py``) read every value through; and values made
storable as a run's metadata and names. Pure."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .. import errors
from .._validation import (INT64_MAX, INT64_MIN, MAX_DEPTH, MAX_NAME, ValidationError, check_metadata, lenient_text,
                           too_deep)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

SCALARS = frozenset((str, bool, int, float, type(None)))
_STR = frozenset((str,))


def attributes(given: Any) -> dict:
    """A span's (or a resource's) attributes as a new dict of JSON-able values: copied as they
    are when every key is a str and every value a scalar (nearly always), else by `plain`."""
    given = given or {}
    kinds = set(map(type, given.values()))  # (C-level passes: the floats walked only when there are some)
    if kinds <= SCALARS and set(map(type, given)) <= _STR and \
            (float not in kinds or all(math.isfinite(v) for v in given.values() if type(v) is float)):
        return dict(given)
    return {str(k): plain(v, k) for k, v in given.items()}


def plain(value: Any, what: str, depth: int = 0) -> Any:
    """An attribute value (of attribute ``what``) as JSON-able data (sequences as lists, bytes as
    hex, NaN and the infinities by their OTLP/JSON names: `storable_float`)."""
    if isinstance(value, float):
        return storable_float(value)
    if isinstance(value, (str, bool, int)) or value is None:
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
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return False, value
    # Deeper than a run's value may nest once wrapped ({"input": ...}): kept as the text it came
    # as, which a decoded value cut at the depth limit would lose.
    return (False, value) if too_deep(decoded, text, MAX_DEPTH - 2) else (True, decoded)


def clean_name(value: Any, default: str) -> str:
    """A name runlite accepts: no control characters or lone surrogates, at most MAX_NAME
    characters, not blank (``default`` when nothing is left)."""
    if type(value) is str and len(value) <= MAX_NAME and value.isprintable() and value.strip() == value and value:
        return value  # (nearly every name: printable, so no control character or lone surrogate)
    cut = _CONTROL.sub(" ", lenient_text(value if isinstance(value, str) else str(value))).strip()[:MAX_NAME].strip()
    return cut or default


def storable_metadata(values: dict) -> tuple[dict, dict, bool]:
    """A run's metadata of attribute values, as `check_metadata` takes it, the items it
    refuses as too large, and whether the metadata passed `check_metadata` whole (else an item
    may still fail it, for ``remote_run`` to refuse naming the run). An OTel SDK takes values a
    run's metadata refuses (NaN, infinities, ints beyond 64 bits, lone surrogates, keys with
    control characters): those are stored as OTLP's receiver stores them (``"NaN"``,
    ``"Infinity"``, the int's digits) or cleaned (`lenient_text`, `clean_name`), never the span
    refused. It takes any key and text length too: an item with a key over 256 characters or a
    text over 1 MiB is returned apart, for ``extra.otel.attributes``, which has no such limit (a
    span is refused only when it is over 16 MiB of JSON as a whole)."""
    try:
        return check_metadata(values), {}, True
    except errors.LimitError:
        pass
    except ValidationError:
        values = _storable(values, 0)
    fits, too_large = {}, {}
    for key, value in values.items():  # (only for a span with an item too large: one check each)
        try:
            check_metadata({key: value})
        except errors.LimitError:
            too_large[key] = value
        except ValidationError:
            fits[key] = value  # left for remote_run's check, which names the run
        else:
            fits[key] = value
    return fits, too_large, False


def storable_float(value: float) -> float | str:
    """A float as JSON holds it: NaN and the infinities by their names (``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``), as OTLP/JSON writes them."""
    return value if math.isfinite(value) else "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, float):
        return storable_float(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):  # (str() refuses ints of over 4,300 digits)
        return value if INT64_MIN <= value <= INT64_MAX else str(value) if value.bit_length() < 14_000 else \
            f"<an int of {value.bit_length():,} bits>"
    if isinstance(value, str):
        return lenient_text(value)
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            key = _key(k)
            while key in out:  # two keys cleaned alike: neither value is lost
                key += "_"
            out[key] = _storable(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_storable(v, depth + 1) for v in value]
    return value


def _key(key: Any) -> str:
    """A metadata key without control characters (written as their escapes: ``"a\\x00"``, so
    keys that differ by them stay apart) or lone surrogates, not blank; one too long stays so
    (refused whole, as a value too large is)."""
    cleaned = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), lenient_text(str(key)))
    return cleaned if cleaned.strip() else "_"
