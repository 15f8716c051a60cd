"""Reading traces and runs by either filter grammar; feedback; importing and aborting runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _lazy, errors
from .._validation import check_name, now_us, one_or_many, shown
from ..storage import runs as runs_mod

if TYPE_CHECKING:  # annotations only: a record's module loads with the first read that makes one
    from ..records.runs import RunRecord

importing = _lazy.module("runlite.storage.importing")
search = _lazy.module("runlite.storage.search")
feedback_mod = _lazy.module("runlite.storage.feedback")
projects_mod = _lazy.module("runlite.storage.projects")
trace_reads = _lazy.module("runlite.storage.trace_reads")


class Traces:
    """The trace and search methods of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def read_run(self, run_id: Any, load_child_runs: bool = False) -> RunRecord:
        """One run (LangSmith ``read_run``); with ``load_child_runs``, ``child_runs`` holds its
        descendants nested, each level in execution (dotted_order) order."""
        self.live.flush_own_spans()
        read = runs_mod.read_subtree if load_child_runs else runs_mod.read_one
        return read(self.database, self.run_id(run_id), now_us())

    def trace(self, trace_id: Any) -> RunRecord:
        """The whole tree of a trace: its root with ``child_runs`` nested."""
        self.live.flush_own_spans()
        if not isinstance(trace_id, str) or not trace_id:
            raise errors.ValidationError(f"trace_id must be a run id str, got {shown(trace_id)}")
        return runs_mod.read_trace(self.database, trace_id, now_us())

    def span_tree(self, run: Any, *, limit: int = 20000) -> tuple[list[tuple], int]:
        """The compact tree under a run (itself first, then its descendants in execution order),
        for pages that draw big traces: tuples of ``storage.trace_reads.TREE_FIELDS`` (ids,
        names, types, statuses, times in microseconds, depth, error flag, own tokens and cost),
        at most ``limit`` of them, and how many spans the subtree has. One indexed range scan,
        no record is built."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise errors.ValidationError(f"limit must be an int >= 1, got {shown(limit)}")
        run_id = self.run_id(run)
        found = self._read(trace_reads.tree, run_id, limit, now_us())
        if found is None:
            raise errors.NotFoundError(f"no run with id {shown(run_id)}")
        return found

    def trace_totals(self, trace_ids: list[str]) -> dict[str, dict]:
        """Per trace id: span count, errors, prompt/completion/total tokens and total cost (its llm
        spans' summed, else all its spans': a roll-up is not counted twice; an llm span's usage
        read from its outputs when its token columns are empty), first start and last end
        (microseconds), unfinished spans."""
        ids = [check_name(t, "trace id") for t in one_or_many(trace_ids, "trace_ids")]
        return self._read(trace_reads.totals, ids)

    def trace_page(self, *, filter: str | None = None, order: str = "start", descending: bool = True,
                   limit: int = 50, offset: int = 0) -> list[RunRecord]:
        """One page of traces (root runs) matching a LangSmith ``filter``, sorted by ``order``:
        ``start``, ``latency``, or the trace's summed ``tokens`` or ``cost``; FilterError for a
        bad filter."""
        if not isinstance(order, str) or order not in trace_reads.TRACE_ORDER:
            raise errors.ValidationError(f"order must be one of {', '.join(trace_reads.TRACE_ORDER)}, got {shown(order)}")
        for value, what in ((limit, "limit"), (offset, "offset")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise errors.ValidationError(f"{what} must be an int >= 0, got {shown(value)}")
        ids = self._read(trace_reads.root_page, filter, order, bool(descending), limit, offset, now_us())
        if not ids:
            return []
        found = {rec.id: rec for rec in self.list_runs(run_ids=ids)}
        return [found[i] for i in ids if i in found]

    def create_feedback(self, run: Any, key: str, *, score: Any = None, value: Any = None,
                        comment: str | None = None, source: Any = None, correction: Any = None,
                        feedback_id: str | None = None) -> str:
        """Record feedback on a run (LangSmith); returns the feedback id.

        ``score``: a number or bool; ``value``: a JSON value (a label for categorical feedback);
        ``source``: a dict like ``{"type": "api" | "model" | "app", ...}`` or a type name.
        """
        run_id = self.run_id(run)
        with self.database.write() as conn:
            return feedback_mod.create(conn, run_id, key, score=score, value=value, comment=comment,
                                       source=source, correction=correction, feedback_id=feedback_id)

    def import_runs(self, runs: list[dict]) -> list[str]:
        """Insert runs given as ``RunRecord.to_dict()`` dicts or as the LangSmith SDK makes them
        (``storage/importing.py``), children in ``child_runs`` too, all or none; returns their ids.
        A run in another's ``child_runs`` is its child: parent_run_id, trace_id and dotted_order
        follow from that place when not given (ValidationError when given otherwise). A run whose
        id exists already is refused, but for a placeholder at its place (a parent this file had
        not received), which becomes the run."""
        if isinstance(runs, dict):
            runs = [runs]
        self.live.flush_own_spans()  # their parents may be spans traced here, still in memory
        with self.database.write() as conn:
            return importing.import_runs(conn, runs)

    def feedback(self, run: Any) -> list[dict]:
        """The feedback records of a run, oldest first."""
        return self._metric_read(run, feedback_mod.listing)

    def list_feedback(self, *, run_ids: Any = None, feedback_key: Any = None, feedback_source_type: Any = None,
                      limit: int | None = None, offset: int = 0) -> list[dict]:
        """Feedback records of any run, as LangSmith's ``Client.list_feedback`` lists them
        (oldest first, each with its ``trace_id``): of the runs ``run_ids``, with the keys
        ``feedback_key``, from the source types ``feedback_source_type`` (``api``, ``model``,
        ``app``, ``evaluator``); each None for any. A run the file does not hold has none."""
        run_ids, keys, sources = (None if value is None else search.id_list(value, what) for value, what in (
            (run_ids, "run_ids"), (feedback_key, "feedback_key"), (feedback_source_type, "feedback_source_type")))
        search.check_limit(limit, offset)
        self.live.flush_own_spans()
        with self.database.read() as conn:
            return feedback_mod.search(conn, run_ids=run_ids, keys=keys, sources=sources, limit=limit, offset=offset)

    def abort_run(self, run: Any, reason: str = "aborted") -> None:
        """Stop a created or running run from outside its process: it is ``terminated`` with
        ``reason`` as its error now, and its process ends its handle at its next heartbeat
        (within its heartbeat interval); logging to it then raises ``RunAborted``."""
        reason = check_name(reason, "reason")
        run_id = self.run_id(run)
        with self.database.write() as conn:
            runs_mod.abort(conn, run_id, reason)

    def list_runs(self, *, project_name: Any = None, project_id: Any = None, filter: str | None = None,
                  trace_filter: str | None = None, tree_filter: str | None = None, run_type: str | None = None,
                  is_root: bool | None = None, error: bool | None = None, trace_id: str | None = None,
                  parent_run_id: str | None = None, start_time: Any = None, run_ids: list | None = None,
                  id: Any = None, select: list | None = None, order_by: Any = None, limit: int | None = None,
                  offset: int = 0, after: Any = None) -> list:
        """Runs matching LangSmith's filter language, newest first (see docs/QUERIES.md).

        ``project_name``/``project_id`` (one or a list each): runs of any of those projects.
        ``filter`` applies to each run, ``trace_filter`` to the root of its trace and
        ``tree_filter`` to any run of its trace, e.g.
        ``filter='and(eq(run_type, "llm"), gt(latency, 2))'``. ``run_ids`` (or ``id``, the SDK's
        name) ignores every other filter. ``select`` (``to_dict()`` fields) gives records holding
        just those fields and ``id``, the others at their defaults. ``after`` (the last record of a
        page, its ``start_time`` selected) gives the runs after it: reading a long listing page by
        page, each page then costs what the first does, where ``offset`` passes every run before.
        """
        return search.list_runs(self, project_name=project_name, project_id=project_id, filter=filter,
                                trace_filter=trace_filter, tree_filter=tree_filter, run_type=run_type,
                                is_root=is_root, error=error, trace_id=trace_id, parent_run_id=parent_run_id,
                                start_time=start_time, run_ids=run_ids, id=id, select=select,
                                order_by=order_by, limit=limit, offset=offset, after=after)

    def projects(self) -> list[dict]:
        """LangSmith's projects (``TracerSession`` dicts: id, name, start_time of the first run,
        last_run_start_time, run_count...) of the runs in this file, most recently active first."""
        return self._read(projects_mod.listing)

    def project(self, name: str | None = None, *, id: Any = None, stats: bool = True) -> dict:
        """One project (as ``projects()`` gives them) by name or by id; NotFoundError when no run is
        in it. ``stats=False`` leaves out its run count and last run's start, which cost a walk of
        its runs (LangSmith's ``include_stats``, false in the SDK's ``read_project``)."""
        if not isinstance(stats, bool):
            raise errors.ValidationError(f"stats must be True or False, got {shown(stats)}")
        return self._read(projects_mod.one, name, id, stats)

    def get_runs(self, filters: list | str | None = None, *, sort_by: Any = None, limit: int | None = None,
                 offset: int = 0) -> list[RunRecord]:
        """Runs matching Simvue filter strings (joined by AND), e.g.
        ``["metadata.lr > 0.01", "has tag.sweep", "metric.loss.min < 0.1"]``; ``sort_by`` a
        field or ``(field, descending)`` pairs (see docs/QUERIES.md)."""
        return search.get_runs(self, filters, sort_by=sort_by, limit=limit, offset=offset)
