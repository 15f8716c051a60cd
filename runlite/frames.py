"""Data frames of runlite's reads: runs one row each, a series' points, and a run set's history
one row per (run, x). Pure: the store reads, this shapes (docs/FRAMES.md).

pandas (the ``pandas`` extra) is imported when a frame is made. Times are ``datetime64[us, UTC]``
(runlite keeps microseconds, and any year fits). Frames are bounded: at most
``MAX_FRAME_CELLS`` cells (rows x columns), refused with ``LimitError`` before they are built.
"""

from __future__ import annotations

from typing import Any, Callable

from ._validation import check_name, shown
from .errors import CorruptStoreError, LimitError, MissingExtraError, ValidationError

# Cells a frame may hold (16,777,216: 128 MiB of float64). Wider or longer frames are asked for
# in parts: fewer runs, ``metadata=[keys]``, ``metrics=[names]``, ``max_points``.
MAX_FRAME_CELLS = 1 << 24

# Columns of the views of ``RunList.to_pandas``, in order; ``metadata.<key>`` and the
# ``metric.<name>.<stat>`` summaries follow them.
EXPERIMENT_COLUMNS = ("id", "name", "status", "folder", "created", "started", "ended", "duration", "tags",
                      "description")
LANGSMITH_COLUMNS = ("id", "name", "run_type", "status", "start_time", "end_time", "latency", "first_token_time",
                     "prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost",
                     "total_cost", "error", "inputs", "outputs", "tags", "trace_id", "parent_run_id", "session_name")
_REST = ("kind", "dotted_order", "session_id", "reference_example_id", "modified", "host", "pid", "heartbeat",
         "heartbeat_timeout", "extra", "serialized", "system")
VIEWS = {
    "experiment": EXPERIMENT_COLUMNS,
    "langsmith": LANGSMITH_COLUMNS,
    "all": EXPERIMENT_COLUMNS + tuple(c for c in LANGSMITH_COLUMNS if c not in EXPERIMENT_COLUMNS) + _REST,
}
SUMMARY_STATS = ("last", "min", "max")  # the metric columns of a runs frame: metric.<name>.<stat>
_TIMES = {"created", "started", "ended", "start_time", "end_time", "first_token_time", "modified", "heartbeat"}
_INTS = {"prompt_tokens", "completion_tokens", "total_tokens", "pid"}
_FLOATS = {"duration", "latency", "prompt_cost", "completion_cost", "total_cost", "heartbeat_timeout"}
_NUMBERS = frozenset((float, int, type(None)))


def pandas(what: str):
    """The pandas module, or ``MissingExtraError`` saying ``what`` needs the ``pandas`` extra."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise MissingExtraError(f"{what} needs pandas: pip install 'runlite[pandas]'") from exc
    return pd


def utc_times(pd, values: list) -> Any:
    """datetimes (None for none) as a ``datetime64[us, UTC]`` column."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.as_unit("us")


def flatten(doc: dict, prefix: str = "") -> dict:
    """The leaves of nested dicts as ``{prefix + dotted path: value}`` (an empty dict is a leaf).

    Where two paths make one name (``{"a.b": 1, "a": {"b": 2}}``) the first in key order wins.
    Walked with an explicit stack: stored metadata may be nested 128 levels deep.
    """
    out: dict = {}
    stack = [(prefix, iter(doc.items()))]
    while stack:
        base, items = stack[-1]
        for key, value in items:
            if isinstance(value, dict) and value:
                stack.append((f"{base}{key}.", iter(value.items())))
                break
            out.setdefault(f"{base}{key}", value)
        else:
            stack.pop()
    return out


def _cells(rows: int, columns: int, hint: str) -> None:
    if rows * columns > MAX_FRAME_CELLS:
        raise LimitError(f"this frame would hold {rows:,} rows x {columns:,} columns, more than the "
                         f"{MAX_FRAME_CELLS:,} cells a frame may; {hint}")


def _names(value: Any, what: str) -> list[str] | None:
    """None, or a list of names (one str taken as a list of one)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValidationError(f"{what} must be True, False or a list of names, got {shown(value)}")
    return list(dict.fromkeys(check_name(n, what) for n in items))


def _choice(value: Any, what: str) -> Any:
    """``True`` / ``False`` / a list of names, as None (all) / [] (none) / the list."""
    if value is True:
        return None
    if value is False:
        return []
    return _names(value, what)


# ---------------------------------------------------------------- runs


def _column(pd, name: str, records: list, status_words: dict) -> Any:
    """One fixed column of a runs frame."""
    if name == "duration":
        values = [_seconds(r.started or r.created, r.ended) for r in records]
    elif name == "latency":
        values = [r.latency for r in records]
    elif name == "status" and status_words is not None:
        values = [status_words.get(r.status, r.status) for r in records]
    elif name == "tags":
        return pd.Series([list(r.tags) for r in records], dtype=object)
    else:
        values = [getattr(r, name) for r in records]
    if name in _TIMES:
        return utc_times(pd, values)
    if name in _INTS:
        return pd.array(values, dtype="Int64")
    if name in _FLOATS:
        return pd.Series(values, dtype="float64")
    return pd.Series(values, dtype=object) if not values or name in ("inputs", "outputs", "extra", "serialized",
                                                                        "system") else pd.Series(values)


def _seconds(start, end) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def runs_frame(records: list, columns: str = "experiment", *, metrics: Any = None, metadata: Any = True,
               summaries: Callable | None = None, status_words: dict | None = None) -> Any:
    """``RunList.to_pandas``: one row per record (see there). ``summaries(run_ids)`` gives
    ``(run_id, name, last, min, max)`` rows of the runs' metric series; ``status_words`` maps
    runlite's statuses to LangSmith's words for the ``langsmith`` view."""
    if not isinstance(columns, str) or columns not in VIEWS:
        raise ValidationError(f"columns must be one of {', '.join(map(repr, VIEWS))}, got {shown(columns)}")
    if metrics is None:  # the view's default: summaries when the list has them
        metrics = columns != "langsmith" and summaries is not None
    wanted_metrics = _choice(metrics, "metrics")
    wanted_keys = _choice(metadata, "metadata")
    if summaries is None and wanted_metrics != []:
        raise ValidationError("this RunList was not read from a store, so it has no metric summaries; "
                              "pass metrics=False (lists from store.runs, list_runs and get_runs have them)")
    pd = pandas("RunList.to_pandas()")
    n = len(records)
    fixed = VIEWS[columns]
    hint = "pass metadata=[keys] or metrics=[names] to take fewer columns, or list fewer runs"
    _cells(n, len(fixed), hint)
    parts = [pd.DataFrame({name: _column(pd, name, records, status_words if columns == "langsmith" else None)
                           for name in fixed}, index=pd.RangeIndex(n))]
    parts.append(_metadata_columns(pd, records, wanted_keys, len(fixed), hint))
    if wanted_metrics != []:
        taken = len(fixed) + len(parts[-1].columns)
        parts.append(pd.DataFrame(_metric_columns(records, summaries, wanted_metrics, taken, hint),
                                  index=pd.RangeIndex(n)))
    return pd.concat(parts, axis=1)


def _metadata_columns(pd, records: list, keys: list[str] | None, taken: int, hint: str) -> Any:
    """``metadata.<key>`` columns, nested dicts flattened with dots (``keys``: those only, or all),
    NaN where a run has no such key."""
    if keys == []:
        return pd.DataFrame(index=pd.RangeIndex(len(records)))
    flat = [flatten(r.metadata, "metadata.") for r in records]
    if keys is None:
        names: dict = {}
        for one in flat:  # first-seen order; the frame's size checked as the union grows
            for key in one:
                if key not in names:
                    names[key] = None
                    _cells(len(records), taken + len(names), hint)
    else:
        names = dict.fromkeys(f"metadata.{k}" for k in keys)
        _cells(len(records), taken + len(names), hint)
    # One frame of the dicts: pandas fills the missing keys and infers each column at once.
    return pd.DataFrame(flat, columns=list(names), index=pd.RangeIndex(len(records)))


def _metric_columns(records: list, summaries: Callable, names: list[str] | None, taken: int, hint: str) -> dict:
    """``metric.<name>.last/min/max`` from the stored summaries (NaN where a run lacks the metric)."""
    import numpy as np  # pandas needs it

    ids = [r.id for r in records]
    rows = summaries(ids)
    if names is not None:
        keep = set(names)
        rows = [row for row in rows if row[1] in keep]
    found = sorted({row[1] for row in rows}) if names is None else names
    _cells(len(ids), taken + len(SUMMARY_STATS) * len(found), hint)
    out = {}
    if not rows:
        return {f"metric.{name}.{stat}": np.full(len(ids), np.nan) for name in found for stat in SUMMARY_STATS}
    run_ids, metric_names, *stats = zip(*rows)
    for values in stats:  # SQLite cells keep any type: only a damaged file holds another
        if not _NUMBERS.issuperset(map(type, values)):
            bad = next(v for v in values if type(v) not in _NUMBERS)
            raise CorruptStoreError(f"a stored metric summary holds {shown(bad, 40)}, which is not a number")
    unique = list(dict.fromkeys(ids))  # a run listed twice gets its summaries twice
    row = {run_id: i for i, run_id in enumerate(unique)}
    column = {name: j for j, name in enumerate(found)}
    rows_at = np.fromiter(map(row.__getitem__, run_ids), np.int64, len(run_ids))
    cols_at = np.fromiter(map(column.__getitem__, metric_names), np.int64, len(metric_names))
    take = None if len(unique) == len(ids) else np.fromiter(map(row.__getitem__, ids), np.int64, len(ids))
    for stat, values in zip(SUMMARY_STATS, stats):
        grid = np.full((len(unique), len(found)), np.nan, order="F")  # columns contiguous
        grid[rows_at, cols_at] = np.array(values, dtype=np.float64)  # None (a NaN kept as NULL) -> NaN
        if take is not None:
            grid = grid[take]
        out.update((f"metric.{name}.{stat}", grid[:, j]) for name, j in column.items())
    order = [f"metric.{name}.{stat}" for name in found for stat in SUMMARY_STATS]
    return {key: out[key] for key in order}


# ---------------------------------------------------------------- series and histories


def series_frame(series) -> Any:
    """``Series.to_pandas``: step, time, timestamp (UTC), value, then run, run_name, metric (and
    asset when the series has one) repeated on every row."""
    import numpy as np

    pd = pandas("Series.to_pandas()")
    n = len(series.values)
    data = {
        "step": np.frombuffer(series.steps, dtype=np.int64),
        "time": np.frombuffer(series.times, dtype=np.float64),
        "timestamp": _stamps(pd, np.frombuffer(series.timestamps, dtype=np.int64)),
        "value": np.frombuffer(series.values, dtype=np.float64),
        "run": np.full(n, series.run_id, dtype=object),
        "run_name": np.full(n, series.run_name, dtype=object),
        "metric": np.full(n, series.name, dtype=object),
    }
    if series.asset is not None:
        data["asset"] = np.full(n, series.asset, dtype=object)
    return pd.DataFrame(data)


def _stamps(pd, us) -> Any:
    """int64 microseconds since the epoch as a ``datetime64[us, UTC]`` column."""
    return pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC")


# The x column of each axis of a history, and the Series field it comes from.
_AXIS_FIELDS = {"step": "steps", "time": "times", "timestamp": "timestamps"}


def history_columns(names: list[str], xaxis: str) -> dict[str, str]:
    """``{metric: its column}``: the metric's name, but for a metric named like a fixed column
    (``run``, ``run_name``, the axis) ``metric.`` before it, repeated while that name is taken."""
    fixed = {"run", "run_name", xaxis}
    taken = fixed | set(names)
    out = {}
    for name in names:
        column = name
        if name in fixed:
            while column in taken:
                column = f"metric.{column}"
            taken.add(column)
        out[name] = column
    return out


def history_frame(parts: list[tuple[str, str, dict]], names: list[str], xaxis: str) -> Any:
    """``Store.history``: ``parts`` are ``(run id, run name, {metric: Series})``, runs in row
    order; one row per (run, x) where any metric has a point, the last point logged at that x
    of each metric (NaN where a metric has none); columns run, run_name, the axis, then one per
    metric of ``names``."""
    import numpy as np

    pd = pandas("Store.history()")
    field = _AXIS_FIELDS[xaxis]
    dtype = np.float64 if xaxis == "time" else np.int64
    columns = history_columns(names, xaxis)
    hint = "pass max_points, fewer names or fewer runs"
    axes, total = [], 0
    for _, _, found in parts:  # each run's x values first: the frame's size is known before it is made
        xs = [np.frombuffer(getattr(found[name], field), dtype=dtype) for name in names if name in found]
        axis = np.unique(np.concatenate(xs)) if xs else np.empty(0, dtype=dtype)
        total += len(axis)
        _cells(total, len(names) + 3, hint)
        axes.append(axis)
    grid = np.full((total, len(names)), np.nan, order="F")
    at = 0
    for (_, _, found), axis in zip(parts, axes):
        for j, name in enumerate(names):
            series = found.get(name)
            if series is None or not len(series):
                continue
            x = np.frombuffer(getattr(series, field), dtype=dtype)[::-1]
            values = np.frombuffer(series.values, dtype=np.float64)[::-1]
            kept, last = np.unique(x, return_index=True)  # of the reversed points: the last logged
            grid[at + np.searchsorted(axis, kept), j] = values[last]
        at += len(axis)
    counts = [len(axis) for axis in axes]
    data = {
        "run": np.repeat(np.array([p[0] for p in parts], dtype=object), counts),
        "run_name": np.repeat(np.array([p[1] for p in parts], dtype=object), counts),
        xaxis: np.concatenate(axes) if axes else np.empty(0, dtype=dtype),
    }
    if xaxis == "timestamp":
        data[xaxis] = _stamps(pd, data[xaxis])
    data.update((columns[name], grid[:, j]) for j, name in enumerate(names))
    return pd.DataFrame(data)
