"""The Arrow schema of every dataset and the rows runlite's records become (docs/PARQUET.md).

``SCHEMA_VERSION`` names this layout in the manifest: an incremental export only adds to a
dataset written with the same version (another one has to be replaced with ``overwrite``).
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_VERSION = 2  # 2: the media dataset, and media in the manifest's run versions
# The per-run datasets (one file per run, Hive-partitioned by run_id) and the catalogs (one
# file each, one row per run or per (run, series) / (run, alert), rewritten by each export).
CATALOGS = ("runs", "series", "alerts")
DATASETS = ("runs", "series", "metrics", "events", "alerts", "media")
CATALOG_KEY = {"runs": "id", "series": "run_id", "alerts": "run_id"}  # the column naming the run


def schemas(pa) -> dict:
    """The Arrow schema of each dataset (``run_id`` of metrics/events/media is the partition key)."""
    ts = pa.timestamp("us", tz="UTC")
    return {
        "runs": pa.schema([
            ("id", pa.string()), ("name", pa.string()), ("status", pa.string()), ("kind", pa.string()),
            ("run_type", pa.string()), ("folder", pa.string()), ("description", pa.string()),
            ("tags", pa.list_(pa.string())), ("metadata", pa.string()), ("parent_run_id", pa.string()),
            ("trace_id", pa.string()), ("dotted_order", pa.string()), ("start_time", ts), ("end_time", ts),
            ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("total_tokens", pa.int64()),
            ("prompt_cost", pa.float64()), ("completion_cost", pa.float64()), ("total_cost", pa.float64()),
            ("error", pa.string()), ("created", ts), ("modified", ts), ("session_id", pa.string()),
            ("session_name", pa.string()), ("host", pa.string()), ("inputs", pa.string()),
            ("outputs", pa.string()),
        ]),
        "series": pa.schema([
            ("run_id", pa.string()), ("name", pa.string()), ("asset", pa.string()), ("count", pa.int64()),
            ("nan_count", pa.int64()), ("min", pa.float64()), ("max", pa.float64()), ("avg", pa.float64()),
            ("var_pop", pa.float64()), ("first", pa.float64()), ("last", pa.float64()),
            ("first_step", pa.int64()), ("last_step", pa.int64()), ("min_step", pa.int64()),
            ("max_step", pa.int64()),
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
        "media": pa.schema([
            ("kind", pa.string()), ("name", pa.string()), ("step", pa.int64()), ("timestamp", ts),
            ("caption", pa.string()), ("format", pa.string()), ("width", pa.int64()), ("height", pa.int64()),
            ("size", pa.int64()), ("sha256", pa.string()), ("data", pa.binary()),
            ("edges", pa.list_(pa.float64())), ("counts", pa.list_(pa.int64())), ("nan_count", pa.int64()),
            ("posinf_count", pa.int64()), ("neginf_count", pa.int64()),
            ("columns", pa.list_(pa.string())), ("rows", pa.string()),
        ]),
    }


def as_json(value: Any) -> str | None:
    """A JSON document as text (keys sorted, so equal documents are equal strings)."""
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def run_row(record) -> dict:
    """One row of ``runs``."""
    return {
        "id": record.id, "name": record.name, "status": record.status, "kind": record.kind,
        "run_type": record.run_type, "folder": record.folder, "description": record.description,
        "tags": list(record.tags), "metadata": as_json(record.metadata), "parent_run_id": record.parent_run_id,
        "trace_id": record.trace_id, "dotted_order": record.dotted_order,
        "start_time": record.start_time, "end_time": record.end_time,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "total_tokens": record.total_tokens, "prompt_cost": record.prompt_cost,
        "completion_cost": record.completion_cost, "total_cost": record.total_cost, "error": record.error,
        "created": record.created, "modified": record.modified, "session_id": record.session_id,
        "session_name": record.session_name, "host": record.host, "inputs": as_json(record.inputs),
        "outputs": as_json(record.outputs),
    }


def series_row(run_id: str, name: str, asset: str | None, stats) -> dict:
    """One row of ``series``: a metric series' summary (``Stats``) as the store keeps it."""
    return {"run_id": run_id, "name": name, "asset": asset, **stats.to_dict()}


def alert_row(alert) -> dict:
    """One row of ``alerts``: an alert attached to a run, with its current state."""
    return {"run_id": alert.run_id, "alert_id": alert.alert_id, "name": alert.name, "source": alert.source,
            "state": alert.state, "changed": alert.changed, "definition": as_json(alert.definition)}


_MEDIA_EMPTY = dict.fromkeys(("caption", "format", "width", "height", "size", "sha256", "data", "edges", "counts",
                              "nan_count", "posinf_count", "neginf_count", "columns", "rows"))


def image_row(image) -> dict:
    """One row of ``media``: an image (``Image`` read with its bytes)."""
    return {**_MEDIA_EMPTY, "kind": "image", "name": image.name, "step": image.step, "timestamp": image.timestamp,
            "caption": image.caption, "format": image.format, "width": image.width, "height": image.height,
            "size": image.size, "sha256": image.sha256, "data": image.data}


def histogram_row(histogram) -> dict:
    """One row of ``media``: a histogram, its edges and counts as lists."""
    return {**_MEDIA_EMPTY, "kind": "histogram", "name": histogram.name, "step": histogram.step,
            "timestamp": histogram.timestamp, "width": histogram.bins,
            "edges": list(histogram.edges), "counts": list(histogram.counts), "nan_count": histogram.nan_count,
            "posinf_count": histogram.posinf_count, "neginf_count": histogram.neginf_count}


def table_row(table) -> dict:
    """One row of ``media``: a table, its rows as JSON text (an array of arrays)."""
    rows = json.dumps([list(row) for row in table.rows], ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return {**_MEDIA_EMPTY, "kind": "table", "name": table.name, "step": table.step, "timestamp": table.timestamp,
            "format": "json", "width": len(table.columns), "height": len(table.rows), "sha256": table.sha256,
            "columns": list(table.columns), "rows": rows}
