"""Logging metric records into a live run's buffer: every case but the common one.

The common call, ``log_metrics({name: float, ...})`` with default step, time and timestamp
and the names of the previous call, is appended by ``RunWriter.log_now`` without any of
this: one clock read, one ``array.extend``. Everything else comes here: explicit steps,
times and timestamps, assets, new names, values that are not floats, a due flush.
"""

from __future__ import annotations

import math
import numbers
import time as _time
from typing import Any

from .. import errors
from .._validation import INT64_MAX, check_name, is_real, now_us, shown, to_us
from ..storage import metric_buffer

_time_ns = _time.time_ns
# A buffer is flushed once its oldest item is half the flush interval old, so with the
# ticker's period and the flush itself a point is in the file before the interval has passed.
FLUSH_AGE_US = int(metric_buffer.FLUSH_INTERVAL * 1_000_000) // 2


def log_record(writer: Any, metrics: Any, step: Any, time: Any, timestamp: Any, asset: Any, *,
               count: bool = True) -> bool:
    """Validate one record and append it to ``writer``'s buffer (see ``Run.log_metrics``).

    A due flush runs before the record joins the buffer; anything invalid raises before
    anything of the call is logged. ``count=False`` leaves the run's step counter where it
    is: series with a counter of their own (the system metrics) log at explicit steps and
    must not move the steps ``log_metrics`` gives by default.
    """
    if not isinstance(metrics, dict):
        raise errors.ValidationError(f"metrics must be a dict of name -> number, got {type(metrics).__name__}")
    if not metrics:
        return True
    if step is not None:
        step = check_step(step)
    if timestamp is None:
        stamp = arrival = _time_ns() // 1000
    else:
        stamp, arrival = to_us(timestamp), now_us()
    user_time = time is not None
    if user_time:
        time = check_time(time)
    elif stamp != arrival:  # Simvue's default time is the run's duration, not the timestamp's
        time = (arrival - writer.started_us) / 1e6
    asset = "" if asset is None else check_name(asset, "asset")
    with writer.lock:
        writer.check_open()
        writer.check_fork()
        if step is None and writer.step > INT64_MAX:  # the counter went past the last step there is
            raise errors.ValidationError(f"the run's next step would be {writer.step}, past the largest step"
                                         " (2**63-1); pass step= explicitly")
        buf = writer.metrics
        if user_time and not writer.user_time:  # alert checks follow the points' times only
            writer.user_time = True
            writer.schedule()  # metric checks off the wall clock; a critical event alert's stay on it
        # A due flush runs before this call's values join the buffer: if it fails (a full
        # disk) the call raises having logged nothing, so retrying it never logs twice.
        # It never waits for another process's write lock (see RunWriter.flush_due).
        if buf.points and (buf.points >= buf.flush_points or arrival - buf.oldest_us >= FLUSH_AGE_US):
            writer.flush_due(arrival)
            buf = writer.metrics
        buf.add(metrics, writer.step if step is None else step, time, stamp, asset, writer.started_us, arrival)
        if count:
            writer.step += 1
        # Calls like this one may take the fast path until the buffer's age-based flush is
        # due, while its axis is the default one (steps counting up, times from timestamps)
        # and the run's counter is the step that axis gives the next record (an explicit step
        # leaves the counter where it was: the fast path would then log the wrong step).
        # (Nor while the calls it takes before the next check could count past the last step.)
        default_axis = (buf.steps is None and buf.times is None and asset == ""
                        and writer.step == buf.step_base + len(buf.timestamps)
                        and writer.step <= INT64_MAX - buf.flush_points)
        buf.fast_until = buf.oldest_us + FLUSH_AGE_US if default_axis else 0
    return True


def check_step(step: Any) -> int:
    """An explicit step: an int from 0 to 2**63-1."""
    if type(step) is not int and not (isinstance(step, numbers.Integral) and is_real(step)):
        raise errors.ValidationError(f"step must be an int >= 0, got {type(step).__name__} {shown(step)}")
    step = int(step)
    if not 0 <= step <= INT64_MAX:
        raise errors.ValidationError(f"step must be an int from 0 to 2**63-1, got {shown(step)}")
    return step


def check_time(time: Any) -> float:
    """An explicit run time in seconds: a finite number."""
    if not is_real(time):
        raise errors.ValidationError(f"time must be seconds as a number, got {type(time).__name__} {shown(time)}")
    try:
        time = float(time)
    except (OverflowError, ValueError):  # an int or Fraction beyond float64
        time = math.inf
    if not math.isfinite(time):
        raise errors.ValidationError(f"time must be finite seconds, got {time}")
    return time
