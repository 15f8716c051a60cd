"""A run and its descendants in SQL: one range of the ``runs_trace`` index.

A descendant's dotted order is its ancestor's followed by ``.`` and more, so a run and its
subtree are the orders from the run's own up to it followed by ``/`` (the character after
``.``), less those continuing with a character before ``.``. Written as one range, SQLite
seeks to it; written as ``id = ? OR (dotted_order in the range)``, it walked the whole trace
for each run asked (deleting 16,000 chosen spans of one trace took 81 s).
"""

from __future__ import annotations

_OWN = ("id", "dotted_order")  # what names the run itself: its id, or its dotted order


def where(table: str = "runs", own: str = "id") -> str:
    """The clause selecting a run and its descendants from ``table`` (an alias runlite writes,
    never a caller's), bound with `values`."""
    if own not in _OWN or not table.isidentifier():
        raise ValueError(f"not a subtree clause runlite writes: {table!r}, {own!r}")
    return (f"{table}.trace_id = ? AND {table}.dotted_order >= ? AND {table}.dotted_order < ?"
            f" AND ({table}.{own} = ? OR {table}.dotted_order > ?)")


def values(trace_id: str, order: str, own: str) -> tuple:
    """The values of `where` for the run of ``trace_id`` and dotted ``order``, itself named by
    ``own`` (its id, or its order again)."""
    return (trace_id, order, order + "/", own, order + ".")
