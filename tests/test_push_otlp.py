"""``runlite push --otlp`` / ``runlite.otel.push.push``: stored traces sent as OpenTelemetry
spans through the published OTLP/HTTP exporter, to a recording OTLP endpoint here (decoding
``ExportTraceServiceRequest`` with ``opentelemetry-proto``) and to ``runlite serve``'s OTLP
receiver: span ids stable across pushes, parent links, attributes under LangSmith's and the
GenAI conventions' names, times to the nanosecond of runlite's microseconds, batches, the
command line, bad arguments, errors of the endpoint, and a round trip back to the same runs."""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import uuid

import pytest

pytest.importorskip("opentelemetry.sdk.trace")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
from google.rpc.status_pb2 import Status  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest, ExportTraceServiceResponse,
)
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GEN_AI  # noqa: E402

import runlite  # noqa: E402
from runlite import current_span, traceable  # noqa: E402
from runlite._ids import dotted_segment, uuid7  # noqa: E402
from runlite.otel import run_id  # noqa: E402
from runlite.otel.push import BATCH_SPANS, PushError, derived_span_id, push, span_ids  # noqa: E402

BASE = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
OTEL_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
OTEL_ROOT, OTEL_CHILD = 0xB7AD6B7169203331, 0x00F067AA0BA902B7


def _iso(us: int) -> str:
    return (dt.datetime.fromtimestamp(us // 1_000_000, dt.timezone.utc)
            .replace(microsecond=us % 1_000_000).isoformat())


def _run(name: str, run_type: str, start: int, end: int | None = None, parent: dict | None = None,
         run_id_: str | None = None, **fields) -> dict:
    """A LangSmith-style run dict for ``Store.import_runs``, times to the microsecond."""
    rid = run_id_ or uuid7()
    order = (parent["dotted_order"] + "." if parent else "") + dotted_segment(start, rid)
    run = {"id": rid, "name": name, "run_type": run_type, "kind": "trace", "dotted_order": order,
           "trace_id": parent["trace_id"] if parent else rid, "parent_run_id": parent["id"] if parent else None,
           "created": _iso(start), "started": _iso(start),
           "status": "pending" if end is None else ("error" if fields.get("error") else "success"), **fields}
    if end is not None:
        run["endtime"] = _iso(end)
    return run


def imported_trace(store) -> list[dict]:
    """A LangSmith trace with every field: odd microseconds, tokens and costs, a first token,
    events with kwargs, nested metadata, an error, a run still pending with a child that ended."""
    root = _run("agent", "chain", BASE + 1, BASE + 900_501, session_name="beta", inputs={"q": "why?", "n": [1, 2.5]},
                outputs={"a": "because", "nested": {"x": None}}, tags=["imported", "t2"],
                metadata={"user": "bob", "n": 3, "flag": True, "cfg": {"lr": 0.5, "layers": [1, 2]}},
                events=[{"name": "start", "time": _iso(BASE + 1)},
                        {"name": "checkpoint", "time": _iso(BASE + 10),
                         "kwargs": {"step": 2, "why": "x", "seen": [1, 2]}}])  # a list went back as text
    llm = _run("model", "llm", BASE + 499, BASE + 500_500, parent=root, session_name="beta",
               inputs={"messages": [{"role": "user", "content": "why?"}]}, outputs={"text": "ok"},
               metadata={"ls_model_name": "gpt-x", "ls_provider": "openai"}, first_token_time=(BASE + 1_234) / 1000,
               prompt_tokens=7, completion_tokens=4, total_tokens=11, prompt_cost=0.25, completion_cost=0.5,
               total_cost=0.75)
    tool = _run("search", "tool", BASE + 600_000, BASE + 700_001, parent=root, session_name="beta",
                inputs={"k": "x"}, error="ValueError: nope\nTraceback ...")
    waiting = _run("waiting", "chain", BASE + 800_000, None, parent=root, session_name="beta", inputs={})
    deeper = _run("deeper", "retriever", BASE + 800_001, BASE + 800_002, parent=waiting, session_name="beta",
                  outputs={"documents": []})
    runs = [root, llm, tool, waiting, deeper]
    store.import_runs(runs)
    return runs


def otel_made_trace(store) -> list[dict]:
    """Two runs made from OTel spans (their ids in ``extra["otel"]``, as the receiver keeps them)."""
    root_id, child_id = run_id(OTEL_TRACE, OTEL_ROOT), run_id(OTEL_TRACE, OTEL_CHILD)
    otel = {"trace_id": f"{OTEL_TRACE:032x}", "kind": "SERVER", "resource": {"service.name": "shop", "pod": "a1"},
            "scope": "shop.handlers"}
    root = _run("GET /cart", "chain", BASE + 5_000_000, BASE + 5_000_900, run_id_=root_id,
                extra={"otel": {**otel, "span_id": f"{OTEL_ROOT:016x}"}})
    child = _run("chat gpt-x", "llm", BASE + 5_000_100, BASE + 5_000_800, parent=root, run_id_=child_id,
                 extra={"otel": {**otel, "kind": "CLIENT", "span_id": f"{OTEL_CHILD:016x}",
                                 "parent_span_id": f"{OTEL_ROOT:016x}"}})
    store.import_runs([root, child])
    return [root, child]


def traced_trace(store) -> None:
    """A trace made by runlite's own ``traceable``."""

    @traceable(run_type="llm", store=store)
    def chat(prompt: str) -> dict:
        current_span().set_usage(usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})
        return {"text": prompt[::-1]}

    @traceable(name="pipeline", tags=["prod", "v2"], metadata={"user": "ada"}, project_name="alpha", store=store)
    def pipeline(question: str) -> dict:
        current_span().add_event("checkpoint", step=1)
        return {"answer": chat(question)["text"]}

    pipeline("what is the answer")
    store.flush()


def make_source(path) -> str:
    db = str(path)
    with runlite.open(db) as store:
        imported_trace(store)
        otel_made_trace(store)
        traced_trace(store)
        with store.init("training", metadata={"lr": 0.1}) as run:  # an experiment: never pushed
            run.log_metrics({"loss": 1.0})
    return db


# ---------------------------------------------------------------- a recording OTLP endpoint


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind) if kind else None


def _attrs(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


class Recorder:
    """An OTLP/HTTP traces endpoint on 127.0.0.1 that decodes and keeps every span it is sent;
    ``answer`` (status, content type, body) replaces its success answer."""

    def __init__(self):
        self.requests: list[tuple[str, dict, list[dict]]] = []
        self.answer: tuple[int, str, bytes] | None = None
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                spans = recorder.decode(ExportTraceServiceRequest.FromString(body))
                recorder.requests.append((self.path, dict(self.headers), spans))
                status, kind, data = recorder.answer or (
                    200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString())
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def decode(message) -> list[dict]:
        spans = []
        for resource_spans in message.resource_spans:
            resource = _attrs(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    spans.append({
                        "trace_id": int.from_bytes(s.trace_id, "big"), "span_id": int.from_bytes(s.span_id, "big"),
                        "parent": int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else None,
                        "name": s.name, "kind": s.kind, "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                        "attributes": _attrs(s.attributes), "status": (s.status.code, s.status.message),
                        "events": [(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in s.events],
                        "links": [(int.from_bytes(k.trace_id, "big"), int.from_bytes(k.span_id, "big"),
                                   _attrs(k.attributes)) for k in s.links],
                        "resource": resource, "scope": scope_spans.scope.name, "trace_state": s.trace_state,
                        "scope_attributes": _attrs(scope_spans.scope.attributes)})
        return spans

    def spans(self, start: int = 0) -> list[dict]:
        return [span for _, _, spans in self.requests[start:] for span in spans]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ns(iso: str) -> int:
    when = dt.datetime.fromisoformat(iso)
    return ((when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)) * 1000


# ---------------------------------------------------------------- tests


def test_spans_keep_their_ids_across_pushes_with_parents_attributes_and_times(tmp_path):
    source = make_source(tmp_path / "src.db")
    with Recorder() as rec, runlite.open(source, read_only=True) as store:
        first = push(store, rec.url)
        sent_first = rec.spans()
        second = push(store, rec.url + "/v1/traces")
        sent_second = rec.spans(len(rec.requests) - second["requests"])
        assert {path for path, _, _ in rec.requests} == {"/v1/traces"}
        runs = {r.id: r for r in store.list_runs() if r.kind == "trace"}
    # 5 imported (one pending), 2 made from OTel spans, 2 traced; the experiment is no trace.
    assert (first["traces"], first["runs"], first["spans"], first["unfinished"], first["requests"]) == (3, 9, 8, 1, 1)
    key = lambda s: (s["trace_id"], s["span_id"])  # noqa: E731
    assert sorted(map(key, sent_first)) == sorted(map(key, sent_second)) and len(set(map(key, sent_first))) == 8
    assert sorted(sent_first, key=key) == sorted(sent_second, key=key)  # the same spans, whole
    by_name = {s["name"]: s for s in sent_first}
    assert "waiting" not in by_name  # not ended: not sent, but its child names it
    ids = {rid: span_ids([r for r in runs.values() if r.trace_id == runs[rid].trace_id])[rid] for rid in runs}
    for name, span in by_name.items():
        (rid,) = [rid for rid, r in runs.items() if r.name == name]
        r = runs[rid]
        assert (span["trace_id"], span["span_id"], span["parent"]) == ids[rid], name
        assert span["parent"] == (None if r.parent_run_id is None else ids[r.parent_run_id][1]), name
        assert span["start"] == _ns(r.started.isoformat()) and span["end"] == _ns(r.ended.isoformat()), name
        assert span["attributes"]["langsmith.trace.name"] == name
        assert span["attributes"]["langsmith.span.kind"] == r.run_type
    # Runs not made from OTel spans: the trace id is the root run id, span ids hash the run id.
    agent = [r for r in runs.values() if r.name == "agent"][0]
    assert by_name["agent"]["trace_id"] == uuid.UUID(agent.id).int
    assert by_name["agent"]["span_id"] == derived_span_id(agent.id)
    waiting = [r for r in runs.values() if r.name == "waiting"][0]
    assert by_name["deeper"]["parent"] == derived_span_id(waiting.id)
    # Runs made from OTel spans go back with their own ids, kind, resource and scope.
    assert (by_name["GET /cart"]["trace_id"], by_name["GET /cart"]["span_id"]) == (OTEL_TRACE, OTEL_ROOT)
    assert by_name["chat gpt-x"]["parent"] == OTEL_ROOT and by_name["chat gpt-x"]["span_id"] == OTEL_CHILD
    assert (by_name["GET /cart"]["kind"], by_name["chat gpt-x"]["kind"]) == (2, 3)  # SERVER, CLIENT
    assert by_name["GET /cart"]["resource"] == {"service.name": "shop", "pod": "a1"}
    assert by_name["GET /cart"]["scope"] == "shop.handlers"
    assert by_name["agent"]["resource"] == {"service.name": "runlite"} and by_name["agent"]["kind"] == 1  # INTERNAL
    # Attributes: LangSmith's exporter's names and the GenAI conventions'.
    a = by_name["agent"]["attributes"]
    assert a["langsmith.trace.session_name"] == "beta" and a["langsmith.span.tags"] == "imported, t2"
    assert (a["langsmith.metadata.user"], a["langsmith.metadata.n"], a["langsmith.metadata.flag"]) == ("bob", 3, True)
    assert json.loads(a["langsmith.metadata.cfg"]) == {"lr": 0.5, "layers": [1, 2]}
    assert json.loads(a[GEN_AI.GEN_AI_PROMPT]) == {"q": "why?", "n": [1, 2.5]}
    assert json.loads(a[GEN_AI.GEN_AI_COMPLETION]) == {"a": "because", "nested": {"x": None}}
    assert a[GEN_AI.GEN_AI_OPERATION_NAME] == "chain" and by_name["agent"]["status"] == (1, "")  # OK
    assert [(n, t, at) for n, t, at in by_name["agent"]["events"]] == [
        ("start", (BASE + 1) * 1000, {}), ("checkpoint", (BASE + 10) * 1000, {"step": 2, "why": "x", "seen": [1, 2]})]
    m = by_name["model"]["attributes"]
    assert m[GEN_AI.GEN_AI_OPERATION_NAME] == "chat" and m[GEN_AI.GEN_AI_REQUEST_MODEL] == "gpt-x"
    assert m[GEN_AI.GEN_AI_SYSTEM] == "openai"
    assert (m[GEN_AI.GEN_AI_USAGE_INPUT_TOKENS], m[GEN_AI.GEN_AI_USAGE_OUTPUT_TOKENS],
            m["gen_ai.usage.total_tokens"]) == (7, 4, 11)
    assert (m["llm.cost.prompt"], m["llm.cost.completion"], m["llm.cost.total"]) == (0.25, 0.5, 0.75)
    assert m[GEN_AI.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == pytest.approx((1_234 - 499) / 1e6, abs=1e-9)
    assert by_name["search"]["status"] == (2, "ValueError: nope\nTraceback ...")  # ERROR with the error text
    assert by_name["search"]["attributes"][GEN_AI.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert by_name["deeper"]["attributes"][GEN_AI.GEN_AI_OPERATION_NAME] == "retrieval"
    p = by_name["pipeline"]
    assert p["attributes"]["langsmith.trace.session_name"] == "alpha"
    assert p["attributes"]["langsmith.metadata.user"] == "ada" and p["attributes"]["langsmith.span.tags"] == "prod, v2"
    assert [e[0] for e in p["events"]] == ["checkpoint"] and p["events"][0][2] == {"step": 1}
    assert by_name["chat"]["parent"] == p["span_id"] and by_name["chat"]["attributes"]["gen_ai.usage.total_tokens"] == 5


def test_a_filter_sends_whole_traces_and_project_names_every_span(tmp_path):
    source = make_source(tmp_path / "src.db")
    with Recorder() as rec, runlite.open(source, read_only=True) as store:
        done = push(store, rec.url, filter='eq(name, "search")', project="shipped")
        assert (done["traces"], done["spans"], done["unfinished"]) == (1, 4, 1)
        assert {s["name"] for s in rec.spans()} == {"agent", "model", "search", "deeper"}
        assert {s["attributes"]["langsmith.trace.session_name"] for s in rec.spans()} == {"shipped"}
        assert push(store, rec.url, filter='eq(name, "nothing")')["spans"] == 0


def test_many_spans_go_in_batches_of_512(tmp_path):
    with runlite.open(str(tmp_path / "src.db")) as store:
        root = _run("root", "chain", BASE, BASE + 10_000)
        kids = [_run(f"k{i}", "tool", BASE + 1 + i, BASE + 2 + i, parent=root) for i in range(1_100)]
        store.import_runs([root, *kids])
        with Recorder() as rec:
            done = push(store, rec.url)
            assert (done["spans"], done["requests"]) == (1_101, 3)
            assert [len(spans) for _, _, spans in rec.requests] == [BATCH_SPANS, BATCH_SPANS, 1_101 - 2 * BATCH_SPANS]
            assert len({s["span_id"] for s in rec.spans()}) == 1_101


def test_bad_arguments_raise_validation_error_before_anything_is_sent(tmp_path):
    with Recorder() as rec, runlite.open(str(tmp_path / "src.db")) as store:
        imported_trace(store)
        for url in ("ftp://127.0.0.1/x", "127.0.0.1:4318", "http://", "", None, 5, "http://a b/", "http://[::1",
                    "http://[not-ipv6]/", "http://host:99999", "http://host:port", "http://host:0"):
            with pytest.raises(runlite.ValidationError, match="OTLP endpoint must be an http"):
                push(store, url)
        for store_of_none in (None, 5, "runs.db"):
            with pytest.raises(runlite.ValidationError, match="store must be a runlite Store"):
                push(store_of_none, rec.url)
        for kwargs, message in (({"filter": 3}, "filter"), ({"filter": "eq(nosuchfield, 1)"}, "nosuchfield"),
                                ({"project": ""}, "project"), ({"headers": {"a b": "x"}}, "header name"),
                                ({"headers": {"k": "x\ny"}}, "header k"), ({"headers": ["k"]}, "headers"),
                                ({"timeout": 0}, "timeout"), ({"timeout": True}, "timeout")):
            with pytest.raises(runlite.ValidationError, match=message):
                push(store, rec.url, **kwargs)
        assert rec.requests == []


def test_an_unreachable_endpoint_raises_push_error(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with runlite.open(str(tmp_path / "src.db")) as store:
        imported_trace(store)
        with pytest.raises(PushError, match=f"cannot reach the OTLP endpoint at http://127.0.0.1:{port}/v1/traces") \
                as caught:
            push(store, f"http://127.0.0.1:{port}", timeout=1)
        assert caught.value.result["spans"] == 0 and caught.value.result["traces"] == 1


def test_error_answers_and_rejected_spans_raise_push_error(tmp_path):
    with Recorder() as rec, runlite.open(str(tmp_path / "src.db")) as store:
        imported_trace(store)
        rec.answer = (400, "application/x-protobuf", Status(code=3, message="span too old").SerializeToString())
        with pytest.raises(PushError, match=r"answered HTTP 400 Bad Request \(span too old\) to 4 spans"):
            push(store, rec.url)
        rec.answer = (401, "application/json", b'{"message": "bad key"}')
        with pytest.raises(PushError, match=r"HTTP 401 Unauthorized \(bad key\)"):
            push(store, rec.url)
        answer = ExportTraceServiceResponse()
        answer.partial_success.rejected_spans = 2
        answer.partial_success.error_message = "two spans lack a name"
        rec.answer = (200, "application/x-protobuf", answer.SerializeToString())
        with pytest.raises(PushError, match="rejected 2 of 4 spans: two spans lack a name") as caught:
            push(store, rec.url)
        assert caught.value.result["spans"] == 0


def test_without_the_exporter_the_error_names_the_extra(tmp_path, monkeypatch):
    with runlite.open(str(tmp_path / "src.db")) as store:
        monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
        with pytest.raises(ImportError, match=r"pip install 'runlite\[otel\]'"):
            push(store, "http://127.0.0.1:9")


def test_the_command_pushes_with_headers_and_reports_errors(tmp_path):
    source = make_source(tmp_path / "src.db")

    def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runlite", "push", *args, "--db", source], capture_output=True,
                              text=True, timeout=120, env={**os.environ, **(env or {})})

    with Recorder() as rec:
        done = cli("--otlp", rec.url, "--header", "X-Api-Key=k1", "--header", "X-Team = ml")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (f"sent 8 spans of 3 traces to {rec.url}/v1/traces in 1 requests; 1 runs not "
                                       "ended yet were not sent (push again once they end)")
        headers = {k.lower(): v for k, v in rec.requests[0][1].items()}
        assert (headers["x-api-key"], headers["x-team"]) == ("k1", "ml")
        assert headers["content-type"] == "application/x-protobuf"
        again = cli("--otlp", rec.url + "/v1/traces", "--json", 'eq(name, "pipeline")',
                    env={"OTEL_EXPORTER_OTLP_HEADERS": "x-from-env=yes"})
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["spans"] == 2
        assert {k.lower(): v for k, v in rec.requests[-1][1].items()}["x-from-env"] == "yes"
        sent = len(rec.requests)
        for args, message in ((["--otlp", "ftp://x"], "the OTLP endpoint must be an http"),
                              (["--otlp", rec.url, "--endpoint", rec.url], "--endpoint and --api-key go with"),
                              (["--otlp", rec.url, "--header", "novalue"], "a header is NAME=VALUE"),
                              (["--langsmith", "--header", "a=b"], "--header goes with --otlp"),
                              (["--otlp", rec.url, "eq(nosuchfield, 1)"], "")):
            bad = cli(*args)
            assert bad.returncode == 1 and f"runlite: error: {message}" in bad.stderr, (args, bad.stderr)
        assert cli("--otlp", rec.url, "--langsmith").returncode == 2  # one or the other
        assert cli().returncode == 2  # one is required
        assert len(rec.requests) == sent
        rec.answer = (503, "text/plain", b"down")
        failed = cli("--otlp", rec.url, env={"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1"})  # retried within 1 s
        assert failed.returncode == 1
        # One clear line, not the exporter's own log records.
        assert failed.stderr.strip().splitlines() == [f"runlite: error: the OTLP endpoint at {rec.url}/v1/traces "
                                                      "answered HTTP 503 Service Unavailable (down) to 8 spans"]


def test_spans_an_sdk_made_go_out_with_the_ids_kind_resource_links_and_attributes_they_had(tmp_path):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import INVALID_SPAN_CONTEXT, Link, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from runlite.otel import RunliteSpanExporter

    with runlite.open(str(tmp_path / "src.db")) as store:
        provider = TracerProvider(resource=Resource({"service.name": "shop", "deployment.environment": "prod"}))
        seen = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(seen))
        provider.add_span_processor(SimpleSpanProcessor(RunliteSpanExporter(store)))
        tracer = provider.get_tracer("shop.handlers", "1.2", attributes={"lib.flavor": "async"})
        upstream = TraceContextTextMapPropagator().extract({
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "ot=th:8,v=abc"})
        with tracer.start_as_current_span("GET /cart", context=upstream, kind=SpanKind.SERVER,
                                          attributes={"http.method": "GET"}) as root:
            other = root.get_span_context()
            links = [Link(other, {"why": "retry"}), Link(INVALID_SPAN_CONTEXT, {"why": "no context"})]
            with tracer.start_as_current_span("chat gpt-x", kind=SpanKind.CLIENT, links=links,
                                              attributes={GEN_AI.GEN_AI_OPERATION_NAME: "chat",
                                                          GEN_AI.GEN_AI_REQUEST_MODEL: "gpt-x",
                                                          GEN_AI.GEN_AI_USAGE_INPUT_TOKENS: 9,
                                                          "langsmith.span.tags": ["a,b", "c"]}):
                pass
            with tracer.start_as_current_span("lookup") as failing:
                failing.set_status(Status(StatusCode.ERROR, "no such cart"))
        provider.shutdown()
        with Recorder() as rec:
            assert push(store, rec.url)["spans"] == 3
            sent = {s["name"]: s for s in rec.spans()}
    made = {s.name: s for s in seen.get_finished_spans()}
    assert set(sent) == set(made)
    for name, span in made.items():
        out = sent[name]
        parent = span.parent.span_id if span.parent else None
        assert (out["trace_id"], out["span_id"], out["parent"]) == (span.context.trace_id, span.context.span_id,
                                                                     parent), name
        assert (out["start"], out["end"]) == (span.start_time // 1000 * 1000, span.end_time // 1000 * 1000), name
        assert out["kind"] == span.kind.value + 1, name  # the protobuf's numbers start at UNSPECIFIED
        assert out["resource"] == {"service.name": "shop", "deployment.environment": "prod"}, name
        assert out["scope"] == "shop.handlers" and out["scope_attributes"] == {"lib.flavor": "async"}, name
        assert out["trace_state"] == "ot=th:8,v=abc", name  # (the upstream's, every span of its trace)
    chat = sent["chat gpt-x"]
    assert chat["attributes"][GEN_AI.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert chat["attributes"][GEN_AI.GEN_AI_REQUEST_MODEL] == "gpt-x"
    assert chat["attributes"]["langsmith.span.kind"] == "llm"
    assert chat["attributes"]["langsmith.span.tags"] == ["a,b", "c"]  # a tag with a comma: a list
    assert chat["links"] == [(other.trace_id, other.span_id, {"why": "retry"}), (0, 0, {"why": "no context"})]
    assert sent["GET /cart"]["attributes"]["langsmith.metadata.http.method"] == "GET"
    assert sent["GET /cart"]["status"] == (0, "") and sent["lookup"]["status"] == (2, "no such cart")  # UNSET kept


# ---------------------------------------------------------------- home again: runlite serve


def _served_otlp(db: str):
    """A ``runlite serve`` over ``db`` if it has an OTLP receiver, else skip saying why."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    from .serving import Served, request

    server = Served(db)
    status, _ = request(server.url, "POST", "/v1/traces", ExportTraceServiceRequest().SerializeToString(),
                        {"Content-Type": "application/x-protobuf"})
    if status in (404, 405):
        server.stop()
        pytest.skip("runlite serve has no OTLP receiver (POST /v1/traces) yet: runlite/server/otlp.py")
    return server


def test_traces_pushed_into_runlite_serve_come_back_as_the_same_runs(tmp_path):
    source, dest = make_source(tmp_path / "src.db"), str(tmp_path / "dst.db")
    server = _served_otlp(dest)
    try:
        with runlite.open(source, read_only=True) as store:
            first = push(store, server.url)
            second = push(store, server.url)  # the same span ids: the same runs, nothing added
            assert first["spans"] == second["spans"] == 8
            mine = [r for r in store.list_runs() if r.kind == "trace"]
            ids: dict[str, tuple] = {}
            for trace_id in {r.trace_id for r in mine}:
                ids.update(span_ids([r for r in mine if r.trace_id == trace_id]))
            sent = [r for r in mine if r.ended is not None]
            assert server.stop() == 0
            with runlite.open(dest, read_only=True) as dst:
                theirs = {r.id: r for r in dst.list_runs() if r.kind == "trace"}
                home = {r.id: run_id(*ids[r.id][:2]) for r in mine}
                assert set(theirs) == {home[r.id] for r in sent}  # pushed twice: each run once
                for a in sent:
                    b = theirs[home[a.id]]
                    where = f"run {a.name}"
                    assert b.parent_run_id == (None if a.parent_run_id is None else home[a.parent_run_id]), where
                    for field in ("name", "outputs", "error", "tags", "prompt_tokens", "completion_tokens",
                                  "total_tokens", "prompt_cost", "completion_cost", "total_cost"):
                        assert getattr(b, field) == getattr(a, field), f"{where}: {field}"
                    assert b.inputs == (a.inputs if a.inputs is not None else {}), where  # a received run has inputs
                    assert b.run_type == (a.run_type or "chain"), where
                    for field in ("started", "ended", "first_token_time"):  # to the microsecond
                        assert getattr(b, field) == getattr(a, field), f"{where}: {field}"
                    assert b.to_dict()["status"] == a.to_dict()["status"], where
                    assert b.session_name == (a.session_name or "default"), where
                    assert {k: b.metadata.get(k) for k in a.metadata} == dict(a.metadata), where
                    assert [(e["name"], e["time"], e.get("kwargs")) for e in b.events] == \
                           [(e["name"], e["time"], e.get("kwargs")) for e in a.events], where
                # Pushed on from there, the runs go as the same spans again (their ids kept in extra.otel).
                with Recorder() as rec:
                    push(store, rec.url)
                    push(dst, rec.url)
                    first, onward = rec.requests[0][2], rec.requests[1][2]
                shape = lambda s: (s["trace_id"], s["span_id"], s["parent"], s["name"], s["start"], s["end"],  # noqa
                                   s["status"], s["events"], s["attributes"]["langsmith.span.kind"])
                assert sorted(map(shape, onward)) == sorted(map(shape, first))
    finally:
        if server.proc.poll() is None:
            server.stop()
