"""Reading a hostile file stays bounded in memory and time: series (whole, downsampled, windowed
statistics, summaries) and the viewer's and report's pages.

Compression lets a few bytes declare a million points, so each case writes chunk rows into a
copy of a sound runlite file with a raw SQLite connection, as an attacker would: sketches of the
largest size zstd was allowed to inflate, chunks declaring 2**20 points each (hundreds of them),
row counts that disagree with the chunk headers or sketches, statistics that are not numbers.
A child process does one read and reports what came back, its peak RSS (``ru_maxrss``) against
its RSS before opening the file, and its CPU and wall seconds. The parent asserts each read is
refused with a RunliteError or answered, within ``RSS_BOUND_MIB`` and ``SECONDS_BOUND`` of CPU
(CPU time, so other work on the machine does not count); the legitimate case
(chunks of the codec's largest size, 2**22 points in all) must be answered whole.
"""

from __future__ import annotations

import faulthandler
import functools
import json
import math
import os
import random
import resource
import shutil
import struct
import sys
import time
from array import array
from concurrent.futures import ThreadPoolExecutor

import pytest
import zstandard

import runlite
from runlite.codec import chunks, sketch, stats
from runlite.storage import metric_reads
from runlite.storage.stat_rows import CHUNK_COLUMNS, STAT_COLUMNS, stats_row

from .conftest import check_file, count, raw
from tests.stress import forked

RSS_BOUND_MIB = 256   # a read may grow the reading process's peak RSS by at most this much
SECONDS_BOUND = 10.0  # ... and take at most this much CPU time (a page: every chart of the run)
CHILD_TIMEOUT = 60    # a read still running after this is killed (and fails the test)
ORIGIN = 1_700_000_000_000_000
BIG = chunks.MAX_CHUNK_POINTS  # 2**20: the most points the codec puts in one chunk
TINY_CHUNKS = (1 << 17) + 1000  # more chunk rows than a read holds


# ---------------------------------------------------------------- building the files


def build_good(path: str) -> dict:
    with runlite.open(path) as store:
        run = store.init("victim")
        for i in range(300):
            run.log_metrics({"loss": 1 / (i + 1)}, step=i)
        run.close()
        return {"run": run.id}


@functools.lru_cache(maxsize=None)
def made_chunk(n: int, first_step: int = 0, constant: bool = False) -> tuple[bytes, bytes, tuple]:
    """(data, sketch, statistics row) of a sound chunk of n points from ``first_step`` on."""
    steps = array("q", range(first_step, first_step + n))
    stamps = array("q", range(ORIGIN + 1000 * first_step, ORIGIN + 1000 * (first_step + n), 1000))
    values = array("d", [1.0]) * n if constant else array("d", (math.sin(i * 1e-4) for i in steps))
    data = chunks.encode_chunk(steps, None, stamps, values, time_origin_us=ORIGIN)
    blocks = sketch.encode(sketch.blocks(steps, None, stamps, values, has_nan=False, time_origin_us=ORIGIN))
    return data, blocks, stats_row(stats.chunk_stats(steps, None, stamps, values, time_origin_us=ORIGIN))


def plant_chunks(path: str, rows: list[dict], summary: tuple | None = None) -> None:
    """Replace the chunks of ``loss`` with ``rows`` (data, sketch, stats: a CHUNK_COLUMNS row)."""
    conn = raw(path)
    sid = conn.execute("SELECT id FROM series WHERE name = 'loss'").get
    cols = ", ".join(CHUNK_COLUMNS)
    marks = ", ".join("?" * len(CHUNK_COLUMNS))
    with conn:
        conn.execute("DELETE FROM chunks WHERE series_id = ?", (sid,))
        conn.executemany(f"INSERT INTO chunks (series_id, seq, {cols}, sketch, data) VALUES (?, ?, {marks}, ?, ?)",
                         [(sid, seq, *r["stats"], r["sketch"], r["data"]) for seq, r in enumerate(rows)])
        if summary is None:  # a count that matches the rows; the rest as the good file had it
            conn.execute("UPDATE series SET count = ? WHERE id = ?", (sum(r["stats"][0] for r in rows), sid))
        else:
            conn.execute("UPDATE series SET " + ", ".join(f"{c} = ?" for c in STAT_COLUMNS) + " WHERE id = ?",
                         (*summary, sid))
    conn.close()


def with_count(row: tuple, n: int) -> tuple:
    return (n,) + tuple(row[1:])


def max_size_sketch() -> bytes:
    """The largest sketch the old reader inflated: 4 MiB of whole 148-byte blocks (28,339)."""
    entry = struct.pack("<I", 512) + b"".join(struct.pack("<Iqdqd", p, p, p / 1e3, ORIGIN + p, 1.0)
                                              for p in (0, 0, 0, 511))
    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(entry * ((4 << 20) // len(entry)))


def wrong_block_sizes() -> bytes:
    """A sketch of 16 blocks (right for 8,192 points) whose blocks claim 100,000 points each."""
    good = sketch.decode(made_chunk(8192)[1])  # written as version-1 entries, the form readers still take
    entries = b"".join(struct.pack("<I", 100_000) + b"".join(struct.pack("<Iqdqd", *p) for p in points)
                       for _, points in good)
    return zstandard.ZstdCompressor(write_content_size=True).compress(entries)


def plant_max_sketches(k: int):
    def plant(path):
        data, _, row = made_chunk(8192, constant=True)
        plant_chunks(path, [{"data": data, "sketch": max_size_sketch(), "stats": row}] * k)
    return plant


def plant_big_chunks(k: int):
    """k chunks of 2**20 points, each consistent (header, sketch, statistics), all over steps 0..2**20-1."""
    def plant(path):
        data, blocks, row = made_chunk(BIG, constant=True)
        plant_chunks(path, [{"data": data, "sketch": blocks, "stats": row}] * k)
    return plant


def plant_lying_counts(k: int, row_count: int, header_points: int):
    def plant(path):
        data, blocks, row = made_chunk(header_points, constant=True)
        plant_chunks(path, [{"data": data, "sketch": blocks, "stats": with_count(row, row_count)}] * k)
    return plant


def plant_wrong_block_sizes(k: int):
    def plant(path):
        data, _, row = made_chunk(8192, constant=True)
        plant_chunks(path, [{"data": data, "sketch": wrong_block_sizes(), "stats": row}] * k)
    return plant


def plant_tiny_chunks(path: str) -> None:
    """More one-point chunks than a read holds rows of (a merge of many tiny series could copy them)."""
    data, blocks, row = made_chunk(1)
    plant_chunks(path, [{"data": data, "sketch": blocks, "stats": row}] * TINY_CHUNKS)


def plant_text_stats(path: str) -> None:
    data, blocks, row = made_chunk(8192)
    text = list(row)
    text[CHUNK_COLUMNS.index("mean")] = "a lot"
    text[CHUNK_COLUMNS.index("min")] = "low"
    plant_chunks(path, [{"data": data, "sketch": blocks, "stats": tuple(text)}] * 30)
    conn = raw(path)
    with conn:
        conn.execute("UPDATE series SET m2 = 'x' WHERE name = 'loss'")
    conn.close()


def plant_largest_legit(path: str) -> None:
    """Four sound chunks of the codec's largest size (2**22 points, a read's cap), steps in
    order, summary from their statistics: what another writer may legitimately store."""
    made = [made_chunk(BIG, first_step=i * BIG) for i in range(4)]
    # A stored row is in ChunkStats field order; with no NaN it converts back as it is.
    summary = stats_row(stats.merge_many(stats.ChunkStats(*row) for _, _, row in made), STAT_COLUMNS)
    plant_chunks(path, [{"data": d, "sketch": s, "stats": r} for d, s, r in made], summary)


# ---------------------------------------------------------------- the child process


def _cpu() -> float:
    """This process's CPU seconds: the bound holds whatever else the machine runs meanwhile."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


WINDOW = (10, 20)


def _do(action: str, path: str, run: str):
    """One read of the file; returns a short description of what came back."""
    with runlite.open(path, read_only=True, untrusted=action.endswith("(untrusted)")) as store:
        action = action.replace(" (untrusted)", "")
        if action == "values":
            return len(store.metric_values(run, "loss"))
        if action == "values max_points=600":
            return len(store.metric_values(run, "loss", max_points=600))
        if action == "values window max_points=600":
            return len(store.metric_values(run, "loss", start=BIG // 3, stop=3 * BIG, max_points=600))
        if action == "values time axis":
            return len(store.metric_values(run, "loss", xaxis="time"))
        if action == "stats window":
            return store.metric_stats(run, "loss", start=WINDOW[0], stop=WINDOW[1]).count
        if action == "stats":
            return store.metric_stats(run, "loss").count
        if action == "summary":
            return store.metric_summary(run, "loss").count
        if action in ("viewer run page", "report"):
            if action == "report":
                from runlite.ui import report
                return len(report.report_html(store, [run]))
            from runlite.ui.viewer import Viewer
            response = Viewer(store).get(f"/run/{run}")
            if response.status == 200:
                return f"HTTP 200, {len(response.body):,} bytes"
            if response.status == 500 and response.body.startswith(b"internal error"):
                raise _Escaped("the viewer caught a non-runlite exception (see its log)")
            raise _Refused(f"HTTP {response.status}: {response.body[:300]!r}")
    raise AssertionError(action)


class _Escaped(Exception):
    pass


class _Refused(runlite.RunliteError):
    """The viewer's answer to a refused read: its page says what runlite said."""


def _one(job: dict) -> dict:
    faulthandler.dump_traceback_later(CHILD_TIMEOUT, exit=True)  # a read this slow has failed
    with open("/proc/self/statm") as f:  # address space: the old reader's 8 GiB must not take the machine
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (4 << 30), resource.RLIM_INFINITY))
    baseline = forked.rss_kib()
    began, cpu = time.perf_counter(), _cpu()
    try:
        value = _do(job["action"], job["path"], job["run"])
        result = {"outcome": "ok", "value": repr(value)[:200]}
    except runlite.RunliteError as exc:
        result = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300]}
    except BaseException as exc:  # noqa: BLE001 - an escape is what this test looks for
        result = {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:300]}
    return {**result, "seconds": time.perf_counter() - began, "cpu": _cpu() - cpu, "baseline_kib": baseline,
            "peak_kib": forked.rss_kib()}


def child_main(jobs_path: str) -> None:
    """Run each job in a process forked from this one (imports done once; ru_maxrss per job)."""
    faulthandler.enable()
    import numpy  # noqa: F401 - imported before the fork, as a long-running reader has it
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    print(json.dumps(forked.each_in_a_fork(jobs, _one, {"seconds": CHILD_TIMEOUT, "cpu": CHILD_TIMEOUT,
                                                         "baseline_kib": 0, "peak_kib": 0})))


def run_children(jobs: list[dict], folder: str) -> list[dict]:
    os.makedirs(folder, exist_ok=True)
    return forked.run_module("tests.stress.test_bounded_reads", jobs, os.path.join(folder, "jobs.json"),
                             timeout=CHILD_TIMEOUT * len(jobs) + 120)


def run_cases(good: dict, tmp_path, cases: list[tuple]) -> list[dict]:
    """``cases``: (name, plant(path), actions); every action reads a copy of its own."""
    jobs = []
    for i, (name, plant, actions) in enumerate(cases):
        planted = str(tmp_path / f"{i:02d}.db")
        shutil.copy(good["path"], planted)
        plant(planted)
        for j, action in enumerate(actions):
            path = str(tmp_path / f"{i:02d}-{j}.db")
            shutil.copy(planted, path)
            jobs.append({"name": name, "action": action, "path": path, "run": good["run"],
                         "size": os.path.getsize(planted)})
    halves = [jobs[0::2], jobs[1::2]]  # two children at a time: the machine has two cores
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda part: run_children(part, str(tmp_path / f"jobs{id(part)}")) if part else [],
                             halves))
    rows = []
    for job, result in zip(halves[0] + halves[1], done[0] + done[1]):
        growth = max(0, result["peak_kib"] - result["baseline_kib"]) / 1024
        rows.append({**job, **result, "growth_mib": growth})
    return rows


def _over(row: dict) -> bool:
    return row["growth_mib"] > RSS_BOUND_MIB or row["cpu"] > SECONDS_BOUND


def record(guarantee, scenario: str, rows: list[dict], bad: list[dict], what: str) -> None:
    worst = max(rows, key=lambda r: r["growth_mib"])
    slowest = max(rows, key=lambda r: r["cpu"])
    errors = sorted({r.get("error", "?") for r in rows if r["outcome"] == "refused"})
    largest = max(r["size"] for r in rows) / (1 << 20)
    guarantee(scenario, rounds=len(rows), failures=len(bad),
              note=f"{len(rows)} (case, read) pairs, {what} ({', '.join(errors) or 'none refused'});"
                   f" peak RSS growth max {worst['growth_mib']:.1f} MiB ({worst['name']}: {worst['action']}),"
                   f" slowest {slowest['cpu']:.2f} s CPU ({slowest['seconds']:.2f} s wall; {slowest['name']}:"
                   f" {slowest['action']}); files up to {largest:.1f} MiB; bounds {RSS_BOUND_MIB} MiB and"
                   f" {SECONDS_BOUND:.0f} s CPU")
    for r in rows:
        print(f"{r['name'][:50]:50} {r['action']:30} {r['outcome']:8} {r.get('error', ''):18}"
              f" +{r['growth_mib']:6.1f} MiB {r['cpu']:6.2f} s CPU {r['seconds']:6.2f} s"
              f"  {r.get('message', r.get('value', ''))[:90]}")


def _brief(rows: list[dict]) -> list[tuple]:
    return [(r["name"], r["action"], r["outcome"], r.get("error"), r.get("message", r.get("value", ""))[:200],
             round(r["growth_mib"], 1), round(r["cpu"], 2), round(r["seconds"], 2)) for r in rows]


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bounded-good")
    path = str(folder / "good.db")
    return {"path": path, **build_good(path)}


PAGE = ("viewer run page", "report")


def test_hostile_series_are_read_with_bounded_memory_and_time(good, tmp_path, guarantee):
    sketches = count(30, 600)  # 600 chunks of max-size sketches: the 5 MB file
    big = count(20, 400)       # 400 chunks declaring 2**20 points: the 33 MB file
    cases = [
        (f"{sketches} chunks with 4 MiB sketches (28,339 blocks each)", plant_max_sketches(sketches),
         ("values max_points=600", "values max_points=600 (untrusted)", "values", *PAGE)),
        (f"{big} consistent chunks of 2**20 points ({big * BIG:,} in all)", plant_big_chunks(big),
         ("values", "values (untrusted)", "values time axis", "values max_points=600",
          "values window max_points=600", "stats window", "stats", "summary", *PAGE)),
        (f"{big} rows of 300 points whose headers declare 2**20", plant_lying_counts(big, 300, BIG),
         ("values", "values max_points=600", "stats window", "viewer run page")),
        ("3 rows of 2**20 points whose headers declare 8,192", plant_lying_counts(3, BIG, 8192),
         ("values", "values max_points=600", "stats window", "viewer run page")),
        ("30 sketches whose blocks claim 100,000 points", plant_wrong_block_sizes(30),
         ("values max_points=600", "viewer run page")),
        (f"{TINY_CHUNKS:,} chunks of one point", plant_tiny_chunks,
         ("values", "values max_points=600", "stats", "stats window", "viewer run page")),
        ("chunk and series statistics stored as text", plant_text_stats,
         ("stats", "stats window", "summary", "values max_points=600", "viewer run page")),
    ]
    rows = run_cases(good, tmp_path, cases)
    expected = {  # what a read of these must say (others: any RunliteError, or an answer)
        (cases[0][0], "values max_points=600"): "CorruptStoreError",
        (cases[0][0], "values max_points=600 (untrusted)"): "CorruptStoreError",
        (cases[1][0], "values"): "LimitError",
        (cases[1][0], "values max_points=600"): "ok",
        (cases[2][0], "values"): "CorruptStoreError",
        (cases[3][0], "values"): "CorruptStoreError",
        (cases[3][0], "values max_points=600"): "CorruptStoreError",
        (cases[3][0], "stats window"): "CorruptStoreError",
        (cases[4][0], "values max_points=600"): "CorruptStoreError",
        (cases[5][0], "values"): "LimitError",
        (cases[6][0], "stats"): "CorruptStoreError",
        (cases[6][0], "summary"): "CorruptStoreError",
    }
    bad = [r for r in rows if r["outcome"] not in ("ok", "refused") or _over(r)
           or expected.get((r["name"], r["action"]), r.get("error", "ok")) != r.get("error", "ok")]
    record(guarantee, "hostile metric chunks: reads bounded in memory and time", rows, bad,
           "each refused with a RunliteError or answered")
    assert not bad, _brief(bad)


def test_largest_legitimate_chunks_are_read_whole(good, tmp_path, guarantee):
    cases = [("4 chunks of 2**20 points (2**22, a read's cap)", plant_largest_legit,
              ("values", "values time axis", "values max_points=600", "values window max_points=600",
               "stats window", "stats", *PAGE))]
    rows = run_cases(good, tmp_path, cases)
    bad = [r for r in rows if r["outcome"] != "ok" or _over(r)]
    whole = [r for r in rows if r["action"].startswith("values") and "max_points" not in r["action"]]
    bad += [r for r in whole if r.get("value") != str(4 * BIG)]
    record(guarantee, "largest legitimate chunks: read whole, bounded", rows, bad, "every read answered")
    assert not bad, _brief(bad)
    check_file(rows[0]["path"])  # the file is sound: verify() finds every chunk and summary right


# ---------------------------------------------------------------- downsampling reads few sketches, same points


def _block_fold(blocks: list, total: int, max_points: int):
    """The reference: every block's sketch, folded one by one (how downsampling was first written)."""
    buckets = (max_points - 2) // 3
    if buckets < 1 or len(blocks) < buckets:
        return None
    chosen = {}
    first_off, _, first_pts = blocks[0]
    chosen[first_off + first_pts[0][0]] = (first_off + first_pts[0][0], *first_pts[0][1:])
    current, best_min, best_max, last = -1, None, None, None

    def lower(new, old):
        return new < old or (old != old and new == new)

    def higher(new, old):
        return new > old or (old != old and new == new)

    for offset, _count, (_first, p_min, p_max, p_last) in blocks:
        bucket = min(buckets - 1, (offset - first_off) * buckets // total)
        if bucket != current:
            if current >= 0:
                for p in (best_min, best_max, last):
                    chosen[p[0]] = p
            current, best_min, best_max = bucket, (offset + p_min[0], *p_min[1:]), (offset + p_max[0], *p_max[1:])
        else:
            if lower(p_min[4], best_min[4]):
                best_min = (offset + p_min[0], *p_min[1:])
            if higher(p_max[4], best_max[4]):
                best_max = (offset + p_max[0], *p_max[1:])
        last = (offset + p_last[0], *p_last[1:])
    for p in (best_min, best_max, last):
        chosen[p[0]] = p
    return [chosen[i] for i in sorted(chosen)]


def _reference(store, run_id: str, start, stop, max_points: int):
    """Points the block-by-block fold picks over the window, or the exact downsample."""
    with store.database.read() as conn:
        sid = conn.execute("SELECT id FROM series WHERE run_id = ? AND name = 'v'", (run_id,)).get
        rows = conn.execute("SELECT count, step_lo, step_hi, nan_count, sketch, data FROM chunks"
                            " WHERE series_id = ? ORDER BY seq", (sid,)).fetchall()
    blocks, cols, offset = [], [array("q"), array("d"), array("q"), array("d")], 0
    for n, lo, hi, nan_count, sk, data in rows:
        if (start is not None and hi < start) or (stop is not None and lo > stop):
            continue
        decoded = chunks.decode_chunk(data)
        part = stats.window_columns(list(decoded), 0, start, stop)
        if part is None:
            continue
        inside = (start is None or lo >= start) and (stop is None or hi <= stop)
        chunk_blocks = sketch.decode(sk) if inside else sketch.blocks(*part, has_nan=nan_count > 0)
        for c, p in zip(cols, part):
            c.extend(p)
        for size, points in chunk_blocks:
            blocks.append((offset, size, points))
            offset += size
    total = len(cols[3])
    if total > max_points and total >= 2 * sketch.BLOCK * max_points // 3:
        picked = _block_fold(blocks, total, max_points)
        if picked is not None:
            return [tuple(p[1:]) for p in picked]
    keep = stats.downsample(cols[0], cols[3], max_points) if total > max_points else range(total)
    return [(cols[0][i], cols[1][i], cols[2][i], cols[3][i]) for i in keep]


def _points(series) -> list[tuple]:
    return list(zip(series.steps, series.times, series.timestamps, series.values))


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(struct.pack("<qdqd", *x) == struct.pack("<qdqd", *y) for x, y in zip(a, b))


def test_downsampling_reads_few_sketches_and_picks_the_same_points(tmp_path, guarantee, monkeypatch):
    n = count(300_000, 3_000_000)
    rnd = random.Random(14)
    path = str(tmp_path / "series.db")
    with runlite.open(path) as store:
        run = store.init("wave")
        for i in range(n):
            v = math.sin(i / 5000) + rnd.gauss(0, 0.05)
            if 100_000 <= i < 100_000 + 3000 or i % 7919 == 0:
                v = math.nan  # a NaN stretch over whole blocks, and lone NaNs
            elif i % 50_021 == 0:
                v = rnd.choice([math.inf, -math.inf, 50.0, -50.0, -0.0])  # spikes
            run.log_metrics({"v": v}, step=i)
        run.close()
        loads = []
        real_load = sketch.load
        monkeypatch.setattr(sketch, "load", lambda data, n_: loads.append(n_) or real_load(data, n_))
        with store.database.read() as conn:
            nchunks = conn.execute("SELECT count(*) FROM chunks").get
        cases, failures, most = 0, [], 0.0
        for max_points in (4, 7, 10, 40, 100, 600, 1000, 5000):
            for start, stop in ((None, None), (n // 3 + 5, None), (None, n // 2 + 77), (1234, n - 4321),
                                (n // 2, n // 2 + 20_000)):
                loads.clear()
                got = _points(store.metric_values(run.id, "v", start=start, stop=stop, max_points=max_points))
                want = _reference(store, run.id, start, stop, max_points)
                cases += 1
                buckets = max(1, (max_points - 2) // 3)
                if not _same(got, want) or len(got) > max_points or len(loads) > 4 * buckets + 2:
                    failures.append((max_points, start, stop, len(got), len(want), len(loads)))
                if start is None and stop is None:
                    most = max(most, len(loads) / nchunks)
        loads.clear()
        store.metric_values(run.id, "v", max_points=10)
        skipped = len(loads) < nchunks
    guarantee("downsampling from sketches: same points as the block-by-block fold", rounds=cases,
              failures=len(failures) + (not skipped),
              note=f"{n:,} points in {nchunks} chunks (NaN runs, infinities, -0.0 spikes), 8 max_points x 5"
                   f" windows; sketches read at most 4 a bucket (max_points=10 read {len(loads)} of {nchunks})")
    assert not failures, failures[:5]
    assert skipped, "a coarse downsample read every chunk's sketch"


def test_caps_are_documented_figures():
    # The figures docs/GUARANTEES.md states: a change here is a change of the promise.
    assert metric_reads.MAX_READ_POINTS == 1 << 22
    assert metric_reads.MAX_DECODE_POINTS == 1 << 24
    assert metric_reads.MAX_SKETCH_BLOCKS == 1 << 21
    assert metric_reads.MAX_READ_CHUNKS == 1 << 17 < TINY_CHUNKS
    assert 4 * BIG == metric_reads.MAX_READ_POINTS  # four of the codec's largest chunks are read whole


if __name__ == "__main__":
    child_main(sys.argv[1])
