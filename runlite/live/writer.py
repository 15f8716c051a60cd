"""A live run's buffers: metric points and events waiting to be written, the alert checks fed
at each flush and due on the run's clock (Simvue's schedule), the heartbeat, and the flush
itself (one transaction).

``Run`` appends to the buffers (its hot path) and the store's ``LiveRuns`` flushes them when
they are due. A flush that fails keeps everything buffered and puts alert state back, so
retrying it never writes or counts anything twice.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import weakref
from array import array
from operator import countOf
from typing import Any, Callable

from .. import _lazy, errors
from .._memo import made_once
from ..storage import events as events_mod
from ..storage import metric_buffer
from ..storage import metrics as metrics_mod
from ..storage import runs as runs_mod
from .metric_log import FLUSH_AGE_US, log_record

alerts = _lazy.module("runlite.alerts")  # a run with alerts loads them
stored_alerts = _lazy.module("runlite.storage.alerts")

# While another process holds the file's write lock (a merge of several seconds is one
# transaction), due flushes are tried without waiting and the points stay buffered, so log
# calls never wait for it. Past this many metric points, or event rows (each a few hundred
# bytes of Python objects against ~10 bytes a point), a log call does wait, up to the store's
# timeout: memory stays bounded however long the lock is held.
MAX_BUFFERED = 4 * metric_buffer.FLUSH_POINTS
MAX_BUFFERED_EVENTS = metric_buffer.FLUSH_POINTS
# A log call whose due flush found the file locked tries again only this long after: a try
# may wait up to connection.LOCAL_WAIT for this process's other writer, and the ticker tries
# every TICK (0.1 s) as well.
RETRY_US = 50_000
_time_ns = time.time_ns  # a global read, not an attribute lookup, on every log call
ABORT_REASON = "terminated by an alert with trigger_abort"

# Bumped in every forked child: a writer compares it on each call instead of calling getpid().
FORKS = [0]
# Every writer of this process. A forked child gives each a new lock: a thread the fork did
# not copy (the ticker, a logging thread) may have held it, and the child would wait forever.
_WRITERS: "weakref.WeakSet[RunWriter]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    FORKS[0] += 1
    for writer in list(_WRITERS):
        writer.lock = threading.RLock()
        writer.idle = threading.Condition(writer.lock)
        writer.flushing = False  # a flush on a thread the fork did not copy
        writer.metrics.fast_until = 0  # the next log call takes the slow path, which checks the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RunWriter:
    """The buffers of one running run in one process, and their flush.

    ``lock`` guards every buffer; ``step`` is the run's step counter. ``on_terminated`` is
    called when an alert with ``trigger_abort`` ends the run during a flush (no argument), or
    when its heartbeat finds it aborted from outside (``from_outside=True``). With
    ``alerts_may_abort`` False (the handle's setting) such an alert is recorded as any other
    and the run goes on.
    """

    def __init__(self, database: Any, run_id: str, started_us: int | None, *,
                 callbacks: list[Callable], on_terminated: Callable[[], None]):
        self.database = database
        self.run_id = run_id
        self.started_us = started_us
        self.callbacks = callbacks          # on_alert callbacks: the store's and the run's
        self.on_terminated = on_terminated
        self.alerts_may_abort = True        # whether an alert with trigger_abort ends the run
        self.lock = threading.RLock()
        self.idle = threading.Condition(self.lock)  # notified when a flush outside the lock ends
        self.flushing = False
        self.fork_gen = FORKS[0]
        self.step = 0
        self.metrics = metric_buffer.MetricBuffer()
        self.events = events_mod.EventBuffer()
        self.series_states: dict = {}
        self.states_lost = False  # series_states were dropped (a fork): the run's end reads them afresh
        self.metric_checks: dict[str, list] = {}  # metric name -> [(alert id, definition, checker)]
        self.event_checks: list = []              # [(alert id, definition, evaluator)]
        self.armed: set[str] = set()
        self.heartbeat_us = 0
        self.heartbeat_every_us: int | None = None  # a third of the heartbeat timeout, if shorter than the registry's
        # Metric checks are due every ``frequency`` s of the run's wall clock (None: none due):
        # only while the run's points have default times (``user_time``: a ``time`` was given).
        self.next_check_us: int | None = None
        self.user_time = False
        self.released = False
        self.ended: str | None = None  # the final status, once the run ended through this writer
        self.on_fork: Callable[[], None] | None = None  # set by the store's LiveRuns
        self.retry_us = 0  # a due flush found the file locked: the log calls' next try, not before
        _WRITERS.add(self)

    def resume(self) -> None:
        """Continue numbering events and evaluating alerts after what the file holds."""
        with self.database.read() as conn:
            self.events.next_seq = events_mod.next_seq(conn, self.run_id)
            attached = stored_alerts.load(conn, self.run_id)
        for alert_id, definition, state in attached:
            self.arm(alert_id, definition, state)

    # -- buffering

    def log_now(self, metrics: Any) -> bool:
        """``Run.log_metrics(metrics)`` with default step, time, timestamp and asset.

        The common call (float values under the names of the previous call, no flush due)
        is appended here; any other goes to ``metric_log.log_record``. No per-call check
        of names or fork: the buffer's ``fast_until`` is 0 unless the last record had a
        default axis and no asset, and until the age-based flush falls due.
        """
        now = _time_ns() // 1000
        with self.lock:
            buf = self.metrics
            if now < buf.fast_until and buf.points < buf.flush_points and type(metrics) is dict:
                shape = buf.last
                if shape.width == 1:  # one name: a lookup instead of building a tuple of names
                    value = metrics.get(shape.names[0]) if len(metrics) == 1 else None
                    logged = type(value) is float
                    if logged:
                        shape.values.append(value)
                else:
                    values = list(metrics.values())  # a list: array.fromlist takes it faster than a view
                    # countOf: each type compared by identity, a third less than a set's lookups
                    logged = tuple(metrics) == shape.names and countOf(map(type, values), float) == shape.width
                    if logged:
                        shape.values.fromlist(values)
                if logged:
                    stamps = buf.timestamps
                    shape.rows.append(len(stamps))
                    stamps.append(now)
                    buf.points += shape.width
                    self.step += 1
                    return True
        return log_record(self, metrics, None, None, None, None)

    def set_step(self, step: int) -> None:
        """Make ``step`` the one the next record with a default step gets (``Run.step``)."""
        with self.lock:
            self.step = step
            self.metrics.fast_until = 0  # the fast path logs the buffer's next step: check it again

    def check_fork(self) -> None:
        """In a forked child, start afresh: the parent flushes what it had buffered, and the
        child gets a background thread of its own (``on_fork``: the fork copied none), so what
        it logs is written within the second as anywhere else."""
        if self.fork_gen != FORKS[0]:
            self.fork_gen = FORKS[0]
            self.metrics.clear()
            self.events.clear()
            self.series_states = {}
            self.states_lost = True
            if self.on_fork is not None:
                self.on_fork()

    def add_event(self, time_us: int, arrival_us: int, level, name, message, kwargs_json) -> None:
        """Buffer one event row (a due flush first: a call that raises logged nothing)."""
        with self.lock:
            self.check_open()
            self.check_fork()
            events = self.events
            if events.rows and (len(events.rows) >= metric_buffer.FLUSH_POINTS
                                or arrival_us - events.oldest_us >= FLUSH_AGE_US):
                self.flush_due(arrival_us)
                events = self.events  # a flush swaps the buffers
            if not events.rows:
                events.oldest_us = arrival_us
            events.rows.append((events.next_seq, time_us, level, name, message, kwargs_json))
            events.next_seq += 1

    # -- alerts

    def arm(self, alert_id: str, definition: alerts.AlertDefinition, state: str) -> None:
        """Start evaluating an attached alert on this run's data."""
        with self.lock:
            if alert_id in self.armed:
                return
            self.armed.add(alert_id)
            if definition.source == "metrics":
                checker = alerts.MetricAlertChecker(definition, state)
                self.metric_checks.setdefault(definition.metric, []).append((alert_id, definition, checker))
                self.schedule()
            elif definition.source == "events":
                evaluator = alerts.EventAlertEvaluator(definition, state)
                self.event_checks.append((alert_id, definition, evaluator))
                self.schedule()  # resumed critical, it has a check to make

    def schedule(self) -> None:
        """When the next check falls due on the run's wall clock (``next_check_us``): a metric
        check (unless the run gives its points' times), or one that could end a critical event
        alert (events are always stamped by the clock)."""
        due = [] if self.user_time else [
            t for lst in self.metric_checks.values() for (_, _, c) in lst if (t := c.next_check()) is not None]
        due += [t for (_, _, e) in self.event_checks if (t := e.next_check()) is not None]
        if not due or self.started_us is None:
            self.next_check_us = None
        else:
            self.next_check_us = self.started_us + int(min(due) * 1e6) + 1

    def _series_checker(self, parts: dict):
        checks = self.metric_checks

        def on_series(key, times, values):
            if key[0] in checks:  # every asset's series of the metric (merged in feed_series)
                parts.setdefault(key[0], []).append((key[1], times, values))
        return on_series

    def _feed_series(self, parts: dict, pending: list, buf: Any) -> None:
        """Feed the alerts the new points of their metrics, every asset's in the order logged
        (``buf``'s records): how a later flush would see them, so where the flushes fall
        changes nothing (in time order, an asset's points logged after another's but with
        earlier times counted at their own times in one flush, at the other's in the next)."""
        rising: dict = {}  # whether times never decrease: the metrics of one record shape share them
        for name, pieces in parts.items():
            if len(pieces) == 1:
                _, times, values = pieces[0]
            else:
                rows: list = []
                every_time, every_value = array("d"), array("d")
                for asset, ts, vs in pieces:  # a series' points are its records' in order
                    rows += sorted(r for shape in buf.shapes.values()
                                   if shape.asset == asset and name in shape.names for r in shape.rows)
                    every_time += ts
                    every_value += vs
                order = sorted(range(len(rows)), key=rows.__getitem__)
                times = array("d", map(every_time.__getitem__, order))
                values = array("d", map(every_value.__getitem__, order))
            known = made_once(rising, (times,), "rising", lambda times=times: alerts.never_decrease(times))
            for alert_id, definition, checker in self.metric_checks[name]:
                transitions = checker.feed_arrays(times, values, rising=known)
                pending.extend((alert_id, definition, t) for t in transitions)

    def _advance_checks(self, until_us: int, final: bool, pending: list) -> None:
        """The checks due on the run's clock at ``until_us`` (also with no new point or message):
        metric checks unless the run keeps its own clock, and event checks."""
        t = (until_us - self.started_us) / 1e6
        if final or not self.user_time:
            for lst in self.metric_checks.values():
                for alert_id, definition, checker in lst:
                    pending.extend((alert_id, definition, tr) for tr in checker.advance(t, final=final))
        if not final:  # the run's end advances them itself (_end_events)
            for alert_id, definition, evaluator in self.event_checks:
                pending.extend((alert_id, definition, tr) for tr in evaluator.advance(t))

    def _end_events(self, until_us: int, pending: list) -> None:
        """The run ends at ``until_us``: the event checks due by then, and the next one."""
        t = (until_us - self.started_us) / 1e6
        for alert_id, definition, evaluator in self.event_checks:
            pending.extend((alert_id, definition, tr) for tr in evaluator.advance(t, final=True))

    def _check_events(self, rows: list, pending: list) -> None:
        origin = self.started_us
        for _seq, time_us, _level, _name, message, _kw in rows:
            if message is None:
                continue
            for alert_id, definition, evaluator in self.event_checks:
                for t in evaluator.feed((time_us - origin) / 1e6, message):
                    pending.append((alert_id, definition, t))

    def record_alerts(self, conn, pending: list) -> tuple[list, bool]:
        """Store transitions found (inside the caller's transaction); an aborting alert ends
        the run as ``terminated`` (unless ``alerts_may_abort`` is False). Returns the changes
        and whether the run was terminated."""
        changes, abort = [], False
        for alert_id, definition, transition in pending:
            changes.append(stored_alerts.record(conn, self.run_id, alert_id, definition, transition.state,
                                                transition.time))
            abort = abort or (definition.trigger_abort and transition.state == "critical")
        abort = abort and self.alerts_may_abort
        if abort:
            runs_mod.terminate(conn, self.run_id, ABORT_REASON)
        return changes, abort

    def after_alerts(self, changes: list, abort: bool) -> None:
        """After the transaction that recorded ``changes``: end the handle, tell the callbacks."""
        if abort:
            self.on_terminated()
        if changes:
            stored_alerts.notify(self.callbacks, changes)

    # -- flushing

    def flush(self, wait: bool = True, until: int | None = None, final: bool = False,
              also: Callable[[Any], None] | None = None) -> bool:
        """Write what is buffered in one transaction; on failure keep it buffered and raise.

        ``also(conn)`` runs inside that transaction after the points and events are written
        (a transaction is begun for it when nothing is buffered): the run's end, so its final
        status lands with its last points, in one commit, or, if it raises, neither does.

        ``until`` (epoch microseconds) also performs the metric checks due on the run's clock
        by then, with no new point (``final``: the run ends, so the next check too); a state
        change is written even when nothing is buffered.

        With ``wait=False`` nothing waits for a lock held elsewhere (nor for a flush under
        way on another thread): returns False, everything still buffered, when the write
        could not begin at once. Otherwise returns True.

        With no alert armed, the buffers are swapped for empty ones and written outside
        ``lock``, so log calls go on meanwhile; if the write fails its points go back
        before any logged since. Flushes of one writer never overlap (``flushing``).
        """
        with self.lock:
            while self.flushing:  # another thread's flush is writing outside the lock
                if not wait:
                    return False
                self.idle.wait()
            self.check_fork()
            buf, events = self.metrics, self.events
            if self.released or self.database.closed:
                return True
            has_data = bool(buf.points or events.rows)
            scheduled = until is not None and self.started_us is not None and (
                (bool(self.metric_checks) and (final or not self.user_time)) or bool(self.event_checks))
            # At the run's end, series' small tail chunks are merged even with nothing buffered.
            compact = final and (self.states_lost or any(len(s.tail) > 1 for s in self.series_states.values()))
            if not (has_data or scheduled or compact or also):
                return True
            # Alert checks share state with arm() and the log calls: with any armed, the
            # flush keeps the lock throughout.
            detached = not (self.metric_checks or self.event_checks)
            if detached:
                self.metrics = buf.emptied()
                self.events = events_mod.EventBuffer()
                self.events.next_seq = events.next_seq
                self.flushing = True
            else:
                found = self._flush_locked(buf, events, wait, until, final, has_data, scheduled, compact, also)
        if not detached:
            if found is None or found is False:
                return found is None
            self.after_alerts(*found)  # callbacks run without the lock
            return True
        done, states = False, {}
        try:
            with (self.database.write() if wait else self.database.try_write()) as conn:
                if conn is not None:
                    if has_data or compact:
                        states = metrics_mod.flush(conn, self.run_id, buf, self.series_states, self.started_us,
                                                   None, final=final)
                        events_mod.flush(conn, self.run_id, events)
                    if also is not None:
                        also(conn)
            done = conn is not None
        finally:
            with self.lock:
                if done:
                    self.series_states.update(states)
                    self.retry_us = 0
                else:  # put the points back, before any logged since
                    buf.absorb(self.metrics)
                    self.metrics = buf
                    later = self.events
                    if not events.rows:
                        events.oldest_us = later.oldest_us
                    events.rows.extend(later.rows)
                    events.next_seq = later.next_seq
                    self.events = events
                self.flushing = False
                self.idle.notify_all()
        return done

    def _flush_locked(self, buf, events, wait: bool, until: int | None, final: bool, has_data: bool,
                      scheduled: bool, compact: bool, also: Callable[[Any], None] | None):
        """The flush of a writer with alerts armed, ``lock`` held throughout. Returns False
        when the file was locked (``wait=False``), None when there was nothing to write,
        else the alert changes and whether they ended the run (for ``after_alerts``)."""
        # Alert state to put back if the flush fails (the points stay buffered for a retry).
        snaps = [(c, c.snapshot()) for lst in self.metric_checks.values() for (_, _, c) in lst]
        saved_events = list(map(copy.copy, (e for _, _, e in self.event_checks)))
        done = False
        ending = final and until is not None and self.started_us is not None and bool(self.event_checks)
        try:
            pending: list = []
            if not (has_data or compact):  # a scheduled check alone: a transaction only for a change
                if scheduled:
                    self._advance_checks(until, final, pending)
                if ending:
                    self._end_events(until, pending)
                if not (pending or also):
                    done = True
                    self.schedule()
                    return None
            with (self.database.write() if wait else self.database.try_write()) as conn:
                if conn is None:
                    return False
                if has_data or compact:
                    parts: dict = {}
                    on_series = self._series_checker(parts) if self.metric_checks else None
                    states = metrics_mod.flush(conn, self.run_id, buf, self.series_states, self.started_us,
                                               on_series, final=final)
                    self._feed_series(parts, pending, buf)
                    events_mod.flush(conn, self.run_id, events)
                    if self.event_checks:
                        self._check_events(events.rows, pending)
                    if scheduled:
                        self._advance_checks(until, final, pending)
                    if ending:
                        self._end_events(until, pending)
                changes, abort = self.record_alerts(conn, pending)
                if also is not None:
                    also(conn)
            done = True
        finally:
            if not done:
                for checker, snap in snaps:
                    checker.restore(snap)
                self.event_checks = [(a, d, e) for (a, d, _), e in zip(self.event_checks, saved_events)]
        if has_data or compact:
            self.series_states.update(states)
            buf.clear()
            events.clear()
        self.retry_us = 0
        self.schedule()
        return changes, abort

    def flush_due(self, now: int) -> None:
        """A due flush on a logging thread, before the call's own values join the buffer.

        It does not wait for the file's write lock when another process holds it: the points
        stay buffered, and this or a later call, or the ticker, writes them once the lock is
        free. Only a full buffer (``MAX_BUFFERED``) waits, up to the store's timeout
        (``StoreBusyError`` after it). Errors (a full disk) propagate, so a call that raised
        has logged nothing.
        """
        if now >= self.retry_us:
            if self.flush(wait=False):
                return
            self.retry_us = time.time_ns() // 1000 + RETRY_US  # from the end of this try
        if self.metrics.points >= max(MAX_BUFFERED, 2 * self.metrics.flush_points) or len(self.events.rows) >= MAX_BUFFERED_EVENTS:
            self.flush()

    def flush_if_due(self, now: int) -> bool:
        """The ticker's flush, when the oldest buffered item is half the flush interval old or
        a metric check is due on the run's clock (``next_check_us``).

        Never waits for another process's write lock (holding ``lock`` meanwhile would block
        the log calls): returns False when the file was locked, to be tried on the next tick.
        """
        buf, events = self.metrics, self.events
        if self.next_check_us is not None and now >= self.next_check_us:
            return self.flush(wait=False, until=now)  # a metric check is due (Simvue's schedule)
        if (buf.points and now - buf.oldest_us >= FLUSH_AGE_US) or (
                events.rows and now - events.oldest_us >= FLUSH_AGE_US):
            return self.flush(wait=False)
        return True

    def release(self) -> None:
        """Flush a last time; afterwards nothing more is written through this writer, and a
        log call through it raises (`check_open`): under the lock, so a call on another thread
        is either in the last flush or refused, never acknowledged and then dropped."""
        with self.lock:
            if not self.released:
                try:
                    self.flush()
                finally:
                    self.released = True
                    self.metrics.fast_until = 0  # log_now's fast path: off, to reach the check

    def check_open(self) -> None:
        """Refuse a log call once released (the store closed) or the run ended: it would never
        be written. Call with ``lock`` held."""
        if self.released:
            raise errors.StoreClosedError(f"run {self.run_id}: its store {self.database.path!r} was closed;"
                                          " nothing more can be logged through this handle")
        if self.ended is not None:
            raise errors.RunStateError(f"run {self.run_id} is {self.ended}: it must be running to log to it")

    def end(self, status: str) -> None:
        """The run ended (its final status stored): later log calls raise (`check_open`). Under
        the lock, so a call on another thread is either in the last flush or refused, never
        acknowledged and then dropped."""
        with self.lock:
            self.ended = status
            self.metrics.fast_until = 0  # log_now's fast path: off, to reach the check
