"""The reads of the viewer's run table: a page of a run list with its total and group counts,
the columns it can show, and a page's metric summaries in one query."""

from __future__ import annotations

from typing import Any

import attrs

from .. import errors
from .._validation import check_name, now_us, shown
from ..records import RunList
from ..storage import metric_sets, run_table, search

MAX_PAGE = 1000          # runs one page may hold
MAX_SUMMARY_RUNS = 1000  # runs one metric_summaries call may read


@attrs.frozen
class RunPage:
    """One page of a run list: ``runs`` (RunRecords), ``total`` runs the filter matches,
    ``groups`` (``(value, runs)`` in table order, empty without ``group_by``) and the
    ``grammar`` the filter was read in ("" without one)."""
    runs: RunList
    total: int
    groups: list = attrs.field(factory=list)
    grammar: str = ""


def _check_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.ValidationError(f"{what} must be an int from {low} to {high}, got {shown(value)}")
    return value


class RunTableReads:
    """``Store.run_page``, ``run_columns`` and ``metric_summaries``. A mixin of ``Store``, which
    gives ``database`` and ``live``."""

    def run_page(self, filter: str | None = None, *, grammar: str = "auto", sort_by: Any = None,
                 group_by: str | None = None, limit: int = 50, offset: int = 0) -> RunPage:
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
        if filter is not None and not isinstance(filter, str):
            raise errors.ValidationError(f"filter must be a str or None, got {shown(filter)}")
        group = run_table.check_group(group_by)
        now = now_us()
        where, params, used = run_table.where_sql((filter or "").strip(), grammar, now)
        sql, args = run_table.page_sql(where, params, sort_by, group, limit, offset)
        self.live.flush_own_spans()
        with self.database.read() as conn:
            total = run_table.count(conn, where, params)
            groups = run_table.group_counts(conn, where, params, group) if group else []
        runs = search.page_records(self, sql, args, now)
        return RunPage(runs=runs, total=total, groups=groups, grammar=used)

    def run_columns(self, filter: str | None = None, *, grammar: str = "auto", sample: int = 1000,
                    cap: int = 200) -> tuple[list[str], list[str]]:
        """``(metadata keys, metric names)`` of the newest ``sample`` runs a filter matches
        (top-level runs without one), the most common first, at most ``cap`` of each: what a
        run table offers as columns, read from a bounded sample."""
        _check_int(sample, "sample", 1, 100_000)
        _check_int(cap, "cap", 1, 10_000)
        where, params, _ = run_table.where_sql((filter or "").strip(), grammar, now_us())
        with self.database.read() as conn:
            return run_table.column_names(conn, where, params, sample=sample, cap=cap)

    def metric_summaries(self, run_ids: list[str], names: list[str] | None = None) -> dict[str, dict[str, dict]]:
        """``{run_id: {name: {"last", "min", "max"}}}`` of those runs' metrics (series without an
        asset; of ``names`` only when given), as kept at ingest, in one query: a run table
        page's metric cells. A run or metric without a series is absent; a value None is
        NaN or missing (a series of NaN only has no min or max)."""
        if not isinstance(run_ids, (list, tuple)) or len(run_ids) > MAX_SUMMARY_RUNS:
            raise errors.ValidationError(f"run_ids must be a list of at most {MAX_SUMMARY_RUNS} run ids")
        ids = [check_name(i, "run id") for i in run_ids]
        names = metric_sets.check_names(names)
        metric_sets.flush_live(self, ids)
        out: dict[str, dict[str, dict]] = {}
        with self.database.read() as conn:
            for run_id, name, last, low, high in run_table.summaries(conn, ids, names):
                out.setdefault(run_id, {})[name] = {"last": last, "min": low, "max": high}
        return out
