"""Export runs, metric points, events and alerts as Parquet datasets (needs pyarrow).

Layout under ``dest``::

    runs/part-0.parquet                  one row per run
    metrics/run_id=<id>/part-0.parquet   Hive-partitioned by run: one file per run with points
    events/run_id=<id>/part-0.parquet    Hive-partitioned by run: one file per run with events
    alerts/part-0.parquet                one row per (run, alert)

Times are ``timestamp[us, UTC]``; JSON documents (metadata, kwargs, definitions) are JSON
strings. Metric values are float64 with NaN, infinities and -0.0 kept exactly. Memory stays
bounded by one metric series (or one page of events) at a time.
"""

from __future__ import annotations

import json
import os
import shutil
from array import array
from typing import Any

from .errors import ValidationError
from ._ids import is_uuid

DATASETS = ("runs", "metrics", "events", "alerts")
_EVENT_PAGE = 50_000  # events read and written per row group


def _pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or an ImportError saying what to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("export_parquet needs pyarrow: pip install 'runlite[parquet]'") from exc
    return pa, pq


def _schemas(pa) -> dict:
    """The Arrow schema of each dataset (``run_id`` of metrics/events is the partition key)."""
    ts = pa.timestamp("us", tz="UTC")
    return {
        "runs": pa.schema([
            ("id", pa.string()), ("name", pa.string()), ("status", pa.string()), ("kind", pa.string()),
            ("run_type", pa.string()), ("folder", pa.string()), ("description", pa.string()),
            ("tags", pa.list_(pa.string())), ("metadata", pa.string()), ("parent_run_id", pa.string()),
            ("trace_id", pa.string()), ("dotted_order", pa.string()), ("start_time", ts), ("end_time", ts),
            ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("total_tokens", pa.int64()),
            ("prompt_cost", pa.float64()), ("completion_cost", pa.float64()), ("total_cost", pa.float64()),
            ("error", pa.string()),
        ]),
        "metrics": pa.schema([
            ("name", pa.string()), ("asset", pa.string()), ("step", pa.int64()), ("time", pa.float64()),
            ("timestamp", ts), ("value", pa.float64()),
        ]),
        "events": pa.schema([
            ("seq", pa.int64()), ("time", ts), ("level", pa.string()), ("name", pa.string()),
            ("message", pa.string()), ("kwargs", pa.string()),
        ]),
        "alerts": pa.schema([
            ("run_id", pa.string()), ("alert_id", pa.string()), ("name", pa.string()), ("source", pa.string()),
            ("state", pa.string()), ("changed", ts), ("definition", pa.string()),
        ]),
    }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _prepare(dest: str | os.PathLike, overwrite: bool) -> str:
    """Check ``dest`` and make it ready: refuse a non-empty directory unless ``overwrite``."""
    path = os.fspath(dest)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValidationError(f"dest must be a directory, got the file {path!r}")
    if os.path.isdir(path) and os.listdir(path):
        if not overwrite:
            raise ValidationError(f"dest {path!r} exists and is not empty; pass overwrite=True to replace it")
        for name in DATASETS:  # only what an export writes: other files in dest are left alone
            sub = os.path.join(path, name)
            if os.path.isdir(sub) and not os.path.islink(sub):
                shutil.rmtree(sub)
            elif os.path.lexists(sub):
                os.remove(sub)
    for name in DATASETS:
        os.makedirs(os.path.join(path, name), exist_ok=True)
    return path


def _select_runs(store, run_ids) -> list:
    """The records to export, every id checked to be a UUID (it becomes a directory name)."""
    if run_ids is None:
        records = store.runs()
    else:
        if isinstance(run_ids, (str, bytes)):
            raise ValidationError(f"run_ids must be a list of run ids, got {run_ids!r}")
        records, seen = [], set()
        for run_id in run_ids:
            record = store.get_run(run_id)
            if record.id not in seen:
                seen.add(record.id)
                records.append(record)
    for record in records:
        if not is_uuid(record.id):
            raise ValidationError(f"run id {record.id!r} is not a UUID; refusing to use it in a path")
    return records


def _column(pa, data, typecode: str, arrow_type):
    """An Arrow array over an ``array``-like column without copying when it is already packed."""
    if not (isinstance(data, array) and data.typecode == typecode):
        data = array(typecode, data)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def _run_row(record) -> dict:
    return {
        "id": record.id, "name": record.name, "status": record.status, "kind": record.kind,
        "run_type": record.run_type, "folder": record.folder, "description": record.description,
        "tags": list(record.tags), "metadata": _json(record.metadata), "parent_run_id": record.parent_run_id,
        "trace_id": record.trace_id, "dotted_order": record.dotted_order,
        "start_time": record.start_time, "end_time": record.end_time,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "total_tokens": record.total_tokens, "prompt_cost": record.prompt_cost,
        "completion_cost": record.completion_cost, "total_cost": record.total_cost, "error": record.error,
    }


def _write_metrics(pa, pq, store, run_id: str, path: str, schema) -> int:
    """One run's points into one file, one row group per piece of a series (bounded memory); the rows."""
    writer, total = None, 0
    try:
        for name, asset, _count in store.metric_series(run_id):
            for s in store.iter_metric_values(run_id, name, asset=asset):  # bounded memory per piece
                n = len(s)
                if n == 0:
                    continue
                table = pa.Table.from_arrays([
                    pa.repeat(pa.scalar(name, pa.string()), n),
                    pa.repeat(pa.scalar(asset, pa.string()), n),
                    _column(pa, s.steps, "q", pa.int64()),
                    _column(pa, s.times, "d", pa.float64()),
                    _column(pa, s.timestamps, "q", schema.field("timestamp").type),
                    _column(pa, s.values, "d", pa.float64()),
                ], schema=schema)
                if writer is None:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    writer = pq.ParquetWriter(path, schema)
                writer.write_table(table)
                total += n
    finally:
        if writer is not None:
            writer.close()
    return total


def _write_events(pa, pq, store, run_id: str, path: str, schema) -> int:
    """One run's events into one file, a page of events per row group; the number of rows."""
    writer, total = None, 0
    try:
        while True:
            page = store.events(run_id, limit=_EVENT_PAGE, offset=total)
            if not page:
                break
            table = pa.Table.from_pylist([
                {"seq": e.seq, "time": e.time, "level": e.level, "name": e.name, "message": e.message,
                 "kwargs": _json(e.kwargs)} for e in page], schema=schema)
            if writer is None:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
            total += len(page)
            if len(page) < _EVENT_PAGE:
                break
    finally:
        if writer is not None:
            writer.close()
    return total


def export_parquet(store, dest: str | os.PathLike, *, run_ids=None, overwrite: bool = False,
                   progress=None) -> dict:
    """Write runs, metric points, events and alerts as Parquet datasets under ``dest``.

    Args:
        store: an open ``Store``.
        dest: a directory; created if missing. Read back with e.g. DuckDB's
            ``read_parquet('dest/metrics/*/*.parquet', hive_partitioning=true)``.
        run_ids: only these runs (ids or unique names); default every run.
        overwrite: replace the ``runs``, ``metrics``, ``events`` and ``alerts`` directories
            of a non-empty ``dest`` (other files there are left alone).

    Returns:
        ``{"runs": n, "metrics": n, "events": n, "alerts": n}``: rows written per dataset.
        Runs without points (or events) get no metrics (or events) file.

    Raises:
        ValidationError: ``dest`` is a file or a non-empty directory without ``overwrite``,
            or a run id is not a UUID.
        NotFoundError: a run in ``run_ids`` does not exist.
        ImportError: pyarrow is not installed.
    """
    pa, pq = _pyarrow()
    records = _select_runs(store, run_ids)  # before touching dest: a refused call writes nothing
    wanted = {r.id for r in records}
    alerts = [a for a in store.alerts() if a.run_id in wanted]
    root = _prepare(dest, bool(overwrite))
    schemas = _schemas(pa)
    counts = dict.fromkeys(DATASETS, 0)

    runs_table = pa.Table.from_pylist([_run_row(r) for r in records], schema=schemas["runs"])
    pq.write_table(runs_table, os.path.join(root, "runs", "part-0.parquet"))
    counts["runs"] = runs_table.num_rows

    for done, record in enumerate(records, start=1):
        if progress is not None:
            progress(done, len(records))
        part = f"run_id={record.id}"
        counts["metrics"] += _write_metrics(pa, pq, store, record.id,
                                            os.path.join(root, "metrics", part, "part-0.parquet"), schemas["metrics"])
        counts["events"] += _write_events(pa, pq, store, record.id,
                                          os.path.join(root, "events", part, "part-0.parquet"), schemas["events"])

    alerts_table = pa.Table.from_pylist([
        {"run_id": a.run_id, "alert_id": a.alert_id, "name": a.name, "source": a.source, "state": a.state,
         "changed": a.changed, "definition": _json(a.definition)} for a in alerts], schema=schemas["alerts"])
    pq.write_table(alerts_table, os.path.join(root, "alerts", "part-0.parquet"))
    counts["alerts"] = alerts_table.num_rows
    return counts


__all__ = ["export_parquet"]
