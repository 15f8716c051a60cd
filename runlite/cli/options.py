"""Option values checked as argparse reads them, so a mistake is a usage error in the
command's words ("argument --limit: must be a whole number >= 0, got '-1'"), never a
library call's; and the options several commands share."""

from __future__ import annotations

import argparse
import math
import re
import time
from typing import Callable

from .. import errors
from .._validation import to_us

_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*(s|m|h|d|w)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


_INT64 = 2**63 - 1  # the largest number SQLite (and so a limit) takes


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number from ``low`` (to ``high``; without it, to the largest in 64 bits)."""
    said = f"from {low:,} to {high:,}" if high is not None else f">= {low}"

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {said}, got {text!r}")
        if value > _INT64:
            raise argparse.ArgumentTypeError(f"must be a whole number {said} within 64 bits, got {text!r}")
        return value
    return read


def given(text: str) -> str:
    """Text that is not empty or blank (``runlite show "$UNSET"``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty, got {text!r}")
    return text


def seconds(high: float) -> Callable[[str], float]:
    """A number of seconds above 0, at most ``high``."""
    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"must be seconds above 0 and at most {high:g}, got {text!r}")
        return value
    return read


def moment(text: str) -> float | str:
    """A time: ISO-8601, epoch seconds, or a duration before now (``30d``, ``12h``, ``1.5w``)."""
    if match := _DURATION.fullmatch(text.strip()):
        return time.time() - float(match[1]) * _UNIT_S[match[2]]
    try:
        value: float | str = float(text)
    except ValueError:
        value = text
    try:
        to_us(value)
    except errors.ValidationError:
        raise argparse.ArgumentTypeError(
            f"must be a time: ISO-8601 (2024-05-01T12:00:00Z), epoch seconds, or a duration before now "
            f"(30d, 12h, 1w), got {text!r}") from None
    return value


def add_overwrite(parser: argparse.ArgumentParser, what: str = "the destination") -> None:
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what} when it exists (else an error)")


def add_asking(parser: argparse.ArgumentParser, deletes: str) -> None:
    """``--dry-run`` and ``--yes`` of a command that deletes."""
    parser.add_argument("--dry-run", action="store_true", help=f"say what would be {deletes}; change nothing")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before deleting (needed when stdin is not a terminal)")
