"""The OpenTelemetry exporter, with the real opentelemetry-sdk: whole trees whatever the
arrival order, both span processors, force-flush and kill, bad spans, LangSmith's OTel mode."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra (in the test extra)")

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import runlite
from runlite.otel import RunliteSpanExporter, run_id
from runlite.storage.ingest import PLACEHOLDER_NAME

PROCESSORS = {"simple": SimpleSpanProcessor,
              "batch": lambda e: BatchSpanProcessor(e, schedule_delay_millis=50, max_export_batch_size=3)}


@pytest.fixture
def store(tmp_path):
    s = runlite.open(str(tmp_path / "otel.db"))
    yield s
    s.close()


def provider_for(store, processor="simple", sync=True):
    exporter = RunliteSpanExporter(store, sync=sync)
    provider = TracerProvider()
    provider.add_span_processor(PROCESSORS[processor](exporter))
    return provider, exporter


def finished(*names):
    """Finished SDK spans (roots of the given names), made without any exporter of runlite's."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in names:
        with provider.get_tracer("t").start_as_current_span(name):
            pass
    return memory.get_finished_spans()


def rid(span):
    ctx = span.get_span_context()
    return run_id(ctx.trace_id, ctx.span_id)


def test_spans_become_a_run_tree(store):
    provider, _ = provider_for(store)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent", attributes={"user": "ann"}) as root:
        with tracer.start_as_current_span("chat gpt", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 7}) as llm:
            llm.add_event("new_token", {"token": "hi"})
        with tracer.start_as_current_span("lookup", attributes={"gen_ai.operation.name": "execute_tool"}) as tool:
            tool.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "tool exploded"))
    provider.shutdown()
    tree = store.trace(rid(root))
    assert tree.name == "agent" and tree.metadata["user"] == "ann" and tree.kind == "trace"
    assert tree.extra["otel"]["trace_id"] == f"{root.get_span_context().trace_id:032x}"
    assert [c.name for c in tree.child_runs] == ["chat gpt", "lookup"]
    chat, lookup = tree.child_runs
    assert chat.run_type == "llm" and (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (11, 7, 18)
    assert [e.name for e in store.events(chat.id)] == ["new_token"] and chat.first_token_time is not None
    assert lookup.run_type == "tool" and lookup.status == "failed" and lookup.error == "tool exploded"
    assert chat.dotted_order.startswith(tree.dotted_order + ".") and chat.trace_id == tree.id == rid(root)
    assert chat.parent_run_id == tree.id and tree.end_time >= chat.end_time
    assert len(store.runs()) == 3


def _five_traces(tracer):
    """Five traces, with the awkward orders: children ending after their parent, a remote
    parent that never arrives, grandchildren ending first. Returns {root span: expected tree}."""
    expected = {}
    # 1. plain nesting
    with tracer.start_as_current_span("t1") as t1, tracer.start_as_current_span("t1.a"), \
            tracer.start_as_current_span("t1.a.x"):
        pass
    expected[t1] = ("t1", [("t1.a", [("t1.a.x", [])])])
    # 2. a child that ends after its parent was exported
    t2 = tracer.start_span("t2")
    late = tracer.start_span("t2.late", context=otel_trace.set_span_in_context(t2))
    grandchild = tracer.start_span("t2.late.g", context=otel_trace.set_span_in_context(late))
    t2.end()
    grandchild.end()
    late.end()
    expected[t2] = ("t2", [("t2.late", [("t2.late.g", [])])])
    # 3. a remote parent (another process's span): it never arrives
    remote = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    token = otel_context.attach(otel_trace.set_span_in_context(NonRecordingSpan(remote)))
    try:
        with tracer.start_as_current_span("t3") as t3, tracer.start_as_current_span("t3.a"):
            pass
    finally:
        otel_context.detach(token)
    expected[t3] = (PLACEHOLDER_NAME, [("t3", [("t3.a", [])])])
    # 4. siblings, the second ending first
    with tracer.start_as_current_span("t4") as t4:
        a = tracer.start_span("t4.a")
        b = tracer.start_span("t4.b")
        b.end()
        a.end()
    expected[t4] = ("t4", [("t4.a", []), ("t4.b", [])])
    # 5. a lone root
    with tracer.start_as_current_span("t5") as t5:
        pass
    expected[t5] = ("t5", [])
    return expected


def _shape(record):
    return (record.name, sorted(_shape(c) for c in record.child_runs))


def _sorted_shape(shape):
    name, kids = shape
    return (name, sorted(_sorted_shape(k) for k in kids))


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "queued"])
@pytest.mark.parametrize("processor", list(PROCESSORS))
def test_five_traces_in_five_traces_stored(store, processor, sync):
    provider, exporter = provider_for(store, processor, sync)
    expected = _five_traces(provider.get_tracer("test"))
    provider.force_flush()
    exporter.force_flush()
    with runlite.open(store.path, read_only=True) as other:  # in the file, not only in this process
        assert len(other.runs()) == 13
    runs = store.runs()
    assert len({r.trace_id for r in runs}) == 5
    assert len(runs) == 13  # 12 spans and the remote parent's placeholder, nothing twice
    for root, shape in expected.items():
        ctx = root.get_span_context()
        record = store.read_run(rid(root))
        top = store.trace(record.trace_id)
        if shape[0] == PLACEHOLDER_NAME:
            assert top.id == run_id(ctx.trace_id, 0xDEF) and top.kind == "placeholder"
        else:
            assert top.id == rid(root) and record.parent_run_id is None
        assert _shape(top) == _sorted_shape(shape)
    provider.shutdown()


def test_force_flush_stores_children_before_their_root_ends(store):
    provider, _ = provider_for(store, "batch")
    tracer = provider.get_tracer("test")
    root = tracer.start_span("long job")
    with otel_trace.use_span(root, end_on_exit=False), tracer.start_as_current_span("step 1") as step:
        pass
    assert provider.force_flush()
    (placeholder,) = [r for r in store.runs() if r.kind == "placeholder"]
    stored_step = store.read_run(rid(step))
    assert placeholder.id == rid(root) and stored_step.parent_run_id == rid(root)
    assert stored_step.trace_id == rid(root)  # its real trace and parent at once
    root.end()
    provider.force_flush()
    tree = store.trace(rid(root))
    assert tree.name == "long job" and tree.kind == "trace" and tree.status == "completed"
    assert [c.id for c in tree.child_runs] == [rid(step)] and len(store.runs()) == 2
    provider.shutdown()


def test_queued_spans_are_written_by_the_store_writer(store):
    provider, _ = provider_for(store, "simple", sync=False)
    with provider.get_tracer("t").start_as_current_span("queued") as span:
        pass
    with runlite.open(store.path, read_only=True) as other:
        for _ in range(100):  # the store's writer writes within 0.5 s
            if other.runs():
                break
            time.sleep(0.05)
        assert [r.id for r in other.runs()] == [rid(span)]
    provider.shutdown()


def test_exporting_twice_keeps_one_copy(store):
    exporter = RunliteSpanExporter(store)
    spans = finished("once")
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.force_flush()
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert len(store.runs()) == 1


def test_a_bad_span_fails_its_batch_but_not_the_others(store, caplog):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        with tracer.start_as_current_span("huge", attributes={"blob": "\x01" * (3 << 20)}):  # 18 MiB as JSON
            pass
        with tracer.start_as_current_span("fine"):
            pass
    good = memory.get_finished_spans()
    deep: list = []
    for _ in range(3000):
        deep = [deep]
    parent = good[-1]
    odd = ReadableSpan(name="deep", context=SpanContext(parent.context.trace_id, 0x77, False),
                       parent=parent.context, attributes={"deep": deep},
                       start_time=parent.start_time, end_time=parent.end_time)
    exporter = RunliteSpanExporter(store)
    with caplog.at_level(logging.WARNING, logger="runlite"):
        assert exporter.export([*good, odd]) == SpanExportResult.FAILURE
    assert "huge" in caplog.text and "deep" in caplog.text
    exporter.force_flush()
    assert sorted(r.name for r in store.runs()) == ["fine", "root"]
    assert store.read_run(rid(root)).direct_child_run_ids
    provider.shutdown()


def test_an_event_too_large_to_store_fails_its_span_at_export_not_after(store, caplog):
    """Its size was known only when written: the export said SUCCESS, then the span was dropped."""
    provider, exporter = provider_for(store)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("big-event") as big:
        big.add_event("payload", {"blob": "\x01" * (3 << 20)})  # 3 MiB, 18 MiB as JSON escapes
    with tracer.start_as_current_span("ok-span"):
        pass
    exporter.force_flush()
    assert [r.name for r in store.runs()] == ["ok-span"]
    assert "big-event" in caplog.text and "not stored" in caplog.text and "could not be written" not in caplog.text
    provider.shutdown()


def test_what_is_no_sdk_span_fails_alone_and_no_batch_is_refused_clearly(store, caplog):
    exporter = RunliteSpanExporter(store)
    assert exporter.export(["not a span", None, *finished("real")]) == SpanExportResult.FAILURE
    assert [r.name for r in store.runs()] == ["real"]  # the real span of the batch is stored
    assert caplog.text.count("no span context") == 2
    for batch in (None, 3, "spans"):
        with pytest.raises(runlite.ValidationError, match="sequence of OTel SDK spans"):
            exporter.export(batch)


def test_closed_store_fails_the_export(tmp_path):
    store = runlite.open(str(tmp_path / "closed.db"))
    _, exporter = provider_for(store, "simple")
    store.close()
    assert exporter.export(finished("late")) == SpanExportResult.FAILURE
    assert exporter.force_flush() in (True, False)  # never raises


KILLED = textwrap.dedent("""
    import sys, time
    import runlite
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from runlite.otel import RunliteSpanExporter

    store = runlite.open(sys.argv[1])
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(RunliteSpanExporter(store), schedule_delay_millis=60_000))
    tracer = provider.get_tracer("killed")
    root = tracer.start_span("job")
    with trace.use_span(root, end_on_exit=False):
        for i in range(3):
            with tracer.start_as_current_span(f"step {i}"):
                pass
        provider.force_flush()
        print("flushed", flush=True)
        with tracer.start_as_current_span("after the flush"):
            pass
        time.sleep(60)
""")


def test_killed_mid_trace_keeps_what_was_flushed(tmp_path):
    path = str(tmp_path / "killed.db")
    proc = subprocess.Popen([sys.executable, "-c", KILLED, path], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert proc.stdout.readline().strip() == "flushed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with runlite.open(path, read_only=True) as store:
        runs = store.runs()
        steps = sorted(r.name for r in runs if r.kind == "trace")
        assert steps == ["step 0", "step 1", "step 2"]
        (root,) = [r for r in runs if r.kind == "placeholder"]
        assert all(r.parent_run_id == root.id and r.trace_id == root.id for r in runs if r.kind == "trace")


def test_langsmith_otel_mode_through_the_exporter(store, monkeypatch):
    """The LangSmith SDK's own OTel mode (``tracing_mode="otel"``), offline, into the exporter."""
    ls = pytest.importorskip("langsmith")
    pytest.importorskip("langsmith._internal.otel._otel_exporter")
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    provider, _ = provider_for(store, "simple")
    client = ls.Client(api_url="http://127.0.0.1:9", api_key="test", tracing_mode="otel",
                       otel_tracer_provider=provider)

    @ls.traceable(run_type="retriever", name="find docs")
    def retrieve(query):
        return [{"page_content": "cats purr", "type": "Document", "metadata": {}}]

    @ls.traceable(run_type="llm", name="fake llm", metadata={"ls_model_name": "gpt-x", "ls_provider": "openai"})
    def llm(prompt):
        return {"content": "ok", "usage_metadata": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}

    @ls.traceable(name="pipeline", tags=["t1"], metadata={"team": "ml"})
    def pipeline(question):
        docs = retrieve(question)
        return llm(f"{question} {len(docs)}")["content"]

    with ls.tracing_context(client=client, project_name="ls-otel", enabled=True):
        assert pipeline("why?") == "ok"
    client.flush()
    provider.force_flush()
    roots = [r for r in store.runs() if r.parent_run_id is None]
    assert [r.name for r in roots] == ["pipeline"]  # one trace, not a root per span
    tree = store.trace(roots[0].id)
    assert tree.run_type == "chain" and tree.session_name == "ls-otel" and "t1" in tree.tags
    assert tree.metadata["team"] == "ml" and tree.inputs == {"question": "why?"}
    assert tree.outputs == {"output": "ok"}
    kids = {c.name: c for c in tree.child_runs}
    assert set(kids) == {"find docs", "fake llm"}
    assert kids["find docs"].run_type == "retriever"  # not embedding
    fake = kids["fake llm"]
    assert fake.run_type == "llm" and fake.metadata["ls_model_name"] == "gpt-x"
    assert (fake.prompt_tokens, fake.completion_tokens, fake.total_tokens) == (3, 2, 5)
    provider.shutdown()
