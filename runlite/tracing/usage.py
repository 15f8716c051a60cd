"""LangSmith ``usage_metadata`` -> a run's token and cost fields, in one place.

LangSmith carries an LLM call's usage as ``extra.metadata.usage_metadata`` (the SDK's
``ExtractedUsageMetadata``: ``input_tokens``, ``output_tokens``, ``total_tokens``, their
``*_token_details``, and the ``*_cost`` fields with their ``*_cost_details``), and its server
derives the run's ``prompt_tokens``/``completion_tokens``/``total_tokens`` and
``prompt_cost``/``completion_cost``/``total_cost`` from it. ``usage_fields`` is that
derivation: ``Span.set_usage``, a traced function's returned ``usage_metadata`` and the HTTP
server's LangSmith payloads all use it, so the three agree.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from ..errors import RunliteError, ValidationError
from .._validation import INT64_MAX, check_metadata, shown

log = logging.getLogger("runlite")

# The keys the SDK accepts (langsmith/run_trees.py validate_extracted_usage_metadata).
COUNTS = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens", "total_tokens": "total_tokens"}
COSTS = {"input_cost": "prompt_cost", "output_cost": "completion_cost", "total_cost": "total_cost"}
DETAILS = ("input_token_details", "output_token_details", "input_cost_details", "output_cost_details")
ALLOWED = frozenset(COUNTS) | frozenset(COSTS) | frozenset(DETAILS)


def number(value: Any, what: str, whole: bool) -> int | float:
    """A token count (``whole``: an int a SQLite INTEGER holds) or a cost (a finite float), >= 0."""
    # Compared, never converted, until known to fit: float() of an int of 400 digits raises.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == math.inf:
        raise ValidationError(f"{what} must be a finite number >= 0, got {shown(value)}")
    if whole:
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(f"{what} must be a whole number of tokens, got {shown(value)}")
        if value > INT64_MAX:
            raise ValidationError(f"{what} {shown(value)} is beyond the signed 64-bit range of a count")
        return int(value)
    if value > sys.float_info.max:
        raise ValidationError(f"{what} {shown(value)} is beyond the range of a float64 cost")
    return float(value)


def usage_fields(usage_metadata: dict) -> dict:
    """The run fields LangSmith derives from ``usage_metadata``.

    Returns any of ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` (ints) and
    ``prompt_cost``, ``completion_cost``, ``total_cost`` (floats): ``input_*`` -> ``prompt_*``,
    ``output_*`` -> ``completion_*``; a missing total is the sum of the parts given. The
    ``*_details`` dicts are checked (names -> numbers >= 0) and stay in the metadata only.

    Raises ``ValidationError`` for a value that is not a dict, a key the SDK does not accept,
    or a count or cost that is negative, not finite or not a number (counts must be whole).
    """
    if not isinstance(usage_metadata, dict):
        raise ValidationError(f"usage_metadata must be a dict, got {type(usage_metadata).__name__}")
    unknown = [key for key in usage_metadata if key not in ALLOWED]
    if unknown:
        raise ValidationError(f"usage_metadata has unknown keys {shown(sorted(map(str, unknown)))}; "
                              f"accepted: {', '.join(sorted(ALLOWED))}")
    out: dict = {}
    for table, whole in ((COUNTS, True), (COSTS, False)):
        parts = []
        for key, field in table.items():
            value = usage_metadata.get(key)
            if value is None:
                continue
            # A count that is an int64 >= 0 (nearly all) is taken as it is, without a call.
            out[field] = value if whole and type(value) is int and 0 <= value <= INT64_MAX else \
                number(value, f"usage_metadata[{key!r}]", whole)
            if not key.startswith("total"):
                parts.append(out[field])
        total = "total_tokens" if whole else "total_cost"
        if total not in out and parts:
            out[total] = number(sum(parts), f"{total} (the sum of the parts given)", whole)
    for key in DETAILS:
        details = usage_metadata.get(key)
        if details is None:
            continue
        if not isinstance(details, dict):
            raise ValidationError(f"usage_metadata[{key!r}] must be a dict, got {type(details).__name__}")
        for name, value in details.items():
            if not isinstance(name, str):
                raise ValidationError(f"keys of usage_metadata[{key!r}] must be str, got {shown(name)}")
            if value is not None:
                number(value, f"usage_metadata[{key!r}][{name!r}]", "token" in key)
    return out


def take_usage(span: Any, usage: Any) -> None:
    """A traced function returned ``usage``: it goes to ``metadata["usage_metadata"]`` (any run
    type, as the SDK's ``_container_end``), and an llm span's token and cost fields are derived
    from it. A value that cannot be used is logged: the traced call never fails for it."""
    try:
        span.metadata["usage_metadata"] = check_metadata(usage, "usage_metadata")
        if span.run_type == "llm":
            span.usage.update(usage_fields(usage))
    except RunliteError as exc:
        log.warning("usage_metadata of span %s (%s) not used: %s", span.name, span.id, exc)
