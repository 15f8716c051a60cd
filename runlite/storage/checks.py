"""Soundness checks of stored rows, shared by ``verify`` and ``merge``.

SQLite pages carry no checksum, so a cell can read back changed without any error. ``verify``
reports what these checks find in a file; ``merge`` runs the same checks over every row it is
about to bring in from a source file, inside its transaction, and refuses the source whole on
the first problem. No check raises for what it finds: each returns sentences (or None).
"""

from __future__ import annotations

import math
import operator
import struct
from typing import Iterator

from .. import errors
from .._validation import EARLIEST_US, LATEST_US, MAX_STORED_DEPTH, check_name, stored_json
from ..codec import accel, chunks, sketch, stats
from .stat_rows import CHUNK_COLUMNS, STAT_COLUMNS, stats_tuple

SCHEMAS = ("main", "src")  # the databases a check may read: the file, and a merge's attached source


# The statistic columns that may be NULL: no value (every point NaN) or, for a summary, no point.
_NULLABLE_STATS = frozenset(("min", "max", "min_step", "max_step", "mean", "m2", "first", "last"))
_REAL_STATS = frozenset(("min", "max", "mean", "m2", "first", "last", "time_lo", "time_hi"))
_SOUND_TYPES = {len(columns): tuple(float if c in _REAL_STATS else int for c in columns)
                for columns in (STAT_COLUMNS, CHUNK_COLUMNS)}  # by row length: a summary's or a chunk's


def close_enough(a, b) -> bool:
    """Equal, both NaN, both None, or floats within rounding (statistics recomputed from points).

    Integers (counts, steps, timestamps) must be equal: a timestamp one microsecond off is
    within any relative tolerance, and still wrong.
    """
    if a is None or b is None:
        return a is b
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False  # a damaged cell of another type: never a match, never a TypeError
    if type(a) is int and type(b) is int:
        return a == b
    if a != a or b != b:  # NaN
        return a != a and b != b
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def stats_type_problem(row: tuple, columns: tuple, *, chunk: bool) -> str | None:
    """Why the stored statistics ``row`` (values of ``columns``) cannot be statistics, or None.

    Integers where SQLite keeps integers, floats where it keeps reals, NULL only where the
    schema allows it, and counts that make sense (a chunk holds at least one point).
    """
    if tuple(map(type, row)) == _SOUND_TYPES[len(row)]:
        types_ok = True  # every cell of the kind its column keeps, none NULL: the common case
    else:
        types_ok = False
    count, nan_count = row[0], row[1]
    if type(count) is not int or type(nan_count) is not int:
        return f"its count and nan_count are {count!r:.20} and {nan_count!r:.20}, not integers"
    if not 0 <= nan_count <= count or (chunk and count < 1):
        return f"it counts {count} points of which {nan_count} NaN"
    if types_ok or (not chunk and count == 0):
        return None  # (a series without points: nothing else of its row is ever read)
    for column, value in zip(columns[2:], row[2:]):
        real = column in _REAL_STATS
        if value is None:
            if column not in _NULLABLE_STATS:
                return f"its {column} is NULL"
        elif type(value) is not (float if real else int):
            return f"its {column} is {type(value).__name__} {value!r:.40}, not {'a real' if real else 'an integer'}"
    return None


def _bits(x) -> object:
    """A sketch field as compared: floats by their bits (NaN payloads, -0.0), the rest as is."""
    return struct.pack("<d", x) if type(x) is float else x


def _same_point(a: tuple, b: tuple) -> bool:
    # Exact: a sketch's points are copies of the chunk's points (times derived the same way),
    # so a flipped low bit is damage, not rounding.
    return len(a) == len(b) and all(map(operator.eq, map(_bits, a), map(_bits, b)))


def sketch_problem(sketch_data, columns: tuple, made: list, flags: int) -> str | None:
    """Why a stored block sketch is not the one the chunk's points make (``made``, their
    `sketch.blocks`; ``flags``, their exact `sketch.order`), or None.

    Downsampled reads take points from sketches without decoding their chunk, so a sketch
    that decodes but holds other points would read back as wrong data, silently.
    """
    if not isinstance(sketch_data, bytes):
        return f"its sketch is {type(sketch_data).__name__}, not bytes"
    if sketch_data == sketch.NONE_STORED:  # a read makes the sketch of one block from the points
        points = len(columns[3])
        return None if points <= sketch.BLOCK else f"it stores no sketch for {points} points"
    try:
        found = sketch.decode_all(sketch_data)
    except errors.CorruptStoreError as exc:
        return f"its sketch: {exc}"
    return None if _same_sketch(found, made, columns, flags) else "its sketch does not match its points"


def _same_sketch(found: tuple, made: list, columns: tuple, flags: int | None = None) -> bool:
    """A decoded sketch (`sketch.decode_all`) holds the blocks ``made`` of ``columns`` and,
    from version 3, their sums bit for bit and only order flags that hold (``flags``, the
    columns' exact `sketch.order` when known; a clear flag is allowed: it claims nothing)."""
    blocks, found_sums, claimed = found
    if not _same_blocks(blocks, made):
        return False
    if found_sums is None:
        return True
    return (found_sums.tobytes() == sketch.block_sums(columns[3]).tobytes()
            and not claimed & ~(sketch.order(*columns[:3]) if flags is None else flags))


def _same_blocks(found: list, made: list) -> bool:
    """Two sketches' blocks hold the same points, bit for bit."""
    return len(found) == len(made) and not any(
        count != n or len(points) != len(mine) or not all(map(_same_point, points, mine))
        for (count, points), (n, mine) in zip(found, made))


def _fast_match(np, stored: tuple, columns: tuple, origin: int, sketch_data) -> bool:
    # Overflow and NaN are expected here (damaged or extreme chunks) and handled: numpy must not
    # warn about them (a host that turns warnings into errors would see an exception).
    with np.errstate(all="ignore"):
        return _numpy_match(np, stored, columns, origin, sketch_data)


def _numpy_match(np, stored: tuple, columns: tuple, origin: int, sketch_data) -> bool:
    """True when numpy shows a chunk's stored statistics, positions and sketch equal to its
    points; False only means "not shown", and the exact check (``chunk_stats``,
    ``sketch.blocks``) decides.

    The exact check's per-point Python work would make a merge of millions of points take
    seconds; this does a few whole-column numpy calls a chunk. It computes each figure the
    way the exact check does (the sum with fsum, the first index of an extreme, NaN skipped)
    and leaves what it does not to the exact check (infinities, overflow, NaN in a block).
    The sketch is rebuilt from the chosen points and compared byte for byte: equal bytes are
    the same sketch; a zstd that compresses differently only sends it to the exact check.
    """
    steps, times, stamps, values = columns
    n = len(values)
    v = np.frombuffer(values, dtype=np.float64)  # decode_chunk's arrays are in native order
    s, ts = np.frombuffer(steps, dtype=np.int64), np.frombuffer(stamps, dtype=np.int64)
    total = float(v.sum())
    if math.isfinite(total):  # no NaN (nor infinity): a NaN makes the sum NaN
        nans, clean = 0, v
    else:
        nan = np.isnan(v)
        nans = int(np.count_nonzero(nan))
        clean = v[~nan]
        total = float(clean.sum())
    if stored[0] != n or stored[1] != nans or not isinstance(sketch_data, bytes):
        return False
    ts_lo, ts_hi = int(ts.min()), int(ts.max())
    if times is None:
        time_lo, time_hi = (ts_lo - origin) / 1e6, (ts_hi - origin) / 1e6
    else:
        t = np.frombuffer(times, dtype=np.float64)
        time_lo, time_hi = float(t.min()), float(t.max())
    made = [None] * 6  # min, max, min_step, max_step, mean, m2: none without a value
    if nans < n:
        k = n - nans
        if nans:
            low, high = float(clean.min()), float(clean.max())
            i_low, i_high = int(np.argmax(v == low)), int(np.argmax(v == high))
        else:  # argmin/argmax: the first extreme, as the exact check's index() finds it
            i_low, i_high = int(v.argmin()), int(v.argmax())
            low, high = values[i_low], values[i_high]
        if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(total)):
            return False
        mean = stored[6]
        if type(mean) is not float or not math.isfinite(mean):  # finite points have a finite mean
            return False
        # The exact check takes the mean from an exactly rounded sum (fsum, ~30 ns a point).
        # numpy's sum is off from it by at most (k + 1) units of rounding of the sum of the
        # magnitudes, whatever order it adds in (bounded first by k times the largest one):
        # accepted only if every sum within that bound gives a mean the exact check accepts.
        allowed = max(0.9e-9 * abs(mean), 0.9e-12)
        off = abs(total / k - mean)
        if not off + (k + 1) * 2.3e-16 * max(abs(low), abs(high)) <= allowed and \
                not off + (k + 1) * 2.3e-16 * float(np.abs(clean).sum()) / k <= allowed:
            return False  # (written "not <=": a NaN anywhere fails the test)
        d = clean - mean
        made = [low, high, steps[i_low], steps[i_high], mean, float(np.dot(d, d))]
    made += [values[0], values[-1], steps[0], steps[-1], int(s.min()), int(s.max()), time_lo, time_hi, ts_lo, ts_hi]
    # Equal as they stand (all but m2, usually), else within rounding.
    exact = made[:5] + made[6:] == list(stored[2:7] + stored[8:]) and close_enough(made[5], stored[7])
    if not exact and not all(map(close_enough, made, stored[2:])):
        return False
    if nans:
        return False  # blocks with NaN: the exact check picks their points
    size = sketch.BLOCK
    whole = n - n % size
    picks = []
    if whole:
        grid = v[:whole].reshape(-1, size)
        picks += zip(grid.argmin(axis=1).tolist(), grid.argmax(axis=1).tolist())
    if whole < n:
        tail = v[whole:]
        picks.append((int(tail.argmin()), int(tail.argmax())))
    blocks = []
    for block, (i_min, i_max) in enumerate(picks):
        base = block * size
        count = min(size, n - base)
        points = []
        for i in (0, i_min, i_max, count - 1):
            j = base + i
            points.append((i, steps[j], times[j] if times is not None else (stamps[j] - origin) / 1e6,
                           stamps[j], values[j]))
        blocks.append((count, tuple(points)))
    if sketch.stored(blocks, steps, times, stamps, values) == sketch_data:
        return True
    # A sketch in an older layout (or compressed otherwise, or with a flag the writer did not
    # set) is the same sketch when it holds the same points: older files keep this fast path.
    try:
        return _same_sketch(sketch.decode_all(sketch_data), blocks, columns)
    except errors.CorruptStoreError:
        return False


def chunk_problem(stored: tuple, data, *, sketch_data) -> tuple[str | None, bool]:
    """``(problem or None, decoded)`` for one chunk: it must decode, and what is stored beside it
    must match its points: its statistics (``stored``, a ``stats_tuple``), its positions (step,
    time and timestamp ranges, which window reads trust) and its block sketch (which charts,
    downsampling and window cuts trust: its sums and order flags too).
    """
    try:
        # Default times stay underived, as when the chunk was written: its time range then
        # comes from its timestamps and its sketch derives the times of its chosen points only.
        columns = chunks.decode_chunk(data, derive_times=False)
        origin = chunks.chunk_time_origin(data)
    except errors.CorruptStoreError as exc:
        return str(exc), False
    # A check runs over chunks by the thousand: numpy pays for itself across them, whatever
    # one chunk's size, so it is asked for with the largest chunk's point count.
    np = accel.numpy_for(chunks.MAX_CHUNK_POINTS)
    if np is not None and _fast_match(np, stored, columns, origin, sketch_data):
        return None, True
    # The blocks are right whether the values hold a NaN or not (`sketch.blocks`), and give the
    # statistics the values' extremes (used only when every value is finite): four passes fewer.
    # The sketch's order flags, checked exactly, show which int axes never decrease: their
    # ranges are at their ends.
    made = sketch.blocks(*columns, has_nan=False, time_origin_us=origin)
    flags = sketch.order(*columns[:3])
    axis = stats.axis_ranges(*columns[:3], origin, steps_rise=bool(flags & sketch.STEPS_ASCEND),
                             stamps_rise=bool(flags & sketch.TIMESTAMPS_ASCEND))
    actual = stats.chunk_row(*columns, time_origin_us=origin, extremes=sketch.extremes(made), axis=axis)
    if any(not close_enough(a, b) for a, b in zip(actual, stored[:len(CHUNK_COLUMNS)])):
        return "stored statistics do not match its points", True
    return sketch_problem(sketch_data, columns, made, flags), True


def series_problems(conn, series_id: int, where: str, summary: tuple, *, db: str = "main") -> tuple[list[str], int]:
    """``(problems, chunks checked)`` of one series of database ``db`` (``SCHEMAS``): each chunk
    (``chunk_problem``), then its summary (``summary``, the ``STAT_COLUMNS`` values of its
    row) against the merge of its chunks' stored statistics."""
    if db not in SCHEMAS:
        raise errors.ValidationError(f"db must be one of {SCHEMAS}, got {db!r}")
    problems: list[str] = []
    summary_bad = stats_type_problem(summary, STAT_COLUMNS, chunk=False)
    if summary_bad:
        problems.append(f"{where}: the summary: {summary_bad}")
    parts, checked = [], 0
    for seq, *row in conn.execute(  # names from code and SCHEMAS only
            f"SELECT seq, {', '.join(CHUNK_COLUMNS)}, sketch, data FROM {db}.chunks"
            " WHERE series_id = ? ORDER BY seq", (series_id,)):
        checked += 1
        stored_row = tuple(row[:len(CHUNK_COLUMNS)])
        bad = stats_type_problem(stored_row, CHUNK_COLUMNS, chunk=True)
        if bad is None and type(seq) is not int:
            bad = f"its seq is {type(seq).__name__}, not an integer"
        if bad:
            problems.append(f"{where}, chunk {seq!r:.40}: {bad}")
            continue
        stored = stats_tuple(stored_row)
        found, decoded = chunk_problem(stored, row[-1], sketch_data=row[-2])
        if found:
            problems.append(f"{where}, chunk {seq}: {found}")
        if decoded:
            parts.append(stored)
    if summary_bad:
        return problems, checked
    total = stats.merge_rows(parts)  # one chunk is its own total (a short series): nothing merged
    expect = stats_tuple(tuple(summary)) if summary[0] else None
    if total is None and expect is None:
        return problems, checked
    if total is None or expect is None or (total[:12] != expect[:12] and not all(
            map(close_enough, total[:12], expect[:12]))):
        problems.append(f"{where}: the summary does not match its chunks")
    return problems, checked


# ---------------------------------------------------------------- rows of other tables

# What each column of a table a merge copies may hold: "text", "integer", "real", "number"
# (integer or real), "blob", "json" (text a JSON reader accepts: JSON5, a superset of what Python's
# json writes, NaN and Infinity included), "time" (integer microseconds a datetime can
# hold); a trailing "?" allows NULL. Reads decode these cells (JSON, datetimes), so a damaged
# one brought in would make the destination's reads fail. Series and chunk statistics are
# checked against their points instead (``series_problems``); blob parts by ``blobs.verify_blob``.
ROW_TYPES = {
    "folders": {"path": "text", "description": "text?", "tags": "json", "metadata": "object", "created": "time"},
    "runs": {
        "id": "text", "name": "text", "status": "text", "kind": "text", "run_type": "text?", "folder": "text",
        "description": "text?", "metadata": "object", "tags": "json", "parent_run_id": "text?", "trace_id": "text",
        "dotted_order": "text", "created": "time", "started": "time?", "ended": "time?", "modified": "time",
        "inputs": "json?", "outputs": "json?", "error": "text?", "extra": "object?", "serialized": "json?",
        "session_id": "text?", "reference_example_id": "text?", "prompt_tokens": "number?",
        "completion_tokens": "number?", "total_tokens": "number?", "prompt_cost": "number?",
        "completion_cost": "number?", "total_cost": "number?", "first_token_time": "time?", "host": "text?",
        "pid": "integer?", "heartbeat": "time?", "heartbeat_timeout": "number?", "system": "json?",
        "ls_fields": "json?", "session_name": "text?"},
    "series": {"run_id": "text", "name": "text", "asset": "text"},
    "events": {"run_id": "text", "seq": "integer", "time": "time", "level": "text?", "name": "text?",
               "message": "text?", "kwargs": "json?"},
    "feedback": {"id": "text", "run_id": "text", "trace_id": "text?", "key": "text", "score": "number?",
                 "value": "json?", "comment": "text?", "correction": "json?", "source": "json?",
                 "created": "time", "modified": "time"},
    "blobs": {"sha256": "text", "size": "integer", "stored": "integer", "parts": "integer", "created": "time"},
    "attachments": {"run_id": "text", "name": "text", "category": "text?", "mime_type": "text", "size": "integer",
                    "sha256": "text", "original_path": "text?", "created": "time"},
    "alerts": {"id": "text", "name": "text", "source": "text", "key": "text", "definition": "json",
               "created": "time"},
    "run_alerts": {"run_id": "text", "alert_id": "text", "state": "text", "changed": "time?"},
    "alert_history": {"run_id": "text", "alert_id": "text", "seq": "integer", "time": "time",
                      "run_time": "number?", "state": "text"},
    "cookbooks": {"id": "text", "name": "text", "definition": "json", "created": "time"},
    "recipe_runs": {"run_id": "text", "cookbook_id": "text", "sources_key": "text?", "constraint_group_id": "text",
                    "score": "number?", "data": "json"},
    "run_sources": {"run_id": "text", "source_run_id": "text"},
    "media": {"run_id": "text", "kind": "text", "name": "text", "step": "integer", "timestamp": "time",
              "caption": "text?", "format": "text?", "width": "integer?", "height": "integer?", "size": "integer",
              "sha256": "text?", "data": "blob?"},
}

_KIND_SQL = {
    "text": "typeof({c}) = 'text'",
    "integer": "typeof({c}) = 'integer'",
    "real": "typeof({c}) = 'real'",
    "blob": "typeof({c}) = 'blob'",
    "number": "typeof({c}) IN ('integer', 'real')",
    "json": "typeof({c}) = 'text' AND json_valid({c}, 2)",  # 2: JSON5 text
    "object": "typeof({c}) = 'text' AND json_valid({c}, 2) AND json_type({c}) = 'object'",  # reads take it as a dict
    "time": f"typeof({{c}}) = 'integer' AND {{c}} BETWEEN {EARLIEST_US} AND {LATEST_US}",  # what a datetime holds
}
_KIND_SHOWN = {"text": "text", "integer": "an integer", "real": "a real", "blob": "bytes", "number": "a number",
               "json": "JSON text",
               "object": "a JSON object", "time": "integer microseconds since the epoch (years 1 to 9999)"}


def _sound_sql(column: str, kind: str) -> str:
    """SQL true when ``column`` holds what ``kind`` allows (both from ``ROW_TYPES``)."""
    test = _KIND_SQL[kind.rstrip("?")].format(c=f'"{column}"')  # quoted: key, source... are keywords
    return f'("{column}" IS NULL OR ({test}))' if kind.endswith("?") else f"({test})"


def row_type_problems(conn, *, db: str = "src", tables=None) -> list[str]:
    """Columns of ``db``'s tables (all of ``ROW_TYPES`` by default) holding a value of the
    wrong kind, one sentence each with the number of rows; one scan per table."""
    if db not in SCHEMAS:
        raise errors.ValidationError(f"db must be one of {SCHEMAS}, got {db!r}")
    problems = []
    for table in ROW_TYPES if tables is None else tables:
        columns = ROW_TYPES[table]  # a KeyError here is a caller's mistake in code
        sums = ", ".join(f"total(NOT {_sound_sql(c, kind)})" for c, kind in columns.items())
        bad = conn.execute(f'SELECT {sums} FROM {db}."{table}"').fetchone()  # names from ROW_TYPES only
        for (column, kind), rows in zip(columns.items(), bad):
            if rows:
                problems.append(f"{int(rows)} row(s) of its {table} table hold something other than "
                                f"{_KIND_SHOWN[kind.rstrip('?')]}{' or NULL' if kind.endswith('?') else ''}"
                                f" in {column}")
    return problems


# The JSON cells reads decode: (table, SQL naming a row in a problem, columns); code only.
_JSON_CELLS = (
    ("runs", "'run ' || id", ("metadata", "tags", "inputs", "outputs", "extra", "serialized", "system",
                              "ls_fields")),
    ("folders", "'folder ' || path", ("tags", "metadata")),
    ("events", "'event ' || seq || ' of run ' || run_id", ("kwargs",)),
    ("feedback", "'feedback ' || id", ("value", "correction", "source")),
    ("alerts", "'alert ' || id", ("definition",)),
    ("outbox", "'outbox message ' || id", ("payload",)),
    ("cookbooks", "'cookbook ' || id", ("definition",)),
    ("recipe_runs", "'recipe run ' || run_id", ("data",)),
)


def json_cell_problems(conn, db: str = "main") -> Iterator[str]:
    """The JSON cells of database ``db`` (``SCHEMAS``) reads would refuse: not text,
    undecodable, or nested deeper than ``MAX_STORED_DEPTH`` (see ``stored_json``). One scan
    per column picks the suspects in SQL (not valid JSON text, or long enough to hold that
    many opening brackets and holding them); only those are decoded here."""
    if db not in SCHEMAS:
        raise errors.ValidationError(f"db must be one of {SCHEMAS}, got {db!r}")
    for table, label, columns in _JSON_CELLS:
        for c in columns:  # identifiers from _JSON_CELLS only
            an_object = ROW_TYPES.get(table, {}).get(c, "").rstrip("?") == "object"  # reads take it for a dict
            suspect = (f"{c} IS NOT NULL AND (typeof({c}) != 'text' OR NOT json_valid({c}) OR "
                       f"(length({c}) > {2 * MAX_STORED_DEPTH} AND length({c}) - length(replace(replace({c}, '[', ''),"
                       f" '{{', '')) > {MAX_STORED_DEPTH})"
                       + (f" OR CASE WHEN json_valid({c}) THEN json_type({c}) != 'object' END" if an_object else "")
                       + ")")
            for where, value in conn.execute(f"SELECT {label}, {c} FROM {db}.{table} WHERE {suspect}"):
                what = f"the stored {c} of {where}"
                try:
                    decoded = stored_json(value, what)
                except errors.CorruptStoreError as exc:
                    yield str(exc)
                    continue
                if an_object and not isinstance(decoded, dict):
                    yield f"{what} is not a JSON object"


def text_problems(conn, db: str = "main") -> Iterator[str]:
    """Text cells of database ``db`` (``SCHEMAS``) no read could return: bytes that are not
    UTF-8 (SQLite keeps them as text; Python cannot decode them), and series names a read
    of a metric refuses (a read names the series). Every text cell of ``ROW_TYPES`` is
    decoded, one scan a table; the failing column is then found and named."""
    if db not in SCHEMAS:
        raise errors.ValidationError(f"db must be one of {SCHEMAS}, got {db!r}")
    undecodable = set()
    for table, columns in ROW_TYPES.items():  # identifiers from ROW_TYPES only
        texts = [f'"{c}"' for c, kind in columns.items() if kind.rstrip("?") in ("text", "json", "object")]
        if not _decodes(conn, f'SELECT {", ".join(texts)} FROM {db}."{table}"'):
            undecodable.add(table)
            # Each column read from the table itself (an index holding it may be sound), and the
            # table named alone if no single column fails (damage may fail only whole rows).
            bad = next((c for c in texts if not _decodes(conn, f'SELECT {c} FROM {db}."{table}" NOT INDEXED')), None)
            yield f"its {table} table holds text that is not UTF-8" + (f" in {bad}" if bad else "")
    if "series" in undecodable:
        return
    for run_id, name in conn.execute(f"SELECT run_id, name FROM {db}.series"):
        try:
            check_name(name, "metric name")
        except errors.ValidationError as exc:
            yield f"series {name!r:.80} of run {run_id!r:.60}: {exc}"
            return


def _decodes(conn, sql: str) -> bool:
    """Whether every text of the query's rows decodes as UTF-8 (decoding is fetching them)."""
    try:
        for _ in conn.execute(sql):
            pass
    except UnicodeDecodeError:
        return False
    return True
