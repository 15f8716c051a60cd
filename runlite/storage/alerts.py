"""Alerts in the file: definitions, their attachment to runs, states, history and outbox.

Definitions are deduplicated by their canonical key (an identical definition reuses the
stored alert). Each attached alert has a state per run; every change is kept in
``alert_history``; ``email`` notifications are queued in ``outbox`` for the host
application to deliver (runlite never touches the network).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

import attrs

from .. import alerts
from .. import errors
from .._ids import uuid7
from .._validation import check_name, from_us, now_us, stored_json
from ..records.times import iso

log = logging.getLogger("runlite")


@attrs.frozen
class AlertState:
    """An alert attached to a run, with its current state."""

    run_id: str
    alert_id: str
    name: str
    source: str
    state: str
    changed: Any  # datetime of the last change, None if never changed
    definition: dict

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        out = attrs.asdict(self)
        out["changed"] = iso(self.changed)
        return out


@attrs.frozen
class AlertChange:
    """One state change, as passed to notification callbacks and kept in the history."""

    run_id: str
    alert_id: str
    name: str
    state: str
    time: Any          # datetime when it was recorded
    run_time: float | None  # seconds of run time of the check (None for user alerts)


def define(conn, definition: alerts.AlertDefinition) -> str:
    """The id of the stored alert with this definition, storing it if new."""
    key = definition.key()
    found = conn.execute("SELECT id FROM alerts WHERE key = ?", (key,)).fetchone()
    if found:
        return found[0]
    alert_id = uuid7()
    conn.execute(
        "INSERT INTO alerts (id, name, source, key, definition, created) VALUES (?, ?, ?, ?, ?, ?)",
        (alert_id, definition.name, definition.source, key, json.dumps(definition.to_dict()), now_us()),
    )
    return alert_id


def attach(conn, run_id: str, alert_id: str, name: str) -> str:
    """Attach an alert to a run (idempotent); returns its state on the run."""
    clash = conn.execute(
        "SELECT a.id FROM run_alerts r JOIN alerts a ON a.id = r.alert_id"
        " WHERE r.run_id = ? AND a.name = ? AND a.id != ?", (run_id, name, alert_id),
    ).fetchone()
    if clash:
        raise errors.ValidationError(
            f"run {run_id} already has an alert named {name!r} with another definition; use another name"
        )
    conn.execute("INSERT OR IGNORE INTO run_alerts (run_id, alert_id, state) VALUES (?, ?, 'ok')",
                 (run_id, alert_id))
    return conn.execute("SELECT state FROM run_alerts WHERE run_id = ? AND alert_id = ?", (run_id, alert_id)).get


def load(conn, run_id: str) -> list[tuple[str, alerts.AlertDefinition, str]]:
    """``(alert_id, definition, state)`` of every alert attached to a run."""
    rows = conn.execute(
        "SELECT a.id, a.definition, r.state FROM run_alerts r JOIN alerts a ON a.id = r.alert_id"
        " WHERE r.run_id = ? ORDER BY a.name", (run_id,),
    )
    return [(alert_id, alerts.AlertDefinition.from_dict(stored_json(text)), state) for alert_id, text, state in rows]


def record(conn, run_id: str, alert_id: str, definition: alerts.AlertDefinition, state: str,
           run_time: float | None) -> AlertChange:
    """Store one state change (state, history row, email outbox entry)."""
    now = now_us()
    conn.execute("UPDATE run_alerts SET state = ?, changed = ? WHERE run_id = ? AND alert_id = ?",
                 (state, now, run_id, alert_id))
    # The end of the primary key's range (one seek), not a count of the alert's whole history.
    seq = conn.execute("SELECT coalesce(max(seq) + 1, 0) FROM alert_history WHERE run_id = ? AND alert_id = ?",
                       (run_id, alert_id)).get
    conn.execute(
        "INSERT INTO alert_history (run_id, alert_id, seq, time, run_time, state) VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, alert_id, seq, now, run_time, state),
    )
    change = AlertChange(run_id=run_id, alert_id=alert_id, name=definition.name, state=state,
                         time=from_us(now), run_time=run_time)
    if definition.notification == "email":
        payload = {"alert": definition.name, "alert_id": alert_id, "run_id": run_id, "state": state,
                   "time": from_us(now).isoformat(), "run_time": run_time, "description": definition.description}
        conn.execute("INSERT INTO outbox (created, kind, run_id, alert_id, payload) VALUES (?, 'email', ?, ?, ?)",
                     (now, run_id, alert_id, json.dumps(payload)))
    return change


def notify(callbacks: list[Callable], changes: list[AlertChange]) -> None:
    """Call each notification callback with each change; a failing callback is logged, not raised."""
    for change in changes:
        for callback in callbacks:
            try:
                callback(change)
            except Exception:  # noqa: BLE001 - a host's callback must not break logging
                log.exception("runlite: alert notification callback failed for %s", change.name)


def states(conn, run_id: str | None, critical_only: bool) -> list[AlertState]:
    """Alert states of one run, or of every run."""
    sql = ("SELECT r.run_id, a.id, a.name, a.source, r.state, r.changed, a.definition FROM run_alerts r"
           " JOIN alerts a ON a.id = r.alert_id WHERE 1 = 1")
    params: list[Any] = []
    if run_id is not None:
        sql += " AND r.run_id = ?"
        params.append(run_id)
    if critical_only:
        sql += " AND r.state = 'critical'"
    sql += " ORDER BY r.run_id, a.name"
    return [AlertState(run_id=r, alert_id=a, name=n, source=src, state=st, changed=from_us(ch),
                       definition=stored_json(d)) for r, a, n, src, st, ch, d in conn.execute(sql, params)]


def history(conn, run_id: str, name: str) -> list[AlertChange]:
    """Every recorded change of a run's alert named ``name``, oldest first."""
    check_name(name, "alert name")
    rows = conn.execute(
        "SELECT h.alert_id, h.state, h.time, h.run_time FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE h.run_id = ? AND a.name = ? ORDER BY h.seq", (run_id, name),
    ).fetchall()
    if not rows and conn.execute(
        "SELECT 1 FROM run_alerts r JOIN alerts a ON a.id = r.alert_id WHERE r.run_id = ? AND a.name = ?",
        (run_id, name),
    ).fetchone() is None:
        raise errors.NotFoundError(f"run {run_id} has no alert named {name!r}")
    return [AlertChange(run_id=run_id, alert_id=a, name=name, state=s, time=from_us(t), run_time=rt)
            for a, s, t, rt in rows]


def outbox(conn, *, undelivered_only: bool = True) -> list[dict]:
    """Queued notifications: ``{id, created, kind, run_id, alert_id, payload}``."""
    sql = "SELECT id, created, kind, run_id, alert_id, payload, delivered FROM outbox"
    if undelivered_only:
        sql += " WHERE delivered IS NULL"
    return [{"id": i, "created": from_us(c), "kind": k, "run_id": r, "alert_id": a, "payload": stored_json(p),
             "delivered": from_us(d)} for i, c, k, r, a, p, d in conn.execute(sql + " ORDER BY id")]


def mark_delivered(conn, outbox_ids: list[int]) -> None:
    """Mark outbox entries as delivered now."""
    now = now_us()
    conn.executemany("UPDATE outbox SET delivered = ? WHERE id = ?", [(now, i) for i in outbox_ids])
