"""The SQL of the viewer's run table: one page of a filtered, sorted (optionally grouped) run
list, the list's total, its groups' run counts, and the metadata keys and metric names the
table can offer as columns.

Each statement's cost is bounded by the page and the run count, never by points: the page is
a ``LIMIT``/``OFFSET`` of one ordered query (SQLite's sorter keeps only the rowids up to the
page's end, then the page's rows are read), the total one ``count(*)``, the groups one
``GROUP BY``, and the column lists read a sample of the newest runs (by start time). Filters
come from either grammar (``query``); sort and group fields from ``query.TABLE_SORT_BY`` plus
``metadata.<key>`` and ``metric.<name>.<stat>``, whose key and name are bound parameters,
never SQL text.
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import errors, query
from .._validation import shown
from ..records.runs import RunList
from . import search
from .runs import SELECT_TREE

GRAMMARS = ("auto", "langsmith", "simvue")
MAX_GROUPS = 1000    # groups counted (the rest of a list's groups show no count)
GROUP_FIELDS = ("folder",)  # and metadata.<key>


@attrs.frozen
class RunPage:
    """One page of a run list (``Store.run_page``): ``runs`` (RunRecords), ``total`` runs the
    filter matches, ``groups`` (``(value, runs)`` in table order, empty without ``group_by``)
    and the ``grammar`` the filter was read in ("" without one)."""
    runs: RunList
    total: int
    groups: list = attrs.field(factory=list)
    grammar: str = ""


def where_sql(text: str | None, grammar: str, now: int) -> tuple[str, list, str]:
    """A run table's filter as ``(SQL, parameters, grammar used)``: no text (None, or blank),
    top-level runs only (a trace's spans would crowd the table); ``auto`` reads a text with a
    parenthesis as LangSmith's grammar (its filters are calls), any other as Simvue's.
    FilterError when the text does not parse."""
    if text is not None and not isinstance(text, str):
        raise errors.ValidationError(f"filter must be a str or None, got {shown(text)}")
    if not isinstance(grammar, str) or grammar not in GRAMMARS:
        raise errors.ValidationError(f"grammar must be one of {', '.join(GRAMMARS)}, got {shown(grammar)}")
    text = (text or "").strip()
    if not text:
        return query.top_level_sql(), [], ""
    if grammar == "auto":
        grammar = "langsmith" if "(" in text else "simvue"
    tree = query.parse_langsmith(text) if grammar == "langsmith" else query.parse_simvue([text])
    sql, params = query.compile_where(tree, now_us=now)
    return f"({sql})", list(params), grammar


def check_group(group: str | None) -> str | None:
    """``folder``, ``metadata.<key>`` or None (FilterError otherwise)."""
    if group is None or (isinstance(group, str) and (group in GROUP_FIELDS or (
            group.startswith("metadata.") and len(group) > 9))):
        return group
    raise errors.FilterError(f"cannot group by {shown(group)}; group by folder or metadata.<key>")


def walks_in_order(conn, where: str, total: int, limit: int, offset: int) -> bool:
    """Whether a page of the unfiltered list (the ``total`` top-level runs) in the default order
    walks the index of creation times and stops (`search.walks_newest`, given the list's count:
    2,200 top-level runs among 100,000 spans, 410k VM steps a first page with its count -> 40k;
    files of experiments alone still walk). A filtered list never walks it (its own index finds
    it, then it is sorted)."""
    return where == query.top_level_sql() and search.walks_newest(conn, offset + limit, total)


def page_sql(where: str, params: list, sort_by: Any, group: str | None,
             limit: int, offset: int, *, walk: bool = True) -> tuple[str, list]:
    """The query of one page: runs by group (ascending, NULLs last), then ``sort_by`` (as
    ``get_runs``'; default newest first), then id (in the direction of the last key, so the
    default order walks its index): a stable order, so pages neither repeat nor skip runs.
    ``walk``: the unfiltered list in the default order walks its index (`walks_in_order`)."""
    keys = ([(group, False)] if group else []) + (query.sort_keys(sort_by) if sort_by else [("created", True)])
    order, args = query.sort_sql(keys, names=query.TABLE_SORT_BY)
    tie = "runs.id DESC" if keys[-1][1] else "runs.id"
    if keys == [("created", True)] and where == query.top_level_sql():
        # Unfiltered, the default order walks its index: no sort to shrink. A filter is looked up
        # by its own index (run type, name), in another order, and then sorted; so are a few
        # top-level runs among many spans, found by the index of parents.
        if walk:
            return (f"{SELECT_TREE} WHERE {where} {order}, {tie} LIMIT ? OFFSET ?",
                    [*params, *args, limit, offset])
        where = query.top_level_sql(indexed=True)
    # The sort sees rowids only, then the page's rows are read and put in the same order: a
    # sorter fed whole rows copies every run's metadata (100,000 runs: 322 ms against 130 ms),
    # and every span's inputs and outputs (16,000 llm spans of 4 KB, last page: 248 ms against 17).
    return (f"{SELECT_TREE} WHERE runs.rowid IN (SELECT runs.rowid FROM runs WHERE {where} {order}, {tie}"
            f" LIMIT ? OFFSET ?) {order}, {tie}", [*params, *args, limit, offset, *args])


def count(conn, where: str, params: list) -> int:
    """How many runs the filter matches (unfiltered, the top-level runs alone are read, on the
    index of parents: 2,200 among 100,000 spans, 308k VM steps -> 6k)."""
    if where == query.top_level_sql():
        where = query.top_level_sql(indexed=True)
    return conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchall()[0][0]


def group_counts(conn, where: str, params: list, group: str) -> list[tuple[Any, int]]:
    """``(value, runs)`` of the list's first ``MAX_GROUPS`` groups in their table order (a
    missing or non-scalar value is the group None, last): one GROUP BY over the list."""
    expr, args = query.value_sql(check_group(group), names=query.TABLE_SORT_BY)
    # NOT INDEXED: every run is read anyway, and in table order, not one lookup a run through
    # the folder index (100,000 runs: 54 ms against 101 ms).
    sql = (f"SELECT g, count(*) FROM (SELECT {expr} AS g FROM runs NOT INDEXED WHERE {where})"
           " GROUP BY g ORDER BY g ASC NULLS LAST LIMIT ?")
    return [(value, n) for value, n in conn.execute(sql, [*args, *params, MAX_GROUPS])]


def column_names(conn, where: str, params: list, *, sample: int, cap: int) -> tuple[list[str], list[str]]:
    """The metadata keys and metric names (series without an asset) of the newest ``sample``
    runs the filter matches (by start time), the most common first, at most ``cap`` of each."""
    # By start time, the order of the indexes of run types, names and projects (and runs_start):
    # the sample is a walk of one of them that stops when full, where by creation time every
    # match's row was read to be sorted (16,000 llm spans of 4 KB: 24 ms a query against 0.14).
    # The sort, if any, sees rowids only, as a page's.
    newest = ("SELECT runs.id, runs.metadata FROM runs WHERE runs.rowid IN (SELECT runs.rowid FROM runs"
              f" WHERE {where} ORDER BY coalesce(runs.started, runs.created) DESC, runs.id DESC LIMIT ?)")
    keys = conn.execute(
        f"SELECT kv.key, count(*) AS n FROM ({newest}) AS r, json_each("
        "CASE WHEN json_valid(r.metadata) AND json_type(r.metadata) = 'object' THEN r.metadata END) AS kv"
        " GROUP BY kv.key ORDER BY n DESC, kv.key LIMIT ?", [*params, sample, cap]).fetchall()
    # CROSS JOIN: the sampled runs drive, each seeking its own series. Plans never see bound
    # values (connection_stable_plans), so without it an unknown sample size reads as a large
    # one, and SQLite would scan every series of the file (20,000 runs: 10 ms against 0.7).
    names = conn.execute(
        f"SELECT s.name, count(*) AS n FROM ({newest}) AS r CROSS JOIN series AS s ON s.run_id = r.id AND s.asset = ''"
        " GROUP BY s.name ORDER BY n DESC, s.name LIMIT ?", [*params, sample, cap]).fetchall()
    return [k for k, _ in keys if isinstance(k, str)], [n for n, _ in names]
