"""Cookbooks: the validated configuration of recipe runs (levers, outcomes and KPIs,
constraints with bins, run boundaries, record filters). Pure: no SQLite.

Every bad piece raises ``ValidationError`` naming its path, e.g.
``outcomes[1].optimize must be 'maximize' or 'minimize', got 'max'``.

``Cookbook.from_dict`` also reads a cookbook as Sight Machine's SDK returns it
(``cli.get_cookbooks()``: ``{id, name, key_constraint, recipe_groups: [...], ...}``, the shape
of smsdk's ``tests/cookbook/cookbook_data.py``). One runlite Cookbook is ONE recipe group (the
unit Sight Machine computes and ranks runs in): ``from_dict(sdk, recipe_group=id)`` (the id may
be left out when there is one group). The mapping (``from_sight_machine``):

- ``id`` = the recipe group's id (``store.top_results(id)`` takes it); ``parent`` = the SDK
  cookbook's id, which runs carry in their ``cookbook`` key (as in the seed run); ``name`` =
  ``"<cookbook name>/<recipe group id>"``.
- a field descriptor ``{fieldName, machineName, ...}`` is the series ``(machineName, fieldName)``:
  levers, run boundaries, outcome fields; constraints ``{asset, name, type, values}`` (``values``
  are the bins); ``topRun`` = ``top_runs``; ``filters.duration`` (when ``isEnabled``:
  ``minimum`` in ``unit`` second/minute/hour/day/week) = ``min_duration``;
  ``filters.recordFilters`` = ``record_filters``; ``outcomes[].weight`` and
  ``optimization_func`` = weight and optimize.
- ``key_constraint`` + the group's ``values``: the product field; a record is in the recipe group
  only while that field's value is one of ``values`` (compared as given and, for numeric
  strings, as numbers: ``"6"`` matches 6 and 6.0). It splits runs like a constraint but is not
  one of the run's ``constraints`` (the seed's run has ``constraints: []``).
- a KPI outcome (``fieldType: "kpi"``) takes its formula from ``kpis`` (Sight Machine KPI
  definitions ``{name, formula, dependencies: [{name, aggregate}]}``, a list or a dict by name);
  without a definition the KPI is read as a logged series of that name (the SDK's cookbook JSON
  does not hold formulas).
- ignored (display or server-side only): ``hash``, ``tag``, ``assetNames``, ``assets``,
  ``metadata``, ``updatetime``, ``maxDuration`` (ignored by Sight Machine too), ``dateRange`` and
  ``computeDeployedDateRange`` (pass ``start``/``end`` to ``compute_recipe_runs``),
  ``statsCalculationSetting``, and ``deployed`` (the group's own configuration is used).
"""

from __future__ import annotations

import math
import operator
from typing import Any, Iterable, Mapping, Sequence

import attrs

from . import kpi as _kpi
from ..errors import KpiError, ValidationError
from .._validation import INT64_MAX, INT64_MIN, MAX_NAME, check_choice, check_name, check_text, shown

__all__ = [
    "Cookbook", "Outcome", "Constraint", "ContinuousBin", "RecordFilter", "make_cookbook", "OPERATORS",
    "AGGREGATES",
]

OPTIMIZE = ("maximize", "minimize")
AGGREGATES = ("sum", "avg", "min", "max")
OPERATORS = {"eq": operator.eq, "neq": operator.ne, "gt": operator.gt, "gte": operator.ge,
             "lt": operator.lt, "lte": operator.le}
CONSTRAINT_TYPES = ("continuous", "categorical")
MAX_ITEMS = 10_000  # levers, outcomes, constraints, bins... in one cookbook


# --- cookbook pieces ---------------------------------------------------------------------------

@attrs.frozen
class Outcome:
    """An outcome: a field of an asset, or a KPI (``formula`` over fields of the asset)."""

    asset: str
    name: str
    weight: float = 1.0
    optimize: str = "maximize"
    formula: str | None = None
    aggregates: tuple[tuple[str, str], ...] = ()  # (dependency, aggregate), in the given order

    @property
    def is_kpi(self) -> bool:
        return self.formula is not None

    def to_dict(self) -> dict:
        d = {"asset": self.asset, "name": self.name, "weight": self.weight, "optimize": self.optimize}
        if self.formula is not None:
            d["formula"] = self.formula
            d["aggregates"] = dict(self.aggregates)
        return d


@attrs.frozen
class ContinuousBin:
    """An interval; a None end is unbounded."""

    from_: float | int | None = None
    from_is_inclusive: bool = True
    to: float | int | None = None
    to_is_inclusive: bool = False

    def contains(self, x: Any) -> bool:
        """Whether the number ``x`` is in this bin (NaN and non-numbers never are)."""
        if isinstance(x, (str, bytes)) or x is None or x != x:
            return False
        try:
            if self.from_ is not None and (x < self.from_ or (x == self.from_ and not self.from_is_inclusive)):
                return False
            if self.to is not None and (x > self.to or (x == self.to and not self.to_is_inclusive)):
                return False
        except TypeError:
            return False
        return True

    def notation(self) -> str:
        """``[340,6000]``, ``(6000,None)``, ``(None,340)``."""
        left = "[" if self.from_is_inclusive and self.from_ is not None else "("
        right = "]" if self.to_is_inclusive and self.to is not None else ")"
        return f"{left}{_num(self.from_)},{_num(self.to)}{right}"

    def to_dict(self) -> dict:
        return {"from": self.from_, "from_is_inclusive": self.from_is_inclusive,
                "to": self.to, "to_is_inclusive": self.to_is_inclusive}


@attrs.frozen
class Constraint:
    """A binned field. Continuous bins are ContinuousBin; a categorical bin is a value or a tuple."""

    asset: str
    name: str
    type: str
    bins: tuple

    def to_dict(self) -> dict:
        if self.type == "continuous":
            bins = [b.to_dict() for b in self.bins]
        else:
            bins = [list(b) if isinstance(b, tuple) else b for b in self.bins]
        return {"asset": self.asset, "name": self.name, "type": self.type, "bins": bins}

    def label(self, index: int) -> Any:
        """How bin ``index`` appears in a run's ``constraints``."""
        b = self.bins[index]
        if self.type == "continuous":
            return b.notation()
        return list(b) if isinstance(b, tuple) else b


@attrs.frozen
class RecordFilter:
    """Records whose current ``asset.name`` fails ``op value`` are muted."""

    asset: str
    name: str
    op: str
    value: Any

    def to_dict(self) -> dict:
        return {"asset": self.asset, "name": self.name, "op": self.op, "value": self.value}

    def passes(self, x: Any) -> bool:
        """Whether a current value ``x`` passes (missing and incomparable values fail)."""
        if x is None or x != x:
            return False
        try:
            return bool(OPERATORS[self.op](x, self.value))
        except TypeError:
            return False


@attrs.frozen
class Cookbook:
    """A validated cookbook; build it with ``make_cookbook`` or ``Cookbook.from_dict``."""

    id: str
    name: str
    levers: tuple          # of (asset, name)
    outcomes: tuple        # of Outcome
    constraints: tuple     # of Constraint
    run_boundaries: tuple  # of (asset, name)
    min_duration: float | None
    record_filters: tuple  # of RecordFilter
    top_runs: int
    key_constraint: Constraint | None = None  # Sight Machine's product field (one categorical bin)
    parent: str | None = None                 # the Sight Machine cookbook id a recipe group belongs to

    @property
    def run_cookbook(self) -> str:
        """The id runs carry in their ``cookbook`` key: ``parent`` when set, else ``id``."""
        return self.parent if self.parent is not None else self.id

    def to_dict(self) -> dict:
        """A JSON-ready dict; ``Cookbook.from_dict`` of it gives an equal cookbook."""
        extra: dict = {}
        if self.key_constraint is not None:
            extra["key_constraint"] = self.key_constraint.to_dict()
        if self.parent is not None:
            extra["parent"] = self.parent
        return extra | {
            "id": self.id, "name": self.name,
            "levers": [{"asset": a, "name": n} for a, n in self.levers],
            "outcomes": [o.to_dict() for o in self.outcomes],
            "constraints": [c.to_dict() for c in self.constraints],
            "run_boundaries": [{"asset": a, "name": n} for a, n in self.run_boundaries],
            "min_duration": self.min_duration,
            "record_filters": [f.to_dict() for f in self.record_filters],
            "top_runs": self.top_runs,
        }

    @classmethod
    def from_dict(cls, d: Any, *, recipe_group: str | None = None, kpis: Any = None) -> Cookbook:
        """A cookbook from an untrusted dict (e.g. parsed JSON): runlite's ``to_dict`` shape, or
        Sight Machine's SDK shape (``recipe_groups``; see the module docstring). ValidationError
        if anything is wrong."""
        if not isinstance(d, Mapping):
            raise ValidationError(f"a cookbook must be a dict, got {type(d).__name__} {shown(d)}")
        if "recipe_groups" in d:
            return from_sight_machine(d, recipe_group=recipe_group, kpis=kpis)
        _keys(d, "cookbook", required=("id", "name", "levers", "outcomes"),
              optional=("constraints", "run_boundaries", "min_duration", "record_filters", "top_runs",
                        "key_constraint", "parent"))
        return make_cookbook(**{str(k): v for k, v in d.items()})


def make_cookbook(id: str, name: str, *, levers: Iterable, outcomes: Iterable, constraints: Iterable = (),
                  run_boundaries: Iterable = (), min_duration: float | None = None,
                  record_filters: Iterable = (), top_runs: int = 10, key_constraint: Any = None,
                  parent: str | None = None) -> Cookbook:
    """Check every piece and return a Cookbook; ValidationError (KpiError for formulas) names the field.

    levers / run_boundaries: ``(asset, name)`` pairs or ``{"asset", "name"}`` dicts.
    outcomes: ``(asset, name)``, ``{"asset", "name", "weight"=1, "optimize"="maximize"}``, or a KPI
    ``{"asset", "name", "formula", "aggregates": {dependency: "sum"|"avg"|"min"|"max"}, ...}``.
    constraints: ``{"asset", "name", "type": "continuous"|"categorical", "bins": [...]}``.
    record_filters: ``{"asset", "name", "op": eq|neq|gt|gte|lt|lte, "value"}``.
    """
    check_name(id, "id")
    check_name(name, "name")
    lever_list = tuple(_pair(x, f"levers[{i}]") for i, x in enumerate(_items(levers, "levers")))
    _unique(lever_list, "levers")
    outcome_list = tuple(_outcome(x, f"outcomes[{i}]") for i, x in enumerate(_items(outcomes, "outcomes")))
    if not outcome_list:
        raise ValidationError("outcomes must hold at least one outcome to score runs by")
    _unique([(o.asset, o.name) for o in outcome_list], "outcomes")
    constraint_list = tuple(_constraint(x, f"constraints[{i}]")
                            for i, x in enumerate(_items(constraints, "constraints")))
    _unique([(c.asset, c.name) for c in constraint_list], "constraints")
    boundary_list = tuple(_pair(x, f"run_boundaries[{i}]")
                          for i, x in enumerate(_items(run_boundaries, "run_boundaries")))
    _unique(boundary_list, "run_boundaries")
    filter_list = tuple(_filter(x, f"record_filters[{i}]")
                        for i, x in enumerate(_items(record_filters, "record_filters")))
    if min_duration is not None:
        min_duration = float(_number(min_duration, "min_duration"))
        if min_duration < 0:
            raise ValidationError(f"min_duration must be >= 0 seconds or None, got {min_duration!r}")
    if isinstance(top_runs, bool) or not isinstance(top_runs, int) or not 1 <= top_runs <= INT64_MAX:
        raise ValidationError(f"top_runs must be an int >= 1, got {shown(top_runs)}")
    key = None if key_constraint is None else _constraint(key_constraint, "key_constraint")
    if key is not None and (key.type != "categorical" or len(key.bins) != 1):
        raise ValidationError("key_constraint must be categorical with one bin (the recipe group's values)")
    if parent is not None:
        check_name(parent, "parent")
    return Cookbook(id, name, lever_list, outcome_list, constraint_list, boundary_list, min_duration,
                    filter_list, int(top_runs), key, parent)


# --- Sight Machine's SDK shape -----------------------------------------------------------------

_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def from_sight_machine(d: Mapping, *, recipe_group: str | None = None, kpis: Any = None) -> Cookbook:
    """One recipe group of a Sight Machine SDK cookbook as a Cookbook (module docstring)."""
    groups = _items(d.get("recipe_groups"), "recipe_groups")
    ids = [g.get("id") if isinstance(g, Mapping) else None for g in groups]
    if recipe_group is None and len(groups) == 1:
        recipe_group = ids[0]
    if recipe_group not in ids:
        raise ValidationError(f"recipe_group must be one of the cookbook's recipe group ids {ids}, "
                              f"got {shown(recipe_group)}")
    at = ids.index(recipe_group)
    g, where = groups[at], f"recipe_groups[{at}]"
    if not isinstance(g, Mapping):
        raise ValidationError(f"{where} must be a dict, got {shown(g)}")
    defs = dict(kpis) if isinstance(kpis, Mapping) else {
        k.get("name"): k for k in _items(kpis or (), "kpis") if isinstance(k, Mapping)}
    outcomes = []
    for i, o in enumerate(_items(g.get("outcomes") or (), f"{where}.outcomes")):
        if not isinstance(o, Mapping):
            raise ValidationError(f"{where}.outcomes[{i}] must be a dict with 'field', got {shown(o)}")
        asset, name = _field(o.get("field"), f"{where}.outcomes[{i}].field")
        out = {"asset": asset, "name": name, "weight": o.get("weight", 1),
               "optimize": o.get("optimization_func", "maximize")}
        kpi = defs.get(name) if (o.get("field") or {}).get("fieldType") == "kpi" else None
        if isinstance(kpi, Mapping) and kpi.get("formula") is not None:
            deps = _items(kpi.get("dependencies") or (), f"kpis[{name!r}].dependencies")
            out |= {"formula": kpi["formula"],
                    "aggregates": {x.get("name"): x.get("aggregate", "sum") for x in deps if isinstance(x, Mapping)}}
        outcomes.append(out)
    filters = g.get("filters") if isinstance(g.get("filters"), Mapping) else {}
    duration = filters.get("duration") or {}
    min_duration = None
    if isinstance(duration, Mapping) and duration.get("isEnabled"):
        unit = check_choice(duration.get("unit", "second"), f"{where}.filters.duration.unit", tuple(_UNIT_SECONDS))
        min_duration = _number(duration.get("minimum", 0), f"{where}.filters.duration.minimum") * _UNIT_SECONDS[unit]
    key = None
    kc = d.get("key_constraint")
    if isinstance(kc, Mapping) and kc.get("field") and g.get("values"):
        asset, name = _field(kc["field"], "key_constraint.field")
        key = {"asset": asset, "name": name, "type": "categorical",
               "bins": [_key_values(_items(g["values"], f"{where}.values"))]}
    constraints = [{"asset": c.get("asset"), "name": c.get("name"), "type": c.get("type"), "bins": c.get("values")}
                   if isinstance(c, Mapping) else c for c in _items(g.get("constraints") or (), f"{where}.constraints")]
    cookbook_id = check_name(d.get("id"), "id")
    return make_cookbook(
        check_name(recipe_group, f"{where}.id"), f"{check_name(d.get('name'), 'name')}/{recipe_group}",
        levers=[_field(f, f"{where}.levers[{i}]") for i, f in enumerate(_items(g.get("levers") or (), "levers"))],
        outcomes=outcomes, constraints=constraints,
        run_boundaries=[_field(f, f"{where}.runBoundaries[{i}]")
                        for i, f in enumerate(_items(g.get("runBoundaries") or (), f"{where}.runBoundaries"))],
        min_duration=min_duration,
        record_filters=_items(filters.get("recordFilters") or (), f"{where}.filters.recordFilters"),
        top_runs=g.get("topRun") or 10, key_constraint=key, parent=cookbook_id)


def _field(f: Any, what: str) -> tuple[str, str]:
    """A Sight Machine field descriptor ``{fieldName, machineName, ...}`` (or ``{asset, name}``)."""
    if isinstance(f, Mapping) and "fieldName" in f:
        return check_name(f.get("machineName"), f"{what}.machineName"), check_name(f["fieldName"], f"{what}.fieldName")
    return _pair(f, what)


def _key_values(values: list) -> list:
    """The product values, with numeric strings also as numbers ("6" -> 6; "6.5" -> 6.5)."""
    out: list = []
    for v in values:
        out.append(v)
        if isinstance(v, str):
            try:
                x = float(v)
            except ValueError:
                continue
            if math.isfinite(x):
                out.append(int(x) if x.is_integer() else x)
    return list(dict.fromkeys(out))


# --- validation helpers ------------------------------------------------------------------------

def _num(x: Any) -> str:
    if x is None:
        return "None"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


def _items(value: Any, what: str) -> list:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValidationError(f"{what} must be a list, got {type(value).__name__} {shown(value)}")
    items = list(value)
    if len(items) > MAX_ITEMS:
        raise ValidationError(f"{what} has {len(items)} items; at most {MAX_ITEMS} are accepted")
    return items


def _keys(d: Mapping, what: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    for key in d:
        if key not in required and key not in optional:
            allowed = ", ".join(repr(k) for k in (*required, *optional))
            raise ValidationError(f"{what} has unknown key {shown(key)}; the keys are {allowed}")
    for key in required:
        if key not in d:
            raise ValidationError(f"{what} is missing {key!r}")


def _unique(pairs: Sequence[tuple], what: str) -> None:
    seen: dict[tuple, int] = {}
    for i, pair in enumerate(pairs):
        if pair in seen:
            raise ValidationError(f"{what}[{i}] {pair!r} repeats {what}[{seen[pair]}]")
        seen[pair] = i


def _pair(x: Any, what: str) -> tuple[str, str]:
    """An ``(asset, name)`` pair from a 2-tuple/list or an ``{"asset", "name"}`` dict."""
    if isinstance(x, Mapping):
        _keys(x, what, ("asset", "name"))
        asset, name = x["asset"], x["name"]
    elif isinstance(x, (tuple, list)) and len(x) == 2:
        asset, name = x
    else:
        raise ValidationError(f"{what} must be an (asset, name) pair or a dict with 'asset' and 'name', "
                              f"got {shown(x)}")
    return check_name(asset, f"{what}.asset"), check_name(name, f"{what}.name")


def _number(x: Any, what: str) -> float | int:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValidationError(f"{what} must be a number, got {type(x).__name__} {shown(x)}")
    if isinstance(x, float) and not math.isfinite(x):
        raise ValidationError(f"{what} must be finite, got {x!r}")
    if isinstance(x, int) and not INT64_MIN <= x <= INT64_MAX:
        raise ValidationError(f"{what} {shown(x)} is outside the signed 64-bit range")
    return x


def _scalar(x: Any, what: str) -> str | int | float:
    """A categorical value or filter value: str, int or finite float (not bool, not None)."""
    if isinstance(x, str):
        return check_text(x, what, max_len=MAX_NAME)
    return _number(x, what)


def _outcome(x: Any, what: str) -> Outcome:
    if isinstance(x, Outcome):
        x = x.to_dict()
    if isinstance(x, (tuple, list)):
        asset, name = _pair(x, what)
        return Outcome(asset, name)
    if not isinstance(x, Mapping):
        raise ValidationError(f"{what} must be an (asset, name) pair or a dict, got {shown(x)}")
    _keys(x, what, ("asset", "name"), ("weight", "optimize", "formula", "aggregates"))
    asset, name = check_name(x["asset"], f"{what}.asset"), check_name(x["name"], f"{what}.name")
    weight = float(_number(x.get("weight", 1.0), f"{what}.weight"))
    if not weight > 0:
        raise ValidationError(f"{what}.weight must be > 0, got {weight!r}")
    optimize = check_choice(x.get("optimize", "maximize"), f"{what}.optimize", OPTIMIZE)
    formula, aggregates = x.get("formula"), x.get("aggregates")
    if formula is None:
        if aggregates is not None:
            raise ValidationError(f"{what}.aggregates is given without a formula; a KPI outcome needs both")
        return Outcome(asset, name, weight, optimize)
    if not isinstance(aggregates, Mapping):
        raise ValidationError(f"{what}.aggregates must be a dict of dependency -> 'sum'|'avg'|'min'|'max', "
                              f"got {shown(aggregates)}")
    pairs = []
    for dep, agg in aggregates.items():
        check_name(dep, f"{what}.aggregates key")
        pairs.append((dep, check_choice(agg, f"{what}.aggregates[{dep!r}]", AGGREGATES)))
    try:
        _kpi.compile_formula(formula, [dep for dep, _ in pairs])
    except KpiError as exc:
        raise KpiError(f"{what}.formula: {exc}") from None
    return Outcome(asset, name, weight, optimize, formula, tuple(pairs))


def _constraint(x: Any, what: str) -> Constraint:
    if isinstance(x, Constraint):
        x = x.to_dict()
    if not isinstance(x, Mapping):
        raise ValidationError(f"{what} must be a dict with 'asset', 'name', 'type' and 'bins', got {shown(x)}")
    _keys(x, what, ("asset", "name", "type", "bins"))
    asset, name = check_name(x["asset"], f"{what}.asset"), check_name(x["name"], f"{what}.name")
    kind = check_choice(x["type"], f"{what}.type", CONSTRAINT_TYPES)
    raw = _items(x["bins"], f"{what}.bins")
    if not raw:
        raise ValidationError(f"{what}.bins must hold at least one bin")
    if kind == "continuous":
        bins = tuple(_continuous_bin(b, f"{what}.bins[{i}]") for i, b in enumerate(raw))
    else:
        bins = tuple(_categorical_bin(b, f"{what}.bins[{i}]") for i, b in enumerate(raw))
    return Constraint(asset, name, kind, bins)


def _continuous_bin(b: Any, what: str) -> ContinuousBin:
    if isinstance(b, ContinuousBin):
        b = b.to_dict()
    if not isinstance(b, Mapping):
        raise ValidationError(f"{what} must be a dict with 'from', 'from_is_inclusive', 'to', 'to_is_inclusive', "
                              f"got {shown(b)}")
    _keys(b, what, (), ("from", "from_is_inclusive", "to", "to_is_inclusive"))
    lo, hi = b.get("from"), b.get("to")
    lo = None if lo is None else _number(lo, f"{what}.from")
    hi = None if hi is None else _number(hi, f"{what}.to")
    lo_inc, hi_inc = b.get("from_is_inclusive", True), b.get("to_is_inclusive", False)
    for flag, key in ((lo_inc, "from_is_inclusive"), (hi_inc, "to_is_inclusive")):
        if not isinstance(flag, bool):
            raise ValidationError(f"{what}.{key} must be True or False, got {shown(flag)}")
    if lo is not None and hi is not None:
        if lo > hi:
            raise ValidationError(f"{what}.from ({lo!r}) must be <= {what}.to ({hi!r})")
        if lo == hi and not (lo_inc and hi_inc):
            raise ValidationError(f"{what} is empty: from == to ({lo!r}) needs both ends inclusive")
    return ContinuousBin(lo, lo_inc, hi, hi_inc)


def _categorical_bin(b: Any, what: str) -> Any:
    if isinstance(b, (list, tuple)):
        if not b:
            raise ValidationError(f"{what} must hold at least one value")
        return tuple(_scalar(v, f"{what}[{i}]") for i, v in enumerate(b))
    return _scalar(b, what)


def _filter(x: Any, what: str) -> RecordFilter:
    if isinstance(x, RecordFilter):
        x = x.to_dict()
    if not isinstance(x, Mapping):
        raise ValidationError(f"{what} must be a dict with 'asset', 'name', 'op' and 'value', got {shown(x)}")
    _keys(x, what, ("asset", "name", "op", "value"))
    asset, name = check_name(x["asset"], f"{what}.asset"), check_name(x["name"], f"{what}.name")
    op = check_choice(x["op"], f"{what}.op", tuple(OPERATORS))
    return RecordFilter(asset, name, op, _scalar(x["value"], f"{what}.value"))


