"""Tables as runlite stores them: ``{"columns": [...], "rows": [[...], ...]}`` as strict JSON.

``log_table`` takes a list of dicts (columns in the order keys first appear, a missing key
None), a list of rows with ``columns``, or a pandas DataFrame (its columns as text; the index
is not kept: ``reset_index()`` first to keep it). A cell is None, a bool, an int (64-bit), a
float, a str or a date/time (kept as ISO-8601 text). NaN is a missing value and is stored as
null (pandas reads it back as NaN or None); an infinity is refused, as JSON has none.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from typing import Any

from .. import errors
from .._validation import INT64_MAX, INT64_MIN, check_name, check_text, shown

MAX_ROWS = 200_000  # as W&B
MAX_COLUMNS = 1_000
MAX_CELL_CHARS = 1 << 16  # characters of one text cell
MAX_TABLE_BYTES = 64 << 20  # the encoded JSON of one table

_PLAIN = (type(None), bool, str)


def _missing(value: Any) -> bool:
    """pandas' missing markers (``NA``, ``NaT``), which are no JSON value."""
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _cell(value: Any, row: int, column: str) -> Any:
    kind = type(value)
    if kind is float:
        if value != value:
            return None
        if math.isinf(value):
            raise errors.ValidationError(
                f"the table cell of row {row}, column {column!r} is {value}; JSON has no infinity: replace it "
                "(None, or a large number) or log it as a metric; nothing was logged")
        return value
    if kind is str:
        return check_text(value, f"the table cell of row {row}, column {column!r}", max_len=MAX_CELL_CHARS)
    if kind in _PLAIN:
        return value
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise errors.ValidationError(f"the table cell of row {row}, column {column!r} is an int beyond 64 bits")
        return value
    if _missing(value):
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and value.dtype.kind in "biuf":
        item = value.item()  # (a long double's item() is itself: taken as the float it rounds to)
        return _cell(float(item) if isinstance(item, np.generic) else item, row, column)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bool, int, float, str)):  # subclasses (IntEnum...) as their plain value
        return _cell((bool if isinstance(value, bool) else int if isinstance(value, int) else
                      float if isinstance(value, float) else str)(value), row, column)
    raise errors.ValidationError(
        f"the table cell of row {row}, column {column!r} is {type(value).__name__} {shown(value, 40)}; a cell is "
        "None, bool, int, float, str or a date/time; nothing was logged")


def _columns(columns: Any) -> list[str]:
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)):
        raise errors.ValidationError(
            f"columns must be a list of names, got {type(columns).__name__} {shown(columns, 40)}")
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise errors.LimitError(f"a table has 1 to {MAX_COLUMNS} columns, got {len(columns)}")
    names = [check_name(c, "a column name") for c in columns]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise errors.ValidationError(f"column names must be unique; repeated: {repeated[:5]}")
    return names


def _rows_limit(n: int) -> None:
    if n > MAX_ROWS:
        raise errors.LimitError(f"the table has {n:,} rows; at most {MAX_ROWS:,} are accepted")


def to_table(data: Any, columns: Any = None) -> tuple[list[str], list[list]]:
    """``(columns, rows)`` of what ``log_table`` accepts (see the module's docstring)."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        if columns is not None:
            raise errors.ValidationError("a DataFrame has its own columns: select them (df[[...]]) instead of columns=")
        names = _columns([str(c) for c in data.columns])
        _rows_limit(len(data))
        return names, [[_cell(v, r, c) for v, c in zip(row, names)]
                       for r, row in enumerate(data.itertuples(index=False, name=None))]
    if not isinstance(data, (list, tuple)):
        raise errors.ValidationError(f"a table is a list of dicts, a list of rows with columns=, or a pandas "
                                     f"DataFrame; got {type(data).__name__} {shown(data, 40)}")
    _rows_limit(len(data))
    if data and all(isinstance(row, dict) for row in data):
        given = columns is not None
        if not given:
            keys: dict = {}
            for row in data:
                keys.update(dict.fromkeys(row))
            columns = list(keys)
        names = _columns(columns)
        if given:
            allowed = set(names)
            for r, row in enumerate(data):
                extra = [k for k in row if k not in allowed]
                if extra:
                    raise errors.ValidationError(f"row {r} has keys that are not columns: {shown(extra, 60)}")
        return names, [[_cell(row.get(c), r, c) for c in names] for r, row in enumerate(data)]
    if columns is None:
        raise errors.ValidationError("a table given as a list of rows needs columns=[...] (or give a list of dicts)")
    names = _columns(columns)
    out = []
    for r, row in enumerate(data):
        if isinstance(row, (str, bytes, dict)) or not isinstance(row, (list, tuple)) or len(row) != len(names):
            raise errors.ValidationError(f"row {r} must be a list or tuple of {len(names)} cells (one per column), "
                                         f"got {shown(row, 60)}")
        out.append([_cell(v, r, c) for v, c in zip(row, names)])
    return names, out


def encode(columns: list[str], rows: list[list]) -> bytes:
    """The stored bytes: strict JSON (no NaN, no infinity), UTF-8."""
    data = json.dumps({"columns": columns, "rows": rows}, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_TABLE_BYTES:
        raise errors.LimitError(f"the table is {len(data):,} bytes as JSON; at most {MAX_TABLE_BYTES:,} are accepted")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def decode(data: Any, width: Any, height: Any) -> tuple[tuple, tuple]:
    """``(columns, rows)`` of stored bytes, checked against the row's column and row counts.

    Raises:
        CorruptStoreError: not the JSON ``encode`` writes, or another shape.
    """
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (AttributeError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise errors.CorruptStoreError(f"a stored table is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or set(doc) != {"columns", "rows"} or not isinstance(doc["columns"], list) \
            or not isinstance(doc["rows"], list):
        raise errors.CorruptStoreError("a stored table is not {\"columns\": [...], \"rows\": [...]}")
    columns, rows = doc["columns"], doc["rows"]
    if (len(columns), len(rows)) != (width, height) or not all(isinstance(c, str) for c in columns):
        raise errors.CorruptStoreError(f"a stored table holds {len(columns)} columns and {len(rows)} rows, its row "
                                       f"says {width!r:.20} and {height!r:.20}")
    for row in rows:
        if not isinstance(row, list) or len(row) != width or any(isinstance(v, (list, dict)) for v in row):
            raise errors.CorruptStoreError(f"a stored table has a row that is not {width} plain cells")
    return tuple(columns), tuple(map(tuple, rows))
