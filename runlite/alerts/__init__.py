"""Alerts: validated definitions (:mod:`.rules`) and the state machines that evaluate them at
ingest (:mod:`.checker`). Semantics: ``docs/ALERTS.md``.

Importers use the package: ``from runlite import alerts``, then ``alerts.metric_threshold_alert``,
``alerts.MetricAlertChecker``, ...
"""

from .checker import CheckClock, EventAlertEvaluator, MetricAlertChecker, never_decrease
from .rules import (
    AGGREGATIONS, NOTIFICATIONS, RANGE_RULES, RULE_TABLE, RULES, SOURCES, STATES, THRESHOLD_RULES,
    AlertDefinition, Rule, Transition, add_alert, event_alert, metric_range_alert,
    metric_threshold_alert, rule_tests, user_alert, user_transition,
)

__all__ = [
    "AGGREGATIONS", "NOTIFICATIONS", "RANGE_RULES", "RULE_TABLE", "RULES", "SOURCES", "STATES",
    "THRESHOLD_RULES", "AlertDefinition", "CheckClock", "EventAlertEvaluator", "MetricAlertChecker",
    "Rule", "Transition", "add_alert", "event_alert", "metric_range_alert", "metric_threshold_alert",
    "never_decrease", "rule_tests", "user_alert", "user_transition",
]
