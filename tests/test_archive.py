"""verify and backup."""

import math
import os
import subprocess
import sys
import time

import pytest

import runlite


@pytest.fixture
def full(store):
    """A store with a bit of everything."""
    run = store.init("full")
    for i in range(5000):
        run.log_metrics({"a": float(i), "b": math.nan if i % 9 == 0 else i / 3})
        if i % 1000 == 0:
            run.flush()
    run.log_event("hello")
    run.attach("notes.txt", b"notes " * 5000, "text/plain")
    run.close()
    with runlite.trace("span", store=store):
        pass
    return store


def _sql(store, sql, params=()):
    with store._db.write() as conn:
        conn.execute(sql, params)


def test_verify_healthy(full):
    report = full.verify()
    assert report.ok and report.problems == ()
    assert report.checked["blobs"] == 1 and report.checked["series"] == 2 and report.checked["chunks"] >= 2
    assert report.to_dict()["ok"] is True


def test_verify_finds_a_damaged_blob(full):
    data = bytearray(full._db._current().writer.execute("SELECT data FROM blob_parts").get)
    data[len(data) // 2] ^= 0x55
    _sql(full, "UPDATE blob_parts SET data = ?", (bytes(data),))
    report = full.verify()
    assert not report.ok and any("blob" in p for p in report.problems)


def test_verify_finds_a_damaged_chunk(full):
    data = bytearray(full._db._current().writer.execute("SELECT data FROM chunks LIMIT 1").get)
    data[-5] ^= 0xFF
    _sql(full, "UPDATE chunks SET data = ? WHERE id = (SELECT min(id) FROM chunks)", (bytes(data),))
    assert any("chunk" in p for p in full.verify().problems)


def test_verify_finds_wrong_statistics(full):
    _sql(full, "UPDATE chunks SET max = max + 1 WHERE id = (SELECT min(id) FROM chunks)")
    assert any("statistics" in p for p in full.verify().problems)
    _sql(full, "UPDATE chunks SET max = max - 1 WHERE id = (SELECT min(id) FROM chunks)")
    _sql(full, "UPDATE series SET count = count + 1 WHERE name = 'a'")
    assert any("summary" in p for p in full.verify().problems)


def test_verify_finds_schema_changes(full):
    _sql(full, "DROP INDEX runs_name")
    _sql(full, "CREATE TABLE extra (x)")
    problems = full.verify().problems
    assert any("runs_name is missing" in p for p in problems) and any("unexpected table extra" in p for p in problems)


def test_backup_copy_is_whole(full, tmp_path):
    dest = str(tmp_path / "copy.db")
    assert full.backup(dest) == dest
    with runlite.open(dest, read_only=True) as copy:
        assert copy.verify().ok
        assert len(copy.metric_values("full", "a")) == 5000
        assert copy.read_attachment("full", "notes.txt") == b"notes " * 5000
    with pytest.raises(runlite.ValidationError, match="exists"):
        full.backup(dest)
    full.backup(dest, overwrite=True)
    with pytest.raises(runlite.NotFoundError):
        full.backup(str(tmp_path / "no" / "such" / "dir.db"))


def test_backup_from_read_only_and_memory(full, tmp_path):
    with runlite.open(full.path, read_only=True) as ro:
        ro.backup(str(tmp_path / "ro.db"))
    with runlite.open(":memory:") as mem:
        mem.init("m").close()
        mem.backup(str(tmp_path / "mem.db"))
    with runlite.open(str(tmp_path / "mem.db"), read_only=True) as back:
        assert [r.name for r in back.runs()] == ["m"]


WRITER = """
import runlite, sys
s = runlite.open(sys.argv[1], timeout=60)
run = s.init(sys.argv[2])
for i in range(30000):
    run.log_metrics({"x": float(i)})
    if i % 1000 == 0:
        run.flush()
run.close()
"""


def test_backup_while_processes_write(db_path, tmp_path):
    runlite.open(db_path).close()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, db_path, f"w{k}"], env=env, stderr=subprocess.PIPE)
             for k in range(4)]
    copies = []
    with runlite.open(db_path) as store:
        time.sleep(0.3)
        for k in range(3):
            copies.append(store.backup(str(tmp_path / f"copy{k}.db")))
            time.sleep(0.1)
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    for path in copies:
        with runlite.open(path, read_only=True) as copy:
            report = copy.verify()
            assert report.ok, report.problems
            for rec in copy.runs():
                try:
                    xs = copy.metric_values(rec.id, "x")
                except runlite.NotFoundError:
                    continue
                assert list(xs.steps) == list(range(len(xs)))  # whole flushes only
