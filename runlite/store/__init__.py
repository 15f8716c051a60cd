"""Store: one runlite file. Opens it, creates runs, answers reads, keeps and ships the file."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .. import _defaults, _lazy, errors
from .._validation import check_folder, check_path, now_us, shown
from ..handle import DEFAULT_HEARTBEAT_TIMEOUT, Run
from ..live.registry import LiveRuns
from ..storage import connection as db
from ..storage import runs as runs_mod
from ..storage import schema
from .charts import ChartReads
from .files import FileReads
from .history import HistoryReads
from .keeping import Keeping
from .media import MediaReads
from .recipes import RecipeCalls
from .resume import Resuming
from .run_table import RunTableReads
from .series import SeriesReads
from .traces import Traces

if TYPE_CHECKING:  # annotations only: a record's module loads with the first read that makes one
    from ..records.runs import RunRecord

archive = _lazy.module("runlite.storage.archive")  # an untrusted file's checks
search = _lazy.module("runlite.storage.search")

_NO_ID = object()


def _uuid_text(value: Any) -> Any:
    """A UUID (LangSmith's SDK gives ids as UUIDs) as its text, anything else as it is. ``uuid`` is
    not imported for it: a value is a UUID only in a program that imported the module."""
    module = sys.modules.get("uuid")
    return str(value) if module is not None and isinstance(value, module.UUID) else value


class Store(Traces, SeriesReads, FileReads, MediaReads, RecipeCalls, Keeping, HistoryReads, ChartReads, Resuming,
            RunTableReads):
    """A runlite file. Use ``runlite.open(path)``; also a context manager.

    Safe to share between threads. After ``fork()`` the child opens its own connections.
    ``database`` (the connections) and ``live`` (the run handles and spans being written)
    are the interfaces runlite's own modules use; programs need neither.
    """

    def __init__(self, path: str | os.PathLike = "runs.db", *, read_only: bool = False,
                 durable: bool = False, timeout: float = 30.0, on_alert: Any = None, untrusted: bool = False):
        path = check_path(path)  # (':memory:' among them)
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
        if not schema.read_as_is(version):
            raise errors.StoreError(
                f"{self.path!r} has schema version {version}; this runlite reads version "
                f"{schema.SCHEMA_VERSION}. Open it once without read_only=True to upgrade it"
            )

    def flush(self) -> None:
        """Write now every point, event and span this process holds for this file (its live
        runs and traced spans, through this store or another store of the process on the file).

        Reads flush what they read, so a program always sees its own writes, through any of its
        stores; call this before another process or a raw SQLite connection reads the file, or
        before copying it by hand. Buffers are otherwise written within ``FLUSH_INTERVAL`` (1 s).
        """
        if self.closed:
            return
        failed = self.live.flush_file()
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
            raise type(unwritten)(f"the store is closed, but the last buffered metrics, events or spans "
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

    def init(self, name: str | None = None, *, metadata: dict | None = None,
             tags: list | None = None, description: str | None = None, folder: str = "/",
             running: bool = True, status: str | None = None, parent: Any = None,
             run_type: str | None = None, inputs: Any = None,
             heartbeat_timeout: float | None = DEFAULT_HEARTBEAT_TIMEOUT, on_alert: Any = None,
             system_metrics: bool | float = False, id: str | None = None, resume: Any = None) -> "Run":
        """Create a run and return its live handle (or resume one, with ``id``/``resume``).

        Args:
            name: a name (random ``adjective-noun`` when None); need not be unique.
            status: the seed's spelling of ``running``: ``"created"`` or ``"running"``.
            parent: a Run, RunRecord or run id; the new run joins the parent's trace.
            run_type: a LangSmith run type (``chain``, ``llm``, ``tool``...) for trace spans.
            heartbeat_timeout: seconds without a heartbeat after which reads report the run
                ``lost``; None never times out (a dead process on this host still reads lost).
            on_alert: called with an ``AlertChange`` on each alert state change of this run
                (besides the store's ``on_alert``).
            system_metrics: sample CPU, memory, disk, network, this process and GPUs into the
                run's ``system/...`` series (docs/SYSTEM.md): True every 10 s, or an interval
                in seconds; off by default (needs ``pip install 'runlite[system]'``).
            id: the run's id, W&B's ``id=``: a UUID is used as it is, other text (a job id)
                stands for the UUID derived from it (the same everywhere) and names the run
                when ``name`` is None. A new run gets it; an existing one is an error unless
                ``resume`` says to continue it.
            resume: ``"allow"`` (continue the run of ``id``, or of the unique ``name`` without
                an id, when it exists, else create it), ``"must"`` (continue it; NotFoundError
                when there is none), ``"never"`` (create it; RunStateError when it exists).
                Resuming (see ``resume``) merges ``metadata`` in, adds ``tags``, replaces the
                description when given; the run's other settings stay as stored.
        """
        run = Run(store=self)
        run.init(name, metadata=metadata, tags=tags, description=description, folder=folder,
                 running=running, status=status, parent=parent, run_type=run_type, inputs=inputs,
                 heartbeat_timeout=heartbeat_timeout, on_alert=on_alert, system_metrics=system_metrics,
                 id=id, resume=resume)
        return run

    def reconnect(self, name_or_id: str) -> "Run":
        """Reopen a ``created`` run (by id or unique name) and move it to ``running``."""
        run = Run(store=self)
        run.reconnect(name_or_id)
        return run

    def run_id(self, run: Any) -> str:
        """The id of a Run, a RunRecord, a span, or a run id or unique name (which must exist); an id
        may be a UUID, as LangSmith's SDK gives them."""
        run = _uuid_text(run)
        if isinstance(run, str):
            self.live.flush_own_spans()  # a span traced here may still be in memory
            with self.database.read() as conn:
                return runs_mod.resolve(conn, run)
        run_id = getattr(run, "id", _NO_ID)  # a Run, a RunRecord or a span: anything with its id
        run_id = _uuid_text(run_id)  # a LangSmith SDK Run or RunTree
        if run_id is None:
            raise errors.ValidationError("that Run has not been initialised (call init() first)")
        if not isinstance(run_id, str):
            raise errors.ValidationError(
                f"a run is given as a Run, a RunRecord, a span, an id (str or UUID) or a name; got {type(run).__name__}")
        self.live.flush_own_spans()  # a span given may still be in memory, as one named by its id
        return run_id

    def _read(self, fn, *args):
        """``fn(conn, *args)`` on a read transaction, spans traced here written first."""
        self.live.flush_own_spans()
        with self.database.read() as conn:
            return fn(conn, *args)

    def _metric_read(self, run: Any, fn, *args, **kwargs):
        """``fn(conn, run_id, ...)`` on a read transaction, the run's buffered points written
        first. A run given as text is resolved in that same transaction when no live run of
        this process writes to the file (else its id is needed first, to write its points)."""
        if isinstance(run, str) and not self.live.holds_writers():
            self.live.flush_own_spans()
            with self.database.read() as conn:
                return fn(conn, runs_mod.resolve(conn, run), *args, **kwargs)
        run_id = self.run_id(run)
        self.live.flush_run(run_id)
        with self.database.read() as conn:
            return fn(conn, run_id, *args, **kwargs)

    def get_run(self, id_or_name: Any) -> RunRecord:
        """The stored record of one run (by Run, id or unique name)."""
        self.live.flush_own_spans()
        run = id_or_name if isinstance(id_or_name, str) else self.run_id(id_or_name)  # text: resolved in the read
        return runs_mod.read_one(self.database, run, now_us())

    def runs(self, *, folder: str | None = None, status: str | list | None = None,
             tags: list | None = None, run_type: str | None = None, is_root: bool | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally only those in ``folder`` (exactly), with ``status``
        (one or a list; ``lost`` is computed), having every tag in ``tags``, of ``run_type``;
        ``is_root=True``: only the top-level runs (no parent), ``False``: only child runs and spans."""
        self.live.flush_own_spans()
        return search.runs(self, folder=folder, status=status, tags=tags, run_type=run_type,
                           is_root=is_root, limit=limit)

    def folder(self, path: str) -> dict:
        """A folder's details: path, description, tags, metadata, created."""
        return self._read(runs_mod.folder, check_folder(path))

    def folders(self) -> list[str]:
        """Every folder path, sorted."""
        return self._read(runs_mod.folders)

    def tags(self) -> list[str]:
        """Every tag a run of the file has, sorted."""
        return self._read(search.tag_names)


_defaults.provide(Store)  # Run() and traceable without a store open one through _defaults
