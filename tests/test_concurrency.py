"""Several processes and threads on one file; fork safety."""

import multiprocessing as mp
import os
import subprocess
import sys
import threading

import pytest

import runlite

N_PROC, N_RUNS = 4, 50

WRITER = """
import sys, runlite
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with runlite.open(path, timeout=30) as s:
    for i in range(n):
        with s.init(f"{tag}-{i}", tags=[tag], metadata={"i": i}) as run:
            run.update_metadata({"done": True})
"""


def test_processes_create_runs_at_once(db_path):
    runlite.open(db_path).close()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_path, f"p{k}", str(N_RUNS)],
                              env=env, stderr=subprocess.PIPE) for k in range(N_PROC)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with runlite.open(db_path, read_only=True) as s:
        runs = s.runs()
        assert len(runs) == N_PROC * N_RUNS
        assert len({r.id for r in runs}) == N_PROC * N_RUNS
        assert all(r.status == "completed" and r.metadata["done"] for r in runs)
        for k in range(N_PROC):
            assert sorted(r.metadata["i"] for r in s.runs(tags=[f"p{k}"])) == list(range(N_RUNS))


def test_threads_share_a_store(store):
    errors = []

    def work(k):
        try:
            for i in range(25):
                run = store.init(f"t{k}-{i}")
                run.update_tags([f"t{k}"])
                store.runs(limit=5)
                run.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.runs(status="completed")) == 150


def _child_after_fork(store, queue):
    try:
        run = store.init("from-child")
        run.close()
        queue.put(("ok", store.database._state.pid == os.getpid()))
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put(("error", repr(exc)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_fork_after_open(store):
    parent_run = store.init("parent")
    parent_writer = store.database._state.writer
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_after_fork, args=(store, queue))
    proc.start()
    result = queue.get(timeout=60)
    proc.join(60)
    assert result == ("ok", True)
    assert proc.exitcode == 0
    # The parent still works on its own, untouched connection.
    assert store.database._state.writer is parent_writer
    parent_run.close()
    names = {r.name: r.status for r in store.runs()}
    assert names == {"parent": "completed", "from-child": "completed"}


def test_a_thread_s_reader_closes_when_the_thread_ends(db_path):
    import gc

    import apsw

    runlite.open(db_path).close()
    with runlite.open(db_path, read_only=True) as s:
        for _ in range(40):  # a server with a thread per request
            t = threading.Thread(target=s.runs)
            t.start()
            t.join()
        gc.collect()
        assert len(s.database._state.readers) <= 1  # at most the last thread's, until it is reclaimed
        s.runs()
    assert [c for c in apsw.connections() if c.filename == db_path] == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_parent_and_forked_child_both_logging_events_to_one_run_lose_nothing(db_path):
    """The child goes on numbering the run's events from the parent's counter: the parent's
    flush then met the child's numbers and failed for good (its points went with it)."""
    store = runlite.open(db_path)
    run = store.init("r")
    run.log_event("parent before fork")
    run.log_metrics({"x": 0.0})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            run.log_event("child")
            store.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    run.log_event("parent after fork")
    run.log_metrics({"x": 1.0})
    run.close()
    store.close()
    with runlite.open(db_path, read_only=True) as s:
        assert sorted(e.message for e in s.events(run.id)) == ["child", "parent after fork", "parent before fork"]
        assert list(s.metric_values(run.id, "x").values) == [0.0, 1.0]


def test_spans_another_process_keeps_out_of_the_file_are_said_lost_never_dropped_quietly(db_path, caplog):
    """With the write lock held past the store's timeout, flush() returned normally and close()
    dropped the acknowledged span with only a log line; a read waited and raised."""
    import subprocess
    import sys

    store = runlite.open(db_path, timeout=0.5)
    with runlite.trace("before", store=store):
        pass
    store.flush()
    locker = subprocess.Popen(
        [sys.executable, "-c", "import apsw, sys\n"
         f"c = apsw.Connection({db_path!r}); c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
         "sys.stdin.readline(); c.execute('COMMIT')"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        with runlite.trace("held-back", store=store):
            pass
        with pytest.raises(runlite.StoreBusyError):
            store.flush()
        assert [r.name for r in store.list_runs()] == ["before"]  # the read goes on without it, said in the log
        assert "without the spans this store holds" in caplog.text
        with pytest.raises(runlite.StoreBusyError, match="metrics, events or spans could not be written and are lost"):
            store.close()
    finally:
        locker.communicate("\n", timeout=30)
    assert store.closed


@pytest.mark.parametrize("ending", ["set_status", "end"])
def test_a_call_logged_while_another_thread_ends_the_run_is_written_or_refused(db_path, ending):
    """The call that passed its status check as the run ended landed in a buffer nothing
    flushed any more: acknowledged, never written (20 trials in 20)."""
    import threading
    import time

    for trial in range(5):
        with runlite.open(db_path) as store:
            run = store.init(f"r{trial}")
            points, events = [], []

            def log() -> None:
                for i in range(10**9):
                    try:
                        run.log_metrics({"x": float(i)})
                        points.append(float(i))
                        run.log_event(f"e{i}")
                        events.append(f"e{i}")
                    except runlite.RunStateError:
                        return

            thread = threading.Thread(target=log)
            thread.start()
            time.sleep(0.02)
            run.set_status("completed") if ending == "set_status" else run.end(outputs={"ok": 1})
            thread.join()
        with runlite.open(db_path, read_only=True) as s:
            assert s.metric_values(run.id, "x").values.tolist() == points
            assert [e.message for e in s.events(run.id)] == events


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
@pytest.mark.parametrize("reading", ["an iterator between pieces", "another thread stepping"])
def test_a_child_forked_inside_a_read_keeps_its_writes_when_the_parent_closes(db_path, reading):
    """The inherited reader, kept open in the child, made SQLite take no real lock for the
    child's own connections: the parent's close then deleted the WAL under the child's commits
    (3,000 points flushed, 700 in the file)."""
    import threading
    import time

    store = runlite.open(db_path)
    with store.init("big") as big:
        for i in range(20_000):
            big.log_metrics({"x": float(i)})
    stop = threading.Event()
    if reading == "an iterator between pieces":
        pieces = store.iter_metric_values(big.id, "x", points=1000)
        next(pieces)  # its read transaction stays open
    else:
        def poll() -> None:
            while not stop.is_set():
                store.metric_values(big.id, "x")
        threading.Thread(target=poll, daemon=True).start()
        time.sleep(0.2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            child = store.init("child")
            for k in range(20):
                child.log_metrics({"y": float(k)})
                child.flush()
                time.sleep(0.02)
            os.write(write, child.id.encode())
        finally:
            os._exit(0)
    os.close(write)
    stop.set()
    time.sleep(0.1)
    store.close()  # the parent's last connection, while the child writes
    with os.fdopen(read) as pipe:
        child_id = pipe.read()
    os.waitpid(pid, 0)
    with runlite.open(db_path, read_only=True) as s:
        assert s.metric_values(child_id, "y").values.tolist() == [float(k) for k in range(20)]
        assert s.verify().ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_writes_what_it_logs_within_the_second_without_exiting(db_path):
    """The fork copies no thread: the child's first log call starts its own background flush,
    so its points are in the file before it is killed (no exit, no close)."""
    import signal
    import time

    store = runlite.open(db_path)
    run = store.init("r")
    run.log_metrics({"x": 0.0})
    store.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            run.log_metrics({"child": 1.0})
            run.log_event("child event")
            time.sleep(60)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with runlite.open(db_path, read_only=True) as reader:
                if reader.events(run.id):
                    break
            time.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    run.close()
    store.close()
    with runlite.open(db_path, read_only=True) as s:
        assert [e.message for e in s.events(run.id)] == ["child event"]
        assert list(s.metric_values(run.id, "child").values) == [1.0]
