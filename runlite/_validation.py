"""Checks at the public boundary: names, tags, metadata, folders, times, JSON values.

Every check raises ``ValidationError`` naming the argument, the value and the rule, before
anything is written, so a refused call leaves the file as it was.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import time
from typing import Any

from .errors import CorruptStoreError, LimitError, ValidationError

MAX_NAME = 256          # run, metric, tag, metadata-key and alert names
MAX_TEXT = 1 << 20      # descriptions and other free text (1 MiB)
MAX_JSON = 16 << 20     # one JSON document (metadata, inputs, outputs): 16 MiB encoded
MAX_DEPTH = 64          # nesting of JSON values
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut to 80 characters; never raises."""
    try:
        text = repr(value)
    except ValueError:  # an int of over 4300 digits (sys.get_int_max_str_digits), or one inside
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 80 else text[:77] + "..."


def check_text(value: Any, what: str, *, max_len: int = MAX_TEXT, allow_control: bool = True) -> str:
    """A str that encodes as UTF-8 and fits ``max_len`` characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__} {shown(value)}")
    if len(value) > max_len:
        raise LimitError(f"{what} is {len(value)} characters long; at most {max_len} are accepted")
    if _SURROGATE.search(value):
        raise ValidationError(f"{what} {shown(value)} holds a lone surrogate; only valid Unicode is accepted")
    if not allow_control and _CONTROL.search(value):
        raise ValidationError(f"{what} {shown(value)} holds a control character; none are accepted")
    return value


def check_name(value: Any, what: str = "name") -> str:
    """A non-empty name of at most 256 characters without control characters."""
    check_text(value, what, max_len=MAX_NAME, allow_control=False)
    if not value.strip():
        raise ValidationError(f"{what} must not be empty or blank, got {shown(value)}")
    return value


def check_optional_text(value: Any, what: str) -> str | None:
    """None, or text as in ``check_text``."""
    return None if value is None else check_text(value, what)


def check_tags(tags: Any, what: str = "tags") -> list[str]:
    """A list (or tuple/set) of tag names; duplicates are kept in order of first use."""
    if isinstance(tags, (str, bytes)) or not isinstance(tags, (list, tuple, set, frozenset)):
        raise ValidationError(f"{what} must be a list of str, got {type(tags).__name__} {shown(tags)}")
    out: list[str] = []
    for tag in tags:
        check_name(tag, f"tag in {what}")
        if tag not in out:
            out.append(tag)
    return out


def check_folder(path: Any, what: str = "folder") -> str:
    """A folder path ``/a/b/c``: starts with ``/``, non-empty segments; a trailing ``/`` is dropped."""
    check_text(path, what, max_len=4096, allow_control=False)
    if not path.startswith("/"):
        raise ValidationError(f"{what} {shown(path)} must start with '/', e.g. '/' or '/project/sweep'")
    path = path.rstrip("/") or "/"  # "//" is the root too, not an empty folder name
    if path != "/":
        for segment in path.split("/")[1:]:
            if not segment.strip() or segment in (".", ".."):
                raise ValidationError(
                    f"{what} {shown(path)} has an empty, '.' or '..' segment; use '/a/b/c'"
                )
            check_name(segment, f"segment of {what}")
    return path


def folder_ancestors(path: str) -> list[str]:
    """``/a/b`` -> ``['/', '/a', '/a/b']``."""
    if path == "/":
        return ["/"]
    parts = path.split("/")[1:]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def check_json_value(value: Any, what: str, *, depth: int = 0) -> Any:
    """A JSON-able value: str, int (int64), finite float, bool, None, dicts with str keys, lists.

    Returns the value with tuples turned into lists. Non-finite floats are refused here because
    SQLite's JSON functions cannot read them; metric values accept them instead.
    """
    if depth > MAX_DEPTH:
        raise LimitError(f"{what} is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError(f"{what} {shown(value)} is outside the signed 64-bit range")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(
                f"{what} is {value!r}; metadata values must be finite (log NaN/inf as metrics)"
            )
        return float(value)
    if isinstance(value, str):
        return check_text(value, what)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"keys of {what} must be str, got {type(key).__name__} {shown(key)}")
            check_name(key, f"key of {what}")
            out[key] = check_json_value(item, f"{what}[{key!r}]", depth=depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [check_json_value(item, f"{what}[{i}]", depth=depth + 1) for i, item in enumerate(value)]
    raise ValidationError(
        f"{what} has a {type(value).__name__} {shown(value)}; accepted are str, int, float, bool, "
        "None, and dicts/lists of those"
    )


def check_metadata(metadata: Any, what: str = "metadata") -> dict:
    """A dict of name -> JSON value (see ``check_json_value``)."""
    if not isinstance(metadata, dict):
        raise ValidationError(f"{what} must be a dict, got {type(metadata).__name__} {shown(metadata)}")
    return check_json_value(metadata, what)


def dumps(value: Any, what: str = "value") -> str:
    """Compact JSON for a checked value; refuses documents over ``MAX_JSON``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if len(text) > MAX_JSON:
        raise LimitError(f"{what} is {len(text)} characters as JSON; at most {MAX_JSON} are accepted")
    return text


def _lenient(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return "<too deep>"
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        try:
            return str(value)
        except ValueError:  # over 4300 digits: int -> str is refused
            return shown(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {str(k): _lenient(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_lenient(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a program value whose repr fails is still recorded
        return f"<{type(value).__name__}>"


def dumps_lenient(value: Any, what: str = "value") -> str:
    """JSON for arbitrary program values (trace inputs/outputs): anything else becomes its repr."""
    text = json.dumps(_lenient(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _SURROGATE.sub("\ufffd", text)
    if len(text) > MAX_JSON:
        raise LimitError(f"{what} is {len(text)} characters as JSON; at most {MAX_JSON} are accepted")
    return text


def now_us() -> int:
    """Now, in microseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1000


def to_us(value: Any, what: str = "timestamp") -> int:
    """A datetime, an ISO-8601 string, or epoch seconds -> microseconds since the epoch (UTC).

    Naive datetimes and strings without an offset are taken as UTC.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a datetime, ISO-8601 str or epoch seconds, got {value!r}")
    if isinstance(value, (int, float)):
        if not abs(value) <= 1e11:  # also NaN, inf, and ints too large for a float
            raise ValidationError(f"{what} {shown(value)} is not a plausible epoch time in seconds")
        return round(value * 1_000_000)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"{what} {shown(value)} is not ISO-8601; use e.g. '2024-05-01T12:30:00.123456Z'"
            ) from None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise ValidationError(
        f"{what} must be a datetime, ISO-8601 str or epoch seconds, got {type(value).__name__} {shown(value)}"
    )


_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_FAST_US = 4 * 10**15  # until ~2096 a float of seconds is within 0.5 us: fromtimestamp is exact


def from_us(us: int | None) -> _dt.datetime | None:
    """Microseconds since the epoch -> an aware UTC datetime (None stays None)."""
    if us is None:
        return None
    try:
        if 0 <= us < _FAST_US:
            return _dt.datetime.fromtimestamp(us / 1e6, _UTC)
        return _EPOCH + _dt.timedelta(microseconds=us)
    except (TypeError, ValueError, OverflowError):  # only a damaged file holds such a stored time
        raise CorruptStoreError(f"a stored time {us!r:.40} is not microseconds since the epoch") from None


def stored_json(text: Any) -> Any:
    """Decode a JSON value runlite stored; anything undecodable (a damaged cell: SQLite pages
    carry no checksum, and a flipped type byte can turn TEXT into an INTEGER) is a CorruptStoreError."""
    if not isinstance(text, str):
        raise CorruptStoreError(f"a stored JSON value is {type(text).__name__} {shown(text)}, not text")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CorruptStoreError(f"a stored JSON value cannot be decoded ({exc}): {shown(text)}") from None


def check_choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (a str: ``value in choices`` alone would call a foreign ``__eq__``)."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{what} must be one of {', '.join(map(repr, choices))}; got {shown(value)}")
    return value
