"""The viewer's run table over 100,000 runs: one page (50 runs, 2 metadata and 2 metric summary
columns, sorted by a metadata key) through ``Viewer.get`` against the raw SQL of the same page
measured in the same run (apsw: the list's count, the page sorted by the key, the page's
metric summaries, each row's JSON decoded; no HTML).

Target (the issue: such a page in under 200 ms): on the issue's machine the raw SQL of this page
takes about 100 ms at 100,000 runs (a scan of every run's metadata is most of it), so 200 ms is
2x the raw SQL: the viewer's page must stay within 2x of it (ratio >= 0.5), whatever this
machine's speed. A second row checks the 200 ms itself, scaled to this machine's speed (full
sizes only: ``--quick`` builds 20,000 runs, where any page is fast). The fixture is built with
``Store.init`` in a loop (one point of two metrics a run); its time is shown, not checked.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time

import apsw

import runlite
from runlite.ui.viewer import Viewer

from .common import paired_medians, row

N = 100_000
N_QUICK = 20_000  # enough runs that the page's SQL, not its fixed costs, is measured
PAGE = 50
TARGET = ("/?col=metadata.lr&col=metadata.batch&col=metric.loss.min&col=metric.acc.last&sort=-metadata.lr")
GROUPED = "/?col=metadata.lr&col=metric.loss.min&group=folder&sort=metric.loss.min"


def build(path: str, n: int) -> float:
    """``n`` runs in 5 folders, metadata lr (missing on every 11th), batch and opt, one point of
    loss and acc each; returns the seconds it took."""
    start = time.perf_counter()
    with runlite.open(path) as store:
        for i in range(n):
            meta = {"lr": (i * 7919 % 1000) / 10_000, "batch": 2 ** (i % 7), "opt": "adam" if i % 3 else "sgd"}
            if i % 11 == 0:
                del meta["lr"]
            with store.init(f"run-{i}", metadata=meta, folder=f"/exp{i % 5}", tags=["bench"] if i % 2 else []) as run:
                run.log_metrics({"loss": 1 / (i + 1), "acc": (i % 1000) / 1000}, step=0)
    return time.perf_counter() - start


def raw_page(conn: apsw.Connection) -> list:
    """The same page by hand: count, page sorted by metadata.lr (NULLs last), summaries."""
    total = conn.execute("SELECT count(*) FROM runs WHERE parent_run_id IS NULL").fetchall()[0][0]
    rows = conn.execute(
        "SELECT id, name, status, run_type, kind, folder, tags, created, started, ended, metadata FROM runs"
        " WHERE parent_run_id IS NULL ORDER BY json_extract(metadata, '$.lr') DESC NULLS LAST, id DESC"
        " LIMIT ? OFFSET 0", (PAGE,)).fetchall()
    page = [(r[0], r[1], json.loads(r[6]), json.loads(r[10])) for r in rows]
    cells = conn.execute(
        "SELECT run_id, name, last, min, max FROM series WHERE asset = '' AND name IN ('loss', 'acc')"
        " AND run_id IN (SELECT value FROM json_each(?))", (json.dumps([r[0] for r in rows]),)).fetchall()
    return [total, page, cells]


def run(quick: bool = False) -> list[dict]:
    """The run table page against its raw SQL, over ``N`` runs (``N_QUICK`` with ``quick``)."""
    n = N_QUICK if quick else N
    repeat = 9 if quick else 7  # quick: more turns, as a 20 ms page on a shared machine varies 17-30 ms
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "runs.db")
        built = build(path, n)
        raw = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            viewer = Viewer(store)
            got = viewer.get(TARGET)
            assert got.status == 200 and got.body.count(b"<tr data-run-id=") == PAGE, got.body[:300]
            total, page, _ = raw_page(raw)
            assert total == n and all(r[0].encode() in got.body for r in page)  # the same runs
            assert viewer.get(GROUPED).status == 200
            gc.collect()  # the fixture's garbage, collected before the timings, not inside one of them
            page_s, raw_s, grouped_s, first_s = paired_medians(
                [lambda _t: viewer.get(TARGET), lambda _t: raw_page(raw), lambda _t: viewer.get(GROUPED),
                 lambda _t: viewer.get("/")], repeat)
        raw.close()
    ms = 1e3
    return [
        row(f"run table fixture: {n:,} runs with 2 metrics each, Store.init in a loop (baseline: none)",
            n / built, "runs/s"),
        row(f"run table page of {n:,} runs: 50 rows, 2 metadata + 2 metric columns, sorted by metadata.lr"
            f" (baseline: its raw SQL, {raw_s * ms:.1f} ms)", page_s * ms, "ms", raw_s * ms, higher_is_better=False,
            target="<= 2x raw SQL (200 ms at the issue's ~100 ms)", check=("ratio", ">=", 0.5)),
        row(f"... the same page against the issue's 200 ms (scaled to this machine; {n:,} runs)", page_s * ms, "ms",
            target="<= 200 ms on the issue's machine", check=("scaled", "<=", 200.0), quick_check=False),
        row(f"... grouped by folder, sorted by metric.loss.min ({n:,} runs)", grouped_s * ms, "ms", raw_s * ms,
            higher_is_better=False),
        row(f"... the default page (newest first, no chosen column; {n:,} runs)", first_s * ms, "ms", raw_s * ms,
            higher_is_better=False),
    ]
