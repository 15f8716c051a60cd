"""Archives: export, merge, re-merge and pack of 1,000 runs and 10,000,000 points.

Baseline measured in the same run: raw apsw ATTACH + INSERT ... SELECT of the same rows
(every table, as they are) into a new file.
"""

from __future__ import annotations

import os
import tempfile
import time

import apsw

import runlite
from runlite.storage import schema

from .common import row


def _make(path: str, runs: int, points: int) -> None:
    with runlite.open(path) as store:
        for r in range(runs):
            with store.init(f"job-{r}", metadata={"r": r}, tags=["bench"]) as run:
                for i in range(points // 10):
                    run.log_metrics({f"m{k}": (i * 0.001 + k) for k in range(10)})
                run.log_event("done")


def _raw_copy(src: str, dest: str) -> float:
    conn = apsw.Connection(dest)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    for version in sorted(schema.MIGRATIONS):
        for statement in schema.MIGRATIONS[version]:
            conn.execute(statement)
    start = time.perf_counter()
    conn.execute("ATTACH DATABASE ? AS src", (src,))
    with conn:
        for (table,) in conn.execute("SELECT name FROM src.sqlite_schema WHERE type = 'table'"
                                     " AND name NOT LIKE 'sqlite_%' AND name != 'run_tags'").fetchall():
            conn.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM src.{table}")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def run(quick: bool = False) -> list[dict]:
    """Seconds to export, merge, re-merge and pack, beside a raw ATTACH + INSERT SELECT copy."""
    runs, points = (100, 10_000) if quick else (1_000, 10_000)  # points per run: 10 series
    total = runs * points
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src.db")
        _make(src, runs, points)
        raw = _raw_copy(src, os.path.join(tmp, "raw.db"))
        with runlite.open(src) as store:
            start = time.perf_counter()
            store.export(os.path.join(tmp, "export.db"))
            t_export = time.perf_counter() - start
        dest = os.path.join(tmp, "dest.db")
        with runlite.open(dest) as store:
            start = time.perf_counter()
            store.merge(src)
            t_merge = time.perf_counter() - start
            start = time.perf_counter()
            store.merge(src)
            t_again = time.perf_counter() - start
            assert len(store.runs()) == runs
            start = time.perf_counter()
            store.pack()
            t_pack = time.perf_counter() - start
    label = f"{runs:,} runs, {total:,} points"
    ms = 1e3
    return [
        row(f"export {label}", t_export * ms, "ms", raw * ms, higher_is_better=False, target="< 5 s"),
        row(f"merge {label} into a new file", t_merge * ms, "ms", raw * ms, higher_is_better=False,
            target="< 5 s"),
        row("merge the same file again (nothing new)", t_again * ms, "ms", raw * ms, higher_is_better=False),
        row("pack the merged file", t_pack * ms, "ms", None, higher_is_better=False),
    ]
