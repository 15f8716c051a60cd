"""Metric series: ingest, bytes a point, read-back, window stats, downsampling, memory.

Baselines are raw apsw with one row per point, measured in the same run.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import time

import apsw

import runlite

from .common import median_seconds, row

CALLS = 100_000
NAMES = [f"train/metric_{k}" for k in range(10)]
BIG = 1_000_000


NOISE = 1e-4  # sigma of the Gaussian noise on every value, drawn at full double precision


def _records(calls: int) -> list[dict]:
    rnd = random.Random(7)
    return [{n: 2 * math.exp(-i / 3e4) + 0.01 * math.sin(i / 7 + k) + rnd.gauss(0, NOISE)
             for k, n in enumerate(NAMES)} for i in range(calls)]


def _disk_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _runlite_ingest(tmp: str, records: list[dict]) -> str:
    path = os.path.join(tmp, "r.db")
    with runlite.open(path) as store:
        with store.init("bench") as run:
            log = run.log_metrics
            for rec in records:
                log(rec)
    return path


RAW_DDL = "CREATE TABLE points (series INTEGER, step INTEGER, time REAL, ts INTEGER, value REAL)"


def _raw_ingest(tmp: str, records: list[dict]) -> str:
    path = os.path.join(tmp, "raw.db")
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(RAW_DDL)
    start = time.time()
    rows = ((k, i, 0.001 * i, int((start + 0.001 * i) * 1e6), v)
            for i, rec in enumerate(records) for k, v in enumerate(rec.values()))
    with conn:
        conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()
    return path


def _big_series(tmp: str) -> tuple[str, str]:
    path = os.path.join(tmp, "big.db")
    rnd = random.Random(3)
    with runlite.open(path) as store:
        with store.init("big") as run:
            for i in range(BIG):
                run.log_metrics({"loss": 2 * math.exp(-i / 3e5) + rnd.gauss(0, 1e-3)})
            run_id = run.id
    return path, run_id


def _raw_big(tmp: str) -> str:
    path = os.path.join(tmp, "rawbig.db")
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute(RAW_DDL)
    conn.execute("CREATE INDEX points_series_step ON points(series, step)")
    rnd = random.Random(3)
    with conn:
        conn.executemany("INSERT INTO points VALUES (0, ?, ?, ?, ?)",
                         ((i, i * 1e-3, i, 2 * math.exp(-i / 3e5) + rnd.gauss(0, 1e-3)) for i in range(BIG)))
    conn.close()
    return path


MEMORY_SCRIPT = """
import runlite, sys, math

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))

n_calls = int(sys.argv[2])
names = [f"m{k}" for k in range(10)]
with runlite.open(sys.argv[1]) as store:
    run = store.init("mem")
    run.log_metrics({n: 0.0 for n in names})
    run.flush()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = status("VmRSS:")
    rec = {n: 0.0 for n in names}
    for i in range(n_calls):
        for k, n in enumerate(names):
            rec[n] = math.sin(i / 100 + k)
        run.log_metrics(rec)
    run.close()
    after = status("VmHWM:")
print((after - before) / 1024)
"""


def run(quick: bool = False) -> list[dict]:
    """All metric figures; ``quick`` uses one repetition."""
    repeat = 1 if quick else 5
    records = _records(CALLS)
    points = CALLS * len(NAMES)
    runlite.open(":memory:").close()  # the store's modules load on first use: not timed below
    t_ingest = median_seconds(lambda tmp: _runlite_ingest(tmp, records), repeat)
    t_raw = median_seconds(lambda tmp: _raw_ingest(tmp, records), repeat)
    out = [row("ingest: log_metrics, 10 floats x 100,000 calls", points / t_ingest, "points/s",
               points / t_raw, target=">= 1.5x and >= 900,000 points/s")]
    with tempfile.TemporaryDirectory() as tmp:
        size = _disk_bytes(_runlite_ingest(tmp, records)) / points
        raw_size = _disk_bytes(_raw_ingest(tmp, records)) / points
    out.append(row("storage after close (file + WAL)", size, "bytes/point", raw_size,
                   higher_is_better=False, target="<= 10 bytes/point"))

    with tempfile.TemporaryDirectory() as tmp:
        path, run_id = _big_series(tmp)
        raw_path = _raw_big(tmp)
        raw = apsw.Connection(raw_path, flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            t_read = median_seconds(lambda _t: store.metric_values(run_id, "loss"), repeat)
            t_raw_read = median_seconds(
                lambda _t: raw.execute("SELECT step, time, ts, value FROM points WHERE series = 0"
                                       " ORDER BY step").fetchall(), repeat)
            out.append(row("full read-back of 1,000,000 points", BIG / t_read, "points/s", BIG / t_raw_read,
                           target=">= 10,000,000 points/s"))
            lo, hi = 1000, BIG - 1000
            t_stats = median_seconds(lambda _t: store.metric_stats(run_id, "loss", start=lo, stop=hi), repeat)
            t_raw_stats = median_seconds(lambda _t: raw.execute(
                "SELECT count(*), min(value), max(value), avg(value), avg(value * value)"
                " FROM points WHERE series = 0 AND step BETWEEN ? AND ?", (lo, hi)).fetchall(), repeat)
            out.append(row("metric_stats over ~1,000,000 points", t_stats * 1e3, "ms", t_raw_stats * 1e3,
                           higher_is_better=False, target="< 5 ms"))
            t_down = median_seconds(lambda _t: store.metric_values(run_id, "loss", max_points=1000), repeat)
            t_raw_down = median_seconds(lambda _t: raw.execute(
                "SELECT step / 1000, min(value), max(value) FROM points WHERE series = 0"
                " GROUP BY step / 1000").fetchall(), repeat)
            out.append(row("max_points=1000 of 1,000,000 points", t_down * 1e3, "ms", t_raw_down * 1e3,
                           higher_is_better=False, target="< 50 ms"))
        raw.close()

    calls = 200_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, os.path.join(tmp, "m.db"), str(calls)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
        grew = float(done.stdout.strip())
    out.append(row(f"peak RSS growth logging {calls * 10:,} points", grew, "MB", None,
                   higher_is_better=False, target="< 50 MB (10,000,000 points)"))
    return out
