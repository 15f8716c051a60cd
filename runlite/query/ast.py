"""The filter AST and the vocabulary both grammars and the compiler share.

``parse.py`` builds these nodes from either grammar and ``compile.py`` turns them into SQL;
both import from here and never from each other, so the field whitelists, the statuses, the
metric statistics and the size limits have one definition. Pure: no SQLite, no I/O.

The semantics the nodes stand for are described in ``compile.py`` (and evaluated in Python by
the tests' oracle, ``tests/oracles/query_eval.py``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import attrs

from .._json_equal import JSON_EQUAL, is_number  # noqa: F401 (the vocabulary parse and compile take from here)
from ..records.runs import LANGSMITH_STATUS

MAX_STRING = 10_000      # characters of one quoted string (LangSmith) or one filter (Simvue)
MAX_DEPTH = 64           # nesting of calls (LangSmith) and of nodes (compile_where)
MAX_PARAMS = 30_000      # bound parameters of one compiled filter (SQLite allows 32,766)
MAX_LIKE_BYTES = 50_000  # SQLite refuses LIKE patterns of 50,000 bytes and more

# ---------------------------------------------------------------- the nodes


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
    """``field op value`` on a run column (a key of ``FIELDS``); inside ``KeyValue``, ``field``
    names a part of the source.

    ops: eq, neq, gt, gte, lt, lte, in (value a tuple), like, search, contains.
    """
    field: str
    op: str
    value: Any = None
    position: int = 0


@attrs.frozen
class KeyValue:
    """Some item of the run's ``source`` satisfies every condition at once.

    Sources (parts): ``metadata``, ``inputs``, ``outputs``, ``system`` (key, value; the keys of
    ``PATH_SOURCES`` are dotted paths, compared with eq or in only: ``system.cpu.arch``), ``tags``
    (value), ``feedback`` (key, score, value), ``alert`` (name, status), ``event`` (message),
    ``series`` (name, and every statistic of ``METRIC_STATS``).
    """
    source: str
    conditions: tuple = attrs.field(converter=tuple)
    position: int = 0


@attrs.frozen
class Ago:
    """A time ``us`` microseconds before the ``now_us`` given when compiling (kept relative in
    the AST so one parsed filter can be compiled again later)."""
    us: int


# ---------------------------------------------------------------- the run fields


class Field(NamedTuple):
    """A filterable run column: its SQL over the table alias ``{a}``, and its kind.

    Kinds: text, number, time (int microseconds), status, root (is_root), doc (a JSON
    document column, searched as text). The kind decides which operators and values the
    parsers accept and how the compiler compares.
    """
    sql: str
    kind: str


# The metadata keys that name a LangSmith thread, in the order the first present one wins
# (LangSmith's docs accept any of the three and give no order).
THREAD_KEYS = ("thread_id", "session_id", "conversation_id")

# The SQL lives beside the name so that a field is added in one place; it is a whitelist:
# only these templates (formatted with a whitelisted alias) ever become SQL column text.
_START = "coalesce({a}.started, {a}.created)"  # a run never started began when created
FIELDS: dict[str, Field] = {
    **{f: Field("{a}." + f, "text") for f in (
        "id", "name", "run_type", "kind", "folder", "description", "error", "trace_id", "parent_run_id",
        "reference_example_id")},
    **{f: Field("{a}." + f, "number") for f in (
        "total_tokens", "prompt_tokens", "completion_tokens", "total_cost", "prompt_cost", "completion_cost")},
    **{f: Field("{a}." + f, "time") for f in ("created", "started", "ended", "modified", "first_token_time")},
    "start_time": Field(_START, "time"),
    "end_time": Field("{a}.ended", "time"),
    "latency": Field(f"(({{a}}.ended - {_START}) / 1e6)", "number"),  # seconds, as LangSmith
    "status": Field("{a}.status", "status"),
    "is_root": Field("{a}.parent_run_id", "root"),
    **{f: Field("{a}." + f, "doc") for f in ("metadata", "inputs", "outputs")},  # JSON text
    "session_id": Field("{a}.session_id", "text"),  # LangSmith's project id ...
    "session_name": Field("{a}.session_name", "text"),  # ... and name
    "project_name": Field("{a}.session_name", "text"),
    # LangSmith's thread: the first of THREAD_KEYS the metadata holds as a string
    "thread_id": Field("(CASE WHEN NOT json_valid({a}.metadata) THEN NULL"
                       " WHEN json_type({a}.metadata) = 'object' THEN coalesce(" + ", ".join(
                           f"CASE WHEN json_type({{a}}.metadata, '$.{key}') = 'text'"
                           f" THEN json_extract({{a}}.metadata, '$.{key}') END" for key in THREAD_KEYS) + ") END)",
                       "text"),
    # the run's 1-based place in its trace by dotted_order (the root is 1); never NULL. The
    # compiler compares a count capped just above the value (``compile.py``), so eq 1 is one
    # index probe; this uncapped form is the definition.
    "execution_order": Field("(1 + (SELECT count(*) FROM runs AS eo WHERE eo.trace_id = {a}.trace_id"
                             " AND eo.dotted_order < {a}.dotted_order))", "number"),
}

# The names LangSmith filters may use: FIELDS as LangSmith spells them, plus the key/value
# pseudo-fields of PAIR_FIELDS and ``tags``.
LANGSMITH_FILTER_FIELDS = (
    "id", "name", "run_type", "status", "start_time", "end_time", "latency", "total_tokens",
    "prompt_tokens", "completion_tokens", "total_cost", "prompt_cost", "completion_cost", "error",
    "tags", "metadata", "metadata_key", "metadata_value", "input_key", "input_value", "output_key",
    "output_value", "feedback_key", "feedback_score", "feedback_value", "is_root", "trace_id",
    "parent_run_id", "first_token_time", "inputs", "outputs", "folder", "kind", "thread_id",
    "execution_order", "session_id", "session_name", "project_name", "reference_example_id",
)
# LangSmith's key/value pseudo-fields -> (KeyValue source, part)
PAIR_FIELDS = {
    "metadata_key": ("metadata", "key"), "metadata_value": ("metadata", "value"),
    "input_key": ("inputs", "key"), "input_value": ("inputs", "value"),
    "output_key": ("outputs", "key"), "output_value": ("outputs", "value"),
    "feedback_key": ("feedback", "key"), "feedback_score": ("feedback", "score"),
    "feedback_value": ("feedback", "value"),
}
# KeyValue sources whose keys are dotted paths: ``a.b`` is key ``b`` of the object under key
# ``a``, looking through arrays on the way (``messages.content`` in
# ``{"messages": [{"content": ...}]}``); their values are those of members at any depth.
PATH_SOURCES = ("inputs", "outputs", "system")  # system: Simvue's nested system.cpu.arch
MAX_PATH_DOTS = 12  # dots in one key path (its SQL grows with their square)

STATUSES = ("created", "running", "completed", "failed", "terminated", "lost")
# LangSmith's status words, each the set of runlite statuses it stands for
# LangSmith's status words, each the runlite statuses ``RunRecord.to_dict()`` gives it for.
STATUS_ALIASES = {word: tuple(s for s, w in LANGSMITH_STATUS.items() if w == word) for word in ("success", "error", "pending")}
STATUS_CHOICES = ", ".join(STATUSES + tuple(STATUS_ALIASES))  # for error messages

# Metric statistics of a series row (alias ``s``): the names Simvue filters (metric.<name>.<stat>),
# KeyValue("series") conditions and sort_by accept -> their SQL. A new aggregate of what a
# series row holds is one entry here; the parser, compiler and sorts all read this table (the
# tests' oracle computes derived ones, like var, in Python: add it there too).
METRIC_STATS = {"min": "s.min", "max": "s.max", "avg": "s.mean", "mean": "s.mean", "last": "s.last",
                "first": "s.first", "count": "s.count", "nan_count": "s.nan_count",
                "var": "(s.m2 / (s.count - s.nan_count))"}

ORDERING_OPS = ("gt", "gte", "lt", "lte")
TEXT_OPS = ("like", "search", "contains")

# ---------------------------------------------------------------- values


def json_text(value: Any) -> str:
    """Compact JSON as runlite stores it (a value bound to compare with, or looked for in a document).

    Raises ValueError on NaN and infinities (they have no JSON text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_type(value: Any) -> str:
    """The name SQLite's ``json_type`` gives a parsed JSON value."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return {int: "integer", float: "real", str: "text", list: "array", dict: "object"}[type(value)]


def like_problem(pattern: str) -> str | None:
    """Why SQLite could not take ``pattern`` as meant (None when it can): checked by the
    parser, to point at the pattern, and again by the compiler, for hand-built nodes."""
    if len(pattern.encode("utf-8", "surrogatepass")) >= MAX_LIKE_BYTES:
        return f"a like() pattern must be under {MAX_LIKE_BYTES} bytes of UTF-8"
    if "\x00" in pattern:  # SQLite's LIKE stops at a NUL
        return "a like() pattern cannot hold a NUL character"
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        return "a like() pattern cannot end with a lone '\\' (it escapes the next character: \\%, \\_, \\\\)"
    return None


def metric_field(field: str) -> tuple[str, str] | None:
    """``metric.<name>.<stat>`` (or ``metrics.``) -> (name, stat), else None. The stat is the
    last dot-segment, so metric names may hold dots."""
    for prefix in ("metric.", "metrics."):
        if field.startswith(prefix):
            name, _, stat = field[len(prefix):].rpartition(".")
            if name and stat in METRIC_STATS:
                return name, stat
    return None
