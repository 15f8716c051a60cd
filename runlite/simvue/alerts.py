"""``runlite.simvue.Run``'s alerts: Simvue 2.x's ``create_*_alert``, ``add_alerts`` and
``log_alert`` over the wrapped ``runlite.Run``'s alerts (a mixin of ``simvue/run.py``)."""

from __future__ import annotations

from typing import Any

from .. import errors
from . import models
from .models import simvue_method as _simvue


class RunAlerts:
    """The alert methods of ``runlite.simvue.Run`` (the class gives ``_core``, ``_alert_specs``,
    ``_abort_callback`` and ``_abort_once``)."""

    def _on_alert(self, change: Any) -> None:
        """An alert changed state. One with ``trigger_abort`` going critical is Simvue's abort:
        under ``abort_on_alert="run"``/``"terminate"`` the wrapped run ended ``terminated``,
        so ``abort_callback`` is called (once) and the added processes are killed; under
        ``"ignore"`` the run goes on and only ``abort_callback`` is called, as Simvue's
        ``_terminate_run`` does."""
        if change.state != "critical":
            return
        if self._core.status == "terminated":
            self._abort_once()
        elif self._abort_callback is not None and self._triggers_abort(change.alert_id):
            self._abort_callback(self)

    def _triggers_abort(self, alert_id: str) -> bool:
        """Whether the run's alert ``alert_id`` has ``trigger_abort`` (as stored: an alert the
        run had before this handle took it over counts too)."""
        return any(state.alert_id == alert_id and state.definition.get("trigger_abort")
                   for state in self._core.store.alerts(self._core.id))

    def _alert(self, kind: str, args: tuple, kwargs: dict) -> str:
        """Create the alert in the file (no run needed: before ``init`` too), then attach it
        with ``add_alerts`` as Simvue does, which needs the run."""
        alert_id = getattr(self._core, kind)(*args, **{**kwargs, "attach_to_run": False})
        self._alert_specs[alert_id] = (kind, args, kwargs)
        if kwargs["attach_to_run"]:
            self.add_alerts(ids=[alert_id])
        return alert_id

    @_simvue(True)
    def add_alerts(self, ids: list | None = None, names: list | None = None) -> bool:
        """Attach alerts created by this handle (by id or name) to the run."""
        for given, what in ((ids, "ids"), (names, "names")):
            if given is not None and not isinstance(given, (list, tuple)):
                raise models.refuse(f"{what} must be a list, got {given!r:.80}")
        ids, names = list(ids or []), list(names or [])
        if not ids and not names:
            raise errors.SimvueValidationError("Need to provide alert ids or alert names")
        for alert_id, (kind, args, kwargs) in self._alert_specs.items():
            if alert_id in ids or args[0] in names:
                getattr(self._core, kind)(*args, **{**kwargs, "attach_to_run": True})
                ids = [i for i in ids if i != alert_id]
                names = [n for n in names if n != args[0]]
        if ids or names:
            raise errors.SimvueNotFoundError(f"no alert {(ids + names)[0]!r} was created through this Run")
        return True

    def _alert_common(self, name: Any, frequency: Any, notification: Any, trigger_abort: Any,
                      attach_to_run: Any, *, check_name: bool = True) -> int:
        """Check what every alert takes; returns the frequency as an int (Simvue's lax mode
        takes 2.0 and "2")."""
        if check_name:
            models.check_name(name, "alert name")
        frequency = models.check_positive_int(frequency, "frequency")
        models.check_choice(notification, models.ALERT_NOTIFICATIONS, "notification")
        models.check_bool(trigger_abort, "trigger_abort")
        models.check_bool(attach_to_run, "attach_to_run")
        return frequency

    def _metric_alert(self, kind: str, args: tuple, description: Any, window: Any, frequency: Any,
                      aggregation: Any, notification: Any, trigger_abort: Any, attach_to_run: Any) -> str:
        """A metric alert (range or threshold) checked as Simvue checks it; its window is the
        frequency when not given."""
        frequency = self._alert_common(args[0], frequency, notification, trigger_abort, attach_to_run)
        if window is not None:
            window = models.check_positive_int(window, "window")
        return self._alert(kind, args, {
            "description": description, "window": window or frequency, "frequency": frequency, "aggregation": aggregation,
            "notification": notification, "trigger_abort": trigger_abort, "attach_to_run": attach_to_run})

    @_simvue(None, initialised=False)
    def create_metric_range_alert(self, name: str, metric: str, range_low: float, range_high: float,
                                  rule: str, *, description: str | None = None, window: int | None = None,
                                  frequency: int = 1, aggregation: str = "average",
                                  notification: str = "none", trigger_abort: bool = False,
                                  attach_to_run: bool = True) -> str:
        """An alert when ``metric`` is inside / outside a range; returns its id."""
        return self._metric_alert("create_metric_range_alert", (name, metric, range_low, range_high, rule), description, window, frequency, aggregation,
                                  notification, trigger_abort, attach_to_run)

    @_simvue(None, initialised=False)
    def create_metric_threshold_alert(self, name: str, metric: str, threshold: float, rule: str, *,
                                      description: str | None = None, window: int | None = None,
                                      frequency: int = 1, aggregation: str = "average",
                                      notification: str = "none", trigger_abort: bool = False,
                                      attach_to_run: bool = True) -> str:
        """An alert when ``metric`` is above / below ``threshold``; returns its id."""
        return self._metric_alert("create_metric_threshold_alert", (name, metric, threshold, rule), description, window, frequency, aggregation,
                                  notification, trigger_abort, attach_to_run)

    @_simvue(None, initialised=False)
    def create_event_alert(self, name: str, pattern: str, *, description: str | None = None,
                           frequency: int = 1, notification: str = "none", trigger_abort: bool = False,
                           attach_to_run: bool = True) -> str:
        """An alert when an event message contains ``pattern``; returns its id."""
        frequency = self._alert_common(name, frequency, notification, trigger_abort, attach_to_run)
        return self._alert("create_event_alert", (name, pattern), {
            "description": description, "frequency": frequency, "notification": notification,
            "trigger_abort": trigger_abort, "attach_to_run": attach_to_run})

    @_simvue(None, initialised=False)
    def create_user_alert(self, name: str, *, description: str | None = None, notification: str = "none",
                          trigger_abort: bool = False, attach_to_run: bool = True) -> str:
        """An alert whose state ``log_alert`` sets; returns its id."""
        self._alert_common(name, 1, notification, trigger_abort, attach_to_run)
        return self._alert("create_user_alert", (name,), {
            "description": description, "notification": notification, "trigger_abort": trigger_abort,
            "attach_to_run": attach_to_run})

    @_simvue(True)
    def log_alert(self, identifier: str | None = None, name: str | None = None, state: str = "critical") -> bool:
        """Set a user alert of this run to ``ok`` or ``critical`` (by id, or by name)."""
        models.check_choice(state, ("ok", "critical"), "state")
        if bool(identifier) == bool(name):
            raise errors.SimvueValidationError("Please specify alert to update either by ID or by name.")
        return self._core.log_alert(identifier=identifier or None, name=name or None, state=state)
