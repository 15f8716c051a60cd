"""Which stored traces a push sends: whole traces of the runs a filter chooses, oldest first,
each with its runs parents first. Shared by ``runlite push --langsmith`` and ``--otlp``."""

from __future__ import annotations

import json

from .. import errors
from .._validation import shown


def chosen_traces(store, filter: str | None) -> list[str]:
    """The trace ids of the chosen runs, oldest trace first (ValidationError for a bad filter,
    or a store that is none)."""
    if not callable(getattr(store, "list_runs", None)):
        raise errors.ValidationError(f"store must be a runlite Store, got {shown(store)}")
    found = store.list_runs(filter=filter, select=["trace_id", "kind", "run_type", "dotted_order"])
    firsts: dict[str, str] = {}
    for rec in found:
        if (rec.kind == "trace" or rec.run_type) and rec.trace_id:
            root = rec.dotted_order.split(".", 1)[0]
            if root < firsts.get(rec.trace_id, "\uffff"):
                firsts[rec.trace_id] = root
    return sorted(firsts, key=lambda t: (firsts[t], t))


def trace_runs(store, trace_ids: list[str]) -> list:
    """Every run of these traces, in ``dotted_order`` order (parents before children)."""
    quoted = ", ".join(json.dumps(t) for t in trace_ids)
    runs = store.list_runs(filter=f"in(trace_id, [{quoted}])")
    return sorted(runs, key=lambda rec: (rec.dotted_order, rec.id))
