"""Reads behind the viewer's trace pages: a trace's compact span tree, per-trace totals and a
page of traces sorted by start, latency, tokens or cost.

A span's tokens are its ``prompt_tokens``/``completion_tokens``/``total_tokens`` columns (what
``Span.set_usage``, a returned ``usage_metadata`` and LangSmith payloads fill). An ``llm`` span
without them may still carry its usage in its outputs, as an OpenAI response (``usage``), a
LangChain result (``llm_output.token_usage``) or LangSmith's ``usage_metadata``: those are read
here too (``USAGE_PATHS``), so a trace whose tokens never reached the columns is not shown with
0 tokens.

A trace's tokens (and cost) are those of its llm spans summed, as LangSmith counts them; only a
trace with no llm span that has any sums its other spans' (a ``trace`` whose own usage was set).
So a chain that carries its children's roll-up, as LangSmith exports give them, is not counted
twice (``rollup_sum``). Sorted by tokens or cost, any page sums every trace's spans: the order
is kept while the file is unchanged (``kept_reads``), and the next page is a slice of it.
"""

from __future__ import annotations

import array

from .. import query
from ..query.ast import FIELDS
from .._host import effective_status
from . import kept_reads, subtrees

# JSON paths in an llm span's outputs that hold its usage when its columns are empty.
USAGE_PATHS = {
    "prompt": ("$.usage_metadata.input_tokens", "$.usage.prompt_tokens", "$.usage.input_tokens",
               "$.llm_output.token_usage.prompt_tokens"),
    "completion": ("$.usage_metadata.output_tokens", "$.usage.completion_tokens", "$.usage.output_tokens",
                   "$.llm_output.token_usage.completion_tokens"),
    "total": ("$.usage_metadata.total_tokens", "$.usage.total_tokens", "$.llm_output.token_usage.total_tokens"),
    "cost": ("$.usage_metadata.total_cost",),
}
# An llm span whose columns say nothing of its usage, with outputs SQLite can read as JSON that
# may name a usage. Every path above passes through a key holding "usage"; valid JSON text spells
# such a key out or escapes a letter of it (\u): outputs with neither are not parsed (a parse
# and a dozen path lookups a span, for the many llm spans whose outputs say nothing of usage).
_FALLBACK = ("{a}.run_type = 'llm' AND {a}.total_tokens IS NULL AND {a}.prompt_tokens IS NULL"
             " AND {a}.outputs IS NOT NULL AND (instr({a}.outputs, 'usage') OR instr({a}.outputs, '\\u'))"
             " AND json_valid({a}.outputs)")


def _number_at(path: str, a: str) -> str:
    # only numbers count: a string or an object at the path is no token count
    return (f"(CASE WHEN json_type({a}.outputs, '{path}') IN ('integer', 'real')"
            f" THEN json_extract({a}.outputs, '{path}') END)")


def _from_outputs(kind: str, a: str) -> str:
    parts = [_number_at(p, a) for p in USAGE_PATHS[kind]]
    return parts[0] if len(parts) == 1 else "coalesce(" + ", ".join(parts) + ")"


def usage_sql(a: str = "runs") -> dict[str, str]:
    """SQL expressions over the runs alias ``a`` (a fixed name, never user text) of a span's own
    prompt, completion and total tokens and its total cost (columns first, then its outputs)."""
    fallback = _FALLBACK.format(a=a)
    prompt = f"coalesce({a}.prompt_tokens, CASE WHEN {fallback} THEN {_from_outputs('prompt', a)} END)"
    completion = f"coalesce({a}.completion_tokens, CASE WHEN {fallback} THEN {_from_outputs('completion', a)} END)"
    total = (f"coalesce({a}.total_tokens, {a}.prompt_tokens + {a}.completion_tokens, CASE WHEN {fallback} THEN"
             f" coalesce({_from_outputs('total', a)}, {_from_outputs('prompt', a)} + {_from_outputs('completion', a)})"
             " END)")
    cost = (f"coalesce({a}.total_cost, {a}.prompt_cost + {a}.completion_cost,"
            f" CASE WHEN {fallback} THEN {_from_outputs('cost', a)} END)")
    return {"prompt": prompt, "completion": completion, "total": total, "cost": cost}


_USAGE = usage_sql("runs")


def rollup_sum(value: str, a: str = "runs") -> str:
    """An aggregate of ``value`` over a trace's spans: its llm spans' sum, else (none has one)
    every span's (``sum`` is NULL over no values)."""
    return f"coalesce(sum(CASE WHEN {a}.run_type = 'llm' THEN {value} END), sum({value}))"
TREE_FIELDS = ("id", "parent_run_id", "name", "run_type", "kind", "status", "started", "ended", "error",
               "depth", "prompt_tokens", "completion_tokens", "total_tokens", "total_cost", "first_token_time")
_TREE_SQL = (
    "SELECT runs.id, runs.parent_run_id, substr(runs.name, 1, 300), runs.run_type, runs.kind, runs.status,"
    " runs.host, runs.pid, runs.heartbeat, runs.heartbeat_timeout, coalesce(runs.started, runs.created),"
    " runs.ended, substr(runs.error, 1, 200),"
    " length(runs.dotted_order) - length(replace(runs.dotted_order, '.', '')) - ?,"
    f" {_USAGE['prompt']}, {_USAGE['completion']}, {_USAGE['total']}, {_USAGE['cost']},"
    # the first token: LangSmith's field, else the span's first new_token event (runlite's tracing)
    " coalesce(runs.first_token_time, (SELECT min(e.time) FROM events AS e WHERE e.run_id = runs.id"
    " AND e.name = 'new_token'))"
    f" FROM runs WHERE {subtrees.where()} ORDER BY runs.dotted_order LIMIT ?")


def tree(conn, run_id: str, limit: int, now: int) -> tuple[list[tuple], int] | None:
    """The compact tree under ``run_id`` (itself first, then its descendants in execution
    order): tuples of ``TREE_FIELDS`` (times in microseconds, ``depth`` from ``run_id``,
    ``status`` with ``lost`` computed, ``error`` its first 200 characters or None, names cut to
    300 characters,
    ``first_token_time`` the field or the first ``new_token`` event), at most
    ``limit`` of them, and how many spans the subtree has. None when there is no such run."""
    row = conn.execute("SELECT trace_id, dotted_order FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    trace_id, order = row
    base = order.count(".")
    out = []
    for (rid, parent, name, run_type, kind, status, host, pid, beat, timeout, started, ended, error, depth,
         prompt, completion, total, cost, first) in conn.execute(
            _TREE_SQL, (base, *subtrees.values(trace_id, order, run_id), limit)):
        if status == "running":  # lost is computed on read, as for records
            status = effective_status(status, host, pid, beat, timeout, now)
        out.append((rid, parent, name, run_type, kind, status, started, ended, error, depth,
                    prompt, completion, total, cost, first))
    count = conn.execute(f"SELECT count(*) FROM runs WHERE {subtrees.where()}",
                         subtrees.values(trace_id, order, run_id)).fetchone()[0]
    return out, count


_TOTALS_SQL = (
    "SELECT runs.trace_id, count(*), sum(runs.error IS NOT NULL), {p}, {c}, {t}, {k},"
    " min(coalesce(runs.started, runs.created)), max(runs.ended),"
    " sum(runs.ended IS NULL) FROM runs WHERE runs.trace_id IN (%s) GROUP BY runs.trace_id"
).format(**{key: rollup_sum(_USAGE[name]) for key, name in (("p", "prompt"), ("c", "completion"), ("t", "total"),
                                                              ("k", "cost"))})


def totals(conn, trace_ids: list[str]) -> dict[str, dict]:
    """``{trace id: {spans, errors, prompt_tokens, completion_tokens, total_tokens, total_cost,
    first_start, last_end, unfinished}}`` over every span of each trace (tokens and cost as
    ``rollup_sum`` counts them, None when no span has any)."""
    out = {}
    for start in range(0, len(trace_ids), 500):
        part = trace_ids[start:start + 500]
        for (tid, spans, failed, prompt, completion, total, cost, first, last,
             unfinished) in conn.execute(_TOTALS_SQL % ", ".join("?" * len(part)), part):
            out[tid] = {"spans": spans, "errors": failed or 0,
                        "prompt_tokens": None if prompt is None else int(prompt),
                        "completion_tokens": None if completion is None else int(completion),
                        "total_tokens": None if total is None else int(total),
                        "total_cost": None if cost is None else float(cost),
                        "first_start": first, "last_end": last, "unfinished": unfinished or 0}
    return out


_USAGE_S = usage_sql("s")
# The sort keys of a page of traces: SQL over the root's alias ``runs``, from this fixed table only.
TRACE_ORDER = {
    "start": "coalesce(runs.started, runs.created)",
    "latency": FIELDS["latency"].sql.format(a="runs"),
    "tokens": f"(SELECT {rollup_sum(_USAGE_S['total'], 's')} FROM runs AS s WHERE s.trace_id = runs.trace_id)",
    "cost": f"(SELECT {rollup_sum(_USAGE_S['cost'], 's')} FROM runs AS s WHERE s.trace_id = runs.trace_id)",
}
SUMMED = ("tokens", "cost")  # the orders that sum each trace's spans


def root_page(conn, filter_text: str | None, order: str, descending: bool, limit: int, offset: int,
              now: int) -> list[str]:
    """Ids of one page of root runs (traces) matching the LangSmith ``filter_text``, sorted by
    ``order`` (a ``TRACE_ORDER`` key; ties by id), ``limit`` from ``offset``."""
    # By start a page walks the index of parents (parent, start, id) and stops; by another order
    # every root is sorted anyway, found there too.
    where, params = [query.top_level_sql(indexed=True)], []
    if filter_text:
        sql, args = query.compile_where(query.parse_langsmith(filter_text), now_us=now)
        where.append(f"({sql})")
        params.extend(args)
    direction = "DESC" if descending else "ASC"
    text = (f"FROM runs WHERE {' AND '.join(where)} ORDER BY {TRACE_ORDER[order]} {direction}"
            f" NULLS LAST, runs.id {direction}")
    seen = kept_reads.version(conn) if order in SUMMED else None
    if seen is None:
        return [rid for (rid,) in conn.execute(f"SELECT runs.id {text} LIMIT ? OFFSET ?", params + [limit, offset])]
    # Sorted by a sum, every trace's spans are summed whatever the page: the whole order (its
    # roots' rowids) is kept while the file is unchanged, and each page is a slice of it.
    # The key holds the filter's values, so a filter on the time (``now``) is never reused.
    key = ("trace order", text, tuple(params))
    rowids = kept_reads.get(seen, key)
    if rowids is None:
        rowids = array.array("q", (rowid for (rowid,) in conn.execute(f"SELECT runs.rowid {text}", params)))
        kept_reads.put(seen, key, rowids, rowids.itemsize * len(rowids) + 64)
    page, ids = rowids[offset:offset + limit].tolist(), {}
    for start in range(0, len(page), 500):
        part = page[start:start + 500]
        ids.update(conn.execute(f"SELECT rowid, id FROM runs WHERE rowid IN ({', '.join('?' * len(part))})", part))
    return [ids[rowid] for rowid in page]
