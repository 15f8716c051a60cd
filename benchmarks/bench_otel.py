"""OpenTelemetry spans in: through the in-process ``RunliteSpanExporter`` and through
``runlite serve``'s OTLP receiver (protobuf, batches of 512, as the SDK's exporter sends
them), beside raw apsw inserts of the same spans' rows, in one run.

Beside them, SQLite's share: raw apsw inserting the very rows the exporter wrote into runlite's
own runs table, as the span writer does (64 rows a statement, a transaction an export), and the
same rows with their run ids (uuid5 of the OTel ids, so random in every index keyed by a run id)
replaced by ids in arrival order: what those ids cost in SQLite alone."""

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

from runlite.storage.runs import ROWS_PER_STATEMENT  # rows a statement, as runlite's span writer inserts them

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


def _written_rows(path: str) -> tuple[list[str], list[tuple], list[tuple]]:
    """(the runs table's columns, its rows in the order written, the folders' rows) of a file."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        return (columns, conn.execute("SELECT * FROM runs ORDER BY rowid").fetchall(),
                conn.execute("SELECT * FROM folders").fetchall())
    finally:
        conn.close()


def _in_arrival_order(columns: list[str], rows: list[tuple]) -> list[tuple]:
    """``rows`` with every run id (id, parent, trace, dotted order's segments) replaced by one
    that sorts in the order the runs were written, as a uuid7 would."""
    ids: dict[str, str] = {}

    def ordered(run_id):
        if run_id is None:
            return None
        if run_id not in ids:
            ids[run_id] = f"{len(ids):08x}-0000-7000-8000-000000000000"
        return ids[run_id]

    at = {name: columns.index(name) for name in ("id", "parent_run_id", "trace_id", "dotted_order")}
    out = []
    for written in rows:
        cells = list(written)
        for name in ("id", "parent_run_id", "trace_id"):
            cells[at[name]] = ordered(cells[at[name]])
        # a segment: a start time (%Y%m%dT%H%M%S%fZ), then a run id (36 characters)
        cells[at["dotted_order"]] = ".".join(seg[:-36] + ordered(seg[-36:]) for seg in cells[at["dotted_order"]].split("."))
        out.append(tuple(cells))
    return out


def _stored_rows_seconds(columns: list[str], rows: list[tuple], folders: list[tuple], path: str) -> float:
    """Raw apsw inserting ``rows`` into a new runlite file's runs table, ``ROWS_PER_STATEMENT`` a
    statement and an export's ``BATCH`` a transaction, with runlite's foreign keys and journal."""
    import runlite

    runlite.open(path).close()  # runlite's schema
    conn = apsw.Connection(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL").fetchall()
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        with conn:
            conn.executemany(f"INSERT OR IGNORE INTO folders VALUES ({', '.join('?' * len(folders[0]))})", folders)
        one = f"({', '.join('?' * len(columns))})"
        insert = f"INSERT INTO runs ({', '.join(columns)}) VALUES "
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn:
                batch = rows[i:i + BATCH]
                for j in range(0, len(batch), ROWS_PER_STATEMENT):
                    part = batch[j:j + ROWS_PER_STATEMENT]
                    conn.execute(insert + ", ".join([one] * len(part)), [v for r in part for v in r])
        return time.perf_counter() - start
    finally:
        conn.close()


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
    exporter, receiver, raw, stored, ordered = [], [], [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            exporter.append(_exporter_seconds(spans, tmp))
            raw.append(_raw_seconds(spans, tmp))
            columns, rows, folders = _written_rows(os.path.join(tmp, "exporter.db"))
            stored.append(_stored_rows_seconds(columns, rows, folders, os.path.join(tmp, "stored.db")))
            ordered.append(_stored_rows_seconds(columns, _in_arrival_order(columns, rows), folders,
                                                os.path.join(tmp, "ordered.db")))
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
        # SQLite's share of the exporter's time, and what the random run ids cost of it.
        row(f"... raw apsw inserting the rows the exporter wrote into runlite's runs table, {ROWS_PER_STATEMENT} a"
            f" statement, {BATCH} a transaction", len(spans) / statistics.median(stored), "spans/s", base,
            target="(raw: one executemany of the rows)"),
        row("... the same rows with run ids in arrival order instead of uuid5s of the OTel ids (baseline: with"
            " those)", len(spans) / statistics.median(ordered), "spans/s", len(spans) / statistics.median(stored)),
    ]
