"""A run handle's alerts: defining and attaching them, and the user's own alert states."""

from __future__ import annotations

from .. import _lazy, errors
from .._validation import now_us, shown

alerts = _lazy.module("runlite.alerts")
stored_alerts = _lazy.module("runlite.storage.alerts")


class RunAlerts:
    """The alert methods of ``Run`` (a mixin: the handle gives ``_require_id``, ``store``, ``_writer``).

    ``create_*_alert(..., attach_to_run=False)`` stores the alert in the file without
    attaching it, before ``init`` too (the handle's store is opened then); the same definition
    created again later, attached, is the same alert (same id).
    """

    def _add_alert(self, definition: alerts.AlertDefinition, attach_to_run: bool = True) -> str:
        """Store the alert in the run's file and attach it to the run; with ``attach_to_run``
        False only store it (no run needed: also before ``init``), to attach later."""
        if not isinstance(attach_to_run, bool):
            raise errors.ValidationError(f"attach_to_run must be True or False, got {shown(attach_to_run)}")
        run_id = self._require_id() if attach_to_run else None
        with self.store.database.write() as conn:
            alert_id = stored_alerts.define(conn, definition)
            state = stored_alerts.attach(conn, run_id, alert_id, definition.name) if attach_to_run else None
        if attach_to_run:
            self._writer.arm(alert_id, definition, state)
        return alert_id

    def add_alert(self, name: str, source: str = "metrics", frequency: float | None = None,
                  window: float = 5, rule: str | None = None, metric: str | None = None,
                  threshold: float | None = None, range_low: float | None = None,
                  range_high: float | None = None, notification: str = "none", pattern: str | None = None,
                  aggregation: str = "average", trigger_abort: bool = False,
                  description: str | None = None) -> str:
        """Define an alert (the seed's form) and attach it to this run; returns its id.

        Times are seconds of run time: every ``frequency`` seconds (1 when None) the metric's
        values of the last ``window`` seconds are aggregated and the rule applied (see
        ``docs/ALERTS.md``). An identical definition reuses the stored alert.
        """
        return self._add_alert(alerts.add_alert(
            name, source=source, frequency=frequency, window=window, rule=rule, metric=metric,
            threshold=threshold, range_low=range_low, range_high=range_high, notification=notification,
            pattern=pattern, aggregation=aggregation, trigger_abort=trigger_abort, description=description))

    def create_metric_threshold_alert(self, name: str, metric: str, threshold: float, rule: str, *,
                                      description: str | None = None, window: float | None = None,
                                      frequency: float = 1, aggregation: str = "average",
                                      notification: str = "none", trigger_abort: bool = False,
                                      attach_to_run: bool = True) -> str:
        """An alert when a metric ``is above`` / ``is below`` a threshold; returns its id."""
        return self._add_alert(alerts.metric_threshold_alert(
            name, metric, threshold, rule, description=description, window=window, frequency=frequency,
            aggregation=aggregation, notification=notification, trigger_abort=trigger_abort), attach_to_run)

    def create_metric_range_alert(self, name: str, metric: str, range_low: float, range_high: float,
                                  rule: str, *, description: str | None = None, window: float | None = None,
                                  frequency: float = 1, aggregation: str = "average",
                                  notification: str = "none", trigger_abort: bool = False,
                                  attach_to_run: bool = True) -> str:
        """An alert when a metric ``is inside range`` / ``is outside range``; returns its id."""
        return self._add_alert(alerts.metric_range_alert(
            name, metric, range_low, range_high, rule, description=description, window=window,
            frequency=frequency, aggregation=aggregation, notification=notification,
            trigger_abort=trigger_abort), attach_to_run)

    def create_event_alert(self, name: str, pattern: str, *, description: str | None = None,
                           frequency: float = 1, notification: str = "none", trigger_abort: bool = False,
                           attach_to_run: bool = True) -> str:
        """An alert that goes critical when a logged message contains ``pattern``; returns its id."""
        return self._add_alert(alerts.event_alert(
            name, pattern, description=description, frequency=frequency, notification=notification,
            trigger_abort=trigger_abort), attach_to_run)

    def create_user_alert(self, name: str, *, description: str | None = None, notification: str = "none",
                          trigger_abort: bool = False, attach_to_run: bool = True) -> str:
        """An alert whose state the program sets with ``log_alert``; returns its id."""
        return self._add_alert(alerts.user_alert(
            name, description=description, notification=notification, trigger_abort=trigger_abort), attach_to_run)

    def log_alert(self, identifier: str | None = None, name: str | None = None, state: str = "critical") -> bool:
        """Set a user alert of this run (by id or by name) to ``ok`` or ``critical``."""
        run_id = self._require_id()
        if (identifier is None) == (name is None):
            raise errors.ValidationError("give exactly one of identifier (alert id) or name")
        writer = self._writer
        with self.store.database.write() as conn:
            found = [(a, d, s) for a, d, s in stored_alerts.load(conn, run_id)
                     if (identifier is not None and a == identifier) or (name is not None and d.name == name)]
            if not found:
                raise errors.NotFoundError(f"run {self.name!r} has no alert {identifier or name!r}")
            alert_id, definition, current = found[0]
            run_time = None if self._started_us is None else (now_us() - self._started_us) / 1e6
            transition = alerts.user_transition(definition, current, state, run_time or 0.0)
            changes, abort = ([], False) if transition is None else writer.record_alerts(
                conn, [(alert_id, definition, transition)])
        writer.after_alerts(changes, abort)
        return True
