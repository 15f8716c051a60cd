"""The WAL copied into the file on a thread of its own (`storage/checkpoint.py`)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import threading
import time

import apsw
import pytest

import runlite
from runlite.errors import StoreError
from runlite.storage.checkpoint import LOG_PAGES, Checkpointer

PAGE = 4096
PAST_THE_LINE = (LOG_PAGES + 10) * PAGE  # bytes of one commit that takes the log past the line
CEILING = (2 * LOG_PAGES + 100) * (PAGE + 24)  # twice the line and a commit; a frame is a page and a header


@pytest.fixture
def wal_file(tmp_path):
    path = str(tmp_path / "c.db")
    writer = apsw.Connection(path)
    writer.execute("PRAGMA journal_mode=WAL").fetchall()
    writer.execute("PRAGMA synchronous=NORMAL")
    writer.execute("CREATE TABLE t (b BLOB)")
    yield path, writer
    writer.close()


def _log_frames(writer) -> list[int]:
    """The log's frames after each later commit of ``writer`` (its WAL hook replaced)."""
    seen: list[int] = []
    writer.set_wal_hook(lambda _c, _n, pages: seen.append(pages) or apsw.SQLITE_OK)
    return seen


def test_a_commit_past_the_line_returns_before_the_copy(wal_file):
    path, writer = wal_file
    began, go = threading.Event(), threading.Event()

    def connect():
        began.set()
        assert go.wait(30)
        return apsw.Connection(path)

    copier = Checkpointer(threading.RLock(), connect)
    copier.watch(writer)
    writer.execute("INSERT INTO t VALUES (zeroblob(?))", (PAST_THE_LINE,))
    assert began.wait(30)  # the copy began on a thread of its own
    # The commit has returned while that thread waits: the file does not hold the blob yet.
    assert os.path.getsize(path) < PAST_THE_LINE // 4
    assert os.path.getsize(path + "-wal") > PAST_THE_LINE
    go.set()
    copier.close()
    assert os.path.getsize(path) > PAST_THE_LINE
    frames = _log_frames(writer)
    writer.execute("INSERT INTO t VALUES (x'01')")
    assert frames == [1]  # every frame was in the file: this write started the log afresh


def test_no_copy_begins_while_paused(wal_file):
    path, writer = wal_file
    copier = Checkpointer(threading.RLock(), lambda: apsw.Connection(path))
    copier.watch(writer)
    copier.pause(1.0)
    writer.execute("INSERT INTO t VALUES (zeroblob(?))", (PAST_THE_LINE,))
    copier.close()  # waits for a copy, were one under way
    assert os.path.getsize(path) < PAST_THE_LINE // 4
    copier = Checkpointer(threading.RLock(), lambda: apsw.Connection(path))
    copier.watch(writer)
    copier.pause(1.0)
    copier.resume()
    writer.execute("INSERT INTO t VALUES (x'01')")  # the next commit past the line starts one
    copier.close()
    assert os.path.getsize(path) > PAST_THE_LINE


def test_a_copy_that_fails_loses_nothing_and_the_next_commit_tries_again(wal_file, monkeypatch):
    path, writer = wal_file
    escaped = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    tries = []

    def connect():
        tries.append(1)
        if len(tries) == 1:
            raise StoreError("cannot open the file")
        return apsw.Connection(path)

    copier = Checkpointer(threading.RLock(), connect)
    copier.watch(writer)
    writer.execute("INSERT INTO t VALUES (zeroblob(?))", (PAST_THE_LINE,))
    copier.pause(30)  # waits for that copy: it failed
    copier.resume()
    assert tries == [1] and os.path.getsize(path) < PAST_THE_LINE // 4
    writer.execute("INSERT INTO t VALUES (x'01')")
    copier.close()
    assert len(tries) == 3 and escaped == []  # the failed open, then the copy's two connections
    assert os.path.getsize(path) > PAST_THE_LINE
    assert writer.execute("SELECT count(*), sum(length(b)) FROM t").get == (2, PAST_THE_LINE + 1)


def test_a_store_commits_past_the_line_without_copying(tmp_path, monkeypatch):
    from runlite.storage import connection

    go = threading.Event()

    class Held(Checkpointer):  # its copies wait for `go`
        def __init__(self, write_lock, connect):
            super().__init__(write_lock, lambda: go.wait(30) and connect())

    monkeypatch.setattr(connection, "Checkpointer", Held)
    path = str(tmp_path / "runs.db")
    rnd = random.Random(7)
    with runlite.open(path) as store:
        with store.init("wide") as run:
            for _ in range(600):  # 600,000 random floats: about 5 MB of chunks
                run.log_metrics({f"m{k}": rnd.random() for k in range(1000)})
        # Every commit returned while the copy waited: the points are in the log alone.
        assert os.path.getsize(path + "-wal") > LOG_PAGES * PAGE
        assert os.path.getsize(path) < LOG_PAGES * PAGE // 4
        go.set()
    with runlite.open(path, read_only=True) as store:
        assert len(store.metric_values(store.runs()[0].id, "m999").values) == 600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_fork_waits_for_a_copy_under_way(tmp_path, monkeypatch):
    # The child then closes the copies' connection like an idle reader, never inheriting one
    # inside a checkpoint (whose file locks would not be the child's).
    from runlite.storage import connection

    go = threading.Event()

    class Held(Checkpointer):
        def __init__(self, write_lock, connect):
            super().__init__(write_lock, lambda: go.wait(30) and connect())

    monkeypatch.setattr(connection, "Checkpointer", Held)
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as store:
        with store.init("parent") as run:
            run.log_metrics({"x": 1.0})
            for _ in range(10):  # 4 MB of events, written by the run's last commit: past the line
                run.log_event("z" * 400_000)
        threading.Timer(1.0, go.set).start()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                store.init("child").close()
                code = 0
            finally:
                os._exit(code)
        assert go.is_set()  # the fork returned only once the copy could go on
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert sorted(r.name for r in store.runs()) == ["child", "parent"]
    with runlite.open(path) as store:
        store.verify()


def test_the_log_starts_afresh_while_a_writer_commits_without_pause(tmp_path):
    # Short runs commit every millisecond or two, faster than a copy syncs the disk: each
    # round leaves new frames, and only the last few copied under the write lock let the log
    # start afresh. Without that it grows by every commit (over 5,000 pages here).
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as store:
        largest = _largest_log(store, "job", 200)
    assert largest > LOG_PAGES * PAGE  # the workload crossed the line
    assert largest < CEILING  # a frame is a page and its 24-byte header
    assert "runlite-checkpoint" not in {t.name for t in threading.enumerate()}
    assert not os.path.exists(path + "-wal")  # the store's close copied the rest and removed the log
    with runlite.open(path, read_only=True) as store:
        runs = store.runs()
        assert len(runs) == 200
        assert all(store.metric_values(run.id, "m1").values.tolist() == [i + 0.5 for i in range(100)] for run in runs)


def test_writes_wait_for_a_copy_the_disk_makes_slow(tmp_path, monkeypatch):
    # A busy disk's sync took 50 ms and more: the writer committed thousands of pages while
    # a copy went on, and the log passed 4,000 pages. Here each copy starts 0.3 s late.
    path = str(tmp_path / "runs.db")
    copy = Checkpointer._copy
    monkeypatch.setattr(Checkpointer, "_copy", lambda self: time.sleep(0.3) or copy(self))
    with runlite.open(path) as store:
        largest = _largest_log(store, "job", 150)
    assert LOG_PAGES * PAGE < largest < CEILING
    with runlite.open(path, read_only=True) as store:
        assert len(store.runs()) == 150


def test_writes_do_not_wait_for_copies_a_reader_holds_back(tmp_path, monkeypatch):
    # A reader in another connection holds frames of the log: no copy can end it, so past
    # the ceiling writes go on without waiting (one round tells; then the log just grows).
    path = str(tmp_path / "runs.db")
    waits = []
    wait = Checkpointer.wait
    monkeypatch.setattr(Checkpointer, "wait", lambda self: waits.append(1) or wait(self))
    with runlite.open(path) as store:
        with store.init("first") as run:
            run.log_metrics({"a": 1.0})
        reader = apsw.Connection(path)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM runs").fetchall()
        assert _largest_log(store, "job", 300) > 3 * CEILING  # the log grew past the ceiling, held
        reader.execute("COMMIT")
        reader.close()
    assert len(waits) <= 2


def _largest_log(store, name: str, runs: int) -> int:
    """Short runs written without a pause (100 records of 10 floats each): the log's largest
    size in bytes after a run's end."""
    largest = 0
    for r in range(runs):
        with store.init(f"{name}-{r}") as run:
            for i in range(100):
                run.log_metrics({f"m{k}": i + k / 2 for k in range(10)})
        largest = max(largest, os.path.getsize(store.path + "-wal"))
    return largest


def _short_runs(path: str, name: str, runs: int, found) -> None:
    with runlite.open(path) as store:
        found.put(_largest_log(store, name, runs))


def test_the_log_starts_afresh_while_writers_in_several_processes_commit(tmp_path):
    # Each process's last round also holds the file's write lock (when free), so no other
    # process commits during it either: the log is all copied, and the next write starts it
    # afresh. Holding only its own process's lock, the log grew to 9,000 pages here.
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    path = str(tmp_path / "runs.db")
    runlite.open(path).close()
    found = ctx.Queue()
    workers = [ctx.Process(target=_short_runs, args=(path, f"p{k}", 150, found)) for k in range(4)]
    for w in workers:
        w.start()
    largest = max(found.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    assert largest > LOG_PAGES * PAGE
    assert largest < 3 * LOG_PAGES * (PAGE + 24)
    with runlite.open(path, read_only=True) as store:
        assert len(store.runs()) == 600
