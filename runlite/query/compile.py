"""Run filters: the LangSmith and Simvue grammars -> one small AST -> parameterized SQL.

Both grammars (``query_parse.py``) parse into the same frozen nodes (``And``, ``Or``,
``Not``, ``Compare``, ``KeyValue``); ``compile_where`` here turns a node into a SQL boolean
expression and its bound parameters, and ``query_eval.evaluate`` computes the same thing in
Python (the tests' oracle). This module is pure: it never opens a connection. No user text ever becomes SQL text: values are
bound, and every column, table and alias comes from the whitelists below.

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

import json
import math
import re
from typing import Any

import attrs

from ..errors import FilterError

MAX_STRING = 10_000      # characters of one quoted string (LangSmith) or one filter (Simvue)
MAX_DEPTH = 64           # nesting of calls (LangSmith) and of nodes (compile_where)
MAX_PARAMS = 30_000      # bound parameters of one compiled filter (SQLite allows 32,766)
MAX_LIKE_BYTES = 50_000  # SQLite refuses LIKE patterns of 50,000 bytes and more

# ---------------------------------------------------------------- the AST


@attrs.frozen
class And:
    """Every child holds (an empty And is true)."""
    children: tuple = attrs.field(converter=tuple)


@attrs.frozen
class Or:
    """Some child holds (an empty Or is false)."""
    children: tuple = attrs.field(converter=tuple)


@attrs.frozen
class Not:
    """The child does not hold."""
    child: Any


@attrs.frozen
class Compare:
    """``field op value`` on a run column; inside ``KeyValue``, ``field`` names a part.

    ops: eq, neq, gt, gte, lt, lte, in (value a tuple), like, search, contains.
    """
    field: str
    op: str
    value: Any = None
    position: int = 0


@attrs.frozen
class KeyValue:
    """Some item of the run's ``source`` satisfies every condition at once.

    Sources (parts): ``metadata``, ``inputs``, ``outputs``, ``system`` (key, value), ``tags``
    (value), ``feedback`` (key, score, value), ``alert`` (name, status), ``event`` (message),
    ``series`` (name, and the metric statistics min, max, avg, mean, last, first, count,
    nan_count, var).
    """
    source: str
    conditions: tuple = attrs.field(converter=tuple)
    position: int = 0


@attrs.frozen
class Ago:
    """A time ``us`` microseconds before the ``now_us`` given when compiling."""
    us: int


# ---------------------------------------------------------------- whitelists

_LOST = ("{a}.status = 'running' AND {a}.heartbeat IS NOT NULL AND {a}.heartbeat_timeout IS NOT NULL"
         " AND {a}.heartbeat < ? - {a}.heartbeat_timeout * 1e6")
_START = "coalesce({a}.started, {a}.created)"

# field -> (SQL over alias {a}, kind)
_FIELDS: dict[str, tuple[str, str]] = {
    **{f: ("{a}." + f, "text") for f in (
        "id", "name", "run_type", "kind", "folder", "description", "error", "trace_id", "parent_run_id")},
    **{f: ("{a}." + f, "number") for f in (
        "total_tokens", "prompt_tokens", "completion_tokens", "total_cost", "prompt_cost", "completion_cost")},
    **{f: ("{a}." + f, "time") for f in ("created", "started", "ended", "modified", "first_token_time")},
    "start_time": (_START, "time"),
    "end_time": ("{a}.ended", "time"),
    "latency": (f"(({{a}}.ended - {_START}) / 1e6)", "number"),
    "status": ("{a}.status", "status"),
    "is_root": ("{a}.parent_run_id", "root"),
    **{f: ("{a}." + f, "doc") for f in ("metadata", "inputs", "outputs")},  # JSON text
}

LANGSMITH_FIELDS = (
    "id", "name", "run_type", "status", "start_time", "end_time", "latency", "total_tokens",
    "prompt_tokens", "completion_tokens", "total_cost", "prompt_cost", "completion_cost", "error",
    "tags", "metadata", "metadata_key", "metadata_value", "input_key", "input_value", "output_key",
    "output_value", "feedback_key", "feedback_score", "feedback_value", "is_root", "trace_id",
    "parent_run_id", "first_token_time", "inputs", "outputs", "folder", "kind",
)
_PAIR_FIELDS = {
    "metadata_key": ("metadata", "key"), "metadata_value": ("metadata", "value"),
    "input_key": ("inputs", "key"), "input_value": ("inputs", "value"),
    "output_key": ("outputs", "key"), "output_value": ("outputs", "value"),
    "feedback_key": ("feedback", "key"), "feedback_score": ("feedback", "score"),
    "feedback_value": ("feedback", "value"),
}

STATUSES = ("created", "running", "completed", "failed", "terminated", "lost")
_STATUS_ALIASES = {"success": ("completed",), "error": ("failed",), "pending": ("created", "running")}
_ALL_STATUSES = ", ".join(STATUSES + tuple(_STATUS_ALIASES))


def _doc(column: str, json_type: str) -> str:
    """``column`` when it holds valid JSON of ``json_type``, else NULL: a damaged row then matches
    nothing instead of failing the whole query. (CASE evaluates in order; AND need not.)"""
    return (f"CASE WHEN NOT json_valid({column}) THEN NULL"
            f" WHEN json_type({column}) = '{json_type}' THEN {column} END")


_PAIRS = {"key": ("text", "kv.key"), "value": ("json", "kv.value", "kv.type")}
_FB_TYPE = ("CASE WHEN f.value IS NULL THEN 'null' WHEN json_valid(f.value) THEN json_type(f.value)"
            " ELSE 'invalid' END")
_FB_VALUE = "CASE WHEN json_valid(f.value) THEN json_extract(f.value, '$') END"
METRIC_STATS = {"min": "s.min", "max": "s.max", "avg": "s.mean", "mean": "s.mean", "last": "s.last",
                "first": "s.first", "count": "s.count", "nan_count": "s.nan_count",
                "var": "(s.m2 / (s.count - s.nan_count))"}

# source -> (FROM clause, join condition or "", {part: (kind, SQL[, SQL of its JSON type])})
_SOURCES: dict[str, tuple[str, str, dict]] = {
    **{src: (f"json_each({_doc('{a}.' + src, 'object')}) AS kv", "", _PAIRS)
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
ALIASES = ("runs", "root", "t")

# ---------------------------------------------------------------- operators and values

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ORDERING = ("gt", "gte", "lt", "lte")
_TEXT_OPS = ("like", "search", "contains")
# op -> (SQL testing {e} against one bound value, the same test in Python for a non-NULL x).
# eq, neq and in are apart: they have NULL cases. Every SQL form is TRUE or FALSE, never NULL.
_OPS = {
    "gt": ("coalesce({e} > ?, 0)", lambda x, v: x > v),
    "gte": ("coalesce({e} >= ?, 0)", lambda x, v: x >= v),
    "lt": ("coalesce({e} < ?, 0)", lambda x, v: x < v),
    "lte": ("coalesce({e} <= ?, 0)", lambda x, v: x <= v),
    "like": ("coalesce({e} LIKE ? ESCAPE '\\', 0)", lambda x, v: _like(v, x)),
    "search": ("coalesce(instr(lower({e}), lower(?)), 0) > 0",
               lambda x, v: v.translate(_ASCII_LOWER) in x.translate(_ASCII_LOWER)),
    "contains": ("coalesce(instr({e}, ?), 0) > 0", lambda x, v: v in x),
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w|y)\s*")
_UNIT_S = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
# \d+(?:\.\d*)? rather than \d+\.?\d*: the latter backtracks quadratically on a long run of digits
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BAD_CHARS = re.compile(r"[\x00\ud800-\udfff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _duration_s(text: str) -> float | None:
    """``"250ms"``, ``"5s"``, ``"2m"``, ``"1.5h"``, ``"3d"``, ``"1w"``, ``"1y"`` -> seconds."""
    m = _DURATION.fullmatch(text)
    return None if m is None else float(m.group(1)) * _UNIT_S[m.group(2)]


def _number(text: str) -> int | float | None:
    """The int (within int64) or finite float written as ``text``, else None."""
    if not _NUMBER.fullmatch(text):
        return None
    if re.fullmatch(r"-?\d+", text):
        digits = text.lstrip("-").lstrip("0") or "0"
        if len(digits) > 19:  # beyond int64 (and int() refuses strings of over 4300 digits)
            return None
        value = -int(digits) if text.startswith("-") else int(digits)
        return value if -(1 << 63) <= value < (1 << 63) else None
    return float(text) if math.isfinite(float(text)) else None


def _json_text(value: Any) -> str:
    """Compact JSON as runlite stores it, so objects compare with the text SQLite keeps."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _like_problem(pattern: str) -> str | None:
    """Why SQLite could not take ``pattern`` as meant (None when it can)."""
    if len(pattern.encode("utf-8", "surrogatepass")) >= MAX_LIKE_BYTES:
        return f"a like() pattern must be under {MAX_LIKE_BYTES} bytes of UTF-8"
    if "\x00" in pattern:  # SQLite's LIKE stops at a NUL
        return "a like() pattern cannot hold a NUL character"
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        return "a like() pattern cannot end with a lone '\\' (it escapes the next character: \\%, \\_, \\\\)"
    return None


def _like(pattern: str, text: str) -> bool:
    """SQLite's ``LIKE ... ESCAPE '\\'`` in Python: %, _, ASCII case-insensitive."""
    out = []
    for escaped, c in re.findall(r"(\\?)(.)", pattern, re.DOTALL):
        if not escaped and c in "%_":
            out.append(".*" if c == "%" else ".")
        else:
            out.append(f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else re.escape(c))
    return re.fullmatch("".join(out), text, re.DOTALL) is not None


def _check_text(text: Any, what: str) -> str:
    """A str without NUL (SQLite's LIKE stops there) or lone surrogates (not UTF-8)."""
    if not isinstance(text, str):
        raise FilterError(f"{what} must be a str, got {type(text).__name__}")
    if m := _BAD_CHARS.search(text):
        shown = _BAD_CHARS.sub("?", text)  # same length: the caret stays in place
        raise FilterError(f"{what} holds a NUL character or a lone surrogate", text=shown, position=m.start())
    return text


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
        if alias not in ALIASES:
            raise FilterError(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
        if isinstance(now_us, bool) or not isinstance(now_us, int):
            raise FilterError(f"now_us must be an int (microseconds since the epoch), got {now_us!r}")
        self.alias, self.now, self.params = alias, now_us, []

    def bind(self, value: Any) -> str:
        value = self.now - value.us if isinstance(value, Ago) else value
        if not ((isinstance(value, str) and not _SURROGATES.search(value))
                or (isinstance(value, float) and math.isfinite(value))
                or (_is_number(value) and -(1 << 63) <= value < (1 << 63))):
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
        if node.field not in _FIELDS:
            raise FilterError(f"unknown field {node.field!r}; valid: {', '.join(_FIELDS)}",
                              position=node.position)
        template, kind = _FIELDS[node.field]
        expr = template.format(a=self.alias)
        if kind == "status":
            values = node.value if node.op == "in" and isinstance(node.value, (tuple, list)) else (node.value,)
            if node.op not in ("eq", "neq", "in") or not all(
                    isinstance(v, str) and (v in STATUSES or v in _STATUS_ALIASES) for v in values):
                raise FilterError(f"status takes eq, neq or in with {_ALL_STATUSES}", position=node.position)
            wanted = sorted({s for v in values for s in _STATUS_ALIASES.get(v, (v,))})
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
        if op not in _OPS:
            raise FilterError(f"unknown operator {op!r}; valid: eq, neq, in, {', '.join(_OPS)}")
        if op in _TEXT_OPS and (kind != "text" or not isinstance(value, str)):
            raise FilterError(f"{op} needs a text field and a str value, got {value!r:.60}")
        if op == "like" and (problem := _like_problem(value)):
            raise FilterError(problem)
        self.bind(value)
        return _OPS[op][0].format(e=expr)

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
                raise FilterError(f"{_json_text(value)[:40]} can only be compared with eq or neq")
            if isinstance(value, (dict, list)):
                return f"({type_expr} IN ('object', 'array') AND {value_expr} = {self.bind(_json_text(value))})"
            return f"{type_expr} = '{_json_type(value)}'"
        if _is_number(value) and (op == "eq" or op in _ORDERING):
            test = f"{value_expr} = {self.bind(value)}" if op == "eq" else self.scalar(value_expr, "", op, value)
            return f"({type_expr} IN ('integer', 'real') AND {test})"
        if isinstance(value, str):
            return f"({type_expr} = 'text' AND {self.scalar(value_expr, 'text', op, value)})"
        raise FilterError(f"cannot use {op} with {value!r:.60} on a JSON value")

    def key_value(self, node: KeyValue) -> str:
        if node.source not in _SOURCES:
            raise FilterError(f"unknown source {node.source!r}; valid: {', '.join(_SOURCES)}",
                              position=node.position)
        from_sql, join, parts = _SOURCES[node.source]
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


_SORT_FIELDS = ("name", "created", "started", "ended", "modified", "status", "id", "start_time",
                "end_time", "latency")


def _sort_keys(sort_by: Any) -> list[tuple[str, bool]]:
    """``(field, descending)`` pairs from tuples, ``"-field"`` or ``"field desc"``/``"field asc"``."""
    out = []
    for item in [sort_by] if isinstance(sort_by, (str, tuple)) else sort_by or ():
        if isinstance(item, str):
            text = item.strip()
            descending, text = text.startswith("-"), text.lstrip("-").strip()
            head, _, last = text.rpartition(" ")
            if head and last.lower() in ("asc", "desc"):
                text, descending = head.strip(), last.lower() == "desc"
            out.append((text, descending))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str) \
                and isinstance(item[1], bool):
            out.append((item[0], item[1]))
        else:
            raise FilterError("a sort key is 'field', '-field', 'field desc' or (field, descending);"
                              f" got {item!r:.80}")
    return out


def sort_sql(sort_by: Any, *, alias: str = "runs") -> tuple[str, list]:
    """``ORDER BY ...`` text (empty when nothing is asked) and its parameters; NULLs sort last.

    Keys: a list of ``(field, descending)`` or strings ``"created"``, ``"-metric.loss.min"``,
    ``"metadata.lr desc"``. Fields: name, created, started, ended (endtime), modified, status
    (as stored), id, start_time, end_time, latency, ``metadata.<key>`` (numbers, then
    strings), ``metric.<name>.<stat>``. Append your own tie-breaker.
    """
    if alias not in ALIASES:
        raise FilterError(f"alias {alias!r} is not one of {', '.join(ALIASES)}")
    terms, params = [], []
    for field, descending in _sort_keys(sort_by):
        field = "ended" if field == "endtime" else field
        if field in _SORT_FIELDS:
            expr = _FIELDS[field][0].format(a=alias)
        elif field.startswith("metadata.") and len(field) > 9:
            expr = ("(SELECT CASE WHEN kv.type IN ('integer', 'real', 'text') THEN kv.value END"
                    f" FROM json_each({_doc(alias + '.metadata', 'object')}) AS kv WHERE kv.key = ?)")
            params.append(field[9:])
        elif metric := _metric_field(field):
            expr = (f"(SELECT {METRIC_STATS[metric[1]]} FROM series AS s WHERE s.run_id = {alias}.id"
                    " AND s.name = ? AND s.asset = '')")
            params.append(metric[0])
        else:
            raise FilterError(f"cannot sort by {field!r}; valid: {', '.join(_SORT_FIELDS)}, endtime, "
                              "metadata.<key>, metric.<name>.<stat>")
        terms.append(f"{expr} {'DESC' if descending else 'ASC'} NULLS LAST")
    return ("ORDER BY " + ", ".join(terms) if terms else ""), params


def _metric_field(field: str) -> tuple[str, str] | None:
    """``metric.<name>.<stat>`` -> (name, stat): the stat is the last dot-segment."""
    for prefix in ("metric.", "metrics."):
        if field.startswith(prefix):
            name, _, stat = field[len(prefix):].rpartition(".")
            if name and stat in METRIC_STATS:
                return name, stat
    return None


# ---------------------------------------------------------------- parsing (query_parse.py)


def parse_langsmith(text: str) -> Any:
    """Parse a LangSmith filter (``and(eq(run_type, "llm"), gt(latency, 2))``) into the AST."""
    from . import parse as query_parse  # the grammars live apart; imported here to avoid an import cycle

    return query_parse.parse_langsmith(text)


def parse_simvue(filters: list[str] | str) -> Any:
    """Parse Simvue filter strings (ANDed) into the AST."""
    from . import parse as query_parse

    return query_parse.parse_simvue(filters)


def _json_type(value: Any) -> str:
    """The name SQLite's ``json_type`` gives a parsed JSON value."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return {int: "integer", float: "real", str: "text", list: "array", dict: "object"}[type(value)]
