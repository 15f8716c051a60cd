"""Writing a batch of items that may each fail on their own values (traced spans, runs received
from clients): one such item never holds up the others.

A batch is written in one transaction; a batch that fails is kept and retried by its writer.
Retried, a batch failing on one item's values would fail at every tick, and every item queued
after it would wait behind it for good. So a batch that fails on an item's values is written
an item at a time (a savepoint each), and an item that fails alone is dropped and logged as an
error. A failure of the file (busy, full, failing) fails the whole batch, to be retried.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import apsw

from .._validation import shown
from ..errors import ValidationError

log = logging.getLogger("runlite")

# What one item's values can make a batch raise: a value SQLite cannot bind, a constraint it
# refuses, a value too big, a value runlite's checks refuse.
ONE_ITEM = (TypeError, ValueError, OverflowError, RecursionError, ValidationError, apsw.ConstraintError,
            apsw.TooBigError, apsw.MismatchError)


def write_apart(conn, batch: list, write: Callable[[Any, list], None], named: Callable[[Any], str]) -> None:
    """``write(conn, batch)`` in a savepoint of the caller's transaction; if it fails on one
    item's values, ``write(conn, [item])`` for each item, dropping (and logging, by
    ``named(item)``) those that fail alone."""
    try:
        with conn:
            write(conn, batch)
    except ONE_ITEM:
        for item in batch:
            try:
                with conn:
                    write(conn, [item])
            except ONE_ITEM as exc:
                log.error("runlite: %s could not be written and was dropped: %s: %s", named(item),
                          type(exc).__name__, shown(str(exc)))
