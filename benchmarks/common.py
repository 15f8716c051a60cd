"""Shared benchmark helpers: medians of repeated timings, the environment line, a table, and the
machine-checkable targets that ``python -m benchmarks --check`` enforces.

A row's target is data: ``check=(what, op, limit)`` where ``what`` is

- ``"ratio"``: the row's ratio to the baseline measured in the same run (higher is better:
  ``value / baseline``, or ``baseline / value`` for times), so the machine's speed cancels out;
- ``"value"``: the figure itself, for figures that do not depend on the machine's speed
  (bytes a point, a last-10%/first-10% cost ratio, whether numpy was imported);
- ``"scaled"``: an absolute target from the issue's machine, scaled by this machine's speed
  measured in the same process (``machine_slowdown``), for the few figures with no baseline of
  the same work (a time per call, an import time).

``op`` is ``">="`` or ``"<="``. ``quick_check=False`` marks rows whose ``--quick`` figure is not
meaningful (too few points to measure what the target is about): they are shown, not checked.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

import apsw
import zstandard

OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}
KINDS = ("ratio", "value", "scaled")


def environment() -> str:
    """One line naming the machine and the library versions measured."""
    return (f"{platform.python_implementation()} {platform.python_version()}, SQLite {apsw.sqlite_lib_version()}, "
            f"apsw {apsw.apswversion()}, zstandard {zstandard.__version__}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.machine()}")


def median_seconds(fn: Callable[[str], object], repeat: int) -> float:
    """Median wall time of ``fn(tmpdir)`` over ``repeat`` runs, each in a fresh directory."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            fn(tmp)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians(fns: list[Callable[[str], object]], repeat: int, *, dirs: bool = True) -> list[float]:
    """Median seconds of each ``fn(tmpdir)``, the functions taking turns ``repeat`` times (each
    call in a fresh directory), so a busy moment of a shared machine slows runlite and its
    baseline alike and their ratio holds. A function that returns a number has measured its
    own seconds (e.g. leaving out building its input); otherwise the call's wall time counts.

    ``dirs=False``: the functions write nothing (reads of a file made before), so no directory
    is made between the calls (each gets ""). Making one evicts the CPU caches that a read of
    a tenth of a millisecond runs from, Python code more than SQLite's C: runlite's window
    statistics read 0.53-0.61x raw SQL's speed with directories, 0.71-0.73x without."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, acc in zip(fns, times):
            with tempfile.TemporaryDirectory() if dirs else contextlib.nullcontext("") as tmp:
                start = time.perf_counter()
                got = fn(tmp)
                wall = time.perf_counter() - start
            acc.append(got if isinstance(got, (int, float)) and not isinstance(got, bool) else wall)
    return [statistics.median(acc) for acc in times]


def in_fresh_interpreter(module: str, function: str, *args) -> object:
    """``benchmarks.<module>.<function>(*args)`` run in a new Python process: its result, sent
    back as JSON on the last line of its output. Each suite runs so (``__main__``): the suites
    run before would leave this process's heap larger (bench_frames imports pandas and
    pyarrow), and Python's collector, which the measured calls set off, walks all of it. A
    traced call's CPU time went from 2-3 us to 3-8 us after them (back with the collector off),
    and runlite.log's ratio to log_metrics from 0.96x to 0.69x in one run. A program using
    runlite starts as the new process does.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + (os.pathsep + os.environ["PYTHONPATH"]
                                               if os.environ.get("PYTHONPATH") else "")}
    code = (f"import json; from benchmarks.{module} import {function}; "
            f"print(); print(json.dumps({function}(*json.loads({json.dumps(json.dumps(args))}))))")
    done = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f"benchmarks.{module}.{function} failed in its own process (exit {done.returncode})")
    return json.loads(done.stdout.splitlines()[-1])


def row(name: str, value: float, unit: str, baseline: float | None = None, *,
        higher_is_better: bool = True, target: str = "", check: tuple | None = None,
        quick_check: bool = True, incomplete: str = "") -> dict:
    """One result: value, the baseline measured in the same run, their ratio, and the target.

    ``check`` is ``(kind, op, limit)`` (see the module docstring). ``incomplete`` says why the
    figure does not measure the whole workload (e.g. "stopped at call 400 of 3,600: time budget
    spent"): such a row fails its check whatever its figure.
    """
    if check is not None:
        kind, op, limit = check
        if kind not in KINDS or op not in OPS or not isinstance(limit, (int, float)):
            raise ValueError(f"bad check {check!r}: want (one of {KINDS}, '>=' or '<=', a number)")
        if kind == "ratio" and not baseline:
            raise ValueError(f"row {name!r} checks its ratio but has no baseline")
    scale = machine_slowdown() if check is not None and check[0] == "scaled" else None
    ratio = None
    if baseline and value:
        ratio = value / baseline if higher_is_better else baseline / value
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "target": target,
            "check": check, "quick_check": quick_check, "incomplete": incomplete, "slowdown": scale}


# -- the machine's speed, for "scaled" targets

# The issue's figures came from a machine on which bench_metrics' raw-apsw ingest (one row a
# point, executemany in one transaction) ran at 1.05M points/s (RESULTS.md of 2026-11-23:
# 1,035,730-1,071,928). The same work measured here gives this machine's slowdown.
ISSUE_RAW_POINTS_PER_S = 1_050_000
SLOWDOWN_FRESH_S = 60.0  # the shared machine's load changes: re-measure for rows made later
_SLOWDOWN: list[tuple[float, float]] = []  # (when measured, slowdown)


def raw_rows_seconds(tmp: str, rows: list[tuple]) -> float:
    """Seconds for raw apsw to insert ``(series, step, time, ts, value)`` rows in one transaction."""
    conn = apsw.Connection(os.path.join(tmp, f"raw-{len(os.listdir(tmp))}.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE points (series INTEGER, step INTEGER, time REAL, ts INTEGER, value REAL)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?)", rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def machine_slowdown() -> float:
    """How many times slower than the issue's machine this one is now: the median of 5 raw-apsw
    inserts of 100,000 points (the work of bench_metrics' baseline), re-measured when the last
    measure is over a minute old, as a shared machine's load comes and goes."""
    if not _SLOWDOWN or time.monotonic() - _SLOWDOWN[-1][0] > SLOWDOWN_FRESH_S:
        rows = [(k, i, 1e-3 * i, 1_700_000_000_000_000 + 1000 * i, math.sin(i + k))
                for i in range(10_000) for k in range(10)]
        times = []
        for _ in range(5):
            with tempfile.TemporaryDirectory() as tmp:
                times.append(raw_rows_seconds(tmp, rows))
        _SLOWDOWN.append((time.monotonic(), ISSUE_RAW_POINTS_PER_S / (len(rows) / statistics.median(times))))
    return _SLOWDOWN[-1][1]


# -- checking

def check_limit(r: dict) -> float | None:
    """The number the row's figure is compared with (None when the row has no check)."""
    if r.get("check") is None:
        return None
    kind, op, limit = r["check"]
    if kind != "scaled":
        return limit
    slow = r.get("slowdown") or machine_slowdown()  # measured when the row was made
    return limit * slow if op == "<=" else limit / slow  # a time grows, a rate shrinks


def check_row(r: dict, quick: bool) -> str | None:
    """None when the row meets its target (or is not checked); otherwise why it misses."""
    if r.get("check") is None or (quick and not r.get("quick_check", True)):
        return None
    kind, op, _limit = r["check"]
    limit = check_limit(r)
    got = r["ratio"] if kind == "ratio" else r["value"]
    note = f" ({r['incomplete']})" if r.get("incomplete") else ""
    if got is None or (isinstance(got, float) and math.isnan(got)):
        return f"{r['name']}: no figure to check{note}"
    if OPS[op](got, limit) and not r.get("incomplete"):
        return None
    what = "ratio" if kind == "ratio" else f"{r['unit']}"
    by = f": {got / limit:.2f}x the target" if limit else ""
    slow = r.get("slowdown") or machine_slowdown()
    scaled = f" (scaled to this machine, {slow:.2f}x slower)" if kind == "scaled" else ""
    return f"{r['name']}: {_num(got)} {what}, target {op} {_num(limit)} {what}{scaled}{by}{note}"


def check_status(r: dict, quick: bool) -> str:
    """The table's check column: pass, FAIL, not checked in quick mode, or empty."""
    if r.get("check") is None:
        return ""
    if quick and not r.get("quick_check", True):
        return "not checked (--quick)"
    kind, op, _limit = r["check"]
    target = f"{'ratio' if kind == 'ratio' else 'value'} {op} {_num(check_limit(r))}"
    return f"{'pass' if check_row(r, quick) is None else 'FAIL'}: {target}"


def failures(rows: list[dict], quick: bool) -> list[str]:
    """One line per row that misses its target."""
    return [msg for msg in (check_row(r, quick) for r in rows) if msg]


def is_open(r: dict, open_targets) -> bool:
    """The row's target is one not reached yet (its name starts with one of ``open_targets``)."""
    return r.get("check") is not None and r["name"].startswith(tuple(open_targets))


def _num(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"


def _fig(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 10 else f"{x:,.1f}"


def format_table(rows: list[dict], quick: bool = False) -> str:
    """A Markdown table of result rows, with each checked row's verdict."""
    lines = ["| benchmark | runlite | baseline (raw apsw unless named) | ratio (x baseline) | target | check |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = f"{_fig(r['baseline'])} {r['unit']}" if r["baseline"] else "-"
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else "-"
        lines.append(f"| {r['name']} | {_fig(r['value'])} {r['unit']} | {base} | {ratio} | {r['target']} "
                     f"| {check_status(r, quick)} |")
    return "\n".join(lines)
