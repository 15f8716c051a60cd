"""Scores of recipe runs: each outcome normalised within the run's constraint group, their
weighted mean as ``_score``, and the best runs of each group (definitions: ``engine``'s
docstring, "Scores")."""

from __future__ import annotations

from typing import Sequence

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
        for run, g, x in zip(runs, groups, xs_by_outcome[k]):
            if x is None or x != x:
                normal = None
            elif hi[g] == lo[g]:
                normal = 1.0
            elif o.optimize == "maximize":
                normal = (x - lo[g]) / (hi[g] - lo[g])
            else:
                normal = (hi[g] - x) / (hi[g] - lo[g])
            run["outcomes"][k]["value"]["normal"] = normal
    for run in runs:
        num = den = 0.0
        for o, row in zip(outcomes, run["outcomes"]):
            normal = row["value"]["normal"]
            if normal is not None:
                num += o.weight * normal
                den += o.weight
        run["_score"] = num / den if den else None


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
