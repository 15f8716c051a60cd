"""Sorting run lists: LangSmith ``order_by`` and Simvue ``sort_by``, over one whitelist.

``SORT_COLUMNS`` is the one table of the columns a run list can be sorted by and their SQL;
each API accepts its own spellings of them (``LANGSMITH_ORDER_BY``, ``SIMVUE_SORT_BY``), so
the two cannot disagree on what a column means, and adding a sortable column is one entry
here plus its name in the API(s) that should offer it. Pure: no SQLite, no I/O. The SQL
text comes only from these tables and a whitelisted alias; metadata keys and metric names
are bound parameters.
"""

from __future__ import annotations

from typing import Any

from ..errors import FilterError
from .._validation import shown
from .ast import FIELDS, METRIC_STATS, metric_field
from .compile import check_alias, doc_sql

# column -> SQL over the run table alias {a}. Filterable columns reuse their filter SQL
# (ast.FIELDS), so a sort and a filter on one name always mean the same value.
SORT_COLUMNS: dict[str, str] = {
    **{f: FIELDS[f].sql for f in ("id", "name", "run_type", "status", "created", "started", "ended",
                                  "modified", "start_time", "end_time", "latency", "total_tokens",
                                  "total_cost")},
    "dotted_order": "{a}.dotted_order",  # LangSmith's tree order; not a filter field
    "folder": FIELDS["folder"].sql,
    "tags": "{a}.tags",  # the JSON text: runs with the same tags sort together
}

# The names each API accepts -> their SORT_COLUMNS column. They differ on purpose: each is
# the set its upstream API documents (LangSmith's order_by, Simvue's sort_by).
LANGSMITH_ORDER_BY = {f: f for f in ("start_time", "end_time", "name", "latency", "total_tokens", "total_cost",
                                     "dotted_order", "status", "run_type", "created")}
SIMVUE_SORT_BY = {**{f: f for f in ("name", "created", "started", "ended", "modified", "status", "id",
                                    "start_time", "end_time", "latency")},
                  "endtime": "ended"}  # Simvue's name of the end time
# The viewer's run table (``Store.run_page``): Simvue's names and the other columns it shows.
TABLE_SORT_BY = {**SIMVUE_SORT_BY, "folder": "folder", "run_type": "run_type", "tags": "tags", "duration": "latency"}


def _items(keys: Any, what: str) -> list:
    """``keys`` as a list: one str is one key; anything else must be iterable."""
    if keys is None:
        return []
    if isinstance(keys, str):
        return [keys]
    try:
        return list(keys)
    except TypeError:  # e.g. a number: refused as a FilterError, not a raw TypeError
        raise FilterError(f"{what}; got {shown(keys)}") from None


def _term(column: str, descending: bool, alias: str) -> str:
    # NULLS LAST: runs without the value (unfinished, no tokens) go after those with it
    return f"{SORT_COLUMNS[column].format(a=alias)} {'DESC' if descending else 'ASC'} NULLS LAST"


def order_by_sql(order_by: Any, *, alias: str = "runs") -> tuple[str, list]:
    """LangSmith ``order_by`` -> ``ORDER BY ...`` text (empty when nothing is asked) and its
    parameters (none today; returned for symmetry with ``sort_sql``). NULLs sort last.

    ``order_by``: a field name or a list of them, ``"-field"`` for descending (``"+field"``
    ascending); fields: ``LANGSMITH_ORDER_BY``. Append your own tie-breaker.
    """
    check_alias(alias)
    terms = []
    for item in _items(order_by, "order_by is a field name or a list of them, like '-start_time'"):
        if not isinstance(item, str):
            raise FilterError(f"order_by items are field names like '-start_time', got {shown(item)}")
        field = item.lstrip("-+")
        if field not in LANGSMITH_ORDER_BY:
            raise FilterError(f"cannot order by {field!r}; use one of {', '.join(sorted(LANGSMITH_ORDER_BY))}")
        terms.append(_term(LANGSMITH_ORDER_BY[field], item.startswith("-"), alias))
    return ("ORDER BY " + ", ".join(terms) if terms else ""), []


def sort_keys(sort_by: Any) -> list[tuple[str, bool]]:
    """``(field, descending)`` pairs from tuples, ``"-field"`` or ``"field desc"``/``"field asc"``."""
    out = []
    keys = [sort_by] if isinstance(sort_by, (str, tuple)) else sort_by  # a tuple is one (field, descending)
    for item in _items(keys, "sort_by is a sort key or a list of them"):
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
                              f" got {shown(item)}")
    return out


def _metadata_sql(alias: str, key: str) -> tuple[str, list]:
    """One metadata value of a run: only scalar JSON values (objects, arrays, booleans read as
    NULL), NULL for a row whose metadata is not valid JSON. The key is bound: as a quoted JSON
    path label (one parse of the document, ~1.5x faster over 100,000 runs) unless it holds a
    quote, a backslash or a control character, which a label cannot spell; then by ``json_each``."""
    column = f"{alias}.metadata"
    if key.isprintable() and '"' not in key and "\\" not in key:
        path = f'$."{key}"'
        return (f"CASE WHEN json_valid({column}) AND json_type({column}, ?) IN ('integer', 'real', 'text')"
                f" THEN {column} ->> ? END"), [path, path]
    return ("(SELECT CASE WHEN kv.type IN ('integer', 'real', 'text') THEN kv.value END"
            f" FROM json_each({doc_sql(column, 'object')}) AS kv WHERE kv.key = ?)"), [key]


def value_sql(field: str, *, alias: str = "runs", names: dict = SIMVUE_SORT_BY) -> tuple[str, list]:
    """The SQL value of one sort field of a run (``names``' columns, ``metadata.<key>``,
    ``metric.<name>.<stat>``) and its parameters: what a run list sorts or groups by."""
    check_alias(alias)
    if field in names:
        return SORT_COLUMNS[names[field]].format(a=alias), []
    if field.startswith("metadata.") and len(field) > 9:
        return _metadata_sql(alias, field[9:])
    if metric := metric_field(field):
        return (f"(SELECT {METRIC_STATS[metric[1]]} FROM series AS s WHERE s.run_id = {alias}.id"
                " AND s.name = ? AND s.asset = '')"), [metric[0]]
    raise FilterError(f"cannot sort by {field!r}; valid: {', '.join(names)}, "
                      "metadata.<key>, metric.<name>.<stat>")


def sort_sql(sort_by: Any, *, alias: str = "runs", names: dict = SIMVUE_SORT_BY) -> tuple[str, list]:
    """Simvue ``sort_by`` -> ``ORDER BY ...`` text (empty when nothing is asked) and its
    parameters; NULLs sort last.

    Keys: a list of ``(field, descending)`` or strings ``"created"``, ``"-metric.loss.min"``,
    ``"metadata.lr desc"``. Fields: ``SIMVUE_SORT_BY`` (name, created, started, ended or
    endtime, modified, status as stored, id, start_time, end_time, latency),
    ``metadata.<key>`` (numbers, then strings), ``metric.<name>.<stat>``. Append your own
    tie-breaker. ``names``: the plain fields allowed (``TABLE_SORT_BY`` for the run table).
    """
    check_alias(alias)
    terms, params = [], []
    for field, descending in sort_keys(sort_by):
        expr, args = value_sql(field, alias=alias, names=names)
        params.extend(args)
        terms.append(f"{expr} {'DESC' if descending else 'ASC'} NULLS LAST")
    return ("ORDER BY " + ", ".join(terms) if terms else ""), params
