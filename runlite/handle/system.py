"""A run handle's system metrics: sampling started and stopped (``runlite/system/``)."""

from __future__ import annotations

from typing import Any

from .. import _lazy

feed_mod = _lazy.module("runlite.system.feed")  # loaded by a run that samples
probes = _lazy.module("runlite.system.probes")


class RunSystemMetrics:
    """The system metrics methods of ``Run`` (a mixin: the handle gives ``_require_running``,
    ``_writer``; it stops sampling through ``_stop_sampling`` when the run ends)."""

    _system: Any = None  # the run's RunFeed, once it sampled
    _system_next = 0  # the step of its first sample: a resumed run's go on after those stored

    def start_system_metrics(self, interval: float | None = None) -> bool:
        """Sample this machine into the run's ``system/...`` series every ``interval`` seconds
        (default ``runlite.system.DEFAULT_INTERVAL``, 10) until the run ends or
        ``stop_system_metrics()``; docs/SYSTEM.md lists the series.

        The series have their own steps (0, 1, 2... a sample); ``log_metrics``' default steps
        are not moved. One thread samples for every run of the process. Calling it again
        while sampling changes the interval; the steps go on.

        Raises:
            ValidationError: ``interval`` is not a number of seconds from 0.01 to 86,400.
            MissingExtraError: psutil is not installed (``pip install 'runlite[system]'``).
            RunStateError: the run is not running.
        """
        seconds = feed_mod.DEFAULT_INTERVAL if interval is None else feed_mod.check_interval(interval)
        self._require_running("sample system metrics")
        probes.psutil_module()
        if self._system is None:
            self._system = feed_mod.RunFeed(self._writer, self._system_next)
        self._system.start(seconds)
        return True

    def stop_system_metrics(self) -> bool:
        """Stop sampling this run (a no-op when it does not sample); no sample is logged after."""
        self._stop_sampling()
        return True

    @property
    def system_metrics_interval(self) -> float | None:
        """Seconds between this run's system metrics samples; None when it does not sample."""
        feed = self._system
        return feed.interval if feed is not None and feed.sampling else None

    @staticmethod
    def _sampling_setting(value: Any) -> float | None:
        """``system_metrics=`` of ``init`` checked before the run exists: the interval, None when
        off (``ValidationError``; ``MissingExtraError`` when asked for without psutil)."""
        if value is None or value is False:  # off, as nearly every run is: the sampler stays unloaded
            return None
        seconds = feed_mod.setting(value)
        if seconds is not None:
            probes.psutil_module()
        return seconds

    def _stop_sampling(self) -> None:
        if self._system is not None:
            self._system.stop()
