"""The one sampling thread of a process, shared by every run sampling system metrics in it.

Subscribers (``feed.RunFeed``: one a run) each have an ``interval`` and the time they are next
``due``. The thread sleeps until the earliest is due, reads the probes once and hands the
sample to every subscriber due then; a dropped probe's note goes to every subscriber. It ends
when the last subscriber leaves, and the next one starts a new thread. A forked child starts
with no subscriber and no thread: the parent's runs are sampled by the parent, and a run the
child samples gets the child's own thread (and a ``Reader`` of the child's process).

Rates and CPU percentages cover the time since the thread's previous read: with one interval
in the process (the usual case) that is the subscriber's interval; a run sampled every 10 s
beside one sampled every second gets the figures of the last second.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from .probes import Reader

THREAD_NAME = "runlite-system-metrics"
log = logging.getLogger("runlite")


class _State:
    """This process's subscribers and thread (a forked child gets a fresh one)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.subscribers: list = []
        self.thread: _Sampler | None = None
        self.samples = 0          # samples taken by this process's threads,
        self.cpu_seconds = 0.0    # and the CPU time they took (reading and logging)


_state = _State()
_exit_hook: list = []  # registered once: atexit's list is inherited by a forked child


def _after_fork_in_child() -> None:
    global _state
    _state = _State()  # the parent's thread did not follow, and its lock may have been held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def subscribe(sub: Any) -> None:
    """Hand ``sub`` a sample every ``sub.interval`` seconds from now (the thread starts if needed).
    Subscribing again only moves its next sample to an interval from now."""
    if not _exit_hook:
        # Registered after the live registry's flush at exit (a Store exists by now), so it
        # runs first: the last samples are in the buffers that flush writes.
        _exit_hook.append(atexit.register(stop_all))
    state = _state
    with state.lock:
        sub.due = time.monotonic() + sub.interval
        if sub not in state.subscribers:
            state.subscribers.append(sub)
        if state.thread is None:
            state.thread = _Sampler(state)
            state.thread.start()
        state.wake.notify()


def unsubscribe(sub: Any) -> None:
    """No more samples for ``sub`` (one being handed to it may still arrive: see ``RunFeed``)."""
    state = _state
    with state.lock:
        if sub in state.subscribers:
            state.subscribers.remove(sub)
            state.wake.notify()


def subscribed(sub: Any) -> bool:
    """Whether ``sub`` gets samples in this process (a forked child's copy of a parent's feed does not)."""
    with _state.lock:
        return sub in _state.subscribers


def stop_all() -> None:
    """Stop every subscriber (interpreter exit): the thread ends."""
    with _state.lock:
        subscribers = list(_state.subscribers)
    for sub in subscribers:
        _call(sub.stop)


def thread() -> threading.Thread | None:
    """This process's sampling thread, None when no run samples."""
    return _state.thread


def usage() -> tuple[int, float]:
    """Samples this process's sampling threads took, and the thread CPU seconds they cost."""
    with _state.lock:
        return _state.samples, _state.cpu_seconds


def _call(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a subscriber's failure never ends the thread nor the other runs
        log.exception("runlite: system metrics: a run could not take a sample")


class _Sampler(threading.Thread):
    def __init__(self, state: _State):
        super().__init__(name=THREAD_NAME, daemon=True)
        self.state = state

    def run(self) -> None:
        try:
            reader = Reader()  # primes rates and CPU percentages: the first sample has them all
        except Exception:  # noqa: BLE001 - psutil unusable here: no run can be sampled
            log.exception("runlite: system metrics cannot be read on this machine")
            with self.state.lock:
                self.state.subscribers.clear()
                if self.state.thread is self:
                    self.state.thread = None
            return
        try:
            while True:
                due, everyone = self._wait()
                if not due:
                    return
                start = time.thread_time()
                values, notes = reader.read()
                for message in notes:
                    log.warning("runlite: %s", message)
                    for sub in everyone:
                        _call(sub.note, message)
                for sub in due:
                    _call(sub.deliver, values)
                spent = time.thread_time() - start
                with self.state.lock:
                    self.state.samples += 1
                    self.state.cpu_seconds += spent
        finally:
            reader.close()

    def _wait(self) -> tuple[list, list]:
        """Sleep until a subscriber is due; ``([], [])`` when none is left (the thread ends)."""
        state = self.state
        with state.lock:
            while True:
                if not state.subscribers:
                    if state.thread is self:
                        state.thread = None  # the next subscriber starts a new thread
                    return [], []
                now = time.monotonic()
                next_due = min(sub.due for sub in state.subscribers)
                if next_due <= now:
                    break
                state.wake.wait(next_due - now)
            due = [sub for sub in state.subscribers if sub.due <= now]
            for sub in due:
                sub.due += sub.interval
                if sub.due <= now:  # late (a suspended laptop): no burst of samples to catch up
                    sub.due = now + sub.interval
            return due, list(state.subscribers)
