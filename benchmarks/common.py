"""Shared benchmark helpers: medians of repeated timings, the environment line, a table."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from typing import Callable

import apsw
import zstandard


def environment() -> str:
    """One line naming the machine and the library versions measured."""
    return (f"{platform.python_implementation()} {platform.python_version()}, SQLite {apsw.sqlite_lib_version()}, "
            f"apsw {apsw.apswversion()}, zstandard {zstandard.__version__}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}")


def median_seconds(fn: Callable[[str], object], repeat: int) -> float:
    """Median wall time of ``fn(tmpdir)`` over ``repeat`` runs, each in a fresh directory."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            fn(tmp)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name: str, value: float, unit: str, baseline: float | None = None, *,
        higher_is_better: bool = True, target: str = "") -> dict:
    """One result: value, the baseline measured in the same run, and their ratio."""
    ratio = None
    if baseline:
        ratio = value / baseline if higher_is_better else baseline / value
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "target": target}


def format_table(rows: list[dict]) -> str:
    """A Markdown table of result rows."""
    lines = ["| benchmark | runlite | baseline (raw apsw unless named) | ratio (x baseline) | target |",
             "|---|---|---|---|---|"]
    for r in rows:
        base = f"{r['baseline']:,.1f} {r['unit']}" if r["baseline"] else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        lines.append(f"| {r['name']} | {r['value']:,.1f} {r['unit']} | {base} | {ratio} | {r['target']} |")
    return "\n".join(lines)
