"""Run filters, AST -> parameterized SQL: ``compile_where`` and the trace/tree variants.

Both grammars (``parse.py``) parse into the nodes of ``ast.py`` (``And``, ``Or``, ``Not``,
``Compare``, ``KeyValue``); ``compile_where`` here turns a node into a SQL boolean expression
and its bound parameters, and ``tests/oracles/query_eval.py`` computes the same thing in
Python (the tests' oracle, built on ``OPS`` and ``SOURCES`` below). This module is pure: it
never opens a connection. No user text ever becomes SQL text: values are bound, and every
column, table and alias comes from the whitelists (``ast.FIELDS``, ``SOURCES``, ``ALIASES``).

Semantics shared by both grammars (the seed references leave these open; these are ours):

- Every compiled leaf is two-valued (TRUE or FALSE, never NULL), so ``not(x)`` is exactly the
  complement of ``x``. ``neq`` is ``NOT eq`` (a NULL column differs from every value);
  ordering comparisons and text matches are FALSE on NULL.
- Values in JSON (metadata, inputs, outputs, system, feedback values) compare by JSON type:
  numbers only with numbers, strings only with strings (binary, by code point), ``true`` /
  ``false`` / ``null`` only by equality, objects and arrays as their compact JSON text.
- ``search`` is a case-insensitive substring match (ASCII letters only, as SQLite's
  ``lower``); ``contains`` (Simvue) is case-sensitive; ``like`` is SQLite LIKE with ``\\`` as
  escape (``%``, ``_``; ASCII case-insensitive). JSON columns are searched as their text.
- Status ``lost`` is computed from the heartbeat only (``now_us`` is the caller's): SQL
  cannot see whether a process on this host died. ``success`` = completed, ``error`` =
  failed, ``pending`` = created or running (not lost).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import FilterError
from .ast import (
    FIELDS, MAX_DEPTH, MAX_PARAMS, METRIC_STATS, ORDERING_OPS, STATUS_ALIASES, STATUS_CHOICES, STATUSES,
    TEXT_OPS, Ago, And, Compare, KeyValue, Not, Or, is_number, json_text, json_type, like_problem,
)

# ---------------------------------------------------------------- whitelists

ALIASES = ("runs", "root", "t")  # the run table's aliases the callers' SQL uses

_LOST = ("{a}.status = 'running' AND {a}.heartbeat IS NOT NULL AND {a}.heartbeat_timeout IS NOT NULL"
         " AND {a}.heartbeat < ? - {a}.heartbeat_timeout * 1e6")


def check_alias(alias: str) -> str:
    """``alias`` when it is one of ``ALIASES``: it is spliced into SQL, so it must be ours."""
    if alias not in ALIASES:
        raise FilterError(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
    return alias


def doc_sql(column: str, json_type_name: str) -> str:
    """``column`` when it holds valid JSON of that type, else NULL: a damaged row then matches
    nothing instead of failing the whole query. (CASE evaluates in order; AND need not.)"""
    return (f"CASE WHEN NOT json_valid({column}) THEN NULL"
            f" WHEN json_type({column}) = '{json_type_name}' THEN {column} END")


_PAIRS = {"key": ("text", "kv.key"), "value": ("json", "kv.value", "kv.type")}
_FB_TYPE = ("CASE WHEN f.value IS NULL THEN 'null' WHEN json_valid(f.value) THEN json_type(f.value)"
            " ELSE 'invalid' END")
_FB_VALUE = "CASE WHEN json_valid(f.value) THEN json_extract(f.value, '$') END"

# KeyValue source -> (FROM clause, join condition or "", {part: (kind, SQL[, SQL of its JSON type])}).
# Part kinds: text, number, json (compared by JSON type, see the module notes).
SOURCES: dict[str, tuple[str, str, dict]] = {
    **{src: (f"json_each({doc_sql('{a}.' + src, 'object')}) AS kv", "", _PAIRS)
       for src in ("metadata", "inputs", "outputs", "system")},
    # tags are indexed in run_tags (kept from runs.tags by triggers): a lookup, not a JSON parse
    "tags": ("run_tags AS kv", "kv.run_id = {a}.id", {"value": ("text", "kv.tag")}),
    "feedback": ("feedback AS f", "f.run_id = {a}.id", {
        "key": ("text", "f.key"), "score": ("number", "f.score"), "value": ("json", _FB_VALUE, _FB_TYPE)}),
    "alert": ("run_alerts AS ra JOIN alerts AS al ON al.id = ra.alert_id", "ra.run_id = {a}.id",
              {"name": ("text", "al.name"), "status": ("text", "ra.state")}),
    "event": ("events AS e", "e.run_id = {a}.id", {"message": ("text", "e.message")}),
    "series": ("series AS s", "s.run_id = {a}.id AND s.asset = ''",
               {"name": ("text", "s.name"), **{k: ("number", v) for k, v in METRIC_STATS.items()}}),
}

# ---------------------------------------------------------------- operators

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _like(pattern: str, text: str) -> bool:
    """SQLite's ``LIKE ... ESCAPE '\\'`` in Python: %, _, ASCII case-insensitive."""
    out = []
    for escaped, c in re.findall(r"(\\?)(.)", pattern, re.DOTALL):
        if not escaped and c in "%_":
            out.append(".*" if c == "%" else ".")
        else:
            out.append(f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else re.escape(c))
    return re.fullmatch("".join(out), text, re.DOTALL) is not None


# op -> (SQL testing {e} against one bound value, the same test in Python for a non-NULL x).
# The Python half is the oracle's: kept here so the two cannot drift apart unseen.
# eq, neq and in are apart: they have NULL cases. Every SQL form is TRUE or FALSE, never NULL.
OPS = {
    "gt": ("coalesce({e} > ?, 0)", lambda x, v: x > v),
    "gte": ("coalesce({e} >= ?, 0)", lambda x, v: x >= v),
    "lt": ("coalesce({e} < ?, 0)", lambda x, v: x < v),
    "lte": ("coalesce({e} <= ?, 0)", lambda x, v: x <= v),
    "like": ("coalesce({e} LIKE ? ESCAPE '\\', 0)", lambda x, v: _like(v, x)),
    "search": ("coalesce(instr(lower({e}), lower(?)), 0) > 0",
               lambda x, v: v.translate(_ASCII_LOWER) in x.translate(_ASCII_LOWER)),
    "contains": ("coalesce(instr({e}, ?), 0) > 0", lambda x, v: v in x),
}

# ---------------------------------------------------------------- compiling to SQL


def _join(parts: list[str], word: str) -> str:
    """``a AND b AND ...`` grouped by eights, so long lists stay within SQLite's expression depth."""
    if not parts:
        return "1" if word == "AND" else "0"
    while len(parts) > 8:
        parts = ["(" + f" {word} ".join(parts[i:i + 8]) + ")" for i in range(0, len(parts), 8)]
    return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"


class _Compiler:
    """One compilation: the alias, now, and the parameters bound so far (in text order)."""

    def __init__(self, alias: str, now_us: int):
        check_alias(alias)
        if isinstance(now_us, bool) or not isinstance(now_us, int):
            raise FilterError(f"now_us must be an int (microseconds since the epoch), got {now_us!r}")
        self.alias, self.now, self.params = alias, now_us, []

    def bind(self, value: Any) -> str:
        value = self.now - value.us if isinstance(value, Ago) else value
        if not ((isinstance(value, str) and not _SURROGATES.search(value))
                or (isinstance(value, float) and math.isfinite(value))
                or (is_number(value) and -(1 << 63) <= value < (1 << 63))):
            raise FilterError(f"cannot compare with {value!r:.60}: use a str, an int64 or a finite float")
        self.params.append(value)
        return "?"

    def node(self, node: Any, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise FilterError(f"the filter is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, (And, Or)):
            word = "AND" if isinstance(node, And) else "OR"
            return _join([self.node(c, depth + 1) for c in node.children], word)
        if isinstance(node, Not):
            return f"NOT ({self.node(node.child, depth + 1)})"
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, KeyValue):
            return self.key_value(node)
        raise FilterError(f"not a filter node: {node!r:.80}")

    def compare(self, node: Compare) -> str:
        if node.field not in FIELDS:
            raise FilterError(f"unknown field {node.field!r}; valid: {', '.join(FIELDS)}",
                              position=node.position)
        template, kind = FIELDS[node.field]
        expr = template.format(a=self.alias)
        if kind == "status":
            values = node.value if node.op == "in" and isinstance(node.value, (tuple, list)) else (node.value,)
            if node.op not in ("eq", "neq", "in") or not all(
                    isinstance(v, str) and (v in STATUSES or v in STATUS_ALIASES) for v in values):
                raise FilterError(f"status takes eq, neq or in with {STATUS_CHOICES}", position=node.position)
            wanted = sorted({s for v in values for s in STATUS_ALIASES.get(v, (v,))})
            if not wanted:
                return "0"
            # the stored status, with a running run whose heartbeat is too old read as lost
            lost = _LOST.format(a=self.alias).replace("?", self.bind(self.now))
            sql = f"(CASE WHEN {lost} THEN 'lost' ELSE {expr} END) IN ({', '.join(map(self.bind, wanted))})"
            return f"NOT ({sql})" if node.op == "neq" else sql
        if kind == "root":
            if node.op not in ("eq", "neq") or not isinstance(node.value, bool):
                raise FilterError("is_root takes eq or neq with true or false", position=node.position)
            return f"{expr} IS NULL" if node.value == (node.op == "eq") else f"{expr} IS NOT NULL"
        return self.scalar(expr, "text" if kind == "doc" else kind, node.op, node.value)

    def scalar(self, expr: str, kind: str, op: str, value: Any) -> str:
        """A comparison of a SQL column or expression (text, number or time)."""
        if op in ("eq", "neq"):
            return f"{expr} {'IS' if op == 'eq' else 'IS NOT'} {'NULL' if value is None else self.bind(value)}"
        if op == "in":
            if not isinstance(value, (tuple, list)):
                raise FilterError(f"in needs a list of values, got {value!r:.60}")
            present = [v for v in value if v is not None]
            parts = [f"coalesce({expr} IN ({', '.join(map(self.bind, present))}), 0)"] if present else []
            return _join(parts + [f"{expr} IS NULL"] * (None in value), "OR")
        if op not in OPS:
            raise FilterError(f"unknown operator {op!r}; valid: eq, neq, in, {', '.join(OPS)}")
        if op in TEXT_OPS and (kind != "text" or not isinstance(value, str)):
            raise FilterError(f"{op} needs a text field and a str value, got {value!r:.60}")
        if op == "like" and (problem := like_problem(value)):
            raise FilterError(problem)
        self.bind(value)
        return OPS[op][0].format(e=expr)

    def typed(self, value_expr: str, type_expr: str, op: str, value: Any) -> str:
        """A comparison of a JSON value by its JSON type (see the module notes)."""
        if op in ("neq", "in"):
            if op == "neq":
                return f"NOT ({self.typed(value_expr, type_expr, 'eq', value)})"
            if not isinstance(value, (tuple, list)):
                raise FilterError(f"in needs a list of values, got {value!r:.60}")
            return _join([self.typed(value_expr, type_expr, "eq", v) for v in value], "OR")
        if value is None or isinstance(value, (bool, dict, list)):
            if op != "eq":
                raise FilterError(f"{json_text(value)[:40]} can only be compared with eq or neq")
            if isinstance(value, (dict, list)):
                return f"({type_expr} IN ('object', 'array') AND {value_expr} = {self.bind(json_text(value))})"
            return f"{type_expr} = '{json_type(value)}'"  # 'null', 'true' or 'false': ours, not the user's
        if is_number(value) and (op == "eq" or op in ORDERING_OPS):
            test = f"{value_expr} = {self.bind(value)}" if op == "eq" else self.scalar(value_expr, "", op, value)
            return f"({type_expr} IN ('integer', 'real') AND {test})"
        if isinstance(value, str):
            return f"({type_expr} = 'text' AND {self.scalar(value_expr, 'text', op, value)})"
        raise FilterError(f"cannot use {op} with {value!r:.60} on a JSON value")

    def key_value(self, node: KeyValue) -> str:
        if node.source not in SOURCES:
            raise FilterError(f"unknown source {node.source!r}; valid: {', '.join(SOURCES)}",
                              position=node.position)
        from_sql, join, parts = SOURCES[node.source]
        where = [join.format(a=self.alias)] if join else []
        for cond in node.conditions:
            if not isinstance(cond, Compare) or cond.field not in parts:
                raise FilterError(f"a {node.source} condition compares one of {', '.join(parts)},"
                                  f" not {cond!r:.80}", position=node.position)
            kind, expr, *type_expr = parts[cond.field]
            where.append(self.typed(expr, type_expr[0], cond.op, cond.value) if kind == "json"
                         else self.scalar(expr, kind, cond.op, cond.value))
        clause = f" WHERE {_join(where, 'AND')}" if where else ""
        return f"EXISTS (SELECT 1 FROM {from_sql.format(a=self.alias)}{clause})"


def compile_where(node: Any, *, alias: str = "runs", now_us: int) -> tuple[str, list]:
    """SQL boolean expression (no leading WHERE) over table alias ``alias``, and its parameters.

    ``alias`` is one of ``runs``, ``root``, ``t``; ``now_us`` resolves relative times (``Ago``)
    and the heartbeat test of status ``lost``.

    Raises:
        FilterError: an unknown field, operator or source, a value that cannot be bound, or
            more than ``MAX_PARAMS`` parameters.
    """
    compiler = _Compiler(alias, now_us)
    sql = compiler.node(node)
    if len(compiler.params) > MAX_PARAMS:
        raise FilterError(f"the filter needs {len(compiler.params)} parameters; at most {MAX_PARAMS} are"
                          " accepted")
    return sql, compiler.params


def trace_filter_sql(node: Any, *, now_us: int) -> tuple[str, list]:
    """Runs (alias ``runs``) whose trace's root run matches ``node`` (LangSmith ``trace_filter``)."""
    sql, params = compile_where(node, alias="root", now_us=now_us)
    return f"EXISTS (SELECT 1 FROM runs AS root WHERE root.id = runs.trace_id AND {sql})", params


def tree_filter_sql(node: Any, *, now_us: int) -> tuple[str, list]:
    """Runs (alias ``runs``) with some run of their trace, themselves included, matching ``node``."""
    sql, params = compile_where(node, alias="t", now_us=now_us)
    return f"EXISTS (SELECT 1 FROM runs AS t WHERE t.trace_id = runs.trace_id AND {sql})", params
