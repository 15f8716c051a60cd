"""Store: one runlite file. Opens it, creates runs, answers reads, keeps and ships the file."""

from __future__ import annotations

import os
from typing import Any, Iterator

from . import _defaults, errors
from ._validation import check_folder, check_name, now_us, shown, to_us
from .live.registry import LiveRuns
from .recipes import engine as recipes
from .recipes.cookbook import Cookbook
from .run import DEFAULT_HEARTBEAT_TIMEOUT, Run
from .records import QueryResult, RunRecord, Series, Stats
from .storage import alerts as stored_alerts
from .storage import archive, blobs, importing, metric_reads, search
from .storage import attachments as files
from .storage import connection as db
from .storage import events as events_mod
from .storage import feedback as feedback_mod
from .storage import projects as projects_mod
from .storage import recipes as recipe_store
from .storage import runs as runs_mod
from .storage import schema
from .storage import sql as sql_mod

_NO_ID = object()


class Store:
    """A runlite file. Use ``runlite.open(path)``; also a context manager.

    Safe to share between threads. After ``fork()`` the child opens its own connections.
    ``database`` (the connections) and ``live`` (the run handles and spans being written)
    are the interfaces runlite's own modules use; programs need neither.
    """

    def __init__(self, path: str | os.PathLike = "runs.db", *, read_only: bool = False,
                 durable: bool = False, timeout: float = 30.0, on_alert: Any = None, untrusted: bool = False):
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path or "\x00" in path:
            raise errors.ValidationError(f"path must be a non-empty file path or ':memory:', got {shown(path)}")
        for flag, what in ((read_only, "read_only"), (durable, "durable"), (untrusted, "untrusted")):
            if not isinstance(flag, bool):
                raise errors.ValidationError(f"{what} must be True or False, got {shown(flag)}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 86_400:
            raise errors.ValidationError(f"timeout must be seconds between 0 and 86400, got {shown(timeout)}")
        if on_alert is not None and not callable(on_alert):
            raise errors.ValidationError(f"on_alert must be callable, got {shown(on_alert)}")
        if untrusted and not read_only:
            raise errors.ValidationError("untrusted=True opens a file from someone else for reading: pass read_only=True")
        if read_only and path == ":memory:":
            raise errors.ValidationError("a ':memory:' store cannot be read_only: there is nothing to read")
        if read_only and not os.path.exists(path):
            raise errors.NotFoundError(f"no runlite file at {path!r} (read_only=True never creates one)")
        self.path = path
        self.read_only = read_only
        self.on_alert = on_alert
        self.database = db.Database(path, read_only=read_only, durable=durable, timeout=float(timeout),
                                    untrusted=untrusted)
        self.live = LiveRuns(self.database, read_only=read_only)
        try:
            self._open()
        except BaseException:
            self.database.close()
            raise

    def _open(self) -> None:
        if self.database.untrusted:  # integrity, identity and the exact schema before anything is read
            archive.check_source(self.path, self.database.timeout)
        if not self.read_only:
            self.database.open_for_writing()
            return
        version = self.database.check_readable()
        if version == 0:
            raise errors.NotARunliteFile(f"{self.path!r} is an empty SQLite file, not a runlite store")
        if version < schema.SCHEMA_VERSION:
            raise errors.StoreError(
                f"{self.path!r} has schema version {version}; this runlite reads version "
                f"{schema.SCHEMA_VERSION}. Open it once without read_only=True to upgrade it"
            )

    # -- lifecycle

    def flush(self) -> None:
        """Write what every live run of this store has buffered, and its pending spans, now.

        Reads flush what they read, so a program always sees its own writes; call this before
        another process or connection reads the file, or before copying it by hand.
        """
        if self.read_only or self.closed:
            return
        failed = self.live.flush_all()
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Flush and close every run handle still open on this store, then the connections.

        Runs still running stay ``running`` in the file (they read as ``lost`` once their
        heartbeat is stale): closing a store is not the end of a job.
        """
        if self.database.closed:
            return
        unwritten = self.live.close()  # a run's last flush failed (a full disk)
        self.database.close()
        if unwritten is not None:  # closed all the same; the buffered points are gone: say so
            raise type(unwritten)(f"the store is closed, but the last buffered metrics/events of a run "
                                  f"could not be written and are lost: {unwritten}") \
                from (unwritten.__cause__ or unwritten)  # keep SQLite's error as the cause

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self.database.closed

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.read_only else "open")
        return f"<runlite.Store {self.path!r} {state}>"

    # -- creating runs

    def init(self, name: str | None = None, *, metadata: dict | None = None,
             tags: list | None = None, description: str | None = None, folder: str = "/",
             running: bool = True, status: str | None = None, parent: Any = None,
             run_type: str | None = None, inputs: Any = None,
             heartbeat_timeout: float | None = DEFAULT_HEARTBEAT_TIMEOUT, on_alert: Any = None) -> "Run":
        """Create a run and return its live handle.

        Args:
            name: a name (random ``adjective-noun`` when None); need not be unique.
            status: the seed's spelling of ``running``: ``"created"`` or ``"running"``.
            parent: a Run, RunRecord or run id; the new run joins the parent's trace.
            run_type: a LangSmith run type (``chain``, ``llm``, ``tool``...) for trace spans.
            heartbeat_timeout: seconds without a heartbeat after which reads report the run
                ``lost``; None never times out (a dead process on this host still reads lost).
            on_alert: called with an ``AlertChange`` on each alert state change of this run
                (besides the store's ``on_alert``).
        """
        run = Run(store=self)
        run.init(name, metadata=metadata, tags=tags, description=description, folder=folder,
                 running=running, status=status, parent=parent, run_type=run_type, inputs=inputs,
                 heartbeat_timeout=heartbeat_timeout, on_alert=on_alert)
        return run

    def reconnect(self, name_or_id: str) -> "Run":
        """Reopen a ``created`` run (by id or unique name) and move it to ``running``."""
        run = Run(store=self)
        run.reconnect(name_or_id)
        return run

    # -- resolving

    def run_id(self, run: Any) -> str:
        """The id of a Run, a RunRecord, a span, or a run id or unique name (which must exist)."""
        if isinstance(run, str):
            self.live.flush_own_spans()  # a span traced here may still be in memory
            with self.database.read() as conn:
                return runs_mod.resolve(conn, run)
        run_id = getattr(run, "id", _NO_ID)  # a Run, a RunRecord or a span: anything with its id
        if run_id is None:
            raise errors.ValidationError("that Run has not been initialised (call init() first)")
        if not isinstance(run_id, str):
            raise errors.ValidationError(
                f"a run is given as a Run, a RunRecord, a span, or an id or name str; got {type(run).__name__}")
        return run_id

    # -- reads

    def _read(self, fn, *args):
        """``fn(conn, *args)`` on a read transaction, spans traced here written first."""
        self.live.flush_own_spans()
        with self.database.read() as conn:
            return fn(conn, *args)

    def get_run(self, id_or_name: Any) -> RunRecord:
        """The stored record of one run (by Run, id or unique name)."""
        self.live.flush_own_spans()
        return runs_mod.read_one(self.database, self.run_id(id_or_name), now_us())

    def runs(self, *, folder: str | None = None, status: str | list | None = None,
             tags: list | None = None, run_type: str | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally only those in ``folder`` (exactly), with ``status``
        (one or a list; ``lost`` is computed), having every tag in ``tags``, of ``run_type``."""
        self.live.flush_own_spans()
        return search.runs(self.database, folder=folder, status=status, tags=tags, run_type=run_type, limit=limit)

    # -- traces

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
        A run whose id exists already is refused."""
        if isinstance(runs, dict):
            runs = [runs]
        with self.database.write() as conn:
            return importing.import_runs(conn, runs)

    def feedback(self, run: Any) -> list[dict]:
        """The feedback records of a run, oldest first."""
        return self._metric_read(run, feedback_mod.listing)

    def abort_run(self, run: Any, reason: str = "aborted") -> None:
        """Stop a created or running run from outside its process: it is ``terminated`` with
        ``reason`` as its error now, and its process ends its handle at its next heartbeat
        (within its heartbeat interval); logging to it then raises ``RunAborted``."""
        reason = check_name(reason, "reason")
        run_id = self.run_id(run)
        with self.database.write() as conn:
            runs_mod.abort(conn, run_id, reason)

    # -- searching

    def list_runs(self, *, project_name: Any = None, project_id: Any = None, filter: str | None = None,
                  trace_filter: str | None = None, tree_filter: str | None = None, run_type: str | None = None,
                  is_root: bool | None = None, error: bool | None = None, trace_id: str | None = None,
                  parent_run_id: str | None = None, start_time: Any = None, run_ids: list | None = None,
                  id: Any = None, select: list | None = None, order_by: Any = None, limit: int | None = None,
                  offset: int = 0) -> list:
        """Runs matching LangSmith's filter language, newest first (see docs/QUERIES.md).

        ``project_name``/``project_id`` (one or a list each): runs of any of those projects.
        ``filter`` applies to each run, ``trace_filter`` to the root of its trace and
        ``tree_filter`` to any run of its trace, e.g.
        ``filter='and(eq(run_type, "llm"), gt(latency, 2))'``. ``run_ids`` (or ``id``, the SDK's
        name) ignores every other filter. ``select`` (``to_dict()`` fields) gives records holding
        just those fields and ``id``, the others at their defaults.
        """
        return search.list_runs(self, project_name=project_name, project_id=project_id, filter=filter,
                                trace_filter=trace_filter, tree_filter=tree_filter, run_type=run_type,
                                is_root=is_root, error=error, trace_id=trace_id, parent_run_id=parent_run_id,
                                start_time=start_time, run_ids=run_ids, id=id, select=select,
                                order_by=order_by, limit=limit, offset=offset)

    def projects(self) -> list[dict]:
        """LangSmith's projects (``TracerSession`` dicts: id, name, start_time of the first run,
        last_run_start_time, run_count...) of the runs in this file, most recently active first."""
        return self._read(projects_mod.listing)

    def project(self, name: str | None = None, *, id: Any = None) -> dict:
        """One project (as ``projects()`` gives them) by name or by id; NotFoundError when no run is in it."""
        return self._read(projects_mod.one, name, id)

    def get_runs(self, filters: list | str | None = None, *, sort_by: Any = None, limit: int | None = None,
                 offset: int = 0) -> list[RunRecord]:
        """Runs matching Simvue filter strings (joined by AND), e.g.
        ``["metadata.lr > 0.01", "has tag.sweep", "metric.loss.min < 0.1"]``; ``sort_by`` a
        field or ``(field, descending)`` pairs (see docs/QUERIES.md)."""
        return search.get_runs(self, filters, sort_by=sort_by, limit=limit, offset=offset)

    def metric_values_many(self, runs_or_filters: Any, names: list[str] | str, *, xaxis: str = "step",
                           max_points: int | None = None) -> dict[str, dict[str, Series]]:
        """``{run_id: {name: Series}}`` for several runs (runs or ids, or a filter of either
        grammar); a run without one of the metrics just lacks that key."""
        names = [names] if isinstance(names, str) else list(names)
        out: dict[str, dict[str, Series]] = {}
        for run_id in search.run_ids_for(self, runs_or_filters):
            out[run_id] = {}
            for name in names:
                try:
                    out[run_id][name] = self.metric_values(run_id, name, xaxis=xaxis, max_points=max_points)
                except errors.NotFoundError:
                    continue
        return out

    # -- recipe runs

    def create_cookbook(self, name: Any, *, levers: Any = None, outcomes: Any = None, constraints: Any = (),
                        run_boundaries: Any = (), min_duration: float | None = None, record_filters: Any = (),
                        top_runs: int = 10, recipe_group: str | None = None, kpis: Any = None):
        """Store a cookbook (levers, outcomes or KPIs, constraints with bins, run boundaries,
        record filters); returns the ``Cookbook`` with its id. ``name`` may instead be a cookbook
        dict: runlite's, or Sight Machine's SDK JSON (one ``recipe_group``, ``kpis`` for KPI
        formulas; stored under the group's id). Bad configuration raises a ``ValidationError``."""
        with self.database.write() as conn:
            if isinstance(name, dict):
                return recipe_store.save(conn, Cookbook.from_dict(name, recipe_group=recipe_group, kpis=kpis))
            return recipe_store.create(conn, name, levers=levers, outcomes=outcomes, constraints=constraints,
                                       run_boundaries=run_boundaries, min_duration=min_duration,
                                       record_filters=record_filters, top_runs=top_runs)

    def cookbook(self, id_or_name: str):
        """A stored cookbook by id or unique name."""
        with self.database.read() as conn:
            return recipe_store.load(conn, id_or_name)

    def compute_recipe_runs(self, cookbook: Any, *, sources: list, start: Any = None, end: Any = None) -> list:
        """Segment the machine data of ``sources`` (runs whose metric series carry assets) into
        recipe runs, store them (replacing an earlier computation over the same sources) and
        return them in time order (see docs/RECIPES.md)."""
        with self.database.read() as conn:
            book = recipe_store.load(conn, cookbook)
        ids = sorted(dict.fromkeys(self.run_id(s) for s in ([sources] if isinstance(sources, str) else sources)))
        if not ids:
            raise errors.ValidationError("sources must name at least one run")
        series = recipe_store.gather(book, ids, self.metric_values)
        items = recipes.compute(book, series, start_us=None if start is None else to_us(start, "start"),
                                end_us=None if end is None else to_us(end, "end"))
        with self.database.write() as conn:
            return recipe_store.store_runs(conn, book.id, ids, items, sources_key=",".join(ids), replace=True)

    def recipe_runs(self, cookbook: Any, *, constraint_group_id: Any = None, limit: int | None = None) -> list:
        """A cookbook's recipe runs, best ``_score`` first (its "top results")."""
        with self.database.read() as conn:
            return recipe_store.best(conn, recipe_store.runs_key(conn, cookbook), constraint_group_id, limit)

    def top_results(self, recipe_group: Any, limit: int | None = 10) -> dict:
        """Sight Machine's top results: ``{"runs": [...], "constraint_group": [...]}`` (docs/RECIPES.md)."""
        with self.database.read() as conn:
            return recipe_store.top_results(conn, recipe_group, limit)

    def current_value(self, variables: list, minutes: float = 1440, *, at: Any = None) -> list:
        """Sight Machine's current value: ``[{asset, name, values: {latest}}]``, the latest value
        of each field over the ``minutes`` before ``at`` (default now); None if none."""
        self.live.flush_all()
        with self.database.read() as conn:
            return recipe_store.current_value(conn, variables, minutes, now_us() if at is None else to_us(at, "at"))

    def import_recipe_runs(self, runs: Any) -> list:
        """Store recipe runs given in the seed's format (a list, or Sight Machine's top results
        ``{"runs": [...], ...}``); ``to_dict()`` gives them back unchanged. Importing the same run
        again replaces it; distinct runs are never merged (identity: ``storage/recipes.py``)."""
        with self.database.write() as conn:
            return recipe_store.import_runs(conn, runs)

    # -- metrics

    def _metric_read(self, run: Any, fn, *args, **kwargs):
        run_id = self.run_id(run)
        self.live.flush_run(run_id)
        with self.database.read() as conn:
            return fn(conn, run_id, *args, **kwargs)

    def metric_names(self, run: Any) -> list[str]:
        """The sorted metric names of a run."""
        return self._metric_read(run, metric_reads.metric_names)

    def metric_series(self, run: Any) -> list[tuple[str, str | None, int]]:
        """``(name, asset, count)`` of every series of a run (asset None when not given)."""
        return self._metric_read(run, metric_reads.metric_series)

    def metric_values(self, run: Any, name: str, *, xaxis: str = "step", start: Any = None,
                      stop: Any = None, asset: str | None = None, max_points: int | None = None) -> Series:
        """The points of one metric series, in logging order.

        Args:
            xaxis: ``step``, ``time`` or ``timestamp``: the axis ``start``/``stop`` bound
                (inclusive both ends) and ``max_points`` buckets along.
            max_points: downsample for plotting: points are split into equal buckets and
                each keeps its min, max and last value, first and last point kept, so
                spikes survive.
        """
        return self._metric_read(run, metric_reads.values, name, xaxis=xaxis, start=start,
                                 stop=stop, asset=asset, max_points=max_points)

    def iter_metric_values(self, run: Any, name: str, *, asset: str | None = None,
                           points: int | None = None) -> Iterator[Series]:
        """A whole series in logging order, as ``Series`` pieces of at most ``points`` points
        (default 2^20; whole chunks): for exports and scans longer than one read returns."""
        points = metric_reads.check_points(points)
        run_id = self.run_id(run)
        self.live.flush_run(run_id)
        with self.database.read() as conn:
            yield from metric_reads.pieces(conn, run_id, name, asset, points=points)

    def metric_summary(self, run: Any, name: str, *, asset: str | None = None) -> Stats:
        """count, nan_count, min, max, avg, var_pop, first, last, and their steps: kept at ingest."""
        return self._metric_read(run, metric_reads.summary, name, asset)

    def metric_stats(self, run: Any, name: str, *, start: Any = None, stop: Any = None,
                     xaxis: str = "step", asset: str | None = None) -> Stats:
        """Statistics over ``start <= axis <= stop``; only the window's boundary chunks are decoded."""
        return self._metric_read(run, metric_reads.window_stats, name, xaxis=xaxis, start=start,
                                 stop=stop, asset=asset)

    # -- events

    def events(self, run: Any, *, contains: str | None = None, level: str | list | None = None,
               since: Any = None, until: Any = None, limit: int | None = None, offset: int = 0) -> list:
        """Events of a run in time order.

        Args:
            contains: only messages containing this text (case-sensitive).
            level: one level or a list of levels.
            since, until: inclusive time bounds (datetime, ISO-8601 or epoch seconds).
        """
        return self._metric_read(run, events_mod.read, contains=contains, level=level, since=since,
                                 until=until, limit=limit, offset=offset)

    # -- alerts

    def alerts(self, run: Any = None, *, critical_only: bool = False) -> list:
        """Alerts attached to a run (or to every run) with their states (``AlertState``)."""
        run_id = None if run is None else self.run_id(run)
        if run_id is not None:
            self.live.flush_run(run_id)
        with self.database.read() as conn:
            return stored_alerts.states(conn, run_id, bool(critical_only))

    def alert_history(self, run: Any, name: str) -> list:
        """Every state change of a run's alert, oldest first (``AlertChange``)."""
        return self._metric_read(run, stored_alerts.history, name)

    def outbox(self, *, undelivered_only: bool = True) -> list[dict]:
        """Queued ``email`` notifications for the host application to deliver."""
        with self.database.read() as conn:
            return stored_alerts.outbox(conn, undelivered_only=undelivered_only)

    def mark_delivered(self, outbox_ids: list[int]) -> None:
        """Mark outbox entries as delivered."""
        ids = [i for i in outbox_ids if isinstance(i, int) and not isinstance(i, bool)]
        if len(ids) != len(outbox_ids):
            raise errors.ValidationError("outbox_ids must be a list of int ids from outbox()")
        with self.database.write() as conn:
            stored_alerts.mark_delivered(conn, ids)

    # -- saved files and attachments

    def attachments(self, run: Any, category: str | None = None) -> list:
        """A run's saved files and attachments (``Attachment`` records), by name."""
        return self._metric_read(run, files.listing, category)

    def read_attachment(self, run: Any, name: str, *, max_size: int = 1 << 31) -> bytes:
        """The whole content of an attachment, checksum verified (``open_attachment`` streams)."""
        run_id = self.run_id(run)
        with self.database.read() as conn:
            found = files.find(conn, run_id, name)
            return blobs.read_bytes(conn, found.sha256, max_size=max_size)

    def open_attachment(self, run: Any, name: str):
        """A readable binary stream of an attachment; its SHA-256 is checked at the end."""
        run_id = self.run_id(run)
        with self.database.read() as conn:
            found = files.find(conn, run_id, name)
            parts = files.blob_parts(conn, found.sha256)

        def fetch_part(seq: int):
            with self.database.read() as conn:
                return blobs.part(conn, found.sha256, seq)

        return blobs.open_reader(fetch_part, found.sha256, found.size, parts)

    def restore(self, run: Any, dest: str | os.PathLike, category: str | None = None) -> list[str]:
        """Write a run's files under ``dest`` with their saved paths; returns the paths written.

        Checked before anything is written: the blobs' stored sizes, names that would land
        outside ``dest`` (absolute, ``..``, links) or clash (``a`` and ``a/b``) or not fit the
        file system, and free space. Files are renamed into place once all are written and
        verified (never through a link); a failure removes what the call wrote.
        """
        root, planned = files.plan_restore(dest, self._metric_read(run, files.restorable, category))

        def fetch(sha256: str, seq: int):  # the blob checked above, whatever the name holds by now
            with self.database.read() as conn:
                return blobs.part(conn, sha256, seq)
        return files.write_restore(root, planned, lambda item: blobs.open_reader(
            lambda seq: fetch(item.sha256, seq), item.sha256, item.size, item.parts))

    def folder(self, path: str) -> dict:
        """A folder's details: path, description, tags, metadata, created."""
        return self._read(runs_mod.folder, check_folder(path))

    def folders(self) -> list[str]:
        """Every folder path, sorted."""
        return self._read(runs_mod.folders)

    # -- your own SQL

    def sql(self, query: str, params: Any = (), *, max_rows: int = 1000, timeout: float = 10.0) -> QueryResult:
        """Run one read-only SQL statement of your own (``SELECT``, ``WITH``, reading pragmas)
        on a connection that can change nothing; stops after ``max_rows`` rows (``truncated``
        says so) or raises after ``timeout`` seconds. Values go in ``params``, never in ``query``."""
        self.flush()
        return sql_mod.run(self.database, query, params, max_rows=max_rows, timeout=timeout)

    # -- keeping and shipping the file

    def verify(self, *, progress=None):
        """Check the whole file (integrity, schema, every blob, chunk and summary); returns a
        ``VerifyReport`` whose ``ok`` is True when nothing is wrong. ``progress(done, total)``
        is called as it goes."""
        return self._read(archive.verify, progress)

    def backup(self, dest: str | os.PathLike, *, overwrite: bool = False) -> str:
        """A consistent copy of the file at ``dest`` while writers go on; returns ``dest``."""
        dest = os.fspath(dest)
        self.flush()
        with self.database.read() as conn:
            with db.translated(dest):
                archive.backup(conn, dest, overwrite=overwrite, durable=self.database.durable)
        return dest

    def _ids(self, run_ids: Any) -> list[str]:
        return [self.run_id(r) for r in ([run_ids] if isinstance(run_ids, str) else run_ids)]

    def export(self, path: str | os.PathLike, *, filter: Any = None, run_ids: list | None = None,
               include_attachments: bool = True, progress=None) -> dict:
        """Write a new, standalone runlite file holding just some runs: ``run_ids``, or those a
        ``filter`` (either grammar) selects, or all; each with its whole trace, series, events,
        attachments and the blobs they use, alerts, feedback, folders and cookbooks. Returns the
        rows copied per table."""
        path = os.fspath(path)
        if self.path == ":memory:":
            raise errors.ValidationError("an in-memory store cannot be exported; use backup() to a file first")
        if run_ids is not None and filter is not None:
            raise errors.ValidationError("give run_ids or filter, not both")
        self.flush()
        if run_ids is not None:
            ids = self._ids(run_ids)
        elif filter is not None:
            ids = search.run_ids_for(self, filter)
        else:
            with self.database.read() as conn:
                ids = archive.all_run_ids(conn)
        return archive.export(self.path, path, ids, include_attachments=bool(include_attachments),
                              timeout=self.database.timeout, progress=progress, durable=self.database.durable)

    def delete_runs(self, run_ids: list | None = None, *, filter: Any = None, older_than: Any = None) -> int:
        """Delete runs (with their descendants and everything of theirs): ``run_ids``, the runs
        a ``filter`` (either grammar) selects, and/or runs ended before ``older_than`` (a
        datetime, ISO-8601 string or epoch seconds). Returns how many runs were deleted.
        Content blobs stay until ``pack()``."""
        if run_ids is None and filter is None and older_than is None:
            raise errors.ValidationError("delete_runs needs run_ids, filter or older_than (nothing is deleted by default)")
        ids: list[str] = []
        if run_ids is not None:
            ids += self._ids(run_ids)
        if filter is not None:
            ids += search.run_ids_for(self, filter)
        if older_than is not None:
            cutoff = to_us(older_than, "older_than")
            with self.database.read() as conn:
                ids += archive.ended_before(conn, cutoff)
        if {writer.run_id for writer in self.live.writers} & set(ids):
            raise errors.RunStateError("cannot delete runs that are open for writing in this process; close them")
        with self.database.write() as conn:
            return archive.delete_runs(conn, list(dict.fromkeys(ids)))

    def pack(self, *, dest: str | os.PathLike | None = None, progress=None) -> dict:
        """Drop content no run uses, merge small metric chunks into full ones, and reclaim
        space: ``VACUUM`` the file in place, or write a compact copy to ``dest`` (``VACUUM
        INTO`` a temporary file beside it, renamed once complete: a pack killed half-way leaves
        no file at ``dest``). Returns what was done."""
        return archive.pack(self.database, dest=None if dest is None else os.fspath(dest), progress=progress)

    def merge(self, source: Any, *, progress=None) -> dict:
        """Bring the runs of another runlite file (or Store) in, all or nothing per file.

        Idempotent: merging the same file again adds nothing; a run that grew in the source
        (more points, events, files, a final status) is brought up to date, never duplicated;
        content is deduplicated by hash. The source is opened read-only and checked first
        (integrity, identity, exact schema); a hostile or damaged file changes nothing here.
        Its email outbox is not merged (it is that host's delivery queue).
        """
        if self.read_only or self.path == ":memory:":
            raise errors.ValidationError("merge needs a writable store in a file")
        source = os.fspath(source.path if isinstance(source, Store) else source)
        if os.path.abspath(source) == os.path.abspath(self.path):
            raise errors.ValidationError("a store cannot merge itself")
        self.flush()
        return archive.merge(self.path, source, timeout=self.database.timeout, progress=progress,
                             durable=self.database.durable)


_defaults.provide(Store)  # Run() and traceable without a store open one through _defaults
