"""Metric logging: a live run's buffer (``storage/metric_buffer.py``) flushed into chunks.

A flush appends each series' new points as a chunk of their own (small tail chunks are merged a
level at a time, never the stored data re-encoded on every flush), and updates the series
summary, all in one transaction: a flush is never half-written.
"""

from __future__ import annotations

import json
from array import array
from typing import TYPE_CHECKING

from .. import errors
from ..codec import chunks, ingest, stats
from .._memo import made_once
from .._validation import INT64_MAX
from .stat_rows import CHUNK_COLUMNS, NO_AXES, STAT_COLUMNS, stats_tuple

if TYPE_CHECKING:
    from .metric_buffer import MetricBuffer

CHUNK_POINTS = 8_192        # most points a chunk holds: window reads decode at most two
TARGET_CHUNK_POINTS = 4_096  # a tail chunk smaller than this grows instead of a new chunk
KEPT_POINTS = 8  # a written tail chunk of at most this many points keeps its columns in memory


class _Tail:
    """A small chunk at the end of a series, which later flushes may merge with others.

    ``level`` counts the merges its points went through; ``columns`` holds the points of
    a chunk not written yet (None once stored); ``kept`` those of a stored chunk of at most
    KEPT_POINTS points this writer wrote, so merging it decodes nothing (most merges of a
    slow loop are of one-point chunks; a series keeps at most 2 * (FANIN - 1) of them).
    """

    __slots__ = ("seq", "count", "level", "columns", "kept")

    def __init__(self, seq: int, count: int, level: int, columns=None):
        self.seq, self.count, self.level, self.columns, self.kept = seq, count, level, columns, None


class _SeriesState:
    """What a live run knows of a stored series, to append without reading it back:
    its summary (a tuple in ChunkStats field order), the next chunk seq, and its small
    tail chunks (oldest first)."""

    __slots__ = ("id", "summary", "next_seq", "tail")

    def __init__(self, series_id: int, summary, next_seq: int, tail: tuple = ()):
        self.id = series_id
        self.summary = summary
        self.next_seq = next_seq
        self.tail = tail

    @property
    def count(self) -> int:
        return self.summary[0] if self.summary is not None else 0


_TAIL_LOOKBACK = 64  # the stored small chunks a reloaded state may merge again


_SERIES_ROWS = "SELECT id, name, asset, " + ", ".join(STAT_COLUMNS) + " FROM series"
# A run's series named in a JSON array of names, found by the (run, name, asset) key: a flush of a
# few series looks up those few, however many the run holds.
_NAMED_SERIES_ROWS = _SERIES_ROWS + " WHERE run_id = ? AND name IN (SELECT value FROM json_each(?))"
# A run's series holding two or more small chunks: the only ones whose tails a run's end may
# merge among those the writer holds no state of (a resumed run's).
_FRAGMENTED_SERIES_ROWS = (_SERIES_ROWS + " WHERE id IN (SELECT c.series_id FROM series AS s JOIN chunks AS c"
                           " ON c.series_id = s.id WHERE s.run_id = ? AND c.count < ?"
                           " GROUP BY c.series_id HAVING count(*) > 1)")


def _series_rows(conn, run_id: str, keys: list) -> dict:
    """(name, asset) -> series row (id, name, asset, then STAT_COLUMNS) of each of ``keys`` the
    run stores."""
    if len(keys) == 1:
        row = conn.execute(_SERIES_ROWS + " WHERE run_id = ? AND name = ? AND asset = ?", (run_id, *keys[0])).fetchone()
        return {} if row is None else {keys[0]: row}
    if not keys:
        return {}
    wanted = set(keys)
    names = json.dumps([*{name for name, _ in wanted}])
    return {(r[1], r[2]): r for r in conn.execute(_NAMED_SERIES_ROWS, (run_id, names)) if (r[1], r[2]) in wanted}


def _load_states(conn, run_id: str, keys: list) -> dict:
    """The stored states of the series ``keys`` (those not stored left out)."""
    if len(keys) > 1 and conn.execute("SELECT 1 FROM series WHERE run_id = ? LIMIT 1", (run_id,)).get is None:
        return {}  # a new run's first flush: no name to look up
    return {key: _state_of(conn, (row[0], *row[3:])) for key, row in _series_rows(conn, run_id, keys).items()}


def _state_of(conn, row: tuple) -> _SeriesState:
    """A series' state from its row (id, then STAT_COLUMNS) and its last chunks."""
    last = conn.execute("SELECT seq, count FROM chunks WHERE series_id = ? ORDER BY seq DESC LIMIT ?",
                        (row[0], _TAIL_LOOKBACK)).fetchall()
    tail = []
    for seq, count in last:  # newest first: the run of small chunks that ends the series
        if count >= TARGET_CHUNK_POINTS:
            break
        tail.append(_Tail(seq, count, 0))
    tail.reverse()
    summary = stats_tuple(row[1:]) + NO_AXES if row[1] else None
    return _SeriesState(row[0], summary, last[0][0] + 1 if last else 0, tuple(tail))


def _stored_counts(conn, run_id: str, keys, states: dict) -> dict:
    """Series id -> stored point count, for the known series among ``keys``: a pack or a
    merge by another writer changes it, and the state is then read afresh."""
    ids = [states[k].id for k in keys if k in states]
    if not ids:
        return {}
    if 8 * len(ids) >= len(states):  # most of the run's series: one scan of them
        return dict(conn.execute("SELECT id, count FROM series WHERE run_id = ?", (run_id,)))
    return {i: conn.execute("SELECT count FROM series WHERE id = ?", (i,)).get for i in ids}


def _even_pieces(columns: tuple, shared: dict | None = None) -> list[tuple]:
    """Columns cut into even pieces of at most CHUNK_POINTS points. With ``shared`` (a flush's),
    an axis column many series share is cut once, into pieces they share too."""
    n = len(columns[0])
    if n <= CHUNK_POINTS:
        return [columns]
    size = -(-n // -(-n // CHUNK_POINTS))
    steps, times, stamps, values = columns

    def cut(column, i: int):
        return made_once(shared, (column,), i, lambda: column[i:i + size])

    return [(cut(steps, i), cut(times, i), cut(stamps, i), values[i:i + size]) for i in range(0, n, size)]


def _stored_columns(data: bytes, origin: int) -> tuple:
    """A stored chunk's points, times left None when they are the default ones for ``origin``."""
    steps, times, stamps, values = chunks.decode_chunk(data, derive_times=False)
    if times is None:
        chunk_origin = chunks.chunk_time_origin(data)
        if chunk_origin != origin:  # written against another origin: keep its times explicit
            times = chunks.derived_times(stamps, chunk_origin)
    return steps, times, stamps, values


def _concat(parts: list[tuple], origin: int) -> tuple:
    """The points of consecutive parts as one set of columns (explicit times if any has them)."""
    if len(parts) == 1:
        return parts[0]
    steps, stamps, values = array("q"), array("q"), array("d")
    explicit = any(p[1] is not None for p in parts)
    times = array("d") if explicit else None
    for s, t, ts, v in parts:
        steps += s
        stamps += ts
        values += v
        if explicit:
            times += t if t is not None else chunks.derived_times(ts, origin)
    return steps, times, stamps, values


class _StaleTail(errors.CorruptStoreError):
    """A small tail chunk this writer knows is not in the file as it left it (a pack rewrote
    the series): the flush plans again from the file; raised again, it is damage."""


class _Batch:
    """The statements of one flush, run together: deletes, then chunk inserts."""

    def __init__(self, conn, origin: int):
        self.conn, self.origin = conn, origin
        self.deletes, self.inserts = [], []  # (series id, seq); chunk rows
        # What the series sharing a record shape's axis share (made_once): pieces, ranges and
        # order, its columns transformed for their chunks (chunks.encode_chunk), default times.
        self.shared: dict = {}

    def merge(self, series_id: int, entries: list, level: int) -> list:
        """One chunk (or even full ones) of the entries' points, at the first entry's seq."""
        stored = [e for e in entries if e.columns is None]
        if stored:
            # The stored counts are checked even where the points are kept: another writer
            # (a pack) may have rewritten the chunks since.
            decode = any(e.kept is None for e in stored)
            rows = self.conn.execute(
                f"SELECT seq, count{', data' if decode else ''} FROM chunks WHERE series_id = ?"
                " AND seq BETWEEN ? AND ? ORDER BY seq", (series_id, stored[0].seq, stored[-1].seq)).fetchall()
            found = {row[0]: row for row in rows}
            for e in stored:
                if found.get(e.seq, (None, None))[1] != e.count:
                    raise _StaleTail(f"series {series_id}: chunk {e.seq} changed while this run was writing it")
            columns = {e.seq: e.kept if e.kept is not None else _stored_columns(found[e.seq][2], self.origin)
                       for e in stored}
        parts = [e.columns if e.columns is not None else columns[e.seq] for e in entries]
        first = entries[0].seq
        # Every stored part goes (deletes run before inserts): the result may be merged
        # again in this flush before it is written at the first part's seq.
        self.deletes.extend((series_id, e.seq) for e in stored)
        return [_Tail(first + k, len(p[0]), level, p)
                for k, p in enumerate(_even_pieces(_concat(parts, self.origin), self.shared))]

    def write(self, series_id: int, entry: _Tail) -> tuple:
        """Queue the insert of an entry's points; returns their statistics (a tuple)."""
        piece, entry.columns = entry.columns, None
        if entry.count <= KEPT_POINTS:
            entry.kept = piece
        chunk, data, sketch = ingest.chunk(*piece, self.origin, self.shared)
        self.inserts.append((series_id, entry.seq, *chunk, data, sketch))  # a NaN is bound as NULL
        return chunk

    def run(self) -> None:
        if self.deletes:
            self.conn.executemany("DELETE FROM chunks WHERE series_id = ? AND seq = ?", self.deletes)
        if self.inserts:
            self.conn.executemany(_INSERT_CHUNK, self.inserts)


_INSERT_CHUNK = ("INSERT OR REPLACE INTO chunks (series_id, seq, " + ", ".join(CHUNK_COLUMNS) + ", data, sketch)"
                 " VALUES (?, ?, " + ", ".join("?" * len(CHUNK_COLUMNS)) + ", ?, ?)")
_INSERT_SERIES = ("INSERT INTO series (id, run_id, name, asset, " + ", ".join(STAT_COLUMNS) + ") VALUES (?, ?, ?, ?, "
                  + ", ".join("?" * len(STAT_COLUMNS)) + ")")
_INSERT_EMPTY_SERIES = "INSERT INTO series (run_id, name, asset, count, nan_count) VALUES (?, ?, ?, 0, 0) RETURNING id"
_UPDATE_SUMMARY = "UPDATE series SET " + ", ".join(f"{c} = ?" for c in STAT_COLUMNS) + " WHERE id = ?"


FANIN = 8  # small tail chunks of one level merged at once


def _append(batch: _Batch, state: _SeriesState, new: tuple | None, final: bool) -> tuple:
    """Plan one series' new points; returns (next seq, small tail, statistics of the new
    points when they became a chunk of their own, else None).

    New points become a chunk of their own, so a flush costs what it writes, never what
    was written before. Small chunks gather at the series' tail and are merged FANIN of
    one level at a time (a K-ary counter: a point is re-encoded about
    log_FANIN(TARGET_CHUNK_POINTS) times, and the tail holds at most FANIN - 1 chunks a
    level), then all together once they reach TARGET_CHUNK_POINTS, or at the run's end
    (``final``), so the average cost of a call stays flat however slowly it logs.
    """
    sid, target = state.id, TARGET_CHUNK_POINTS
    if new is not None and not state.tail and len(new[0]) < target:
        # No tail yet (a new series: every one of a short run, of a wide record's first flush)
        # and a small chunk of new points, then the whole tail: the general way's result, sooner.
        entry = _Tail(state.next_seq, len(new[0]), 0, new)
        return state.next_seq + 1, (entry,), batch.write(sid, entry)
    tail = list(state.tail)
    next_seq = state.next_seq
    only_new = new is not None and not tail  # the chunks written hold the new points alone (in even pieces)
    merged = False  # the whole tail was just merged into even pieces
    if new is not None:
        tail.append(_Tail(next_seq, len(new[0]), 0, new))
        next_seq += 1
        if tail[-1].count >= target:  # big enough on its own: takes the small tail along
            tail, merged = batch.merge(sid, tail, 0), True
        else:
            only_new = False
            while len(tail) >= FANIN and all(e.level == tail[-1].level for e in tail[-FANIN:]):
                tail[-FANIN:] = batch.merge(sid, tail[-FANIN:], tail[-1].level + 1)
    # A tail just merged whole is in even pieces: merged again, it would be cut the same after
    # copying every point, and the series sharing an axis would no longer share its pieces.
    if len(tail) > 1 and not merged and (final or sum(e.count for e in tail) >= target):
        tail = batch.merge(sid, tail, 0)
    added, written = None, []
    for entry in tail:
        if entry.columns is not None:
            is_new = entry.columns is new
            chunk = batch.write(sid, entry)
            written.append(chunk)
            if is_new:
                added = chunk
    if added is None and only_new and written:  # the pieces' statistics merged, not the points again
        added = stats.merge_rows(written)
    if tail:
        next_seq = max(next_seq, tail[-1].seq + 1)
    return next_seq, tuple(e for e in tail if e.count < target), added


def flush(conn, run_id: str, buffer: MetricBuffer, states: dict, time_origin_us: int,
          on_series=None, final: bool = False) -> dict:
    """Write every buffered series inside the caller's transaction.

    ``on_series(key, times, values)``, when given, sees every series' new points (alerts).
    ``final``: the run ends, so each series' small tail chunks are merged into one.

    ``states`` maps (name, asset) to ``_SeriesState`` and is NOT modified: the new states are
    returned, to be adopted only after the transaction commits.
    """
    try:
        return _flush(conn, run_id, buffer, states, time_origin_us, on_series, final)
    except _StaleTail:  # another writer (a pack) rewrote small chunks of the run: plan from the file
        return _flush(conn, run_id, buffer, {}, time_origin_us, on_series, final)


def _flush(conn, run_id: str, buffer: MetricBuffer, states: dict, time_origin_us: int, on_series, final: bool) -> dict:
    todo = list(buffer.series_columns())
    if final:  # the series rows read once: for the tails to merge, the states and the counts
        seen = {key for key, _ in todo}
        todo += [(key, None) for key, st in states.items() if len(st.tail) > 1 and key not in seen]
        held = conn.execute("SELECT count(*) FROM series WHERE run_id = ?", (run_id,)).get
        rows = _series_rows(conn, run_id, [key for key, _ in todo]) if held else {}
        if held > len(states):
            # Series the writer holds no state of (a resumed run's, a forked child's, another
            # writer's): those with small chunks to merge are read afresh.
            split = {(r[1], r[2]): r for r in conn.execute(_FRAGMENTED_SERIES_ROWS, (run_id, TARGET_CHUNK_POINTS))}
            todo += [(k, None) for k in split if k not in states and k not in seen]
            rows.update(split)
    stored = {r[0]: r[3] for r in rows.values()} if final else _stored_counts(
        conn, run_id, [key for key, _ in todo], states)
    batch = _Batch(conn, time_origin_us)
    inserted, updated = [], []  # series rows: the new ones (before their chunks), the others' summaries
    new_states = {}
    # Series this writer does not know, or whose stored count changed under it (a pack, a
    # merge by another writer): read afresh, together.
    unknown = [key for key, _ in todo if key not in states or stored.get(states[key].id) != states[key].count]
    loaded = ({key: _state_of(conn, (rows[key][0], *rows[key][3:])) for key in unknown if key in rows} if final
              else _load_states(conn, run_id, unknown) if unknown else {})
    unknown_set = set(unknown)
    # New series get the ids SQLite would give them (one past the largest, in the order of the
    # keys): their rows go in once, with their summaries, and with no RETURNING (a third of its cost).
    created = [key for key, new in todo if new is not None and key in unknown_set and key not in loaded]
    top = (conn.execute("SELECT max(id) FROM series").get or 0) if created else 0
    if top > INT64_MAX - len(created):  # the largest id is taken: SQLite draws free ones, for rows of zeros
        drawn = conn.executemany(_INSERT_EMPTY_SERIES, [(run_id, *key) for key in created]).fetchall()
        loaded.update((key, _SeriesState(row[0], None, 0)) for key, row in zip(created, drawn))
        created = []
    fresh = dict(zip(created, range(top + 1, top + 1 + len(created))))
    loaded.update((key, _SeriesState(series_id, None, 0)) for key, series_id in fresh.items())
    for key, new in todo:
        state = loaded.get(key) if key in unknown_set else states[key]
        if state is None:  # a series to compact at the run's end that is no longer stored
            continue
        next_seq, tail, added = _append(batch, state, new, final)
        summary = state.summary
        if new is not None:
            if added is None:  # merged or cut into pieces: the statistics of the new points alone
                added = stats.merge_rows(stats.chunk_row(*p, time_origin_us=time_origin_us) for p in _even_pieces(new))
            summary = added if summary is None else stats.merge_rows((summary, added))
            values = summary[:len(STAT_COLUMNS)]  # a NaN is bound as NULL
            if key in fresh:
                inserted.append((state.id, run_id, *key, *values))
            else:
                updated.append((*values, state.id))
        if key in unknown_set:  # a state made for this flush: the new one (fewer objects for the collector)
            state.summary, state.next_seq, state.tail = summary, next_seq, tail
            new_states[key] = state
        else:
            new_states[key] = _SeriesState(state.id, summary, next_seq, tail)
    conn.executemany(_INSERT_SERIES, inserted)  # before their chunks: a chunk refers to its series
    batch.run()
    conn.executemany(_UPDATE_SUMMARY, updated)
    for key, new in todo if on_series is not None else ():  # once planned: a retry sees none twice
        if new is not None:
            on_series(key, new[1] if new[1] is not None else made_once(  # a record shape's: derived once
                batch.shared, (new[2],), "times", lambda s=new[2]: chunks.derived_times(s, time_origin_us)), new[3])
    return new_states


def rechunk(conn, series_id: int) -> bool:
    """Rewrite a series fragmented into small chunks as even full ones; True when rewritten.

    The points, their order and the series summary are unchanged; chunk statistics and
    sketches are recomputed.
    """
    rows = conn.execute("SELECT count, data FROM chunks WHERE series_id = ? ORDER BY seq", (series_id,)).fetchall()
    total = sum(r[0] for r in rows)
    needed = -(-total // CHUNK_POINTS)
    if len(rows) <= max(1, needed) or len(rows) < 2 * needed:
        return False  # not fragmented enough to be worth rewriting
    origins = {chunks.chunk_time_origin(d) for _, d in rows}
    explicit = any(chunks.chunk_has_times(d) for _, d in rows) or len(origins) > 1
    origin = origins.pop() if len(origins) == 1 else 0
    columns = [array("q"), array("d"), array("q"), array("d")]
    for _, data in rows:
        for col, part in zip(columns, chunks.decode_chunk(data)):
            col.extend(part)
    size = -(-total // needed)
    conn.execute("DELETE FROM chunks WHERE series_id = ?", (series_id,))
    batch = _Batch(conn, origin)
    for k, start in enumerate(range(0, total, size)):
        steps, times, stamps, values = (c[start:start + size] for c in columns)
        batch.write(series_id, _Tail(k, len(steps), 0, (steps, times if explicit else None, stamps, values)))
    batch.run()
    return True
