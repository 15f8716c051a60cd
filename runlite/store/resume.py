"""Resuming a run through the store: ``Store.resume`` (the handle does the work: ``handle/resume.py``)."""

from __future__ import annotations

from typing import Any

from ..handle import Run


class Resuming:
    """``Store.resume`` (a mixin of ``Store``)."""

    def resume(self, name_or_id: Any) -> Run:
        """Continue a run that no process runs any more (a Run, RunRecord, id or unique name):
        created, completed, failed or terminated, or lost (its process died, its heartbeat
        stopped). It is running again in this process: steps continue after the last stored
        step (``run.step``), run time keeps growing from its first start, its alerts are armed
        again, and its history records the resume (an ``info`` event; ``extra["resumed"]``).
        RunStateError when it is still running elsewhere."""
        run = Run(store=self)
        run.resume(self.run_id(name_or_id))
        return run
