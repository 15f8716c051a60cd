"""Searching runs with either filter grammar: LangSmith ``list_runs`` and Simvue ``get_runs``.

Filters parse into one AST (``query/``) compiled to parameterized SQL over whitelisted
columns; the SQL runs on a reader connection whose authorizer allows reads only.
"""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from typing import Any

from .. import errors
from .. import query
from ..records.runs import LANGSMITH_FIELDS, SIMVUE_FIELDS, RunList, RunRecord
from .metric_sets import Summaries
from .runs import LOADED_PARTS, SELECT_TREE, records, status_of
from .schema import RUN_STATUSES
from .._validation import check_choice, check_folder, check_name, check_tags, now_us, one_or_many, shown, to_us

# The order of ``runs`` (the index of creation times').
_NEWEST = " ORDER BY runs.created DESC, runs.id DESC"


def check_limit(limit: Any, offset: Any = 0) -> None:
    """``limit`` None or an int >= 0, ``offset`` an int >= 0 (the one check of every listing)."""
    for value, what in ((limit, "limit"), (offset, "offset")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise errors.ValidationError(f"{what} must be None or an int >= 0, got {shown(value)}")


def _order(order_by: Any) -> str:
    # the sortable columns are query's one whitelist, shared with get_runs's sort_by
    order, _ = query.order_by_sql(order_by)  # no parameters: LangSmith sorts by columns only
    if not order:  # None or []: newest first, as LangSmith lists runs
        return " ORDER BY coalesce(runs.started, runs.created) DESC, runs.id DESC"
    return f" {order}, runs.id"


# The record fields each ``to_dict()`` key is made from (any other key: the field of its name).
_SELECT_FIELDS = {"start_time": ("started", "created"), "end_time": ("ended",), "endtime": ("ended",),
                  "run_status": ("status",), "parent_run_ids": ("dotted_order",), "extra": ("extra", "metadata"),
                  "prompt_token_details": ("metadata", "prompt_token_details"), "s3_urls": ("attachments",),
                  "completion_token_details": ("metadata", "completion_token_details")}
# The record fields of each part a listing's records read on first use (``runs.RowLoader``).
_PART_FIELDS = {"events": {"events"}, "descendants": {"child_run_ids", "direct_child_run_ids"},
                "attachments": {"attachments"}, "feedback_stats": {"feedback_stats"}}
SELECTABLE = frozenset(LANGSMITH_FIELDS + SIMVUE_FIELDS) | {"s3_urls"}  # s3_urls: the SDK's name for attachments


def check_select(select: Any) -> frozenset | None:
    """The record fields ``select`` (``to_dict()`` keys) needs, ``id`` always; None for no select."""
    if select is None:
        return None
    fields = [select] if isinstance(select, str) else select
    if not isinstance(fields, (list, tuple)):
        raise errors.ValidationError(f"select must be a list of RunRecord.to_dict() fields, got {shown(select)}")
    keep = {"id"}
    for field in fields:
        if not isinstance(field, str) or field not in SELECTABLE:
            raise errors.ValidationError(f"select takes fields of RunRecord.to_dict(); {shown(field)} is not one")
        keep.update(_SELECT_FIELDS.get(field, (field,)))
    return frozenset(keep)


def _selected(records: RunList, keep: frozenset | None) -> RunList:
    """With ``keep``, records holding only those fields (the others at their defaults; ``name``
    and ``status`` None when not kept): only those are decoded, or read (``events``)."""
    if keep is None:
        return records
    rest = keep - {"id", "name", "status"}
    return RunList((RunRecord(id=rec.id, name=rec.name if "name" in keep else None,
                              status=rec.status if "status" in keep else None, **{f: getattr(rec, f) for f in rest})
                    for rec in records), summaries=records.summaries)


MAX_IDS = 10_000  # ids or names of one list: each is a bound value, and SQLite binds at most 32,766


def id_list(value: Any, what: str) -> list[str]:
    """One id or name, or a list of them (``uuid.UUID`` taken as its str): at most ``MAX_IDS``,
    each a name (the one check of every listing's id lists)."""
    items = [value] if isinstance(value, (str, uuid.UUID)) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise errors.ValidationError(f"{what} must be a str or a list of str, got {shown(value)}")
    if len(items) > MAX_IDS:
        raise errors.LimitError(f"{what} lists {len(items):,} values; at most {MAX_IDS:,} are taken")
    return [check_name(str(v) if isinstance(v, uuid.UUID) else v, what) for v in items]


def _in(column: str, values: list[str], params: list) -> str:
    """``column IN (?, ...)`` of bound values (``column`` from this module's own text); nothing for []."""
    params.extend(values)
    return f"{column} IN ({', '.join('?' * len(values))})" if values else "0"


def list_runs(store, *, project_name=None, project_id=None, filter=None, trace_filter=None, tree_filter=None,
              run_type=None, is_root=None, error=None, trace_id=None, parent_run_id=None, start_time=None,
              run_ids=None, id=None, select=None, order_by=None, limit=None, offset=0, after=None) -> list:
    """LangSmith ``list_runs`` over one file (see ``Store.list_runs``)."""
    check_limit(limit, offset)
    after = None if after is None else _after(after, order_by)
    keep = check_select(select)
    now = now_us()
    where: list[str] = []
    params: list[Any] = []
    if run_ids is not None and id is not None:
        raise errors.ValidationError("give run_ids or id (the same filter under the SDK's name), not both")
    if id is not None:
        run_ids = id
    if run_ids is not None:  # as in LangSmith: run_ids ignores every other filter
        where.append(_in("runs.id", id_list(run_ids, "run id"), params))
    else:
        # A trace's runs come from its own index (``runs_trace_start``, in the listing's order):
        # given the project's as well (the v2 run query names both), SQLite took the project's
        # and walked all its runs of the time window for the trace's. "+" keeps that index out.
        session = "runs.session_id" if trace_id is None else "+runs.session_id"
        projects = [_in(column, id_list(value, what), params) for value, column, what in (
            (project_name, "runs.session_name", "project_name"), (project_id, session, "project_id"))
            if value is not None]
        if projects:  # as the SDK does: runs of any project named by name or id
            where.append("(" + " OR ".join(projects) + ")")
        by_start = functools.partial(query.compile_where, start_order=not order_by)
        for text, compile_ in ((filter, by_start), (trace_filter, query.trace_filter_sql),
                               (tree_filter, query.tree_filter_sql)):
            if text is not None:
                sql, args = compile_(query.parse_langsmith(text), now_us=now)
                where.append(f"({sql})")
                params.extend(args)
        simple = (("runs.run_type = ?", run_type, "run_type"), ("runs.trace_id = ?", trace_id, "trace_id"),
                  ("runs.parent_run_id = ?", parent_run_id, "parent_run_id"))
        for clause, value, what in simple:
            if value is not None:
                where.append(clause)
                params.append(check_name(str(value) if isinstance(value, uuid.UUID) else value, what))
        roots = query.top_level_sql(indexed=not order_by)  # (newest first by start unless ordered otherwise)
        for flag, what, yes, no in ((is_root, "is_root", roots, "runs.parent_run_id IS NOT NULL"),
                                    (error, "error", "runs.error IS NOT NULL", "runs.error IS NULL")):
            if flag is not None:
                if not isinstance(flag, bool):
                    raise errors.ValidationError(f"{what} must be True, False or None, got {shown(flag)}")
                where.append(yes if flag else no)
        if start_time is not None:
            where.append("coalesce(runs.started, runs.created) >= ?")
            params.append(to_us(start_time, "start_time"))
    if after is not None:  # where the listing's index goes on from: a page costs what the first does
        # A range of the start alone, which SQLite seeks to in the listing's index (it does not
        # for a row value over an expression), then the runs of the same start before the id.
        where.append("coalesce(runs.started, runs.created) <= ? AND (coalesce(runs.started, runs.created) < ?"
                     " OR runs.id < ?)")
        params.extend((after[0], *after))
    sql = _paged(SELECT_TREE + (" WHERE " + " AND ".join(where) if where else "") + _order(order_by), params,
                 limit, offset)
    store.live.flush_own_spans()
    parts = None if keep is None else [p for p in LOADED_PARTS if keep & _PART_FIELDS[p]]
    return _selected(_listing(store, sql, params, now, parts=parts), keep)


def _after(after: Any, order_by: Any) -> tuple[int, str]:
    """(start microseconds, id) of ``after``, a run record of a previous page of the listing."""
    if order_by:
        raise errors.ValidationError("after pages the newest-first order; with order_by, page by offset")
    start, run_id = getattr(after, "start_time", None), getattr(after, "id", None)
    if not isinstance(run_id, str) or start is None:
        raise errors.ValidationError(f"after must be a run record a listing gave (with its id and start_time), "
                                     f"got {shown(after)}")
    return to_us(start, "after's start_time"), run_id


def _paged(sql: str, params: list, limit: int | None, offset: int) -> str:
    """The query with its LIMIT and OFFSET bound, when they cut anything: with them SQLite runs
    an ``EXISTS`` filter (a tag) as a subquery a row instead of a lookup (measured ~15% of a
    100,000-run listing)."""
    if limit is None and not offset:
        return sql
    params.extend((-1 if limit is None else limit, offset or 0))
    return sql + " LIMIT ? OFFSET ?"


def get_runs(store, filters=None, *, sort_by=None, limit=None, offset=0) -> list[RunRecord]:
    """Simvue ``get_runs`` over one file (see ``Store.get_runs``)."""
    check_limit(limit, offset)
    now = now_us()
    sql, params = SELECT_TREE, []
    if filters:
        tree = query.parse_simvue(filters)
        where, args = query.compile_where(tree, now_us=now)
        sql += f" WHERE {where}"
        params.extend(args)
    if sort_by:
        order, args = query.sort_sql(sort_by)
        sql += f" {order}, runs.id"
        params.extend(args)
    else:
        sql += " ORDER BY runs.created DESC, runs.id DESC"
    sql = _paged(sql, params, limit, offset)
    store.live.flush_own_spans()
    return _listing(store, sql, params, now)


def page_records(store, sql: str, params: list, now: int) -> RunList:
    """The records of a listing query built elsewhere (``run_table.page_sql``), as listings make
    them: parts read on first use for the whole page at once."""
    store.live.flush_own_spans()
    return _listing(store, sql, params, now)


_BATCH = 1000  # rows made into records at a time (while a status filter and a limit stop early)


def _listing(store, sql: str, params: list, now: int, wanted: set | None = None,
             limit: int | None = None, parts: list | None = None) -> RunList:
    """The records of a listing query (descendants' and children's ids, attachments,
    feedback_stats, events and, for frames, metric summaries read on first use, for the whole
    listing at once). With ``wanted``, only runs whose effective status (``lost`` computed) is
    in it, at most ``limit``."""
    database = store.database
    with database.read() as conn:
        if wanted is None:
            rows = conn.execute(sql, params).fetchall()
        else:
            rows, cursor = [], conn.execute(sql, params)
            while limit is None or len(rows) < limit:
                batch = list(itertools.islice(cursor, _BATCH))
                if not batch:
                    break
                rows += [row for row in batch if status_of(row, now) in wanted]
            rows = rows if limit is None else rows[:limit]
    made = records(database, rows, now) if parts is None else records(database, rows, now, parts)
    return RunList(made, summaries=Summaries(store))


def walks_newest(conn, wanted: int | None, roots: int | None = None) -> bool:
    """Whether the newest ``wanted`` top-level runs (None: all of them) are read best by walking
    the index of creation times, which passes every span created since, rather than by finding
    every root on the index of parents and sorting their rowids. Both give the same runs; this
    chooses only the work. ``runs`` is read as the file's largest rowid, ``roots`` (when the
    caller has not counted them) on the index of parents.

    A page walks iff ``wanted * runs <= roots**2``: it passes about ``runs / roots`` rows a run
    listed if roots are spread evenly. Where they are not (old experiments, then a burst of
    spans), a walk can pass every run, where the index of parents never reads more than the
    roots; so roots are probed only as far as that bound, and ties go to the index of parents.
    All of them walk iff ``runs <= 3 * roots``: the walk then passes every row, ~5 VM steps a
    span, where a root sorted costs ~14. (2,200 top-level runs among 100,000 spans: the newest
    1,000 229k steps -> 123k, all of them 504k -> 229k; 100,000 experiments walk, probing
    2,237 roots for 50.)"""
    runs = conn.execute("SELECT max(rowid) FROM runs").fetchone()[0] or 0
    top = query.top_level_sql(indexed=True)
    if wanted is None:
        if roots is None:
            roots = conn.execute(f"SELECT count(*) FROM runs WHERE {top}").fetchone()[0]
        return runs <= 3 * roots
    if roots is None:  # a root past the bound's place: enough of them to walk
        return conn.execute(f"SELECT 1 FROM runs WHERE {top} LIMIT 1 OFFSET ?",
                            (math.isqrt(wanted * runs),)).fetchone() is not None
    return wanted * runs <= roots * roots


def runs(store, *, folder: Any, status: Any, tags: Any, run_type: Any, limit: Any,
         is_root: Any = None) -> RunList:
    """``Store.runs``: newest first, by folder, status (one or a list; ``lost`` computed), every
    tag (through the ``run_tags`` index), run type, and being a trace's root or not."""
    check_limit(limit)
    if is_root is not None and not isinstance(is_root, bool):
        raise errors.ValidationError(f"is_root must be True, False or None, got {shown(is_root)}")
    statuses = None
    if status is not None:
        statuses = one_or_many(status, "status")
        for one in statuses:
            check_choice(one, "status", RUN_STATUSES)
    folder = None if folder is None else check_folder(folder)
    tags, run_type = check_tags(tags or []), None if run_type is None else check_name(run_type, "run_type")
    now = now_us()
    wanted = None if statuses is None else set(statuses)
    if is_root and folder is None and statuses is None and not tags and run_type is None:
        with store.database.read() as conn:
            walk = walks_newest(conn, limit)
        if not walk:  # a few top-level runs among many spans: found on the index of parents, and
            # their rowids sorted, then the listed rows read (a sorter fed whole rows: 5x the work)
            sql = (f"{SELECT_TREE} WHERE runs.rowid IN (SELECT runs.rowid FROM runs WHERE"
                   f" {query.top_level_sql(indexed=True)}{_NEWEST} LIMIT ?){_NEWEST}")
            return _listing(store, sql, [-1 if limit is None else limit], now)
    sql, params = runs_sql(folder=folder, statuses=statuses, tags=tags, run_type=run_type, is_root=is_root)
    if wanted is None:  # otherwise the limit applies after the effective status is known
        sql += " LIMIT ?"
        params.append(-1 if limit is None else limit)
    return _listing(store, sql, params, now, wanted, limit)


def runs_sql(*, folder: str | None = None, statuses: list[str] | None = None, tags: list[str] = (),
             run_type: str | None = None, is_root: bool | None = None) -> tuple[str, list]:
    """The query of ``runs``, newest first (``lost`` matches stored ``running`` rows here)."""
    where: list[str] = []
    params: list[Any] = []
    if is_root is not None:
        where.append(query.top_level_sql() if is_root else "runs.parent_run_id IS NOT NULL")
    if folder is not None:
        where.append("runs.folder = ?")
        params.append(folder)
    if statuses is not None:  # lost is computed on read (heartbeat, pid): running rows are candidates
        stored = sorted(set(statuses) | ({"running"} if "lost" in statuses else set()))
        where.append("runs.status IN (%s)" % ", ".join("?" * len(stored)))
        params.extend(stored)
    for tag in tags:
        where.append("runs.id IN (SELECT run_id FROM run_tags WHERE tag = ?)")
        params.append(tag)
    if run_type is not None:
        where.append("runs.run_type = ?")
        params.append(run_type)
    sql = SELECT_TREE + (" WHERE " + " AND ".join(where) if where else "")
    return sql + _NEWEST, params


def tag_names(conn) -> list[str]:
    """Every tag a run has, sorted: read from the tag index alone, no run is read."""
    return [r[0] for r in conn.execute("SELECT DISTINCT tag FROM run_tags ORDER BY tag")]


def run_ids_for(store, runs_or_filters: Any, what: str = "runs") -> list[str]:
    """Run ids from a list of runs/ids, a Simvue filter list, or a LangSmith filter string."""
    if isinstance(runs_or_filters, str):
        if "(" in runs_or_filters:
            return [r.id for r in list_runs(store, filter=runs_or_filters)]
        return [r.id for r in get_runs(store, [runs_or_filters])]
    items = one_or_many(runs_or_filters, what)  # any iterable of runs, ids or Simvue filters
    if items and all(isinstance(i, str) for i in items) and any(" " in i for i in items):
        return [r.id for r in get_runs(store, items)]
    return [store.run_id(item) for item in items]
