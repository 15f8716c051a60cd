"""A span whose parent its own store does not write is never lost: another handle on the same
file writes the parent in its own time, a parent in another process (headers) or one traced
while tracing was off is never written. The child's row needs its parent's (a foreign key),
so the writer inserts the missing ancestors first: the other handle's spans as they are,
placeholders for the rest, never over a row already stored; a placeholder's own row, when it
comes, fills it in whole."""

from __future__ import annotations

import apsw
import pytest

import runlite
from runlite.live import registry
from runlite.storage.ingest import PLACEHOLDER_NAME


@pytest.fixture(autouse=True)
def no_background_writes(monkeypatch):
    """Only closes, flushes and reads write: the order of the handles' writes is the test's."""
    monkeypatch.setattr(registry, "SPAN_AGE_US", 10**15)


def _rows(path: str) -> dict:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT id, name, kind, status, parent_run_id, trace_id, dotted_order, inputs FROM runs")}
    finally:
        conn.close()


def test_a_child_traced_on_another_handle_is_written_before_its_parent(tmp_path):
    path = str(tmp_path / "t.db")
    first, second = runlite.open(path), runlite.open(path)
    with runlite.trace("parent", store=first, inputs={"q": 1}) as parent:
        with runlite.trace("child", store=second, parent=parent, inputs={"c": 2}) as child:
            pass
        second.close()  # raised (and dropped the child) while the parent was only in memory
        rows = _rows(path)
        assert rows[child.id][:5] == ("child", "trace", "completed", parent.id, parent.id)
        # The parent's row as it was then, written by the child's handle.
        assert rows[parent.id][:4] == ("parent", "trace", "running", None)
        assert rows[parent.id][6] == '{"q":1}'
    first.close()
    rows = _rows(path)
    assert rows[parent.id][:4] == ("parent", "trace", "completed", None)  # its own handle's write wins
    assert len(rows) == 2


def test_a_parent_already_stored_is_left_as_its_own_handle_wrote_it(tmp_path):
    path = str(tmp_path / "t.db")
    first, second = runlite.open(path), runlite.open(path)
    try:
        with runlite.trace("parent", store=first) as parent:
            child = runlite.trace("child", store=second, parent=parent)
        first.live.flush_spans()
        raw = apsw.Connection(path)  # the stored row differs from the span the child's handle sees
        raw.execute("UPDATE runs SET outputs = '{\"stored\":1}' WHERE id = ?", (parent.id,))
        raw.close()
        child.end(outputs={"done": True})
        second.live.flush_spans()
        rows = _rows(path)
        assert rows[parent.id][2] == "completed" and rows[child.id][2] == "completed"
        assert first.get_run(parent.id).outputs == {"stored": 1}
    finally:
        first.close()
        second.close()


def test_a_grandchild_back_on_the_first_handle_gets_its_whole_chain(tmp_path):
    path = str(tmp_path / "t.db")
    first, second = runlite.open(path), runlite.open(path)
    try:
        with runlite.trace("root", store=first) as root:
            with runlite.trace("middle", store=second, parent=root) as middle:
                with runlite.trace("leaf", store=first, parent=middle) as leaf:
                    pass
        first.live.flush_spans()  # the leaf's middle is only in the second handle's memory
        rows = _rows(path)
        assert [rows[s.id][0] for s in (root, middle, leaf)] == ["root", "middle", "leaf"]
        assert rows[leaf.id][3] == middle.id and rows[middle.id][3] == root.id
    finally:
        second.close()
        first.close()
    assert _rows(path)[middle.id][2] == "completed"


def test_a_parent_in_another_process_gets_placeholders_and_nothing_else_is_lost(tmp_path):
    upstream_path, here = str(tmp_path / "up.db"), str(tmp_path / "here.db")
    with runlite.open(upstream_path) as upstream_store:
        with runlite.trace("root", store=upstream_store) as root:
            with runlite.trace("call", store=upstream_store) as call:
                headers = {"langsmith-trace": call.dotted_order}
    with runlite.open(here) as store:
        with runlite.trace("served", store=store, parent=headers) as served:
            pass
        with runlite.trace("unrelated", store=store) as unrelated:
            pass
    rows = _rows(here)
    assert rows[served.id][:5] == ("served", "trace", "completed", call.id, root.id)
    assert rows[unrelated.id][0] == "unrelated"
    # The remote call and its root, as a received run's missing parents are kept.
    assert rows[call.id][:4] == (PLACEHOLDER_NAME, "placeholder", "running", root.id)
    assert rows[root.id][:4] == (PLACEHOLDER_NAME, "placeholder", "running", None)
    assert rows[call.id][5] == call.dotted_order and rows[root.id][5] == root.dotted_order
    with runlite.open(here, read_only=True) as reader:
        assert [c.name for c in reader.trace(root.id).child_runs[0].child_runs] == ["served"]


@pytest.mark.parametrize("upstream_first", [True, False])
def test_a_placeholder_is_filled_in_by_the_parent_written_later(tmp_path, upstream_first):
    """Headers of a span this process traced into the same file, on another handle that writes
    it after the child: the placeholder becomes the span, every column of it."""
    path = str(tmp_path / "t.db")
    first, second = runlite.open(path), runlite.open(path)
    try:
        with runlite.trace("upstream", store=first, inputs={"u": 1}, tags=["t"]) as upstream:
            headers = {"langsmith-trace": upstream.dotted_order}
        if upstream_first:
            first.flush()
        with runlite.trace("downstream", store=second, parent=headers) as downstream:
            pass
        second.live.flush_spans()  # its own spans only
        if not upstream_first:
            assert _rows(path)[upstream.id][:2] == (PLACEHOLDER_NAME, "placeholder")
        first.live.flush_spans()
        rows = _rows(path)
        assert rows[upstream.id][:4] == ("upstream", "trace", "completed", None)
        assert rows[upstream.id][6] == '{"u":1}'
        assert rows[downstream.id][3] == upstream.id
        assert first.get_run(upstream.id).tags == ("t",)
    finally:
        first.close()
        second.close()


def test_headers_of_a_span_in_the_same_batch_keep_its_own_row(tmp_path):
    path = str(tmp_path / "t.db")
    with runlite.open(path) as store:
        with runlite.trace("upstream", store=store, inputs={"u": 1}) as upstream:
            headers = {"langsmith-trace": upstream.dotted_order}
        with runlite.trace("downstream", store=store, parent=headers) as downstream:
            pass
    rows = _rows(path)
    assert rows[upstream.id][:3] == ("upstream", "trace", "completed")
    assert rows[downstream.id][3] == upstream.id


def test_a_child_of_a_span_traced_while_tracing_was_off_keeps_the_off_span_out(tmp_path):
    path = str(tmp_path / "t.db")
    with runlite.open(path) as store:
        with runlite.trace("root", store=store) as root:
            with runlite.tracing_context(enabled=False):
                with runlite.trace("secret", store=store, inputs={"password": "hunter2"}) as off:
                    pass
            with runlite.trace("child", store=store, parent=off) as child:
                pass
    rows = _rows(path)
    assert rows[child.id][3] == off.id
    assert rows[off.id][:4] == (PLACEHOLDER_NAME, "placeholder", "running", root.id)
    assert rows[off.id][6] is None and "hunter2" not in repr(rows)
    assert rows[root.id][:3] == ("root", "trace", "completed")


def _fork(child) -> None:
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            child()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork() is POSIX only")
def test_a_forked_child_traces_under_its_parents_spans_without_writing_them_again(tmp_path):
    """The child's spans name the forking thread's spans as parents, by the ids the parent
    process writes them under (made at the fork), and the child never writes the spans it
    inherited: neither those waiting at the fork nor its stale copies of them later."""
    path = str(tmp_path / "t.db")
    store = runlite.open(path)

    @runlite.traceable(store=store)
    def work(x):
        return x

    with runlite.trace("job", store=store) as job:
        work(1)

        def child():
            work(2)
            job.end(outputs={"stale": True})  # the child's copy: never written
            store.flush()

        _fork(child)
        work(3)
        job.end(outputs={"answer": 42})
    store.close()
    rows = _rows(path)
    assert sorted(r[0] for r in rows.values()) == ["job", "work", "work", "work"]
    assert {r[4] for r in rows.values()} == {job.id}  # one trace
    assert {r[3] for r in rows.values() if r[0] == "work"} == {job.id}
    assert rows[job.id][2] == "completed"
    with runlite.open(path, read_only=True) as reader:
        assert reader.get_run(job.id).outputs == {"answer": 42}


def test_an_imported_run_fills_in_its_placeholder(tmp_path):
    path, other = str(tmp_path / "t.db"), str(tmp_path / "here.db")
    with runlite.open(path) as s:
        with runlite.trace("upstream", store=s) as upstream:
            headers = {"langsmith-trace": upstream.dotted_order}
    with runlite.open(other) as s:
        with runlite.trace("served", store=s, parent=headers) as served:
            pass
    with runlite.open(path, read_only=True) as s:
        record = s.get_run(upstream.id).to_dict()
    with runlite.open(other) as s:
        assert s.get_run(upstream.id).name == PLACEHOLDER_NAME
        assert s.import_runs([record]) == [upstream.id]
        assert s.get_run(upstream.id).name == "upstream"
        assert [c.id for c in s.trace(upstream.id).child_runs] == [served.id]
        with pytest.raises(runlite.ValidationError, match="already exists"):  # a run now, not a placeholder
            s.import_runs([record])


def test_a_child_on_a_store_opened_after_its_parents_store_closed_keeps_its_parent(tmp_path):
    path = str(tmp_path / "t.db")
    first = runlite.open(path)
    with runlite.trace("parent", store=first) as parent:
        pass
    first.close()  # the last store on the file: the next one is opened afresh
    with runlite.open(path) as again:
        with runlite.trace("child", store=again, parent=parent) as child:
            pass
    rows = _rows(path)
    assert rows[child.id][3] == parent.id and rows[child.id][4] == parent.id


def test_a_span_started_on_a_closed_store_is_refused_and_one_ended_after_it_is_said(tmp_path, caplog):
    """Both were accepted and never written, without a word."""
    path = str(tmp_path / "t.db")
    store = runlite.open(path)
    span = runlite.trace("open-across-close", store=store)
    store.close()
    with pytest.raises(runlite.StoreClosedError):
        runlite.trace("late", store=store)
    span.end(outputs={"x": 1})  # the traced call has its result: not raised, but logged
    assert any("changed after its store closed" in r.getMessage() for r in caplog.records)
    assert _rows(path)[span.id][2] == "running"  # as the close wrote it
