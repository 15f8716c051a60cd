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


# Without its counts (LangSmith's include_stats=false, how the SDK's read_project asks): the
# first run's start is the first entry of the project's index, where counting walks all of it
# (a project of 320,000 runs: 79 ms -> 0.02 ms).
_FIRST = ("SELECT session_id, (SELECT n.session_name FROM runs AS n WHERE n.session_id = runs.session_id"
          " ORDER BY coalesce(n.started, n.created) DESC, n.id DESC LIMIT 1), coalesce(started, created), NULL,"
          " NULL FROM runs WHERE session_id = ? ORDER BY coalesce(started, created), id LIMIT 1")


def _shaped(row: tuple) -> dict:
    """A project as LangSmith's ``TracerSession`` (with ``TracerSessionResult``'s counts, if read)."""
    found_id, name, first, last, count = row
    return {"id": found_id, "name": name, "start_time": from_us(first),
            "last_run_start_time": None if last is None else from_us(last),
            "run_count": count, "description": None, "extra": None, "tenant_id": None,
            "reference_dataset_id": None}


def listing(conn) -> list[dict]:
    """Every project that has runs, most recently active first."""
    rows = conn.execute(_SELECT + " WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY 4 DESC, 1")
    return [_shaped(row) for row in rows]


def _project_row(conn, session_id: str, stats: bool) -> tuple | None:
    """A project's row (``_SELECT``'s, its counts None without ``stats``); None when no run is in it."""
    if stats:
        row = conn.execute(_SELECT + " WHERE session_id = ?", (session_id,)).fetchone()
        return row if row[-1] else None
    return conn.execute(_FIRST, (session_id,)).fetchone()


def one(conn, name: Any = None, id: Any = None, stats: bool = True) -> dict:
    """The project called ``name``, or with id ``id`` (exactly one of them); NotFoundError when no
    run is in it. Without ``stats``, its run count and last run's start are None."""
    if (name is None) == (id is None):
        raise errors.ValidationError("give a project's name or its id (exactly one of them)")
    if name is not None:
        check_name(name, "project name")
        # Its derived id first (an index lookup); an id imported with the name otherwise.
        row = _project_row(conn, project_id(name), stats)
        if row is None:
            found = conn.execute("SELECT session_id FROM runs WHERE session_name = ? AND session_id IS NOT NULL"
                                 " ORDER BY created, id LIMIT 1", (name,)).fetchone()
            row = None if found is None else _project_row(conn, found[0], stats)
        if row is None:
            raise errors.NotFoundError(f"no project named {shown(name)} (no run is in it)")
        return _shaped(row)
    wanted = check_name(str(id) if isinstance(id, uuid.UUID) else id, "project id")
    row = _project_row(conn, wanted, stats)
    if row is None:
        raise errors.NotFoundError(f"no project with id {shown(wanted)} (no run is in it)")
    return _shaped(row)
