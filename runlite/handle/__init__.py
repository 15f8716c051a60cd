"""Run: the live handle of one run: lifecycle, metadata, tags, folders, metrics, events, children.

Its alerts (``handle/alerts.py``), saved files (``handle/files.py``), system metrics
(``handle/system.py``) and media (``handle/media.py``) are mixins of their own modules; they
use the handle's named methods (``_require_id``, ``_require_saveable``, ``_require_running``).

Code written against the seed's ``Run`` class works with only the import changed::

    from runlite import Run
    with Run() as run:
        run.init(name="sweep-1", metadata={"lr": 0.1}, folder="/sweeps")
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from .. import errors
from .._defaults import is_store, open_store
from .._ids import random_name
from .._validation import (
    check_choice, check_folder, check_metadata, check_name, check_optional_text,
    check_tags, dumps, dumps_lenient, now_us, shown, to_us,
)
from ..live.metric_log import log_record
from ..live.writer import RunWriter
from ..storage import events as events_mod
from ..storage import runs as runs_mod
from ..storage import schema
from .alerts import RunAlerts
from .files import RunFiles
from .media import RunMedia
from .system import RunSystemMetrics
from .resume import RunResume, check_resume

_UNSET: Any = object()
DEFAULT_HEARTBEAT_TIMEOUT = 180.0  # seconds without a heartbeat before a running run reads as lost

_LEVELS = frozenset(events_mod.LEVELS)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_time_ns = time.time_ns


def check_heartbeat_timeout(value: Any = _UNSET) -> float | None:
    """Seconds from 1 to 10 years, or None (never lost by its heartbeat); unset: the default."""
    if value is _UNSET:
        return DEFAULT_HEARTBEAT_TIMEOUT
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not 1 <= value <= 10 * 365 * 86_400):
        raise errors.ValidationError(f"heartbeat_timeout must be None or seconds >= 1, got {shown(value)}")
    return value


class Run(RunAlerts, RunFiles, RunSystemMetrics, RunResume, RunMedia):
    """A run being written. Create one with ``store.init(...)``, or ``Run()`` then ``init()``.

    ``Run()`` alone uses the store named by ``RUNLITE_DB``, else ``./runs.db``;
    ``Run(store=...)`` or ``Run(path=...)`` picks another.
    """

    def __init__(self, *, store: Any = None, path: str | os.PathLike | None = None):
        if store is not None and path is not None:
            raise errors.ValidationError("give Run() a store or a path, not both")
        if isinstance(store, (str, os.PathLike)):  # a file's path, as runlite.simvue.Client takes it
            store, path = None, store
        elif store is not None and not is_store(store):
            raise errors.ValidationError(f"store is a Store (runlite.open(path)) or a file's path, "
                                         f"got {type(store).__name__}")
        self._store = store
        self._path = path
        self._owns_store = False
        self._released = False
        self.id: str | None = None
        self.name: str | None = None
        self.trace_id: str | None = None
        self.dotted_order: str | None = None
        self.parent_run_id: str | None = None
        self.folder: str | None = None
        self._status: str | None = None
        self._started_us: int | None = None
        self._writer: RunWriter | None = None  # buffers and flushing, once the run exists
        self._on_alert: Any = None
        self._aborted = False
        self._alerts_may_abort = True
        self.on_aborted: list = []  # called with the Run when abort_run (from outside) ends it

    # -- binding

    def _bind_store(self):
        if self._store is None:
            self._store = open_store(self._path)
            self._owns_store = True
        return self._store

    @property
    def store(self):
        """The Store this run writes to."""
        return self._bind_store()

    def _adopt(self, info: dict, *, new: bool = False, heartbeat_timeout: float | None = None) -> None:
        self.id = info["id"]
        self.name = info["name"]
        self._status = info["status"]
        self._started_us = info["started"]
        self.trace_id = info["trace_id"]
        self.dotted_order = info["dotted_order"]
        self.parent_run_id = info["parent_run_id"]
        self.folder = info["folder"]
        store = self._store
        callbacks = [cb for cb in (store.on_alert, self._on_alert) if cb]
        self._writer = RunWriter(store.database, self.id, self._started_us, callbacks=callbacks,
                                 on_terminated=self._terminated)
        self._writer.alerts_may_abort = self._alerts_may_abort
        if heartbeat_timeout is not None:  # heartbeats at least 3 per timeout: never lost while alive
            self._writer.heartbeat_every_us = int(heartbeat_timeout * 1_000_000 / 3)
        if not new:  # a run taken over may have events and alerts already
            self._writer.resume()
        if self._status == "running":
            store.live.add(self._writer)

    def _terminated(self, from_outside: bool = False) -> None:
        """An alert with ``trigger_abort`` (the writer stored it), or ``abort_run``, ended the run."""
        self._status, self._aborted = "terminated", True
        self._stop_sampling()
        self._store.live.discard(self._writer)
        for hook in self.on_aborted if from_outside else ():
            hook(self)

    def _require_new(self) -> None:
        if self.id is not None:
            raise errors.RunStateError(f"this Run handle already holds run {self.name!r} ({self.id})")

    def init(self, name: str | None = None, *, metadata: dict | None = None,
             tags: list | None = None, description: str | None = None, folder: str = "/",
             running: bool = True, status: str | None = None, parent: Any = None,
             run_type: str | None = None, inputs: Any = None,
             heartbeat_timeout: float | None = _UNSET, on_alert: Any = None,
             system_metrics: bool | float = False, id: str | None = None, resume: Any = None) -> "Run":
        """Create the run in the store, or resume one (see ``Store.init`` for the arguments);
        returns self."""
        if on_alert is not None and not callable(on_alert):
            raise errors.ValidationError(f"on_alert must be callable, got {shown(on_alert)}")
        sample_every = self._sampling_setting(system_metrics)
        self._require_new()
        resume = check_resume(resume)
        given_name = None if name is None else check_name(name, "run name")
        name = random_name() if name is None else given_name
        folder = check_folder(folder)
        if status is not None:
            running = check_choice(status, "status", ("created", "running")) == "running"
        elif not isinstance(running, bool):
            raise errors.ValidationError(f"running must be True or False, got {shown(running)}")
        if sample_every is not None and not running:  # refused before the run exists: nothing written
            raise errors.ValidationError("system_metrics samples a running run: not with running=False "
                                         "or status='created' (call start_system_metrics() once it runs)")
        heartbeat_timeout = check_heartbeat_timeout(heartbeat_timeout)
        changes = {"description": check_optional_text(description, "description"),
                   "metadata": check_metadata({} if metadata is None else metadata),
                   "tags": check_tags([] if tags is None else tags)}
        values = {
            "description": changes["description"],
            "metadata": dumps(changes["metadata"], "metadata"),
            "tags": dumps(changes["tags"], "tags"),
            "run_type": None if run_type is None else check_name(run_type, "run_type"),
            "inputs": None if inputs is None else dumps_lenient(inputs, "inputs"),
            "heartbeat_timeout": heartbeat_timeout,
        }
        store = self._bind_store()
        parent_id = None if parent is None else store.run_id(parent)
        self._on_alert = on_alert
        if id is not None or resume is not None:  # W&B's id= and resume= (handle/resume.py)
            self._init_resumable(given_name, id, resume, dict(
                folder=folder, running=running, parent_id=parent_id, values=values), changes)
        else:
            with store.database.write() as conn:
                info = runs_mod.create(conn, name=name, folder=folder, running=running, parent_id=parent_id,
                                       values=values)
            self._adopt(info, new=True, heartbeat_timeout=heartbeat_timeout)
        if sample_every is not None:
            self.start_system_metrics(sample_every)
        return self

    def reconnect(self, name_or_id: str) -> "Run":
        """Take over a ``created`` run (by id or unique name) and start it running; returns self."""
        self._require_new()
        store = self._bind_store()
        run_id = store.run_id(name_or_id)
        with store.database.write() as conn:
            info = runs_mod.start_created(conn, run_id)
        self._adopt(info, heartbeat_timeout=store.get_run(run_id).heartbeat_timeout)
        return self

    # -- state

    @property
    def status(self) -> str | None:
        """This handle's view of the run's status (``store.get_run`` reports ``lost`` too)."""
        return self._status

    @property
    def alerts_may_abort(self) -> bool:
        """Whether an alert with ``trigger_abort`` going critical ends this run ``terminated``
        (True, the default). Set to False, such an alert still goes critical, is recorded and
        notified (``on_alert``), and the run goes on. It may be set before ``init`` or while
        the run runs: an alert firing later follows the new setting."""
        return self._alerts_may_abort

    @alerts_may_abort.setter
    def alerts_may_abort(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise errors.ValidationError(f"alerts_may_abort must be True or False, got {shown(value)}")
        self._alerts_may_abort = value
        if self._writer is not None:
            self._writer.alerts_may_abort = value

    @property
    def record(self):
        """The run as stored now (a RunRecord)."""
        return self.store.get_run(self._require_id())

    def _require_id(self) -> str:
        if self.id is None:
            raise errors.RunStateError("this Run has not been initialised: call init() or reconnect() first")
        return self.id

    def _require_running(self, action: str) -> None:
        self._require_id()
        if self._aborted:
            raise errors.RunAborted(f"cannot {action}: run {self.name!r} was terminated (by an alert with "
                                    "trigger_abort, or abort_run)")
        if self._status != "running":
            raise errors.RunStateError(
                f"cannot {action}: run {self.name!r} is {self._status}; it must be running"
            )

    def __repr__(self) -> str:
        return f"<runlite.Run {self.name!r} {self.id} {self._status}>"

    # -- metadata, tags, folders

    def _update_json(self, column: str, change) -> None:
        run_id = self._require_id()
        with self.store.database.write() as conn:
            runs_mod.update_json(conn, run_id, column, change)

    def update_metadata(self, metadata: dict) -> bool:
        """Merge ``metadata`` into the run's (top level; a key given again takes the new value)."""
        metadata = check_metadata(metadata)
        self._update_json("metadata", lambda current: {**current, **metadata})
        return True

    def update_tags(self, tags: list) -> bool:
        """Add ``tags`` to the run's (set union, order of first use kept)."""
        tags = check_tags(tags)
        self._update_json("tags", lambda current: current + [t for t in tags if t not in current])
        return True

    def set_tags(self, tags: list) -> bool:
        """Replace the run's tags with ``tags``."""
        tags = check_tags(tags)
        self._update_json("tags", lambda current: tags)
        return True

    def set_folder_details(self, path: str | None = None, metadata: dict | None = None,
                           tags: list | None = None, description: str | None = None) -> bool:
        """Set metadata, tags and description of a folder (the run's own by default).

        Values given replace the folder's; missing folders (and their parents) are created.
        """
        path = self.folder if path is None else check_folder(path, "path")
        if path is None:
            self._require_id()
        fields: dict[str, Any] = {}
        if metadata is not None:
            fields["metadata"] = dumps(check_metadata(metadata))
        if tags is not None:
            fields["tags"] = dumps(check_tags(tags))
        if description is not None:
            fields["description"] = check_optional_text(description, "description")
        with self.store.database.write() as conn:
            runs_mod.set_folder_details(conn, path, fields)
        return True

    # -- ending

    def _finish(self, status: str, **changes: Any) -> None:
        """Store a final status (with end time, and ``error``/``outputs`` when given)."""
        run_id = self._require_id()
        writer = self._writer
        with writer.lock:
            self._stop_sampling()  # before the last flush: no sample after the run's end
            aborted = self._aborted
            ended: list[bool] = []

            def end(conn) -> None:
                ended.append(runs_mod.finish(conn, run_id, self.name, status, changes))

            # The last points and metric checks, and the final status, in one transaction.
            writer.flush(until=now_us(), final=True, also=end)
            if self._aborted and not aborted:  # they ended the run (trigger_abort): it stays terminated
                return
            if not ended:  # the writer was released already: nothing of it left to write
                with self.store.database.write() as conn:
                    end(conn)
            if not ended[0]:  # aborted from outside (abort_run) before its heartbeat told this handle
                return self._terminated(from_outside=True)
            self._status = status
            writer.end(status)
            self.store.live.discard(writer)

    def set_status(self, status: str) -> bool:
        """End the run as ``completed``, ``failed`` or ``terminated``."""
        self._finish(check_choice(status, "status", schema.FINAL_STATUSES))
        return True

    def end(self, outputs: Any = None, error: str | None = None) -> None:
        """End the run LangSmith-style: outputs (non-dict wrapped as ``{"output": value}``),
        error text; the status becomes ``failed`` when ``error`` is given, else ``completed``."""
        if error is not None:
            check_optional_text(error, "error")
        if outputs is not None and not isinstance(outputs, dict):
            outputs = {"output": outputs}
        self._finish(
            "failed" if error is not None else "completed",
            error=error,
            outputs=None if outputs is None else dumps_lenient(outputs, "outputs"),
        )

    def _live(self) -> bool:
        """True while this handle may still write: not released here nor by its store's close."""
        return self.id is not None and not self._released and not self._writer.released

    def close(self) -> bool:
        """Flush, complete the run if it is still running, and release the handle."""
        if self._live() and self._status == "running":
            self._finish("completed")
        self._release()
        return True

    def _release(self) -> None:
        """Flush what is buffered and let go of the store (closing it if this run opened it)."""
        if self._released:
            return
        self._released = True
        self._stop_sampling()
        store = self._store
        if store is not None and not store.closed:
            if self._writer is not None:
                self._writer.release()
                store.live.discard(self._writer)
            if self._owns_store:
                store.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._live() and self._status in ("running", "created"):
                if exc_type is None:
                    if self._status == "running":
                        self._finish("completed")
                else:
                    import traceback  # only a run that fails needs it

                    text = "".join(traceback.format_exception(exc_type, exc, tb))
                    status = "terminated" if issubclass(exc_type, KeyboardInterrupt) else "failed"
                    if self._status == "running":
                        self.log_event(text[-events_mod.MAX_MESSAGE:], level="error")
                    self._finish(status, error=text)
        finally:
            self._release()
        return False

    # -- children

    def child(self, name: str, run_type: str = "chain", inputs: Any = None, **kwargs: Any) -> "Run":
        """Start a child run in this run's trace (``kwargs`` as for ``Store.init``)."""
        self._require_id()
        kwargs.setdefault("folder", self.folder)
        return self.store.init(name, parent=self, run_type=run_type, inputs=inputs, **kwargs)

    # -- metrics

    def log_metrics(self, metrics: dict, step: int | None = None, time: float | None = None,
                    timestamp: Any = None, asset: str | None = None) -> bool:
        """Log one record of metric values (int, float, bool; NaN and infinities kept exactly).

        Args:
            metrics: ``{name: value}``; an empty dict is a no-op.
            step: this record's step; by default the run's counter, which starts at 0 and
                goes up by 1 on every call (also on calls that give ``step``).
            time: seconds since the run started running (default: the wall-clock seconds
                since then at this call, as in Simvue, whatever ``timestamp`` says).
            timestamp: a datetime, ISO-8601 string or epoch seconds (default: now). A string
                or datetime without a zone is UTC, as simvue 2.6.2 sends it.
            asset: the machine or source the values come from (recipe runs), default none.

        Raises:
            ValidationError: a bad name or value; nothing of the call is logged.
            RunStateError: the run is not running.
        """
        # The common call (defaults only) appends in RunWriter.log_now; others in metric_log.
        if step is None and time is None and timestamp is None and asset is None and self._status == "running":
            return self._writer.log_now(metrics)
        if not isinstance(metrics, dict):
            raise errors.ValidationError(f"metrics must be a dict of name -> number, got {type(metrics).__name__}")
        if not metrics:
            return True
        if self._status != "running":
            self._require_running("log metrics")
        return log_record(self._writer, metrics, step, time, timestamp, asset)

    def flush(self) -> bool:
        """Write everything buffered now (one transaction)."""
        self._require_id()
        self._writer.flush()
        return True

    # -- events

    def log_event(self, message: str, timestamp: Any = None, level: str = "info") -> bool:
        """Log a message (levels debug, info, warning, error, critical) at ``timestamp`` (default
        now; without a zone UTC, as simvue 2.6.2 sends it)."""
        # The checks of events.check_message/check_level, inline: this is a hot path.
        if type(message) is not str or len(message) > events_mod.MAX_MESSAGE or _SURROGATE.search(message):
            events_mod.check_message(message)
        if type(level) is not str or level not in _LEVELS:  # a list is unhashable
            events_mod.check_level(level)
        if self._status != "running":
            self._require_running("log events")
        now = _time_ns() // 1000
        self._writer.add_event(now if timestamp is None else to_us(timestamp), now, level, None, message, None)
        return True

    def add_event(self, name: str, time: Any = None, **kwargs: Any) -> bool:
        """Add a LangSmith-style named event (``start``, ``end``, ``new_token``...) with kwargs.

        ``add_event`` also accepts a dict (``{"name": ..., "time": ..., "kwargs": {...}}``) as
        LangSmith's ``RunTree.add_event`` does.
        """
        if isinstance(name, dict):
            data = dict(name)
            name, time = data.pop("name", "event"), data.pop("time", time)
            given = data.pop("kwargs", None) or {}
            if not isinstance(given, dict):
                raise errors.ValidationError(f"an event's kwargs must be a dict, got {type(given).__name__} {given!r:.80}")
            kwargs = {**given, **data, **kwargs}
        name = events_mod.check_event_name(name)
        message = kwargs.pop("message", None)
        if message is not None:
            message = events_mod.check_message(message)
        encoded = events_mod.kwargs_json(kwargs)
        self._require_running("add events")
        now = now_us()
        self._writer.add_event(now if time is None else to_us(time, "time"), now, None, name, message, encoded)
        return True
