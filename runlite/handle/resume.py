"""Resuming runs: ``Run.resume``, ``init(id=..., resume=...)`` with W&B's three modes, and the
step counter a resumed run continues from (``Run.step``).

A run that no process runs any more (created, completed, failed, terminated or lost) goes
back to ``running`` in this process: its start time is kept (run time goes on growing), its
metric steps continue after the last one stored, its events after the last event, its alerts
are armed again with their stored states, and its history says so: an ``info`` event and an
entry in ``extra["resumed"]`` (``storage/runs.py`` ``resume``), written in the same
transaction as the change of status.
"""

from __future__ import annotations

import os
from typing import Any

from .. import errors
from .._host import THIS_HOST
from .._ids import random_name, run_id_for
from .._validation import check_choice, check_name, now_us, shown
from ..live.metric_log import check_step
from ..storage import events as events_mod
from ..storage import runs as runs_mod

RESUME_MODES = ("allow", "must", "never")


def resumable(conn, name: str | None, key: str | None, resume: str | None) -> str | None:
    """The id of the stored run ``init(id=key, name=name, resume=resume)`` continues (found by
    ``key``, else by unique ``name``), None for a new one; raises as ``resume`` refuses:
    RunStateError when it exists and ``resume`` wants a new run, NotFoundError when it does not
    and ``resume`` is "must"."""
    run_id = None if key is None else run_id_for(key)
    found = runs_mod.named(conn, name) if run_id is None else (run_id if runs_mod.existing(conn, [run_id]) else None)
    if found is not None and resume in (None, "never"):
        raise errors.RunStateError(
            f"a run with {'id ' + shown(key) if key is not None else 'name ' + shown(name)} exists "
            f"({found}); resume='allow' or 'must' continues it, resume={resume!r} wants a new one")
    if found is None and resume == "must":
        raise errors.NotFoundError(
            f"no run with {'id ' + shown(key) if key is not None else 'name ' + shown(name)} to resume "
            "(resume='must'); resume='allow' creates it")
    return found


def check_resume(resume: Any) -> str | None:
    """W&B's ``resume``: ``"allow"``, ``"must"``, ``"never"``; True is ``"allow"``; None and
    False ask for a new run (an existing ``id`` is then an error, as with ``"never"``)."""
    if resume is None or resume is False:
        return None
    if resume is True:
        return "allow"
    if resume == "auto":
        raise errors.ValidationError("resume='auto' (W&B's, from a file in ./wandb) is not supported: give the "
                                     "run's id= (or name=) with resume='allow'")
    return check_choice(resume, "resume", RESUME_MODES)


class RunResume:
    """The resuming methods of ``Run`` (a mixin; the core gives ``_store``, ``_writer``,
    ``_bind_store``, ``_require_new``, ``_require_id`` and ``_adopt``)."""

    #: None, or how this handle found the run it resumed: ``was`` (its status then),
    #: ``last_step`` (the last step stored, over every series but ``system/...``; None with none) and
    #: ``last_steps`` (each series' last step, by metric name).
    resumed: dict | None = None

    def resume(self, name_or_id: str) -> "RunResume":
        """Continue a run that no process runs any more (by id or unique name): created,
        completed, failed, terminated or lost. Returns self, running; see the module notes."""
        self._require_new()
        store = self._bind_store()
        run_id = store.run_id(name_or_id)
        with store.database.write() as conn:
            info = self._resume_in(conn, run_id, {})
        return self._adopt_resumed(info)

    def _resume_in(self, conn, run_id: str, changes: dict) -> dict:
        """Resume ``run_id`` inside the caller's write transaction: the status change, the
        history, and ``changes`` (metadata merged, tags added, a new description)."""
        info = runs_mod.resume(conn, run_id)
        if changes.get("metadata"):
            runs_mod.update_json(conn, run_id, "metadata", lambda current: {**current, **changes["metadata"]})
        if changes.get("tags"):
            runs_mod.update_json(conn, run_id, "tags",
                                 lambda current: current + [t for t in changes["tags"] if t not in current])
        if changes.get("description") is not None:
            runs_mod.set_description(conn, run_id, changes["description"])
        last = "" if info["last_step"] is None else f"; steps continue after {info['last_step']}"
        events_mod.insert(conn, run_id, now_us(), "info",
                          f"resumed (was {info['was']}) on {THIS_HOST}, pid {os.getpid()}{last}")
        return info

    def _adopt_resumed(self, info: dict) -> "RunResume":
        self._adopt(info, heartbeat_timeout=info["heartbeat_timeout"])  # events and alerts continue
        self.resumed = {key: info[key] for key in ("was", "last_step", "last_steps")}
        if info["last_step"] is not None:
            self._writer.set_step(info["last_step"] + 1)
        if info["system_step"] is not None:
            self._system_next = info["system_step"] + 1
        return self

    def _init_resumable(self, name: str | None, key: str | None, resume: str | None, create: dict,
                        changes: dict) -> "RunResume":
        """``init`` with ``id`` or ``resume``: find the run by id (or, without one, by unique
        name), then resume it or create it as ``resume`` says, in one write transaction."""
        if key is not None:
            key = check_name(key, "id")
        elif resume is not None and name is None:
            raise errors.ValidationError(f"resume={resume!r} needs the run to continue: give its id= (or name=)")
        run_id = None if key is None else run_id_for(key)
        if name is None:  # a caller's id that is not a UUID also names the run (W&B shows it)
            name = key if key is not None and run_id != key.lower() else random_name()
        store = self._store
        with store.database.write() as conn:
            found = resumable(conn, name, key, resume)
            if found is None:
                info = runs_mod.create(conn, name=name, run_id=run_id, **create)
            else:
                info = self._resume_in(conn, found, changes)
        if found is None:
            self._adopt(info, new=True, heartbeat_timeout=create["values"]["heartbeat_timeout"])
            return self
        return self._adopt_resumed(info)

    # -- the step counter

    @property
    def step(self) -> int | None:
        """The step the next ``log_metrics`` call without ``step`` gets (None before ``init``).

        It starts at 0, or after the last stored step when the run was resumed, and goes up
        by 1 on every call; set it to number the next records from elsewhere.
        """
        return None if self._writer is None else self._writer.step

    @step.setter
    def step(self, value: int) -> None:
        self._require_id()
        self._writer.set_step(check_step(value))
