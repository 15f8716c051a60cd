"""``simvue.converters``' shapes from runlite reads: the runs dataframe, metric tables (per run
and aggregated) and the safe reading of saved objects. pandas and numpy are imported when used
(pandas through ``frames.pandas``: a missing extra is a ``MissingExtraError``)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

AGGREGATES = ("average", "min", "max")  # the value types of an aggregated metric, per x


def _pandas(what: str):
    from ..frames import pandas  # the one import of pandas with runlite's error when it is missing

    return pandas(what)


def _flat(doc: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        out[prefix + key] = value
    return out


def runs_dataframe(runs: list[dict]) -> Any:
    """``simvue.converters.to_dataframe``'s frame: name, status, folder, created, started,
    ended, then ``metadata.<key>`` and ``system.<key>[.<sub>]`` columns in first-seen order."""
    pd = _pandas("Client.get_runs(output_format='dataframe')")
    metadata: list[str] = []
    system: list[str] = []
    for run in runs:
        metadata += [k for k in run.get("metadata") or {} if k not in metadata]
        for key, value in (run.get("system") or {}).items():
            names = [f"system.{key}.{sub}" for sub in value] if isinstance(value, dict) else [f"system.{key}"]
            system += [n for n in names if n not in system]
    columns = ["name", "status", "folder", "created", "started", "ended"] + [f"metadata.{k}" for k in metadata] + system
    rows = [_flat({**run, "ended": run.get("endtime")}) for run in runs]
    return pd.DataFrame(data={c: [row.get(c) for row in rows] for c in columns})


def metrics_table(data: dict[str, dict[str, list[dict]]], xaxis: str, labels: list[str], parse_to: str) -> Any:
    """``simvue.converters.parse_run_set_metrics``: ``{metric: {(x, run_label): value}}`` over
    every x of every run (None where a run has no point), or that as a dataframe indexed by
    ``(xaxis, "run")``. Points are matched by their x (Simvue's own loop misaligns runs whose
    x values differ)."""
    xs = sorted({p[xaxis] for run in data.values() for points in run.values() for p in points})
    names = sorted({name for run in data.values() for name in run})
    table: dict = {name: {} for name in names}
    for label, run in zip(labels, data.values()):
        for name in names:
            by_x = {p[xaxis]: p["value"] for p in run.get(name, ())}
            for x in xs:
                table[name][x, label] = by_x.get(x)
    if parse_to != "dataframe":
        return table
    pd = _pandas("Client.get_metric_values(output_format='dataframe')")
    return pd.DataFrame(table, index=pd.MultiIndex.from_product([xs, labels], names=(xaxis, "run")))


def aggregated_table(data: dict[str, dict[str, list[dict]]], xaxis: str, parse_to: str) -> Any:
    """``simvue.converters.aggregated_metrics_to_dataframe``: ``{metric: {(x, stat): value}}``
    with stat in ``AGGREGATES`` over the runs' points at each x (NaN points left out), or that
    as a dataframe whose index is named ``xaxis``."""
    values: dict[str, dict[Any, list[float]]] = {}
    for run in data.values():
        for name, points in run.items():
            for p in points:
                values.setdefault(name, {}).setdefault(p[xaxis], []).append(p["value"])
    xs = sorted({x for by_x in values.values() for x in by_x})
    table: dict = {name: {} for name in values}
    for name, by_x in values.items():
        for x in xs:
            found = [v for v in by_x.get(x, ()) if not math.isnan(v)]
            stats = (sum(found) / len(found), min(found), max(found)) if found else (None,) * 3
            for stat, value in zip(AGGREGATES, stats if x in by_x else (None,) * 3):
                table[name][x, stat] = value
    if parse_to != "dataframe":
        return table
    pd = _pandas("Client.get_metric_values(output_format='dataframe')")
    frame = pd.DataFrame(table)
    frame.index.name = xaxis
    return frame


def deserialize(content: bytes, mime_type: str) -> Any:
    """Simvue's ``deserialize_data`` without pickle (and torch, which unpickles): None when the
    content has no safe reading, so the caller returns the bytes."""
    if mime_type in ("application/json", "application/vnd.plotly.v1+json"):
        value = json.loads(content)
        if mime_type.startswith("application/vnd.plotly"):
            try:
                import plotly.io
                return plotly.io.from_json(json.dumps(value))
            except ImportError:
                return value
        return value
    if mime_type == "application/vnd.simvue.numpy.v1":
        import numpy as np
        return np.load(io.BytesIO(content), allow_pickle=False)
    if mime_type == "application/vnd.simvue.df.v1":
        return _pandas("reading a saved DataFrame").read_csv(io.BytesIO(content), index_col=0)
    return None
