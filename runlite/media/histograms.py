"""Histograms as runlite stores them: bin edges and counts, packed, plus the non-finite counts.

``log_histogram`` takes values, binned here into equal bins between their smallest and largest
finite value exactly as ``numpy.histogram(values, bins)`` bins them (edges from ``linspace``,
a value on an inner edge in the bin to its right, the largest value in the last bin); or a
ready histogram as a pair of sequences, edges and counts, in either order (``np.histogram``
returns ``(counts, edges)``): there is always one more edge than counts, so the order is never
ambiguous. NaN and infinities are not binned (W&B drops them): they are counted apart.

Packed (little-endian): NaN, +inf and -inf counts (3 int64), the edges (bins + 1 float64), the
counts (bins int64): 1,056 bytes for the default 64 bins.
"""

from __future__ import annotations

import math
import numbers
import struct
import sys
from array import array
from typing import Any

import attrs

from .. import errors
from .._validation import INT64_MAX, is_real, shown
from ..codec import accel
from . import DEFAULT_BINS

MAX_BINS = 512  # as W&B
MAX_VALUES = 10_000_000  # values binned by one call

_HEADER = struct.Struct("<3q")


@attrs.frozen
class Bins:
    """A histogram's content: ``edges`` (one more than ``counts``) and the values not binned."""

    edges: tuple
    counts: tuple
    nan_count: int = 0
    posinf_count: int = 0
    neginf_count: int = 0


def _sequence(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes, bytearray, memoryview, dict))


def is_pair(values: Any) -> bool:
    """Whether ``values`` is a ready histogram: a list or tuple of two sequences."""
    return isinstance(values, (list, tuple)) and len(values) == 2 and all(map(_sequence, values))


def _numpy_array(values: Any, what: str):
    """``values`` as a flat float64 numpy array when they are a numpy array (or an array-like
    such as a tensor, numpy being imported), else None."""
    np = sys.modules.get("numpy")
    if np is None or _list(values) or not (isinstance(values, np.ndarray) or hasattr(values, "__array__")):
        return None
    try:
        column = np.asarray(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise errors.ValidationError(f"{what} could not be read as a numpy array: {exc}") from exc
    if column.dtype.kind not in "iuf":
        raise errors.ValidationError(f"{what} must hold numbers, got a numpy array of dtype {column.dtype}")
    if column.size > MAX_VALUES:
        raise errors.LimitError(f"{what} holds {column.size:,} numbers; at most {MAX_VALUES:,} are accepted")
    return column.ravel().astype(np.float64, copy=False)


def _floats(values: Any, what: str) -> list[float]:
    """A list, tuple, range or ``array.array`` of numbers as floats."""
    if not _list(values):
        raise errors.ValidationError(f"{what} must be a list, tuple or array of numbers, got "
                                     f"{type(values).__name__} {shown(values, 40)}")
    if len(values) > MAX_VALUES:
        raise errors.LimitError(f"{what} holds {len(values):,} numbers; at most {MAX_VALUES:,} are accepted")
    out = []
    for i, v in enumerate(values):
        if type(v) is not float:
            if not is_real(v):
                raise errors.ValidationError(f"{what}[{i}] is {type(v).__name__} {shown(v, 40)}, not a number")
            try:
                v = float(v)
            except OverflowError:
                v = math.inf if v > 0 else -math.inf  # an int too large for a float: beyond every edge
        out.append(v)
    return out


def _list(values: Any) -> bool:
    return isinstance(values, (list, tuple, range, array))


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    """``numpy.linspace(lo, hi, bins + 1)``, operation for operation (so both paths agree)."""
    delta = hi - lo
    step = delta / bins
    edges = [i / bins * delta + lo for i in range(bins + 1)] if step == 0 else [i * step + lo for i in range(bins + 1)]
    edges[-1] = hi
    return edges


def _bin(finite: list[float], lo: float, hi: float, bins: int, edges: list[float]) -> list[int]:
    """numpy.histogram's equal-bin algorithm: the index from the value, then corrected by one
    where rounding put it on the wrong side of an edge."""
    counts = [0] * bins
    delta = hi - lo
    last = bins - 1
    for x in finite:
        i = int((x - lo) / delta * bins)
        if i == bins:
            i = last
        if x < edges[i]:
            i -= 1
        elif i != last and x >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return counts


def _range(lo: float, hi: float, bins: int) -> tuple[float, float, list[float]]:
    """The outer edges (numpy's: a half on each side of a single value) and every edge."""
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
        if lo == hi:  # beyond 2**53 a half is lost: widen by a relative amount instead
            wider = (lo - abs(lo) * 2.0 ** -20, hi + abs(hi) * 2.0 ** -20)
            lo, hi = (x if math.isfinite(x) else lo for x in wider)  # at most one side overflows
    edges = _edges(lo, hi, bins)
    if not math.isfinite(hi - lo) or not all(map(math.isfinite, edges)):
        raise errors.ValidationError(f"the values span {lo!r} to {hi!r}, wider than float64 bins can split; "
                                     "bin them yourself and pass (edges, counts)")
    if any(a >= b for a, b in zip(edges, edges[1:])):  # numpy refuses these too
        raise errors.ValidationError(f"{bins} bins from {lo!r} to {hi!r} would not all be wider than zero in "
                                     "float64; use fewer bins, or pass (edges, counts)")
    return lo, hi, edges


def from_values(values: Any, bins: Any = DEFAULT_BINS) -> Bins:
    """``bins`` equal bins between the smallest and largest finite value (0 to 1 when there
    is none; a half on each side when they are equal, as numpy)."""
    if not is_real(bins) or not isinstance(bins, numbers.Integral) or not 1 <= bins <= MAX_BINS:
        raise errors.ValidationError(f"bins must be an int from 1 to {MAX_BINS}, got {shown(bins)}")
    bins = int(bins)
    column = _numpy_array(values, "values")
    if column is None:
        listed = _floats(values, "values")
        np = accel.numpy_for(len(listed))
        column = None if np is None else np.asarray(listed, dtype=np.float64)
    if column is not None:
        np = sys.modules["numpy"]
        mask = np.isfinite(column)
        if mask.all():  # the common case: no NaN or infinity to count or drop
            finite, nan, posinf = column, 0, 0
        else:
            finite = column[mask]
            nan, posinf = int(np.count_nonzero(np.isnan(column))), int(np.count_nonzero(column == math.inf))
        total = int(column.size)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        lo, hi, edges = _range(lo, hi, bins)
        counts = np.histogram(finite, bins=bins, range=(lo, hi))[0].tolist()
    else:
        finite = [x for x in listed if math.isfinite(x)]
        nan, posinf, total = sum(1 for x in listed if x != x), listed.count(math.inf), len(listed)
        lo, hi, edges = _range(*((min(finite), max(finite)) if finite else (0.0, 1.0)), bins)
        counts = _bin(finite, lo, hi, bins, edges)
    return Bins(tuple(edges), tuple(counts), nan, posinf, total - len(finite) - nan - posinf)


def _whole(value: Any) -> bool:
    """Whether a real number is a finite whole number (False for one no float holds)."""
    try:
        return math.isfinite(value) and float(value).is_integer()
    except (OverflowError, ValueError):
        return False


def _count(value: Any, where: str) -> int:
    if not is_real(value):
        raise errors.ValidationError(f"{where} is {type(value).__name__} {shown(value, 40)}, not a count")
    if isinstance(value, numbers.Integral):
        value = int(value)
    elif not _whole(value):
        raise errors.ValidationError(f"{where} is {shown(value)}; counts are whole numbers (pass the counts, not a "
                                     "density)")
    if not 0 <= value <= INT64_MAX:
        raise errors.ValidationError(f"{where} is {shown(value)}; counts are from 0 to 2**63-1")
    return int(value)


def from_pair(pair: Any) -> Bins:
    """A ready histogram: ``(edges, counts)`` or numpy's ``(counts, edges)``, told apart by length."""
    first, second = pair
    if len(first) == len(second) + 1:
        edges, counts = first, second
    elif len(second) == len(first) + 1:
        counts, edges = first, second
    else:
        raise errors.ValidationError(
            f"a ready histogram is (edges, counts) or numpy's (counts, edges), with one more edge than counts; "
            f"got sequences of {len(first)} and {len(second)}")
    if not 1 <= len(counts) <= MAX_BINS:
        raise errors.LimitError(f"a histogram has 1 to {MAX_BINS} bins, got {len(counts)}")
    column = _numpy_array(edges, "edges")
    edge_values = _floats(edges, "edges") if column is None else column.tolist()
    if not all(map(math.isfinite, edge_values)):
        raise errors.ValidationError("histogram edges must be finite numbers")
    if any(a > b for a, b in zip(edge_values, edge_values[1:])) or not edge_values[0] < edge_values[-1]:
        raise errors.ValidationError("histogram edges must increase (never decrease, and the last above the first)")
    np = sys.modules.get("numpy")
    if np is not None and isinstance(counts, np.ndarray):
        counts = counts.tolist()
    counted = tuple(_count(c, f"counts[{i}]") for i, c in enumerate(counts))
    if sum(counted) > INT64_MAX:
        raise errors.ValidationError("the counts add up to more than 2**63-1")
    return Bins(tuple(edge_values), counted)


def to_bins(values: Any, bins: Any = DEFAULT_BINS) -> Bins:
    """What ``log_histogram`` stores for ``values`` (see the module's docstring)."""
    if is_pair(values):
        if bins != DEFAULT_BINS:
            raise errors.ValidationError("bins is for values to bin; a ready (edges, counts) pair has its own")
        return from_pair(values)
    return from_values(values, bins)


def pack(content: Bins) -> bytes:
    """The stored bytes of a histogram."""
    n = len(content.counts)
    return (_HEADER.pack(content.nan_count, content.posinf_count, content.neginf_count)
            + struct.pack(f"<{n + 1}d{n}q", *content.edges, *content.counts))


def unpack(data: Any, bins: Any) -> Bins:
    """A stored histogram of ``bins`` bins, every field checked.

    Raises:
        CorruptStoreError: the bytes are not what ``pack`` writes for that many bins.
    """
    if type(bins) is not int or not 1 <= bins <= MAX_BINS:
        raise errors.CorruptStoreError(f"a stored histogram records {bins!r:.20} bins; runlite writes 1 to {MAX_BINS}")
    size = _HEADER.size + 8 * (2 * bins + 1)
    if not isinstance(data, bytes) or len(data) != size:
        got = f"{len(data)} bytes" if isinstance(data, bytes) else type(data).__name__
        raise errors.CorruptStoreError(f"a stored histogram of {bins} bins is {size} bytes, this one {got}")
    nan, posinf, neginf = _HEADER.unpack_from(data)
    values = struct.unpack_from(f"<{bins + 1}d{bins}q", data, _HEADER.size)
    edges, counts = values[:bins + 1], values[bins + 1:]
    if min(nan, posinf, neginf, *counts) < 0:
        raise errors.CorruptStoreError("a stored histogram holds a negative count")
    if not all(map(math.isfinite, edges)) or any(a > b for a, b in zip(edges, edges[1:])) or not edges[0] < edges[-1]:
        raise errors.CorruptStoreError("a stored histogram's edges are not finite and increasing")
    return Bins(edges, counts, nan, posinf, neginf)
