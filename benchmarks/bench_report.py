"""The HTML report: size and render time for 10 runs x 20 metrics of 1,000,000 points each.

The store is written once (``log_metrics`` of 20 values per call); the report is rendered from
it opened read-only, as ``runlite report`` does. Size must stay under 2 MB whatever the
point count (charts are bucketed into pixel columns), so the same report of 1,000 points a
series is measured beside it as the baseline.
"""

from __future__ import annotations

import math
import os
import tempfile
import time

import runlite
from runlite.ui import report

from .common import row

RUNS, METRICS = 10, 20


def _write(path: str, points: int) -> list[str]:
    names = [f"train/metric_{k:02d}" for k in range(METRICS)]
    ids = []
    with runlite.open(path) as store:
        for r in range(RUNS):
            with store.init(f"run-{r}", metadata={"seed": r}) as run:
                log = run.log_metrics
                for i in range(points):  # a decaying wave with a ripple: a band in every column
                    base = math.exp(-i / points * 3) * (1 + r / 10)
                    log({name: base + 0.05 * math.sin(i * 0.7 + k) for k, name in enumerate(names)})
            ids.append(run.id)
    return ids


def _render(path: str, ids: list[str], repeat: int) -> tuple[float, int]:
    """Median render seconds and the report's size in bytes."""
    times, size = [], 0
    with runlite.open(path, read_only=True) as store:
        for _ in range(repeat):
            start = time.perf_counter()
            size = len(report.report_html(store, ids).encode("utf-8"))
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], size


def run(quick: bool = False) -> list[dict]:
    """Report size (MB) and render time (s), beside the same report of 1,000 points a series."""
    points = 50_000 if quick else 1_000_000
    repeat = 1 if quick else 3
    label = f"{RUNS} runs x {METRICS} metrics x {points:,} points"
    with tempfile.TemporaryDirectory() as tmp:
        small_path, big_path = os.path.join(tmp, "small.db"), os.path.join(tmp, "big.db")
        small_ids = _write(small_path, 1_000)
        start = time.perf_counter()
        big_ids = _write(big_path, points)
        logged = time.perf_counter() - start
        t_small, size_small = _render(small_path, small_ids, repeat)
        t_big, size_big = _render(big_path, big_ids, repeat)
        file_mb = os.path.getsize(big_path) / 1e6
    total = RUNS * METRICS * points
    return [
        row(f"report size, {label} (baseline: 1,000 points)", size_big / 1e6, "MB", size_small / 1e6,
            higher_is_better=False, target="< 2 MB"),
        row(f"report render time, {label} (baseline: 1,000 points)", t_big, "s", t_small,
            higher_is_better=False, target=""),
        row(f"logging the {total:,} points of that store ({file_mb:,.0f} MB file)", total / logged, "points/s",
            None, target=""),
    ]
