"""Scores of recipe runs: each outcome normalised within the run's constraint group, their
weighted mean as ``_score``, and the best runs of each group (definitions: ``engine``'s
docstring, "Scores").

The rule for a group without spread (one run, or runs whose outcome values are all equal):
a group gives no range to place its runs in, so they are placed in the range of ALL the runs
of the computation (every group): ``(x - lo_all) / (hi_all - lo_all)`` (inverted to minimise).
A lone run is therefore scored relative to the others: it gets 1.0 only when its outcome is as
good as the best run anywhere, 0.0 when it is as bad as the worst. Only when no run differs at
all (every x equal) is ``normal`` 1.0. Groups with a spread keep their own range, so the order
within a group never depends on other groups.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import Sequence

from ..codec.moments import mean_of
from ..errors import KpiError
from . import kpi as _kpi
from .cookbook import Cookbook, Outcome


def score(runs: list[dict], outcomes: Sequence[Outcome], xs_by_outcome: list[list]) -> None:
    """Fill ``normal`` (per outcome, within the run's constraint group) and ``_score``."""
    groups = [r["constraint_group_id"] for r in runs]
    for k, o in enumerate(outcomes):
        lo: dict[str, float] = {}
        hi: dict[str, float] = {}
        for g, x in zip(groups, xs_by_outcome[k]):
            if x is not None and x == x:
                if g not in lo or x < lo[g]:
                    lo[g] = x
                if g not in hi or x > hi[g]:
                    hi[g] = x
        lo_all, hi_all = min(lo.values(), default=None), max(hi.values(), default=None)
        for run, g, x in zip(runs, groups, xs_by_outcome[k]):
            if x is None or x != x:
                normal = None
            else:  # the group's own range, or all runs' range when the group has no spread
                a, b = (lo[g], hi[g]) if lo[g] != hi[g] else (lo_all, hi_all)
                if a == b:
                    normal = 1.0
                elif o.optimize == "maximize":
                    normal = _fraction(x, a, b)
                else:  # (b - x) / (b - a)
                    normal = _fraction(-x, -b, -a)
            run["outcomes"][k]["value"]["normal"] = normal
    for run in runs:
        num = den = 0.0
        for o, row in zip(outcomes, run["outcomes"]):
            normal = row["value"]["normal"]
            if normal is not None:
                num += o.weight * normal
                den += o.weight
        run["_score"] = num / den if den else None


def _fraction(x: float, a: float, b: float) -> float:
    """``(x - a) / (b - a)`` for ``a < b``; with finite ends whose distance is beyond the float
    range (-1e308 and 1e308), from the halves, which cannot overflow (inf / inf would be NaN)."""
    span = b - a
    if span == math.inf and -math.inf < a and b < math.inf:
        return (x * 0.5 - a * 0.5) / (b * 0.5 - a * 0.5)
    return (x - a) / span


def best_runs(cookbook: Cookbook, runs: Sequence[dict]) -> list[dict]:
    """Per constraint group, the ``cookbook.top_runs`` runs of highest ``_score`` (None scores left out).

    Groups in ascending id order; within a group by descending score, ties by time.
    """
    by_group: dict[str, list[tuple]] = {}
    for i, run in enumerate(runs):
        if run.get("_score") is not None:
            by_group.setdefault(run["constraint_group_id"], []).append((-run["_score"], i, run))
    out = []
    for gid in sorted(by_group, key=lambda g: (len(g), g)):
        out += [run for _s, _i, run in sorted(by_group[gid], key=lambda t: t[:2])[:cookbook.top_runs]]
    return out


def constraint_groups(runs: Sequence[dict], top_runs: int) -> list[dict]:
    """The ``constraint_group`` rows of Sight Machine's top results: per constraint group (in
    ascending id order), one run-shaped dict over its ``top_runs`` best runs (Sight Machine's
    ``topRun``: "the number of top runs to consider when computing lever statistics").

    A group with one such run gives that run unchanged (as in smsdk's fixture, where the row
    equals the run). Otherwise: counts and durations summed; ``_earliest``/``_latest`` the
    first/last; ``_score`` the mean of the scores; ``constraint_group_id``, ``constraints``,
    ``cookbook``, ``filters`` of the best run; ``i_vals`` only the group entry (the sequence
    and boundary values differ between the runs); lever and field-outcome statistics pooled
    (avg weighted by count, count summed, min/max over runs, var_pop the pooled population
    variance), ``normal`` the mean normal; a KPI outcome's dependencies aggregated over the
    runs by their own aggregate (avg: mean of the run values) and its formula evaluated again.
    """
    by_group: dict[str, list[dict]] = {}
    for run in sorted(runs, key=lambda r: (r.get("_score") is None, -(r.get("_score") or 0.0))):
        by_group.setdefault(str(run["constraint_group_id"]), []).append(run)
    return [_group_row(by_group[g][:top_runs]) for g in sorted(by_group, key=lambda g: (len(g), g))]


def _group_row(runs: list[dict]) -> dict:
    first = runs[0]
    if len(runs) == 1:
        return json.loads(json.dumps(first))
    scores = [r["_score"] for r in runs if r.get("_score") is not None]
    return {
        "_count": sum(r["_count"] for r in runs), "_count_muted": sum(r["_count_muted"] for r in runs),
        "_duration_seconds": sum(r["_duration_seconds"] for r in runs),
        "_earliest": min((r["_earliest"] for r in runs), key=_instant),
        "_latest": max((r["_latest"] for r in runs), key=_instant),
        "_score": sum(scores) / len(scores) if scores else None,
        "constraint_group_id": first["constraint_group_id"], "constraints": first["constraints"],
        "cookbook": first["cookbook"], "filters": first["filters"],
        "i_vals": [i for i in first["i_vals"] if i.get("asset") == "SHARED" and i.get("name") == "group"],
        "levers": [{**rows[0], "value": _pooled([x["value"] for x in rows])}
                   for rows in zip(*(r["levers"] for r in runs))],
        "outcomes": [_pooled_outcome(list(rows)) for rows in zip(*(r["outcomes"] for r in runs))],
    }


def _instant(iso: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso)


def _pooled(values: list[dict]) -> dict:
    parts = [v for v in values if v.get("count") and v.get("avg") is not None]
    n = sum(v["count"] for v in parts)
    out = {"avg": None, "count": float(n), "max": None, "min": None, "var_pop": None}
    if n:
        mean = sum(v["count"] * v["avg"] for v in parts) / n
        if not math.isfinite(mean) and all(math.isfinite(v["avg"]) for v in parts):
            # a product or sum beyond the float range: the runs' shares summed, as their mean_of
            # times their count (a sum of shares a rounding past the range stays finite)
            avgs = [v["avg"] for v in parts]
            mean = mean_of([v["count"] / n * v["avg"] for v in parts]) * len(parts)
            mean = min(max(mean, min(avgs)), max(avgs))
        # d * d, not d ** 2: a deviation beyond the float range gives inf, not OverflowError
        out = {"avg": mean, "count": float(n), "max": max(v["max"] for v in parts),
               "min": min(v["min"] for v in parts),
               "var_pop": sum(v["count"] * ((v["var_pop"] or 0.0) + d * d)
                              for v in parts for d in (v["avg"] - mean,)) / n}
    if "normal" in values[0]:
        normals = [v["normal"] for v in values if v.get("normal") is not None]
        out["normal"] = sum(normals) / len(normals) if normals else None
        out = {k: out[k] for k in ("avg", "count", "max", "min", "normal", "var_pop")}
    return out


def _pooled_outcome(rows: list[dict]) -> dict:
    kpi = rows[0].get("kpi")
    if not kpi:
        return {**rows[0], "value": _pooled([r["value"] for r in rows])}
    deps = {}
    for dep, how in kpi["aggregates"].items():
        xs = [r["kpi"]["dependencies"].get(dep) for r in rows]
        xs = [x for x in xs if x is not None]
        deps[dep] = None if not xs else (sum(xs) if how == "sum" else mean_of(xs) if how == "avg"
                                         else min(xs) if how == "min" else max(xs))
    try:
        k = _kpi.evaluate(_kpi.compile_formula(kpi["formula"], list(deps)), deps)
    except KpiError:
        k = None
    normals = [r["value"].get("normal") for r in rows if r["value"].get("normal") is not None]
    value = dict.fromkeys(("avg", "count", "max", "min"), k) | {
        "normal": sum(normals) / len(normals) if normals else None, "var_pop": k}
    return {**rows[0], "kpi": {**kpi, "dependencies": deps}, "value": value}
