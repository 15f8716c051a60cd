"""``runlite serve`` driven by the real ``langsmith`` SDK: runs ingested per second through its
batch and multipart paths (baseline: the same SDK calls to a server that reads the bodies and
discards them), the cost of a traced call with runlite serving (baseline: tracing off), and a
large trace read back as the SDK reads one, ``list_runs(trace_id=...)`` a page of 100 at a time
(baseline: the same SDK reading the same pages from a server that holds them ready: what the
SDK itself costs)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from runlite.server.reads import info

from .common import row

N = 10_000      # runs ingested a measurement
CALLS = 5_000   # traced calls a measurement
CHUNK = 100     # runs a request, the SDK's default batch size
SPANS = 10_000  # the read-back trace: a root and this many spans below it


def _runs(n: int) -> list[dict]:
    now = dt.datetime.now(dt.timezone.utc)
    out = []
    for i in range(n):
        run_id = str(uuid.uuid4())
        out.append({"id": run_id, "trace_id": run_id, "dotted_order": now.strftime("%Y%m%dT%H%M%S%fZ") + run_id,
                    "name": f"call-{i}", "run_type": "llm", "start_time": now, "end_time": now,
                    "inputs": {"prompt": f"question {i}"}, "outputs": {"text": f"answer {i}"},
                    "extra": {"metadata": {"i": i}}, "tags": ["bench"], "session_name": "bench"})
    return out


class _Discard(http.server.BaseHTTPRequestHandler):
    """Reads each body and answers as runlite serve would, storing nothing."""
    protocol_version = "HTTP/1.1"
    info = b""

    def do_GET(self) -> None:
        self._answer(200, self.info)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(202, b'{"status":"accepted"}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(db: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "runlite", "serve", db, "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().split(" at ", 1)[1].split()[0]


def _ingest(url: str, runs: list[dict], path: str, settle) -> float:
    from langsmith import Client

    client = Client(api_url=url, api_key="bench", auto_batch_tracing=False)
    send = client.multipart_ingest if path == "multipart" else client.batch_ingest_runs
    start = time.perf_counter()
    for i in range(0, len(runs), CHUNK):
        send(create=runs[i:i + CHUNK])
    settle()
    return time.perf_counter() - start


def _written(url: str, n: int):
    import urllib.request

    def settle() -> None:  # a read answers after every acknowledged run is written
        req = urllib.request.Request(url + "/runs/query", data=json.dumps({"session": None, "limit": 1}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
    return settle


class _Pages(_Discard):
    """Answers /runs/query from ``pages`` (request cursor -> body), made beforehand."""
    pages: dict = {}

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self._answer(200, self.pages[query.get("cursor")])


def _trace_file(path: str, spans: int) -> tuple[str, dict]:
    """A file holding `bench_traces.big_trace` of ``spans`` spans, its id, and the /runs/query
    pages runlite answers for it, by request cursor."""
    import runlite
    from runlite.server.reads import query_runs

    from .bench_traces import big_trace

    with runlite.open(path) as store:
        trace_id = big_trace(store, spans)
    pages, cursor = {}, None
    with runlite.open(path, read_only=True) as store:
        while True:
            page = query_runs(store, {"trace": trace_id, "cursor": cursor})
            pages[cursor] = json.dumps(page).encode()
            cursor = page["cursors"]["next"]
            if cursor is None:
                return trace_id, pages


def _trace_read_seconds(url: str, trace_id: str, spans: int) -> float:
    import warnings

    from langsmith import Client

    client = Client(api_url=url, api_key="bench")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # list_runs' deprecation notice
        found = sum(1 for _ in client.list_runs(trace_id=trace_id))
    seconds = time.perf_counter() - start
    assert found == spans + 1, found
    return seconds


def _traced_call_seconds(url: str | None, calls: int) -> float:
    from langsmith import Client, traceable, tracing_context

    client = Client(api_url=url or "http://127.0.0.1:9", api_key="bench")

    @traceable(run_type="tool")
    def step(x: int) -> int:
        return x + 1

    with tracing_context(enabled=url is not None, client=client, project_name="bench"):
        start = time.perf_counter()
        for i in range(calls):
            step(i)
        seconds = time.perf_counter() - start
    if url is not None:
        client.flush()
    return seconds


def run(quick: bool = False) -> list[dict]:
    """Runs/s through runlite serve (batch and multipart) and the SDK's traced-call cost."""
    try:
        import langsmith  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        print("bench_serve: skipped (needs the langsmith SDK and runlite[server])", file=sys.stderr)
        return []
    repeat = 1 if quick else 3
    n = 2_000 if quick else N
    calls = 1_000 if quick else CALLS
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _serve(os.path.join(tmp, "serve.db"))
        discard = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
        _Discard.info = json.dumps(info(64 << 20)).encode()
        threading.Thread(target=discard.serve_forever, daemon=True).start()
        null_url = f"http://127.0.0.1:{discard.server_address[1]}"
        try:
            for path in ("batch", "multipart"):
                ours = [_ingest(url, _runs(n), path, _written(url, n)) for _ in range(repeat)]
                base = [_ingest(null_url, _runs(n), path, lambda: None) for _ in range(repeat)]
                out.append(row(f"LangSmith SDK {path} ingest into runlite serve, {n:,} runs", n / statistics.median(ours),
                               "runs/s", n / statistics.median(base),
                               target="(baseline: the same SDK calls to a server that discards them)"))
            on = statistics.median([_traced_call_seconds(url, calls) for _ in range(repeat)]) / calls * 1e6
            off = statistics.median([_traced_call_seconds(None, calls) for _ in range(repeat)]) / calls * 1e6
            null = statistics.median([_traced_call_seconds(null_url, calls) for _ in range(repeat)]) / calls * 1e6
            out.append(row("LangSmith SDK @traceable call, tracing into runlite serve", on, "us", off,
                           higher_is_better=False, target="(baseline: the SDK with tracing off)"))
            out.append(row("... the same call, tracing into a server that discards", null, "us", off,
                           higher_is_better=False, target="(baseline: the SDK with tracing off)"))
        finally:
            discard.shutdown()
            proc.terminate()
            proc.wait(60)
        out.append(_trace_read(os.path.join(tmp, "trace.db"), 2_000 if quick else SPANS, repeat))
    return out


def _trace_read(path: str, spans: int, repeat: int) -> dict:
    """The SDK reading a trace of ``spans + 1`` runs through runlite serve, beside the same
    SDK reading the same pages from a server holding them ready."""
    trace_id, _Pages.pages = _trace_file(path, spans)
    _Pages.info = json.dumps(info(64 << 20)).encode()
    proc, url = _serve(path)
    ready = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=ready.serve_forever, daemon=True).start()
    ready_url = f"http://127.0.0.1:{ready.server_address[1]}"
    try:
        for server in (url, ready_url):  # a first read loads what the server imports on first use
            _trace_read_seconds(server, trace_id, spans)
        ours, base = [], []
        for _ in range(repeat):  # taking turns
            ours.append(_trace_read_seconds(url, trace_id, spans))
            base.append(_trace_read_seconds(ready_url, trace_id, spans))
    finally:
        ready.shutdown()
        proc.terminate()
        proc.wait(60)
    return row(f"LangSmith SDK list_runs(trace_id=...) of a {spans + 1:,}-run trace through runlite serve",
               statistics.median(ours) * 1e3, "ms", statistics.median(base) * 1e3, higher_is_better=False,
               target="(baseline: the same SDK reading the same pages from a server holding them ready)")
