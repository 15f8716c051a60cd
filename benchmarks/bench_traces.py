"""Tracing: overhead per span on the traced thread, and reading a 10,000-span trace.

Baselines measured in the same run: a plain (untraced) call; raw apsw inserting the same
span rows in one transaction; raw apsw fetching the trace's rows.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import apsw

import runlite

from .common import row

N = 50_000


def _traced_seconds(store, n: int) -> tuple[float, float]:
    """(seconds for n traced calls on the caller's thread, seconds until written)."""
    @runlite.traceable(run_type="tool", store=store)
    def add(a, b=1):
        return a + b

    start = time.perf_counter()
    for i in range(n):
        add(i)
    traced = time.perf_counter() - start
    store.live.flush_spans()
    return traced, time.perf_counter() - start


def _plain_seconds(n: int) -> float:
    def add(a, b=1):
        return a + b

    start = time.perf_counter()
    for i in range(n):
        add(i)
    return time.perf_counter() - start


def _raw_spans(tmp: str, n: int) -> float:
    conn = apsw.Connection(os.path.join(tmp, "raw.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, run_type TEXT, status TEXT, trace_id TEXT,"
                 " dotted_order TEXT, created INTEGER, ended INTEGER, inputs TEXT, outputs TEXT)")
    conn.execute("CREATE INDEX runs_trace ON runs(trace_id, dotted_order)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO runs VALUES (?, ?, 'tool', 'completed', ?, ?, ?, ?, ?, ?)",
                         ((f"{i:032x}", "add", f"{i:032x}", f"2024{i:032x}", i, i + 1, f'{{"a":{i},"b":1}}',
                           f'{{"output":{i + 1}}}') for i in range(n)))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def _big_trace(store) -> str:
    with runlite.trace("root", store=store, inputs={"q": "x"}) as root:
        for i in range(100):
            with runlite.trace(f"step-{i}", store=store, inputs={"i": i}):
                for j in range(99):
                    span = runlite.trace("leaf", run_type="tool", store=store, inputs={"j": j})
                    span.end(outputs={"r": j})
    store.live.flush_spans()
    return root.trace_id


def _walk(record) -> int:
    """Touch what a waterfall view shows of every span."""
    n = 0
    stack = [record]
    while stack:
        rec = stack.pop()
        rec.name, rec.status, rec.start_time, rec.end_time, rec.total_tokens  # noqa: B018
        n += 1
        stack.extend(rec.child_runs)
    return n


def run(quick: bool = False) -> list[dict]:
    """Span overhead, spans/s and trace read times."""
    repeat = 1 if quick else 5
    n = 10_000 if quick else N
    traced, written, plain, raw = [], [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            with runlite.open(os.path.join(tmp, "t.db")) as store:
                t, w = _traced_seconds(store, n)
            traced.append(t)
            written.append(w)
            plain.append(_plain_seconds(n))
            raw.append(_raw_spans(tmp, n))
    t, w, p, r = map(statistics.median, (traced, written, plain, raw))
    out = [
        row("overhead per traced call (traced thread)", (t - p) / n * 1e6, "us", None,
            higher_is_better=False, target="<= 20 us"),
        row("spans traced and written", n / w, "spans/s", n / r, target="(raw: one executemany of the rows)"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.db")
        with runlite.open(path) as store:
            trace_id = _big_trace(store)
        with runlite.open(path, read_only=True) as store:
            times, walked = [], []
            for _ in range(repeat):
                start = time.perf_counter()
                tree = store.trace(trace_id)
                times.append(time.perf_counter() - start)
                assert _walk(tree) == 10_001
                walked.append(time.perf_counter() - start)
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        raw_times = []
        for _ in range(repeat):
            start = time.perf_counter()
            conn.execute("SELECT * FROM runs WHERE trace_id = ? ORDER BY dotted_order", (trace_id,)).fetchall()
            raw_times.append(time.perf_counter() - start)
        conn.close()
    raw_ms = statistics.median(raw_times) * 1e3
    out.append(row("read a 10,001-span trace (store.trace)", statistics.median(times) * 1e3, "ms", raw_ms,
                   higher_is_better=False, target="< 50 ms"))
    out.append(row("... and touch name/status/times/tokens of every span", statistics.median(walked) * 1e3, "ms",
                   raw_ms, higher_is_better=False))
    return out + run_queries(quick)


FILTER = 'and(eq(run_type, "llm"), gt(total_tokens, 5000), has(tags, "prod"))'
RAW = ("SELECT * FROM runs WHERE run_type = 'llm' AND total_tokens > 5000"
       " AND EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = 'prod')")


def _many_runs(store, n: int) -> None:
    types = ("llm", "chain", "tool", "retriever", "embedding", "prompt", "parser")
    for i in range(n):
        span = runlite.trace(f"span-{i}", run_type=types[i % 7], store=store,
                             tags=["prod" if i % 3 == 0 else "dev"], metadata={"i": i})
        span.set_usage(prompt_tokens=i % 9000, completion_tokens=100)
        span.end(outputs={"i": i})
    store.live.flush_spans()


def run_queries(quick: bool = False) -> list[dict]:
    """list_runs with a three-clause filter over 100,000 runs."""
    repeat = 1 if quick else 5
    n = 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "many.db")
        with runlite.open(path) as store:
            _many_runs(store, n)
        with runlite.open(path, read_only=True) as store:
            found = len(store.list_runs(filter=FILTER))
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                store.list_runs(filter=FILTER)
                times.append(time.perf_counter() - start)
        conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        assert len(conn.execute(RAW).fetchall()) == found
        raw = []
        for _ in range(repeat):
            start = time.perf_counter()
            conn.execute(RAW).fetchall()
            raw.append(time.perf_counter() - start)
        conn.close()
    return [row(f"list_runs, 3-clause filter over {n:,} runs ({found:,} match)", statistics.median(times) * 1e3,
                "ms", statistics.median(raw) * 1e3, higher_is_better=False, target="< 20 ms")]
