"""JSON values as run filters compare them, in Python and in SQL.

``json_equal`` is the filters' equality of JSON objects and arrays; every runlite connection
calls it as the SQL function ``JSON_EQUAL`` (``storage/policy.py``), which the compiled filters
name (``query/compile.py``). Apart from the query package, so a connection has it without
loading the filter grammars.
"""

from __future__ import annotations

from typing import Any

# The SQL function, registered on every connection runlite opens (``storage/policy.py``), that
# compares a stored JSON object or array with one of a filter: ``json_equal`` of both parsed.
JSON_EQUAL = "runlite_json_equal"


def is_number(value: Any) -> bool:
    """An int or float, not a bool (JSON tells ``true`` from ``1``; Python does not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Two parsed JSON values equal as filters compare JSON values: numbers by value (``1`` is
    ``1.0``), strings by code point, ``true``, ``false`` and ``null`` only themselves (``true``
    is not ``1``), objects with the same keys in any order and arrays of the same length, each
    member equal to the other's under that key or at that position."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    if is_number(a):
        return is_number(b) and a == b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    return (a is None or isinstance(a, bool)) and a is b
