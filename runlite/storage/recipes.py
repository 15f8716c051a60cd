"""Cookbooks and recipe runs in the file.

A cookbook is stored as its validated definition. Computed recipe runs are stored as runs
of kind ``recipe`` (so every query and archive operation covers them), linked to their
source runs, with their seed-format dict and score beside them. Run ids are derived from
the cookbook, the sources and the run's first record, so recomputing over the same data
replaces runs instead of adding duplicates.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs

from .. import errors
from ..recipes import engine as recipes
from .._ids import dotted_segment, uuid7
from .._validation import check_name, dumps, now_us, stored_json, to_us

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
    for outcome in d["outcomes"]:
        if outcome.get("formula") is not None:
            fields.extend((outcome["asset"], dep) for dep in outcome["aggregates"])
        else:
            fields.append((outcome["asset"], outcome["name"]))
    return list(dict.fromkeys(fields))


def run_id_for(cookbook_id: str, sources_key: str, data: dict) -> str:
    """The stable id of a computed recipe run."""
    return str(uuid.uuid5(_NS, f"{cookbook_id}|{sources_key}|{data['_earliest']}|{data['constraint_group_id']}"))


def _us(iso: str) -> int:
    return to_us(iso, "recipe run time")


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


def has_runs(conn, cookbook_id: str) -> bool:
    """True when recipe runs of the cookbook with this id are stored."""
    return conn.execute("SELECT 1 FROM recipe_runs WHERE cookbook_id = ? LIMIT 1", (cookbook_id,)).fetchone() is not None
