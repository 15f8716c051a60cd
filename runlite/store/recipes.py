"""Cookbooks and recipe runs in the store."""

from __future__ import annotations

from typing import Any

from .. import _lazy, errors
from .._validation import now_us, to_us

recipes = _lazy.module("runlite.recipes.engine")
cookbooks = _lazy.module("runlite.recipes.cookbook")
recipe_store = _lazy.module("runlite.storage.recipes")


class RecipeCalls:
    """The recipe-run methods of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def create_cookbook(self, name: Any, *, levers: Any = None, outcomes: Any = None, constraints: Any = (),
                        run_boundaries: Any = (), min_duration: float | None = None, record_filters: Any = (),
                        top_runs: int = 10, recipe_group: str | None = None, kpis: Any = None):
        """Store a cookbook (levers, outcomes or KPIs, constraints with bins, run boundaries,
        record filters); returns the ``Cookbook`` with its id. ``name`` may instead be a cookbook
        dict: runlite's, or Sight Machine's SDK JSON (one ``recipe_group``, ``kpis`` for KPI
        formulas; stored under the group's id). Bad configuration raises a ``ValidationError``."""
        with self.database.write() as conn:
            if isinstance(name, dict):
                book = cookbooks.Cookbook.from_dict(name, recipe_group=recipe_group, kpis=kpis)
                return recipe_store.save(conn, book)
            return recipe_store.create(conn, name, levers=levers, outcomes=outcomes, constraints=constraints,
                                       run_boundaries=run_boundaries, min_duration=min_duration,
                                       record_filters=record_filters, top_runs=top_runs)

    def cookbook(self, id_or_name: str):
        """A stored cookbook by id or unique name."""
        with self.database.read() as conn:
            return recipe_store.load(conn, id_or_name)

    def compute_recipe_runs(self, cookbook: Any, *, sources: list, start: Any = None, end: Any = None) -> list:
        """Segment the machine data of ``sources`` (runs whose metric series carry assets) into
        recipe runs, store them (replacing an earlier computation over the same sources) and
        return them in time order (see docs/RECIPES.md)."""
        with self.database.read() as conn:
            book = recipe_store.load(conn, cookbook)
        ids = sorted(dict.fromkeys(self.run_id(s) for s in ([sources] if isinstance(sources, str) else sources)))
        if not ids:
            raise errors.ValidationError("sources must name at least one run")
        series = recipe_store.gather(book, ids, self.metric_values)
        items = recipes.compute(book, series, start_us=None if start is None else to_us(start, "start"),
                                end_us=None if end is None else to_us(end, "end"))
        with self.database.write() as conn:
            return recipe_store.store_runs(conn, book.id, ids, items, sources_key=",".join(ids), replace=True)

    def recipe_runs(self, cookbook: Any, *, constraint_group_id: Any = None, limit: int | None = None) -> list:
        """A cookbook's recipe runs, best ``_score`` first (its "top results")."""
        with self.database.read() as conn:
            return recipe_store.best(conn, recipe_store.runs_key(conn, cookbook), constraint_group_id, limit)

    def top_results(self, recipe_group: Any, limit: int | None = 10) -> dict:
        """Sight Machine's top results: ``{"runs": [...], "constraint_group": [...]}`` (docs/RECIPES.md)."""
        with self.database.read() as conn:
            return recipe_store.top_results(conn, recipe_group, limit)

    def current_value(self, variables: list, minutes: float = 1440, *, at: Any = None) -> list:
        """Sight Machine's current value: ``[{asset, name, values: {latest}}]``, the latest value
        of each field over the ``minutes`` before ``at`` (default now); None if none."""
        self.live.flush_all()
        with self.database.read() as conn:
            return recipe_store.current_value(conn, variables, minutes, now_us() if at is None else to_us(at, "at"))

    def import_recipe_runs(self, runs: Any) -> list:
        """Store recipe runs given in the seed's format (a list, or Sight Machine's top results
        ``{"runs": [...], ...}``); ``to_dict()`` gives them back unchanged. Importing the same run
        again replaces it; distinct runs are never merged (identity: ``storage/recipes.py``)."""
        with self.database.write() as conn:
            return recipe_store.import_runs(conn, runs)

    def cookbook_index(self, *, limit: int = 100, offset: int = 0) -> tuple[int, list[tuple]]:
        """``(total, rows)``: one page of the cookbooks the file knows (stored ones and the
        cookbook ids of imported runs), by id: ``(id, name or None, runs, constraint groups, best score)``."""
        return self._read(recipe_store.cookbook_index, limit, offset)

    def constraint_group_index(self, cookbook: Any, *, limit: int = 20, offset: int = 0) -> tuple[int, list[tuple]]:
        """``(total, rows)``: one page of a cookbook's constraint groups, best score first:
        ``(constraint_group_id, runs, best score)``."""
        with self.database.read() as conn:
            return recipe_store.group_index(conn, recipe_store.runs_key(conn, cookbook), limit, offset)

    def lever_ranges(self, cookbook: Any, constraint_group_id: Any) -> list[tuple]:
        """Each lever's range over all the recipe runs of one constraint group: ``(asset, name,
        least min, greatest max, runs with a value)``."""
        with self.database.read() as conn:
            return recipe_store.lever_ranges(conn, recipe_store.runs_key(conn, cookbook), constraint_group_id)
