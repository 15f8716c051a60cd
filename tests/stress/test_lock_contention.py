"""Another process holding the write lock for seconds, and many processes opening one file.

A merge (or any long write) in another process holds SQLite's single write lock for its whole
transaction. Meanwhile:

- log calls never wait for it: a due flush is tried without waiting and the points stay
  buffered (``log_metrics`` latency is measured while a second process holds the lock);
- buffered points are in the file within ``FLUSH_INTERVAL`` of being logged or, when the lock
  is held elsewhere then, as soon as it is let go (measured: the lag after each release, and
  kill -9 rounds checked against exactly that bound);
- memory stays bounded: past ``MAX_BUFFERED`` points a log call waits for the lock, up to the
  store's timeout, and raises ``StoreBusyError`` having logged nothing.

And any number of processes may create (or migrate) one file at the same moment: no open fails
with ``StoreBusyError`` below the timeout. Switching a file to WAL returns SQLITE_BUSY at once
when another connection holds the write lock, whatever the busy timeout, so it is retried: the
many-openers test hits that race now and then, the last test every time.
"""

from __future__ import annotations

import bisect
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from array import array

import apsw
import pytest

import runlite
from runlite.codec import accel
from runlite.live import writer as writer_mod
from runlite.storage import connection, schema
from runlite.storage import metric_buffer
from tests.stress.conftest import check_file, count, full, percentiles

ENV = {**os.environ, "PYTHONPATH": os.getcwd()}
RNG = random.Random()
FLUSH_AGE = metric_buffer.FLUSH_INTERVAL / 2  # a buffer is due at this age
# Once the lock is free, the next tick (0.1 s) or log call writes what is due: allow this much
# for it on a loaded machine (the measured lag is reported).
SLACK = 0.5
# A log call this long that overlaps a hold waited for the lock (holds are >= 1 s in every mode;
# a flush of what waited, after the release, does not count: it is reported as the latency).
WAITED = 0.25
# The loggers' pace: a record of two metrics per ms and an event every 10 records, so the
# backlog a hold leaves is written well inside SLACK (events cost ~10 us each to insert).
EVENT_EVERY = 10
HOLDS = (1.6, 7.7) if full() else (1.0, 1.5)  # seconds another process holds the write lock
RSS_BOUND_MIB = 64  # RSS growth of a logging process whose buffers are at MAX_BUFFERED


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=ENV, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(proc: subprocess.Popen, into: list) -> threading.Thread:
    """Collect ``(word, epoch seconds)`` lines of ``proc`` as they come, in a thread."""
    def read():
        for line in proc.stdout:
            word, t = line.split()
            into.append((word, float(t)))
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _buffered(store) -> int:
    """Points buffered by the store's live runs (what a lock held elsewhere makes grow)."""
    return max((w.metrics.points for w in store.live.writers), default=0)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return proc.stderr.read()


# A second process that takes the write lock (BEGIN IMMEDIATE, as a merge does) and holds it:
# after `wait` s, for each hold: "begin" before asking, "held" once granted, "released" after
# COMMIT, then `gap` s. Its own busy timeout is long: it queues behind runlite's flushes.
HOLDER = """
import sys, time, apsw
path, holds, wait, gap = sys.argv[1], [float(h) for h in sys.argv[2].split(",")], float(sys.argv[3]), float(sys.argv[4])
conn = apsw.Connection(path)
conn.set_busy_timeout(60_000)
def say(word):
    print(word, repr(time.time()), flush=True)
say("ready")
time.sleep(wait)
for hold in holds:
    say("begin")
    conn.execute("BEGIN IMMEDIATE")
    say("held")
    time.sleep(hold)
    conn.execute("COMMIT")
    say("released")
    time.sleep(gap)
say("end")
"""


def _held(events: list) -> list[tuple[float, float]]:
    """The intervals in which the holder surely held the lock: from granted to COMMIT asked."""
    out, held = [], None
    for word, t in events:
        if word == "held":
            held = t
        elif word == "released" and held is not None:
            out.append((held, t - 0.05))  # "released" is said after COMMIT returned
            held = None
    return out


def _waited(starts, ends, held: list) -> list[float]:
    """Durations of the calls that took WAITED s or more while the lock was held elsewhere."""
    return [b - a for a, b in zip(starts, ends)
            if b - a >= WAITED and any(a < h1 and b > h0 for h0, h1 in held)]


def _holds(events: list, until: float = float("inf")) -> list[tuple[float, float]]:
    """The intervals in which the holder may have held the lock: from asking to COMMIT returned
    (or ``until`` for a hold still open)."""
    out, begin = [], None
    for word, t in events:
        if word == "begin":
            begin = t
        elif word == "released" and begin is not None:
            out.append((begin, t))
            begin = None
    if begin is not None:
        out.append((begin, until))
    return out


# ---------------------------------------------------------------- 1. log calls do not wait


def test_log_calls_do_not_wait_for_another_process_write_lock(tmp_path, guarantee):
    """log_metrics and log_event latency while a second process holds the write lock for
    seconds; then the lag from each release until everything logged before it is in the file."""
    path = str(tmp_path / "runs.db")
    holds = [round(RNG.uniform(*HOLDS), 2) for _ in range(count(2, 8))]
    store = runlite.open(path)
    run = store.init("victim")
    accel.numpy_installed()  # the first long column imports numpy (~0.3 s, once): not timed here
    reader = runlite.open(path, read_only=True)  # reads the file only: never flushes the writer
    events: list = []
    holder = _spawn(HOLDER, path, ",".join(map(str, holds)), 0.3, 1.0)
    latencies, peak = [], 0
    starts, ends = array("d"), array("d")  # epoch seconds at which each call began and returned
    lags: dict = {}    # release time -> seconds until everything logged before it was in the file

    def stored() -> int:
        try:
            return reader.metric_summary(run.id, "x").count
        except runlite.NotFoundError:
            return 0

    def measure_lags() -> None:
        """For each release not yet seen through: are all calls that returned before it stored?"""
        for word, t in events:  # appended meanwhile by the reading thread: fine for a list
            if word == "released" and t not in lags and stored() >= bisect.bisect_right(ends, t):
                lags[t] = time.time() - t

    try:
        _lines(holder, events)
        i = 0
        while not events or events[-1][0] != "end":
            if holder.poll() is not None and (not events or events[-1][0] != "end"):
                pytest.fail(f"the holder failed: {holder.stderr.read()}")
            starts.append(time.time())
            t0 = time.perf_counter()
            run.log_metrics({"x": float(i), "y": -float(i)}, step=i)
            if i % EVENT_EVERY == 0:
                run.log_event(f"e{i}")
            latencies.append(time.perf_counter() - t0)
            ends.append(time.time())
            i += 1
            peak = max(peak, _buffered(store))
            time.sleep(0.001)
            if i % 20 == 0:
                measure_lags()
        deadline = time.time() + 5
        while len(lags) < len(holds) and time.time() < deadline:
            measure_lags()
            time.sleep(0.005)
        run.close()
    finally:
        err = _stop(holder)
        reader.close()
        store.close()
    assert [w for w, _ in events][:1] == ["ready"], err
    waited = _waited(starts, ends, _held(events))
    late = len(holds) - len(lags) + sum(lag > SLACK for lag in lags.values())
    lat = percentiles(latencies)
    guarantee("log_metrics+log_event while another process holds the write lock", rounds=len(holds),
              failures=len(waited) + late, latency=lat,
              note=f"holds {', '.join(f'{h:g}' for h in holds)} s; {len(latencies):,} calls (1 per ms), "
                   f"{len(waited)} waited for the lock; peak buffered {peak:,} points (cap "
                   f"{getattr(writer_mod, 'MAX_BUFFERED', 0):,}); all in the file "
                   f"{max(lags.values(), default=0) * 1e3:.0f} ms at most after each release")
    assert not waited, f"log calls waited for the other process's lock: {[round(w, 2) for w in waited]}"
    assert late == 0, f"points logged before a release reached the file late: {lags} (holds {holds})"
    assert lat["max_ms"] < WAITED * 1e3, f"a log call took {lat['max_ms']:.0f} ms"
    with runlite.open(path, read_only=True) as s:
        xs = s.metric_values("victim", "x")
        events_stored = len(s.events("victim"))
        assert list(xs.steps) == list(range(i)) and events_stored == len(range(0, i, EVENT_EVERY))
    check_file(path)


# ---------------------------------------------------------------- 2. memory stays bounded


def test_buffer_is_capped_while_another_process_holds_the_lock(tmp_path, guarantee, monkeypatch, caplog):
    """Past MAX_BUFFERED a log call waits for the lock, up to the timeout, then raises
    StoreBusyError having logged nothing; the ticker says (in the log) that the file stays
    locked; once the lock is free the call is retried and logs."""
    caplog.set_level(logging.WARNING, logger="runlite")
    # The real ratio (a due flush at FLUSH_POINTS, the cap at 4x) at a size that fills in ms.
    monkeypatch.setattr(metric_buffer, "FLUSH_POINTS", 1_000)
    cap = 4 * metric_buffer.FLUSH_POINTS
    monkeypatch.setattr(writer_mod, "MAX_BUFFERED", cap)
    path = str(tmp_path / "runs.db")
    events: list = []
    store = runlite.open(path, timeout=0.5)
    run = store.init("victim")
    holder = _spawn(HOLDER, path, "2", 0.0, 0.0)
    problems, peak, waited = [], 0, 0.0
    try:
        _lines(holder, events)
        while not any(w == "held" for w, _ in events):
            time.sleep(0.01)
        i, raised = 0, None
        t_end = time.time() + 2.0
        while time.time() < t_end and raised is None:
            t0 = time.perf_counter()
            try:
                run.log_metrics({"x": float(i), "y": -float(i)}, step=i)
                i += 1
            except runlite.StoreBusyError as exc:
                raised, waited = exc, time.perf_counter() - t0
            peak = max(peak, _buffered(store))
        if raised is None:
            problems.append("no StoreBusyError while the buffer was at its cap and the lock held")
        elif not 0.4 <= waited < 2.0:
            problems.append(f"the capped call waited {waited:.2f} s, the timeout is 0.5 s")
        if peak > cap + 2:
            problems.append(f"{peak} points buffered, the cap is {cap} (+ one record)")
        while not any(w == "released" for w, _ in events):
            time.sleep(0.01)
        if "stayed locked" not in caplog.text:  # the exception the ticker logged
            problems.append("the ticker did not log that the file stayed locked past the timeout")
        run.log_metrics({"x": float(i), "y": -float(i)}, step=i)  # the failed call logged nothing: retry it
        run.close()
    finally:
        err = _stop(holder)
        store.close()
    assert events, err
    with runlite.open(path, read_only=True) as s:
        xs = s.metric_values("victim", "x")
        if list(xs.steps) != list(range(i + 1)):
            problems.append(f"stored steps are not 0..{i}: {len(xs)} points")
    guarantee("buffer cap while another process holds the write lock", rounds=1, failures=len(problems),
              note=f"cap {cap:,} points here (4 x FLUSH_POINTS, as in use), peak {peak:,}; "
                   f"the call at the cap raised StoreBusyError after {waited:.2f} s (timeout 0.5 s), "
                   f"logging nothing; {i + 1:,} points stored")
    assert not problems, problems
    check_file(path)


# Logs records of 10 floats (or events) as fast as it can once told the lock is held
# elsewhere, until a call raises; prints the points (or events) logged, the seconds the last
# call waited, the error type and its RSS growth (KiB) from before logging to the raise.
CAPPED = """
import sys, time
import runlite
def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
store = runlite.open(sys.argv[1], timeout=float(sys.argv[2]))
events = sys.argv[3] == "events"
run = store.init("victim")
record = {f"m{j}": float(j) for j in range(10)}
run.log_metrics(record)
run.log_event("first")
run.flush()  # codecs loaded, and the run's series made: what follows is the buffer
base = rss_kib()
print("ready", flush=True)
sys.stdin.readline()
n, took, error = 0, 0.0, "none"
end = time.time() + 20
while time.time() < end:
    t0 = time.perf_counter()
    try:
        if events:
            run.log_event(f"event number {n} of a run whose file is locked")
        else:
            run.log_metrics(record)
    except runlite.RunliteError as exc:
        took, error = time.perf_counter() - t0, type(exc).__name__
        break
    n += 1 if events else 10
grown = rss_kib() - base
print(n, took, error, grown, flush=True)
"""


@pytest.mark.parametrize("kind", ["metrics", "events"])
def test_memory_stays_bounded_at_the_real_cap(tmp_path, guarantee, kind):
    """With the real caps: a process logging as fast as it can while another holds the lock
    buffers up to the cap, then its call waits the timeout and raises StoreBusyError; its RSS
    grows by a bounded amount (Linux: read from /proc)."""
    path = str(tmp_path / "runs.db")
    runlite.open(path).close()
    timeout = 1.0
    cap = writer_mod.MAX_BUFFERED if kind == "metrics" else writer_mod.MAX_BUFFERED_EVENTS
    logger = _spawn(CAPPED, path, timeout, kind)
    events: list = []
    holder = None
    try:
        assert logger.stdout.readline().strip() == "ready", logger.stderr.read()
        holder = _spawn(HOLDER, path, "30", 0.0, 0.0)
        _lines(holder, events)
        while not any(w == "held" for w, _ in events):
            assert holder.poll() is None, holder.stderr.read()
            time.sleep(0.01)
        logger.stdin.write("go\n")
        logger.stdin.flush()
        n, took, error, grown_kib = logger.stdout.readline().split()
    finally:
        err = _stop(logger)
        if holder is not None:
            _stop(holder)
    assert error != "none" or int(n), err
    logged, took, grown = int(n), float(took), int(grown_kib) / 1024
    problems = []
    if error != "StoreBusyError":
        problems.append(f"the call at the cap raised {error}, not StoreBusyError")
    if not cap <= logged <= cap + 10:
        problems.append(f"{logged:,} {kind} buffered before the call waited (cap {cap:,})")
    if not 0.8 * timeout <= took < 3 * timeout:
        problems.append(f"the capped call waited {took:.2f} s, the timeout is {timeout:g} s")
    if grown > RSS_BOUND_MIB:
        problems.append(f"RSS grew {grown:.0f} MiB")
    what = "points of 10-float records" if kind == "metrics" else "events of ~45 characters"
    guarantee(f"memory while another process holds the write lock ({kind}, real cap)", rounds=1,
              failures=len(problems),
              note=f"{logged:,} {what} buffered (cap {cap:,}), then the call waited {took:.2f} s (timeout "
                   f"{timeout:g} s) and raised {error}; RSS growth {grown:.1f} MiB, bound {RSS_BOUND_MIB} MiB")
    assert not problems, problems


# ---------------------------------------------------------------- 3. kill -9 under contention


# Logs metrics (and an event every `event_every` records) for ever at one record per ms,
# acknowledging each call with "m <n> <began> <returned>" / "e <n> <began> <returned>".
LOGGER = """
import os, sys, time
import runlite
path, event_every = sys.argv[1], int(sys.argv[2])
def ack(kind, n, began):
    os.write(1, f"{kind} {n} {began!r} {time.time()!r}\\n".encode())
store = runlite.open(path)
run = store.init("victim")
ack("ready", 0, 0.0)
i = 0
while True:
    began = time.time()
    run.log_metrics({"x": float(i), "y": -float(i)}, step=i)
    ack("m", i, began)
    if i % event_every == 0:
        began = time.time()
        run.log_event(f"e{i // event_every}")
        ack("e", i // event_every, began)
    i += 1
    time.sleep(0.001)
"""


def _free_window(lo: float, hi: float, holds: list) -> float:
    """The longest stretch of [lo, hi] in which the other process held no lock."""
    best, at = 0.0, lo
    for begin, end in sorted(holds):
        if end <= at:
            continue
        if begin >= hi:
            break
        best = max(best, min(begin, hi) - at)
        at = max(at, end)
    return max(best, hi - at)


def _check_kill(path: str, acks: list, killed_at: float, holds: list) -> tuple[int, int, int, list]:
    """(owed items missing, items checked, items older than FLUSH_INTERVAL that the bound lets
    wait for the lock, problems). An item logged at t is owed when it is older than
    FLUSH_INTERVAL and the lock was free for SLACK s at a stretch after it was due."""
    check_file(path)
    owed = {"m": 0, "e": 0}
    older = {"m": 0, "e": 0}
    for kind, n, _began, t in acks:
        if kind in owed and killed_at - t > metric_buffer.FLUSH_INTERVAL:
            older[kind] = max(older[kind], n + 1)
            if _free_window(t + FLUSH_AGE, killed_at, holds) >= SLACK:
                owed[kind] = max(owed[kind], n + 1)
    problems = []
    with runlite.open(path, read_only=True) as s:
        try:
            xs = s.metric_values("victim", "x")
        except runlite.NotFoundError:
            xs = None
        n = 0 if xs is None else len(xs)
        if xs is not None and (list(xs.steps) != list(range(n)) or list(xs.values) != [float(k) for k in range(n)]):
            problems.append(f"the stored metrics are not the prefix 0..{n - 1}")
        messages = [e.message for e in s.events("victim")]
        if messages != [f"e{k}" for k in range(len(messages))]:
            problems.append("the stored events are not a prefix of those logged")
    lost = max(0, owed["m"] - n) + max(0, owed["e"] - len(messages))
    waiting = max(0, older["m"] - n) + max(0, older["e"] - len(messages)) - lost
    if lost:
        problems.append(f"{lost} owed items missing (steps < {owed['m']}, events < {owed['e']}; stored {n}, "
                        f"{len(messages)})")
    return lost, owed["m"] + owed["e"], waiting, problems


def test_kill_while_another_process_holds_the_write_lock(tmp_path, guarantee):
    """kill -9 the logging process at a random moment during or after another process's hold:
    everything the stated bound owes is in the file, and no log call stalled."""
    rounds, failures, lost, checked, waiting, slowest = count(2, 22), 0, 0, 0, 0, 0.0
    problems: list = []
    for r in range(rounds):
        path = str(tmp_path / f"kill{r}.db")
        runlite.open(path).close()
        hold = round(RNG.uniform(*HOLDS), 2)
        logger = _spawn(LOGGER, path, EVENT_EVERY)
        assert logger.stdout.readline().startswith("ready"), logger.stderr.read()
        acks_raw: list = []
        reader = threading.Thread(target=acks_raw.extend, args=(logger.stdout,), daemon=True)
        reader.start()
        events: list = []
        holder = _spawn(HOLDER, path, hold, RNG.uniform(1.0, 1.5), 0.0)
        _lines(holder, events)
        while not any(w == "held" for w, _ in events):
            assert holder.poll() is None, holder.stderr.read()
            time.sleep(0.005)
        held_at = next(t for w, t in events if w == "held")
        # Even rounds kill during the hold, odd ones in the 1.5 s after it.
        moment = RNG.uniform(0.2, hold - 0.1) if r % 2 == 0 else hold + RNG.uniform(0.1, 1.5)
        time.sleep(max(0.0, held_at + moment - time.time()))
        killed_at = time.time()
        logger.send_signal(signal.SIGKILL)
        logger.wait()
        reader.join(5)
        _stop(holder)  # a hold still open rolls back
        acks = []
        for line in acks_raw:
            if line.endswith("\n"):  # a line cut by the kill is no acknowledgement
                kind, n, began, t = line.split()
                acks.append((kind, int(n), float(began), float(t)))
        waited = _waited([a[2] for a in acks], [a[3] for a in acks], _held(events))
        slowest = max([slowest] + [t - began for _, _, began, t in acks])
        try:
            round_lost, round_checked, round_waiting, round_problems = _check_kill(
                path, acks, killed_at, _holds(events))
        except (AssertionError, runlite.RunliteError, apsw.Error) as exc:
            round_lost, round_checked, round_waiting, round_problems = 0, 0, 0, [f"{type(exc).__name__}: {exc}"]
        if waited:
            round_problems.append(f"log calls waited for the lock: {[round(w, 2) for w in waited]} s (hold {hold} s)")
        lost += round_lost
        checked += round_checked
        waiting += round_waiting
        failures += bool(round_problems)
        problems += [f"round {r}: {p}" for p in round_problems]
        logger.stdout.close()
        logger.stderr.close()
    guarantee("kill -9 while another process holds the write lock", rounds=rounds, failures=failures, lost=lost,
              note=f"holds {HOLDS[0]:g}-{HOLDS[1]:g} s; {checked:,} owed items checked (older than "
                   f"{metric_buffer.FLUSH_INTERVAL:g} s with the lock free {SLACK:g} s after they were due); "
                   f"{waiting:,} older than {metric_buffer.FLUSH_INTERVAL:g} s were still waiting for the "
                   f"other process's lock, as the bound allows; slowest log call {slowest * 1e3:.0f} ms")
    assert not problems, problems


# ---------------------------------------------------------------- 4. many processes open one file


# Opens (creating or migrating) the file named on each stdin line, closes it, answers
# "ok <seconds>" or "<ErrorType> <seconds> <message>".
OPENER = """
import sys, time
import runlite
print("ready", flush=True)
for line in sys.stdin:
    path, delay = line.split()
    time.sleep(float(delay))  # arrivals spread as a pool's workers' are, not all asleep in one wait
    t0 = time.perf_counter()
    try:
        runlite.open(path).close()
        print("ok", time.perf_counter() - t0, flush=True)
    except Exception as exc:
        print(type(exc).__name__, time.perf_counter() - t0, str(exc).replace("\\n", " "), flush=True)
"""

N_OPENERS = 8
SPREAD = 0.03  # seconds over which the openers of one round arrive
OLD_VERSION = 5


def _old_file(path: str, wal: bool) -> None:
    """A small file at OLD_VERSION (as an older runlite left it), in WAL mode or not."""
    conn = apsw.Connection(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for version in range(1, OLD_VERSION + 1):
            for statement in schema.MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID:d}")
        conn.execute(f"PRAGMA user_version={OLD_VERSION:d}")
        conn.execute("COMMIT")
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _half_created(path: str) -> None:
    """A file at the current schema still in rollback-journal mode: what a creator killed between
    its migration and the switch to WAL leaves."""
    conn = apsw.Connection(path)
    try:
        connection.migrate(conn, path)
    finally:
        conn.close()


KINDS = ("new", "empty", "old", "old-wal", "half-created")


def test_many_processes_create_or_migrate_one_file_together(tmp_path, guarantee):
    """N processes open one file within SPREAD s, round after round: a path that does not exist,
    a 0-byte file, a file at an older schema (rollback journal, and WAL), a half-created file."""
    templates = {"old": str(tmp_path / "old.tmpl"), "old-wal": str(tmp_path / "oldwal.tmpl"),
                 "half-created": str(tmp_path / "half.tmpl")}
    _old_file(templates["old"], wal=False)
    _old_file(templates["old-wal"], wal=True)
    _half_created(templates["half-created"])
    rounds = count(20, 250)
    openers = [_spawn(OPENER) for _ in range(N_OPENERS)]
    outcomes: dict = {}
    errors_seen, slowest, problems = [], 0.0, []
    try:
        for p in openers:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for r in range(rounds):
            kind = KINDS[r % len(KINDS)]
            path = str(tmp_path / f"f{r}.db")
            if kind == "empty":
                open(path, "wb").close()
            elif kind in templates:
                shutil.copy(templates[kind], path)
            for p in openers:  # one line each, back to back
                p.stdin.write(f"{path} {RNG.uniform(0, SPREAD):.4f}\n")
            for p in openers:
                p.stdin.flush()
            for p in openers:
                word, took, *rest = p.stdout.readline().split(" ", 2)
                outcomes[word] = outcomes.get(word, 0) + 1
                slowest = max(slowest, float(took))
                if word != "ok":
                    errors_seen.append(f"{kind}: {word} after {float(took) * 1e3:.0f} ms: {' '.join(rest)[:200]}")
            conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
            try:
                version, mode = conn.execute("PRAGMA user_version").get, conn.execute("PRAGMA journal_mode").get
            finally:
                conn.close()
            if version != schema.SCHEMA_VERSION or mode != "wal":
                problems.append(f"round {r} ({kind}): version {version}, journal {mode}")
            if r < len(KINDS):  # each kind once in full (verify is the slow part)
                check_file(path)
    finally:
        for p in openers:
            p.stdin.close()
            _stop(p)
    opens = rounds * N_OPENERS
    guarantee(f"{N_OPENERS} processes create or migrate one file at once", rounds=opens,
              failures=len(errors_seen) + len(problems),
              note=f"{rounds} files ({', '.join(KINDS)}); outcomes {outcomes}; slowest open "
                   f"{slowest * 1e3:.0f} ms; every file at schema {schema.SCHEMA_VERSION} in WAL")
    assert not errors_seen, errors_seen[:10]
    assert not problems, problems[:10]


# Takes the write lock when told ("go" on stdin), says "held", keeps it `hold` s, then COMMITs.
TAKER = """
import sys, time, apsw
conn = apsw.Connection(sys.argv[1])
conn.set_busy_timeout(30_000)
hold = float(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    conn.execute("BEGIN IMMEDIATE")
    print("held", flush=True)
    time.sleep(hold)
    conn.execute("COMMIT")
"""


def test_switch_to_wal_while_another_process_takes_the_write_lock(tmp_path, guarantee, monkeypatch):
    """The race the many-openers test hits now and then, every time: another process takes the
    write lock between this open's migration and its switch to WAL (as a second creator's
    migration does). SQLite returns SQLITE_BUSY at once there, whatever the busy timeout, so the
    switch must be retried; the open then succeeds once that transaction ends."""
    hold = 0.2
    rounds = count(5, 20)
    real = connection.connection_wal
    outcomes: dict = {}
    waited = []
    for r in range(rounds):
        path = str(tmp_path / f"half{r}.db")
        _half_created(path)
        taker = _spawn(TAKER, path, hold)
        try:
            assert taker.stdout.readline().strip() == "ready", taker.stderr.read()

            def switch_after_another_writer(conn, *args, taker=taker):
                taker.stdin.write("go\n")
                taker.stdin.flush()
                assert taker.stdout.readline().strip() == "held"
                return real(conn, *args)

            monkeypatch.setattr(connection, "connection_wal", switch_after_another_writer)
            t0 = time.perf_counter()
            try:
                runlite.open(path).close()
                outcome = "ok"
            except runlite.RunliteError as exc:
                outcome = type(exc).__name__
            took = time.perf_counter() - t0
            monkeypatch.setattr(connection, "connection_wal", real)
        finally:
            taker.stdin.close()
            _stop(taker)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        waited.append(took)
        if outcome == "ok":
            check_file(path)
    failed = rounds - outcomes.get("ok", 0)
    guarantee("switch to WAL while another process takes the write lock", rounds=rounds, failures=failed,
              latency=percentiles(waited),
              note=f"a lock held {hold:g} s from just before the switch; outcomes {outcomes}; latency = the open")
    assert failed == 0, outcomes
