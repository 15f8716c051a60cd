"""Events, saved files and alerts through the public API, against raw apsw.

- events: ``log_event`` of 200,000 messages vs one raw ``executemany`` of the same rows;
- files: ``run.save`` of a 200 MB compressible file vs raw apsw inserting it uncompressed in
  1 MiB rows; re-saving identical content (blob bytes added must be 0);
- alerts: metric ingest with 5 active alerts vs the same ingest without alerts.
"""

from __future__ import annotations

import os
import tempfile

import apsw

import runlite

from . import bench_metrics
from .bench_blobs import csv_like
from .common import median_seconds, row

N_EVENTS = 200_000


def _events(tmp: str, n: int) -> None:
    with runlite.open(os.path.join(tmp, "e.db")) as store:
        with store.init("events") as run:
            log = run.log_event
            for i in range(n):
                log(f"step {i}: loss went down a little")


def _raw_events(tmp: str, n: int) -> None:
    conn = apsw.Connection(os.path.join(tmp, "raw.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE events (run_id TEXT, seq INTEGER, time INTEGER, level TEXT, message TEXT,"
                 " PRIMARY KEY (run_id, seq)) WITHOUT ROWID")
    conn.execute("CREATE INDEX events_time ON events(run_id, time, seq)")
    with conn:
        conn.executemany("INSERT INTO events VALUES ('r', ?, ?, 'info', ?)",
                         ((i, 1_700_000_000_000_000 + i, f"step {i}: loss went down a little") for i in range(n)))
    conn.close()


def _raw_file(tmp: str, src: str) -> None:
    conn = apsw.Connection(os.path.join(tmp, "rawf.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE parts (seq INTEGER PRIMARY KEY, data BLOB)")
    with conn, open(src, "rb") as f:
        seq = 0
        while piece := f.read(1 << 20):
            conn.execute("INSERT INTO parts VALUES (?, ?)", (seq, piece))
            seq += 1
    conn.close()


def _blob_bytes(store) -> int:
    with store.database.read() as conn:
        return conn.execute("SELECT coalesce(sum(stored), 0) FROM blobs").get


def _ingest_with_alerts(tmp: str, records: list[dict], n_alerts: int) -> None:
    with runlite.open(os.path.join(tmp, f"a{n_alerts}.db")) as store:
        with store.init("alerts") as run:
            for k, name in enumerate(bench_metrics.NAMES[:n_alerts]):
                run.create_metric_threshold_alert(f"high-{k}", name, 100.0, "is above", window=5, frequency=1)
            log = run.log_metrics
            for rec in records:
                log(rec)


def run(quick: bool = False) -> list[dict]:
    """Events/s, file save MB/s, re-save bytes, and ingest with 5 alerts vs none."""
    repeat = 1 if quick else 5
    n = N_EVENTS
    t_ev = median_seconds(lambda tmp: _events(tmp, n), repeat)
    t_raw_ev = median_seconds(lambda tmp: _raw_events(tmp, n), repeat)
    out = [row("log_event, 200,000 messages", n / t_ev, "events/s", n / t_raw_ev, target=">= 200,000 events/s")]

    mb = 50 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "data.csv")
        with open(src, "wb") as f:
            f.write(csv_like(mb * 1_000_000))
        size_mb = os.path.getsize(src) / 1e6

        def save(tmp2: str) -> None:
            with runlite.open(os.path.join(tmp2, "f.db")) as store:
                store.init("files").save(src, "output")

        t_save = median_seconds(save, repeat)
        t_raw = median_seconds(lambda tmp2: _raw_file(tmp2, src), repeat)
        out.append(row(f"run.save of a {size_mb:.0f} MB compressible file", size_mb / t_save, "MB/s",
                       size_mb / t_raw, target=">= 200 MB/s"))
        with runlite.open(os.path.join(tmp, "dedup.db")) as store:
            store.init("first").save(src, "output")
            before = _blob_bytes(store)
            store.init("second").save(src, "output")
            added = _blob_bytes(store) - before
        out.append(row("blob bytes added by re-saving identical content", added, "bytes", None,
                       higher_is_better=False, target="0"))

    records = bench_metrics._records(bench_metrics.CALLS)
    points = bench_metrics.CALLS * len(bench_metrics.NAMES)
    t_none = median_seconds(lambda tmp: _ingest_with_alerts(tmp, records, 0), repeat)
    t_five = median_seconds(lambda tmp: _ingest_with_alerts(tmp, records, 5), repeat)
    out.append(row("ingest with 5 active alerts (baseline: no alerts)", points / t_five, "points/s",
                   points / t_none, target=">= 0.9x"))
    return out + run_million(quick)


def run_million(quick: bool = False) -> list[dict]:
    """Reading events of a run holding 1,000,000 of them, beside the same SQL in raw apsw."""
    n = 200_000 if quick else 1_000_000
    repeat = 1 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "million.db")
        with runlite.open(path) as store:
            with store.init("chatty") as run:
                for i in range(n):
                    run.log_event(f"step {i}: ok", level="error" if i % 10_000 == 0 else "info",
                                  timestamp=1_700_000_000 + i / 1000)
        middle = 1_700_000_000 + n / 2000
        cases = [
            ("level='error'", dict(level="error"), "level IN ('error')", ()),
            ("contains a rare text", dict(contains=f"step {n - 1}:"), "instr(message, ?) > 0", (f"step {n - 1}:",)),
            ("a 1-second window", dict(since=middle, until=middle + 1), "time >= ? AND time <= ?",
             (int(middle * 1e6), int((middle + 1) * 1e6))),
            ("limit 100 at offset n/2", dict(limit=100, offset=n // 2), "1", ()),
        ]
        out = []
        with runlite.open(path, read_only=True) as store:
            conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
            for label, kwargs, where, params in cases:
                mine = median_seconds(lambda _t: store.events(run.id, **kwargs), repeat)
                limit = "LIMIT 100 OFFSET ?" if "limit" in kwargs else ""
                args = (run.id, *params, n // 2) if limit else (run.id, *params)
                raw = median_seconds(lambda _t: conn.execute(
                    f"SELECT seq, time, level, name, message, kwargs FROM events WHERE run_id = ? AND {where}"
                    f" ORDER BY time, seq {limit}", args).fetchall(), repeat)
                out.append(row(f"events of a {n:,}-event run: {label}", mine * 1e3, "ms", raw * 1e3,
                               higher_is_better=False))
            conn.close()
    return out
