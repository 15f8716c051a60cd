"""``runlite.simvue.Run``: Simvue 2.x's ``Run`` over a runlite run, so that code written
against ``simvue.Run`` works with only the import changed::

    import runlite.simvue as simvue
    with simvue.Run(mode="offline") as run:
        run.init(name="sweep-1", folder="/sweeps", tags=["a"], metadata={"lr": 0.1})
        run.log_metrics({"loss": 0.5})

It wraps a ``runlite.Run`` (whose own API is unchanged) and calls only its public methods.
Where Simvue raises ``RuntimeError`` this raises a runlite ``SimvueRunError`` subclass,
which is one too. See ``docs/SIMVUE.md`` for what differs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from .. import errors
from ..handle import Run as CoreRun
from ..storage import runs as runs_mod
from . import models
from .alerts import RunAlerts
from .models import simvue_method as _simvue

_ONLINE_WARNED = [False]
_UNSET: Any = object()


class Run(RunAlerts):
    """Track a run as ``simvue.Run`` does, written to a runlite file.

    ``mode``: ``"offline"`` and ``"online"`` both write the runlite file (``RUNLITE_DB``, else
    ``./runs.db``, or ``store=``/``path=``); there is no server, so ``online`` warns once.
    ``"disabled"``: every method is a no-op returning what Simvue's returns.
    ``server_token``, ``server_url``, ``server_profile`` are accepted and unused.
    """

    def __init__(self, *, mode: str = "online", abort_callback: Callable | None = None,
                 server_token: Any = None, server_url: str | None = None, debug: bool = False,
                 server_profile: str | None = None, store: Any = None, path: Any = None):
        models.check_choice(mode, ("online", "offline", "disabled"), "mode")
        if abort_callback is not None and not callable(abort_callback):
            raise models.refuse(f"abort_callback must be callable, got {abort_callback!r:.80}")
        models.check_bool(debug, "debug")
        if mode == "online" and not _ONLINE_WARNED[0]:
            _ONLINE_WARNED[0] = True
            warnings.warn("runlite.simvue: there is no Simvue server here; mode='online' writes the "
                          "runlite file as mode='offline' does", UserWarning, stacklevel=2)
        self._mode = mode
        self._core = CoreRun(store=store, path=path)
        self._core.on_aborted.append(self._aborted_from_outside)
        self._uuid = f"{uuid.uuid4()}"
        self._abort_callback = abort_callback
        self._abort_on_alert = "terminate"
        self._abort_handled = False  # abort_callback was called for the run's end
        self._context_manager_called = False
        self._retention: float | None = None
        self._timer = 0.0
        self._start_time: float | None = None
        self._status_cache: str | None = None
        self._set_again: str | None = None  # a final status set after the run ended (set_status)
        self._pid: int | None = 0
        self._units: dict = {}
        self._pending_units: dict = {}
        self._units_lock = threading.Lock()
        self._alert_specs: dict[str, tuple[str, tuple, dict]] = {}
        self._processes: dict[str, subprocess.Popen] = {}
        self._process_threads: dict[str, threading.Thread] = {}
        self._process_dir: str | None = None

    # -- properties

    @property
    def mode(self) -> str:
        """``online``, ``offline`` or ``disabled``."""
        return self._mode

    @property
    def uid(self) -> str:
        """The local unique identifier of this handle (a uuid4)."""
        return self._uuid

    @property
    def id(self) -> str | None:
        """The run's id (None before ``init``)."""
        return self._core.id

    @property
    def name(self) -> str | None:
        """The run's name (None before ``init``)."""
        return self._core.name

    @property
    def status(self) -> str | None:
        """``created``, ``running``, ``completed``, ``failed``, ``terminated`` (None before init)."""
        if self._core.id is None:
            return self._status_cache
        return self._set_again or self._core.status

    @property
    def duration(self) -> float:
        """Seconds since the run started running (0.0 before)."""
        return 0.0 if self._start_time is None else time.time() - self._start_time

    @property
    def store(self):
        """The runlite Store this run writes to (a runlite extension)."""
        return self._core.store

    @property
    def runlite_run(self) -> CoreRun:
        """The wrapped ``runlite.Run`` (a runlite extension)."""
        return self._core

    def __repr__(self) -> str:
        return f"<runlite.simvue.Run {self.name!r} {self.id} {self.status} mode={self._mode}>"

    # -- configuration and lifecycle

    @_simvue(True, initialised=False)
    def config(self, *, suppress_errors: bool | None = None, queue_blocking: bool | None = None,
               system_metrics_interval: int | None = None, enable_emission_metrics: bool | None = None,
               disable_resources_metrics: bool | None = None, storage_id: str | None = None,
               abort_on_alert: str | None = None) -> bool:
        """Simvue's options. Only ``abort_on_alert`` acts here: what an alert with
        ``trigger_abort`` going critical does (``"run"``, ``"terminate"``: the run ends
        ``terminated``, ``abort_callback`` is called, added processes are killed; ``"ignore"``:
        ``abort_callback`` is called and the run goes on; see docs/SIMVUE.md). The others are
        checked and accepted: errors are always raised, writes never queue, and runlite
        records no resource or emission metrics."""
        for value, what in ((suppress_errors, "suppress_errors"), (queue_blocking, "queue_blocking"),
                            (enable_emission_metrics, "enable_emission_metrics"),
                            (disable_resources_metrics, "disable_resources_metrics")):
            if value is not None:
                models.check_bool(value, what)
        if system_metrics_interval is not None:
            system_metrics_interval = models.check_positive_int(system_metrics_interval, "system_metrics_interval")
        if system_metrics_interval and disable_resources_metrics:
            raise models.refuse("Setting of resource metric interval and disabling resource metrics is ambiguous")
        if enable_emission_metrics and disable_resources_metrics:
            raise models.refuse("Emissions metrics require resource metrics collection.")
        if storage_id is not None and not isinstance(storage_id, str):
            raise models.refuse(f"storage_id must be a str, got {storage_id!r:.80}")
        if abort_on_alert is not None:  # before init or during the run: alerts firing later follow it
            self._abort_on_alert = models.check_choice(abort_on_alert, models.ABORT_ON_ALERT, "abort_on_alert")
            self._core.alerts_may_abort = abort_on_alert != "ignore"
        return True

    @_simvue(True, initialised=False)
    def init(self, name: str | None = None, *, metadata: dict | None = None, tags: list | None = None,
             description: str | None = None, folder: str | None = None, notification: str = "none",
             running: bool = True, retention_period: str | None = None, timeout: int | None = 180,
             visibility: Any = None, no_color: bool = False, record_shell_vars: Any = None) -> bool:
        """Create the run; returns True. ``timeout`` is the heartbeat timeout in seconds (None:
        never lost); ``retention_period`` (``"1 hour"``) makes later calls raise once passed;
        ``notification`` and ``visibility`` are checked and have no effect in a local file;
        ``record_shell_vars`` (names or glob patterns) stores matching environment variables
        as ``metadata["shell"]``."""
        if name is not None:
            models.check_name(name)
        folder = "/" if folder is None else models.check_folder(folder)
        tags = [] if tags is None else models.check_tags(tags)
        metadata = {} if metadata is None else dict(models.check_metadata(metadata))
        if description is not None and not isinstance(description, str):
            raise models.refuse(f"description must be a str, got {description!r:.80}")
        models.check_choice(notification, models.NOTIFICATIONS, "notification")
        models.check_bool(running, "running")
        models.check_bool(no_color, "no_color")
        models.check_visibility(visibility)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
            raise models.refuse(f"timeout must be an int of seconds or None, got {timeout!r:.80}")
        retention = None
        if retention_period:
            retention = int(models.parse_timespan(retention_period)) or None
        if record_shell_vars:
            if not isinstance(record_shell_vars, (set, frozenset, list, tuple)) or not all(
                    isinstance(v, str) for v in record_shell_vars):
                raise models.refuse("record_shell_vars must be a set of names or glob patterns")
            import fnmatch
            shell = {key: os.environ[key] for pattern in record_shell_vars
                     for key in fnmatch.filter(list(os.environ), pattern)}
            metadata["shell"] = shell
        self._core.init(name, metadata=metadata, tags=tags, description=description, folder=folder,
                        running=running, heartbeat_timeout=timeout, on_alert=self._on_alert)
        self._retention, self._timer = retention, time.time()
        if running:
            self._started()
        return True

    def _started(self) -> None:
        self._start_time = time.time()
        if self._pid == 0:
            self._pid = os.getpid()

    @_simvue(True, initialised=False)
    def reconnect(self, run_id: str) -> bool:
        """Start a ``created`` run (by id) running through this handle; returns True."""
        self._core.reconnect(run_id)
        self._started()
        return True

    def _aborted_from_outside(self, core: Any) -> None:
        """``Client.abort_run`` ended the run (seen at a heartbeat): abort as Simvue does."""
        self._abort_once()

    def _abort_once(self) -> None:
        """The run ended ``terminated``: call ``abort_callback`` and kill the added processes,
        once however many alerts or heartbeats report it."""
        if self._abort_handled:
            return
        self._abort_handled = True
        if self._abort_callback is not None:
            self._abort_callback(self)
        self.kill_all_processes()

    def __enter__(self) -> Run:
        self._context_manager_called = True
        if self._mode != "disabled":
            self._core.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._mode == "disabled":
            return
        if exc_type is not None:
            self.kill_all_processes()
        else:
            self._wait_for_processes()
        self._status_cache = self._core.status
        if exc_type is not None and self._status_cache == "created":
            exc_type = exc = tb = None  # Simvue leaves a queued run queued: it may be reconnected
        self._core.__exit__(exc_type, exc, tb)
        self._status_cache = self._core.status
        return

    @_simvue(True, initialised=False)
    def close(self) -> bool:
        """Complete the run (outside a ``with`` block only, as in Simvue); returns True."""
        if self._context_manager_called:
            raise errors.SimvueStateError("Cannot call close method in context manager.")
        if self._core.id is None:
            raise errors.SimvueStateError("Cannot close run, not initialised")
        self._wait_for_processes()
        self._core.close()
        self._status_cache = self._core.status
        return True

    @_simvue(True)
    def set_status(self, status: str) -> bool:
        """End the run as ``completed``, ``failed`` or ``terminated``; returns True."""
        models.check_choice(status, ("completed", "failed", "terminated"), "status")
        if self._core.status not in ("running", "created"):  # Simvue sets it again: a check after
            if status != self.status:                          # the run may fail it (its end stays)
                with self._core.store.database.write() as conn:
                    runs_mod.finish(conn, self._core.id, self._core.name, status, {}, again=True)
                self._set_again = status
            return True
        return self._core.set_status(status)

    # -- metadata, tags, folders

    @_simvue(True)
    def update_metadata(self, metadata: dict) -> bool:
        """Merge ``metadata`` into the run's (a key given again takes the new value)."""
        return self._core.update_metadata(models.check_metadata(metadata))

    @_simvue(True)
    def update_tags(self, tags: list) -> bool:
        """Add ``tags`` to the run's without duplication."""
        return self._core.update_tags(models.check_tags(tags))

    @_simvue(True)
    def set_tags(self, tags: list) -> bool:
        """Replace the run's tags."""
        return self._core.set_tags(models.check_tags(tags))

    @_simvue(True)
    def set_folder_details(self, metadata: dict | None = None, tags: list | None = None,
                           description: str | None = None) -> bool:
        """Set the metadata, tags and description of the run's folder (Simvue 2.x order)."""
        if metadata is not None and not isinstance(metadata, dict):
            raise models.refuse(f"metadata must be a dict, got {metadata!r:.80}")
        return self._core.set_folder_details(None, metadata or None, models.check_tags(tags) if tags else None,
                                             description or None)

    @_simvue(None, initialised=False)
    def set_metric_units(self, metric_name: str, *, units: str, mks_unit: str | None = None,
                         mks_conversion: float | None = None) -> None:
        """Units of a metric, written to ``metadata["simvue"]["metrics"]`` at the next
        ``log_metrics`` as Simvue does, also when set before ``init`` (MKS values are stored
        as given: no unit library)."""
        models.check_pattern(metric_name, models.METRIC_KEY_REGEX, "metric name")
        if not isinstance(units, str):
            raise models.refuse(f"units must be a str, got {units!r:.80}")
        with self._units_lock:
            self._pending_units[metric_name] = {"units": units, "mks_conversion": mks_conversion,
                                                "mks_units": mks_unit}

    # -- metrics and events

    @_simvue(True)
    def log_metrics(self, metrics: dict, step: int | None = None, time: float | None = None,
                    timestamp: Any = None) -> bool:
        """Log one record of metric values; returns True (an empty dict logs nothing)."""
        models.check_metrics(metrics)
        if self._core.status != "running":
            if not metrics:
                return True
            raise errors.SimvueStateError("Cannot log metrics when not in the running state")
        # Simvue's models convert in their lax mode: text of a number (a parsed solver log), a
        # step of 5.0 or "7", a time of "1.5".
        if str in set(map(type, metrics.values())):  # (the common call, numbers only, is left as it is)
            metrics = {name: models.lax_number(value) for name, value in metrics.items()}
        step, time = models.lax_int(step), models.lax_number(time)
        logged = self._core.log_metrics(metrics, step=step, time=time, timestamp=timestamp)
        with self._units_lock:  # the units after the values: a refused call writes neither
            pending, self._pending_units = self._pending_units, {}
            if pending:
                self._units.update(pending)
                units = dict(self._units)
        if pending:
            self._core.update_metadata({"simvue": {"metrics": units}})
        return logged

    @_simvue(True)
    def log_event(self, message: str, timestamp: Any = None, log_level: str | None = None) -> bool:
        """Log a message (``log_level`` debug/info/warning/error/critical, default info)."""
        if log_level is not None:
            models.check_choice(log_level, models.LOG_LEVELS, "log_level")
        if not isinstance(message, str):
            raise models.refuse(f"message must be a str, got {message!r:.80}")
        if self._core.status != "running":
            raise errors.SimvueStateError("Cannot log events when not in the running state")
        return self._core.log_event(message, timestamp, level=log_level or "info")

    # -- files and objects

    def _check_saveable(self, category: Any, file_type: str | None = None) -> str:
        """What every save checks first: the category (no outputs while created), the MIME type."""
        models.check_choice(category, models.CATEGORIES, "category")
        if self._core.status == "created" and category == "output":
            raise errors.SimvueStateError("Cannot upload output files for runs in the created state")
        if file_type is not None:
            models.check_mime(file_type)
        return category

    def _save_as(self, path: str, name: str, category: str, mime: str | None) -> bool:
        """Save the file at ``path`` under the stored ``name``: its type guessed from the file's
        own name and its path kept, as Simvue's ``FileArtifact`` does."""
        return self._core.save(path, category, filetype=mime, name=name)

    @_simvue(True)
    def save_file(self, file_path: Any, category: str, file_type: str | None = None,
                  preserve_path: bool = False, name: str | None = None, snapshot: bool = False,
                  metadata: dict | None = None, *, preserve_path_relative_to: str | None = None) -> bool:
        """Save a file under ``category`` (``input``, ``output``, ``code``); returns True.

        The content is stored at once (Simvue's ``snapshot=True`` is always the case);
        ``metadata`` is checked but not stored (runlite files have no per-file metadata).
        """
        if not isinstance(file_path, (str, os.PathLike)):
            raise models.refuse(f"file_path must be a str or path, got {file_path!r:.80}")
        path = os.fspath(file_path)
        if not os.path.isfile(path):
            raise models.refuse(f"Path does not point to a file: {path!r}")
        self._check_saveable(category, file_type)
        if name is not None:
            models.check_name(name)
        models.check_bool(snapshot, "snapshot")
        if metadata is not None and not isinstance(metadata, dict):
            raise models.refuse(f"metadata must be a dict, got {metadata!r:.80}")
        if preserve_path:
            warnings.warn("Argument 'preserve_path' will be deprecated in Simvue Python API v2.6, use "
                          "'preserve_path_relative_to' instead.", FutureWarning, stacklevel=3)
            preserve_path_relative_to = "cwd"
        if preserve_path_relative_to not in (None, "cwd"):
            raise models.refuse("preserve_path_relative_to='git' is not supported by runlite.simvue; use 'cwd'")
        if name is None and preserve_path_relative_to == "cwd":
            relative = os.path.relpath(os.path.abspath(path))
            if relative.startswith(".."):
                name = os.path.basename(path)
            else:
                return self._core.save(relative, category, filetype=file_type, preserve_path=True)
        if name is None or name == os.path.basename(path):
            return self._core.save(path, category, filetype=file_type)
        return self._save_as(path, name, category, file_type)

    @_simvue(True)
    def save_directory(self, directory: Any, category: str, file_type: str | None = None,
                       preserve_path: bool = False) -> bool:
        """Save every file below ``directory``; returns True."""
        self._check_saveable(category, file_type)
        return self._core.save_directory(directory, category, filetype=file_type, preserve_path=preserve_path)

    @_simvue(True)
    def save_all(self, items: list, category: str, file_type: str | None = None,
                 preserve_path: bool = False) -> bool:
        """Save files and directories (a missing item raises; runlite saves none of the list)."""
        self._check_saveable(category, file_type)
        return self._core.save_all(items, category, filetype=file_type, preserve_path=preserve_path)

    @_simvue(True)
    def save_object(self, obj: Any, category: str, name: str | None = None, allow_pickle: bool = False,
                    metadata: dict | None = None) -> bool:
        """Save a numpy array, pandas DataFrame or JSON value with Simvue's MIME type; never
        pickles: an object with no safe format is refused (``allow_pickle`` changes nothing)."""
        self._check_saveable(category)
        name = f"{type(obj).__name__.lower()}_{id(obj)}" if name is None else models.check_name(name)
        models.check_bool(allow_pickle, "allow_pickle")
        serialized = models.serialize_object(obj)
        if serialized is None:
            raise models.refuse(
                f"Failed to save object '{name}': could not serialize object of type {type(obj)!r} as a "
                "numpy array, DataFrame or JSON; runlite never pickles")
        data, mime = serialized
        return self._core.save_bytes(name, data, category, mime)

    # -- processes

    @_simvue(None)
    def set_pid(self, pid: int) -> None:
        """The process this run monitors (Simvue samples its resources; runlite records none)."""
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:  # (0 and below name process groups)
            raise models.refuse(f"pid must be a positive int, got {pid!r:.80}")
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, OverflowError):  # (beyond the system's pid type: no such process)
            raise errors.SimvueNotFoundError(f"process PID not found (pid={pid})") from None
        except PermissionError:
            pass
        self._pid = pid

    @_simvue(None)
    def add_process(self, identifier: str, *cmd_args: Any, executable: Any = None, script: Any = None,
                    input_file: Any = None, completion_callback: Callable | None = None,
                    completion_trigger: Any = None, env: dict | None = None, cwd: Any = None,
                    **cmd_kwargs: Any) -> None:
        """Run a command beside the run, as Simvue's executor does: ``<identifier>_command`` is
        stored in metadata, a user alert ``<identifier>_exit_status`` goes ``critical`` on a
        non-zero exit status (``ok`` on zero), and non-empty stdout/stderr are saved as outputs
        ``<run name>_<identifier>.out``/``.err``. ``close()``/the ``with`` block waits for it."""
        from .process import build_command, start
        running = self._processes.get(identifier)
        if running is not None and running.poll() is None:  # one that ended is replaced, as Simvue's executor does
            raise models.refuse(f"a process {identifier!r} is still running")
        command = build_command(cmd_args, executable, script, input_file, cmd_kwargs, env)
        # What the metadata key and the alert name refuse, before any file is saved.
        models.check_metadata({f"{identifier}_command": None})
        models.check_name(f"{identifier}_exit_status", "alert name")
        if script:
            self.save_file(script, "code")
        if input_file:
            self.save_file(input_file, "input")
        self.update_metadata({f"{identifier}_command": shlex.join(command)})
        alert_id = self.create_user_alert(f"{identifier}_exit_status")
        if self._process_dir is None:
            self._process_dir = tempfile.mkdtemp(prefix="runlite-simvue-proc-")
        out = os.path.join(self._process_dir, f"{self.name}_{identifier}".replace("/", "_"))  # a file, not a folder
        self._processes[identifier], self._process_threads[identifier] = start(
            command, out, env, cwd, lambda code, o, e: self._process_done(identifier, alert_id, code, o, e,
                                                                        completion_callback, completion_trigger))

    def _process_done(self, identifier: str, alert_id: str, code: int, out: str, err: str,
                      callback: Callable | None, trigger: Any) -> None:
        if self._core.status == "running":
            try:
                self._core.log_alert(identifier=alert_id, state="critical" if code != 0 else "ok")
                for path in (out, err):
                    if os.path.getsize(path):
                        self._core.save(path, "output")
            except errors.RunliteError:
                pass  # the run ended meanwhile
        if callback is not None:
            with open(out, errors="replace") as o, open(err, errors="replace") as e:
                callback(status_code=code, std_out=o.read(), std_err=e.read())
        if trigger is not None:
            trigger.set()

    @_simvue(None, initialised=False)
    def kill_process(self, process_id: str) -> None:
        """Kill a process added with ``add_process`` (and its children)."""
        process = self._processes.get(process_id) if isinstance(process_id, str) else None
        if process is None:
            raise errors.SimvueNotFoundError(f"no process {process_id!r} was added to this run")
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_all_processes(self) -> None:
        """Kill every process added with ``add_process``."""
        for identifier in list(self._processes):
            self.kill_process(identifier)
        self._wait_for_processes()

    def _wait_for_processes(self) -> None:
        for thread in list(self._process_threads.values()):
            thread.join()
        if self._process_dir is not None:
            shutil.rmtree(self._process_dir, ignore_errors=True)
            self._process_dir = None
