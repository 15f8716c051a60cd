"""A direct Python evaluation of filter ASTs over run dicts: the oracle the tests compare
compiled SQL with (same semantics as ``query.compile_where``)."""

from __future__ import annotations

import json
from typing import Any, Iterable

from runlite._validation import to_us
# Shared with the compiler on purpose: the nodes, the field kinds, each operator's Python twin
# (OPS) and the part kinds of each source (SOURCES). What the oracle computes on its own is
# every column's and item's value, straight from the run dicts, with no SQL.
from runlite.query.ast import (
    FIELDS, PATH_SOURCES, STATUS_ALIASES, THREAD_KEYS, Ago, And, KeyValue, Not, Or, is_number, json_text, json_type,
)
from runlite.query.compile import OPS, SOURCES


def _py_scalar(x: Any, op: str, value: Any) -> bool:
    """``_Compiler.scalar`` in Python; ``x`` is the column's value, None for NULL."""
    if op in ("eq", "neq"):
        return (x == value and (x is None) == (value is None)) == (op == "eq")
    if op == "in":
        return any(_py_scalar(x, "eq", v) for v in value)
    return x is not None and OPS[op][1](x, value)


def _py_typed(x: Any, op: str, value: Any) -> bool:
    """``_Compiler.typed`` in Python; ``x`` is a parsed JSON value."""
    if op in ("neq", "in"):
        return not _py_typed(x, "eq", value) if op == "neq" else any(_py_typed(x, "eq", v) for v in value)
    kind = json_type(x)
    if value is None or isinstance(value, bool):
        return kind == json_type(value)
    if isinstance(value, dict):  # the same keys, in any order, each member equal
        return isinstance(x, dict) and x.keys() == value.keys() and all(
            _py_typed(x[k], "eq", v) for k, v in value.items())
    if isinstance(value, list):  # as many members, each equal to the one at its position
        return isinstance(x, list) and len(x) == len(value) and all(
            _py_typed(a, "eq", v) for a, v in zip(x, value))
    if is_number(value):
        return kind in ("integer", "real") and _py_scalar(x, op, value)
    return kind == "text" and _py_scalar(x, op, value)


def _members(doc: Any, prefix: str = ""):
    """(dotted path, value) of every member of an object at any depth, looking through arrays
    (their positions are not part of the path): LangSmith's input and output keys."""
    if isinstance(doc, list):
        for item in doc:
            yield from _members(item, prefix)
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield prefix + key, value
            if isinstance(value, (dict, list)):
                yield from _members(value, prefix + key + ".")


def _items(source: str, run: dict, tables: dict) -> list[dict]:
    """The items of one ``KeyValue`` source of a run, as {part: value} dicts."""
    if source in PATH_SOURCES:
        doc = run.get(source)
        return [{"key": k, "value": v} for k, v in _members(doc)] if isinstance(doc, dict) else []
    if source == "metadata":
        doc = run.get(source)
        return [{"key": k, "value": v} for k, v in doc.items()] if isinstance(doc, dict) else []
    if source == "tags":
        return [{"value": t} for t in run.get("tags") or ()]
    rows = [row for row in tables[source] if row["run_id"] == run["id"]]
    if source == "feedback":
        return [{**f, "value": None if f.get("value") is None else json.loads(f["value"])} for f in rows]
    if source == "series":
        return [{**s, "avg": s["mean"], "var": s["m2"] / (s["count"] - s["nan_count"])
                 if s["m2"] is not None and s["count"] > s["nan_count"] else None}
                for s in rows if not s.get("asset")]
    return rows


def _columns(run: dict, now_us: int, runs: list) -> dict:
    """The run's value of every ``FIELDS`` field, as SQL sees it (``runs``: every run, for
    ``execution_order``)."""
    def us(key: str) -> int | None:
        return None if run.get(key) is None else to_us(run[key])

    created, started, ended, heartbeat = us("created"), us("started"), us("endtime"), us("heartbeat")
    start = started if started is not None else created
    # to_dict()'s "status" is LangSmith's word; "run_status" is runlite's (older dicts: "status")
    status, timeout = run.get("run_status", run["status"]), run.get("heartbeat_timeout")
    if status == "running" and None not in (heartbeat, timeout) and heartbeat < now_us - timeout * 1e6:
        status = "lost"
    out = {f: run.get(f) for f, field in FIELDS.items() if field.kind in ("text", "number")}
    out.update(created=created, started=started, ended=ended, end_time=ended, modified=us("modified"),
               start_time=start, latency=None if ended is None or start is None else (ended - start) / 1e6,
               first_token_time=None if run.get("first_token_time") is None
               else round(run["first_token_time"] * 1000),
               status=status, is_root=run.get("parent_run_id") is None)
    metadata = run.get("metadata") if isinstance(run.get("metadata"), dict) else {}
    out["thread_id"] = next((metadata[k] for k in THREAD_KEYS if isinstance(metadata.get(k), str)), None)
    out["project_name"] = run.get("session_name")
    out["execution_order"] = 1 + sum(1 for r in runs if r["trace_id"] == run["trace_id"]
                                     and r["dotted_order"] < run["dotted_order"])
    for doc in ("metadata", "inputs", "outputs"):
        value = run.get(doc)  # to_dict() shows missing inputs as {}: an empty document reads as NULL
        out[doc] = None if value is None or (doc == "inputs" and value == {}) else json_text(value)
    return out


def evaluate(node: Any, record: dict, *, now_us: int, feedback: Iterable = (), series: Iterable = (),
             alerts: Iterable = (), events: Iterable = (), runs: Iterable = ()) -> bool:
    """Whether ``record`` matches ``node``: the semantics of ``compile_where``, in Python.

    Args:
        record: ``RunRecord.to_dict()`` (times from the ISO ``created``/``started``/``endtime``/
            ``modified``/``heartbeat``; ``first_token_time`` in epoch milliseconds).
        feedback: rows ``{run_id, key, score, value (JSON text or None)}``.
        series: rows ``{run_id, name, asset, count, nan_count, min, max, mean, m2, first, last}``.
        alerts: rows ``{run_id, name, status}``; events: rows ``{run_id, message}``.
        runs: every run's ``to_dict()`` (``record`` among them), for ``execution_order``.
    """
    columns = _columns(record, now_us, list(runs) or [record])
    tables = {"feedback": list(feedback), "series": list(series), "alert": list(alerts), "event": list(events)}

    def test(n: Any) -> bool:
        if isinstance(n, (And, Or)):
            return (all if isinstance(n, And) else any)(test(c) for c in n.children)
        if isinstance(n, Not):
            return not test(n.child)
        if isinstance(n, KeyValue):
            parts = SOURCES[n.source][2]
            tests = [(_py_typed if parts[c.field][0] == "json" else _py_scalar, c) for c in n.conditions]
            return any(all(fn(item[c.field], c.op, c.value) for fn, c in tests)
                       for item in _items(n.source, record, tables))
        value = now_us - n.value.us if isinstance(n.value, Ago) else n.value
        kind = FIELDS[n.field].kind
        if kind == "status":
            wanted = {s for v in (value if n.op == "in" else (value,)) for s in STATUS_ALIASES.get(v, (v,))}
            return (columns["status"] in wanted) != (n.op == "neq")
        if kind == "root":
            return columns["is_root"] == (value == (n.op == "eq"))
        if kind == "doc" and n.op in ("search", "contains") and isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)[1:-1]  # looked for as the document's JSON writes it
        return _py_scalar(columns[n.field], n.op, value)

    return test(node)
