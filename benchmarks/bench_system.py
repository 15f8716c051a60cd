"""What system metrics cost: CPU time of one sample, as a share of one core at the default interval.

Waiting minutes at the 10 s default would measure little, so one sample's work is measured
and divided by the interval: the probes read (psutil; NVML when a GPU is there), the record
logged into a run's buffer and flushed alone (at 10 s every sample is its own flush), in
thread CPU time (``time.thread_time``), median of many samples. The baseline is the probes'
reads alone (what any sampler pays), so the ratio shows what logging and writing add.
The sampling thread's own CPU a sample, measured by the thread itself (``sampler.usage``)
while it samples a run every 0.05 s, is shown beside it (its flushes are the ticker's).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import runlite
from runlite.system import DEFAULT_INTERVAL, probes, sampler

from .common import row


def _one_sample_seconds(tmp: str, samples: int) -> tuple[float, float]:
    """Median thread CPU seconds of (read; read + log + flush) over ``samples`` samples."""
    reads, whole = [], []
    reader = probes.Reader()
    try:
        with runlite.open(os.path.join(tmp, "s.db")) as store:
            with store.init("costs") as run:
                for step in range(samples):
                    time.sleep(0.005)  # counters move between reads, as they do between samples
                    start = time.thread_time()
                    values, _notes = reader.read()
                    read = time.thread_time()
                    run.log_metrics(values, step=step)  # what the feed's log_record(count=False) does
                    run.flush()
                    end = time.thread_time()
                    reads.append(read - start)
                    whole.append(end - start)
    finally:
        reader.close()
    return statistics.median(reads), statistics.median(whole)


def _thread_seconds(tmp: str, samples: int) -> float:
    """CPU seconds a sample of the real sampling thread (0.05 s interval), by its own count."""
    with runlite.open(os.path.join(tmp, "t.db")) as store:
        run = store.init("thread")
        before = sampler.usage()
        run.start_system_metrics(0.05)
        deadline = time.monotonic() + 120
        while sampler.usage()[0] - before[0] < samples and time.monotonic() < deadline:
            time.sleep(0.05)
        after = sampler.usage()
        run.end()
    taken = after[0] - before[0]
    return (after[1] - before[1]) / taken if taken else float("nan")


def run(quick: bool = False) -> list[dict]:
    samples = 30 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        read_s, whole_s = _one_sample_seconds(tmp, samples)
        thread_s = _thread_seconds(tmp, samples // 2)
    share, read_share = 100 * whole_s / DEFAULT_INTERVAL, 100 * read_s / DEFAULT_INTERVAL
    return [
        row(f"system metrics every {DEFAULT_INTERVAL:g} s (the default): one sample's CPU (read + logged + "
            f"flushed alone) / {DEFAULT_INTERVAL:g} s (baseline: the probes' reads alone)", share, "% of a core",
            read_share, higher_is_better=False, target="<= 1% of one core",
            check=("value", "<=", 1.0)),
        row("system metrics: one sample (read + logged + flushed alone), thread CPU", whole_s * 1e3, "ms",
            read_s * 1e3, higher_is_better=False),
        row("system metrics: the sampling thread's own CPU a sample (every 0.05 s; its flushes are the ticker's)",
            thread_s * 1e3, "ms"),
    ]
