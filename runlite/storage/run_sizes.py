"""How much each of many runs holds: its metric points, its events, and when its media last
changed, read for a run set of any size in three grouped statements (ids bound as one JSON
array, never as text).

What an incremental export compares with the versions it wrote (``parquet``): a few reads a
run, each its own transaction, were most of the cost of exporting again a dataset that holds
every run already. Each figure comes from the rows' index alone or the series' counts kept at
ingest: no point and no event is decoded.
"""

from __future__ import annotations

import datetime
import json

from .. import errors
from .._validation import from_us

_IN_IDS = "run_id IN (SELECT value FROM json_each(?))"
# A count is checked as ``metric_reads.metric_series`` checks it: SQLite columns keep any type.
_POINTS = (f"SELECT run_id, sum(count), min(typeof(count) = 'integer' AND count >= 0) FROM series"
           f" WHERE {_IN_IDS} GROUP BY run_id")
_EVENTS = f"SELECT run_id, count(*) FROM events WHERE {_IN_IDS} GROUP BY run_id"
_MEDIA = f"SELECT run_id, max(timestamp) FROM media WHERE {_IN_IDS} GROUP BY run_id"


def of(conn, run_ids: list[str]) -> dict[str, tuple[int, int, datetime.datetime | None]]:
    """``{run_id: (points, events, media_updated)}`` of every id in ``run_ids``: the points of
    all its series (assets too), its events, and its newest media item's timestamp (None
    without media). An id of no run gets ``(0, 0, None)``."""
    ids = json.dumps(list(run_ids))
    points, events, media = {}, {}, {}
    for run_id, total, sound in conn.execute(_POINTS, (ids,)):
        if not sound:
            raise errors.CorruptStoreError(f"run {run_id}: a stored count of its metric points is not a number "
                                           "of points")
        points[run_id] = total
    events.update(conn.execute(_EVENTS, (ids,)))
    for run_id, newest in conn.execute(_MEDIA, (ids,)):
        media[run_id] = from_us(newest)
    return {run_id: (points.get(run_id, 0), events.get(run_id, 0), media.get(run_id)) for run_id in run_ids}
