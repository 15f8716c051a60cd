"""Checks at the public boundary: names, tags, metadata, folders, times, JSON values.

Every check raises ``ValidationError`` naming the argument, the value and the rule, before
anything is written, so a refused call leaves the file as it was.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import math
import numbers
import operator
import os
import pathlib
import re
import time
from itertools import repeat
from typing import Any

from . import _lazy
from .errors import CorruptStoreError, LimitError, ValidationError

decimal, uuid = _lazy.module("decimal"), _lazy.module("uuid")  # for the lenient JSON walk alone

MAX_NAME = 256          # run, metric, tag, metadata-key and alert names
MAX_TEXT = 1 << 20      # descriptions and other free text (1 MiB)
MAX_JSON = 16 << 20     # one JSON document (metadata, inputs, outputs): 16 MiB encoded
MAX_DEPTH = 64          # nesting of JSON values
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _Text(str):
    """Literal text on ``shown``'s stack (a value that is itself a str is shown quoted)."""


_BRACKETS = ((dict, "{", "}"), (list, "[", "]"), (tuple, "(", ")"), (frozenset, "frozenset({", "})"),
             (set, "{", "}"))


def _atom(value: Any, limit: int) -> str:
    """The text of a value that is not walked as a container, at most ``limit`` characters
    of its content: a str or bytes is sliced before ``repr``, so a huge one costs nothing."""
    if isinstance(value, str):
        return repr(str.__getitem__(value, slice(0, limit)))
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value[:limit]))
    if isinstance(value, int) and not isinstance(value, bool) and type(value).__repr__ is int.__repr__:
        try:
            return int.__repr__(value)
        except ValueError:  # over 4300 digits (sys.get_int_max_str_digits)
            return f"<{type(value).__name__} too large to show>"
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a foreign __repr__ may raise anything, RecursionError included
        return f"<{type(value).__name__}>"


def digits(text: Any, most: int) -> int | None:
    """The whole number ``text`` writes in 1 to ``most`` ASCII digits, else None. (``str.isdigit``
    alone also takes other scripts' digits, and '²', which ``int`` refuses.)"""
    if isinstance(text, str) and 0 < len(text) <= most and text.isascii() and text.isdigit():
        return int(text)
    return None


def shown(value: Any, limit: int = 80) -> str:
    """A value for an error message, like ``repr`` but cut to ``limit`` characters; never raises.

    Containers (dict, list, tuple, set) are walked with an explicit stack and only until the
    text is ``limit`` characters long: a value nested 100,000 levels deep, a list of 10**8
    items or a 1 GB string costs what a short one does (``repr`` would recurse, or build the
    whole text first). Other objects get their own ``repr``, cut.
    """
    out: list[str] = []
    size = steps = 0
    stack: list[Any] = [value]
    while stack and size <= limit and steps < 4 * limit:  # every other step adds text
        steps += 1
        item = stack.pop()
        if type(item) is _Text:
            piece = item
        elif type(item) is _Walk:
            piece = item.next(stack)
        else:
            for kind, opening, closing in _BRACKETS:
                if isinstance(item, kind):
                    if not kind.__len__(item):
                        piece = f"{kind.__name__}()" if kind in (set, frozenset) else opening + closing
                    else:
                        if kind is tuple and tuple.__len__(item) == 1:
                            closing = ",)"
                        items = dict.items(item) if kind is dict else kind.__iter__(item)
                        stack.append(_Walk(iter(items), closing, kind is dict))
                        piece = opening
                    break
            else:
                piece = _atom(item, limit)
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    if stack or len(text) > limit:
        return text[:max(0, limit - 3)] + "..."
    return text


class _Walk:
    """``shown``'s place inside one container: the items left, and how the container ends."""

    __slots__ = ("items", "closing", "pairs", "started")

    def __init__(self, items: Any, closing: str, pairs: bool):
        self.items, self.closing, self.pairs, self.started = items, closing, pairs, False

    def next(self, stack: list) -> str:
        """Push the next item (and this walk, to come back to); the separator, or the closing."""
        try:
            item = next(self.items)
        except StopIteration:
            return self.closing
        except Exception:  # noqa: BLE001 - a container changed while being shown
            return "..."
        stack.append(self)
        if self.pairs:
            key, item = item
            stack += [item, _Text(": "), key]
        else:
            stack.append(item)
        separator = ", " if self.started else ""
        self.started = True
        return separator


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
            # A printable str (no control character, no lone surrogate) that is not blank is a
            # name, checked without a call and the text of its path: a run's metadata is
            # checked at every init, a trace's at every span. Any other key takes the full check.
            if type(key) is not str or not (key.isprintable() and len(key) <= MAX_NAME and key.strip()):
                if not isinstance(key, str):
                    raise ValidationError(f"keys of {what} must be str, got {type(key).__name__} {shown(key)}")
                check_name(key, f"key of {what}")
            # So are most values: a finite float, an int64, None, or ASCII text within MAX_TEXT.
            kind = type(item)
            if (kind is float and item - item == 0.0) or (kind is int and INT64_MIN <= item <= INT64_MAX) \
                    or item is None or (kind is str and item.isascii() and len(item) <= MAX_TEXT):
                out[key] = item
            else:
                out[key] = check_json_value(item, f"{what}[{key!r}]", depth=depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [check_json_value(item, f"{what}[{i}]", depth=depth + 1) for i, item in enumerate(value)]
    item = scalar_item(value)  # np.float32(0.1), np.int64(3), a 0-d tensor: the number they hold
    if item is not value:
        return check_json_value(item, what, depth=depth)
    raise ValidationError(
        f"{what} has a {type(value).__name__} {shown(value)}; accepted are str, int, float, bool, "
        "None, dicts/lists of those, and numpy or torch scalars (0-d values with item())"
    )


def is_real(value: Any) -> bool:
    """A real number to take as one: not a bool, nor numpy's timedelta64 (registered as an
    Integral, which ``int()`` and ``float()`` refuse) or datetime64."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and getattr(getattr(value, "dtype", None), "kind", None) not in ("m", "M"))


def scalar_item(value: Any) -> Any:
    """The Python bool, int, float or str a numpy scalar, or a 0-d array or tensor, holds
    (its ``item()``, when its ``shape`` is ``()``); anything else is returned unchanged.

    Duck-typed, so numpy and torch are never imported here; ``np.float32(0.1)`` becomes the
    float it holds exactly (0.10000000149011612), a number stays a number.
    """
    if getattr(type(value), "item", None) is None:
        return value
    try:
        shape = value.shape
        if not isinstance(shape, tuple) or len(shape) != 0:
            return value
        item = value.item()
    except Exception:  # noqa: BLE001 - a foreign object's shape or item() may raise anything
        return value
    return item if type(item) in (bool, int, float, str) else value


def check_metadata(metadata: Any, what: str = "metadata") -> dict:
    """A dict of name -> JSON value (see ``check_json_value``)."""
    if not isinstance(metadata, dict):
        raise ValidationError(f"{what} must be a dict, got {type(metadata).__name__} {shown(metadata)}")
    return check_json_value(metadata, what)


def _plain_encoder():
    """Compact JSON, no NaN, made once: ``json.dumps`` with options builds an encoder at every
    call, and ``JSONEncoder.encode`` a C encoder (half the time of a small dict). The C encoder
    is kept and called directly, without the circular-reference check: every value ``dumps``
    takes was checked (nesting bounded), and a cycle given to `dumps_lenient` raises
    RecursionError and takes the walk, which cuts it at its depth limit. Returns (one value ->
    text, many values -> their texts)."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python): the encoder's own method
        return encoder.encode, lambda values: list(map(encoder.encode, values))
    encode = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    join = "".join

    def many(values):  # C-level loops: ~1 us a value saved over a Python loop
        return list(map(join, map(encode, values, repeat(0, len(values)))))

    return (lambda value: join(encode(value, 0))), many


# json_texts: plain JSON of each value at once (TypeError, ValueError or RecursionError where
# the encoder refuses one), for the span writer's columns.
_encode, json_texts = _plain_encoder()


def dumps(value: Any, what: str = "value") -> str:
    """Compact JSON for a checked value; refuses documents over ``MAX_JSON``."""
    text = _encode(value)
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
        return {_lenient_key(k): _lenient(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_lenient(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        plain = _plain(value)
        return repr(value) if plain is value else _lenient(plain, depth + 1)
    except Exception:  # noqa: BLE001 - a program value whose repr fails is still recorded
        return f"<{type(value).__name__}>"


def _plain(value: Any) -> Any:
    """What the LangSmith SDK writes of a value JSON has no form for (``_serialize_json``): a
    pydantic model's JSON fields, a dataclass's fields, a date's or time's ISO text, a UUID's or
    path's text, an enum's value, a Decimal as a number, an exception as its type and message, a
    numpy scalar or small array (up to 10,000 values) as its values; ``value`` itself for the
    rest, written as its repr (a large array's is numpy's summary)."""
    kind = type(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump) and kind is not type:
        try:
            return dump(exclude_none=True, mode="json")
        except Exception:  # noqa: BLE001 - as the SDK, a model that cannot dump itself is shown
            return value
    if hasattr(kind, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in kind.__dataclass_fields__}
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, BaseException):
        return {"error": kind.__name__, "message": str(value)}
    if isinstance(value, (uuid.UUID, pathlib.PurePath)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return int(value) if value.as_tuple().exponent >= 0 else float(value)
    if kind.__module__ == "numpy" and callable(getattr(value, "tolist", None)) and getattr(value, "size", 0) <= 10_000:
        return value.tolist()
    return value


def _lenient_key(key: Any) -> str:
    """A dict key as text: as JSON writes the keys it takes (``true``, ``null``, ``1.5``), else
    ``str(key)``, or its bounded ``shown`` form when that fails (a key such as a tuple nested
    thousands deep makes ``str`` recurse)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else "true" if key else "false"
    try:
        if isinstance(key, float) and math.isfinite(key):
            return float.__repr__(key)
        if isinstance(key, int):
            return int.__repr__(key)  # (ValueError past 4,300 digits)
        return str(key)
    except Exception:  # noqa: BLE001 - a program value whose str fails is still recorded
        return shown(key)


# Every digit as "0": JSON text holding _LONG_DIGITS then holds an integer of 19 digits or more
# (a float's repr never has so many in a row), maybe beyond int64, which the lenient walk
# writes as a string. (A translate and a find: twice as fast as a regular expression. Of the
# UTF-8 bytes: str.translate takes 5x as long on ASCII text and 25x on any other, and no byte
# of a character beyond ASCII is a digit's; lone surrogates pass as their three bytes.)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


def walk_needed(texts: list[str]) -> bool:
    """Whether any of the plain JSON ``texts`` may differ from what `dumps_lenient`'s walk
    writes: an integer maybe beyond int64, or more brackets than ``MAX_DEPTH`` (nesting the
    walk cuts). C-level passes only, over all texts at once; a false alarm costs the walk.
    Texts too short to hold that many brackets or digits (a traced call's few arguments) are
    passed on their lengths alone."""
    longest = max(map(len, texts), default=0)
    if longest < len(_LONG_DIGITS):  # fewer characters than either needs
        return False
    brackets = map(operator.add, map(str.count, texts, repeat("[")), map(str.count, texts, repeat("{")))
    return ((longest > MAX_DEPTH and max(brackets, default=0) > MAX_DEPTH)
            or _LONG_DIGITS in "\n".join(texts).encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO))


def dumps_lenient(value: Any, what: str = "value") -> str:
    """JSON for arbitrary program values (trace inputs/outputs): anything else becomes its repr.

    Plain JSON first (the C encoder, several times faster than the walk), kept when the walk
    would write the same text: the encoder took the value (no NaN, no other object) and
    `walk_needed` finds nothing to change."""
    try:
        text = _encode(value)
    except (TypeError, ValueError, RecursionError):  # also a cycle, and an int of over 4,300 digits
        text = None
    if text is None or walk_needed([text]):
        text = _encode(_lenient(value))
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    if len(text) > MAX_JSON:
        raise LimitError(f"{what} is {len(text)} characters as JSON; at most {MAX_JSON} are accepted")
    return text


# Microseconds since the epoch that a datetime can hold (0001-01-01 to 9999-12-31 in UTC):
# reads turn stored times into datetimes (``from_us``), so no input may fall outside, and a
# stored integer outside is a damaged cell.
EARLIEST_US, LATEST_US = -62_135_596_800_000_000, 253_402_300_799_999_999


def lenient_text(value: Any) -> str:
    """Any program value as text UTF-8 can hold: a str as it is, anything else as its repr
    (``shown`` when that fails), a lone surrogate as U+FFFD (SQLite's text is UTF-8)."""
    if not isinstance(value, str):
        try:
            value = repr(value)
        except Exception:  # noqa: BLE001 - a program value whose repr fails is still recorded
            value = shown(value)
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def now_us() -> int:
    """Now, in microseconds since the Unix epoch (UTC)."""
    return time.time_ns() // 1000


def to_us(value: Any, what: str = "timestamp", *, local_strings: bool = False) -> int:
    """A datetime, an ISO-8601 string, or epoch seconds -> microseconds since the epoch (UTC).

    Naive datetimes and strings without an offset are taken as UTC; with ``local_strings`` a
    string without an offset is local time. (Simvue's docstrings promise local time, but
    simvue 2.6.2 sends such a string unchanged, read as UTC: its ``Run`` calls use UTC.)
    """
    given = value
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a datetime, ISO-8601 str or epoch seconds, got {value!r}")
    if isinstance(value, (int, float)):
        if not EARLIEST_US / 1e6 <= value <= 1e11:  # also NaN, inf, and ints too large for a float
            raise ValidationError(f"{what} {shown(value)} is not a plausible epoch time in seconds (from"
                                  f" {EARLIEST_US // 10**6}, 0001-01-01, to 1e11, the year 5138)")
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
        if local_strings and value.tzinfo is None:
            try:  # the local zone's offset at that date (DST included)
                value = value.astimezone()
            except (OverflowError, OSError, ValueError):  # beyond what the platform's localtime knows
                raise ValidationError(f"{what} {shown(value)} cannot be read as local time") from None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        if not EARLIEST_US <= us <= LATEST_US:  # an offset took it past year 1 or 9999 in UTC
            raise ValidationError(f"{what} {shown(given)} is outside 0001-01-01 to 9999-12-31 in UTC")
        return us
    raise ValidationError(
        f"{what} must be a datetime, ISO-8601 str or epoch seconds, got {type(value).__name__} {shown(value)}"
    )


_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
FAST_US = 4 * 10**15  # until ~2096 a float of seconds is within 0.5 us: fromtimestamp is exact


def from_us(us: int | None) -> _dt.datetime | None:
    """Microseconds since the epoch -> an aware UTC datetime (None stays None)."""
    if us is None:
        return None
    try:
        if 0 <= us < FAST_US:
            return _dt.datetime.fromtimestamp(us / 1e6, _UTC)
        return _EPOCH + _dt.timedelta(microseconds=us)
    except (TypeError, ValueError, OverflowError):  # only a damaged file holds such a stored time
        raise CorruptStoreError(f"a stored time {shown(us, 40)} is not microseconds since the epoch") from None


# Runlite writes JSON values at most MAX_DEPTH + 2 containers deep (a checked value inside one
# wrapper such as ``ls_fields``); reads refuse what is deeper than twice MAX_DEPTH. That leaves
# room for what older versions wrote, while anything a read returns stays far below the
# interpreter's recursion limit (1000), so code that walks it recursively (json.dumps, repr,
# a caller's own) works. Deeper JSON in the file is damage or a hostile file.
MAX_STORED_DEPTH = 2 * MAX_DEPTH


def too_deep(value: Any, text: str, limit: int = MAX_STORED_DEPTH) -> bool:
    """Whether ``value``, decoded from ``text``, nests containers over ``limit`` deep.

    Counting brackets in ``text`` (a C scan) clears nearly every value without walking it:
    a value cannot be deeper than it has opening brackets. The walk uses an explicit stack.
    """
    if not isinstance(value, (dict, list)) or text.count("[") + text.count("{") <= limit:
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def stored_json(text: Any, what: str = "a stored JSON value") -> Any:
    """Decode a JSON value runlite stored; anything undecodable (a damaged cell: SQLite pages
    carry no checksum, and a flipped type byte can turn TEXT into an INTEGER) or nested deeper
    than ``MAX_STORED_DEPTH`` is a CorruptStoreError naming ``what``."""
    if not isinstance(text, str):
        raise CorruptStoreError(f"{what} is {type(text).__name__} {shown(text)}, not text")
    try:
        value = json.loads(text)
    except RecursionError:  # the decoder recurses per level: deep nesting exhausts the stack
        value = None
    except ValueError as exc:
        raise CorruptStoreError(f"{what} cannot be decoded ({exc}): {shown(text)}") from None
    else:
        if not too_deep(value, text):
            return value
    raise CorruptStoreError(f"{what} is nested deeper than {MAX_STORED_DEPTH} levels (runlite writes at most "
                            f"{MAX_DEPTH + 2}): {shown(text)}")


def check_choice(value: Any, what: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (a str: ``value in choices`` alone would call a foreign ``__eq__``)."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{what} must be one of {', '.join(map(repr, choices))}; got {shown(value)}")
    return value


def one_or_many(value: Any, what: str) -> list:
    """``value`` as a list: one str, or any iterable of items (each checked by the caller)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (bytes, dict)):
        try:
            return list(value)
        except TypeError:  # not iterable (None, True, a number, a 0-d array)
            pass
    raise ValidationError(f"{what} must be a str or a list of them, got {shown(value)}")


def check_path(value: Any, what: str = "path") -> str:
    """A file path (str or os.PathLike) this file system can name: not empty, no NUL, no lone
    surrogate it cannot encode."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValidationError(f"{what} must be a non-empty file path (str or os.PathLike), got {shown(value)}")
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {shown(value)} holds characters no file name here can hold") from None
    return value


def check_progress(progress: Any) -> Any:
    """None, or a callable ``progress(done, total)``."""
    if progress is not None and not callable(progress):
        raise ValidationError(f"progress must be a callable progress(done, total) or None, got {shown(progress)}")
    return progress
