"""The active run of this process: ``runlite.init``, ``log`` and ``finish``, and what
``runlite.run`` and ``runlite.config`` show, in the style of wandb, trackio and mlflow
(docs/ML.md).

One run is active at a time. ``runlite/__init__.py`` asks ``active_run`` and
``active_config`` on every access (never caching them), and imports nothing before the first
``init``. The active run ends with ``finish()``, at interpreter exit (completed), or with an
uncaught exception (failed, or terminated for Ctrl-C, with the traceback; the previous
``sys.excepthook`` still runs). In a notebook a cell's exception does not reach
``sys.excepthook``: the run stays active between cells. A forked child starts with no active
run, so its exit never ends the parent's; a worker calling ``init()`` gets its own run.

``log`` is the training loop's hot path: a call with the default step goes straight to the
run's ``log_metrics`` (``_hot``); explicit steps, ``commit=False``, and the steps a resumed
run already holds go through ``_log``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import warnings
from typing import Any

from . import errors
from ._validation import (check_choice, check_folder, check_metadata, check_name, check_optional_text, check_tags,
                          dumps, shown)
from .params import Config, flatten

_logger = logging.getLogger("runlite")

REINIT_MODES = ("finish_previous", "return_previous", "error")
_ENDED = ("completed", "failed", "terminated")
_UNSET: Any = object()


class _Active:
    """The active run, its config view, and what ``log`` keeps: the last step the file held
    when the run was resumed (``replay_until``: replayed steps up to it are skipped), each
    series' last stored step, and the records dropped (counted, warned about once)."""

    __slots__ = ("run", "config", "replay_until", "last_steps", "dropped", "held")

    def __init__(self, run: Any):
        self.run = run
        self.config = Config(run)
        resumed = run.resumed or {}
        self.replay_until: int | None = resumed.get("last_step")
        self.last_steps: dict = resumed.get("last_steps") or {}
        self.dropped = {"back": 0, "replayed": 0}
        self.held = False  # the last call was commit=False: the counter is the step it logged, not the next


_active: _Active | None = None
_hot: Any = None  # the active run's log_metrics while a call with the default step may go straight there
_hooks: list = []  # the previous sys.excepthook, once the hooks are installed


def active_run() -> Any:
    """``runlite.run``: the run of the last ``init()`` until it ends (``finish()``, its ``with``
    block, ``close()``, ``set_status``, an aborting alert); None otherwise."""
    active = _active
    return None if active is None or active.run.status in _ENDED else active.run


def active_config() -> Config | None:
    """``runlite.config``: the active run's parameters (``params.Config``); None without one."""
    return None if active_run() is None else _active.config


def init(name: str | None = None, *, config: Any = None, project: str | None = None,
         folder: str | None = None, db: Any = None, id: str | None = None, resume: Any = None,
         tags: list | None = None, notes: str | None = None, description: str | None = None,
         reinit: Any = "finish_previous", system_metrics: bool | float = True,
         heartbeat_timeout: Any = _UNSET) -> Any:
    """Start (or resume) the run this process logs to with ``runlite.log``; returns its ``Run``.

    Args:
        name: the run's name (random ``adjective-noun`` when None).
        config: the run's parameters (a dict, Mapping or ``argparse.Namespace``), stored as
            its metadata with nested dicts flattened to dotted keys; see ``runlite.config``.
        project: the run's folder is ``/<project>``; or give ``folder`` (default ``/``).
        db: a Store, or the path of the file (default ``$RUNLITE_DB``, else ``./runs.db``).
        id, resume: W&B's: continue a run by ``id`` (or unique ``name``) with ``"allow"``,
            ``"must"`` or ``"never"`` (see ``Store.init``). A resumed run's ``log`` skips the
            steps the file already holds.
        tags, notes (or description): the run's tags and description.
        reinit: with a run still active: ``"finish_previous"`` (default, as W&B) completes it
            first, ``"return_previous"`` returns it unchanged, ``"error"`` raises; True is
            ``"finish_previous"``.
        system_metrics: True (default) samples this host's CPU, memory, disk, network and GPUs
            into the run every 10 s where ``runlite[system]`` (psutil) is installed, skipped
            elsewhere; an interval in seconds asks for it (MissingExtraError without psutil);
            False never (docs/SYSTEM.md).
        heartbeat_timeout: as ``Store.init``.
    """
    params = flatten(config)
    folder = _folder(project, folder)
    if notes is not None and description is not None:
        raise errors.ValidationError("give notes= or description= (the same field), not both")
    description = check_optional_text(description if notes is None else notes, "notes")
    if reinit is True or (isinstance(reinit, str) and reinit == "default"):
        reinit = "finish_previous"
    reinit = check_choice(reinit, "reinit", REINIT_MODES)
    sample_every = _sampling(system_metrics)
    store, path = _where(db)
    from .handle import Run, check_heartbeat_timeout  # noqa: PLC0415 - `import runlite` stays light
    from .handle.resume import check_resume, resumable  # noqa: PLC0415

    # The checks the run's init makes later, now: a refused call must not end the previous run.
    if name is not None:
        check_name(name, "run name")
    if heartbeat_timeout is not _UNSET:
        check_heartbeat_timeout(heartbeat_timeout)
    resume = check_resume(resume)
    if id is not None:
        check_name(id, "id")
    elif resume is not None and name is None:
        raise errors.ValidationError(f"resume={resume!r} needs the run to continue: give its id= (or name=)")
    if tags is not None:
        check_tags(tags)
    previous = active_run()
    if previous is not None and reinit == "return_previous":
        return previous
    if previous is not None and reinit == "error":
        raise errors.RunStateError(f"run {previous.name!r} ({previous.id}) is still active: call runlite.finish() "
                                   "first, or pass reinit='finish_previous'")
    run = Run(store=store, path=path)
    try:  # and the checks that need the file: a refused call leaves the previous run active
        target = run.store  # opens the file named: it may not be runlite's
        dumps(check_metadata(params), "metadata")
        if id is not None or resume is not None:
            with target.database.read() as conn:
                resumable(conn, name, id, resume)
    except BaseException:
        run.close()
        raise
    finish()  # also releases an ended run's handle that no one finished
    options = {} if heartbeat_timeout is _UNSET else {"heartbeat_timeout": heartbeat_timeout}
    try:
        run.init(name, metadata=params, tags=tags, description=description, folder=folder, id=id,
                 resume=resume, system_metrics=sample_every or False, **options)
    except BaseException:
        run.close()  # nothing was created: let go of the store it opened
        raise
    _activate(run)
    return run


def _sampling(system_metrics: Any) -> float | None:
    """The system metrics interval ``init`` asks the run for (``runlite.system``), None for none:
    True (the default) wants sampling where psutil is installed and skips it elsewhere; an
    interval asks for it (MissingExtraError without psutil), before anything changes."""
    from .system import available, setting  # noqa: PLC0415 - `import runlite` stays light
    from .system.probes import psutil_module  # noqa: PLC0415

    seconds = setting(system_metrics)
    if seconds is not None and not available():
        if system_metrics is not True:
            psutil_module()  # raises MissingExtraError, naming the extra to install
        _logger.debug("runlite.init: no system metrics here (psutil is not installed)")
        return None
    return seconds


def _folder(project: Any, folder: Any) -> str:
    if project is not None and folder is not None:
        raise errors.ValidationError("give project= (the folder /<project>) or folder=, not both")
    if project is not None:
        return check_folder("/" + check_name(project, "project"), "project")
    return "/" if folder is None else check_folder(folder)


def _where(db: Any) -> tuple[Any, Any]:
    """``(store, path)`` for ``Run()``: a Store, or a path (None: the default file)."""
    if db is None or isinstance(db, (str, os.PathLike)):
        if isinstance(db, str) and not db:
            raise errors.ValidationError("db must be a Store or a file path, got ''")
        return None, db
    from .store import Store  # noqa: PLC0415

    if not isinstance(db, Store):
        raise errors.ValidationError(f"db must be a Store or a file path, got {type(db).__name__} {shown(db)}")
    return db, None


def _activate(run: Any) -> None:
    global _active, _hot
    _active = _Active(run)
    _hot = run.log_metrics if _active.replay_until is None else None
    if not _hooks:  # process-wide hooks, installed by the first init() only (never by import)
        _hooks.append(sys.excepthook)
        sys.excepthook = _excepthook
        atexit.register(_at_exit)  # after the store's exit flush was registered: runs before it
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget)


def _forget() -> None:
    """No run is active (after ``finish``, and in a forked child: the parent's stays its own)."""
    global _active, _hot
    _active = _hot = None


def log(data: dict, step: int | None = None, commit: bool | None = None) -> None:
    """Log one record of metric values (numbers: int, float, bool, numpy and torch scalars;
    NaN and infinities kept) to the active run.

    Args:
        step: this record's step; by default the step after the last one logged. Steps only
            go forward (as in W&B): a step below the last one logged is dropped with a
            warning (once a run; the count is logged as an event when the run ends). After a
            resume, values at steps the file already holds for that metric are skipped.
        commit: False logs at the current step without moving on, so the next call's values
            share its step (W&B's ``commit=False``).

    Raises:
        RunStateError: no active run (call ``runlite.init()``), or it has ended.
        ValidationError: a value that is not a number, a bad name or step; nothing is logged.
    """
    hot = _hot
    if hot is not None and commit is None and (step is None or (type(step) is int and step == hot.__self__.step)):
        hot(data)  # the default step (or that very step given): straight to the run
        return
    _log(data, step, commit)


def _log(data: Any, step: Any, commit: Any) -> None:
    global _hot
    active = _active
    if active is None:
        raise errors.RunStateError("runlite.log needs an active run: call runlite.init() first")
    if not isinstance(data, dict):
        raise errors.ValidationError(f"runlite.log takes a dict of name -> number, got {type(data).__name__}")
    if commit is not None and not isinstance(commit, bool):
        raise errors.ValidationError(f"commit must be True, False or None, got {shown(commit)}")
    from .live.metric_log import check_step  # noqa: PLC0415 - loaded by init() already
    from .storage.metric_buffer import check_metrics  # noqa: PLC0415

    run = active.run
    counter = run.step
    at = counter if step is None else check_step(step)
    last = counter if active.held else counter - 1  # the last step logged
    replay = active.replay_until
    if (replay is not None and at <= replay) or at < last:  # what is dropped is checked all the same
        check_metrics(data)
    if replay is not None and at <= replay:  # the file holds steps up to replay: skip what it has
        kept = {name: value for name, value in data.items() if active.last_steps.get(name, -1) < at}
        if len(kept) < len(data):
            _dropped(active, "replayed", f"run {run.name!r} was resumed after step {replay}: values at steps "
                     "the file already holds are skipped, so a job replaying from its checkpoint duplicates nothing")
        data = kept
    elif at < last:
        return _dropped(active, "back", f"step {at} is below the last step logged ({last}); steps only "
                        "go forward (as in W&B), so this record is dropped")
    if at != counter:
        run.step = at
    try:
        if data:
            run.log_metrics(data)
    except BaseException:
        run.step = counter  # the call logged nothing: nor does it move the step
        raise
    if not data or commit is False:
        run.step = at + (commit is not False)
    active.held = commit is False
    if replay is not None and run.step > replay:  # past what the file held: the fast path again
        active.replay_until = None
        _hot = run.log_metrics


def _dropped(active: _Active, kind: str, message: str) -> None:
    active.dropped[kind] += 1
    if active.dropped[kind] == 1:
        warnings.warn(f"runlite.log: {message} (warned once a run; the count is logged as an event at its end)",
                      stacklevel=4)


def _note_dropped(active: _Active) -> None:
    """Log how many records ``log`` dropped or skipped as the run's events, once."""
    back, replayed = active.dropped["back"], active.dropped["replayed"]
    active.dropped = {"back": 0, "replayed": 0}
    if active.run.status != "running":
        return
    if back:
        active.run.log_event(f"runlite.log dropped {back} record(s) whose step went back", level="warning")
    if replayed:
        active.run.log_event(f"runlite.log skipped values of {replayed} record(s) at steps logged before the "
                             "resume", level="info")


def finish(exit_code: int | None = None) -> None:
    """End the active run: completed, or failed when ``exit_code`` is not 0 (W&B's
    ``finish``); its store is closed if ``init`` opened it. No active run: nothing happens."""
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise errors.ValidationError(f"exit_code must be an int or None, got {shown(exit_code)}")
    active = _active
    if active is None:
        return
    run = active.run
    _note_dropped(active)
    if exit_code and run.status == "running":
        run.end(error=f"finished with exit code {exit_code}")
    run.close()
    _forget()


def _at_exit() -> None:
    """Interpreter exit: the active run is completed (its points written)."""
    try:
        finish()
    except Exception:  # noqa: BLE001 - exiting: say so, do not hide the program's own exit
        _logger.exception("runlite: could not finish the active run at exit")


def _excepthook(exc_type, exc, tb) -> None:
    """An uncaught exception ends the active run as failed (terminated for KeyboardInterrupt)
    with its traceback, then the previous hook reports it as before."""
    active = _active
    try:
        if active is not None:
            _note_dropped(active)
            active.run.__exit__(exc_type, exc, tb)  # the handle's own ending: error event, status, release
            _forget()
    except Exception:  # noqa: BLE001 - the program's exception is what must be reported
        _logger.exception("runlite: could not end the active run after an uncaught exception")
    finally:
        (_hooks[0] if _hooks else sys.__excepthook__)(exc_type, exc, tb)
