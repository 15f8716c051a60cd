"""A reader in the same process sees what this process wrote, through any of its stores on the
file: a read on one Store first writes the spans, points and events other Store objects of the
process hold for that file (the README's trace quick-start reads through a second handle)."""

import gc
import logging
import os
import threading
import time

import apsw
import pytest

import runlite
from runlite.live import registry, writer


@pytest.fixture(autouse=True)
def no_background_writes(monkeypatch):
    """Nothing is written by the stores' background threads during a test: what a read sees was
    written by the read itself (so a test cannot pass by the ticker's timing)."""
    monkeypatch.setattr(registry, "SPAN_AGE_US", 10**15)
    monkeypatch.setattr(writer, "FLUSH_AGE_US", 10**15)


def _traced(store) -> str:
    @runlite.traceable(store=store)
    def answer(question: str) -> str:
        with runlite.trace("retrieve", run_type="retriever", inputs={"q": question}, store=store):
            pass
        return "42"

    assert answer("why?") == "42"
    return "answer"


def _raw_count(path: str, sql: str) -> int:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute(sql).fetchall()[0][0]
    finally:
        conn.close()


def test_a_second_handle_reads_the_spans_the_first_traced_at_once(db_path):
    tracer = runlite.open(db_path)
    reader = runlite.open(db_path)
    try:
        _traced(tracer)
        assert _raw_count(db_path, "SELECT count(*) FROM runs") == 0  # still in the tracer's memory
        root = [r for r in reader.runs() if r.parent_run_id is None][0]
        assert root.name == "answer"
        tree = reader.trace(root.trace_id)
        assert [child.name for child in tree.child_runs] == ["retrieve"]
        assert [r.name for r in reader.list_runs(filter='eq(name, "retrieve")')] == ["retrieve"]
    finally:
        reader.close()
        tracer.close()


def test_the_default_trace_store_and_runlite_open_as_in_the_readme(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runlite.set_default_store("runs.db")
    try:
        @runlite.traceable(run_type="llm")
        def call_model(prompt: str) -> str:
            return "hello"

        call_model("hi")
        (tmp_path / "sub").mkdir()
        with runlite.open(os.path.join("sub", "..", "runs.db")) as store:  # the file, spelt otherwise
            (record,) = store.runs()
            assert (record.name, record.run_type, record.status) == ("call_model", "llm", "completed")
            assert store.get_run(record.id).outputs == {"output": "hello"}
    finally:
        runlite.set_default_store(None)


def test_a_read_only_handle_and_a_symlinked_path_see_them_too(tmp_path):
    path = str(tmp_path / "runs.db")
    link = str(tmp_path / "link.db")
    tracer = runlite.open(path)
    try:
        tracer.flush()  # the file exists for the read-only handle
        os.symlink(path, link)
        with runlite.open(link, read_only=True) as reader:
            _traced(tracer)
            assert sorted(r.name for r in reader.runs()) == ["answer", "retrieve"]
    finally:
        tracer.close()


def test_metric_and_event_reads_flush_the_writing_handle(db_path):
    writing = runlite.open(db_path)
    reader = runlite.open(db_path)
    try:
        run = writing.init("train")
        for step in range(1000):
            run.log_metrics({"loss": 1 / (step + 1)})
        run.log_event("epoch done")
        assert _raw_count(db_path, "SELECT count(*) FROM events") == 0  # buffered
        values = reader.metric_values(run.id, "loss")
        assert values.steps[-1] == 999 and len(values.steps) == 1000
        assert reader.metric_summary(run.id, "loss").count == 1000
        run.log_event("second")
        assert [e.message for e in reader.events(run.id)] == ["epoch done", "second"]
        run.close()
    finally:
        reader.close()
        writing.close()


def test_flush_on_any_handle_writes_what_the_process_holds_for_raw_readers(db_path):
    tracer = runlite.open(db_path)
    other = runlite.open(db_path)
    try:
        run = tracer.init("job")
        run.log_metrics({"x": 1.0})
        _traced(tracer)
        other.flush()
        assert _raw_count(db_path, "SELECT count(*) FROM runs") == 3  # job, answer, retrieve
        assert _raw_count(db_path, "SELECT count(*) FROM series") == 1
        run.close()
    finally:
        other.close()
        tracer.close()


def test_closed_or_dropped_handles_leave_the_readers_alone(db_path):
    tracer = runlite.open(db_path)
    _traced(tracer)
    tracer.close()  # writes its spans
    dropped = runlite.open(db_path)
    del dropped
    gc.collect()
    with runlite.open(db_path) as reader:
        assert sorted(r.name for r in reader.runs()) == ["answer", "retrieve"]
        reader.flush()


def test_in_memory_stores_are_separate_files(mem):
    other = runlite.open(":memory:")
    try:
        _traced(other)
        assert mem.runs() == []
        assert [r.name for r in other.runs() if r.parent_run_id is None] == ["answer"]
    finally:
        other.close()


def test_a_failing_flush_of_another_handle_does_not_fail_the_read(db_path, caplog, monkeypatch):
    tracer = runlite.open(db_path)
    reader = runlite.open(db_path)
    try:
        with tracer.init("kept") as run:
            pass
        _traced(tracer)

        def full(*_args, **_kwargs):
            raise runlite.errors.StoreFullError("database or disk is full")

        write = registry.spans_mod.write
        monkeypatch.setattr(registry.spans_mod, "write", full)
        with caplog.at_level(logging.WARNING, logger="runlite"):
            assert [r.name for r in reader.runs()] == ["kept"]
        assert "another store of this process" in caplog.text
        monkeypatch.setattr(registry.spans_mod, "write", write)
        assert sorted(r.name for r in reader.runs()) == ["answer", "kept", "retrieve"]  # kept for a retry
        assert run.id
    finally:
        reader.close()
        tracer.close()


def test_flush_on_a_read_only_handle_writes_what_a_writing_handle_holds(db_path):
    tracer = runlite.open(db_path)
    try:
        tracer.flush()
        with runlite.open(db_path, read_only=True) as reader:
            _traced(tracer)
            reader.flush()
            assert _raw_count(db_path, "SELECT count(*) FROM runs") == 2
    finally:
        tracer.close()


def test_a_read_waits_for_a_batch_another_thread_is_writing(db_path, monkeypatch):
    tracer = runlite.open(db_path)
    reader = runlite.open(db_path)
    writing, write = threading.Event(), registry.spans_mod.write

    def slow_write(conn, batch):  # the batch is taken, not committed yet, when the read starts
        writing.set()
        time.sleep(0.3)
        write(conn, batch)

    try:
        _traced(tracer)
        monkeypatch.setattr(registry.spans_mod, "write", slow_write)
        background = threading.Thread(target=tracer.live.flush_spans)  # as the ticker does
        background.start()
        assert writing.wait(10)
        assert sorted(r.name for r in reader.runs()) == ["answer", "retrieve"]
        background.join()
    finally:
        reader.close()
        tracer.close()


def test_a_span_object_still_in_memory_is_written_before_a_call_that_names_it(db_path):
    """``Store.run_id`` takes a span: calls given one wrote nothing first and failed (a foreign
    key, "no parent run"), where its id as text worked."""
    import time as clock

    from runlite._ids import dotted_segment, uuid7

    store = runlite.open(db_path)
    try:
        with runlite.trace("answer", store=store) as span:
            store.create_feedback(span, "correctness", score=1)
            store.init("tool-run", parent=span, run_type="tool").close()
            now = clock.time_ns() // 1000 + 1000
            child = uuid7(now)
            store.import_runs([{"id": child, "name": "imported", "run_type": "llm", "trace_id": span.trace_id,
                                "parent_run_id": span.id, "dotted_order": f"{span.dotted_order}.{dotted_segment(now, child)}"}])
        assert [f["key"] for f in store.feedback(span.id)] == ["correctness"]
        assert sorted(c.name for c in store.trace(span.id).child_runs) == ["imported", "tool-run"]
    finally:
        store.close()
