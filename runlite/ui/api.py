"""What the chart script reads: chart data as JSON, and the static files it runs on.

``chart_data`` gives one chart's runs as buckets (``Store.metric_buckets``): each bucket's
mean (the line), min and max (the band) and count, so the work and the answer are bounded by
the chart's pixel columns, never by the points. ``inline_json`` puts such data in a page (a
``<script type="application/json">`` block, never executed). ``static_file`` serves the
shipped files: uPlot (MIT, version in ``UPLOT_VERSION``) and runlite's own chart script.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import math
from typing import Any

from .. import errors
from .._validation import shown

UPLOT_VERSION = "1.6.32"  # from the npm registry: `npm pack uplot@1.6.32`, dist/ files unchanged
STATIC_TYPES = {
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "trace.js": "text/javascript; charset=utf-8",
    "media.js": "text/javascript; charset=utf-8",
    "compare.js": "text/javascript; charset=utf-8",
    "run_table.js": "text/javascript; charset=utf-8",
}
SCRIPTS = ("uPlot.iife.min.js", "charts.js")  # what a page with charts loads, in this order
XAXES = ("step", "time", "timestamp")


@functools.lru_cache(maxsize=None)
def static_file(name: str) -> bytes:
    """A shipped static file's bytes (NotFoundError for any other name)."""
    if name not in STATIC_TYPES:
        raise errors.NotFoundError(f"no static file {shown(name, 60)}")
    return importlib.resources.files(__package__).joinpath("static", name).read_bytes()


def script_hash(name: str) -> str:
    """The CSP source (``'sha256-...'``) of a static script inlined into a page."""
    digest = hashlib.sha256(static_file(name)).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _number(v: Any, digits: int | None = None) -> float | int | None:
    """JSON has no NaN or infinity: those become null (a gap; the table beside says NaN).
    ``digits``: significant digits kept (a float's 17 cost a file report many bytes)."""
    if v is None or type(v) is int:
        return v
    if not math.isfinite(v):
        return None
    return v if digits is None else float(f"{v:.{digits}g}")


def _numbers(values: list, digits: int | None = None) -> list:
    """`_number` of each value: the list itself when all are finite and kept exact (nearly
    every chart: one C-level pass instead of a call a value)."""
    if digits is None and None not in values and all(map(math.isfinite, values)):
        return values
    return [_number(v, digits) for v in values]


def chart_data(store: Any, records: list, metric: str, *, asset: str | None = None, xaxis: str = "step",
               start: Any = None, stop: Any = None, buckets: int = 400, labels: dict | None = None,
               digits: int | None = None) -> dict:
    """One chart's data: ``{"metric", "asset", "xaxis", "start", "stop", "runs": [{"id", "name",
    "color", "x", "mean", "min", "max", "count"}]}``; ``color`` is the run's place in
    ``records`` (so colours stay put as runs come and go); runs without the series are left
    out; ``digits`` rounds the values (and x) to that many significant digits (None: exact).
    NotFoundError when none has it."""
    if xaxis not in XAXES:
        raise errors.ValidationError(f"xaxis must be one of {', '.join(XAXES)}, got {shown(xaxis)}")
    runs = []
    for index, rec in enumerate(records):
        try:
            got = store.metric_buckets(rec.id, metric, buckets=buckets, xaxis=xaxis, start=start, stop=stop,
                                       asset=asset)
        except errors.NotFoundError:
            continue
        runs.append({"id": rec.id, "name": (labels or {}).get(rec.id, rec.name), "color": index,
                     "x": _numbers(got.x, digits and 12), "mean": _numbers(got.mean, digits),
                     "min": _numbers(got.min, digits), "max": _numbers(got.max, digits), "count": got.count})
    if not runs:
        raise errors.NotFoundError(f"none of these runs has a metric {shown(metric)}"
                                   + (f" of asset {shown(asset)}" if asset is not None else ""))
    return {"metric": metric, "asset": asset, "xaxis": xaxis, "start": start, "stop": stop, "buckets": buckets,
            "runs": runs}


def to_json(data: Any) -> str:
    """Strict JSON (no NaN), safe inside an HTML ``<script>`` block too: ``<``, ``>`` and ``&``
    are escaped, so no value can close the block or open a comment."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def inline_json(data: Any, css_class: str) -> str:
    """A data block a page's script reads (never executed, so no CSP source is needed)."""
    return f'<script type="application/json" class="{css_class}">{to_json(data)}</script>'
