"""Charts of one long series (issue 20): what the viewer answers for a chart of a 10M-point
series, the whole range and a zoomed window, against raw SQL doing the same.

The chart is 400 pixel columns: for each, the exact mean, min and max of its points (the
line and the band). runlite answers from the statistics kept at ingest (``Store.metric_buckets``):
whole chunks from their rows, and, zoomed in so far that a chunk spans several columns,
whole 512-point blocks from the chunks' sketches (a zoom of 10%: 1M points in columns of
2,500); it decodes only the chunks cut by the window's ends, or all of the window's chunks
once a column is narrower than two blocks (a zoom of 1%: columns of 250 points, 100,000
points decoded). So its cost is bounded by the columns. The raw baseline is the same answer
from one row a point, indexed on (series, step), with a ``GROUP BY`` over the window.

And a chart of a 1,000-point series (a typical run's) in the same columns, beside reading its
points with ``metric_values``: unchecked, it shows what bucketing adds to a short series.

Target: a 10M-point chart in under 100 ms on the issue's machine (``scaled`` by this
machine's measured speed), whole or zoomed. ``--quick`` (CI's guard) charts the same 10M
points with fewer repetitions and no raw baseline: its target is scaled, and the raw table
costs more to build and query than runlite's whole suite.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import urllib.parse

import apsw

import runlite
from runlite.ui.viewer import Viewer

from .common import paired_medians, row

POINTS = 10_000_000
COLUMNS = 400
REPEAT, QUICK_REPEAT = 9, 3


def _value(i: int, noise: float) -> float:
    return 2 * math.exp(-i / 3e6) + noise


def _series(path: str, n: int) -> str:
    """A run with one ``loss`` series of ``n`` points (step = index); its id."""
    rnd = random.Random(5)
    with runlite.open(path) as store:
        with store.init("long") as run:
            log = run.log_metrics
            for i in range(n):
                log({"loss": _value(i, rnd.gauss(0, 1e-3))})
            return run.id


def _raw(path: str, n: int) -> None:
    conn = apsw.Connection(path)
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("CREATE TABLE points (series INTEGER, step INTEGER, value REAL)")
    conn.execute("CREATE INDEX points_series_step ON points(series, step)")
    rnd = random.Random(5)
    with conn:
        conn.executemany("INSERT INTO points VALUES (0, ?, ?)", ((i, _value(i, rnd.gauss(0, 1e-3))) for i in range(n)))
    conn.close()


def _raw_chart(conn: apsw.Connection, lo: int, hi: int) -> list:
    width = (hi - lo + 1) / COLUMNS
    return conn.execute("SELECT CAST((step - ?) / ? AS INTEGER) AS b, avg(value), min(value), max(value), count(*)"
                        " FROM points WHERE series = 0 AND step BETWEEN ? AND ? GROUP BY b ORDER BY b",
                        (lo, width, lo, hi)).fetchall()


def run(quick: bool = False) -> list[dict]:
    """The whole-series chart and a 1% zoom, through the viewer's /api/chart and Store.metric_buckets."""
    n, repeat = POINTS, QUICK_REPEAT if quick else REPEAT
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path, raw_path = os.path.join(tmp, "r.db"), os.path.join(tmp, "raw.db")
        run_id = _series(path, n)
        conn = None
        if not quick:
            _raw(raw_path, n)
            conn = apsw.Connection(raw_path, flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            viewer = Viewer(store)
            windows = (("whole series", 0, n - 1), ("a 10% zoom", n // 2, n // 2 + n // 10 - 1),
                       ("a 1% zoom", n // 2, n // 2 + n // 100 - 1))
            for what, lo, hi in windows:
                query = urllib.parse.urlencode({"run": run_id, "metric": "loss", "buckets": COLUMNS,
                                                "start": lo, "stop": hi})

                def served(_tmp, q=query):
                    response = viewer.get("/api/chart?" + q)
                    assert response.status == 200, response.body[:200]

                def buckets(_tmp, lo=lo, hi=hi):
                    got = store.metric_buckets(run_id, "loss", buckets=COLUMNS, start=lo, stop=hi)
                    assert sum(got.count) == hi - lo + 1

                def raw(_tmp, lo=lo, hi=hi):
                    got = _raw_chart(conn, lo, hi)
                    assert sum(r[4] for r in got) == hi - lo + 1

                fns = [served, buckets] + ([raw] if conn is not None else [])
                for fn in fns:  # warm: a dashboard re-reads a hot file
                    fn("")
                t_served, t_buckets, *t_raw = (t * 1e3 for t in paired_medians(fns, repeat))
                t_raw = t_raw[0] if t_raw else None
                out.append(row(f"chart of a {n:,}-point series, {what}, {COLUMNS} columns: the viewer's /api/chart"
                               " (baseline: raw SQL GROUP BY over one row a point)", t_served, "ms", t_raw,
                               higher_is_better=False, target="<= 100 ms on the issue's machine",
                               check=("scaled", "<=", 100.0)))
                out.append(row(f"... Store.metric_buckets alone, {what}", t_buckets, "ms", t_raw,
                               higher_is_better=False))
        if conn is not None:
            conn.close()
        out.append(_short_series_row(tmp, repeat))
    return out


SHORT = 1_000  # points of a typical run's series (a step a point)


def _short_series_row(tmp: str, repeat: int) -> dict:
    """A chart of a short series in the same 400 columns, most of them holding one point or
    none, beside reading every point of it: what the chart adds to the points' decoding."""
    path = os.path.join(tmp, "short.db")
    run_id = _series(path, SHORT)
    with runlite.open(path, read_only=True) as store:
        def buckets(_tmp):
            assert sum(store.metric_buckets(run_id, "loss", buckets=COLUMNS).count) == SHORT

        def values(_tmp):
            assert len(store.metric_values(run_id, "loss").values) == SHORT

        for fn in (buckets, values):
            fn("")
        t_buckets, t_values = (t * 1e3 for t in paired_medians([buckets, values], repeat))
    return row(f"chart of a {SHORT:,}-point series (a typical run's), {COLUMNS} columns: Store.metric_buckets"
               " (baseline: metric_values, every point)", t_buckets, "ms", t_values, higher_is_better=False)
