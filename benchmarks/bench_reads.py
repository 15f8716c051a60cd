"""Reads of one 1,000,000-point series (issue 18): downsampling and a small-window
``metric_stats``, each against the best of two baselines measured in the same run:

- raw SQL over one row a point, indexed on (series, step) (bench_metrics' raw layout);
- runlite's full-window path: ``metric_stats`` over the whole series (kept summaries).

Target: within 2x of the better of the two (ratio >= 0.5). Both sides run on this machine, so
the ratio does not depend on its speed. The checked figures are re-reads (a dashboard re-reads
its window), which reuse the decodes a process keeps (storage/recent.py); the first read of a
window's chunks and the first downsampling of the series are shown beside them, unchecked.

And what a read costs when another Store of the process is open on the same file with nothing
pending (a read first writes what the other holds: README's trace quick-start), against the
same read with the store alone. Target: >= 0.9x.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import apsw

import runlite

from .bench_metrics import BIG, _big_series, _raw_big
from .common import paired_medians, row

WINDOW = (BIG // 2, BIG // 2 + 999)  # ~1,000 points in the middle: not a chunk boundary by design
REPEAT = 25  # turns: each takes about a millisecond


def _medians_ms(fns: list, repeat: int = REPEAT) -> list[float]:
    """Median ms of each function, taking turns after one untimed call of each (a dashboard
    re-reads a hot file)."""
    for fn in fns:
        fn()
    return [t * 1e3 for t in paired_medians([lambda _tmp, f=fn: f() for fn in fns], repeat, dirs=False)]


SMALL_READS = 2_000  # get_run calls a timing: ~0.1 s


def same_file_seconds() -> list[float]:
    """CPU seconds of the reading thread for ``SMALL_READS`` ``get_run`` calls, [the store alone,
    with a second store open on the file (nothing pending)]: what the read costs that thread (a
    shared machine's other processes change the wall time of so short a read more than the
    check could tell)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.db")
        with runlite.open(path) as store:
            with store.init("one", metadata={"lr": 0.01}) as one:
                pass

            def reads(_tmp: str = "") -> float:
                start = time.thread_time()
                for _ in range(SMALL_READS):
                    store.get_run(one.id)
                return time.thread_time() - start

            def reads_beside_another(_tmp: str) -> float:
                with runlite.open(path) as other:
                    other.flush()
                    return reads()

            # Fifteen turns in a quick run too (~0.06 s each): CI's medians of nine read 0.93-1.13x
            # in fourteen runs, within a twentieth of the line in one of them.
            return paired_medians([reads, reads_beside_another], 15)


def _same_file_row() -> dict:
    """``get_run`` with a second store open on the file against the store alone."""
    alone, beside = same_file_seconds()
    return row(f"get_run with another Store of the process open on the file, nothing pending, CPU of the "
               f"reading thread (baseline: the store alone, {alone / SMALL_READS * 1e6:.1f} us)",
               beside / SMALL_READS * 1e6, "us", alone / SMALL_READS * 1e6, higher_is_better=False,
               target=">= 0.9x the store alone", check=("ratio", ">=", 0.9))


# Windows of ~1,000 points in other chunks than WINDOW's, each read once: first reads.
FIRST_WINDOWS = [(at, at + 999) for at in range(BIG // 20 + 1_234, BIG // 2 - 20_000, BIG // 20)]


def _first_reads_ms(store, run_id: str) -> tuple[float, float]:
    """(median ms of a window statistics read whose chunks no read touched before, ms of the
    process's first downsampling of the series): the reads before anything is kept."""
    times = []
    for lo, hi in FIRST_WINDOWS:
        start = time.perf_counter()
        store.metric_stats(run_id, "loss", start=lo, stop=hi)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    store.metric_values(run_id, "loss", max_points=1000)
    return statistics.median(times) * 1e3, (time.perf_counter() - start) * 1e3


def run(quick: bool = False) -> list[dict]:
    """Downsampling and small-window stats against the best of raw SQL and the full window.

    ``quick`` changes nothing: the figures are about a 1,000,000-point series, and building it
    takes seconds while each read takes milliseconds."""
    with tempfile.TemporaryDirectory() as tmp:
        path, run_id = _big_series(tmp)
        raw = apsw.Connection(_raw_big(tmp), flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            first_window, first_down = _first_reads_ms(store, run_id)
            lo, hi = WINDOW
            got = store.metric_stats(run_id, "loss", start=lo, stop=hi)
            raw_sql = ("SELECT count(*), min(value), max(value), avg(value), avg(value * value)"
                       " FROM points WHERE series = 0 AND step BETWEEN ? AND ?")
            assert got.count == raw.execute(raw_sql, (lo, hi)).fetchall()[0][0] == hi - lo + 1
            full, window, raw_window, down = _medians_ms([
                lambda: store.metric_stats(run_id, "loss"),
                lambda: store.metric_stats(run_id, "loss", start=lo, stop=hi),
                lambda: raw.execute(raw_sql, (lo, hi)).fetchall(),
                lambda: store.metric_values(run_id, "loss", max_points=1000)])
            raw_down, = _medians_ms([lambda: raw.execute(  # ~100x the others: never the best, so few turns
                "SELECT step / 1000, min(value), max(value) FROM points WHERE series = 0"
                " GROUP BY step / 1000").fetchall()], 1 if quick else 3)
        raw.close()
    same_file = _same_file_row()
    best_window = min(raw_window, full)
    best_down = min(raw_down, full)
    return [
        row(f"metric_stats over a {hi - lo + 1:,}-point window of {BIG:,} (baseline: best of raw SQL"
            f" {raw_window:.2f} ms, full window {full:.2f} ms)", window, "ms", best_window,
            higher_is_better=False, target="<= 2x the better baseline", check=("ratio", ">=", 0.5)),
        row(f"... the first read of a window's chunks ({len(FIRST_WINDOWS)} windows: nothing kept yet)", first_window,
            "ms", best_window, higher_is_better=False),
        row(f"max_points=1000 of {BIG:,} points (baseline: best of raw SQL GROUP BY {raw_down:.1f} ms,"
            f" full-window metric_stats {full:.2f} ms)", down, "ms", best_down,
            higher_is_better=False, target="<= 2x the better baseline", check=("ratio", ">=", 0.5)),
        row("... the first downsampling of the series in the process (no sketch kept yet; one call)", first_down,
            "ms", best_down, higher_is_better=False),
        same_file,
    ]
