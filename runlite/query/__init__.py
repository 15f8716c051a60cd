"""Run filters and sorts: the LangSmith and Simvue grammars -> one small AST -> parameterized SQL.

The package's public face; callers import from here, not from the modules:

- ``ast.py``: the AST nodes, the field/status/statistic tables and the limits (shared).
- ``parse.py``: both grammars -> the AST (``parse_langsmith``, ``parse_simvue``).
- ``compile.py``: the AST -> a SQL boolean expression and its parameters (``compile_where``,
  ``trace_filter_sql``, ``tree_filter_sql``); the filter semantics are described there.
- ``sort.py``: LangSmith ``order_by`` and Simvue ``sort_by`` -> ``ORDER BY`` over one
  whitelist of sortable columns (``order_by_sql``, ``sort_sql``,
  ``value_sql``; ``TABLE_SORT_BY``: the viewer's run table).

Imports run one way, ast <- parse, ast <- compile <- sort, so there is no cycle. Everything
here is pure: nothing opens a connection, and no user text ever becomes SQL text.
"""

from .ast import (
    MAX_DEPTH, MAX_LIKE_BYTES, MAX_PARAMS, MAX_STRING, METRIC_STATS, STATUSES, THREAD_KEYS, Ago, And, Compare,
    KeyValue, Not, Or,
)
from .compile import compile_where, top_level_sql, trace_filter_sql, tree_filter_sql
from .parse import parse_langsmith, parse_simvue
from .sort import TABLE_SORT_BY, order_by_sql, sort_keys, sort_sql, value_sql

__all__ = [
    "And", "Or", "Not", "Compare", "KeyValue", "Ago",
    "parse_langsmith", "parse_simvue",
    "compile_where", "top_level_sql", "trace_filter_sql", "tree_filter_sql",
    "order_by_sql", "sort_sql", "value_sql", "sort_keys", "TABLE_SORT_BY",
    "MAX_STRING", "MAX_DEPTH", "MAX_PARAMS", "MAX_LIKE_BYTES", "STATUSES", "METRIC_STATS", "THREAD_KEYS",
]
