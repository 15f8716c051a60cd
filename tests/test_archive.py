"""verify and backup."""

import math
import os
import subprocess
import sys
import time

import apsw
import pytest

import runlite

from .plans import read_steps


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
    with store.database.write() as conn:
        conn.execute(sql, params)


def test_verify_healthy(full):
    report = full.verify()
    assert report.ok and report.problems == ()
    assert report.checked["blobs"] == 1 and report.checked["series"] == 2 and report.checked["chunks"] >= 2
    assert report.to_dict()["ok"] is True


def test_verify_finds_a_damaged_blob(full):
    data = bytearray(full.sql("SELECT data FROM blob_parts").rows[0][0])
    data[len(data) // 2] ^= 0x55
    _sql(full, "UPDATE blob_parts SET data = ?", (bytes(data),))
    report = full.verify()
    assert not report.ok and any("blob" in p for p in report.problems)


def test_verify_finds_a_damaged_chunk(full):
    data = bytearray(full.sql("SELECT data FROM chunks LIMIT 1").rows[0][0])
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


def _tables(store):
    with store.database.read() as conn:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}


def test_export_covers_every_table(store):
    from runlite.storage import archive

    handled = {t for t, _ in archive.EXPORTED} | set(archive.NOT_EXPORTED)
    assert handled == _tables(store)  # a new table must be exported or excluded on purpose


def _two_traces(store):
    a = store.init("a", tags=["keep"], folder="/x/y", metadata={"k": 1})
    for i in range(3000):
        a.log_metrics({"m": float(i)})
    a.log_event("from a")
    a.attach("a.bin", b"a" * 5000, "application/octet-stream")
    a.create_user_alert("flag")
    a.log_alert(name="flag")
    child = a.child("a-child")
    child.end(outputs={"x": 1})
    a.close()
    store.create_feedback(child.id, "score", score=1)
    b = store.init("b", folder="/other")
    b.attach("b.bin", b"b" * 5000, "application/octet-stream")
    b.log_metrics({"m": 9.0})
    b.close()
    return a, child, b


def test_export_selected_runs_with_their_traces(store, tmp_path):
    a, child, b = _two_traces(store)
    dest = str(tmp_path / "out.db")
    counts = store.export(dest, run_ids=[child.id])  # a child brings its whole trace
    assert counts["runs"] == 2 and counts["blobs"] == 1
    with runlite.open(dest, read_only=True) as out:
        assert sorted(r.name for r in out.runs()) == ["a", "a-child"]
        assert out.folders() == ["/", "/x", "/x/y"]
        assert list(out.metric_values("a", "m").values) == [float(i) for i in range(3000)]
        assert out.metric_summary("a", "m") == store.metric_summary(a.id, "m")
        assert [e.message for e in out.events("a")] == ["from a"]
        assert out.read_attachment("a", "a.bin") == b"a" * 5000
        assert [s.state for s in out.alerts("a")] == ["critical"]
        assert out.read_run(child.id).feedback_stats["score"]["n"] == 1
        assert out.get_run("a").tags == ("keep",) and len(out.list_runs(filter='has(tags, "keep")')) == 1
        assert out.verify().ok
        with pytest.raises(runlite.NotFoundError):
            out.get_run("b")


def test_export_by_filter_all_and_without_files(store, tmp_path):
    _two_traces(store)
    store.export(str(tmp_path / "f.db"), filter=["folder.path == /other"])
    with runlite.open(str(tmp_path / "f.db"), read_only=True) as out:
        assert [r.name for r in out.runs()] == ["b"]
    store.export(str(tmp_path / "all.db"))
    with runlite.open(str(tmp_path / "all.db"), read_only=True) as out:
        assert len(out.runs()) == 3 and out.verify().ok
    counts = store.export(str(tmp_path / "nofiles.db"), include_attachments=False)
    assert "attachments" not in counts and counts["blobs"] == 0  # only media's blobs go (there are none)
    with runlite.open(str(tmp_path / "nofiles.db"), read_only=True) as out:
        assert out.attachments("a") == [] and out.verify().ok


def test_export_refusals(store, tmp_path):
    store.init("x").close()
    dest = tmp_path / "exists.db"
    dest.write_bytes(b"")
    with pytest.raises(runlite.ValidationError, match="exists"):
        store.export(str(dest))
    with pytest.raises(runlite.ValidationError):
        store.export(str(tmp_path / "y.db"), run_ids=["x"], filter=["name == x"])
    with runlite.open(":memory:") as mem:
        with pytest.raises(runlite.ValidationError, match="in-memory"):
            mem.export(str(tmp_path / "z.db"))
    with pytest.raises(runlite.NotFoundError):
        store.export(str(tmp_path / "w.db"), run_ids=["no-such-run"])
    assert not (tmp_path / "w.db").exists()


def test_delete_runs_whole_subtrees_and_everything_theirs(store, tmp_path):
    a, child, b = _two_traces(store)
    assert store.delete_runs([a.id]) == 2  # a and its child
    assert [r.name for r in store.runs()] == ["b"]
    with store.database.read() as conn:
        for table in ("series", "events", "attachments", "run_alerts", "feedback", "run_tags"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE run_id IN (?, ?)", (a.id, child.id)).get == 0
        assert conn.execute("SELECT count(*) FROM blobs").get == 2  # blobs wait for pack()
    assert store.verify().ok
    assert store.pack()["blobs_dropped"] == 1
    assert store.read_attachment("b", "b.bin") == b"b" * 5000
    assert store.verify().ok


def test_delete_runs_by_filter_and_age(store):
    _two_traces(store)
    assert store.delete_runs(filter=["folder.path == /other"]) == 1
    assert store.delete_runs(older_than="2000-01-01T00:00:00Z") == 0
    assert store.delete_runs(older_than=time.time() + 60) == 2
    assert store.runs() == []
    with pytest.raises(runlite.ValidationError):
        store.delete_runs()
    live = store.init("live")
    with pytest.raises(runlite.RunStateError):
        store.delete_runs([live.id])


def test_delete_runs_refuses_a_run_open_below_it_or_on_another_store_of_the_file(store, db_path):
    """Deleted, such a run's next flush failed for good on its missing row (a foreign key)."""
    parent = store.init("parent")
    child = parent.child("child")
    parent.close()
    child.log_metrics({"x": 1.0})
    with pytest.raises(runlite.RunStateError, match=child.id):
        store.delete_runs([parent.id])
    other = runlite.open(db_path)
    try:
        with pytest.raises(runlite.RunStateError, match=child.id):
            other.delete_runs([child.id])
    finally:
        other.close()
    child.log_metrics({"x": 2.0})
    child.close()
    assert list(store.metric_values(child.id, "x").values) == [1.0, 2.0]
    assert store.delete_runs([parent.id]) == 2  # closed: deleted with its parent


def _sqlite_memory_peak(call) -> int:
    """The most memory SQLite held at once during ``call()`` beyond what it held before (bytes)."""
    before = apsw.memory_used()
    apsw.memory_high_water(True)
    call()
    return apsw.memory_high_water() - before


@pytest.mark.parametrize("action", ["delete", "pack"])
def test_deleting_a_big_run_and_packing_hold_little_memory(tmp_path, action):
    """A run deleted with all its rows is one statement whose journal holds every page it
    changes, and VACUUM copies the whole file: SQLite keeps both in temporary files, not in
    memory (with temporary storage in memory, deleting a run of 1,000,000 events held 236 MiB)."""
    path = str(tmp_path / "bulk.db")
    with runlite.open(path) as store:
        with store.init("events") as run:
            for i in range(60_000):
                run.log_event(f"event {i} with a message of some length to fill pages")
        store.init("other").close()
        if action == "delete":
            work = lambda: store.delete_runs([run.id])  # noqa: E731
        else:
            store.delete_runs([run.id])
            work = store.pack
        peak = _sqlite_memory_peak(work)
        assert peak < os.path.getsize(path) / 4 and peak < 6 << 20, peak
        assert [r.name for r in store.runs()] == ["other"]


def test_runs_to_delete_says_what_delete_runs_deletes_and_changes_nothing(store):
    a, child, b = _two_traces(store)
    grandchild = store.init("grandchild", parent=child.id, running=False)
    before = store.sql("SELECT id, name FROM runs ORDER BY id").rows
    assert store.runs_to_delete([child.id, a.id, child.id]) == [child.id, grandchild.id, a.id]
    assert store.runs_to_delete(filter=["folder.path == /other"]) == [b.id]
    assert store.runs_to_delete(older_than=time.time() + 60) == [a.id, child.id, grandchild.id, b.id]
    assert store.sql("SELECT id, name FROM runs ORDER BY id").rows == before
    with pytest.raises(runlite.ValidationError):
        store.runs_to_delete()
    with pytest.raises(runlite.NotFoundError):
        store.runs_to_delete(["no-such-run"])
    assert store.delete_runs(store.runs_to_delete([a.id])) == 3
    assert [r.name for r in store.runs()] == ["b"]


def test_pack_dry_run_says_what_is_reclaimed_and_changes_nothing(store, tmp_path):
    run = store.init("big")
    run.attach("blob", os.urandom(200_000), "application/octet-stream")
    run.close()
    store.init("kept").close()
    assert store.pack(dry_run=True)["blobs_unused"] == 0
    store.delete_runs([run.id])
    size = os.path.getsize(store.path)
    dry = store.pack(dry_run=True)
    assert dry["blobs_unused"] == 1 and 200_000 <= dry["blob_bytes"] < 210_000 and dry["free_bytes"] >= 0
    assert store.pack(dry_run=True) == dry and os.path.getsize(store.path) == size
    assert store.pack()["blobs_dropped"] == 1
    assert store.pack(dry_run=True)["blobs_unused"] == 0
    with pytest.raises(runlite.ValidationError, match="dry_run"):
        store.pack(dry_run="yes")


def test_pack_dry_run_counts_the_blobs_of_images_and_tables_as_used(store):
    """Only attachments were counted: a logged image or table was called reclaimable."""
    run = store.init("media")
    run.log_image("img", __import__("numpy").zeros((2, 2), "uint8"))
    run.log_table("t", [{"a": 1}, {"a": 2}])
    run.close()
    assert store.pack(dry_run=True)["blobs_unused"] == 0
    assert store.pack()["blobs_dropped"] == 0 and len(store.images(run.id, "img")) == 1


def test_pack_into_an_existing_file_changes_nothing(store, tmp_path):
    run = store.init("gone")
    run.attach("blob", b"x" * 5000, "application/octet-stream")
    run.close()
    store.delete_runs([run.id])
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"someone's file")
    with pytest.raises(runlite.ValidationError, match="exists"):
        store.pack(dest=str(taken))
    assert taken.read_bytes() == b"someone's file" and store.pack(dry_run=True)["blobs_unused"] == 1


def test_copies_refuse_their_own_file_a_folder_and_an_existing_file_unless_overwrite(store, tmp_path):
    store.init("kept").close()
    taken = tmp_path / "taken.db"
    link = tmp_path / "link.db"
    os.symlink(store.path, link)
    for copy in (lambda dest, **kw: store.backup(dest, **kw), lambda dest, **kw: store.export(dest, **kw),
                 lambda dest, **kw: store.pack(dest=dest, **kw)):
        taken.write_bytes(b"someone's file")
        with pytest.raises(runlite.ValidationError, match="exists; pass overwrite=True"):
            copy(str(taken))
        assert taken.read_bytes() == b"someone's file"
        for own in (store.path, str(link)):  # never over the file it reads, even when asked to
            with pytest.raises(runlite.ValidationError, match="is the file"):
                copy(own, overwrite=True)
        with pytest.raises(runlite.ValidationError, match="is a directory"):
            copy(str(tmp_path), overwrite=True)
        with pytest.raises(runlite.NotFoundError, match="folder of"):
            copy(str(tmp_path / "no" / "such.db"))
        copy(str(taken), overwrite=True)
        with runlite.open(str(taken), read_only=True) as copied:
            assert [r.name for r in copied.runs()] == ["kept"]
    assert [r.name for r in store.runs()] == ["kept"] and store.verify().ok


def test_copies_refuse_the_files_sqlite_keeps_beside_their_own(tmp_path):
    """Renamed over the store's write-ahead log, a copy took what was committed but not yet
    checkpointed with it: every run, for a reader open beside the writer."""
    path = str(tmp_path / "runs.db")
    odd = str(tmp_path / "odd.db-wal")  # a store whose own name ends like a log
    with runlite.open(path) as store, runlite.open(path, read_only=True) as reader, runlite.open(odd) as other:
        with store.init("kept") as run:
            run.log_metrics({"x": 1.0})
        store.flush()
        assert os.path.exists(path + "-wal")
        copies = (lambda s, dest: s.backup(dest, overwrite=True), lambda s, dest: s.export(dest, overwrite=True),
                  lambda s, dest: s.pack(dest=dest, overwrite=True))
        for copy in copies:
            for sidecar in ("-wal", "-shm", "-journal"):
                with pytest.raises(runlite.ValidationError, match="one SQLite keeps beside it"):
                    copy(store, path + sidecar)
            with pytest.raises(runlite.ValidationError, match="one SQLite keeps beside it"):
                copy(other, odd[:-len("-wal")])  # whose own log is the store
        assert [r.name for r in reader.runs()] == ["kept"]
    with runlite.open(path, read_only=True) as again:
        assert [r.name for r in again.runs()] == ["kept"] and again.verify().ok


def test_copies_refuse_to_replace_a_file_a_program_holds_open(store, tmp_path):
    """Replaced under a store that holds it, a file took with it all that store wrote after:
    its runs went into the unlinked file, acknowledged and lost."""
    store.init("source run").close()
    dest = str(tmp_path / "theirs.db")
    copies = (lambda **kw: store.backup(dest, overwrite=True), lambda **kw: store.export(dest, overwrite=True, **kw),
              lambda **kw: store.pack(dest=dest, overwrite=True, **kw))
    with runlite.open(dest) as theirs:
        with theirs.init("theirs") as run:
            run.log_metrics({"x": 1.0})
        for copy in copies:
            with pytest.raises(runlite.StoreBusyError, match="is open in a program"):
                copy()
        with theirs.init("after") as run:  # the holder goes on, into the file everyone sees
            run.log_metrics({"x": 2.0})
    with runlite.open(dest, read_only=True) as again:
        assert sorted(r.name for r in again.runs()) == ["after", "theirs"]
    # Opened while the copy was being made: checked again before the rename, nothing replaced.
    for copy in copies[1:]:
        held = []

        def open_theirs(*_args):
            if not held:
                held.append(runlite.open(dest))

        with pytest.raises(runlite.StoreBusyError, match="is open in a program"):
            copy(progress=open_theirs)
        held[0].close()
        assert not [f for f in os.listdir(tmp_path) if "partial" in f]
        with runlite.open(dest, read_only=True) as again:
            assert sorted(r.name for r in again.runs()) == ["after", "theirs"]
    for copy in copies:  # closed, it is replaced
        copy()
        with runlite.open(dest, read_only=True) as copied:
            assert [r.name for r in copied.runs()] == ["source run"]


def test_pack_in_place_and_into_a_new_file(store, tmp_path):
    run = store.init("big")
    run.attach("blob", os.urandom(200_000), "application/octet-stream")
    run.close()
    store.delete_runs([run.id])
    before = os.path.getsize(store.path)
    store.pack()
    with store.database.read() as conn:
        assert conn.execute("SELECT count(*) FROM blob_parts").get == 0
    assert os.path.getsize(store.path) <= before
    store.init("kept").close()
    dest = str(tmp_path / "packed.db")
    assert store.pack(dest=dest)["dest"] == dest
    with runlite.open(dest, read_only=True) as packed:
        assert [r.name for r in packed.runs()] == ["kept"] and packed.verify().ok
    with pytest.raises(runlite.ValidationError, match="exists"):
        store.pack(dest=dest)


def test_long_operations_report_progress(full, tmp_path):
    seen = {"export": [], "merge": [], "pack": []}
    full.export(str(tmp_path / "e.db"), progress=lambda d, t: seen["export"].append((d, t)))
    with runlite.open(str(tmp_path / "m.db")) as other:
        other.merge(str(tmp_path / "e.db"), progress=lambda d, t: seen["merge"].append((d, t)))
        other.pack(progress=lambda d, t: seen["pack"].append((d, t)))
    for name, calls in seen.items():
        assert calls and calls[-1][0] == calls[-1][1], name  # ends at done == total
        assert [d for d, _ in calls] == sorted(d for d, _ in calls), name


def test_pack_merges_small_chunks(store, monkeypatch):
    from runlite.storage import metrics as metrics_mod

    monkeypatch.setattr(metrics_mod, "TARGET_CHUNK_POINTS", 1)  # every flush makes a new chunk
    run = store.init("fragmented")
    expected = []
    for i in range(300):
        value = float("nan") if i % 50 == 0 else i * 0.5
        run.log_metrics({"x": value}, time=i * 0.1 if i % 2 else None)
        expected.append(value)
        if i % 3 == 0:
            run.flush()
    run.close()
    with store.database.read() as conn:
        before = conn.execute("SELECT count(*) FROM chunks").get
    summary = store.metric_summary(run.id, "x")
    values = store.metric_values(run.id, "x")
    assert before > 50
    done = store.pack()
    assert done["series_rechunked"] == 1
    with store.database.read() as conn:
        assert conn.execute("SELECT count(*) FROM chunks").get == 1
    after = store.metric_values(run.id, "x")
    assert after == values  # every column, bit for bit
    assert repr(store.metric_summary(run.id, "x")) == repr(summary)  # repr: NaN == NaN
    assert store.metric_stats(run.id, "x", start=10, stop=200).count == 191
    assert store.verify().ok


def _wide_trace(path, steps: int):
    """A root, ``steps`` chain spans below it, a leaf below each; the store (read-only) and the
    chain spans' ids."""
    with runlite.open(path) as store:
        root = store.init("root", run_type="chain")
        chain = []
        for i in range(steps):
            step = root.child(f"s{i}", run_type="chain")
            step.child(f"leaf{i}", run_type="llm").end()
            step.end()
            chain.append(step.id)
        root.close()
    return runlite.open(path, read_only=True), chain


def test_a_span_with_its_subtree_is_read_as_its_own_range_of_the_trace(tmp_path):
    """Deleting chosen spans, a span's compact tree and a span read with its children read each
    span's own range of its trace, however large the trace: asked as ``id = ? OR (range)``, each
    span walked the whole trace (deleting the 16,000 llm spans of one trace took 81 s)."""
    work = []
    for name, steps in (("small", 250), ("large", 1000)):
        store, chain = _wide_trace(tmp_path / f"{name}.db", steps)
        chosen = chain[3:13]
        with store:
            work.append([read_steps(store, lambda: store.runs_to_delete(chosen)),
                         read_steps(store, lambda: store.span_tree(chosen[0])),
                         read_steps(store, lambda: store.read_run(chosen[0], load_child_runs=True))])
            leaf = {c: store.read_run(c, load_child_runs=True).child_runs[0].id for c in chosen}
            doomed = store.runs_to_delete(chosen)
            assert doomed == [run_id for c in chosen for run_id in (c, leaf[c])]
            tree, count = store.span_tree(chosen[0])
            assert count == 2 and [row[0] for row in tree] == doomed[:2]
    small, large = work
    assert all(b <= 2 * a + 2 for a, b in zip(small, large)), work
