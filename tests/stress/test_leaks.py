"""Opening and closing many stores, and every error path, leaks nothing.

After thousands of opens (files and ``:memory:``, each with a write and a read) and many
rounds of every error path: no more open file descriptors, no more threads, and no SQLite
connection of runlite left open (``apsw.connections()``) than before.
"""

import gc
import os
import shutil
import threading

import apsw
import pytest

import runlite
from runlite.storage import schema
from tests.stress.conftest import check_file, count

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")

OPENS = count(500, 10_000)
ERROR_ROUNDS = count(20, 500)


def _resources(folder):
    """(open descriptors, live threads, open SQLite connections to files under ``folder``)."""
    gc.collect()
    ours = [c for c in apsw.connections() if (c.filename or "").startswith(str(folder))]
    return len(os.listdir("/proc/self/fd")), threading.active_count(), len(ours)


def _open_write_read(path):
    with runlite.open(path) as store:
        with store.init(metadata={"k": 1}) as run:  # starts the background ticker
            run.log_metrics({"x": 1.0})
        assert store.metric_values(run.id, "x").values[0] == 1.0
        assert len(store.runs(limit=1)) == 1


def _files(folder):
    """The files the error paths use, made once."""
    f = {name: str(folder / name) for name in
         ("good.db", "garbage.db", "empty.db", "other.db", "newer.db", "corrupt.db", "hostile.db", "busy.db")}
    _open_write_read(f["good.db"])
    with open(f["garbage.db"], "wb") as out:
        out.write(os.urandom(8192))
    open(f["empty.db"], "wb").close()
    other = apsw.Connection(f["other.db"])
    other.execute("PRAGMA application_id=1234; CREATE TABLE t(x); INSERT INTO t VALUES (1)")
    other.close()
    shutil.copy(f["good.db"], f["newer.db"])
    newer = apsw.Connection(f["newer.db"])
    newer.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    newer.close()
    shutil.copy(f["good.db"], f["corrupt.db"])
    with open(f["corrupt.db"], "r+b") as damaged:  # every page after the first two, overwritten
        damaged.seek(2 * 4096)
        damaged.write(b"\xa5" * (os.path.getsize(f["corrupt.db"]) - 2 * 4096))
    shutil.copy(f["good.db"], f["hostile.db"])
    hostile = apsw.Connection(f["hostile.db"])  # a foreign trigger and view in a runlite file
    hostile.execute("CREATE TRIGGER evil AFTER INSERT ON runs BEGIN DELETE FROM runs; END;"
                    "CREATE VIEW spy AS SELECT * FROM runs")
    hostile.close()
    _open_write_read(f["busy.db"])
    return f


def _error_paths(f, folder):
    """Every error path once; each must raise a RunliteError. Returns how many ran."""
    paths = []

    def fails(what, fn, *args, **kwargs):
        with pytest.raises(runlite.RunliteError):
            fn(*args, **kwargs)
        paths.append(what)

    fails("garbage file", runlite.open, f["garbage.db"])
    fails("garbage file, untrusted", runlite.open, f["garbage.db"], read_only=True, untrusted=True)
    fails("empty file, read-only", runlite.open, f["empty.db"], read_only=True)
    fails("another application's file", runlite.open, f["other.db"])
    fails("newer schema", runlite.open, f["newer.db"])
    fails("read_only, missing file", runlite.open, str(folder / "missing.db"), read_only=True)
    fails("read_only :memory:", runlite.open, ":memory:", read_only=True)
    fails("bad timeout", runlite.open, f["good.db"], timeout=-1)

    with runlite.open(f["good.db"], read_only=True) as ro:
        fails("write on a read-only store", ro.init, "x")
        fails("no such run", ro.get_run, "no-such-run")
        run_id = ro.runs(limit=1)[0].id
        fails("no such metric", ro.metric_values, run_id, "no-such-metric")
        fails("no such attachment", ro.read_attachment, run_id, "nothing.bin")
        fails("bad prefix filter", ro.list_runs, filter='and(eq(name, "x")')
        fails("bad infix filter", ro.get_runs, ["name ~~ 1"])
        fails("unknown filter field", ro.list_runs, filter='eq(nosuchfield, 1)')
        fails("backup onto an existing file", ro.backup, f["other.db"])
    closed = runlite.open(f["good.db"])
    closed.close()
    fails("use after close", closed.runs)

    for path in (":memory:", f["good.db"]):
        with runlite.open(path) as store:
            with store.init("values") as run:
                fails("a str metric value", run.log_metrics, {"x": "1"})
                fails("an int beyond 2**53", run.log_metrics, {"x": 2 ** 60})
                fails("a bad metric name", run.log_metrics, {"": 1.0})
                fails("a bad step", run.log_metrics, {"x": 1.0}, step=-1)
                fails("NaN metadata", run.update_metadata, {"x": float("nan")})
            fails("logging on a completed run", run.log_metrics, {"x": 1.0})
            fails("merge of a foreign SQLite file", store.merge, f["other.db"])
            fails("merge of a hostile file", store.merge, f["hostile.db"])
            fails("merge of garbage", store.merge, f["garbage.db"])

    holder = apsw.Connection(f["busy.db"])  # another process's write transaction, held
    holder.execute("BEGIN IMMEDIATE")
    try:
        fails("open while the file is locked", runlite.open, f["busy.db"], timeout=0.05)
        with runlite.open(f["busy.db"], read_only=True, timeout=0.05) as reader:
            assert reader.runs(limit=1)  # reads go on
        waiting = _busy_store(f["busy.db"], holder)
        fails("write while the file is locked", waiting.init, "x")
        waiting.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    try:  # a damaged file: open, verify or a read fails with a typed error
        with runlite.open(f["corrupt.db"], read_only=True) as damaged:
            report = damaged.verify()
            assert not report.ok
            damaged.runs()
    except runlite.RunliteError:
        pass
    paths.append("verify of a corrupt file")
    return len(paths)


def _busy_store(path, holder):
    """A store opened before another connection took the write lock."""
    holder.execute("ROLLBACK")
    store = runlite.open(path, timeout=0.05)
    holder.execute("BEGIN IMMEDIATE")
    return store


def test_opens_and_error_paths_leak_nothing(tmp_path, guarantee):
    f = _files(tmp_path)
    _open_write_read(str(tmp_path / "warm.db"))  # first use: lazy imports and caches
    _error_paths(f, tmp_path)
    before = _resources(tmp_path)

    for i in range(OPENS):
        _open_write_read(":memory:" if i % 2 else str(tmp_path / f"s{i % 50}.db"))
    after_opens = _resources(tmp_path)
    ran = sum(_error_paths(f, tmp_path) for _ in range(ERROR_ROUNDS))
    after = _resources(tmp_path)

    grew = [what for what, b, a in zip(("descriptors", "threads", "connections"), before, after) if a > b]
    grew += [f"{what} after the opens" for what, b, a in
             zip(("descriptors", "threads", "connections"), before, after_opens) if a > b]
    guarantee("open/close stores and every error path", rounds=OPENS + ran, failures=len(grew),
              note=f"fds/threads/connections before {before}, after opens {after_opens}, after errors {after}; "
                   f"{ran // ERROR_ROUNDS} error paths x {ERROR_ROUNDS}")
    assert after_opens == before
    assert after == before
    assert before[2] == 0  # nothing of ours open at all
    for name in ("good.db", "busy.db", "s0.db"):
        check_file(tmp_path / name)
