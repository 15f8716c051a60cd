"""fork() after open: each child works with its own connections, the parent is unaffected.

The parent holds a running run whose metrics a thread keeps logging (buffered, flushed by
the store's background ticker) while the main thread forks children that write, that only
read, and that exit without closing anything. A child must never touch the parent's
connections (https://sqlite.org/howtocorrupt.html#_carrying_an_open_database_connection_across_a_fork_).
"""

import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time

import pytest

import runlite
from tests.stress.conftest import check_file, count

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")

ROUNDS = count(3, 50)
CHILD_POINTS = 50
HANG = 60  # seconds a child may take before it counts as hung


def _prefix(series) -> bool:
    """Metric steps 0..n-1 with value == step: what the parent's logger writes."""
    return list(series.steps) == list(range(len(series))) and list(series.values) == [float(s) for s in series.steps]


def _child_writes(store, parent_id, r, pipe):
    run = store.init(f"child-{r}", metadata={"r": r})
    for i in range(CHILD_POINTS):
        run.log_metrics({"x": float(i)})
    run.log_event(f"child {r}")
    run.close()
    record = store.get_run(run.id)
    mine = store.metric_values(run.id, "x")
    parents = store.metric_values(parent_id, "loss")
    pipe.send_bytes(json.dumps({
        "pid": record.pid, "status": record.status, "points": list(mine.values),
        "events": [e.message for e in store.events(run.id)], "parent_prefix": _prefix(parents),
    }).encode())


def _child_reads(store, parent_id, r, pipe):
    parents = store.metric_values(parent_id, "loss")
    names = sorted(run.name for run in store.runs())
    pipe.send_bytes(json.dumps({"parent_points": len(parents), "parent_prefix": _prefix(parents),
                                "names": names}).encode())


def _child_leaves(store, parent_id, r, pipe):
    # Writes a run, flushes half its points and ends without closing anything: the process
    # ends with os._exit (as multiprocessing children do), so the rest is never written.
    run = store.init(f"leaver-{r}")
    for i in range(CHILD_POINTS):
        run.log_metrics({"x": float(i)})
        if i == CHILD_POINTS // 2 - 1:
            run.flush()
    pipe.send_bytes(json.dumps({"pid": os.getpid()}).encode())


def _run_child(ctx, target, store, parent_id, r):
    """Start ``target`` in a forked child; its JSON result, or an error string."""
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(store, parent_id, r, send))
    proc.start()
    send.close()
    try:
        result = json.loads(receive.recv_bytes()) if receive.poll(HANG) else None
    except EOFError:  # the child died before reporting
        result = None
    proc.join(HANG)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return f"{target.__name__} round {r}: hung"
    receive.close()
    if proc.exitcode != 0 or result is None:
        return f"{target.__name__} round {r}: exit code {proc.exitcode}"
    return {**result, "child_pid": proc.pid}


class _Logger(threading.Thread):
    """Logs the parent's metric step by step (value == step) until stopped."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_handle, self.stop, self.logged, self.error = run, threading.Event(), 0, None

    def run(self):
        try:
            while not self.stop.is_set():
                self.run_handle.log_metrics({"loss": float(self.logged)})
                self.logged += 1
                time.sleep(0.0005)
        except Exception as exc:  # reported by the test
            self.error = exc


def test_fork_while_the_parent_logs(tmp_path, guarantee):
    path = str(tmp_path / "runs.db")
    ctx = mp.get_context("fork")
    failures = []
    store = runlite.open(path)
    parent = store.init("parent")
    logger = _Logger(parent)
    logger.start()
    while not logger.logged:
        time.sleep(0.01)
    parent.flush()  # the series exists before the first child reads it
    try:
        for r in range(ROUNDS):
            time.sleep(0.05)  # let points pile up in the buffer, so forks meet buffered data
            wrote = _run_child(ctx, _child_writes, store, parent.id, r)
            read = _run_child(ctx, _child_reads, store, parent.id, r)
            left = _run_child(ctx, _child_leaves, store, parent.id, r)
            for result in (wrote, read, left):
                if isinstance(result, str):
                    failures.append(result)
            if isinstance(wrote, dict):
                if wrote["pid"] != wrote["child_pid"]:  # the run was written by the child itself
                    failures.append(f"round {r}: child run has pid {wrote['pid']}, child is {wrote['child_pid']}")
                if (wrote["status"], wrote["points"], wrote["events"]) != (
                        "completed", [float(i) for i in range(CHILD_POINTS)], [f"child {r}"]):
                    failures.append(f"round {r}: the writing child read back {wrote}")
                if not wrote["parent_prefix"]:
                    failures.append(f"round {r}: the writing child saw the parent's points out of order")
            if isinstance(read, dict):
                if not read["parent_prefix"] or f"child-{r}" not in read["names"]:
                    failures.append(f"round {r}: the reading child saw {read}")
    finally:
        logger.stop.set()
        logger.join()
    # The parent carries on as if nothing happened: its handle, its connections, its ticker.
    parent.log_metrics({"loss": float(logger.logged)})
    parent.close()
    logged = logger.logged + 1
    loss = store.metric_values(parent.id, "loss")
    runs = {run.name: run for run in store.runs()}
    store.close()

    lost = logged - len(loss) if _prefix(loss) else logged
    for r in range(ROUNDS):
        child, leaver = runs.get(f"child-{r}"), runs.get(f"leaver-{r}")
        if child is None or child.status != "completed":
            failures.append(f"round {r}: child run {child}")
            lost += 1
        if leaver is None or leaver.status != "lost":  # its process is gone, it never ended the run
            failures.append(f"round {r}: leaver run {leaver}")
    with runlite.open(path, read_only=True) as again:
        for r in range(ROUNDS):
            if f"leaver-{r}" in runs:
                flushed = again.metric_values(runs[f"leaver-{r}"].id, "x")
                if list(flushed.values) != [float(i) for i in range(CHILD_POINTS // 2)]:
                    failures.append(f"round {r}: the leaver's flushed points are {list(flushed.values)}")
    guarantee("fork after open while the parent logs (writer, reader, leaving children)", rounds=ROUNDS * 3,
              failures=len(failures), lost=lost,
              note=f"parent logged {logged:,} points through {ROUNDS * 3} forks")
    assert logger.error is None
    assert failures == []
    assert runs["parent"].status == "completed"
    assert lost == 0
    check_file(path)


# A child of a bare os.fork() that returns normally runs the interpreter's exit: atexit
# flushes its buffered points, and finalising the inherited objects must not touch the
# parent's connections or WAL.
EXITING_CHILD = """
import json, os, sys, time, runlite
path, rounds = sys.argv[1], int(sys.argv[2])
store = runlite.open(path)
parent = store.init("parent")
children, step = [], 0
for r in range(rounds):
    for _ in range(50):
        parent.log_metrics({"loss": float(step)})
        step += 1
    pid = os.fork()
    if pid == 0:
        run = store.init(f"exiting-{r}")
        for i in range(20):
            run.log_metrics({"x": float(i)})
        sys.exit(0)  # no close, no flush: the interpreter's exit must write the points
    _, status = os.waitpid(pid, 0)
    children.append(os.waitstatus_to_exitcode(status))
    parent.log_metrics({"loss": float(step)})  # the parent still writes
    step += 1
    parent.flush()
parent.close()
print(json.dumps({"exit_codes": children, "logged": step}))
"""


def test_forked_child_exiting_through_the_interpreter(tmp_path, guarantee):
    path = str(tmp_path / "runs.db")
    rounds = count(3, 50)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", EXITING_CHILD, path, str(rounds)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    with runlite.open(path, read_only=True) as store:
        runs = {run.name: run for run in store.runs()}
        loss = store.metric_values(runs["parent"].id, "loss")
        lost = report["logged"] - len(loss) if _prefix(loss) else report["logged"]
        failures = [code for code in report["exit_codes"] if code != 0]
        for r in range(rounds):
            run = runs.get(f"exiting-{r}")
            points = list(store.metric_values(run.id, "x").values) if run else []
            lost += 20 - len(points) if points == [float(i) for i in range(len(points))] else 20
    guarantee("fork, then the child exits through the interpreter without closing", rounds=rounds,
              failures=len(failures), lost=lost, note="atexit writes the child's buffered points")
    assert failures == []
    assert runs["parent"].status == "completed"
    assert lost == 0
    check_file(path)


def _child_outlives_parent(store, halfway, parent_closed, pipe):
    run = store.init("outliving-child")
    for i in range(CHILD_POINTS):
        run.log_metrics({"x": float(i)})
        run.flush()  # each point acknowledged on its own
        if i == CHILD_POINTS // 2:
            halfway.set()
            parent_closed.wait(HANG)
    run.close()
    pipe.send_bytes(b"{}")


def test_child_writes_survive_the_parent_closing_first(tmp_path, guarantee):
    """Regression: SQLite keeps one lock record per file and process, shared with the
    connections a child inherits; while those stayed open the child's own connections held
    no real lock, and the parent's last close deleted the WAL under the child's later writes."""
    ctx = mp.get_context("fork")
    rounds = count(2, 20)
    lost = failures = 0
    paths = [str(tmp_path / f"runs{r}.db") for r in range(rounds)]
    for path in paths:
        store = runlite.open(path)
        with store.init("parent") as parent:
            parent.log_metrics({"loss": 1.0})
        store.runs()  # the parent holds a reader connection too
        halfway, parent_closed = ctx.Event(), ctx.Event()
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_outlives_parent, args=(store, halfway, parent_closed, send))
        child.start()
        halfway.wait(HANG)
        store.close()  # the parent is done first: its last connection to the file closes
        parent_closed.set()
        ok = receive.poll(HANG)
        child.join(HANG)
        failures += not ok or child.exitcode != 0
        with runlite.open(path, read_only=True) as again:
            run = again.runs(limit=1)[0]
            points = list(again.metric_values(run.id, "x").values) if run.name == "outliving-child" else []
            lost += CHILD_POINTS - len(points)
    guarantee("fork, then the parent closes the file while the child writes", rounds=rounds,
              failures=failures, lost=lost, note="the child's writes after the parent's close are kept")
    assert failures == 0
    assert lost == 0
    for path in paths:
        check_file(path)


def _child_init_and_read(store, parent_id, pipe):
    try:
        store.init("child").close()
        store.metric_values(parent_id, "loss")  # flushes the parent's handle in this process first
        pipe.send_bytes(b'"ok"')
    except runlite.RunliteError as exc:
        pipe.send_bytes(json.dumps(repr(exc)).encode())


def _fork_while_held(store, parent, hold):
    """Fork while another thread is inside ``hold`` (a lock the ticker or a logging thread
    takes); the child's result, or "hung"."""
    ctx = mp.get_context("fork")
    inside, leave = threading.Event(), threading.Event()

    def holder():
        with hold():
            inside.set()
            leave.wait(1.0)  # held at the fork unless runlite waits for it

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait(10)
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_init_and_read, args=(store, parent.id, send))
    proc.start()
    leave.set()
    thread.join()
    result = json.loads(receive.recv_bytes()) if receive.poll(20) else "hung"
    if proc.is_alive():
        proc.kill()
    proc.join()
    return result


def test_fork_during_a_write_transaction_or_a_logging_call(tmp_path):
    """Regressions: a fork while another thread was inside a write transaction left the
    child's new connection waiting for a lock SQLite believed this process held (until
    StoreBusyError); a fork while another thread held a Run's lock left the child waiting on
    that lock forever. (Private handles are used to hold exactly those locks at the fork.)"""
    with runlite.open(str(tmp_path / "runs.db"), timeout=5) as store:
        parent = store.init("parent")
        parent.log_metrics({"loss": 1.0})
        parent.flush()
        assert _fork_while_held(store, parent, store.database.write) == "ok"
        assert _fork_while_held(store, parent, lambda: parent._writer.lock) == "ok"
        parent.log_metrics({"loss": 2.0})
        parent.close()
        assert list(store.metric_values(parent.id, "loss").values) == [1.0, 2.0]
    check_file(tmp_path / "runs.db")
