"""Data frames of 10,000 runs x 10 metrics (issue 19): the metric summaries ``RunList.to_pandas``
reads, and the whole frame, against raw apsw reading the same rows in the same run.

- summaries: ``metric_sets.summaries_many`` through a listing's ``summaries`` (one query for
  every listed run, ids bound as one JSON array), against raw SQL selecting the same series
  rows by run id. Target: >= 0.5x the raw read.
- the frame: ``store.runs().to_pandas()`` (records, times as datetime64, flattened metadata,
  ``metric.<name>.last/min/max``), against raw SQL fetching the same runs and series rows and
  decoding the JSON columns (what any reader must do before shaping a frame). Shown, not checked.
"""

from __future__ import annotations

import json
import os
import tempfile

import apsw

import runlite

from .common import paired_medians, row

RUNS = 10_000
METRICS = 10
POINTS = 3


def _build(path: str, runs: int) -> None:
    with runlite.open(path) as store:
        for i in range(runs):
            run = store.init(f"run-{i}", metadata={"i": i, "lr": 0.01 * (i % 7), "optimizer": {"name": "adam"}},
                             tags=["bench"])
            for step in range(POINTS):
                run.log_metrics({f"metric_{k}": (i + k) / (step + 1) for k in range(METRICS)}, step=step)
            run.end()


_RAW_SERIES = ("SELECT run_id, name, last, min, max FROM series WHERE asset = ''"
               " AND run_id IN (SELECT value FROM json_each(?))")


def run(quick: bool = False) -> list[dict]:
    """The summaries read and the whole frame, each against raw apsw over the same rows."""
    runs = 2_000 if quick else RUNS
    repeat = 5 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frames.db")
        _build(path, runs)
        raw = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
        with runlite.open(path, read_only=True) as store:
            listing = store.runs()
            ids = [r.id for r in listing]
            doc = json.dumps(ids)
            first = listing.to_pandas()
            assert first.shape == (runs, 10 + 3 + 3 * METRICS), first.shape
            assert len(raw.execute(_RAW_SERIES, (doc,)).fetchall()) == runs * METRICS

            def summaries(_tmp):
                listing.summaries.kept = None  # read again each time: what a first to_pandas() does
                listing.summaries(ids)

            def raw_summaries(_tmp):
                raw.execute(_RAW_SERIES, (doc,)).fetchall()

            def frame(_tmp):
                store.runs().to_pandas()

            def raw_frame(_tmp):
                for r in raw.execute("SELECT id, name, status, folder, created, started, ended, tags, description,"
                                     " metadata FROM runs ORDER BY created DESC"):
                    json.loads(r[7]), json.loads(r[9])
                raw.execute(_RAW_SERIES, (doc,)).fetchall()

            got, base, whole, raw_whole = paired_medians([summaries, raw_summaries, frame, raw_frame], repeat)
        raw.close()
    size = f"{runs:,} runs x {METRICS} metrics"
    return [
        row(f"metric summaries of {size}, one query (RunList.to_pandas's read)", runs / got, "runs/s",
            runs / base, target=">= 0.5x raw SQL of the same rows", check=("ratio", ">=", 0.5)),
        row(f"store.runs().to_pandas() of {size} (metadata, metric.<name>.last/min/max; baseline: raw SQL of"
            " the same rows, JSON decoded)", runs / whole, "runs/s", runs / raw_whole),
    ]
