"""Store: one runlite file. Owns the connections, creates Runs, answers reads."""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from .storage import alerts as alerting, archive, attachments as files, blobs, connection as db, events as events_mod, metric_reads, schema
from . import errors
from .storage import feedback as feedback_mod, importing, metrics as metrics_mod, recipes as recipe_store, search as searching
from .recipes import engine as recipes
from .storage import spans as spans_mod
from ._ids import dotted_segment, is_uuid, random_name, uuid7
from .records import RunList, RunRecord, Series, Stats
from .storage import runs as run_rows
from .storage.runs import IDX as _IDX, SELECT_RUN as _SELECT_RUN, SELECT_TREE as _SELECT_TREE, record as _record, tree as _tree
from ._host import system_info, THIS_HOST
from ._validation import shown, check_choice, check_folder, check_metadata, check_name, check_optional_text, check_tags, dumps, dumps_lenient, folder_ancestors, from_us, now_us, stored_json, to_us

if TYPE_CHECKING:
    from .run import Run

DEFAULT_HEARTBEAT_TIMEOUT = 180.0  # seconds without a heartbeat before a running run reads as lost
HEARTBEAT_INTERVAL = 30.0          # seconds between heartbeats of a running run
TICK = 0.1                         # seconds between background checks (flush deadlines, heartbeats)
LOG_EVERY = 30.0                   # seconds between log lines of a background flush that keeps failing

log = logging.getLogger("runlite")
_LIVE_STORES: "weakref.WeakSet[Store]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """Interpreter exit flushes every buffered point of every live run."""
    for store in list(_LIVE_STORES):
        for run in list(store._runs):
            try:
                run._flush()
            except Exception:  # noqa: BLE001 - exiting: report, never raise
                log.exception("runlite: could not flush run %s at exit", getattr(run, "id", None))
        try:
            store._flush_spans()
        except Exception:  # noqa: BLE001
            log.exception("runlite: could not write spans at exit")


class _Ticker(threading.Thread):
    """The store's background thread: flush deadlines and heartbeats of its live runs."""

    def __init__(self, store: "Store"):
        super().__init__(name=f"runlite-ticker {store.path}", daemon=True)
        self.store_ref = weakref.ref(store)
        self.pid = os.getpid()
        self.stop = threading.Event()

    def run(self) -> None:
        failing, logged_at = "", 0.0
        while not self.stop.wait(TICK):
            store = self.store_ref()
            if store is None or store.closed:
                return
            try:
                store._tick()
                if failing:
                    log.warning("runlite: background flush of %s works again", store.path)
                    failing = ""
            except errors.StoreClosedError:
                return
            except Exception as exc:  # noqa: BLE001 - keep ticking; the next tick retries
                # A full disk fails every tick: say so when it starts, then every LOG_EVERY s.
                now = time.monotonic()
                if str(exc) != failing or now - logged_at >= LOG_EVERY:
                    log.exception("runlite: background flush of %s failed (retrying)", store.path)
                    failing, logged_at = str(exc), now
            del store

class Store(archive.StoreArchive):
    """A runlite file. Use ``runlite.open(path)``; also a context manager.

    Safe to share between threads. After ``fork()`` the child opens its own connections.
    """

    def __init__(self, path: str | os.PathLike = "runs.db", *, read_only: bool = False,
                 durable: bool = False, timeout: float = 30.0, on_alert: Any = None, untrusted: bool = False):
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path or "\x00" in path:
            raise errors.ValidationError(f"path must be a non-empty file path or ':memory:', got {path!r}")
        for flag, what in ((read_only, "read_only"), (durable, "durable"), (untrusted, "untrusted")):
            if not isinstance(flag, bool):
                raise errors.ValidationError(f"{what} must be True or False, got {flag!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 86_400:
            raise errors.ValidationError(f"timeout must be seconds between 0 and 86400, got {shown(timeout)}")
        if on_alert is not None and not callable(on_alert):
            raise errors.ValidationError(f"on_alert must be callable, got {on_alert!r:.80}")
        self._on_alert = on_alert
        if untrusted and not read_only:
            raise errors.ValidationError("untrusted=True opens a file from someone else for reading: pass read_only=True")
        if read_only and path == ":memory:":
            raise errors.ValidationError("a ':memory:' store cannot be read_only: there is nothing to read")
        if read_only and not os.path.exists(path):
            raise errors.NotFoundError(f"no runlite file at {path!r} (read_only=True never creates one)")
        self.path = path
        self.read_only = read_only
        self._db = db.Database(path, read_only=read_only, durable=durable, timeout=float(timeout), untrusted=untrusted)
        # Live Run handles writing here, held strongly until they end or are released: a handle
        # the caller dropped still has its buffered points flushed (by the ticker and close()).
        self._runs: set = set()
        self._ticker: _Ticker | None = None
        self._ticker_lock = threading.Lock()
        self._spans = spans_mod.SpanBuffer(on_first=self._start_ticker)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        if self._db.untrusted:  # integrity, identity and the exact schema before anything is read
            archive.check_source(self.path, self._db.timeout)
        if self.read_only:
            with self._db.read() as conn:
                version = db.check_identity(conn, self.path)
            if version == 0:
                raise errors.NotARunliteFile(f"{self.path!r} is an empty SQLite file, not a runlite store")
            if version < schema.SCHEMA_VERSION:
                raise errors.StoreError(
                    f"{self.path!r} has schema version {version}; this runlite reads version "
                    f"{schema.SCHEMA_VERSION}. Open it once without read_only=True to upgrade it"
                )
            return
        state = self._db._current()
        with state.lock:
            conn = self._db._writer(state)
            db.migrate(conn, self.path)
            with db.translated(self.path):
                db.connection_wal(conn)

    # -- lifecycle

    def close(self) -> None:
        """Flush and close every run handle still open on this store, then the connections.

        Runs still running stay ``running`` in the file (they read as ``lost`` once their
        heartbeat is stale): closing a store is not the end of a job.
        """
        if self._db.closed:
            return
        ticker = self._ticker
        if ticker is not None and ticker.pid == os.getpid():
            ticker.stop.set()
            if ticker is not threading.current_thread():
                ticker.join()
        unwritten: errors.RunliteError | None = None  # a run's last flush failed (a full disk)
        for run in list(self._runs):
            try:
                run._release()
            except errors.RunliteError as exc:
                unwritten = unwritten or exc
        try:
            self._flush_spans()
        except errors.RunliteError:
            log.exception("runlite: could not write the last spans of %s", self.path)
        _LIVE_STORES.discard(self)
        self._db.close()
        if unwritten is not None:  # closed all the same; the buffered points are gone: say so
            raise type(unwritten)(f"the store is closed, but the last buffered metrics/events of a run "
                                  f"could not be written and are lost: {unwritten}") \
                from (unwritten.__cause__ or unwritten)  # keep SQLite's error as the cause

    def _flush_spans(self) -> None:
        """Write the buffered spans in one transaction (kept for a retry if it fails)."""
        batch = self._spans.take()
        if not batch or self._db.closed:
            return
        try:
            with self._db.write() as conn:
                spans_mod.write(conn, batch)
        except BaseException:
            self._spans.give_back(batch)
            raise
        spans_mod.written(batch)

    # -- live runs: background flushing and heartbeats

    def _register(self, run: Any) -> None:
        self._runs.add(run)
        self._start_ticker()

    def _start_ticker(self) -> None:
        if self.read_only:
            raise errors.ReadOnlyStoreError(f"the store {self.path!r} was opened with read_only=True")
        _LIVE_STORES.add(self)
        with self._ticker_lock:
            ticker = self._ticker
            if ticker is None or ticker.pid != os.getpid() or not ticker.is_alive():
                self._ticker = _Ticker(self)
                self._ticker.start()

    def _unregister(self, run: Any) -> None:
        self._runs.discard(run)

    def _tick(self) -> None:
        """Flush runs whose buffers are due, and write heartbeats that are due."""
        now = now_us()
        interval = int(HEARTBEAT_INTERVAL * 1_000_000)
        runs = list(self._runs)
        for run in runs:
            run._flush_if_due(now)
        if self._spans.due(now, int(metrics_mod.FLUSH_INTERVAL * 500_000)):
            self._flush_spans()
        due = [run for run in runs if run._heartbeat_due(now, interval)]
        if due:
            with self._db.write() as conn:
                for run in due:
                    conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'",
                                 (now, run.id))
            for run in due:
                run._heartbeat_us = now

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._db.closed

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
        from .run import Run

        run = Run(store=self)
        run.init(name, metadata=metadata, tags=tags, description=description, folder=folder,
                 running=running, status=status, parent=parent, run_type=run_type, inputs=inputs,
                 heartbeat_timeout=heartbeat_timeout, on_alert=on_alert)
        return run

    def _insert_run(self, *, name, metadata, tags, description, folder, running, status, parent,
                    run_type, inputs, heartbeat_timeout) -> dict:
        """Validate everything, then insert the run row; returns the stored identity."""
        name = random_name() if name is None else check_name(name, "run name")
        metadata = check_metadata({} if metadata is None else metadata)
        tags = check_tags([] if tags is None else tags)
        description = check_optional_text(description, "description")
        folder = check_folder(folder)
        if status is not None:
            running = check_choice(status, "status", ("created", "running")) == "running"
        elif not isinstance(running, bool):
            raise errors.ValidationError(f"running must be True or False, got {running!r}")
        if run_type is not None:
            check_name(run_type, "run_type")
        if heartbeat_timeout is not None and (
            isinstance(heartbeat_timeout, bool) or not isinstance(heartbeat_timeout, (int, float))
            or not 1 <= heartbeat_timeout <= 10 * 365 * 86_400
        ):
            raise errors.ValidationError(
                f"heartbeat_timeout must be None or seconds >= 1, got {shown(heartbeat_timeout)}"
            )
        inputs_json = None if inputs is None else dumps_lenient(inputs, "inputs")
        metadata_json, tags_json = dumps(metadata, "metadata"), dumps(tags, "tags")
        parent_id = None if parent is None else self._run_id(parent)
        with self._db.write() as conn:
            now = now_us()
            if parent_id is not None:
                row = conn.execute(
                    "SELECT trace_id, dotted_order, coalesce(started, created) FROM runs WHERE id = ?",
                    (parent_id,),
                ).fetchone()
                if row is None:
                    raise errors.NotFoundError(f"no parent run with id {parent_id!r}")
                trace_id, parent_order, parent_start = row
                start = max(now, parent_start)  # a child never starts before its parent
            else:
                start = now
            run_id = uuid7(start)
            segment = dotted_segment(start, run_id)
            if parent_id is None:
                trace_id, dotted_order = run_id, segment
            else:
                dotted_order = f"{parent_order}.{segment}"
            self._ensure_folder(conn, folder, now)
            conn.execute(
                "INSERT INTO runs (id, name, kind, run_type, status, folder, description, metadata,"
                " tags, parent_run_id, trace_id, dotted_order, created, started, modified, inputs,"
                " host, pid, heartbeat, heartbeat_timeout, system)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, name, "trace" if run_type else "experiment", run_type,
                 "running" if running else "created", folder, description, metadata_json,
                 tags_json, parent_id, trace_id, dotted_order, start, start if running else None,
                 now, inputs_json, THIS_HOST if running else None, os.getpid() if running else None,
                 now if running else None, heartbeat_timeout,
                 dumps(system_info(), "system") if running else None),
            )
        return {"id": run_id, "name": name, "status": "running" if running else "created",
                "started": start if running else None, "trace_id": trace_id,
                "dotted_order": dotted_order, "parent_run_id": parent_id, "folder": folder}

    @staticmethod
    def _ensure_folder(conn, folder: str, now: int) -> None:
        for path in folder_ancestors(folder):
            conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES (?, ?)", (path, now))

    def reconnect(self, name_or_id: str) -> "Run":
        """Reopen a ``created`` run (by id or unique name) and move it to ``running``."""
        from .run import Run

        run = Run(store=self)
        run.reconnect(name_or_id)
        return run

    # -- resolving

    def _run_id(self, run: Any) -> str:
        """The id of a Run, a RunRecord, or an id/name string (must exist)."""
        from .run import Run
        from .tracing.api import Span

        if isinstance(run, (Run, RunRecord, Span)):
            if run.id is None:
                raise errors.ValidationError("that Run has not been initialised (call init() first)")
            return run.id
        if not isinstance(run, str):
            raise errors.ValidationError(
                f"a run is given as a Run, a RunRecord, or an id or name str; got {type(run).__name__}"
            )
        self._flush_own_spans()  # a span traced here may still be in memory
        return self._resolve(run)

    def _resolve(self, id_or_name: str) -> str:
        check_text_id = id_or_name if isinstance(id_or_name, str) else None
        if check_text_id is None or not id_or_name:
            raise errors.ValidationError(f"a run id or name must be a non-empty str, got {id_or_name!r}")
        with self._db.read() as conn:
            if is_uuid(id_or_name):
                if conn.execute("SELECT 1 FROM runs WHERE id = ?", (id_or_name,)).fetchone():
                    return id_or_name
            ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE name = ? LIMIT 11", (id_or_name,))]
        if not ids:
            raise errors.NotFoundError(f"no run with id or name {id_or_name!r}")
        if len(ids) > 1:
            listed = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
            raise errors.AmbiguousNameError(
                f"{len(ids) if len(ids) <= 10 else 'more than 10'} runs are named {id_or_name!r} "
                f"({listed}); use a run id"
            )
        return ids[0]

    # -- reads

    def get_run(self, id_or_name: Any) -> RunRecord:
        """The stored record of one run (by Run, id or unique name)."""
        self._flush_own_spans()
        run_id = self._run_id(id_or_name)
        with self._db.read() as conn:
            row = conn.execute(_SELECT_RUN + " WHERE runs.id = ?", (run_id,)).fetchone()
        if row is None:
            raise errors.NotFoundError(f"no run with id {run_id!r}")
        return _record(row, now_us())

    def runs(self, *, folder: str | None = None, status: str | list | None = None,
             tags: list | None = None, run_type: str | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally only those in ``folder`` (exactly), with ``status``
        (one or a list; ``lost`` is computed), having every tag in ``tags``, of ``run_type``."""
        where: list[str] = []
        params: list[Any] = []
        if folder is not None:
            where.append("runs.folder = ?")
            params.append(check_folder(folder))
        wanted: set[str] | None = None
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                check_choice(s, "status", schema.RUN_STATUSES)
            wanted = set(statuses)
            stored = wanted | ({"running"} if "lost" in wanted else set())
            where.append("runs.status IN (%s)" % ", ".join("?" * len(stored)))
            params.extend(sorted(stored))
        for tag in check_tags(tags or []):
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE json_each.value = ?)")
            params.append(tag)
        if run_type is not None:
            where.append("runs.run_type = ?")
            params.append(check_name(run_type, "run_type"))
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise errors.ValidationError(f"limit must be None or an int >= 0, got {limit!r}")
        self._flush_own_spans()
        sql = _SELECT_TREE + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY runs.created DESC, runs.id DESC"
        if wanted is None and limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        out: list[RunRecord] = RunList()
        now = now_us()
        with self._db.read() as conn:
            rows = conn.execute(sql, params)
            while limit is None or len(out) < limit:
                batch = list(itertools.islice(rows, 1000))
                if not batch:
                    break
                for record in run_rows.records(conn, batch, now):
                    if (wanted is None or record.status in wanted) and (limit is None or len(out) < limit):
                        out.append(record)
        return out

    # -- traces

    def read_run(self, run_id: Any, load_child_runs: bool = False) -> RunRecord:
        """One run (LangSmith ``read_run``); with ``load_child_runs``, ``child_runs`` holds its
        descendants nested, each level in execution (dotted_order) order."""
        self._flush_own_spans()
        run_id = self._run_id(run_id)
        now = now_us()
        with self._db.read() as conn:
            row = conn.execute(_SELECT_RUN + " WHERE runs.id = ?", (run_id,)).fetchone()
            if row is None:
                raise errors.NotFoundError(f"no run with id {run_id!r}")
            if not load_child_runs:
                return _record(row, now, feedback_stats=feedback_mod.stats_for(conn, [run_id]).get(run_id))
            order = row[_IDX["dotted_order"]]
            rows = conn.execute(
                _SELECT_TREE + " WHERE runs.trace_id = ? AND (runs.id = ? OR (runs.dotted_order > ?"
                " AND runs.dotted_order < ?)) ORDER BY runs.dotted_order",
                (row[_IDX["trace_id"]], run_id, order + ".", order + "/"),
            ).fetchall()
            return _tree(conn, rows, now)

    def trace(self, trace_id: Any) -> RunRecord:
        """The whole tree of a trace: its root with ``child_runs`` nested."""
        self._flush_own_spans()
        if not isinstance(trace_id, str) or not trace_id:
            raise errors.ValidationError(f"trace_id must be a run id str, got {trace_id!r}")
        now = now_us()
        with self._db.read() as conn:
            rows = conn.execute(_SELECT_TREE + " WHERE runs.trace_id = ? ORDER BY runs.dotted_order",
                                (trace_id,)).fetchall()
            if not rows:
                raise errors.NotFoundError(f"no trace with id {trace_id!r}")
            return _tree(conn, rows, now, trace_id)

    def create_feedback(self, run: Any, key: str, *, score: Any = None, value: Any = None,
                        comment: str | None = None, source: Any = None, correction: Any = None,
                        feedback_id: str | None = None) -> str:
        """Record feedback on a run (LangSmith); returns the feedback id.

        ``score``: a number or bool; ``value``: a JSON value (a label for categorical feedback);
        ``source``: a dict like ``{"type": "api" | "model" | "app", ...}`` or a type name.
        """
        run_id = self._run_id(run)
        with self._db.write() as conn:
            return feedback_mod.create(conn, run_id, key, score=score, value=value, comment=comment,
                                       source=source, correction=correction, feedback_id=feedback_id)

    def import_runs(self, runs: list[dict]) -> list[str]:
        """Insert runs given as ``RunRecord.to_dict()`` dicts (children in ``child_runs`` too),
        all or none; returns their ids. A run whose id exists already is refused."""
        if isinstance(runs, dict):
            runs = [runs]
        with self._db.write() as conn:
            return importing.import_runs(conn, runs)

    def feedback(self, run: Any) -> list[dict]:
        """The feedback records of a run, oldest first."""
        return self._metric_read(run, feedback_mod.listing)

    # -- searching

    def list_runs(self, *, filter: str | None = None, trace_filter: str | None = None,
                  tree_filter: str | None = None, run_type: str | None = None, is_root: bool | None = None,
                  error: bool | None = None, trace_id: str | None = None, parent_run_id: str | None = None,
                  start_time: Any = None, run_ids: list | None = None, select: list | None = None,
                  order_by: Any = None, limit: int | None = None, offset: int = 0) -> list:
        """Runs matching LangSmith's filter language, newest first (see docs/QUERIES.md).

        ``filter`` applies to each run, ``trace_filter`` to the root of its trace and
        ``tree_filter`` to any run of its trace, e.g.
        ``filter='and(eq(run_type, "llm"), gt(latency, 2))'``. ``run_ids`` ignores every
        other filter. ``select`` returns dicts with just those ``to_dict()`` fields.
        """
        return searching.list_runs(self, filter=filter, trace_filter=trace_filter, tree_filter=tree_filter,
                                   run_type=run_type, is_root=is_root, error=error, trace_id=trace_id,
                                   parent_run_id=parent_run_id, start_time=start_time, run_ids=run_ids,
                                   select=select, order_by=order_by, limit=limit, offset=offset)

    def get_runs(self, filters: list | str | None = None, *, sort_by: Any = None, limit: int | None = None,
                 offset: int = 0) -> list[RunRecord]:
        """Runs matching Simvue filter strings (joined by AND), e.g.
        ``["metadata.lr > 0.01", "has tag.sweep", "metric.loss.min < 0.1"]``; ``sort_by`` a
        field or ``(field, descending)`` pairs (see docs/QUERIES.md)."""
        return searching.get_runs(self, filters, sort_by=sort_by, limit=limit, offset=offset)

    def metric_values_many(self, runs_or_filters: Any, names: list[str] | str, *, xaxis: str = "step",
                           max_points: int | None = None) -> dict[str, dict[str, Series]]:
        """``{run_id: {name: Series}}`` for several runs (runs or ids, or a filter of either
        grammar); a run without one of the metrics just lacks that key."""
        names = [names] if isinstance(names, str) else list(names)
        out: dict[str, dict[str, Series]] = {}
        for run_id in searching.run_ids_for(self, runs_or_filters):
            out[run_id] = {}
            for name in names:
                try:
                    out[run_id][name] = self.metric_values(run_id, name, xaxis=xaxis, max_points=max_points)
                except errors.NotFoundError:
                    continue
        return out

    # -- recipe runs

    def create_cookbook(self, name: str, *, levers: Any, outcomes: Any, constraints: Any = (),
                        run_boundaries: Any = (), min_duration: float | None = None, record_filters: Any = (),
                        top_runs: int = 10):
        """Store a cookbook (levers, outcomes or KPIs, constraints with bins, run boundaries,
        record filters); returns the ``Cookbook`` with its id. Bad configuration raises a
        ``ValidationError`` naming the field."""
        with self._db.write() as conn:
            return recipe_store.create(conn, name, levers=levers, outcomes=outcomes, constraints=constraints,
                                       run_boundaries=run_boundaries, min_duration=min_duration,
                                       record_filters=record_filters, top_runs=top_runs)

    def cookbook(self, id_or_name: str):
        """A stored cookbook by id or unique name."""
        with self._db.read() as conn:
            return recipe_store.load(conn, id_or_name)

    def compute_recipe_runs(self, cookbook: Any, *, sources: list, start: Any = None, end: Any = None) -> list:
        """Segment the machine data of ``sources`` (runs whose metric series carry assets) into
        recipe runs, store them (replacing an earlier computation over the same sources) and
        return them in time order (see docs/RECIPES.md)."""
        with self._db.read() as conn:
            book = recipe_store.load(conn, cookbook)
        ids = sorted(dict.fromkeys(self._run_id(s) for s in ([sources] if isinstance(sources, str) else sources)))
        if not ids:
            raise errors.ValidationError("sources must name at least one run")
        series: dict = {}
        for asset, field in recipe_store.needed_fields(book):
            stamps: list = []
            values: list = []
            for run_id in ids:
                try:
                    found = self.metric_values(run_id, field, asset=asset or None)
                except errors.NotFoundError:
                    continue
                stamps.extend(found.timestamps)
                values.extend(found.values)
            if len(ids) > 1 and stamps:
                order = sorted(range(len(stamps)), key=stamps.__getitem__)
                stamps, values = [stamps[i] for i in order], [values[i] for i in order]
            series[(asset, field)] = (stamps, values)
        items = recipes.compute(book, series, start_us=None if start is None else to_us(start, "start"),
                                end_us=None if end is None else to_us(end, "end"))
        with self._db.write() as conn:
            return recipe_store.store_runs(conn, book.id, ids, items, sources_key=",".join(ids), replace=True)

    def recipe_runs(self, cookbook: Any, *, constraint_group_id: Any = None, limit: int | None = None) -> list:
        """A cookbook's recipe runs, best ``_score`` first (its "top results")."""
        with self._db.read() as conn:
            book_id = cookbook.id if isinstance(cookbook, recipes.Cookbook) else (
                cookbook if conn.execute("SELECT 1 FROM recipe_runs WHERE cookbook_id = ? LIMIT 1",
                                         (cookbook,)).fetchone() else recipe_store.load(conn, cookbook).id)
            return recipe_store.best(conn, book_id, constraint_group_id, limit)

    def import_recipe_runs(self, runs: list[dict]) -> list:
        """Store recipe runs given in the seed's format (e.g. from the original system);
        ``to_dict()`` gives them back unchanged. Importing the same run again replaces it."""
        items = [runs] if isinstance(runs, dict) else list(runs)
        with self._db.write() as conn:
            out = []
            for data in items:
                if not isinstance(data, dict) or not isinstance(data.get("cookbook"), str):
                    raise errors.ValidationError("each recipe run must be a seed-format dict with a 'cookbook' id")
                out.extend(recipe_store.store_runs(conn, data["cookbook"], [], [data], sources_key=None,
                                                   replace=False))
            return out

    # -- metrics

    def _flush_own_spans(self) -> None:
        """Read your own writes: spans traced in this process are written before a read."""
        if self._spans.pending and not self.read_only:
            self._flush_spans()

    def _flush_live(self, run_id: str) -> None:
        """Read your own writes: flush a live handle of ``run_id`` in this process first."""
        if self.read_only:
            return
        self._flush_own_spans()
        for run in list(self._runs):
            if run.id == run_id:
                try:
                    run._flush()
                except errors.StoreError as exc:  # e.g. a full disk: reads must still work
                    # The points stay buffered; the run's next flush, log call or close raises.
                    log.warning("runlite: reading %s without its buffered points: %s", run_id, exc)

    def _metric_read(self, run: Any, fn, *args, **kwargs):
        run_id = self._run_id(run)
        self._flush_live(run_id)
        with self._db.read() as conn:
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
        run_id = None if run is None else self._run_id(run)
        if run_id is not None:
            self._flush_live(run_id)
        with self._db.read() as conn:
            return alerting.states(conn, run_id, bool(critical_only))

    def alert_history(self, run: Any, name: str) -> list:
        """Every state change of a run's alert, oldest first (``AlertChange``)."""
        return self._metric_read(run, alerting.history, name)

    def outbox(self, *, undelivered_only: bool = True) -> list[dict]:
        """Queued ``email`` notifications for the host application to deliver."""
        with self._db.read() as conn:
            return alerting.outbox(conn, undelivered_only=undelivered_only)

    def mark_delivered(self, outbox_ids: list[int]) -> None:
        """Mark outbox entries as delivered."""
        ids = [i for i in outbox_ids if isinstance(i, int) and not isinstance(i, bool)]
        if len(ids) != len(outbox_ids):
            raise errors.ValidationError("outbox_ids must be a list of int ids from outbox()")
        with self._db.write() as conn:
            conn.executemany("UPDATE outbox SET delivered = ? WHERE id = ?", [(now_us(), i) for i in ids])

    # -- saved files and attachments

    def attachments(self, run: Any, category: str | None = None) -> list:
        """A run's saved files and attachments (``Attachment`` records), by name."""
        return self._metric_read(run, files.listing, category)

    def read_attachment(self, run: Any, name: str, *, max_size: int = 1 << 31) -> bytes:
        """The whole content of an attachment, checksum verified (``open_attachment`` streams)."""
        run_id = self._run_id(run)
        with self._db.read() as conn:
            found = files.find(conn, run_id, name)
            return blobs.read_bytes(conn, found.sha256, max_size=max_size)

    def open_attachment(self, run: Any, name: str):
        """A readable binary stream of an attachment; its SHA-256 is checked at the end."""
        run_id = self._run_id(run)
        with self._db.read() as conn:
            found = files.find(conn, run_id, name)
            parts = files.blob_parts(conn, found.sha256)

        def fetch_part(seq: int):
            with self._db.read() as conn:
                return conn.execute("SELECT size, data FROM blob_parts WHERE sha256 = ? AND seq = ?",
                                    (found.sha256, seq)).fetchone()

        return blobs.open_reader(fetch_part, found.sha256, found.size, parts)

    def restore(self, run: Any, dest: str | os.PathLike, category: str | None = None) -> list[str]:
        """Write a run's files under ``dest`` with their saved paths; returns the paths written.

        A stored name that would land outside ``dest`` (absolute, ``..``, through a link) is
        refused before anything is written.
        """
        dest = os.fspath(dest)
        items = self.attachments(run, category)
        targets = [(item, files.restore_target(dest, item.name)) for item in items]
        written = []
        for item, target in targets:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            files.restore_target(dest, item.name)  # again: a directory made above may be a link now
            with self.open_attachment(run, item.name) as reader:
                files.copy_stream(reader, target)
            written.append(target)
        return written

    def folder(self, path: str) -> dict:
        """A folder's details: path, description, tags, metadata, created."""
        path = check_folder(path)
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT path, description, tags, metadata, created FROM folders WHERE path = ?", (path,)
            ).fetchone()
        if row is None:
            raise errors.NotFoundError(f"no folder {path!r}")
        return {"path": row[0], "description": row[1], "tags": stored_json(row[2]),
                "metadata": stored_json(row[3]), "created": from_us(row[4])}

    def folders(self) -> list[str]:
        """Every folder path, sorted."""
        with self._db.read() as conn:
            return [r[0] for r in conn.execute("SELECT path FROM folders ORDER BY path")]
