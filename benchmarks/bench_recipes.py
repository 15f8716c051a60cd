"""Recipe runs: ``runlite.recipes.compute`` against a naive plain-Python single pass.

Machine data: 3 assets whose records interleave in time (1,000,000 records in all), a categorical
constraint (product code, changing every few thousand records) and a continuous one (speed in 3
bins, noisy around its bin edges), 6 levers (2 per asset), a field outcome and a KPI outcome
(quality = Output / (Output + Scrap), both summed). A second case adds a record filter (muting
about 5% of records) and a run boundary (shift number). A third is the worst case for compute():
runs of 10 records each, where building the seed-format dicts and per-run statistics dominates.

Beside them, one KPI formula evaluated (``recipes.kpi.evaluate``, the seed's quality formula, from
its compiled form and from its text) against the same expression written as a Python function.

The baseline walks the merged records one by one, carrying the current value of every field,
finding each constraint's bin by a loop over the bins and keeping running sums per run: what a
straightforward implementation does. Both produce the same runs (checked).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import statistics
import time

from runlite.recipes import engine as recipes
from runlite.recipes.kpi import compile_formula, evaluate

ASSETS = ("Press_1", "Oven_2", "Cutter_3")
PRODUCTS = (101.0, 102.0, 103.0, 104.0)


def make_data(n_records: int, seed: int = 11) -> dict:
    """The series of the benchmark: ``(asset, field) -> (timestamps_us, values)``."""
    rnd = random.Random(seed)
    per = n_records // len(ASSETS)
    series: dict = {}
    for a, asset in enumerate(ASSETS):
        ts = [1_700_000_000_000_000 + (3 * i + a) * 2_000_000 for i in range(per)]  # one record per 6 s
        cols: dict[str, list] = {f"lever_{a}_{k}": [] for k in range(2)}
        if a == 0:
            cols.update(product=[], Output=[], Scrap=[], shift=[], running=[])
        if a == 1:
            cols["speed"] = []
        if a == 2:
            cols["yield"] = []
        product, speed = PRODUCTS[0], 100.0
        for i in range(per):
            for k in range(2):
                cols[f"lever_{a}_{k}"].append(50.0 * (k + 1) + rnd.gauss(0, 2) if rnd.random() > 0.02 else math.nan)
            if a == 0:
                if rnd.random() < 1 / 4000:
                    product = rnd.choice(PRODUCTS)
                cols["product"].append(product)
                good = 1.0 if rnd.random() > 0.03 else 0.0
                cols["Output"].append(good)
                cols["Scrap"].append(1.0 - good)
                cols["shift"].append(float((i // 4800) % 3))   # 8-hour shifts
                cols["running"].append(0.0 if rnd.random() < 0.05 else 1.0)
            if a == 1:
                if rnd.random() < 1 / 3000:
                    speed = rnd.choice((60.0, 100.0, 140.0))
                cols["speed"].append(speed + rnd.gauss(0, 3))
            if a == 2:
                cols["yield"].append(90.0 + rnd.gauss(0, 4))
        for name, values in cols.items():
            series[(asset, name)] = (ts, values)  # one timestamp list per asset, shared by its fields
    return series


def make_short_runs(n_records: int, seed: int = 5) -> tuple[recipes.Cookbook, dict]:
    """The worst case: one asset whose product changes every 10 records (n / 10 runs)."""
    rnd = random.Random(seed)
    ts = [1_700_000_000_000_000 + i * 1_000_000 for i in range(n_records)]
    asset = ASSETS[0]
    series = {(asset, "product"): (ts, [PRODUCTS[(i // 10) % 3] for i in range(n_records)])}
    for name in [f"lever_{k}" for k in range(6)] + ["yield", "Output", "Scrap"]:
        series[(asset, name)] = (ts, [rnd.random() for _ in range(n_records)])
    cb = recipes.make_cookbook(
        "short", "short runs", levers=[(asset, f"lever_{k}") for k in range(6)],
        outcomes=[(asset, "yield"), {"asset": asset, "name": "quality", "formula": "Output / (Output + Scrap)",
                                     "aggregates": {"Output": "sum", "Scrap": "sum"}}],
        constraints=[{"asset": asset, "name": "product", "type": "categorical", "bins": list(PRODUCTS[:3])}])
    return cb, series


def cookbook(with_filter: bool = False) -> recipes.Cookbook:
    return recipes.make_cookbook(
        "bench", "benchmark cookbook",
        levers=[(asset, f"lever_{a}_{k}") for a, asset in enumerate(ASSETS) for k in range(2)],
        outcomes=[{"asset": ASSETS[2], "name": "yield"},
                  {"asset": ASSETS[0], "name": "quality", "formula": "Output / (Output + Scrap) * 100",
                   "aggregates": {"Output": "sum", "Scrap": "sum"}, "weight": 2}],
        constraints=[{"asset": ASSETS[0], "name": "product", "type": "categorical", "bins": [[101, 102], 103, 104]},
                     {"asset": ASSETS[1], "name": "speed", "type": "continuous",
                      "bins": [{"to": 80}, {"from": 80, "to": 120, "to_is_inclusive": True},
                               {"from": 120, "from_is_inclusive": False}]}],
        run_boundaries=[(ASSETS[0], "shift")] if with_filter else [],
        record_filters=[{"asset": ASSETS[0], "name": "running", "op": "eq", "value": 1}] if with_filter else [],
        min_duration=60,
    )


def naive(cb: recipes.Cookbook, series: dict) -> list[tuple]:
    """Plain-Python single pass: (first time, last time, count, muted, group, stats per field) per run."""
    stat_fields = list(cb.levers)
    for o in cb.outcomes:
        stat_fields += [(o.asset, d) for d, _ in o.aggregates] if o.is_kpi else [(o.asset, o.name)]
    stat_fields = list(dict.fromkeys(stat_fields))
    key_fields = [(c.asset, c.name) for c in cb.constraints] + list(cb.run_boundaries) + \
        [(f.asset, f.name) for f in cb.record_filters]
    fields = list(dict.fromkeys(key_fields + stat_fields))
    slot = {f: i for i, f in enumerate(fields)}
    nf = len(fields)
    cons = [(slot[(c.asset, c.name)], c) for c in cb.constraints]
    bnds = [slot[f] for f in cb.run_boundaries]
    filts = [(slot[(f.asset, f.name)], recipes.OPERATORS[f.op], f.value) for f in cb.record_filters]
    stats_slots = [slot[f] for f in stat_fields]
    radix = [math.prod(len(c.bins) for _s, c in cons[i + 1:]) for i in range(len(cons))]
    # the records: every point of every field, merged in time order
    streams = [zip(series[f][0], itertools.repeat(slot[f]), series[f][1]) for f in fields if f in series]
    current = [None] * nf
    logged = [None] * nf
    runs: list[tuple] = []
    run = None
    prev_t = None

    def close_record(t):
        nonlocal run
        muted = False
        for s, op, ref in filts:
            v = current[s]
            try:
                if v is None or not op(v, ref):
                    muted = True
            except TypeError:
                muted = True
        if muted:
            if run is not None:
                run[1] = t
                run[2] += 1
                run[3] += 1
            return
        gid = 0
        for (s, c), r in zip(cons, radix):
            v = current[s]
            for b, bin_ in enumerate(c.bins):
                if (bin_.contains(v) if c.type == "continuous" else
                        (v in bin_ if isinstance(bin_, tuple) else v == bin_)):
                    break
            else:
                run = None
                return
            gid += b * r
        key = (gid, tuple(current[s] for s in bnds))
        if run is None or run[4] != key:
            run = [t, t, 0, 0, key, [[0, 0.0, 0.0, math.inf, -math.inf] for _ in stats_slots]]
            runs.append(run)
        run[1] = t
        run[2] += 1
        for acc, s in zip(run[5], stats_slots):
            v = logged[s]
            if v is not None:
                acc[0] += 1
                acc[1] += v
                acc[2] += v * v
                if v < acc[3]:
                    acc[3] = v
                if v > acc[4]:
                    acc[4] = v

    for t, s, v in heapq.merge(*streams):
        if t != prev_t:
            if prev_t is not None:
                close_record(prev_t)
                for j in range(nf):
                    logged[j] = None
            prev_t = t
        v = None if v != v else v
        current[s] = v
        logged[s] = v
    if prev_t is not None:
        close_record(prev_t)
    min_d = cb.min_duration
    return [r for r in runs if min_d is None or (r[1] - r[0]) / 1e6 >= min_d]


def _check(runs: list[dict], ref: list[tuple], cb: recipes.Cookbook) -> None:
    assert len(runs) == len(ref), (len(runs), len(ref))
    for got, want in zip(runs, ref):
        assert got["_count"] == want[2] and got["_count_muted"] == want[3], (got["_count"], want[2:4])
        assert got["constraint_group_id"] == str(want[4][0])
        n, total = want[5][0][0], want[5][0][1]
        lever = got["levers"][0]["value"]
        assert lever["count"] == n and (n == 0 or math.isclose(lever["avg"], total / n, rel_tol=1e-9))


def _best(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(n_records: int, repeat: int) -> list[tuple[str, float, float, int]]:
    """(case, compute seconds, naive seconds, runs) per case."""
    series = make_data(n_records)
    out = []
    for with_filter in (False, True):
        cb = cookbook(with_filter)
        runs = recipes.compute(cb, series)
        _check(runs, naive(cb, series), cb)
        t_compute = _best(lambda: recipes.compute(cb, series), repeat)
        t_naive = _best(lambda: naive(cb, series), max(1, repeat // 2))
        case = "+ filter, boundary" if with_filter else "3 assets, 2 constraints, 6 levers, 2 outcomes"
        out.append((case, t_compute, t_naive, len(runs)))
    del series
    cb, series = make_short_runs(n_records)
    runs = recipes.compute(cb, series)
    _check(runs, naive(cb, series), cb)
    t_compute = _best(lambda: recipes.compute(cb, series), max(1, repeat // 2))
    t_naive = _best(lambda: naive(cb, series), 1)
    out.append((f"worst case: {len(runs):,} runs of 10 records", t_compute, t_naive, len(runs)))
    return out


# The seed's KPI formula (tests/test_kpi.py's SEED), and the same expression written in Python.
SEED_KPI = "((Output) / (Output + ScrapQuantity)) * 100 if ((Output + ScrapQuantity) > 0) else None"
KPI_VALUES = {"Output": 9.0, "ScrapQuantity": 1.0}
KPI_RATIO = 0.05  # an evaluation within 20x the hand-written function


def seed_kpi_by_hand(values: dict) -> float | None:
    """The seed's formula as a hand-written function: the least an evaluation can cost."""
    output, scrap = values["Output"], values["ScrapQuantity"]
    if output is None or scrap is None:
        return None
    return (output / (output + scrap)) * 100 if (output + scrap) > 0 else None


def kpi_seconds(calls: int, repeat: int) -> tuple[float, float, float]:
    """Median seconds a call of (evaluate on the compiled formula, evaluate on its text, the
    hand-written function), measured in turns."""
    formula = compile_formula(SEED_KPI)
    assert evaluate(formula, KPI_VALUES) == evaluate(SEED_KPI, KPI_VALUES) == seed_kpi_by_hand(KPI_VALUES) == 90.0
    fns = (lambda: evaluate(formula, KPI_VALUES), lambda: evaluate(SEED_KPI, KPI_VALUES),
           lambda: seed_kpi_by_hand(KPI_VALUES))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, kept in zip(fns, times):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            kept.append((time.perf_counter() - start) / calls)
    return tuple(statistics.median(t) for t in times)


def run(quick: bool = False) -> list[dict]:
    """Rows for ``python -m benchmarks``: records per second, beside the naive pass; a KPI
    evaluation beside the hand-written function."""
    try:
        from .common import row
    except ImportError:  # run as a plain script
        from common import row
    n = 200_000 if quick else 1_000_000
    rows = []
    for case, t_compute, t_naive, _runs in measure(n, 1 if quick else 3):
        # The case is the first; the worst case (100,000 tiny runs) is shown for honesty.
        target = "(informational)" if case.startswith("worst") else "faster than a naive Python pass"
        rows.append(row(f"recipes: compute, {n:,} records ({case})", n / t_compute / 1e3, "k records/s",
                        n / t_naive / 1e3, target=target,
                        check=None if case.startswith("worst") else ("ratio", ">=", 1.0)))
    compiled, text, by_hand = kpi_seconds(2_000 if quick else 20_000, 5)
    for what, seconds in (("its compiled form", compiled), ("its text (parsed once, then cached)", text)):
        rows.append(row(f"recipes: a KPI evaluation, the seed's formula from {what} (baseline: the same"
                        " expression as a hand-written Python function)", seconds * 1e6, "us", by_hand * 1e6,
                        higher_is_better=False, target="within 20x the hand-written function",
                        check=("ratio", ">=", KPI_RATIO)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{args.records:,} records, best of {args.repeats}")
    for case, t_compute, t_naive, runs in measure(args.records, args.repeats):
        print(f"{case:<48} compute {t_compute * 1e3:8.1f} ms   naive pass {t_naive * 1e3:8.1f} ms   "
              f"{t_naive / t_compute:5.1f}x   ({runs} runs)")


if __name__ == "__main__":
    main()
