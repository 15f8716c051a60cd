"""Simvue 2.x input rules: the patterns of ``simvue.models`` and the checks ``simvue.Run`` makes.

Every refusal is a ``SimvueValidationError``: a ``ValueError`` and a ``RuntimeError``, as
Simvue raises ``SimvueRunError``/``RuntimeError`` for what its pydantic models refuse.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import time
from collections.abc import Callable
from typing import Any

from .. import errors

FOLDER_REGEX = r"^/.*"
NAME_REGEX = r"^[a-zA-Z0-9\-\_\s\/\.:]+$"
METRIC_KEY_REGEX = r"^[a-zA-Z0-9\-\_\s\/\.:=><+\(\)%]+$"
TAG_REGEX = METADATA_KEY_REGEX = r"^[\w\-\s\.]+$"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
NUMPY_MIME = "application/vnd.simvue.numpy.v1"
DATAFRAME_MIME = "application/vnd.simvue.df.v1"
JSON_MIME = "application/json"

CATEGORIES = ("input", "output", "code")
NOTIFICATIONS = ("none", "all", "error", "lost")
ALERT_NOTIFICATIONS = ("none", "email")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
ABORT_ON_ALERT = ("run", "terminate", "ignore")

# humanfriendly.parse_timespan's units (Simvue parses retention_period with it)
_UNITS = {
    1e-9: ("ns", "nanosecond", "nanoseconds"), 1e-6: ("us", "microsecond", "microseconds"),
    1e-3: ("ms", "millisecond", "milliseconds"), 1: ("s", "sec", "secs", "second", "seconds"),
    60: ("m", "min", "mins", "minute", "minutes"), 3600: ("h", "hour", "hours"),
    86_400: ("d", "day", "days"), 604_800: ("w", "week", "weeks"),
    31_449_600: ("y", "year", "years"),  # humanfriendly's year is 52 weeks
}
_UNIT_SECONDS = {word: seconds for seconds, words in _UNITS.items() for word in words}


def refuse(message: str) -> errors.SimvueValidationError:
    return errors.SimvueValidationError(message)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_pattern(value: Any, pattern: str, what: str) -> str:
    if not isinstance(value, str) or not re.match(pattern, value):
        raise refuse(f"{what} {_shown(value)} does not match Simvue's pattern {pattern}")
    return value


def check_choice(value: Any, choices: tuple, what: str) -> Any:
    if not isinstance(value, str) or value not in choices:
        raise refuse(f"{what} must be one of {', '.join(map(repr, choices))}; got {_shown(value)}")
    return value


def check_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise refuse(f"{what} must be True or False, got {_shown(value)}")
    return value


_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*")


def lax_int(value: Any) -> Any:
    """An int as Simvue's pydantic models take one in their lax mode: a float without a
    fraction or text of an int becomes that int; anything else is returned as it is, for the
    check that follows to refuse (a bool stays a bool: refused as a step or a count)."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    return value


def lax_number(value: Any) -> Any:
    """A number as Simvue's models take ``int | float`` in their lax mode: text of a number
    (a solver's log parsed) becomes that number; anything else is returned as it is."""
    if isinstance(value, str):
        if _INT_TEXT.fullmatch(value):
            return int(value)
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_positive_int(value: Any, what: str) -> int:
    value = lax_int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise refuse(f"{what} must be a positive int, got {_shown(value)}")
    return value


def check_name(name: Any, what: str = "name") -> str:
    return check_pattern(name, NAME_REGEX, what)


def check_folder(folder: Any) -> str:
    return check_pattern(folder, FOLDER_REGEX, "folder")


def check_tags(tags: Any) -> list:
    if not isinstance(tags, (list, tuple, set)):
        raise refuse(f"tags must be a list of str, got {_shown(tags)}")
    return [check_pattern(tag, TAG_REGEX, "tag") for tag in tags]


def check_metadata(metadata: Any) -> dict:
    if not isinstance(metadata, dict):
        raise refuse(f"metadata must be a dict, got {_shown(metadata)}")
    for key in metadata:
        check_pattern(key, METADATA_KEY_REGEX, "metadata key")
    return metadata


def check_metrics(metrics: Any) -> dict:
    if not isinstance(metrics, dict):
        raise refuse(f"metrics must be a dict of name -> number, got {_shown(metrics)}")
    for key, value in metrics.items():
        check_pattern(key, METRIC_KEY_REGEX, "metric name")
        if type(value).__name__ == "ndarray":
            raise refuse(f"metric {key!r} is an array: Simvue's tensor (grid) metrics are not supported "
                         "by runlite; log scalars")
    return metrics


def check_mime(file_type: Any) -> str:
    """A MIME type Python knows, or Simvue's plotly type (as ``FileArtifact`` checks)."""
    mimetypes.init()
    known = isinstance(file_type, str) and (file_type == PLOTLY_MIME or file_type in set(mimetypes.types_map.values()))
    if not known:
        raise refuse(f"Invalid MIME type {file_type!r} specified")
    return file_type


def parse_timespan(text: Any) -> float:
    """Seconds of a timespan such as ``"5"``, ``"30s"``, ``"1 hour"``, ``"2.5 days"``, as
    ``humanfriendly.parse_timespan`` (Simvue's ``retention_period`` parser) reads it."""
    if not isinstance(text, str):
        raise refuse(f"retention_period must be a string such as '1 hour', got {_shown(text)}")
    tokens = [t.strip() for t in re.split(r"(\d+(?:\.\d+)?)", text) if t.strip()]
    if tokens and re.fullmatch(r"\d+(?:\.\d+)?", tokens[0]):
        if len(tokens) == 1:
            return float(tokens[0])
        if len(tokens) == 2 and tokens[1].lower() in _UNIT_SECONDS:
            return float(tokens[0]) * _UNIT_SECONDS[tokens[1].lower()]
    raise refuse(f"Failed to parse timespan! (input {text!r})")


def check_visibility(visibility: Any) -> Any:
    if visibility is None or visibility in ("public", "tenant"):
        return visibility
    if isinstance(visibility, list) and all(isinstance(user, str) for user in visibility):
        return visibility
    raise refuse(f"visibility must be 'public', 'tenant', a list of user names or None; got {_shown(visibility)}")


def serialize_object(obj: Any) -> tuple[bytes, str] | None:
    """``(bytes, MIME type)`` of an object as Simvue serialises it, never by pickle:
    numpy arrays (``np.save``, ``allow_pickle=False``), pandas DataFrames (CSV), JSON values.
    None when no safe format exists."""
    module, cls = type(obj).__module__, type(obj).__name__
    if module.startswith("numpy") and cls == "ndarray":
        import io

        import numpy as np
        if obj.dtype.hasobject:
            return None  # an object array can only be pickled
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return buf.getvalue(), NUMPY_MIME
    if module.startswith("pandas") and cls == "DataFrame":
        return obj.to_csv().encode(), DATAFRAME_MIME
    import json
    try:
        return json.dumps(obj).encode(), JSON_MIME
    except (TypeError, ValueError):
        return None


def _translated(exc: errors.RunliteError) -> errors.RunliteError:
    """A core error as the RuntimeError-compatible error of the same kind."""
    if isinstance(exc, errors.SimvueRunError):
        return exc
    for core, compat in ((errors.ValidationError, errors.SimvueValidationError),
                         (errors.RunStateError, errors.SimvueStateError),
                         (errors.StoreClosedError, errors.SimvueStateError),
                         (errors.NotFoundError, errors.SimvueNotFoundError)):
        if isinstance(exc, core):
            closed = core is errors.StoreClosedError
            return compat(f"Run is not active: {exc}" if closed else str(exc))
    return exc


def simvue_method(disabled: Any = True, *, initialised: bool = True) -> Callable:
    """Simvue's method wrapper: a no-op returning ``disabled`` in disabled mode, the expired
    retention check, the initialised check, and core errors made RuntimeErrors."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self._mode == "disabled":
                return disabled
            if initialised:
                if self._retention and time.time() - self._timer > self._retention:
                    raise errors.SimvueStateError("Cannot update expired Simvue Run")
                if self._core.id is None:
                    raise errors.SimvueStateError(
                        f"Simvue Run must be initialised before calling '{method.__name__}'")
            try:
                return method(self, *args, **kwargs)
            except errors.RunliteError as exc:
                raised = _translated(exc)
                if raised is exc:
                    raise
                raise raised from exc
        return wrapper
    return decorate
