"""Cookbooks and recipe runs in the file.

A cookbook is stored as its validated definition. Computed recipe runs are stored as runs
of kind ``recipe`` (so every query and archive operation covers them), linked to their
source runs, with their seed-format dict and score beside them.

Identity (``run_id_for``): a recipe run's id is a uuid5 of its cookbook, its sources, its
constraint group and its *measured content*: every key of the seed dict except the relative
ones (``_score``, the outcomes' ``normal`` and the ``sequence`` entry of ``i_vals``), which
change when the runs around it change. So two different runs never share an id, even with the
same ``_earliest`` and group (no run is ever dropped), while the same run stored again (a
recomputation over the same data, or a re-import of the same run, possibly re-scored) replaces
itself instead of being duplicated.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import uuid
from itertools import islice
from typing import Any

import attrs

from .. import errors
from . import metric_reads
from ..recipes import engine as recipes
from ..recipes.scores import constraint_groups
from .._ids import dotted_segment, uuid7
from .._validation import check_name, dumps, now_us, shown, stored_json, to_us

_NS = uuid.UUID("0b7e3c9a-2f41-4d8e-a6c5-3e9f1d2b4a70")
SEED_KEYS = ("_count", "_count_muted", "_duration_seconds", "_earliest", "_latest", "_score",
             "constraint_group_id", "constraints", "cookbook", "filters", "i_vals", "levers", "outcomes")


@attrs.frozen(eq=False)
class RecipeRun:
    """A recipe run: ``to_dict()`` gives exactly the seed's keys and nesting."""

    run_id: str
    data: dict

    @property
    def score(self) -> float | None:
        """The run's ``_score``."""
        return self.data.get("_score")

    @property
    def constraint_group_id(self) -> str:
        """The id of the run's constraint group (its recipe)."""
        return self.data["constraint_group_id"]

    def to_dict(self) -> dict:
        """The seed-format dict (a copy)."""
        return json.loads(json.dumps(self.data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecipeRun) and (self.run_id, self.data) == (other.run_id, other.data)

    __hash__ = None


def create(conn, name: str, **definition: Any) -> recipes.Cookbook:
    """Validate and store a cookbook; returns it (with its new id)."""
    check_name(name, "cookbook name")
    cookbook = recipes.make_cookbook(uuid7(), name, **definition)
    conn.execute("INSERT INTO cookbooks (id, name, definition, created) VALUES (?, ?, ?, ?)",
                 (cookbook.id, name, dumps(cookbook.to_dict(), "cookbook"), now_us()))
    return cookbook


def save(conn, cookbook: recipes.Cookbook) -> recipes.Cookbook:
    """Store a cookbook under its own id (e.g. a Sight Machine recipe group), replacing the
    definition stored under that id."""
    conn.execute("INSERT INTO cookbooks (id, name, definition, created) VALUES (?, ?, ?, ?) ON CONFLICT(id)"
                 " DO UPDATE SET name = excluded.name, definition = excluded.definition",
                 (cookbook.id, cookbook.name, dumps(cookbook.to_dict(), "cookbook"), now_us()))
    return cookbook


def load(conn, id_or_name: Any) -> recipes.Cookbook:
    """A stored cookbook by id or unique name (a Cookbook passes through)."""
    if isinstance(id_or_name, recipes.Cookbook):
        return id_or_name
    check_name(id_or_name, "cookbook")
    rows = conn.execute("SELECT definition FROM cookbooks WHERE id = ? OR name = ? LIMIT 2",
                        (id_or_name, id_or_name)).fetchall()
    if not rows:
        raise errors.NotFoundError(f"no cookbook with id or name {id_or_name!r}")
    if len(rows) > 1:
        raise errors.AmbiguousNameError(f"several cookbooks are named {id_or_name!r}; use the cookbook id")
    return recipes.Cookbook.from_dict(stored_json(rows[0][0]))


def needed_fields(cookbook: recipes.Cookbook) -> list[tuple[str, str]]:
    """Every (asset, field) the cookbook reads."""
    d = cookbook.to_dict()
    fields = [(x["asset"], x["name"]) for key in ("levers", "constraints", "run_boundaries", "record_filters")
              for x in d.get(key) or ()]
    if d.get("key_constraint"):
        fields.append((d["key_constraint"]["asset"], d["key_constraint"]["name"]))
    for outcome in d["outcomes"]:
        if outcome.get("formula") is not None:
            fields.extend((outcome["asset"], dep) for dep in outcome["aggregates"])
        else:
            fields.append((outcome["asset"], outcome["name"]))
    return list(dict.fromkeys(fields))


def measured(data: dict) -> dict:
    """The run's content without its relative keys (``_score``, ``normal``, the ``sequence`` i_val)."""
    out = {k: v for k, v in data.items() if k != "_score"}
    out["outcomes"] = [{**o, "value": {k: v for k, v in o["value"].items() if k != "normal"}}
                       if isinstance(o, dict) and isinstance(o.get("value"), dict) else o
                       for o in data.get("outcomes") or ()]
    out["i_vals"] = [i for i in data.get("i_vals") or ()
                     if not (isinstance(i, dict) and i.get("asset") == "SHARED" and i.get("name") == "sequence")]
    return out


def run_id_for(cookbook_id: str, sources_key: str, data: dict) -> str:
    """The id of a recipe run: its cookbook, sources, group and measured content (module docstring)."""
    content = hashlib.sha256(json.dumps(measured(data), sort_keys=True, allow_nan=False,
                                        separators=(",", ":")).encode()).hexdigest()
    return str(uuid.uuid5(_NS, f"{cookbook_id}|{sources_key}|{data['constraint_group_id']}|{content}"))


def _us(iso: str) -> int:
    return to_us(iso, "recipe run time")


_STATS = ("avg", "count", "max", "min", "normal", "var_pop")  # a lever's or outcome's value


def _number(value: Any, what: str, *, none: bool = True) -> None:
    """A finite number (None too, where a statistic had no values): the JSON a run is stored as
    holds no NaN or infinity, and its readers compute with the numbers."""
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.ValidationError(f"{what} must be a finite number{' or None' if none else ''}, got "
                                     f"{shown(value)}" + (" (machine data or a KPI holding an infinity or NaN: a"
                                                          " recipe run stores finite statistics only)"
                                                          if isinstance(value, float) else ""))


def _entries(value: Any, what: str) -> list:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise errors.ValidationError(f"{what} must be a list of objects, got {shown(value)}")
    return value


def check_seed(data: dict) -> None:
    """Refuse a recipe run dict whose values are not of the seed format's types (its keys are
    checked by the caller): the group statistics (``top_results``) compute with them, and one
    run of the wrong shape failed every later read of its group."""
    run = f"recipe run of group {shown(data.get('constraint_group_id'))}"
    for key in ("_count", "_count_muted", "_duration_seconds"):
        _number(data[key], f"{key} of the {run}", none=False)
    _number(data["_score"], f"_score of the {run}")
    for key in ("_earliest", "_latest"):
        if not isinstance(data[key], str):
            raise errors.ValidationError(f"{key} of the {run} must be ISO-8601 text, got {shown(data[key])}")
        _us(data[key])
    group = data["constraint_group_id"]
    if isinstance(group, bool) or not isinstance(group, (str, int)):
        raise errors.ValidationError(f"constraint_group_id must be text or an int, got {shown(group)}")
    for key in ("constraints", "filters"):
        if not isinstance(data[key], list):
            raise errors.ValidationError(f"{key} of the {run} must be a list, got {shown(data[key])}")
    for i, entry in enumerate(_entries(data["i_vals"], f"i_vals of the {run}")):
        if not isinstance(entry.get("name"), str):
            raise errors.ValidationError(f"i_vals[{i}] of the {run} must have a text name, got {shown(entry)}")
    for key in ("levers", "outcomes"):
        for i, entry in enumerate(_entries(data[key], f"{key} of the {run}")):
            what = f"{key}[{i}] of the {run}"
            if not isinstance(entry.get("asset"), str) or not isinstance(entry.get("name"), str):
                raise errors.ValidationError(f"{what} must have a text asset and name, got {shown(entry)}")
            value = entry.get("value")
            if not isinstance(value, dict):
                raise errors.ValidationError(f"the value of {what} must be an object of statistics, got {shown(value)}")
            for stat in _STATS:
                _number(value.get(stat), f"{stat} of {what}")
            kpi = entry.get("kpi")
            if kpi is None:
                continue
            if (not isinstance(kpi, dict) or not isinstance(kpi.get("formula"), str)
                    or not isinstance(kpi.get("aggregates"), dict) or not isinstance(kpi.get("dependencies"), dict)
                    or not all(how in ("sum", "avg", "min", "max") for how in kpi["aggregates"].values())):
                raise errors.ValidationError(f"the kpi of {what} must be None or an object with a formula, "
                                             f"aggregates (sum, avg, min or max) and dependencies, got {shown(kpi)}")
            for dep, x in kpi["dependencies"].items():
                _number(x, f"dependency {dep!r} of the kpi of {what}")


def store_runs(conn, cookbook_id: str, sources: list[str], items: list[dict], *, sources_key: str | None,
               replace: bool) -> list[RecipeRun]:
    """Insert recipe runs as runs (replacing those of a previous computation when ``replace``)."""
    now = now_us()
    if replace:
        conn.execute("DELETE FROM runs WHERE id IN (SELECT run_id FROM recipe_runs WHERE cookbook_id = ?"
                     " AND sources_key IS ?)", (cookbook_id, sources_key))
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/', ?)", (now,))
    conn.execute("INSERT OR IGNORE INTO folders (path, created) VALUES ('/recipes', ?)", (now,))
    out = []
    for data in items:
        missing = [k for k in SEED_KEYS if k not in data]
        if missing or set(data) != set(SEED_KEYS):
            raise errors.ValidationError(f"a recipe run dict must have exactly the keys {SEED_KEYS}; "
                                         f"missing {missing}, extra {sorted(set(data) - set(SEED_KEYS))}")
        check_seed(data)
        run_id = run_id_for(cookbook_id, sources_key or "", data)
        start, end = _us(data["_earliest"]), _us(data["_latest"])
        group, score = str(data["constraint_group_id"]), data["_score"]
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))  # same run computed again
        seq = next((i["value"] for i in data["i_vals"] if isinstance(i, dict) and i.get("name") == "sequence"), 0)
        conn.execute(
            "INSERT INTO runs (id, name, kind, status, folder, metadata, tags, trace_id, dotted_order, created,"
            " started, ended, modified) VALUES (?, ?, 'recipe', 'completed', '/recipes', ?, '[]', ?, ?, ?, ?, ?, ?)",
            (run_id, f"recipe {group}.{seq}", dumps({"cookbook": data["cookbook"], "constraint_group_id": group,
                                                     "score": score}),
             run_id, dotted_segment(start, run_id), start, start, end, now),
        )
        conn.execute("INSERT INTO recipe_runs (run_id, cookbook_id, sources_key, constraint_group_id, score, data)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (run_id, cookbook_id, sources_key, group, score, json.dumps(data, allow_nan=False)))
        conn.executemany("INSERT OR IGNORE INTO run_sources (run_id, source_run_id) VALUES (?, ?)",
                         [(run_id, s) for s in sources])
        out.append(RecipeRun(run_id=run_id, data=data))
    return out


def import_runs(conn, runs: Any) -> list[RecipeRun]:
    """Store seed-format recipe runs (a dict, a list, or top results ``{"runs": [...], ...}``)
    under their ``cookbook`` id."""
    if isinstance(runs, dict) and isinstance(runs.get("runs"), list) and "_count" not in runs:
        runs = runs["runs"]
    if not isinstance(runs, (dict, list, tuple)):
        raise errors.ValidationError(f"recipe runs must be a seed-format dict or a list of them, got {shown(runs)}")
    out = []
    for data in [runs] if isinstance(runs, dict) else runs:
        if not isinstance(data, dict) or not isinstance(data.get("cookbook"), str):
            raise errors.ValidationError("each recipe run must be a seed-format dict with a 'cookbook' id")
        out.extend(store_runs(conn, data["cookbook"], [], [data], sources_key=None, replace=False))
    return out


def best(conn, cookbook_id: str, constraint_group_id: Any, limit: Any) -> list[RecipeRun]:
    """Recipe runs of a cookbook, best score first (runs without a score last)."""
    sql = "SELECT run_id, data FROM recipe_runs WHERE cookbook_id = ?"
    params: list[Any] = [cookbook_id]
    if constraint_group_id is not None:
        sql += " AND constraint_group_id = ?"
        params.append(str(constraint_group_id))
    sql += " ORDER BY score IS NULL, score DESC, run_id LIMIT ?"
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise errors.ValidationError(f"limit must be None or an int >= 0, got {limit!r}")
    params.append(-1 if limit is None else limit)
    return [RecipeRun(run_id=r, data=stored_json(d)) for r, d in conn.execute(sql, params)]


def runs_key(conn, cookbook: Any) -> str:
    """The id recipe runs are stored under: a Cookbook's id, an id with stored runs (imported
    runs need no stored cookbook), or a stored cookbook's id or name."""
    if isinstance(cookbook, recipes.Cookbook):
        return cookbook.id
    if not isinstance(cookbook, str):  # (an id of imported runs is any text: checked as a name by load alone)
        raise errors.ValidationError(f"cookbook must be a Cookbook or a cookbook's id or name, got {shown(cookbook)}")
    return cookbook if has_runs(conn, cookbook) else load(conn, cookbook).id


def has_runs(conn, cookbook_id: str) -> bool:
    """True when recipe runs of the cookbook with this id are stored."""
    return conn.execute("SELECT 1 FROM recipe_runs WHERE cookbook_id = ? LIMIT 1", (cookbook_id,)).fetchone() is not None


def gather(cookbook: recipes.Cookbook, run_ids: list[str], metric_values) -> dict:
    """The ``(asset, field) -> (timestamps_us, values)`` series the cookbook reads, merged over
    ``run_ids`` in time order (``metric_values`` is ``Store.metric_values``)."""
    series: dict = {}
    for asset, field in needed_fields(cookbook):
        stamps: list = []
        values: list = []
        for run_id in run_ids:
            try:
                found = metric_values(run_id, field, asset=asset or None)
            except errors.NotFoundError:
                continue
            stamps.extend(found.timestamps)
            values.extend(found.values)
        # In time order whatever order they were logged in (a backfill, or several runs): a
        # stable sort keeps points of one timestamp in log order.
        if any(map(operator.gt, stamps, islice(stamps, 1, None))):
            order = sorted(range(len(stamps)), key=stamps.__getitem__)
            stamps, values = [stamps[i] for i in order], [values[i] for i in order]
        series[(asset, field)] = (stamps, values)
    return series


def top_results(conn, recipe_group: Any, limit: Any = 10) -> dict:
    """Sight Machine's top results of a recipe group (a stored cookbook's id or name, or the
    cookbook id of imported runs): ``{"runs": [best runs, seed dicts], "constraint_group": [one
    row per constraint group]}`` (``scores.constraint_groups``)."""
    book_id = runs_key(conn, recipe_group)
    row = conn.execute("SELECT definition FROM cookbooks WHERE id = ?", (book_id,)).fetchone()
    top = recipes.Cookbook.from_dict(stored_json(row[0])).top_runs if row else 10
    every = [r.to_dict() for r in best(conn, book_id, None, None)]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise errors.ValidationError(f"limit must be None or an int >= 0, got {limit!r}")
    return {"runs": every if limit is None else every[:limit], "constraint_group": constraint_groups(every, top)}


def current_value(conn, variables: Any, minutes: Any, at_us: int) -> list[dict]:
    """Sight Machine's ``current_value``: per ``{asset, name}``, ``{asset, name, values: {latest: x}}``
    with x the value of the latest point of that field (over every run holding the series) with
    ``at - minutes <= timestamp <= at``; None when there is none in the window."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes >= 0:
        raise errors.ValidationError(f"minutes must be a number >= 0, got {minutes!r}")
    if isinstance(variables, (str, bytes, dict)) or not isinstance(variables, (list, tuple)):
        raise errors.ValidationError(f"variables must be a list of {{'asset', 'name'}} dicts, got {variables!r}")
    out = []
    for i, v in enumerate(variables):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not isinstance(v.get("asset"), str):
            raise errors.ValidationError(f"variables[{i}] must be a dict with str 'asset' and 'name', got {v!r}")
        # Checked as a read checks them, so a blank asset is refused whether or not series match it.
        asset, name = check_name(v["asset"], f"variables[{i}] asset"), check_name(v["name"], f"variables[{i}] name")
        best_point = None  # (timestamp, run order, value)
        # (``asset <> ''`` written out: the index by asset and name holds only such series)
        rows = conn.execute("SELECT DISTINCT run_id FROM series WHERE asset = ? AND name = ? AND asset <> ''",
                            (asset, name)).fetchall()
        for (run_id,) in rows:
            found = metric_reads.values(conn, run_id, name, xaxis="timestamp",
                                        start=at_us / 1e6 - minutes * 60, stop=at_us / 1e6, asset=asset,
                                        max_points=None)
            for t, x in zip(found.timestamps, found.values):
                if best_point is None or t >= best_point[0]:
                    best_point = (t, x)
        latest = None if best_point is None or best_point[1] != best_point[1] else best_point[1]
        out.append({"asset": v["asset"], "name": v["name"], "values": {"latest": latest}})
    return out


# ---------------------------------------------------------------- the viewer's cookbook pages


def _page_args(limit: Any, offset: Any) -> tuple[int, int]:
    for value, what in ((limit, "limit"), (offset, "offset")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise errors.ValidationError(f"{what} must be an int >= 0, got {value!r}")
    return limit, offset


def cookbook_index(conn, limit: Any, offset: Any) -> tuple[int, list[tuple]]:
    """``(total, rows)``: every cookbook the file knows (stored ones and the cookbook ids of
    imported runs), by id, one page of ``(id, name or None, runs, constraint groups, best score)``."""
    limit, offset = _page_args(limit, offset)
    keys = "SELECT id FROM cookbooks UNION SELECT cookbook_id FROM recipe_runs"
    total = conn.execute(f"SELECT count(*) FROM ({keys})").fetchone()[0]
    rows = conn.execute(
        f"SELECT k.id, c.name, count(r.run_id), count(DISTINCT r.constraint_group_id), max(r.score)"
        f" FROM ({keys}) AS k LEFT JOIN cookbooks AS c ON c.id = k.id"
        " LEFT JOIN recipe_runs AS r ON r.cookbook_id = k.id GROUP BY k.id ORDER BY k.id LIMIT ? OFFSET ?",
        (limit, offset)).fetchall()
    return total, rows


def group_index(conn, cookbook_id: str, limit: Any, offset: Any) -> tuple[int, list[tuple]]:
    """``(total, rows)``: a cookbook's constraint groups, best score first (then by id), one page
    of ``(constraint_group_id, runs, best score)``."""
    limit, offset = _page_args(limit, offset)
    total = conn.execute("SELECT count(DISTINCT constraint_group_id) FROM recipe_runs WHERE cookbook_id = ?",
                         (cookbook_id,)).fetchone()[0]
    rows = conn.execute(
        "SELECT constraint_group_id, count(*), max(score) FROM recipe_runs WHERE cookbook_id = ?"
        " GROUP BY constraint_group_id ORDER BY max(score) IS NULL, max(score) DESC, constraint_group_id"
        " LIMIT ? OFFSET ?", (cookbook_id, limit, offset)).fetchall()
    return total, rows


def lever_ranges(conn, cookbook_id: str, constraint_group_id: str) -> list[tuple]:
    """Each lever's range over ALL the runs of one constraint group, computed by SQLite (so the
    answer is one row per lever however many runs there are): ``(asset, name, min of the runs'
    min, max of the runs' max, runs with a value)``, in the order of first appearance."""
    return conn.execute(
        "SELECT json_extract(l.value, '$.asset'), json_extract(l.value, '$.name'),"
        " min(json_extract(l.value, '$.value.min')), max(json_extract(l.value, '$.value.max')),"
        " count(json_extract(l.value, '$.value.min'))"
        " FROM recipe_runs AS r, json_each(r.data, '$.levers') AS l"
        " WHERE r.cookbook_id = ? AND r.constraint_group_id = ? AND json_valid(r.data)"
        " AND json_type(r.data, '$.levers') = 'array' AND l.type = 'object'"
        " GROUP BY 1, 2 ORDER BY min(l.key), 1, 2",
        (cookbook_id, str(constraint_group_id))).fetchall()
