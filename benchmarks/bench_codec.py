"""Metric-series codec (runlite.codec): bytes a point, encode/decode, statistics, downsampling.

Run from the checkout root:

    PYTHONPATH=. python -m benchmarks.bench_codec [--points N] [--repeats R]

Every figure is the best of R repeats (the machine may be shared) and is printed
twice: pure Python, then with the optional numpy accelerator (when installed).
``run(quick)`` returns the same figures as rows for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from array import array

from runlite.codec import accel
from runlite.codec.chunks import decode_chunk, derived_times, encode_chunk
from runlite.codec.stats import chunk_stats, downsample, stats_from_values

ORIGIN_US = 1_700_000_000_000_000
CHUNKS = (10_000, 30_000, 100_000)


def make_series(n: int, seed: int = 1) -> tuple[array, array, array]:
    """Steps 0..n-1, ~1 ms jittered timestamps, a smooth loss curve with small noise."""
    rng = random.Random(seed)
    ts, t = [], ORIGIN_US
    for _ in range(n):
        t += 1000 + rng.randint(-20, 20)
        ts.append(t)
    values = array("d", [2 * math.exp(-i / 3e5) + 0.01 * math.sin(i / 7) + rng.gauss(0, 1e-3)
                         for i in range(n)])
    return array("q", range(n)), array("q", ts), values


def best_of(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n: int, repeats: int, use_numpy: bool) -> list[tuple[str, float, str]]:
    """(name, value, unit) figures for n points, pure Python or numpy-accelerated."""
    with accel.numpy_mode(use_numpy):
        return _measure(n, repeats)


def _measure(n: int, rep: int) -> list[tuple[str, float, str]]:
    steps, ts, values = make_series(n)
    times = derived_times(ts, ORIGIN_US)
    out = []
    for chunk in CHUNKS:
        bounds = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
        cols = [(steps[a:b], ts[a:b], values[a:b], times[a:b]) for a, b in bounds]

        def enc(explicit: bool):
            return [encode_chunk(s, tm if explicit else None, t, v, time_origin_us=ORIGIN_US)
                    for s, t, v, tm in cols]

        blobs, blobs_t = enc(False), enc(True)
        tag = f"chunks of {chunk:,}"
        out += [
            (f"bytes a point, default times ({tag})", sum(map(len, blobs)) / n, "B/pt"),
            (f"bytes a point, explicit times ({tag})", sum(map(len, blobs_t)) / n, "B/pt"),
            (f"encode ({tag})", n / best_of(lambda: enc(False), rep) / 1e6, "M pt/s"),
            (f"decode, derived times ({tag})",
             n / best_of(lambda: [decode_chunk(b) for b in blobs], rep) / 1e6, "M pt/s"),
            (f"decode, stored times ({tag})",
             n / best_of(lambda: [decode_chunk(b) for b in blobs_t], rep) / 1e6, "M pt/s"),
        ]
    nan_values = array("d", values)
    for i in range(0, n, 997):
        nan_values[i] = math.nan
    out += [
        ("derived_times", n / best_of(lambda: derived_times(ts, ORIGIN_US), rep) / 1e6, "M pt/s"),
        ("chunk_stats, times=None",
         n / best_of(lambda: chunk_stats(steps, None, ts, values, time_origin_us=ORIGIN_US), rep) / 1e6,
         "M pt/s"),
        ("chunk_stats, explicit times",
         n / best_of(lambda: chunk_stats(steps, times, ts, values), rep) / 1e6, "M pt/s"),
        ("stats_from_values, all finite", n / best_of(lambda: stats_from_values(values), rep) / 1e6,
         "M values/s"),
        ("stats_from_values, 0.1% NaN", n / best_of(lambda: stats_from_values(nan_values), rep) / 1e6,
         "M values/s"),
        (f"downsample {n:,} -> 1000", best_of(lambda: downsample(steps, values, 1000), rep) * 1e3, "ms"),
        (f"downsample {n:,} -> 1000, 0.1% NaN",
         best_of(lambda: downsample(steps, nan_values, 1000), rep) * 1e3, "ms"),
    ]
    return out


def _modes() -> list[bool]:
    return [False, True] if accel.numpy_installed() else [False]


def run(quick: bool = False) -> list[dict]:
    """Rows for ``python -m benchmarks`` (no raw-apsw baseline: this is pure codec work)."""
    try:
        from .common import row
    except ImportError:  # run as a plain script
        from common import row
    n = 200_000 if quick else 1_000_000
    rows = []
    for use_numpy in _modes():
        suffix = ", numpy" if use_numpy else ", pure Python"
        for name, value, unit in measure(n, 1 if quick else 5, use_numpy):
            rows.append(row(f"codec: {name}{suffix}", value, unit, higher_is_better=unit != "ms"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for use_numpy in _modes():
        print(f"\n== {args.points:,} points, best of {args.repeats}, "
              f"{'with numpy' if use_numpy else 'pure Python'} ==")
        for name, value, unit in measure(args.points, args.repeats, use_numpy):
            print(f"{name:<52} {value:8.2f} {unit}")


if __name__ == "__main__":
    main()
