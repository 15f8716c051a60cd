"""How a merge joins the rows both files hold, table by table: folders, series, events that
two copies numbered alike, feedback, alerts (``archive.merge`` runs them in its one transaction).

``damaged(problem)`` is the caller's error for a source row no sound file holds.
"""

from __future__ import annotations

from typing import Callable

from .. import errors
from . import checks
from .stat_rows import CHUNK_COLUMNS, STAT_COLUMNS
from .._validation import dumps, stored_json

CONFLICTS_SHOWN = 5  # ids named in a refusal

_EVENT_FIELDS = ("time", "level", "name", "message", "kwargs")
_SAME_EVENT = " AND ".join(f"{{a}}.{c} IS {{b}}.{c}" for c in _EVENT_FIELDS)  # column names from code only


def diverged_events(conn) -> int:
    """Events of the source whose number the destination gave another event (a run resumed and
    logging in both files), appended after the run's last event unless it holds the same one:
    ignored, they were lost. Merging again finds them here and adds nothing."""
    # The events numbered like another first (few), then the search of their run's events for
    # each (materialized: else SQLite searched the run for every source event, before the join;
    # a run's events copied by this merge, all of them: quadratic in its events).
    rows = conn.execute(
        "WITH other AS MATERIALIZED (SELECT s.* FROM src.events AS s JOIN main.events AS m ON m.run_id = s.run_id"
        " AND m.seq = s.seq WHERE NOT (" + _SAME_EVENT.format(a="m", b="s") + ")) SELECT s.run_id, "
        + ", ".join(f"s.{c}" for c in _EVENT_FIELDS) + " FROM other AS s WHERE NOT EXISTS (SELECT 1 FROM"
        " main.events AS e WHERE e.run_id = s.run_id AND " + _SAME_EVENT.format(a="e", b="s") + ")"
        " ORDER BY s.run_id, s.seq").fetchall()
    for run_id, *fields in rows:
        conn.execute("INSERT INTO main.events (run_id, seq, " + ", ".join(_EVENT_FIELDS) + ") SELECT ?,"
                     " coalesce(max(seq), -1) + 1, ?, ?, ?, ?, ? FROM main.events WHERE run_id = ?",
                     (run_id, *fields, run_id))
    return len(rows)


def folders(conn, damaged: Callable[[str], Exception]) -> None:
    """Folders the destination lacks; for one in both, the details it lacks: its description if
    it has none, the source's tags after its own, and the metadata keys it does not hold."""
    conn.execute("INSERT OR IGNORE INTO main.folders SELECT * FROM src.folders")
    for path, description, tags, metadata, created, s_description, s_tags, s_metadata, s_created in conn.execute(
            "SELECT m.path, m.description, m.tags, m.metadata, m.created, s.description, s.tags, s.metadata,"
            " s.created FROM main.folders AS m JOIN src.folders AS s ON s.path = m.path WHERE m.description IS NOT"
            " s.description OR m.tags IS NOT s.tags OR m.metadata IS NOT s.metadata").fetchall():
        what = f"folder {path!r:.80}"
        mine, theirs = stored_json(tags, f"the tags of {what}"), stored_json(s_tags, f"the tags of {what}")
        if not isinstance(theirs, list):  # (metadata is an object: `checks.ROW_TYPES`)
            raise damaged(f"the tags of its {what} are not a list")
        if isinstance(mine, list):
            tags = dumps(mine + [t for t in theirs if t not in mine])
        keys = stored_json(metadata, f"the metadata of {what}")
        joined = {**keys, **{k: v for k, v in stored_json(s_metadata, f"the metadata of {what}").items()
                             if k not in keys}}
        conn.execute("UPDATE main.folders SET description = ?, tags = ?, metadata = ?, created = ? WHERE path = ?",
                     (description or s_description or description, tags, dumps(joined), min(created, s_created),
                      path))


def refuse_feedback_conflicts(conn, source: str) -> None:
    """Raise ``MergeConflictError`` when a feedback id names another run's or key's feedback
    here (ids may be the caller's): ignored, the source's would be lost without a word."""
    ids = [r[0] for r in conn.execute(
        "SELECT s.id FROM src.feedback AS s JOIN main.feedback AS m ON m.id = s.id"
        " WHERE m.run_id IS NOT s.run_id OR m.key IS NOT s.key ORDER BY s.id LIMIT ?", (CONFLICTS_SHOWN + 1,))]
    if ids:
        raise errors.MergeConflictError(
            f"{source!r} was not merged: its feedback {', '.join(map(repr, ids[:CONFLICTS_SHOWN]))}"
            f"{' and more' if len(ids) > CONFLICTS_SHOWN else ''} has the id of feedback here on another run or"
            " key; feedback found in both files must be on the same run, under the same key. Nothing was changed")


def series(conn, damaged: Callable[[str], Exception], progress=None) -> int:
    """Copy series the destination lacks, or has fewer points of (the run grew in the source).

    Each series copied is checked first (``checks.series_problems``): every chunk
    decodes and matches its statistics, positions and sketch, and the summary matches the
    chunks. Series not copied are not decoded, so merging a file again stays cheap.
    """
    stats_sql = ", ".join(STAT_COLUMNS)
    chunk_cols = ", ".join(CHUNK_COLUMNS)
    copied = 0
    todo = conn.execute(f"SELECT id, run_id, name, asset, {stats_sql} FROM src.series").fetchall()
    for done, (src_id, run_id, name, asset, *summary) in enumerate(todo, start=1):
        if progress is not None:  # the series are most of a merge's work
            progress(done, len(todo))
        count = summary[0]
        if type(count) is not int:  # compared below: a damaged cell must not raise TypeError
            raise damaged(f"its series {name!r:.80} of run {run_id!r:.40} counts {count!r:.40} points")
        mine = conn.execute("SELECT id, count FROM main.series WHERE run_id = ? AND name = ? AND asset = ?",
                            (run_id, name, asset)).fetchone()
        if mine is not None and mine[1] >= count:
            continue
        problems, _ = checks.series_problems(conn, src_id, f"its series {name!r:.80} of run {run_id}",
                                             tuple(summary), db="src")
        if problems:
            raise damaged(problems[0])
        if mine is None:
            target = conn.execute(f"INSERT INTO main.series (run_id, name, asset, {stats_sql}) SELECT run_id, name,"
                                  f" asset, {stats_sql} FROM src.series WHERE id = ? RETURNING id", (src_id,)).get
        else:
            target = mine[0]
            conn.execute("DELETE FROM main.chunks WHERE series_id = ?", (target,))
            conn.execute(f"UPDATE main.series SET ({stats_sql}) = (SELECT {stats_sql} FROM src.series WHERE id = ?)"
                         " WHERE id = ?", (src_id, target))
        conn.execute(f"INSERT INTO main.chunks (series_id, seq, {chunk_cols}, sketch, data) SELECT ?, seq,"
                     f" {chunk_cols}, sketch, data FROM src.chunks WHERE series_id = ?", (target, src_id))
        copied += 1
    return copied


def alerts(conn, source: str, damaged: Callable[[str], Exception]) -> None:
    """Alerts by definition (an identical one already here is reused), then states and history."""
    mapping = {}
    for alert_id, key in conn.execute("SELECT id, key FROM src.alerts").fetchall():
        mine = conn.execute("SELECT id FROM main.alerts WHERE key = ?", (key,)).fetchone()
        if mine is None:
            # An alert here with this id but another definition: ignoring the insert would
            # attach the source's runs to that other alert, so the merge is refused (as for runs).
            if conn.execute("SELECT 1 FROM main.alerts WHERE id = ?", (alert_id,)).fetchone():
                raise errors.MergeConflictError(
                    f"{source!r} was not merged: its alert {alert_id} has the id of a different alert here"
                    " (another definition); an alert found in both files must have the same definition."
                    " Nothing was changed")
            conn.execute("INSERT OR IGNORE INTO main.alerts SELECT * FROM src.alerts WHERE id = ?", (alert_id,))
            mapping[alert_id] = alert_id
        else:
            mapping[alert_id] = mine[0]

    def mapped(alert_id) -> str:  # _refuse_damaged_rows refused unknown ids already; never a KeyError
        if alert_id not in mapping:
            raise damaged(f"its alert states or history name alert {alert_id!r:.60}, which it does not hold")
        return mapping[alert_id]

    for run_id, alert_id, state, changed in conn.execute(
            "SELECT run_id, alert_id, state, changed FROM src.run_alerts").fetchall():
        conn.execute("INSERT INTO main.run_alerts (run_id, alert_id, state, changed) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT(run_id, alert_id) DO UPDATE SET state = excluded.state, changed = excluded.changed"
                     " WHERE coalesce(excluded.changed, 0) > coalesce(run_alerts.changed, 0)",
                     (run_id, mapped(alert_id), state, changed))
    for run_id, alert_id, seq, time_us, run_time, state in conn.execute(
            "SELECT run_id, alert_id, seq, time, run_time, state FROM src.alert_history").fetchall():
        conn.execute("INSERT OR IGNORE INTO main.alert_history VALUES (?, ?, ?, ?, ?, ?)",
                     (run_id, mapped(alert_id), seq, time_us, run_time, state))
