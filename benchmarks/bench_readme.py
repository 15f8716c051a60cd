"""The figures README.md states, measured on its own snippets as written.

- The metrics loop: 10,000 ``log_metrics`` calls of two metrics on a run with one threshold
  alert, points/s (wall time, and the process's CPU time, which a busy shared machine changes
  less), beside raw apsw inserting the same 20,000 points in one transaction; and the bytes its
  points take in the file (chunks and their sketches).
- The trace quick-start's ``call_model`` traced through the default store: the traced thread's
  CPU per call beyond the plain function, and the wall time with the writer thread working
  meanwhile, beside raw apsw's time a span row (bench_traces' baseline).

No targets: README.md quotes these rows. Each repetition starts a fresh store; a first, untimed
one imports the modules a first call loads.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import apsw

import runlite

from .bench_traces import _raw_spans
from .common import raw_rows_seconds, row

STEPS = 10_000
CALLS = 20_000  # traced calls a repetition


def _metrics_loop(tmp: str) -> tuple[float, float, int]:
    """README's loop as written: (wall s, process CPU s, bytes of its points' chunks)."""
    path = os.path.join(tmp, "runs.db")
    with runlite.open(path) as store:
        with store.init("train", folder="/sweeps") as run:
            run.create_metric_threshold_alert("diverged", "loss", 10.0, "is above", window=5)
            wall, cpu = time.perf_counter(), time.process_time()
            for step in range(STEPS):
                run.log_metrics({"loss": 1 / (step + 1), "lr": 0.01})
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    size = conn.execute("SELECT sum(length(data)) + sum(length(sketch)) FROM chunks").fetchall()[0][0]
    conn.close()
    return wall, cpu, size


def _traced_calls(tmp: str) -> tuple[float, float, float, float]:
    """(wall, traced-thread CPU) seconds of CALLS traced calls of README's call_model through the
    default store, then of the plain function."""
    store = runlite.open(os.path.join(tmp, "runs.db"))
    runlite.set_default_store(store)
    try:
        @runlite.traceable(run_type="llm")
        def call_model(prompt: str) -> str:
            return "hello"

        def plain(prompt: str) -> str:
            return "hello"

        out = []
        for fn in (call_model, plain):
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(CALLS):
                fn("What is runlite?")
            out += [time.perf_counter() - wall, time.thread_time() - cpu]
        return tuple(out)
    finally:
        runlite.set_default_store(None)
        store.close()


def run(quick: bool = False) -> list[dict]:
    """The README's figures; ``quick`` takes fewer repetitions."""
    repeat = 5 if quick else 15
    points = 2 * STEPS
    rows = [(k, i, 1e-3 * i, 1_700_000_000_000_000 + 1000 * i, v)
            for i in range(STEPS) for k, v in enumerate((1 / (i + 1), 0.01))]
    loops, raw, traced, spans_raw = [], [], [], []
    for i in range(repeat + 1):
        with tempfile.TemporaryDirectory() as tmp:
            loop = _metrics_loop(tmp)
            raw_s = raw_rows_seconds(tmp, rows)
            calls = _traced_calls(tmp)
            span_rows = _raw_spans(tmp, CALLS)
        if i:  # the first imports the modules
            loops.append(loop)
            raw.append(raw_s)
            traced.append(calls)
            spans_raw.append(span_rows)
    wall, cpu, size = (statistics.median(x) for x in zip(*loops))
    t_wall, t_cpu, p_wall, p_cpu = (statistics.median(x) for x in zip(*traced))
    raw_s, span_s = statistics.median(raw), statistics.median(spans_raw)
    return [
        row("README's metrics loop: 10,000 calls of 2 metrics, 1 alert", points / wall, "points/s",
            points / raw_s),
        row("... in the process's CPU time", points / cpu, "points/s", points / raw_s),
        row("... its points in the file (chunks and sketches)", size / points, "bytes/point"),
        row("README's call_model traced: CPU of the traced thread a call, beyond the plain call "
            "(baseline: raw apsw's time a span row)", (t_cpu - p_cpu) / CALLS * 1e6, "us",
            span_s / CALLS * 1e6, higher_is_better=False),
        row("... its wall time, the writer thread working meanwhile", (t_wall - p_wall) / CALLS * 1e6, "us",
            span_s / CALLS * 1e6, higher_is_better=False),
    ]
