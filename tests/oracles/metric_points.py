"""Reference answers for metric reads, computed point by point from the logged points.

Nothing here is fast or clever: each function is the plain reading of what the public call
promises, for the tests to compare the stored, merged and sketched answers with.
"""

from __future__ import annotations

import math

AXES = {"step": 0, "time": 1, "timestamp": 2}


def window(points: list[tuple], xaxis: str, start=None, stop=None) -> list[tuple]:
    """The (step, time, timestamp, value) points whose ``xaxis`` value v has start <= v <= stop,
    in log order (None leaves a side open; NaN is never inside)."""
    k = AXES[xaxis]
    return [p for p in points if (start is None or p[k] >= start) and (stop is None or p[k] <= stop)]


def window_stats(points: list[tuple]) -> dict:
    """``Store.metric_stats`` fields of these points: NaN counted and otherwise skipped; min and
    max with the step of their first occurrence; the mean and variance over the non-NaN values
    (the mean of values with infinities is that infinity, NaN with both signs; the variance
    then NaN)."""
    if not points:
        return {"count": 0}
    clean = [(s, v) for s, _, _, v in points if not math.isnan(v)]
    out = {"count": len(points), "nan_count": len(points) - len(clean),
           "first": points[0][3], "last": points[-1][3],
           "first_step": points[0][0], "last_step": points[-1][0],
           "min": None, "max": None, "min_step": None, "max_step": None, "avg": None, "var_pop": None}
    for s, v in clean:
        if out["min"] is None or v < out["min"]:
            out["min"], out["min_step"] = v, s
        if out["max"] is None or v > out["max"]:
            out["max"], out["max_step"] = v, s
    values = [v for _, v in clean]
    if values:
        if all(map(math.isfinite, values)):
            mean = math.fsum(values) / len(values)
            out["avg"] = mean
            out["var_pop"] = math.fsum((v - mean) ** 2 for v in values) / len(values)
        else:
            pos, neg = math.inf in values, -math.inf in values
            out["avg"] = math.nan if pos and neg else math.inf if pos else -math.inf
            out["var_pop"] = math.nan
    return out
