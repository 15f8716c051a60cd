"""The semantic conventions of ``runlite.otel.conventions``, each from real spans.

Spans are made by the real ``opentelemetry-sdk`` with attribute names from the published
convention packages (OTel GenAI, OpenInference, OpenLLMetry/Traceloop; LangSmith's from its
SDK's OTel exporter), stored through ``RunliteSpanExporter`` and read back as runs.
"""

import json

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra (in the test extra)")
GA = pytest.importorskip("opentelemetry.semconv._incubating.attributes.gen_ai_attributes")
oi = pytest.importorskip("openinference.semconv.trace")
oi_resource = pytest.importorskip("openinference.semconv.resource")
tl = pytest.importorskip("opentelemetry.semconv_ai")

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.semconv.attributes import service_attributes
from opentelemetry.trace import Link, Status, StatusCode

import runlite
from runlite import errors
from runlite.langsmith.wire import remote_run
from runlite.otel import OtelSpan, RunliteSpanExporter, run_id, run_payload
from runlite.otel.conventions import KIND_ATTRIBUTES, checked_run

OI = oi.SpanAttributes
Kind = oi.OpenInferenceSpanKindValues
Mime = oi.OpenInferenceMimeTypeValues
Msg = oi.MessageAttributes
Doc = oi.DocumentAttributes
TL = tl.SpanAttributes


class Traced:
    """A tracer whose spans are stored in ``store``; ``run(span)`` reads a span's run."""

    def __init__(self, store, resource=None, project=None):
        self.store = store
        self.provider = TracerProvider(resource=Resource.create(resource or {}))
        self.provider.add_span_processor(SimpleSpanProcessor(RunliteSpanExporter(store, project=project)))
        self.tracer = self.provider.get_tracer("tests.conventions", "1.2")

    def span(self, name, attributes=None, **kw):
        return self.tracer.start_as_current_span(name, attributes=attributes, **kw)

    def run(self, span):
        ctx = span.get_span_context()
        self.store.flush()
        return self.store.read_run(run_id(ctx.trace_id, ctx.span_id))


@pytest.fixture
def store(tmp_path):
    s = runlite.open(str(tmp_path / "conv.db"))
    yield s
    s.close()


@pytest.fixture
def traced(store):
    t = Traced(store, resource={service_attributes.SERVICE_NAME: "shop", "telemetry.sdk.extra": "x"})
    yield t
    t.provider.shutdown()


# -- OTel GenAI -----------------------------------------------------------------------------------


def test_genai_current_names(traced):
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]
    with traced.span("chat gpt-4o", {
            GA.GEN_AI_OPERATION_NAME: GA.GenAiOperationNameValues.CHAT.value,
            GA.GEN_AI_PROVIDER_NAME: "openai", GA.GEN_AI_REQUEST_MODEL: "gpt-4o",
            GA.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
            GA.GEN_AI_USAGE_INPUT_TOKENS: 11, GA.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
            GA.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4, GA.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 2,
            GA.GEN_AI_REQUEST_TEMPERATURE: 0.2, GA.GEN_AI_REQUEST_MAX_TOKENS: 100,
            GA.GEN_AI_INPUT_MESSAGES: json.dumps(messages), GA.GEN_AI_OUTPUT_MESSAGES: json.dumps(answer),
            GA.GEN_AI_SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": "be brief"}]),
            GA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.25, GA.GEN_AI_CONVERSATION_ID: "conv-1",
            "app.custom": "kept"}, kind=otel_trace.SpanKind.CLIENT) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "llm" and run.name == "chat gpt-4o" and run.status == "completed"
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (11, 7, 18)
    assert run.metadata["usage_metadata"] == {"input_tokens": 11, "output_tokens": 7,
                                              "input_token_details": {"cache_read": 4},
                                              "output_token_details": {"reasoning": 2}}
    assert run.metadata["ls_model_name"] == "gpt-4o" and run.metadata["ls_provider"] == "openai"
    assert run.metadata["ls_model_type"] == "chat" and run.metadata["ls_temperature"] == 0.2
    assert run.metadata[GA.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"  # not used: kept as metadata
    assert run.metadata["conversation_id"] == "conv-1" and run.metadata["app.custom"] == "kept"
    assert run.metadata["service.name"] == "shop"
    assert run.inputs == {"messages": messages, "system_instructions": [{"type": "text", "content": "be brief"}]}
    assert run.outputs == {"messages": answer}
    assert run.extra["invocation_params"] == {"temperature": 0.2, "max_tokens": 100}
    otel = run.extra["otel"]
    assert otel["kind"] == "CLIENT" and otel["scope"] == "tests.conventions" and otel["scope_version"] == "1.2"
    assert otel["resource"]["telemetry.sdk.extra"] == "x" and "telemetry.sdk.extra" not in run.metadata
    assert otel["attributes"] == {GA.GEN_AI_OPERATION_NAME: "chat"}
    assert GA.GEN_AI_USAGE_INPUT_TOKENS not in run.metadata and GA.GEN_AI_INPUT_MESSAGES not in run.metadata
    assert (run.first_token_time - run.started).total_seconds() == pytest.approx(0.25)


def test_genai_earlier_names_and_indexed_messages(traced):
    with traced.span("openai.chat", {
            GA.GEN_AI_SYSTEM: "openai", TL.LLM_REQUEST_TYPE: tl.LLMRequestTypeValues.CHAT.value,
            GA.GEN_AI_USAGE_PROMPT_TOKENS: 5, GA.GEN_AI_USAGE_COMPLETION_TOKENS: 3,
            f"{GA.GEN_AI_PROMPT}.0.role": "system", f"{GA.GEN_AI_PROMPT}.0.content": "be nice",
            f"{GA.GEN_AI_PROMPT}.1.role": "user", f"{GA.GEN_AI_PROMPT}.1.content": "hi",
            f"{GA.GEN_AI_COMPLETION}.0.role": "assistant", f"{GA.GEN_AI_COMPLETION}.0.content": "hey",
            f"{GA.GEN_AI_COMPLETION}.0.finish_reason": "stop",
            f"{GA.GEN_AI_COMPLETION}.0.tool_calls.0.name": "search"}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "llm" and run.metadata["ls_provider"] == "openai"
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (5, 3, 8)
    assert run.inputs == {"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]}
    assert run.outputs == {"messages": [{"role": "assistant", "content": "hey", "finish_reason": "stop",
                                         "tool_calls": [{"name": "search"}]}]}


def test_genai_message_events(traced):
    with traced.span("chat", {GA.GEN_AI_OPERATION_NAME: "chat"}) as span:
        span.add_event("gen_ai.system.message", {"content": "be nice", GA.GEN_AI_SYSTEM: "openai"})
        span.add_event("gen_ai.user.message", {"content": "hi"})
        span.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                         "message": json.dumps({"role": "assistant", "content": "yo"})})
    run = traced.run(span)
    assert run.inputs == {"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]}
    assert run.outputs == {"messages": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "yo"}}]}
    assert [e["name"] for e in run.events] == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]
    with traced.span("completion", {GA.GEN_AI_OPERATION_NAME: "text_completion"}) as old:
        old.add_event("gen_ai.content.prompt", {GA.GEN_AI_PROMPT: json.dumps([{"role": "user", "content": "x"}])})
        old.add_event("gen_ai.content.completion", {GA.GEN_AI_COMPLETION: "y"})
    run = traced.run(old)
    assert run.run_type == "llm" and run.metadata["ls_model_type"] == "llm"
    assert run.inputs == {"messages": [{"role": "user", "content": "x"}]} and run.outputs == {"output": "y"}
    with traced.span("chat", {GA.GEN_AI_OPERATION_NAME: "chat"}) as current:  # the current event form
        current.add_event("gen_ai.client.inference.operation.details", {
            GA.GEN_AI_INPUT_MESSAGES: json.dumps([{"role": "user", "parts": []}]),
            GA.GEN_AI_OUTPUT_MESSAGES: json.dumps([{"role": "assistant", "parts": []}])})
    run = traced.run(current)
    assert run.inputs == {"messages": [{"role": "user", "parts": []}]}
    assert run.outputs == {"messages": [{"role": "assistant", "parts": []}]}


@pytest.mark.parametrize("operation, run_type", [
    (GA.GenAiOperationNameValues.CHAT, "llm"), (GA.GenAiOperationNameValues.TEXT_COMPLETION, "llm"),
    (GA.GenAiOperationNameValues.GENERATE_CONTENT, "llm"), (GA.GenAiOperationNameValues.EMBEDDINGS, "embedding"),
    (GA.GenAiOperationNameValues.RETRIEVAL, "retriever"), (GA.GenAiOperationNameValues.EXECUTE_TOOL, "tool"),
    (GA.GenAiOperationNameValues.INVOKE_AGENT, "chain"), (GA.GenAiOperationNameValues.CREATE_AGENT, "chain"),
])
def test_genai_operation_names(traced, operation, run_type):
    with traced.span("op", {GA.GEN_AI_OPERATION_NAME: operation.value}) as span:
        pass
    assert traced.run(span).run_type == run_type


def test_genai_tool_and_retrieval_io(traced):
    with traced.span("execute_tool search", {GA.GEN_AI_OPERATION_NAME: "execute_tool", GA.GEN_AI_TOOL_NAME: "search",
                                              GA.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "cats"}',
                                              GA.GEN_AI_TOOL_CALL_RESULT: '["a", "b"]'}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "tool" and run.inputs == {"input": {"q": "cats"}} and run.outputs == {"output": ["a", "b"]}
    assert run.metadata[GA.GEN_AI_TOOL_NAME] == "search"
    with traced.span("retrieval", {GA.GEN_AI_OPERATION_NAME: "retrieval", GA.GEN_AI_RETRIEVAL_QUERY_TEXT: "cats",
                                   GA.GEN_AI_RETRIEVAL_DOCUMENTS: '[{"id": "d1", "score": 0.5}]'}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "retriever" and run.inputs == {"query": "cats"}
    assert run.outputs == {"documents": [{"id": "d1", "score": 0.5}]}


# -- OpenInference ----------------------------------------------------------------------------------

OI_KINDS = {Kind.LLM: "llm", Kind.CHAIN: "chain", Kind.TOOL: "tool", Kind.RETRIEVER: "retriever",
            Kind.EMBEDDING: "embedding", Kind.AGENT: "chain", Kind.RERANKER: "retriever",
            Kind.GUARDRAIL: "chain", Kind.EVALUATOR: "chain", Kind.PROMPT: "prompt", Kind.UNKNOWN: "chain"}


@pytest.mark.parametrize("kind", list(OI_KINDS), ids=lambda k: k.value)
def test_openinference_span_kinds(traced, kind):
    with traced.span("step", {OI.OPENINFERENCE_SPAN_KIND: kind.value}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == OI_KINDS[kind]
    assert run.extra["otel"]["attributes"] == {OI.OPENINFERENCE_SPAN_KIND: kind.value}


def test_openinference_llm(traced):
    request = {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}
    with traced.span("ChatCompletion", {
            OI.OPENINFERENCE_SPAN_KIND: Kind.LLM.value,
            OI.INPUT_VALUE: json.dumps(request), OI.INPUT_MIME_TYPE: Mime.JSON.value,
            OI.OUTPUT_VALUE: "hello there", OI.OUTPUT_MIME_TYPE: Mime.TEXT.value,
            f"{OI.LLM_INPUT_MESSAGES}.0.{Msg.MESSAGE_ROLE}": "user",
            f"{OI.LLM_INPUT_MESSAGES}.0.{Msg.MESSAGE_CONTENT}": "hi",
            OI.LLM_MODEL_NAME: "gpt-4o", OI.LLM_PROVIDER: oi.OpenInferenceLLMProviderValues.OPENAI.value,
            OI.LLM_SYSTEM: "openai", OI.LLM_INVOCATION_PARAMETERS: json.dumps({"temperature": 0.1}),
            OI.LLM_TOKEN_COUNT_PROMPT: 20, OI.LLM_TOKEN_COUNT_COMPLETION: 5, OI.LLM_TOKEN_COUNT_TOTAL: 25,
            OI.LLM_TOKEN_COUNT_PROMPT_DETAILS_CACHE_READ: 8,
            OI.LLM_COST_PROMPT: 0.002, OI.LLM_COST_COMPLETION: 0.001, OI.LLM_COST_TOTAL: 0.003,
            OI.TAG_TAGS: ["prod", "v2"], OI.METADATA: json.dumps({"team": "search", "n": 3}),
            OI.SESSION_ID: "sess-9", OI.USER_ID: "ann"}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "llm" and run.inputs == request and run.outputs == {"output": "hello there"}
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (20, 5, 25)
    assert (run.prompt_cost, run.completion_cost, run.total_cost) == pytest.approx((0.002, 0.001, 0.003))
    assert run.metadata["usage_metadata"]["input_token_details"] == {"cache_read": 8}
    assert run.metadata["ls_model_name"] == "gpt-4o" and run.metadata["ls_provider"] == "openai"
    assert run.metadata[OI.LLM_SYSTEM] == "openai"  # the second provider name: kept, not used
    assert run.tags == ("prod", "v2")
    assert run.metadata["team"] == "search" and run.metadata["n"] == 3
    assert run.metadata["session_id"] == "sess-9" and run.metadata["user_id"] == "ann"
    assert run.extra["invocation_params"] == {"temperature": 0.1}
    kept = run.extra["otel"]["attributes"]
    assert kept[OI.LLM_INPUT_MESSAGES] == [{"role": "user", "content": "hi"}]  # the second form of inputs
    assert kept[OI.INPUT_MIME_TYPE] == Mime.JSON.value
    assert not any(k.startswith(("llm.token_count", "llm.cost", "input.", "output.")) for k in run.metadata)


def test_openinference_retriever_documents(traced):
    prefix = OI.RETRIEVAL_DOCUMENTS
    with traced.span("retrieve", {
            OI.OPENINFERENCE_SPAN_KIND: Kind.RETRIEVER.value, OI.INPUT_VALUE: "cats",
            f"{prefix}.0.{Doc.DOCUMENT_ID}": "d1", f"{prefix}.0.{Doc.DOCUMENT_CONTENT}": "cats purr",
            f"{prefix}.0.{Doc.DOCUMENT_SCORE}": 0.9, f"{prefix}.0.{Doc.DOCUMENT_METADATA}": '{"src": "wiki"}',
            f"{prefix}.1.{Doc.DOCUMENT_CONTENT}": "dogs bark",
            OI.EMBEDDING_MODEL_NAME: "text-embedding-3"}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "retriever"  # never embedding
    assert run.inputs == {"input": "cats"}
    assert run.outputs == {"documents": [
        {"page_content": "cats purr", "type": "Document", "metadata": {"src": "wiki"}, "id": "d1", "score": 0.9},
        {"page_content": "dogs bark", "type": "Document", "metadata": {}}]}


def test_openinference_project_resource(store):
    traced = Traced(store, resource={oi_resource.ResourceAttributes.PROJECT_NAME: "phoenix-proj"})
    with traced.span("x", {OI.OPENINFERENCE_SPAN_KIND: "CHAIN"}) as span:
        pass
    assert traced.run(span).session_name == "phoenix-proj"
    traced.provider.shutdown()


# -- OpenLLMetry / Traceloop -------------------------------------------------------------------------


def test_traceloop_workflow_task_tool_and_llm(traced):
    with traced.span("joke.workflow", {
            TL.TRACELOOP_SPAN_KIND: tl.TraceloopSpanKindValues.WORKFLOW.value, TL.TRACELOOP_ENTITY_NAME: "joke",
            TL.TRACELOOP_ENTITY_INPUT: json.dumps({"args": ["cats"], "kwargs": {}}),
            TL.TRACELOOP_ENTITY_OUTPUT: json.dumps("a joke"),
            f"{TL.TRACELOOP_ASSOCIATION_PROPERTIES}.user_id": "u1"}) as wf:
        with traced.span("search.tool", {TL.TRACELOOP_SPAN_KIND: tl.TraceloopSpanKindValues.TOOL.value}) as tool:
            pass
        with traced.span("openai.chat", {
                TL.LLM_REQUEST_TYPE: tl.LLMRequestTypeValues.CHAT.value, TL.LLM_SYSTEM: "openai",
                TL.LLM_REQUEST_MODEL: "gpt-4o-mini", TL.LLM_USAGE_PROMPT_TOKENS: 9,
                TL.LLM_USAGE_COMPLETION_TOKENS: 4, TL.LLM_USAGE_TOTAL_TOKENS: 13,
                TL.LLM_USAGE_CACHE_READ_INPUT_TOKENS: 2,
                f"{TL.LLM_PROMPTS}.0.role": "user", f"{TL.LLM_PROMPTS}.0.content": "tell a joke",
                f"{TL.LLM_COMPLETIONS}.0.role": "assistant", f"{TL.LLM_COMPLETIONS}.0.content": "a joke"}) as llm:
            pass
        with traced.span("openai.embeddings", {TL.LLM_REQUEST_TYPE: tl.LLMRequestTypeValues.EMBEDDING.value}) as emb:
            pass
    run = traced.run(wf)
    assert run.run_type == "chain" and run.inputs == {"args": ["cats"], "kwargs": {}}
    assert run.outputs == {"output": "a joke"} and run.metadata["user_id"] == "u1"
    assert run.metadata[TL.TRACELOOP_ENTITY_NAME] == "joke"
    assert traced.run(tool).run_type == "tool" and traced.run(emb).run_type == "embedding"
    chat = traced.run(llm)
    assert chat.run_type == "llm" and chat.parent_run_id == run.id
    assert (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (9, 4, 13)
    assert chat.metadata["usage_metadata"]["input_token_details"] == {"cache_read": 2}
    assert chat.metadata["ls_model_name"] == "gpt-4o-mini" and chat.metadata["ls_provider"] == "openai"
    assert chat.inputs == {"messages": [{"role": "user", "content": "tell a joke"}]}
    assert chat.outputs == {"messages": [{"role": "assistant", "content": "a joke"}]}


# -- LangSmith's OTel attributes (as its SDK's OTel exporter writes them) -----------------------------


def test_langsmith_attributes(traced):
    ls = pytest.importorskip("langsmith._internal.otel._otel_exporter")
    with traced.span("span name", {
            ls.LANGSMITH_RUN_TYPE: "retriever", ls.GEN_AI_OPERATION_NAME: "embeddings",  # the SDK's mapping
            ls.LANGSMITH_NAME: "my retriever", ls.LANGSMITH_SESSION_NAME: "ls-project",
            f"{ls.LANGSMITH_METADATA}.ls_provider": "openai", f"{ls.LANGSMITH_METADATA}.user": "ann",
            f"{ls.LANGSMITH_METADATA}.cfg": json.dumps({"k": [1, 2]}),
            ls.LANGSMITH_TAGS: "alpha, beta", ls.GEN_AI_SYSTEM: "langchain",
            ls.GENAI_PROMPT: json.dumps({"query": "cats"}),
            ls.GENAI_COMPLETION: json.dumps({"documents": [{"page_content": "x"}]})}) as span:
        pass
    run = traced.run(span)
    assert run.run_type == "retriever" and run.name == "my retriever" and run.session_name == "ls-project"
    assert run.metadata == {"ls_provider": "openai", "user": "ann", "cfg": {"k": [1, 2]}, "service.name": "shop"}
    assert run.tags == ("alpha", "beta")
    assert run.inputs == {"query": "cats"} and run.outputs == {"documents": [{"page_content": "x"}]}
    assert run.extra["otel"]["name"] == "span name"
    assert run.extra["otel"]["attributes"][ls.GEN_AI_SYSTEM] == "langchain"


def test_langsmith_llm_usage_and_root_context():
    ls = pytest.importorskip("langsmith._internal.otel._otel_exporter")
    trace_id = 0x0123456789ABCDEF0011223344556677
    span = OtelSpan(trace_id=trace_id, span_id=0x42, parent_span_id=trace_id >> 64, name="ChatOpenAI",
                    kind="INTERNAL", start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_001_000_000_000,
                    attributes={ls.LANGSMITH_RUN_TYPE: "llm", ls.GEN_AI_USAGE_INPUT_TOKENS: 3,
                                ls.GEN_AI_USAGE_OUTPUT_TOKENS: 4, ls.GEN_AI_USAGE_TOTAL_TOKENS: 7,
                                ls.GEN_AI_USAGE_INPUT_TOKEN_DETAILS: str({"cache_read": 1}),
                                f"{ls.LANGSMITH_METADATA}.ls_model_name": "gpt-4o",
                                ls.GEN_AI_REQUEST_MODEL: "gpt-4o"})
    payload = run_payload(span)
    assert "parent_run_id" not in payload  # LangSmith's deterministic root context is no parent
    assert payload["extra"]["metadata"]["usage_metadata"] == {
        "input_tokens": 3, "output_tokens": 4, "total_tokens": 7, "input_token_details": {"cache_read": 1}}
    assert "ls_model_type" not in payload["extra"]["metadata"]
    cols = remote_run(payload, "post").columns
    assert (cols["prompt_tokens"], cols["completion_tokens"], cols["total_tokens"]) == (3, 4, 7)


# -- status, errors, events, links, resource, names ---------------------------------------------------


def test_exception_and_status(traced):
    with pytest.raises(ValueError), traced.span("failing") as span:
        raise ValueError("bad input 42")
    run = traced.run(span)
    assert run.status == "failed" and run.extra["otel"]["status"] == "ERROR"
    assert "Traceback" in run.error and "ValueError: bad input 42" in run.error
    assert run.events[0]["name"] == "exception" and run.events[0]["kwargs"]["exception.type"] == "ValueError"
    with traced.span("status only") as span:
        span.set_status(Status(StatusCode.ERROR, "upstream 503"))
    assert traced.run(span).error == "upstream 503"
    with traced.span("GET", {"error.type": "503", "http.response.status_code": 503}) as span:
        span.set_status(Status(StatusCode.ERROR))  # as HTTP clients fail a span: no description
    run = traced.run(span)
    assert run.status == "failed" and run.error == "503" and run.metadata["error.type"] == "503"
    with traced.span("handled") as span:
        span.record_exception(KeyError("k"))
    run = traced.run(span)
    assert run.status == "completed" and run.error is None and run.events[0]["name"] == "exception"


def test_links_events_and_unmapped_attributes(traced):
    other = otel_trace.SpanContext(trace_id=7, span_id=9, is_remote=True)
    with traced.span("linked", {"http.method": "GET", "retries": 2, "ids": (1, 2)},
                     links=[Link(other, {"why": "batch"})]) as span:
        span.add_event("cache miss", {"key": "k1"})
    run = traced.run(span)
    assert run.metadata["http.method"] == "GET" and run.metadata["retries"] == 2 and run.metadata["ids"] == [1, 2]
    assert run.extra["otel"]["links"] == [{"trace_id": f"{7:032x}", "span_id": f"{9:016x}",
                                           "attributes": {"why": "batch"}}]
    assert run.events[0]["name"] == "cache miss" and run.events[0]["kwargs"] == {"key": "k1"}
    assert run.inputs == {} and run.outputs is None


def test_conventions_naming_one_field_with_different_values_lose_neither(traced):
    """Where two attributes (or an attribute and the run's own metadata) give one field
    different values, one wins and the other is still stored: none was dropped."""
    attributes = {
        "metadata": json.dumps({"team": "search"}), "langsmith.metadata.team": "ranking",
        "langsmith.metadata.tier": "gold", TL.TRACELOOP_ASSOCIATION_PROPERTIES + ".tier": "silver",
        "session.id": "s-otel", "langsmith.metadata.session_id": "s-ls",
        "langsmith.metadata.ls_model_name": "gpt-ls", GA.GEN_AI_REQUEST_MODEL: "gpt-otel",
        GA.GEN_AI_USAGE_INPUT_TOKENS: 5, OI.LLM_TOKEN_COUNT_PROMPT: 6,
        OI.LLM_INVOCATION_PARAMETERS: json.dumps({"temperature": 0.5}), GA.GEN_AI_REQUEST_TEMPERATURE: 0.7,
        "langsmith.metadata.usage_metadata": json.dumps({"output_tokens": 3}), GA.GEN_AI_USAGE_OUTPUT_TOKENS: 4,
    }
    with traced.span("collide", {GA.GEN_AI_OPERATION_NAME: "chat", **attributes}) as span:
        pass
    run = traced.run(span)
    meta, kept = run.metadata, run.extra["otel"].get("attributes", {})
    assert meta["team"] == "ranking" and kept["metadata"] == attributes["metadata"]
    assert meta["tier"] == "silver" and kept["langsmith.metadata.tier"] == "gold"
    assert meta["session_id"] == "s-ls" and kept["session.id"] == "s-otel"
    assert meta["ls_model_name"] == "gpt-ls" and meta[GA.GEN_AI_REQUEST_MODEL] == "gpt-otel"
    assert run.prompt_tokens == 5 and meta[OI.LLM_TOKEN_COUNT_PROMPT] == 6
    assert run.extra["invocation_params"]["temperature"] == 0.5 and meta[GA.GEN_AI_REQUEST_TEMPERATURE] == 0.7
    assert run.completion_tokens == 3 and meta[GA.GEN_AI_USAGE_OUTPUT_TOKENS] == 4


def test_project_from_exporter_and_names(store):
    traced = Traced(store, project="exp-proj")
    with traced.span("x" * 1000) as span:
        pass
    run = traced.run(span)
    assert run.session_name == "exp-proj" and len(run.name) == 256
    traced.provider.shutdown()


def test_kind_table_names_every_run_type():
    assert {t for _, table in KIND_ATTRIBUTES for t in table.values()} <= set(runlite.otel.conventions.RUN_TYPES)


# -- bad input ------------------------------------------------------------------------------------


def _span(**attributes):
    return OtelSpan(trace_id=1, span_id=2, parent_span_id=None, name="s", kind="INTERNAL",
                    start_ns=1_700_000_000_000_000_000, end_ns=None, attributes=attributes)


def test_absurd_values_refused_with_runlite_errors():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(errors.LimitError):
        run_payload(_span(deep=deep))
    with pytest.raises(errors.LimitError):  # over 16 MiB of JSON as a whole (\x01 is 6 characters)
        remote_run(run_payload(_span(huge="\x01" * (3 << 20))), "post")
    with pytest.raises(errors.ValidationError):
        run_payload(_span()._replace(start_ns=-5))
    # Token attributes that are not counts are kept as metadata, never an error.
    payload = run_payload(_span(**{GA.GEN_AI_USAGE_INPUT_TOKENS: -3, OI.LLM_TOKEN_COUNT_TOTAL: "many"}))
    assert payload["extra"]["metadata"] == {GA.GEN_AI_USAGE_INPUT_TOKENS: -3, OI.LLM_TOKEN_COUNT_TOTAL: "many"}
    remote_run(payload, "post")
    # JSON text nested too deep for the decoder stays text; so does text deeper than a run's
    # value may nest (decoded, it was cut at the limit and the sent content lost).
    for text in ("[" * 100_000 + "]" * 100_000, '{"q": ' + "[" * 70 + '"leaf"' + "]" * 70 + "}"):
        assert run_payload(_span(**{OI.INPUT_VALUE: text, OI.INPUT_MIME_TYPE: "application/json"}))["inputs"] == \
            {"input": text}
    text = '{"q": ' + "[" * 40 + '"leaf"' + "]" * 40 + "}"  # within the limit: decoded
    assert run_payload(_span(**{OI.INPUT_VALUE: text, OI.INPUT_MIME_TYPE: "application/json"}))["inputs"] == \
        json.loads(text)


def test_attributes_too_large_for_metadata_are_kept_in_extra_not_the_span_refused(traced):
    """The SDK takes any key and text length; a run's metadata takes keys of 256 characters
    and texts of 1 MiB. Such an attribute goes to extra.otel.attributes: the span was refused
    (and over OTLP/HTTP, every span of its batch)."""
    long_key, big_text = "k" * 300, "x" * (1 << 20) + "y"
    with traced.span("large", {long_key: 1, "http.response.body": big_text, "langsmith.metadata." + long_key: "v",
                               "fine": 2}) as span:
        pass
    run = traced.run(span)
    kept = run.extra["otel"]["attributes"]
    assert kept[long_key] == 1 and kept["http.response.body"] == big_text and kept[long_key + "_"] == "v"
    assert run.metadata["fine"] == 2 and long_key not in run.metadata and "http.response.body" not in run.metadata


def test_sdk_values_a_run_refuses_are_stored_as_otlp_stores_them(traced):
    # The SDK takes these; a run's metadata does not: the span is kept, its values made storable
    # (as runlite serve's OTLP receiver stores NaN and infinities; ints beyond 64 bits as digits).
    with traced.span("odd \ud800 name", {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
                                         "big": 2 ** 70, "seq": [float("nan"), 1.0], "half": "x\ud800y",
                                         "ctrl\x01key": 1, "fine": 2, "a\x00": 3, "a\x01": 4}) as span:
        span.set_status(Status(StatusCode.ERROR, "broke \udc00 here"))
        span.add_event("odd", {"nan": float("nan"), "seq": [float("inf")]})
    run = traced.run(span)
    assert run.name == "odd \ufffd name" and run.status == "failed" and run.error == "broke \ufffd here"
    # Keys that differed only by control characters were both cleaned to "a ": one value was lost.
    assert {k: v for k, v in run.metadata.items() if k != "service.name"} == {
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "big": str(2 ** 70), "seq": ["NaN", 1.0],
        "half": "x\ufffdy", "ctrl\\x01key": 1, "fine": 2, "a\\x00": 3, "a\\x01": 4}
    (event,) = [e for e in traced.store.events(run.id) if e.name == "odd"]
    assert event.kwargs == {"nan": "NaN", "seq": ["Infinity"]}  # as the receiver stores them, not "nan"


def test_span_times_are_iso_microseconds_in_utc():
    import datetime as dt

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    last = 253402300799 * 10**9  # 9999-12-31T23:59:59Z, the latest time taken
    # Spans in one second, then others: each text is its own time, whatever came before.
    for ns in (1_700_000_000_123_456_789, 1_700_000_000_999_999_999, 1_700_000_000_000_000_001, 0, 999,
               1_709_164_800_000_001_000, 1_700_000_001_000_000_000, last, last - 1):
        end = min(ns + 1_500, last)
        payload = run_payload(_span()._replace(start_ns=ns, end_ns=end))
        assert payload["start_time"] == (epoch + dt.timedelta(microseconds=ns // 1000)).isoformat(
            timespec="microseconds")
        assert dt.datetime.fromisoformat(payload["end_time"]) == epoch + dt.timedelta(microseconds=end // 1000)
    with pytest.raises(errors.ValidationError, match="between 1970 and 9999"):
        run_payload(_span()._replace(start_ns=last + 1))


def test_run_id_is_the_uuid5_stored_ids_depend_on():
    import random
    import uuid

    from runlite.otel.conventions import _NS
    rng = random.Random(16)
    for trace_id, span_id in [(0, 0), ((1 << 128) - 1, (1 << 64) - 1)] + \
            [(rng.getrandbits(128), rng.getrandbits(64)) for _ in range(1000)]:
        assert run_id(trace_id, span_id) == str(uuid.uuid5(_NS, f"{trace_id:032x}{span_id:016x}"))
    assert run_id(1, 2) == "fd92694b-ac31-5963-a9cd-9c8159d9186f"  # stored ids depend on it: never changes


def _outcome(make):
    """What a way of checking a span gives: the run's columns, events and what its create set,
    or the error it raises (kind and message)."""
    try:
        run = make()
    except errors.RunliteError as exc:
        return type(exc).__name__, str(exc)
    return run.id, run.op, run.columns, run.events, run.replaces_events, run.from_create, run.events_from_create


def test_checked_run_is_remote_run_of_the_payload():
    """The exporter and the OTLP receiver check spans by ``checked_run``, which skips writing
    the payload's times as text and checking its names and metadata again: it must give what
    ``remote_run(run_payload(span))`` gives, columns and refusals alike, on every kind of span."""
    usage_json = json.dumps({"input_tokens": 2, "output_tokens": 3})
    deep: list = []
    for _ in range(100):
        deep = [deep]
    spans = [
        _span(),
        _span(**{GA.GEN_AI_OPERATION_NAME: "chat", GA.GEN_AI_REQUEST_MODEL: "m", GA.GEN_AI_USAGE_INPUT_TOKENS: 5,
                 GA.GEN_AI_USAGE_OUTPUT_TOKENS: 1, "llm.cost.total": 0.5, "tag.tags": ("a", "b", "a"),
                 "gen_ai.response.time_to_first_chunk": 0.25, "session.id": "s1", "langsmith.project": "p ✓"}),
        _span(**{"openinference.span.kind": "TOOL", GA.GEN_AI_USAGE_INPUT_TOKENS: 4, "output.value": usage_json}),
        _span(**{"openinference.span.kind": "LLM", "output.value": json.dumps({"usage_metadata": {"input_tokens": 9}})}),
        _span(**{"openinference.span.kind": "LLM", "output.value": json.dumps({"usage_metadata": {"input_tokens": -9}})}),
        _span(**{"openinference.span.kind": "LLM", "usage_metadata": {"input_tokens": 7}}),  # an OTLP kvlist
        _span(**{"langsmith.span.kind": "llm", "langsmith.metadata.usage_metadata": usage_json}),
        _span(**{"langsmith.metadata.usage_metadata": json.dumps({"input_tokens": -1})}),
        _span(**{"k" * 300: "a key too long for metadata", "text": "x" * (1 << 20) + "y", "nan": float("nan")}),
        _span(**{"bad\x00key": "v", "surrogate": "a\ud800b", "big": 2**80}),
        _span(huge="\x01" * (3 << 20)),
        _span(deep=deep),
        _span()._replace(start_ns=-5),
        _span()._replace(end_ns=10**30),
        _span()._replace(parent_span_id=7, end_ns=1_700_000_001_000_000_000, status="ERROR", status_message="boom",
                         events=(("exception", 1_700_000_000_500_000_000, {"exception.type": "E"}),
                                 ("new_token", 1_700_000_000_200_000_000, {}),
                                 ("new_token", 1_700_000_000_100_000_000, {"t": ("x",)}),
                                 ("odd\x01name", 0, {"v": float("inf")}),
                                 ("big", 1_700_000_000_300_000_000, {"blob": "\x01" * (3 << 20)})),
                         project="from a header"),
        _span(**{GA.GEN_AI_OPERATION_NAME: "chat"})._replace(
            events=(("gen_ai.user.message", 1_700_000_000_100_000_000, {"content": "hi"}),
                    ("gen_ai.choice", 1_700_000_000_200_000_000, {"message": json.dumps({"content": "ho"})})),
            resource={"service.name": "svc", "langsmith.project": "res"}, links=((1, 3, {"w": 1}),)),
    ]
    for span in spans:
        expected = _outcome(lambda: remote_run(run_payload(span), "post"))
        assert _outcome(lambda: checked_run(span)) == expected, span.attributes.keys()
    assert any(len(_outcome(lambda: checked_run(span))) == 2 for span in spans)  # refusals were compared too
