"""The reads of the viewer's run table: a page of a run list with its total and group counts,
the columns it can show, and a page's metric summaries in one query."""

from __future__ import annotations

from typing import Any

from .. import _lazy, errors
from .._validation import now_us, shown

run_table = _lazy.module("runlite.storage.run_table")
search = _lazy.module("runlite.storage.search")

MAX_PAGE = 1000          # runs one page may hold


def _check_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.ValidationError(f"{what} must be an int from {low} to {high}, got {shown(value)}")
    return value


class RunTableReads:
    """``Store.run_page`` and ``run_columns``. A mixin of ``Store``, which
    gives ``database`` and ``live``."""

    def run_page(self, filter: str | None = None, *, grammar: str = "auto", sort_by: Any = None,
                 group_by: str | None = None, limit: int = 50, offset: int = 0) -> run_table.RunPage:
        """One page of runs, as the viewer's run table shows them.

        Args:
            filter: a filter in either grammar; None or "": top-level runs only.
            grammar: ``auto`` (a filter with a parenthesis is LangSmith's, else Simvue's),
                ``langsmith`` or ``simvue``.
            sort_by: as ``get_runs``' (``"-created"``, ``"metadata.lr desc"``,
                ``("metric.loss.min", False)``, a list of them) over ``query.TABLE_SORT_BY``
                (adds folder, run_type, tags, duration), ``metadata.<key>`` and
                ``metric.<name>.<stat>``; NULLs last, run id the tie-breaker. Default
                newest first.
            group_by: ``folder`` or ``metadata.<key>``: runs ordered by that value first, and
                ``groups`` counts the runs of each (one GROUP BY).
            limit, offset: the page (``limit`` 1 to ``MAX_PAGE``).

        The work is one count, one page query and (with ``group_by``) one GROUP BY: bounded by
        the page and the run count, not by metric points. FilterError for a bad filter or field.
        """
        _check_int(limit, "limit", 1, MAX_PAGE)
        _check_int(offset, "offset", 0, 2**62)
        group = run_table.check_group(group_by)
        now = now_us()
        where, params, used = run_table.where_sql(filter, grammar, now)
        self.live.flush_own_spans()
        with self.database.read() as conn:
            total = run_table.count(conn, where, params)
            groups = run_table.group_counts(conn, where, params, group) if group else []
            walk = run_table.walks_in_order(conn, where, total, limit, offset)
        sql, args = run_table.page_sql(where, params, sort_by, group, limit, offset, walk=walk)
        runs = search.page_records(self, sql, args, now)
        return run_table.RunPage(runs=runs, total=total, groups=groups, grammar=used)

    def run_columns(self, filter: str | None = None, *, grammar: str = "auto", sample: int = 1000,
                    cap: int = 200) -> tuple[list[str], list[str]]:
        """``(metadata keys, metric names)`` of the newest ``sample`` runs a filter matches (by
        start time; top-level runs without one), the most common first, at most ``cap`` of
        each: what a run table offers as columns, read from a bounded sample."""
        _check_int(sample, "sample", 1, 100_000)
        _check_int(cap, "cap", 1, 10_000)
        where, params, _ = run_table.where_sql(filter, grammar, now_us())
        with self.database.read() as conn:
            return run_table.column_names(conn, where, params, sample=sample, cap=cap)
