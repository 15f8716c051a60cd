"""Projects (LangSmith's tracer sessions), as the runs that name them: ``runs.session_id`` and
``runs.session_name``. No table is kept: a project is a ``GROUP BY session_id`` over runs, its id
``_ids.project_id(name)`` for a run given a name alone (the same id in every file).
"""

from __future__ import annotations

import uuid
from typing import Any

from .. import errors
from .._ids import project_id
from .._validation import check_name, from_us, shown

# One row per project: id, its name (its newest run's), its first and last run starts, its run
# count. All but the name come from runs_session alone (a project of 33,000 runs: 20 ms when
# every run's name was read, 4 ms), and the name from one run.
_SELECT = ("SELECT session_id, (SELECT n.session_name FROM runs AS n WHERE n.session_id = runs.session_id"
           " ORDER BY coalesce(n.started, n.created) DESC, n.id DESC LIMIT 1), min(coalesce(started, created)),"
           " max(coalesce(started, created)), count(*) FROM runs")


def _shaped(row: tuple) -> dict:
    """A project as LangSmith's ``TracerSession`` (with ``TracerSessionResult``'s counts)."""
    found_id, name, first, last, count = row
    return {"id": found_id, "name": name, "start_time": from_us(first), "last_run_start_time": from_us(last),
            "run_count": count, "description": None, "extra": None, "tenant_id": None,
            "reference_dataset_id": None}


def listing(conn) -> list[dict]:
    """Every project that has runs, most recently active first."""
    rows = conn.execute(_SELECT + " WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY 4 DESC, 1")
    return [_shaped(row) for row in rows]


def one(conn, name: Any = None, id: Any = None) -> dict:
    """The project called ``name``, or with id ``id`` (exactly one of them); NotFoundError when no
    run is in it."""
    if (name is None) == (id is None):
        raise errors.ValidationError("give a project's name or its id (exactly one of them)")
    if name is not None:
        check_name(name, "project name")
        # Its derived id first (an index lookup); an id imported with the name otherwise.
        row = conn.execute(_SELECT + " WHERE session_id = ?", (project_id(name),)).fetchone()
        if not row[-1]:
            row = conn.execute(_SELECT + " WHERE session_id = (SELECT session_id FROM runs WHERE session_name = ?"
                               " AND session_id IS NOT NULL ORDER BY created, id LIMIT 1)", (name,)).fetchone()
        if not row[-1]:
            raise errors.NotFoundError(f"no project named {shown(name)} (no run is in it)")
        return _shaped(row)
    wanted = check_name(str(id) if isinstance(id, uuid.UUID) else id, "project id")
    row = conn.execute(_SELECT + " WHERE session_id = ?", (wanted,)).fetchone()
    if not row[-1]:
        raise errors.NotFoundError(f"no project with id {shown(wanted)} (no run is in it)")
    return _shaped(row)
