"""Cookbooks and recipe runs computed from machine records (a pure engine: no SQLite).

A **cookbook** (``make_cookbook`` / ``Cookbook.from_dict``) names levers (inputs), outcomes
(fields or KPI formulas to maximise or minimise), constraints (binned fields whose bins form the
*constraint groups*, "recipes" in the Sight Machine UI), run boundaries, record filters and a
minimum run duration. ``compute(cookbook, series)`` cuts the machine records into **recipe runs**
and returns them as dicts with exactly the keys and nesting of the seed's run (seed 000)::

    {_count, _count_muted, _duration_seconds, _earliest, _latest, _score, constraint_group_id,
     constraints, cookbook, filters, i_vals, levers, outcomes}

Records
    ``series`` maps ``(asset, field)`` to ``(timestamps_us, values)``, each sorted by time. The
    record timeline is the sorted union of the timestamps of every series the cookbook involves
    (levers, outcome fields, KPI dependencies, constraint, boundary and filter fields). Each
    record sees the *current* value of every field: the value of its latest point at or before
    the record. A point whose value is NaN (or None) makes the field missing from that record on,
    until its next point (it does not carry the older value over a known gap). Two points of one
    series at the same timestamp: the later one wins. A series absent from ``series`` has no
    points (its field is always missing). Values of constraint, boundary and filter fields may be
    numbers or str; lever, outcome and dependency values must be numbers.

Segmentation (per record, in time order)
    - constraint group: the tuple of bin indices of the constraints' current values; a value
      matches the FIRST bin containing it (continuous bins: numeric intervals, ``None`` ends are
      unbounded and contain +-inf; a non-number matches no continuous bin; categorical bins: a
      value or a list of values compared exactly, ``1 == 1.0`` but ``"1" != 1``). A record whose
      constraint value is missing or in no bin is in no group: it ends the current run and is in
      no run.
    - a record is *muted* when it fails a record filter (on current values; a missing value or
      values of incomparable types fail). Muted records neither start nor end runs: one belongs
      to the run in progress (counted in ``_count`` and ``_count_muted``, and it extends
      ``_latest``), or to no run if none is in progress; its values are left out of every
      statistic. So every run starts at, and holds at least one, unmuted record.
    - an unmuted record in a group starts a new run when its (group, boundary key) differs from
      the run in progress (the boundary key is the tuple of the run-boundary fields' current
      values, None when missing), or when no run is in progress.
    - ``start_us``/``end_us`` keep the records with ``start_us <= t <= end_us``; values logged
      before ``start_us`` are still carried into the window (a run crossing a window edge is cut).
    - runs with ``_duration_seconds < min_duration`` are dropped after segmentation.

Statistics
    - levers and field outcomes: ``{avg, count, max, min, var_pop}`` over the values LOGGED AT the
      run's unmuted records (not carried-forward values); ``count`` is a float as in the seed;
      ``var_pop`` is the population variance (corrected two-pass, never negative). No value in the
      run: ``count`` 0.0 and None for the others.
    - KPI outcomes: each dependency ``(outcome asset, dependency)`` is aggregated (sum, avg, min,
      max; None when the run has no value) over the same values and the formula is evaluated with
      ``kpi.evaluate`` (None propagates, division by zero is None, a formula that cannot be
      computed for a run, e.g. an overflowing ``**``, gives None). Following the seed's
      convention, *every* statistic of a KPI outcome's ``value`` (avg, count, max, min, var_pop)
      carries the KPI value k. ``kpi = {aggregates, dependencies: {dep: aggregated value},
      formula}``; a field outcome has ``kpi: None`` (same key set as the seed's).

Scores (the seed does not define them; these are runlite's definitions)
    - ``normal``: the run's outcome value x (``avg``, or the KPI value) normalised over the
      returned runs of the same constraint group: ``(x - lo) / (hi - lo)`` to maximise,
      ``(hi - x) / (hi - lo)`` to minimise, where lo/hi are the least/greatest non-None x of the
      group; None when x is None. A group without spread (one run, or all x equal) is placed in
      the range lo/hi of ALL the returned runs (every group) instead, so a lone run is scored
      relative to the others (``scores`` module docstring); 1.0 only when no run differs at all.
      The seed's ``1.0000000000000002`` for a single run is 1.0 here.
    - ``_score``: the weight-averaged ``normal`` of the outcomes whose normal is not None
      (``sum(w * normal) / sum(w)``); None when there is none.

Other keys
    - ``_earliest``/``_latest``: first/last record of the run, ISO-8601 with ``+00:00`` (seconds
      precision when the microseconds are 0); ``_duration_seconds = latest - earliest``.
    - ``constraint_group_id``: the group as a str, the mixed-radix index of the bin tuple (first
      constraint most significant; "0" without constraints). ``constraints``: per constraint, its
      bin in interval notation (``[340,6000]``, ``(6000,None)``, ``(None,340)``: ``[``/``(`` from
      the inclusivity flags, an open end always ``(``/``)``; integral numbers without ``.0``) or,
      for a categorical bin, its value or list of values.
    - ``i_vals``: ``{asset: "SHARED", name: "group", value: group id}`` (a str, as in the seed),
      ``{asset: "SHARED", name: "sequence", value: n}`` (an int: n = 0-based ordinal of the run
      among the returned runs of its group, in time order), then ``{asset, name, value}`` per
      run-boundary field. Same keys, order and types as the seed; its value 2 (the third run of
      group "0") depends on Sight Machine's window and unpublished engine (whether dropped runs
      count is unknown), so runlite counts the runs it returns.
    - ``d_pos``: outcomes 0.., then the key constraint (if any), then levers, in cookbook order:
      the seed's exactly (its cookbook, in smsdk's docs, has one KPI outcome at 0, the key
      constraint ``stats__Cylinders__val`` at 1, six levers at 2..7). INFERRED: whether
      constraints or boundaries take positions cannot be told from the seed; here they do not.
    - ``cookbook``: the cookbook id (the Sight Machine cookbook id, ``parent``, for a recipe
      group read from the SDK's JSON); ``filters``: the record filters as dicts.
    - ``key_constraint`` (Sight Machine's product field): a constraint of one bin outside the id.

``top_runs`` is configuration for readers: ``best_runs(cookbook, runs)`` keeps, per group, the
``top_runs`` runs of highest ``_score``.

Performance: the engine does not walk the records one by one in Python. Per field it finds the
points whose raw value changes (C-level ``map``/``compress``), derives bin indices (one table of
elementary intervals between the sorted bin edges, two ``bisect`` calls a value) and filter results
only there, merges those change events into constant-state intervals, builds runs from intervals,
then slices each statistic field's points per run (``bisect``) and reduces them with C builtins
(``math.fsum``, ``min``, ``max``). ``benchmarks/bench_recipes.py``
compares it with a naive single pass. Infinite lever values follow IEEE arithmetic here (an inf
gives an inf average and a NaN variance); the store then refuses such a run with a
ValidationError, as the seed format's JSON holds finite statistics only.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import numbers
import operator
from typing import Any, Mapping

from . import kpi as _kpi
from .scores import best_runs, score
from .cookbook import AGGREGATES, OPERATORS, Constraint, ContinuousBin, Cookbook, Outcome, RecordFilter, make_cookbook
from ..errors import KpiError, ValidationError
from .._validation import shown, from_us
from ..codec.moments import mean_of

__all__ = [
    "Cookbook", "Outcome", "Constraint", "ContinuousBin", "RecordFilter", "make_cookbook", "compute",
    "best_runs", "OPERATORS", "AGGREGATES",
]


# --- bin lookups -------------------------------------------------------------------------------

def _is_missing(v: Any) -> bool:
    return v is None or v != v


class _Continuous:
    """Bin index of many values at once: elementary regions between sorted edges.

    ``bisect_left(edges, v) + bisect_right(edges, v)`` is ``2p + 1`` when ``v == edges[p]`` and
    ``2p`` when ``v`` lies strictly between ``edges[p-1]`` and ``edges[p]``: one region table,
    computed once with first-bin-wins, answers overlapping and mixed-inclusivity bins alike.
    """

    def __init__(self, constraint: Constraint):
        self.bins = constraint.bins
        edges = sorted({e for b in self.bins for e in (b.from_, b.to) if e is not None})
        self.edges = edges
        n = len(edges)
        regions: list[int | None] = []
        for r in range(2 * n + 1):
            p = r // 2
            if r % 2:
                regions.append(self._first(lambda b, v=edges[p]: b.contains(v)))
            else:
                lo = edges[p - 1] if p > 0 else None   # open interval (lo, hi), None = unbounded
                hi = edges[p] if p < n else None
                regions.append(self._first(lambda b, lo=lo, hi=hi: (
                    (b.from_ is None or (lo is not None and b.from_ <= lo))
                    and (b.to is None or (hi is not None and b.to >= hi)))))
        self.regions = regions
        self._left = functools.partial(bisect.bisect_left, edges)
        self._right = functools.partial(bisect.bisect_right, edges)

    def _first(self, test) -> int | None:
        for i, b in enumerate(self.bins):
            if test(b):
                return i
        return None

    def one(self, v: Any) -> int | None:
        if isinstance(v, (str, bytes)) or _is_missing(v):
            return None
        try:
            return self.regions[bisect.bisect_left(self.edges, v) + bisect.bisect_right(self.edges, v)]
        except TypeError:
            return None

    def many(self, values: list) -> list:
        try:
            out = list(map(self.regions.__getitem__,
                           map(operator.add, map(self._left, values), map(self._right, values))))
        except TypeError:  # None, str or other non-numbers among the values
            return [self.one(v) for v in values]
        for i in itertools.compress(itertools.count(), map(operator.ne, values, values)):  # NaN
            out[i] = None
        return out


class _Categorical:
    def __init__(self, constraint: Constraint):
        table: dict = {}
        for i, b in enumerate(constraint.bins):
            for v in (b if isinstance(b, tuple) else (b,)):
                table.setdefault(v, i)  # the first bin holding a value wins
        self.table = table

    def one(self, v: Any) -> int | None:
        try:
            return self.table.get(v)
        except TypeError:
            return None

    def many(self, values: list) -> list:
        try:
            return list(map(self.table.get, values))
        except TypeError:  # an unhashable value
            return [self.one(v) for v in values]


def _boundary_many(values: list) -> list:
    if any(map(operator.ne, values, values)):
        return [None if v != v else v for v in values]
    return values


def _filter_many(f: RecordFilter):
    op, ref = OPERATORS[f.op], f.value

    def many(values: list) -> list:
        try:
            out = list(map(bool, map(op, values, itertools.repeat(ref))))
        except TypeError:
            return [f.passes(v) for v in values]
        for i in itertools.compress(itertools.count(), map(operator.ne, values, values)):
            out[i] = False
        if None in values:
            out = [o and v is not None for o, v in zip(out, values)]
        return out
    return many


# --- machine data ------------------------------------------------------------------------------

def _as_list(x: Any, what: str) -> list:
    if isinstance(x, list):
        return x
    if isinstance(x, (str, bytes, Mapping)):
        raise ValidationError(f"{what} must be a sequence, got {type(x).__name__}")
    tolist = getattr(x, "tolist", None)  # array.array, numpy arrays
    try:
        return tolist() if callable(tolist) else list(x)
    except TypeError:
        raise ValidationError(f"{what} must be a sequence, got {type(x).__name__} {shown(x)}") from None


def _load(series: Mapping, field: tuple[str, str], start_us, end_us, checked: set):
    """(original timestamps object, window timestamps, window values, value carried into the window)."""
    entry = series.get(field)
    if entry is None:
        return None, [], [], None
    what = f"series[{field!r}]"
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
        raise ValidationError(f"{what} must be a (timestamps_us, values) pair, got {shown(entry)}")
    ts, vals = _as_list(entry[0], f"{what} timestamps"), _as_list(entry[1], f"{what} values")
    if len(ts) != len(vals):
        raise ValidationError(f"{what} has {len(ts)} timestamps but {len(vals)} values")
    if id(ts) not in checked:  # one check per timestamps list shared by several fields
        try:
            ordered = ts == sorted(ts)
        except TypeError:
            raise ValidationError(f"{what} timestamps must be int microseconds") from None
        if not ordered:
            raise ValidationError(f"{what} timestamps must be sorted in time order")
        if ts and (isinstance(ts[0], bool) or not isinstance(ts[0], numbers.Integral)):
            raise ValidationError(f"{what} timestamps must be int microseconds, got {shown(ts[0])}")
        checked.add(id(ts))
    lo = 0 if start_us is None else bisect.bisect_left(ts, start_us)
    hi = len(ts) if end_us is None else bisect.bisect_right(ts, end_us)
    init = vals[lo - 1] if lo > 0 else None
    if lo == 0 and hi == len(ts):
        return ts, ts, vals, init
    return ts, ts[lo:hi], vals[lo:hi], init


def _has_adjacent_equal(xs: list) -> bool:
    return len(xs) > 1 and any(map(operator.eq, xs[1:], xs[:-1]))


def _timeline(loaded: dict) -> tuple[list, set]:
    """The record timeline (sorted union of the timestamps) and the fields with repeated timestamps."""
    distinct: dict[tuple, list] = {}   # (id of the original list, len, first, last) -> window slice
    key_of: dict[tuple, tuple] = {}
    for field, (orig, ts, _vals, _init) in loaded.items():
        if not ts:
            continue
        key = (id(orig), len(ts), ts[0], ts[-1])
        if key not in distinct:
            for other_key, other in distinct.items():  # equal lists given as different objects
                if other_key[1:] == key[1:] and other == ts:
                    key = other_key
                    break
            else:
                distinct[key] = ts
        key_of[field] = key
    if not distinct:
        return [], set()
    arrays = list(distinct.values())
    merged = arrays[0] if len(arrays) == 1 else sorted(itertools.chain.from_iterable(arrays))
    if not _has_adjacent_equal(merged):
        return merged, set()
    repeated = {k for k, ts in distinct.items() if _has_adjacent_equal(ts)}
    return list(dict.fromkeys(merged)), {f for f, k in key_of.items() if k in repeated}


def _last_wins(ts: list, vals: list):
    """Drop all but the last of the points sharing a timestamp."""
    keep = list(itertools.chain(map(operator.ne, ts[:-1], ts[1:]), (True,)))
    return list(itertools.compress(ts, keep)), list(itertools.compress(vals, keep))


def _changes(ts: list, vals: list, init: Any, derive, t0: int) -> tuple[list, list]:
    """(times, derived values) where the derived value of a field changes; ``init`` applies at ``t0``."""
    n = len(vals)
    if n:
        idx = list(itertools.compress(range(1, n), map(operator.ne, vals[1:], vals[:-1])))
        idx.insert(0, 0)
        if len(idx) == n:
            cv, ct = vals, ts
        else:
            cv, ct = list(map(vals.__getitem__, idx)), list(map(ts.__getitem__, idx))
    else:
        cv, ct = [], []
    if init is not None:  # the value carried in from before the window
        cv, ct = [init, *cv], [t0, *ct]
    if not cv:
        return [], []
    derived = derive(cv)
    keep = list(itertools.chain((True,), map(operator.ne, derived[1:], derived[:-1])))
    return list(itertools.compress(ct, keep)), list(itertools.compress(derived, keep))


def _numeric_points(ts: list, vals: list):
    """The points of a statistic field with a value (NaN and None dropped)."""
    if None in vals:
        keep = [v is not None and v == v for v in vals]
    elif all(map(operator.eq, vals, vals)):
        return ts, vals
    else:
        keep = list(map(operator.eq, vals, vals))
    return list(itertools.compress(ts, keep)), list(itertools.compress(vals, keep))


# --- statistics --------------------------------------------------------------------------------

def _bounds(ts: list, time_ranges: list[list]) -> list:
    """Per run, the points of ``ts`` in its inclusive time ranges: a slice, or ``(lo, hi, lo, hi, ...)``."""
    left, right = bisect.bisect_left, bisect.bisect_right
    out: list = []
    for ranges in time_ranges:
        if len(ranges) == 1:
            a, b = ranges[0]
            out.append(slice(left(ts, a), right(ts, b)))
        else:
            out.append(tuple(itertools.chain.from_iterable((left(ts, a), right(ts, b)) for a, b in ranges)))
    return out


def _join(vals: list, bounds: tuple) -> list:
    out: list = []
    for k in range(0, len(bounds), 2):
        out += vals[bounds[k]:bounds[k + 1]]
    return out


def _fsum(xs: list) -> float:
    try:
        return math.fsum(xs)
    except (ValueError, OverflowError):  # inf - inf, or an intermediate overflow: IEEE semantics
        return float(sum(xs))


def _stats(xs: list) -> dict:
    """``{avg, count, max, min, var_pop}``: mean (`moments.mean_of`: finite wherever the true one
    is) and population variance by the corrected two-pass algorithm (accurate far from zero)."""
    n = len(xs)
    if not n:
        return {"avg": None, "count": 0.0, "max": None, "min": None, "var_pop": None}
    lo, hi = min(xs), max(xs)
    mean = float(mean_of(xs, None, (lo, hi)))  # TypeError for a non-number (fsum's)
    dev = [x - mean for x in xs]
    # (s / n) * s, not s ** 2 / n: no square beyond the float range (s * s <= n * squares)
    squares, s = sum([d * d for d in dev]), sum(dev)
    var = (squares - s / n * s) / n if squares < math.inf else squares
    return {"avg": mean, "count": float(n), "max": float(hi), "min": float(lo), "var_pop": var if not var < 0 else 0.0}


def _outcome_stats(xs: list) -> dict:
    """``_stats`` with the ``normal`` key (filled in by ``_score``)."""
    d = _stats(xs)
    return {"avg": d["avg"], "count": d["count"], "max": d["max"], "min": d["min"], "normal": None,
            "var_pop": d["var_pop"]}


def _aggregate(xs: list, how: str) -> float | None:
    """``how`` (sum, avg, min, max) of ``xs``; None when there is no value."""
    if not xs:
        return None
    if how == "sum":
        return _fsum(xs)
    if how == "avg":
        return mean_of(xs)
    return float(min(xs) if how == "min" else max(xs))


def _kpi_value(formula, deps: dict) -> float | None:
    try:
        return _kpi.evaluate(formula, deps)
    except KpiError:
        return None


def _check_us(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValidationError(f"{what} must be int microseconds since the epoch or None, got {shown(value)}")
    return int(value)


def _bad_value(field: tuple, exc: Exception) -> ValidationError:
    return ValidationError(f"series[{field!r}] holds a value that is not a number ({exc}); lever, outcome and "
                           "KPI dependency values must be numbers (NaN for missing)")


# --- the engine --------------------------------------------------------------------------------

def compute(cookbook: Cookbook, series: Mapping, *, start_us: int | None = None,
            end_us: int | None = None) -> list[dict]:
    """The recipe runs of ``cookbook`` in ``series``, in time order, as seed-format dicts.

    ``series`` maps ``(asset, field)`` to ``(timestamps_us, values)`` sorted by time (NaN =
    missing). Only records with ``start_us <= t <= end_us`` are used. See the module docstring.
    """
    if not isinstance(cookbook, Cookbook):
        raise ValidationError(f"cookbook must be a Cookbook (see make_cookbook), got {type(cookbook).__name__}")
    if not isinstance(series, Mapping):
        raise ValidationError(f"series must be a mapping of (asset, field) -> (timestamps_us, values), "
                              f"got {type(series).__name__}")
    start_us, end_us = _check_us(start_us, "start_us"), _check_us(end_us, "end_us")
    if start_us is not None and end_us is not None and end_us < start_us:
        raise ValidationError(f"end_us ({end_us}) must be >= start_us ({start_us})")

    cons, bnds, filts = cookbook.constraints, cookbook.run_boundaries, cookbook.record_filters
    if cookbook.key_constraint is not None:  # one more constraint of one bin: never in the group id
        cons = (*cons, cookbook.key_constraint)
    outcomes, levers = cookbook.outcomes, cookbook.levers
    stat_fields: list[tuple] = list(levers)
    for o in outcomes:
        stat_fields += [(o.asset, dep) for dep, _ in o.aggregates] if o.is_kpi else [(o.asset, o.name)]
    key_fields = [(c.asset, c.name) for c in cons] + list(bnds) + [(f.asset, f.name) for f in filts]
    fields = list(dict.fromkeys(key_fields + stat_fields))

    checked: set = set()
    loaded = {f: _load(series, f, start_us, end_us, checked) for f in fields}
    timeline, repeated = _timeline(loaded)
    n_records = len(timeline)
    if not n_records:
        return []
    points = {}
    for f, (_orig, ts, vals, init) in loaded.items():
        points[f] = (*_last_wins(ts, vals), init) if f in repeated else (ts, vals, init)

    # change events: (record index, slot, derived value); slots: constraints, boundaries, filters
    derivers = [(_Continuous(c) if c.type == "continuous" else _Categorical(c)).many for c in cons]
    derivers += [_boundary_many] * len(bnds) + [_filter_many(f) for f in filts]
    events: list[tuple] = []
    to_record = functools.partial(bisect.bisect_left, timeline)
    for slot, (field, derive) in enumerate(zip(key_fields, derivers)):
        ts, vals, init = points[field]
        times, derived = _changes(ts, vals, init, derive, timeline[0])
        events += zip(map(to_record, times), itertools.repeat(slot), derived)
    events.sort(key=operator.itemgetter(0))

    # constant-state intervals -> runs: [first record, last record, key, muted count, unmuted ranges]
    nc, nb, nf = len(cons), len(bnds), len(filts)
    radix = [math.prod(len(c.bins) for c in cons[i + 1:]) for i in range(nc)]
    state: list = [None] * (nc + nb) + [False] * nf
    missing, failing = nc, nf   # constraint slots without a bin, filter slots failing
    no_boundary: tuple = ()
    runs: list[list] = []
    current = None
    i, n_events, at = 0, len(events), 0
    while True:
        while i < n_events and events[i][0] == at:
            _r, slot, value = events[i]
            i += 1
            if slot < nc:
                missing += (value is None) - (state[slot] is None)
            elif slot >= nc + nb:
                failing += (not value) - (not state[slot])
            state[slot] = value
        end = (events[i][0] if i < n_events else n_records) - 1
        if failing:                           # muted: joins the run in progress, if any
            if current is not None:
                current[1] = end
                current[3] += end - at + 1
        elif missing:                         # no group: ends the run in progress
            current = None
        else:
            key = (sum(map(operator.mul, state[:nc], radix)), tuple(state[nc:nc + nb]) if nb else no_boundary)
            if current is not None and current[2] == key:
                current[1] = end
                ranges = current[4]
                if ranges[-1][1] == at - 1:
                    ranges[-1] = (ranges[-1][0], end)
                else:
                    ranges.append((at, end))
            else:
                current = [at, end, key, 0, [(at, end)]]
                runs.append(current)
        if i >= n_events:
            break
        at = events[i][0]

    min_duration = cookbook.min_duration
    if min_duration is not None:
        runs = [r for r in runs if (timeline[r[1]] - timeline[r[0]]) / 1e6 >= min_duration]
    if not runs:
        return []
    return _assemble(cookbook, runs, timeline, points, radix)


def _assemble(cookbook: Cookbook, runs: list[list], timeline: list, points: dict, radix: list) -> list[dict]:
    """The seed-format dicts of the runs; statistics are computed field by field over all runs."""
    outcomes, levers, cons, bnds = cookbook.outcomes, cookbook.levers, cookbook.constraints, cookbook.run_boundaries
    time_ranges = [[(timeline[a], timeline[b]) for a, b in run[4]] for run in runs]
    stat_points: dict = {}

    slices: dict[int, list] = {}  # id of a timestamps list -> per run, its slice bounds

    def column(field: tuple, fn, *args) -> list:
        """``fn(values, *args)`` per run for one field's values."""
        if field not in stat_points:
            ts, vals, _init = points[field]
            stat_points[field] = _numeric_points(ts, vals)
        ts, vals = stat_points[field]
        bounds = slices.get(id(ts))
        if bounds is None:
            bounds = slices[id(ts)] = _bounds(ts, time_ranges)
        try:
            return [fn(vals[b] if type(b) is slice else _join(vals, b), *args) for b in bounds]
        except TypeError as exc:
            raise _bad_value(field, exc) from None

    outcome_values, kpi_infos = [], []
    for o in outcomes:
        if o.is_kpi:
            formula = _kpi.compile_formula(o.formula, [d for d, _ in o.aggregates])
            deps = [column((o.asset, dep), _aggregate, how) for dep, how in o.aggregates]
            names = [dep for dep, _ in o.aggregates]
            infos, values = [], []
            for row in zip(*deps) if deps else itertools.repeat((), len(runs)):
                d = dict(zip(names, row))
                x = _kpi_value(formula, d)
                values.append({"avg": x, "count": x, "max": x, "min": x, "normal": None, "var_pop": x})
                infos.append({"aggregates": dict(o.aggregates), "dependencies": d, "formula": o.formula})
            outcome_values.append(values)
            kpi_infos.append(infos)
        else:
            outcome_values.append(column((o.asset, o.name), _outcome_stats))
            kpi_infos.append(itertools.repeat(None))
    lever_values = [column(field, _stats) for field in levers]

    n_out = len(outcomes)
    lever_pos = n_out + (cookbook.key_constraint is not None)
    groups: dict[int, tuple[str, list]] = {}
    sequence: dict[int, int] = {}
    filters = [f.to_dict() for f in cookbook.record_filters]
    out: list[dict] = []
    kpi_iters = [iter(infos) for infos in kpi_infos]
    for r, (first, last, (gid, bkey), muted, _ranges) in enumerate(runs):
        if gid not in groups:
            rest, bins = gid, []
            for m in radix:
                bins.append(rest // m)
                rest %= m
            groups[gid] = (str(gid), [c.label(b) for c, b in zip(cons, bins)])
        group_id, labels = groups[gid]
        seq = sequence.get(gid, 0)
        sequence[gid] = seq + 1
        i_vals = [{"asset": "SHARED", "name": "group", "value": group_id},
                  {"asset": "SHARED", "name": "sequence", "value": seq}]
        if bnds:
            i_vals += [{"asset": a, "name": nm, "value": v} for (a, nm), v in zip(bnds, bkey)]
        t0, t1 = timeline[first], timeline[last]
        out.append({
            "_count": last - first + 1,
            "_count_muted": muted,
            "_duration_seconds": (t1 - t0) / 1e6,
            "_earliest": from_us(int(t0)).isoformat(),
            "_latest": from_us(int(t1)).isoformat(),
            "_score": None,
            "constraint_group_id": group_id,
            "constraints": [list(x) if isinstance(x, list) else x for x in labels],
            "cookbook": cookbook.run_cookbook,
            "filters": [dict(f) for f in filters],
            "i_vals": i_vals,
            "levers": [{"asset": a, "d_pos": lever_pos + k, "name": nm, "value": lever_values[k][r]}
                       for k, (a, nm) in enumerate(levers)],
            "outcomes": [{"asset": o.asset, "d_pos": k, "kpi": next(kpi_iters[k]), "name": o.name,
                          "value": outcome_values[k][r]} for k, o in enumerate(outcomes)],
        })
    score(out, outcomes, [[v["avg"] for v in values] for values in outcome_values])
    return out
