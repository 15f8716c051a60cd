"""OpenTelemetry spans in: through the in-process ``RunliteSpanExporter`` and through
``runlite serve``'s OTLP receiver (protobuf, batches of 512, as the SDK's exporter sends
them), beside raw apsw inserts of the same spans' rows, in one run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import apsw

from .common import row

N = 20_000   # spans a measurement
BATCH = 512  # spans an export, the SDK's BatchSpanProcessor default


def _spans(n: int) -> list:
    """Finished SDK spans: traces of 1 root and 9 llm children with GenAI attributes."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for t in range(n // 10):
        with tracer.start_as_current_span(f"agent-{t}", attributes={"user.id": "u1"}):
            for i in range(9):
                with tracer.start_as_current_span("chat", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 10 + i,
                        "gen_ai.usage.output_tokens": 5, "gen_ai.prompt": json.dumps({"q": f"question {i}"})}):
                    pass
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def _exporter_seconds(spans: list, folder: str) -> float:
    import runlite
    from runlite.otel import RunliteSpanExporter

    with runlite.open(os.path.join(folder, "exporter.db")) as store:
        exporter = RunliteSpanExporter(store)
        start = time.perf_counter()
        for i in range(0, len(spans), BATCH):
            exporter.export(spans[i:i + BATCH])
        exporter.force_flush()
        return time.perf_counter() - start


def _receiver_seconds(bodies: list[bytes], url: str) -> float:
    start = time.perf_counter()
    for data in bodies:
        req = urllib.request.Request(url + "/v1/traces", data=data, headers={"Content-Type": "application/x-protobuf"})
        urllib.request.urlopen(req).read()
    # a read answers after every acknowledged span is written
    req = urllib.request.Request(url + "/runs/query", data=b'{"limit": 1}', headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    return time.perf_counter() - start


def _raw_seconds(spans: list, folder: str) -> float:
    """Raw apsw: one executemany of the spans' rows (ids, names, times, attributes as JSON)."""
    rows = [(f"{s.context.trace_id:032x}{s.context.span_id:016x}", f"{s.parent.span_id:016x}" if s.parent else None, s.name,
             s.start_time, s.end_time, json.dumps(dict(s.attributes))) for s in spans]
    conn = apsw.Connection(os.path.join(folder, "raw.db"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE spans (id TEXT PRIMARY KEY, parent TEXT, name TEXT, start INTEGER, end INTEGER,"
                 " attributes TEXT)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?)", rows)
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def run(quick: bool = False) -> list[dict]:
    """Spans/s through the exporter and the OTLP receiver, and raw inserts of the same rows."""
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        import starlette  # noqa: F401
    except ImportError:
        print("bench_otel: skipped (needs runlite[otel] and runlite[server])", file=sys.stderr)
        return []
    repeat = 1 if quick else 3
    n = 2_000 if quick else N
    spans = _spans(n)
    bodies = [encode_spans(spans[i:i + BATCH]).SerializeToString() for i in range(0, len(spans), BATCH)]
    exporter, receiver, raw = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            exporter.append(_exporter_seconds(spans, tmp))
            raw.append(_raw_seconds(spans, tmp))
            proc = subprocess.Popen([sys.executable, "-m", "runlite", "serve", os.path.join(tmp, "serve.db"),
                                     "--port", "0"], stdout=subprocess.PIPE, text=True)
            try:
                url = proc.stdout.readline().split(" at ", 1)[1].split()[0]
                receiver.append(_receiver_seconds(bodies, url))
            finally:
                proc.terminate()
                proc.wait(60)
    base = len(spans) / statistics.median(raw)
    return [
        row(f"OTel spans through RunliteSpanExporter, {len(spans):,} in exports of {BATCH}",
            len(spans) / statistics.median(exporter), "spans/s", base, target="(raw: one executemany of the rows)"),
        row(f"OTel spans through runlite serve /v1/traces (protobuf, {BATCH} a request)",
            len(spans) / statistics.median(receiver), "spans/s", base, target="(raw: one executemany of the rows)"),
    ]
