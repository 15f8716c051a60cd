"""One run's system metrics: the sampler's samples logged into the run's writer.

Each sample is one record of ``system/...`` series at the feed's own step (0, 1, 2...), logged
with ``count=False`` so the steps ``log_metrics`` gives by default never move. A sample that
cannot be logged (a full disk) is dropped and logged once; the run goes on.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

from .. import errors
from .._validation import is_real, now_us, shown
from ..live.metric_log import log_record
from . import sampler

# MLflow samples every 10 s, W&B every 15 s. 10 s gives a 5-minute run 30 points a series, and
# one sample costs a few milliseconds of CPU (benchmarks/bench_system.py): far under 1% of a core.
DEFAULT_INTERVAL = 10.0
MIN_INTERVAL = 0.01       # below this psutil's CPU percentages measure little but the sampler itself
MAX_INTERVAL = 86_400.0   # a day

log = logging.getLogger("runlite")


def check_interval(interval: Any) -> float:
    """Seconds between samples: a number from ``MIN_INTERVAL`` to ``MAX_INTERVAL``."""
    if not is_real(interval):
        raise errors.ValidationError(
            f"the system metrics interval must be seconds as a number, got {type(interval).__name__} "
            f"{shown(interval)}")
    try:
        seconds = float(interval)
    except (OverflowError, ValueError):
        seconds = math.inf
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:  # NaN fails both
        raise errors.ValidationError(
            f"the system metrics interval must be from {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds, "
            f"got {shown(interval)}")
    return seconds


def setting(value: Any) -> float | None:
    """``system_metrics=`` of ``Store.init``: False or None (off), True (every ``DEFAULT_INTERVAL``
    seconds) or an interval in seconds. Returns the interval, None when off."""
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_INTERVAL
    if isinstance(value, numbers.Real):
        return check_interval(value)
    raise errors.ValidationError(
        f"system_metrics must be True, False or an interval in seconds, got {type(value).__name__} {shown(value)}")


class RunFeed:
    """A run's subscription to the sampler. ``stopped`` is set under the writer's lock, the lock
    every delivery takes: once ``stop`` returns, no sample of this feed reaches the buffers."""

    def __init__(self, writer: Any, step: int = 0):
        self.writer = writer
        self.interval = DEFAULT_INTERVAL
        self.due = 0.0           # the sampler's: when the next sample is due (monotonic seconds)
        self.step = step         # the step of the next sample
        self.stopped = True
        self.failing = ""        # the last error logged, so a full disk is said once, not every sample

    def start(self, interval: float) -> None:
        with self.writer.lock:
            self.interval, self.stopped = interval, False
        sampler.subscribe(self)

    def stop(self) -> None:
        with self.writer.lock:  # a sample being logged finishes first
            self.stopped = True
        sampler.unsubscribe(self)

    @property
    def sampling(self) -> bool:
        """Samples reach this run (from this process's thread)."""
        return not self.stopped and sampler.subscribed(self)

    def _open(self) -> bool:
        """Whether samples may still be logged (under the writer's lock): not once the run's
        handle or store let go of the writer, even if nobody told the feed."""
        writer = self.writer
        if not self.stopped and (writer.released or writer.database.closed):
            self.stopped = True
            sampler.unsubscribe(self)
        return not self.stopped

    def deliver(self, values: dict) -> None:
        """Log one sample at this feed's next step (the sampler thread calls it)."""
        writer = self.writer
        with writer.lock:
            if not values or not self._open():
                return
            try:
                log_record(writer, values, self.step, None, None, None, count=False)
            except errors.RunliteError as exc:  # nothing of the sample was logged (log_record's promise)
                self._failed(exc)
                return
            self.failing = ""
            self.step += 1

    def note(self, message: str) -> None:
        """A probe was dropped: say so in the run's events, as a warning."""
        writer = self.writer
        with writer.lock:
            if not self._open():
                return
            now = now_us()
            try:
                writer.add_event(now, now, "warning", None, message, None)
            except errors.RunliteError as exc:
                self._failed(exc)

    def _failed(self, exc: errors.RunliteError) -> None:
        if str(exc) != self.failing:
            log.warning("runlite: a system metrics sample of run %s was dropped: %s", self.writer.run_id, exc)
            self.failing = str(exc)
