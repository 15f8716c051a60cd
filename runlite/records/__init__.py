"""Frozen attrs records returned by reads, and their ``to_dict()`` forms.

Records are values: reading the same run twice gives equal records. Times are aware UTC
datetimes on the record; ``to_dict()`` gives JSON-ready values (see ``RunRecord.to_dict``).

One module a theme (`runs`, `series`, `events`, `query`, `charts`), each name imported on
first use (PEP 562): attrs writes each class's methods as the class is made, about half a
millisecond a class, and a program that only logs metrics reads none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:  # for type checkers and IDEs; at run time each name is imported on first use
    from .charts import Buckets
    from .events import Attachment, Event
    from .query import QueryResult
    from .runs import (
        FROM_LANGSMITH, LANGSMITH_FIELDS, LANGSMITH_STATUS, SIMVUE_FIELDS, RunList, RunRecord, usage_details,
    )
    from .series import Series, Stats

_NAMES = {
    **dict.fromkeys(("RunRecord", "RunList", "LANGSMITH_FIELDS", "SIMVUE_FIELDS", "LANGSMITH_STATUS",
                     "FROM_LANGSMITH", "usage_details"), "runlite.records.runs"),
    **dict.fromkeys(("Series", "Stats"), "runlite.records.series"),
    **dict.fromkeys(("Event", "Attachment"), "runlite.records.events"),
    "QueryResult": "runlite.records.query",
    "Buckets": "runlite.records.charts",
}

__all__ = list(_NAMES)
__getattr__ = _lazy.names_getter(__name__, globals(), _NAMES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
