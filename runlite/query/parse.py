"""The two filter grammars, parsed into the AST of ``ast.py``: LangSmith prefix functions and
Simvue infix strings. Errors are ``FilterError`` with the offending token's position.

Pure, and independent of the compiler: this module imports only the AST and its tables, so
a parsed filter is plain data that ``compile.py`` (or the tests' oracle) can take.
"""

from __future__ import annotations

import difflib
import getpass
import json
import math
import re
from typing import Any

from ..errors import FilterError, ValidationError
from .._validation import shown, to_us
from .ast import (
    FIELDS, LANGSMITH_FILTER_FIELDS, MAX_DEPTH, MAX_PATH_DOTS, MAX_STRING, METRIC_STATS, ORDERING_OPS,
    PAIR_FIELDS, PATH_SOURCES, STATUS_ALIASES, STATUS_CHOICES, STATUSES, TEXT_OPS, Ago, And, Compare, KeyValue,
    Not, Or, is_number, json_text, like_problem, metric_field,
)

# ---------------------------------------------------------------- literals

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w|y)\s*")
_UNIT_S = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
# \d+(?:\.\d*)? rather than \d+\.?\d*: the latter backtracks quadratically on a long run of digits
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BAD_CHARS = re.compile(r"[\x00\ud800-\udfff]")


def _duration_s(text: str) -> float | None:
    """``"250ms"``, ``"5s"``, ``"2m"``, ``"1.5h"``, ``"3d"``, ``"1w"``, ``"1y"`` -> seconds."""
    m = _DURATION.fullmatch(text)
    return None if m is None else float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_number(text: str) -> int | float | None:
    """The int (within int64) or finite float written as ``text``, else None (then a Simvue
    value compares as a string, and a LangSmith literal is refused)."""
    if not _NUMBER.fullmatch(text):
        return None
    if re.fullmatch(r"-?\d+", text):
        digits = text.lstrip("-").lstrip("0") or "0"
        if len(digits) > 19:  # beyond int64 (and int() refuses strings of over 4300 digits)
            return None
        value = -int(digits) if text.startswith("-") else int(digits)
        return value if -(1 << 63) <= value < (1 << 63) else None
    return float(text) if math.isfinite(float(text)) else None


def _check_text(text: Any, what: str) -> str:
    """A str without NUL (SQLite's LIKE stops there) or lone surrogates (not UTF-8)."""
    if not isinstance(text, str):
        raise FilterError(f"{what} must be a str, got {type(text).__name__}")
    if m := _BAD_CHARS.search(text):
        shown = _BAD_CHARS.sub("?", text)  # same length: the caret stays in place
        raise FilterError(f"{what} holds a NUL character or a lone surrogate", text=shown, position=m.start())
    return text


# ---------------------------------------------------------------- the LangSmith grammar

_TOKEN = re.compile(r"\s*(?:(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[()\[\],])|(?P<quote>['\"])|(?P<end>\Z))")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_SIGNATURES = {
    "and": "and(expr, expr, ...)", "or": "or(expr, expr, ...)", "not": "not(expr)",
    **{op: f"{op}(field, value)" for op in ("eq", "neq", "gt", "gte", "lt", "lte")},
    "has": "has(tags, \"tag\") or has(metadata, '{\"key\": value}')",
    "search": "search(\"text\") or search(field, \"text\")", "in": "in(field, [value, ...])",
    "exists": "exists(field) or exists(metadata, \"key\")", "like": "like(field, \"%pattern%\")",
}
_KIND_OPS = {  # which functions apply to which kind of field
    "text": ("eq", "neq", "gt", "gte", "lt", "lte", "in", "like", "search", "exists"),
    "number": ("eq", "neq", "gt", "gte", "lt", "lte", "in", "exists"),
    "time": ("eq", "neq", "gt", "gte", "lt", "lte", "exists"),
    "status": ("eq", "neq", "in"), "root": ("eq", "neq"), "tags": ("has", "search"),
    "doc": ("search", "like", "exists"), "metadata": ("search", "like", "exists", "has"),
    # the key/value pseudo-fields, by part: keys of inputs/outputs are dotted paths (eq/in only)
    "key": ("eq", "neq", "gt", "gte", "lt", "lte", "in", "like"), "path": ("eq", "neq", "in"),
    "value": ("eq", "neq", "gt", "gte", "lt", "lte", "in", "like"),
    "score": ("eq", "neq", "gt", "gte", "lt", "lte", "in"),
}
_SEARCH_FIELDS = ("name", "inputs", "outputs", "error", "metadata")
_WHAT = {"text": "a string", "number": "a number", "time": "an ISO-8601 string or epoch seconds"}


def _ls_kind(field: str) -> str:
    if field in PAIR_FIELDS:
        source, part = PAIR_FIELDS[field]
        return "path" if part == "key" and source in PATH_SOURCES else part
    return field if field in ("tags", "metadata") else FIELDS[field].kind


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    """(kind, value, position) tokens; kinds num, name, str, ( ) [ ] , and end."""
    tokens, i = [], 0
    while True:
        m = _TOKEN.match(text, i)
        if m is None:
            pos = len(text) - len(text[i:].lstrip())
            raise FilterError(f"unexpected character {text[pos]!r}", text=text, position=pos)
        kind, pos = m.lastgroup, m.start(m.lastgroup)
        if kind == "end":
            return tokens + [("end", None, len(text))]
        if kind == "quote":
            value, i = _string(text, pos)
            tokens.append(("str", value, pos))
            continue
        if kind == "num" and (value := parse_number(m.group(kind))) is None:
            raise FilterError("a number must be a finite float or an int within 64 bits", text=text,
                              position=pos)
        tokens.append(("num", value, pos) if kind == "num" else
                      (m.group(kind) if kind == "punct" else kind, m.group(kind), pos))
        i = m.end()


def _string(text: str, start: int) -> tuple[str, int]:
    """The quoted string opening at ``start``, and the offset after it."""
    quote, out, i = text[start], [], start + 1
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i:i + 2]))  # others stay as written: like's \% \_
            i += 2
        else:
            out.append(text[i])
            i += 1
        if len(out) > MAX_STRING:
            raise FilterError(f"a string is longer than {MAX_STRING} characters", text=text, position=start)
    if i >= len(text):
        raise FilterError(f"unterminated string: no closing {quote}", text=text, position=start)
    return "".join(out), i + 1


class _LangSmith:
    """A recursive-descent parser of one LangSmith filter string."""

    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, _tokenize(text), 0

    def fail(self, message: str, position: int):
        raise FilterError(message, text=self.text, position=position)

    def next(self) -> tuple[str, Any, int]:
        token = self.tokens[self.i]
        self.i += token[0] != "end"
        return token

    def peek(self) -> str:
        return self.tokens[self.i][0]

    @staticmethod
    def show(kind: str, value: Any) -> str:
        return "the end of the filter" if kind == "end" else repr(str(value))

    def parse(self) -> Any:
        node = _lift(self.call(1))
        kind, value, pos = self.next()
        if kind != "end":
            self.fail(f"unexpected {self.show(kind, value)} after the end of the filter", pos)
        return node

    def punct(self, want: str, fn: str, lparen: int) -> None:
        kind, value, pos = self.next()
        if kind == want:
            return
        if kind == "end":
            self.fail("unbalanced brackets: this [ is never closed" if fn == "[" else
                      f"unbalanced parentheses: this {fn}( is never closed", lparen)
        signature = _SIGNATURES.get(fn, "[value, ...]")
        if (want, kind) in ((")", ","), (",", ")")):
            self.fail(f"too {'many' if want == ')' else 'few'} arguments: {signature}", pos)
        self.fail(f"expected {want!r} in {signature}, found {self.show(kind, value)}", pos)

    def call(self, depth: int) -> Any:
        kind, fn, pos = self.next()
        if kind != "name":
            self.fail(f"expected a function such as eq(field, value) or and(...), found {self.show(kind, fn)}",
                      pos)
        if fn not in _SIGNATURES:
            self.fail(f"unknown function {fn!r}; valid: {', '.join(_SIGNATURES)}", pos)
        if depth > MAX_DEPTH:
            self.fail(f"the filter is nested deeper than {MAX_DEPTH} calls", pos)
        lparen = self.tokens[self.i][2]
        self.punct("(", fn, lparen)
        if fn in ("and", "or", "not"):
            children = [self.call(depth + 1)]
            while fn != "not" and self.peek() == ",":
                self.next()
                children.append(self.call(depth + 1))
            self.punct(")", fn, lparen)
            if fn == "and":
                return _pair_up(children)
            return Not(_lift(children[0])) if fn == "not" else Or([_lift(c) for c in children])
        if fn == "search" and self.peek() == "str" and self.tokens[self.i + 1][0] != ",":
            text = self.next()[1]
            self.punct(")", fn, lparen)
            return Or([Compare(f, "search", text, pos) for f in _SEARCH_FIELDS])
        field, fpos = self.field(fn)
        if fn not in _KIND_OPS[_ls_kind(field)]:
            ops = ", ".join(_KIND_OPS[_ls_kind(field)])
            self.fail(f"{fn}() cannot be used on {field}; on {field} use: {ops}", pos)
        if fn == "exists" and self.peek() != ",":
            self.punct(")", fn, lparen)
            if field == "metadata":
                self.fail("exists(metadata, \"key\") needs a key", fpos)
            return Compare(field, "neq", None, fpos)
        self.punct(",", fn, lparen)
        lit = self.literal()
        self.punct(")", fn, lparen)
        if fn == "exists":
            if field not in ("metadata", "inputs", "outputs") or lit[0] != "str":
                self.fail("exists(field, \"key\") takes metadata, inputs or outputs and a string key", lit[2])
            return KeyValue(field, [Compare("key", "eq", lit[1], lit[2])], fpos)
        if (fn == "in") != (lit[0] == "list"):
            self.fail("in() takes a [list] of values" if fn == "in" else
                      f"{fn}() takes one value, not a list (use in(field, [...]))", lit[2])
        if fn == "in":
            value: Any = tuple(self.value(field, "eq", item) for item in lit[1])
        else:
            value = self.value(field, fn, lit)
        if field == "tags":
            return KeyValue("tags", [Compare("value", "eq" if fn == "has" else fn, value, lit[2])], fpos)
        if fn == "has":  # has(metadata, '{"k": v, ...}'): every pair is present
            return And([KeyValue("metadata", [Compare("key", "eq", k, lit[2]),
                                              Compare("value", "eq", v, lit[2])], fpos) for k, v in value.items()])
        return Compare(field, fn, value, fpos)

    def field(self, fn: str) -> tuple[str, int]:
        """A field name, bare or quoted (LangSmith accepts ``eq("run_type", "llm")`` too)."""
        kind, value, pos = self.next()
        if kind in ("name", "str") and value in LANGSMITH_FILTER_FIELDS:
            return value, pos
        if kind in ("name", "str"):
            self.fail(f"unknown field {shown(value)}; valid fields: {', '.join(LANGSMITH_FILTER_FIELDS)}", pos)
        self.fail(f"expected a field name in {_SIGNATURES[fn]}, found {self.show(kind, value)}", pos)

    def literal(self) -> tuple[str, Any, int]:
        """A value: ("str"|"num"|"const", value, pos) or ("list", [values...], pos)."""
        kind, value, pos = self.next()
        if kind in ("str", "num"):
            return kind, value, pos
        if kind == "name" and value in ("null", "true", "false"):
            return "const", {"null": None, "true": True, "false": False}[value], pos
        if kind == "[":
            items = []
            while self.peek() != "]":
                if items:
                    self.punct(",", "[", pos)
                if self.peek() == "[":  # refused before descending: "[[[[..." must not recurse
                    self.fail("lists cannot be nested", self.tokens[self.i][2])
                items.append(self.literal())
            self.next()
            return "list", items, pos
        self.fail("a value is missing" if kind == "end" else "expected a value (a quoted string, a number, null, "
                  f"true, false or [a, list]), found {self.show(kind, value)}", pos)

    def value(self, field: str, op: str, lit: tuple) -> Any:
        """The literal checked and converted for ``field`` (times to microseconds)."""
        kind, value, pos = lit
        fkind = _ls_kind(field)
        if op in TEXT_OPS or op == "has" or fkind in ("doc", "tags", "metadata"):
            if kind != "str":
                self.fail(f"{op}({field}, ...) takes a quoted string", pos)
            if op == "like" and (problem := like_problem(value)):
                self.fail(problem, pos)
            if op == "has" and field == "metadata":
                try:
                    value = json.loads(value)
                    json_text(value)  # NaN, Infinity, 1e999 parse but cannot be compared as JSON
                except (ValueError, RecursionError):
                    value = None
                if not isinstance(value, dict):
                    self.fail("has(metadata, ...) takes a JSON object in a string, e.g. '{\"k\": \"v\"}', "
                              "with finite numbers", pos)
            return value
        if field in PAIR_FIELDS:
            part = PAIR_FIELDS[field][1]
            if part == "key" and kind != "str" or part == "score" and not (kind == "num" or value is None):
                self.fail(f"{field} compares with {'a quoted string' if part == 'key' else 'a number'}", pos)
            if op not in ("eq", "neq") and kind not in ("str", "num"):
                self.fail(f"{op}() compares with a string or a number, not {value!r}", pos)
            if fkind == "path" and value.count(".") > MAX_PATH_DOTS:
                self.fail(f"a key path holds at most {MAX_PATH_DOTS} dots", pos)
            return value
        if value is None and op in ("eq", "neq") and fkind in _WHAT:
            return None
        if fkind == "status" and not (kind == "str" and (value in STATUSES or value in STATUS_ALIASES)):
            self.fail(f"status is one of {STATUS_CHOICES}", pos)
        if fkind == "root" and not isinstance(value, bool):
            self.fail("is_root compares with true or false", pos)
        if field == "latency":
            seconds = value if kind == "num" else _duration_s(value) if kind == "str" else None
            if seconds is None and kind == "str":
                seconds = parse_number(value.strip())  # "5" means 5 seconds too
            if seconds is None:
                self.fail('latency compares with seconds: a number or a string like "5s", "250ms", "2m"', pos)
            return seconds
        if fkind == "time" and kind in ("str", "num"):
            try:
                return to_us(value, field)
            except ValidationError as exc:
                self.fail(str(exc), pos)
        if fkind in ("status", "root") or (fkind, kind) in (("text", "str"), ("number", "num")):
            return value
        self.fail(f"{field} compares with {_WHAT[fkind]}, not {shown(value)}", pos)


def _absent(source: str, cond: Compare) -> Not:
    """``neq`` standing alone: no pair of the source has that part equal to the value."""
    return Not(KeyValue(source, [Compare(cond.field, "eq", cond.value, cond.position)], cond.position))


def _lift(node: Any) -> Any:
    """A lone key/value comparison: some pair of its source satisfies it; a lone ``neq``:
    none has that key (or value, or score): ``neq(metadata_key, "k")`` is "runs without k"."""
    if isinstance(node, Compare) and node.field in PAIR_FIELDS:
        source, part = PAIR_FIELDS[node.field]
        cond = Compare(part, node.op, node.value, node.position)
        return _absent(source, cond) if node.op == "neq" else KeyValue(source, [cond], node.position)
    return node


def _pair_up(children: list) -> And:
    """In one and(), the key/value comparisons of one source refer to the same pair, as in
    LangSmith's docs: ``and(eq(metadata_key, "k"), neq(metadata_value, "v"))`` is "k is there,
    with a value other than v". A ``neq`` on a key always means the key is absent, and a
    ``neq`` on a value or score joins the pair only when the pair names a key (eq, in, ...);
    otherwise it means no pair has that value (``and(neq(metadata_key, "k"),
    neq(metadata_value, "v"))``: neither key k nor value v is there)."""
    out: list = []
    groups: dict[str, list] = {}
    for child in children:
        if isinstance(child, Compare) and child.field in PAIR_FIELDS:
            source, part = PAIR_FIELDS[child.field]
            if source not in groups:
                groups[source] = []
                out.append((source, child.position))
            groups[source].append(Compare(part, child.op, child.value, child.position))
        else:
            out.append(child)
    result: list = []
    for item in out:
        if not isinstance(item, tuple):
            result.append(item)
            continue
        source, position = item
        conds = groups[source]
        keyed = any(c.field == "key" and c.op != "neq" for c in conds)
        pair = [c for c in conds if c.op != "neq" or (keyed and c.field != "key")]
        if pair:
            result.append(KeyValue(source, pair, position))
        result.extend(_absent(source, c) for c in conds if c.op == "neq" and not (keyed and c.field != "key"))
    return And(result)


def parse_langsmith(text: str) -> Any:
    """Parse a LangSmith filter such as ``and(eq(run_type, "llm"), gt(latency, "2s"))``.

    Raises:
        FilterError: naming what is valid, with the 0-based ``position`` of the offending token.
    """
    return _LangSmith(_check_text(text, "filter")).parse()


# ---------------------------------------------------------------- the Simvue grammar

_SIMVUE_PLAIN = {"name": "name", "description": "description", "status": "status", "run_type": "run_type",
                 "kind": "kind", "folder.path": "folder", "folder": "folder", "id": "id",
                 "trace_id": "trace_id", "parent_run_id": "parent_run_id", "created": "created",
                 "started": "started", "ended": "ended", "endtime": "ended", "modified": "modified"}
_SIMVUE_OPS = {"==": "eq", "!=": "neq", "<": "lt", ">": "gt", "<=": "lte", ">=": "gte",
               "contains": "contains", "exists": "exists"}
_FLIP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}
_SIMVUE_FIELD = re.compile(r"\s*([^\s=!<>]+)\s*")
_SIMVUE_OP = re.compile(r"(not\s+)?(contains|exists)(?=\s|$)|(==|!=|<=|>=|<|>)")
_HAS_TAG = re.compile(r"\s*(not\s+)?has\s+(not\s+)?tag\.")  # Simvue writes "has not tag.x"
_STARRED = re.compile(r"\s*(not\s+)?starred\s*")
STAR_TAG = "starred"  # runlite has no star: a starred run is one tagged "starred" (docs/SIMVUE.md)
_OP_CHARS = re.compile(r"[=!<>]+")
_CHILD_FIELDS = {"alert.name": ("eq", "contains"), "alert.status": ("eq",), "event.message": ("eq", "contains")}
_WORDS = {"true": True, "false": False, "True": True, "False": False, "null": None, "None": None}


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value


def _simvue_one(text: str) -> Any:
    """One ``<field> <op> <value>`` filter, or ``[not] has tag.<tag>``."""
    def fail(message: str, position: int):
        raise FilterError(message, text=text, position=position)

    if m := _HAS_TAG.match(text):
        if not (tag := _unquote(text[m.end():].strip())):
            fail("has tag.<tag> needs a tag name", m.end())
        node = KeyValue("tags", [Compare("value", "eq", tag, m.end())], m.end())
        return Not(node) if bool(m.group(1)) != bool(m.group(2)) else node
    if m := _STARRED.fullmatch(text):
        node = KeyValue("tags", [Compare("value", "eq", STAR_TAG, m.start())], m.start())
        return Not(node) if m.group(1) else node
    if not (m := _SIMVUE_FIELD.match(text)):
        fail("expected '<field> <op> <value>', e.g. 'metadata.lr > 0.01' or 'has tag.x'",
             len(text) - len(text.lstrip()))
    o = _SIMVUE_OP.match(text, m.end())
    if o is None or (o.group(2) and m.end() == m.end(1)):
        fail("expected an operator: ==, !=, <, >, <=, >=, contains, not contains, exists, not exists", m.end())
    op, raw = _SIMVUE_OPS[o.group(2) or o.group(3)], text[o.end():]
    if o.group(3) and (more := _OP_CHARS.match(raw)):  # ">>>", "<>", "=<": not ">" then a value ">> 1"
        fail(f"unknown operator {o.group(3) + more.group(0)!r}; operators: ==, !=, <, >, <=, >=, contains, "
             "not contains, exists, not exists (quote a value that starts with =, <, > or !)", o.start())
    vpos = o.end() + len(raw) - len(raw.lstrip())
    if op == "exists" and raw.strip():
        fail("exists takes no value", vpos)
    if op != "exists" and not raw.strip():
        fail(f"{o.group(0)} needs a value after it", len(text))
    # every Simvue negation (!=, not contains, not exists) is NOT of its positive form
    negate = bool(o.group(1)) or op == "neq"
    node = _simvue_node(m.group(1), m.start(1), "eq" if op == "neq" else op, _unquote(raw.strip()), vpos, fail)
    return Not(node) if negate else node


def _simvue_node(field: str, fpos: int, op: str, value: str, vpos: int, fail) -> Any:
    """The node of a positive Simvue filter (op: eq, lt, gt, lte, gte, contains, exists)."""
    if field in _SIMVUE_PLAIN:
        name = _SIMVUE_PLAIN[field]
        kind = FIELDS[name].kind
        if kind == "status" and (op != "eq" or value not in STATUSES and value not in STATUS_ALIASES):
            fail(f"status takes == or != with one of {STATUS_CHOICES}", vpos if op == "eq" else fpos)
        if op == "exists":
            return Compare(name, "neq", None, fpos)
        if kind == "time":
            if op == "contains":
                fail(f"{field} takes ==, !=, <, >, <=, >=, exists", fpos)
            if (seconds := _duration_s(value)) is not None:  # "created < 2h": within the last 2 hours
                if op == "eq":
                    fail("a relative time (e.g. 2h) takes <, >, <= or >=", vpos)
                if not seconds * 1e6 < 1 << 62:  # Ago must stay an int64 (and inf cannot be rounded)
                    fail("a relative time must be shorter than 100,000 years", vpos)
                return Compare(name, _FLIP[op], Ago(round(seconds * 1e6)), fpos)
            try:
                number = parse_number(value)
                return Compare(name, op, to_us(value if number is None else number, field), fpos)
            except ValidationError:
                fail(f"{field} compares with a time: ISO-8601, epoch seconds, or a duration (2h, 3d, 1w)", vpos)
        return Compare(name, op, value, fpos)
    prefix, _, rest = field.partition(".")
    if field == "user":
        if op != "eq":
            fail("user takes == or != with a user name or self", fpos)
        return _user_node(value, fpos, vpos)
    if field == "tag":
        if op not in ("eq", "contains"):
            fail("tag takes ==, !=, contains, not contains (or use 'has tag.<tag>')", fpos)
        return KeyValue("tags", [Compare("value", op, value, vpos)], fpos)
    if prefix in ("alert", "event"):
        if field not in _CHILD_FIELDS:
            fail(f"unknown field {field!r}; valid: {', '.join(_CHILD_FIELDS)}", fpos)
        if op not in _CHILD_FIELDS[field]:
            fail(f"{field} takes ==, !={', contains, not contains' if 'contains' in _CHILD_FIELDS[field] else ''}",
                 fpos)
        if field == "alert.status" and value not in ("ok", "critical"):
            fail("alert.status is ok or critical", vpos)
        return KeyValue(prefix, [Compare(rest, op, value, vpos)], fpos)
    if prefix in ("metric", "metrics"):
        if (metric := metric_field(field)) is None:
            fail(f"a metric filter is metric.<name>.<stat> with stat one of {', '.join(METRIC_STATS)}", fpos)
        if op in ("exists", "contains") or (number := parse_number(value)) is None:
            fail("a metric statistic compares (==, !=, <, >, <=, >=) with a number",
                 fpos if op in ("exists", "contains") else vpos)
        return KeyValue("series", [Compare("name", "eq", metric[0], fpos), Compare(metric[1], op, number, vpos)],
                        fpos)
    if prefix == "folder":
        fail(f"unknown field {field!r}; the folder is folder.path", fpos)
    if prefix not in ("system", "metadata"):
        fail(_unknown_field(field, prefix), fpos)
    if not rest:
        fail(f"{prefix}.<key> needs a key", fpos)
    source, key = prefix, rest
    has_key = Compare("key", "eq", key, fpos)
    if op == "exists":
        return KeyValue(source, [has_key], fpos)
    # a value that reads as a number compares numerically; true/false/null as JSON; else as text
    number = parse_number(value)
    if number is None and op in ORDERING_OPS and _NUMBER.fullmatch(value):  # as text, 5 < "1e400" < "1abc"
        fail("a number compared by order must be a finite float or an int within 64 bits (== compares"
             " longer digits as text)", vpos)
    typed = value if op == "contains" else number if number is not None else _WORDS.get(value, value)
    if op in ORDERING_OPS and not (isinstance(typed, str) or is_number(typed)):
        fail(f"{value!r} cannot be ordered; compare with == or !=", vpos)
    return KeyValue(source, [has_key, Compare("value", op, typed, vpos)], fpos)


_FIELD_NAMES = tuple(f for f in _SIMVUE_PLAIN if "." not in f) + ("user", "tag")
_NAMESPACES = ("metadata", "system", "metric", "alert", "event", "folder")
_KNOWN = (f"fields: {', '.join(_FIELD_NAMES)}; namespaces: metadata.<key>, system.<key>, "
          f"metric.<name>.<{'|'.join(METRIC_STATS)}>, alert.name, alert.status, event.message, folder.path; "
          "and the forms 'has tag.<tag>', 'starred'")


def _unknown_field(field: str, prefix: str) -> str:
    """What to say about a field that is none of Simvue's. A misspelt one would otherwise be
    an empty result (``nmae == x``, ``metadta.lr > 1``), so none is guessed to be a metadata
    key: those are written ``metadata.<key>``."""
    if "." in field:
        close = difflib.get_close_matches(prefix, _NAMESPACES + ("metrics",), n=1)
        guess = f" (did you mean {close[0]}.{field.partition('.')[2]}?)" if close else ""
        return f"unknown namespace {prefix!r} in {field!r}{guess}; {_KNOWN}"
    close = difflib.get_close_matches(field, _FIELD_NAMES + _NAMESPACES, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown field {field!r}{guess}; {_KNOWN}; a metadata key is written metadata.{field}"


def current_user() -> str | None:
    """The OS user running this process (``user == self``), None when the OS names none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None


def _user_node(value: str, fpos: int, vpos: int) -> Any:
    """``user == <name>`` (``self``: this process's OS user). runlite files are local and runs
    record no owner unless their ``system`` holds ``user``; a run without one belongs to the
    user reading the file, so it matches ``self`` (and that user's name)."""
    me = current_user()
    name = me if value == "self" else value
    has_user = Compare("key", "eq", "user", fpos)
    named = KeyValue("system", [has_user, Compare("value", "eq", name, vpos)], fpos) if name else Or([])
    return Or([Not(KeyValue("system", [has_user], fpos)), named]) if name == me else named


def parse_simvue(filters: list[str] | str) -> Any:
    """Parse Simvue filters such as ``["metadata.lr > 0.01", "has tag.best"]`` (all must hold).

    Raises:
        FilterError: naming what is valid, with the 0-based ``position`` in the offending string.
    """
    if not isinstance(filters, (str, list, tuple)):
        raise FilterError(f"filters must be a list of str, got {type(filters).__name__}")
    children = []
    for index, text in enumerate([filters] if isinstance(filters, str) else filters):
        if len(_check_text(text, f"filter {index}")) > MAX_STRING:
            raise FilterError(f"filter {index} is longer than {MAX_STRING} characters", text=text,
                              position=MAX_STRING)
        children.append(_simvue_one(text))
    # Positive alert conditions refer to one alert: "alert.name == x", "alert.status == critical".
    alerts = [c for c in children if isinstance(c, KeyValue) and c.source == "alert"]
    if len(alerts) > 1:
        merged = KeyValue("alert", [cond for a in alerts for cond in a.conditions], alerts[0].position)
        # by identity, through a set: one scan of the list, however many alert filters there are
        later = {id(a) for a in alerts[1:]}
        children = [merged if c is alerts[0] else c for c in children if id(c) not in later]
    return And(children)

