"""The mean and M2 of a column of floats, never overflowing where the true figure is a float.

A chunk's statistics (`stats`) and a recipe run's (`recipes.engine`, `recipes.scores`) are made
here, so a value at the edge of the float range gets the same mean in both. Pure Python.
"""

from __future__ import annotations

import math

__all__ = ["mean_m2", "mean_of"]

# Up to this many values, M2 is the exact sum of the squared deviations, correctly rounded.
_EXACT_M2_UP_TO = 16


def mean_of(vals, total: float | None = None, extremes: tuple | None = None) -> float:
    """Mean of floats without NaN (non-empty); ``total`` is their ``math.fsum`` and ``extremes``
    their ``(min, max)``, if known.

    Their exact sum over their count (two roundings), kept between the extremes when they are
    given, where the true mean lies: three values of 6.633307302489134e16 sum to a float that,
    divided by 3, is an ulp above them, and a constant series must have its value as mean (and
    M2 0). Where the exact sum is beyond the float range (the mean is not), the values are
    summed scaled down by a power of two of at least their count (exact but for subnormals,
    which cannot matter beside values this large), so the sum fits however close each value is
    to the largest float, and the mean is kept between the extremes (three of -max: -max, not
    -inf). Infinities give IEEE's mean: that infinity, NaN for both signs.
    """
    k = len(vals)
    try:
        mean = (math.fsum(vals) if total is None else total) / k
    except ValueError:  # inf and -inf
        return math.nan
    except OverflowError:  # raised at the first finite overflow, so an infinity may follow
        scale = float(1 << (k - 1).bit_length())
        try:
            mean = math.fsum([x / scale for x in vals]) / k * scale
        except ValueError:
            return math.nan
        extremes = extremes or (min(vals), max(vals))
    if extremes is None:
        return mean
    lo, hi = extremes
    return lo if mean < lo else hi if mean > hi else mean


def mean_m2(vals, total: float | None = None, extremes: tuple | None = None) -> tuple[float, float]:
    """Mean (`mean_of`) and M2 (the sum of squared deviations) of finite values (non-empty);
    ``total`` is their fsum and ``extremes`` their ``(min, max)``, if known."""
    k = len(vals)
    mean = mean_of(vals, total, extremes)
    if k <= _EXACT_M2_UP_TO:
        # Few points, the ones people check by hand: the exact sum of the squared deviations,
        # rounded once, so [0, 1] gives exactly 0.5 (math.dist's square gives 0.5000000000000001).
        # Summing the rounded squares (fsum) missed it by an ulp, as for 1.0 and 1.00025. A float
        # is an integer over a power of two: over the largest denominator the deviations are
        # integers, and Python divides one int by another correctly rounded.
        ratios = [x.as_integer_ratio() for x in vals]
        top, below = mean.as_integer_ratio()
        scale = max(below, *[d for _, d in ratios])
        at = top * (scale // below)
        try:
            return mean, sum([(n * (scale // d) - at) ** 2 for n, d in ratios]) / (scale * scale)
        except OverflowError:
            return mean, math.inf
    # More: math.dist is a C-level, carefully scaled sqrt(sum((x - mean)**2)), within a few
    # ulps: a 100-point chunk (a wide record's, a short run's) in 2 us, against 11 us for the
    # squares summed exactly (a tenth of that chunk's whole flush cost).
    d = math.dist(vals, (mean,) * k)
    return mean, d * d  # d * d, not d ** 2: overflow must give inf, not raise.
