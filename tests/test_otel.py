"""The OpenTelemetry exporter, with the real opentelemetry-sdk."""

import pytest

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra (in the test extra)")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

import runlite  # noqa: E402
from runlite.otel import RunliteSpanExporter  # noqa: E402


@pytest.fixture
def setup(tmp_path):
    store = runlite.open(str(tmp_path / "otel.db"))
    exporter = RunliteSpanExporter(store)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield store, exporter, provider.get_tracer("test")
    provider.shutdown()
    store.close()


def test_spans_become_a_run_tree(setup):
    store, _, tracer = setup
    with tracer.start_as_current_span("agent", attributes={"user": "ann", "tags.list": ("a", "b")}) as root:
        with tracer.start_as_current_span("chat gpt", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 7}) as llm:
            llm.add_event("new_token", {"token": "hi"})
        with tracer.start_as_current_span("lookup", attributes={"gen_ai.operation.name": "execute_tool"}) as tool:
            tool.set_status(Status(StatusCode.ERROR, "tool exploded"))
    trace_id = root.get_span_context().trace_id
    (rec,) = [r for r in store.runs() if r.parent_run_id is None]
    tree = store.trace(rec.trace_id)
    assert tree.name == "agent" and tree.metadata["user"] == "ann" and tree.metadata["tags.list"] == ["a", "b"]
    assert tree.extra["otel"]["trace_id"] == f"{trace_id:032x}"
    assert [c.name for c in tree.child_runs] == ["chat gpt", "lookup"]
    chat, lookup = tree.child_runs
    assert chat.run_type == "llm" and (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (11, 7, 18)
    assert "gen_ai.usage.input_tokens" not in chat.metadata
    assert [e.name for e in store.events(chat.id)] == ["new_token"]
    assert store.events(chat.id)[0].kwargs == {"token": "hi"}
    assert lookup.run_type == "tool" and lookup.status == "failed" and lookup.error == "tool exploded"
    assert chat.dotted_order.startswith(tree.dotted_order + ".") and chat.trace_id == tree.id
    assert tree.end_time >= chat.end_time


def test_unfinished_roots_written_at_shutdown(setup):
    store, exporter, tracer = setup
    root = tracer.start_span("long-job")
    from opentelemetry import trace as otel_trace

    with otel_trace.use_span(root, end_on_exit=False):
        with tracer.start_as_current_span("step"):
            pass
    assert store.runs() == []  # waiting for the root
    exporter.shutdown()
    (rec,) = store.runs()
    assert rec.name == "step" and rec.parent_run_id is None


def test_exporting_twice_keeps_one_copy(setup):
    store, exporter, tracer = setup
    captured = []

    class Tap(RunliteSpanExporter):
        def export(self, spans):
            captured.extend(spans)
            return super().export(spans)

    tap = Tap(store)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tap))
    with provider.get_tracer("t").start_as_current_span("once"):
        pass
    tap.export(captured)
    assert len(store.runs()) == 1
