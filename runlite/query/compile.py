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
  ``false`` / ``null`` only by equality, objects and arrays only by equality: member by member,
  by ``_json_equal.json_equal`` (an object's keys in any order, an array's members in order, numbers by
  value), which SQL calls as ``_json_equal.JSON_EQUAL``, a function every runlite connection has.
- Keys of ``inputs``, ``outputs`` and ``system`` are dotted paths (``ast.PATH_SOURCES``): ``a.b`` names
  key ``b`` of the object under ``a``, arrays on the way looked through, and a key may hold
  dots itself (every split is tried); their values are those of members at any depth.
- ``execution_order`` is 1 + the runs of the same trace with a smaller ``dotted_order``.
- ``search`` is a case-insensitive substring match (ASCII letters only, as SQLite's
  ``lower``); ``contains`` (Simvue) is case-sensitive; ``like`` is SQLite LIKE with ``\\`` as
  escape (``%``, ``_``; ASCII case-insensitive). JSON columns are searched as their text:
  ``like`` takes its pattern as it is, and ``search`` looks for its text as JSON writes it
  inside a string (a quote as ``\\"``, a newline as ``\\n``), so text holding them is found.
- Status ``lost`` is a running run whose heartbeat is too old (``now_us`` is the caller's)
  or, as ``get_run`` says, whose process on this host is gone (Linux: the live pids of
  ``/proc`` are bound; elsewhere the heartbeat only). ``success`` = completed, ``error`` =
  failed, ``pending`` = created or running (not lost).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from ..errors import FilterError
from .._host import THIS_HOST
from .._validation import shown
from .ast import (
    FIELDS, JSON_EQUAL, MAX_DEPTH, MAX_PARAMS, MAX_PATH_DOTS, METRIC_STATS, ORDERING_OPS, PATH_SOURCES, STATUS_ALIASES,
    STATUS_CHOICES, STATUSES, TEXT_OPS, Ago, And, Compare, KeyValue, Not, Or, is_number, json_text, json_type,
    like_problem,
)

# ---------------------------------------------------------------- whitelists

ALIASES = ("runs", "root", "t")  # the run table's aliases the callers' SQL uses

_LOST = ("{a}.status = 'running' AND {a}.heartbeat IS NOT NULL AND {a}.heartbeat_timeout IS NOT NULL"
         " AND {a}.heartbeat < {now} - {a}.heartbeat_timeout * 1e6")
# ... or, as ``_host.effective_status`` says, a running run of this host whose process is gone
_GONE = ("{a}.status = 'running' AND {a}.host = {host} AND {a}.pid IS NOT NULL"
         " AND {a}.pid NOT IN (SELECT value FROM json_each({pids}))")


def _live_pids() -> str | None:
    """This host's live process ids as a JSON list (Linux ``/proc``); None where unknown."""
    try:
        return json.dumps([int(p) for p in os.listdir("/proc") if p.isdigit()])
    except OSError:
        return None


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
       for src in ("metadata",)},
    # inputs, outputs and system: every member at any depth (json_tree rows with a text key); a
    # condition on the key (a dotted path) is compiled by _Compiler.key_path instead
    **{src: (f"json_tree({doc_sql('{a}.' + src, 'object')}) AS kv", "typeof(kv.key) = 'text'", _PAIRS)
       for src in PATH_SOURCES},
    # tags are indexed in run_tags (kept from runs.tags by triggers): a lookup, not a JSON parse
    "tags": ("run_tags AS kv", "kv.run_id = {a}.id", {"value": ("text", "kv.tag")}),
    # the score as +f.score: a run's feedback is found by feedback_run (run, key), not by
    # feedback_key (key, score), which reads every run's feedback of that key for each run
    "feedback": ("feedback AS f", "f.run_id = {a}.id", {
        "key": ("text", "f.key"), "score": ("number", "+f.score"), "value": ("json", _FB_VALUE, _FB_TYPE)}),
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


# op -> (SQL testing {e} against one bound value {v}, the same test in Python for a non-NULL x).
# The Python half is the oracle's: kept here so the two cannot drift apart unseen.
# execution_order values up to this are counted run by run (a few index entries each: the
# common eq(execution_order, 1) reads one); larger ones number every trace's runs in one pass.
_COUNTED_POSITIONS = 32

# eq, neq and in are apart: they have NULL cases. Every SQL form is TRUE or FALSE, never NULL.
# Orderings are written as a bare comparison ANDed with a NULL test, not wrapped in coalesce():
# the planner then sees ``column > ?`` and uses an index range on it (coalesce hides it), and
# the result is still FALSE on NULL (NULL AND FALSE is FALSE).
OPS = {
    "gt": ("({e} > {v} AND {e} IS NOT NULL)", lambda x, v: x > v),
    "gte": ("({e} >= {v} AND {e} IS NOT NULL)", lambda x, v: x >= v),
    "lt": ("({e} < {v} AND {e} IS NOT NULL)", lambda x, v: x < v),
    "lte": ("({e} <= {v} AND {e} IS NOT NULL)", lambda x, v: x <= v),
    "like": ("coalesce({e} LIKE {v} ESCAPE '\\', 0)", lambda x, v: _like(v, x)),
    "search": ("coalesce(instr(lower({e}), lower({v})), 0) > 0",
               lambda x, v: v.translate(_ASCII_LOWER) in x.translate(_ASCII_LOWER)),
    "contains": ("coalesce(instr({e}, {v}), 0) > 0", lambda x, v: v in x),
}
# Past the first few, orderings are wrapped in coalesce() (the same TRUE/FALSE): the planner
# weighs every visible range term against every index, so 4,000 of them took quadratic time
# to plan, and an index range needs only the first ones.
VISIBLE_RANGES = 16
_HIDDEN_RANGES = {op: f"coalesce({{e}} {sign} {{v}}, 0)" for op, sign in
                  (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="))}
# Fields whose indexes hold only the runs that have a value (``runs_type``: schema version 16):
# an equality with a value is compiled so that it says so.
PRESENT_IN_INDEX = frozenset({"run_type"})

# ---------------------------------------------------------------- compiling to SQL


def _join(parts: list[str], word: str) -> str:
    """``a AND b AND ...`` (or OR, or ||) grouped by eights, so long lists stay within SQLite's
    expression depth."""
    if not parts:
        return "1" if word == "AND" else "0"
    while len(parts) > 8:
        parts = ["(" + f" {word} ".join(parts[i:i + 8]) + ")" for i in range(0, len(parts), 8)]
    return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"


GROUP_AT = 8  # more children than this on one table source in one and/or: one subquery


def _on_table(node: Any) -> tuple[str, bool] | None:
    """(source, negated) when ``node`` is a ``KeyValue`` on a table source (a real table, read
    through a b-tree cursor; not a ``json_each`` of a column), or ``Not`` of one; else None."""
    negated = isinstance(node, Not)
    node = node.child if negated else node
    if isinstance(node, KeyValue) and node.source in SOURCES and not SOURCES[node.source][0].startswith("json_"):
        return node.source, negated
    return None


class _Compiler:
    """One compilation: the alias, now, and the parameters bound so far (in text order)."""

    def __init__(self, alias: str, now_us: int, start_order: bool = False):
        check_alias(alias)
        if isinstance(now_us, bool) or not isinstance(now_us, int):
            raise FilterError(f"now_us must be an int (microseconds since the epoch), got {now_us!r}")
        self.alias, self.now, self.params, self.start_order = alias, now_us, [], start_order
        self.ranges = 0  # orderings compiled so far (see VISIBLE_RANGES)

    def bind(self, value: Any) -> str:
        value = self.now - value.us if isinstance(value, Ago) else value
        if not ((isinstance(value, str) and not _SURROGATES.search(value))
                or (isinstance(value, float) and math.isfinite(value))
                or (is_number(value) and -(1 << 63) <= value < (1 << 63))):
            raise FilterError(f"cannot compare with {shown(value)}: use a str, an int64 or a finite float")
        if len(self.params) >= MAX_PARAMS:  # stop here: a key path's SQL grows faster than its text
            raise FilterError(f"the filter needs more than {MAX_PARAMS} parameters; at most {MAX_PARAMS} are"
                              " accepted")
        self.params.append(value)
        # nullif(?, NULL) is the bound value itself (NULL is never bound: it is written as NULL).
        # SQLite hoists every bare constant operand, a lone ?, into one list of constants and
        # searches that list for a duplicate before adding each: n distinct parameters cost
        # O(n^2) to prepare (20,000 took 30 s). A constant holding a function call is
        # computed once in place instead and never enters the list, so preparing stays linear.
        return "nullif(?, NULL)"

    def node(self, node: Any, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise FilterError(f"the filter is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, (And, Or)):
            return self.junction(node, depth)
        if isinstance(node, Not):
            return f"NOT ({self.node(node.child, depth + 1)})"
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, KeyValue):
            return self.key_value(node)
        raise FilterError(f"not a filter node: {shown(node)}")

    def compare(self, node: Compare) -> str:
        if node.field not in FIELDS:
            raise FilterError(f"unknown field {node.field!r}; valid: {', '.join(FIELDS)}",
                              position=node.position)
        template, kind = FIELDS[node.field]
        expr = template.format(a=self.alias)
        if node.field == "execution_order":
            expr = self.position(node)
        if kind == "status":
            values = node.value if node.op == "in" and isinstance(node.value, (tuple, list)) else (node.value,)
            if node.op not in ("eq", "neq", "in") or not all(
                    isinstance(v, str) and (v in STATUSES or v in STATUS_ALIASES) for v in values):
                raise FilterError(f"status takes eq, neq or in with {STATUS_CHOICES}", position=node.position)
            wanted = sorted({s for v in values for s in STATUS_ALIASES.get(v, (v,))})
            if not wanted:
                return "0"
            # the stored status, with a running run whose heartbeat is too old read as lost
            lost = _LOST.format(a=self.alias, now=self.bind(self.now))
            pids = _live_pids()
            if pids is not None:
                gone = _GONE.format(a=self.alias, host=self.bind(THIS_HOST), pids=self.bind(pids))
                lost = f"({lost}) OR ({gone})"
            sql = f"(CASE WHEN {lost} THEN 'lost' ELSE {expr} END) IN ({', '.join(map(self.bind, wanted))})"
            return f"NOT ({sql})" if node.op == "neq" else sql
        if kind == "root":
            if node.op not in ("eq", "neq") or not isinstance(node.value, bool):
                raise FilterError("is_root takes eq or neq with true or false", position=node.position)
            if node.value == (node.op == "eq"):
                return top_level_sql(self.alias, indexed=self.start_order)
            return f"{expr} IS NOT NULL"
        value = node.value
        if kind == "doc" and node.op in ("search", "contains") and isinstance(value, str):
            value = json_text(value)[1:-1]  # the text as it stands inside a JSON string of the document
        sql = self.scalar(expr, "text" if kind == "doc" else kind, node.op, value)
        if node.field in PRESENT_IN_INDEX and node.op == "eq" and value is not None:
            # Its indexes hold only the runs that have a value: SQLite reads a partial index for a
            # query that implies the index's condition, and `IS ?` (two-valued, so NOT works) does
            # not imply `IS NOT NULL`. So the SQL says that too; the same runs match.
            sql = f"({sql} AND {expr} IS NOT NULL)"
        return sql

    def position(self, node: Compare) -> str:
        """``execution_order``: 1 + the runs before this one in its trace, counted only up to
        just above the largest value compared with, so ``eq(execution_order, 1)`` reads one
        index entry. A count capped at ``cap`` > value - 1 compares with the value as the full
        count does: past the cap both are above it. Past ``_COUNTED_POSITIONS``, counting for
        each run grew with the square of a trace's size (``gt(execution_order, 5000)`` over a
        10,001-span trace: 6.7 s): the runs of every trace are numbered once instead."""
        values = node.value if node.op == "in" and isinstance(node.value, (tuple, list)) else (node.value,)
        numbers = [v for v in values if is_number(v) and math.isfinite(v)]
        cap = min(max([0] + [math.floor(v) for v in numbers]), 1 << 62)  # an int of ours, not user text
        a = self.alias
        if cap > _COUNTED_POSITIONS:  # every run numbered in one pass, each run's number looked up
            return (f"(SELECT eo.n FROM (SELECT id, row_number() OVER (PARTITION BY trace_id ORDER BY dotted_order)"
                    f" AS n FROM runs) AS eo WHERE eo.id = {a}.id)")
        return (f"(1 + (SELECT count(*) FROM (SELECT 1 FROM runs AS eo WHERE eo.trace_id = {a}.trace_id"
                f" AND eo.dotted_order < {a}.dotted_order LIMIT {int(cap)})))")

    def scalar(self, expr: str, kind: str, op: str, value: Any) -> str:
        """A comparison of a SQL column or expression (text, number or time)."""
        if op in ("eq", "neq"):
            return f"{expr} {'IS' if op == 'eq' else 'IS NOT'} {'NULL' if value is None else self.bind(value)}"
        if op == "in":
            if not isinstance(value, (tuple, list)):
                raise FilterError(f"in needs a list of values, got {shown(value)}")
            present = [v for v in value if v is not None]
            parts = [f"coalesce({expr} IN ({', '.join(map(self.bind, present))}), 0)"] if present else []
            return _join(parts + [f"{expr} IS NULL"] * (None in value), "OR")
        if op not in OPS:
            raise FilterError(f"unknown operator {op!r}; valid: eq, neq, in, {', '.join(OPS)}")
        if op in TEXT_OPS and (kind != "text" or not isinstance(value, str)):
            raise FilterError(f"{op} needs a text field and a str value, got {shown(value)}")
        if op == "like" and (problem := like_problem(value)):
            raise FilterError(problem)
        if op in _HIDDEN_RANGES:
            self.ranges += 1
            if self.ranges > VISIBLE_RANGES:
                return _HIDDEN_RANGES[op].format(e=expr, v=self.bind(value))
        return OPS[op][0].format(e=expr, v=self.bind(value))

    def typed(self, value_expr: str, type_expr: str, op: str, value: Any) -> str:
        """A comparison of a JSON value by its JSON type (see the module notes)."""
        if op in ("neq", "in"):
            if op == "neq":
                return f"NOT ({self.typed(value_expr, type_expr, 'eq', value)})"
            if not isinstance(value, (tuple, list)):
                raise FilterError(f"in needs a list of values, got {shown(value)}")
            return _join([self.typed(value_expr, type_expr, "eq", v) for v in value], "OR")
        if value is None or isinstance(value, (bool, dict, list)):
            try:
                text = json_text(value)
            except (TypeError, ValueError, RecursionError):  # an object holding NaN, or no JSON at all
                raise FilterError(f"cannot compare with {shown(value)}: it is not JSON with finite numbers") from None
            if op != "eq":
                raise FilterError(f"{text[:40]} can only be compared with eq or neq")
            if isinstance(value, (dict, list)):  # SQL alone would compare their text
                kind = "object" if isinstance(value, dict) else "array"  # ours, not the user's
                return f"({type_expr} = '{kind}' AND {JSON_EQUAL}({value_expr}, {self.bind(text)}))"
            return f"{type_expr} = '{json_type(value)}'"  # 'null', 'true' or 'false': ours, not the user's
        if is_number(value) and (op == "eq" or op in ORDERING_OPS):
            test = f"{value_expr} = {self.bind(value)}" if op == "eq" else self.scalar(value_expr, "", op, value)
            return f"({type_expr} IN ('integer', 'real') AND {test})"
        if isinstance(value, str):
            return f"({type_expr} = 'text' AND {self.scalar(value_expr, 'text', op, value)})"
        raise FilterError(f"cannot use {op} with {shown(value)} on a JSON value")

    def conditions(self, node: KeyValue) -> str:
        """The conditions of one ``KeyValue`` on one item of its source, ANDed."""
        if node.source not in SOURCES:
            raise FilterError(f"unknown source {node.source!r}; valid: {', '.join(SOURCES)}",
                              position=node.position)
        parts, where = SOURCES[node.source][2], []
        for cond in node.conditions:
            if not isinstance(cond, Compare) or cond.field not in parts:
                raise FilterError(f"a {node.source} condition compares one of {', '.join(parts)},"
                                  f" not {shown(cond)}", position=node.position)
            kind, expr, *type_expr = parts[cond.field]
            where.append(self.typed(expr, type_expr[0], cond.op, cond.value) if kind == "json"
                         else self.scalar(expr, kind, cond.op, cond.value))
        return _join(where, "AND")

    def exists(self, source: str, test: str) -> str:
        """Some item of ``source`` (of this run) passes ``test``."""
        from_sql, join = (part.format(a=self.alias) for part in SOURCES[source][:2])
        return f"EXISTS (SELECT 1 FROM {from_sql} WHERE {join + ' AND ' if join else ''}{test})"

    def key_value(self, node: KeyValue) -> str:
        if node.source in PATH_SOURCES and any(isinstance(c, Compare) and c.field == "key" for c in node.conditions):
            return self.key_path(node)
        return self.exists(node.source, self.conditions(node))

    def key_path(self, node: KeyValue) -> str:
        """A ``KeyValue`` of inputs or outputs naming its key: a dotted path (eq or in), the
        other conditions on the member the path leads to; paths in OR."""
        paths, rest = None, []
        for cond in node.conditions:
            if not isinstance(cond, Compare) or cond.field not in ("key", "value"):
                raise FilterError(f"a {node.source} condition compares key or value, not {shown(cond)}",
                                  position=node.position)
            if cond.field == "value":
                rest.append(cond)
                continue
            wanted = cond.value if cond.op == "in" else (cond.value,)
            if cond.op not in ("eq", "in") or not isinstance(wanted, (tuple, list)) or not all(
                    isinstance(p, str) for p in wanted):
                raise FilterError(f"{node.source} keys are dotted paths compared with eq or in and strings,"
                                  f" not {cond.op} with {shown(cond.value)}", position=node.position)
            paths = set(wanted) if paths is None else paths & set(wanted)
        doc = doc_sql(f"{self.alias}.{node.source}", "object")
        chains = []
        for path in sorted(paths):
            if path.count(".") > MAX_PATH_DOTS:
                raise FilterError(f"a key path holds at most {MAX_PATH_DOTS} dots", position=node.position)
            chains += [self.path_chain(doc, path, rest, n) for n in range(1, path.count(".") + 2)]
        return _join(chains, "OR")

    def path_chain(self, doc: str, path: str, conds: list, n: int) -> str:
        """A member ``n`` objects deep (arrays on the way looked through) whose keys, joined by
        dots, are ``path``, and which passes ``conds``. A key may hold dots itself, so one
        path is tried at every depth up to its dots + 1: a join of ``n`` JSON tables, each
        key compared with the bound path from where the keys before it end (``start``, SQL)."""
        tables, where = [], []
        for i in range(n):
            p, start = f"p{i}", _join([str(i + 1)] + [f"length(p{j}.key)" for j in range(i)], "+")
            if i == 0:
                tables.append(f"json_each({doc}) AS p0")
            else:  # members of the previous member's object, or of objects in arrays under it:
                # their container's path is '$' and array subscripts (a member's '.key' survives rtrim)
                tables.append(f"json_tree(CASE WHEN p{i - 1}.type IN ('object', 'array') THEN p{i - 1}.value END)"
                              f" AS {p}")
                where += [f"typeof({p}.key) = 'text'", f"rtrim({p}.path, '0123456789[]') = '$'"]
            if i < n - 1:
                where.append(f"substr({self.bind(path)}, {start}, length({p}.key) + 1) = {p}.key || '.'")
            else:
                where.append(f"{p}.key = substr({self.bind(path)}, {start})")
                where += [self.typed(f"{p}.value", f"{p}.type", c.op, c.value) for c in conds]
        return f"EXISTS (SELECT 1 FROM {', '.join(tables)} WHERE {_join(where, 'AND')})"

    def junction(self, node: And | Or, depth: int) -> str:
        """And/Or. Its children that test one table source (``_on_table``) are compiled as one
        subquery when there are more than ``GROUP_AT`` of them: each correlated subquery on a
        table opens a cursor per run, and SQLite walks every cursor already open to open one,
        so n such subqueries cost O(n^2) per run (5,000 took two minutes on 20 runs)."""
        word = "AND" if isinstance(node, And) else "OR"
        groups: dict[tuple[str, bool], list[KeyValue]] = {}
        for child in node.children:
            if (key := _on_table(child)) is not None:
                groups.setdefault(key, []).append(child.child if key[1] else child)
        parts, done = [], set()
        for child in node.children:
            key = _on_table(child)
            if key is None or len(groups[key]) <= GROUP_AT:
                parts.append(self.node(child, depth + 1))
            elif key not in done:  # the group, where its first member stood
                done.add(key)
                source, negated = key
                members = groups[key]
                # AND of NOT EXISTS, or OR of EXISTS: one scan for an item passing any member
                if (word == "AND") == negated:
                    any_sql = self.exists(source, _join([self.conditions(m) for m in members], "OR"))
                    parts.append(f"NOT ({any_sql})" if negated else any_sql)
                else:  # AND of EXISTS, or OR of NOT EXISTS (= NOT AND of EXISTS)
                    all_sql = self.every(source, members)
                    parts.append(f"NOT ({all_sql})" if negated else all_sql)
        return _join(parts, word)

    def every(self, source: str, members: list[KeyValue]) -> str:
        """Every member has an item of ``source`` passing it, in one scan of the run's items:
        each item lists the members it passes (by their index: our numbers, not user text), and
        all must be listed. The first member's own lookup comes first, so a run failing it
        costs no scan."""
        first = self.key_value(members[0])
        marks = [f"CASE WHEN {self.conditions(m)} THEN '{i},' ELSE '' END" for i, m in enumerate(members)]
        from_sql, join = (part.format(a=self.alias) for part in SOURCES[source][:2])
        listed = (f"(SELECT count(DISTINCT j.value) FROM {from_sql}, json_each('[' || {_join(marks, '||')}"
                  f" || '-1]') AS j WHERE {join + ' AND ' if join else ''}j.value >= 0) = {len(members)}")
        return f"({first} AND {listed})"


def top_level_sql(alias: str = "runs", *, indexed: bool = False) -> str:
    """"A top-level run" (no parent). ``indexed``: found by the index of parents (parent, start,
    id), which holds them in start order: a page by start walks it and stops, skipping every
    span (the newest 50 of 200 traces of 500 spans: 6.8 ms -> 0.24 ms), and a count reads them
    alone. Otherwise the "+" keeps SQLite from looking them up there, for a page in another
    order: that finds every one, to be sorted, where a page walks the index of its order and
    stops once it is full (the first 100 of 100,000 traced spans, one run in ten a root: 26 ms
    -> 0.3 ms; all of them unpaged: 47 -> 58 ms)."""
    return f"{'' if indexed else '+'}{check_alias(alias)}.parent_run_id IS NULL"


def compile_where(node: Any, *, alias: str = "runs", now_us: int, start_order: bool = False) -> tuple[str, list]:
    """SQL boolean expression (no leading WHERE) over table alias ``alias``, and its parameters.

    ``alias`` is one of ``runs``, ``root``, ``t``; ``now_us`` resolves relative times (``Ago``)
    and the heartbeat test of status ``lost``. ``start_order``: the runs are listed newest first
    by start, so ``eq(is_root, true)`` may be found on the indexes that hold roots in that order
    (`top_level_sql`'s ``indexed``: a project's roots, or all of them).

    Raises:
        FilterError: an unknown field, operator or source, a value that cannot be bound, or
            more than ``MAX_PARAMS`` parameters.
    """
    compiler = _Compiler(alias, now_us, start_order)
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
    """Runs (alias ``runs``) with some run of their trace, themselves included, matching ``node``.

    The traces holding a match are found once, and each listed run looked up among them (the
    ``+`` keeps SQLite from walking those traces instead of the listing's own order). Asked per
    listed run instead, a filter few runs match read the whole trace for each of its runs: a
    10,001-span trace took 49 s, and a listing of 100,000 runs that an index could not narrow
    grew with the square of its traces' sizes."""
    sql, params = compile_where(node, alias="t", now_us=now_us)
    return f"+runs.trace_id IN (SELECT t.trace_id FROM runs AS t WHERE {sql})", params
