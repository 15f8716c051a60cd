"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME] [--write] [--check]``.

Each figure is printed beside a baseline measured in the same run (raw apsw), as a ratio.
Each suite runs in a new Python process (``common.in_fresh_interpreter``): none measures the
heap another left.
``--check`` runs the suites that carry targets (``CHECKED_SUITES``; all suites with ``--write``)
and exits with status 1 when a figure misses its target, naming each and by how much (targets
are data beside each row: see benchmarks/common.py). ``--check --quick`` is the CI mode: a few
minutes on 2 cores; rows whose quick figure is not meaningful are shown but not checked.
``--write`` replaces this mode's section of benchmarks/RESULTS.md (modes: "pure Python",
when numpy is absent or RUNLITE_PURE=1, and "numpy installed", numpy being an optional
accelerator of a few column operations).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys

from .common import (check_status, environment, failures, format_table, in_fresh_interpreter, is_open,
                     machine_slowdown)

SUITES = ["bench_runs", "bench_metrics", "bench_files_events", "bench_traces", "bench_recipes", "bench_archive", "bench_codec", "bench_report", "bench_serve", "bench_otel", "bench_ingest", "bench_reads", "bench_import", "bench_system", "bench_frames", "bench_readme", "bench_media", "bench_charts", "bench_viewer"]
# The suites whose rows carry targets (issue 18's goals and a few earlier ones).
CHECKED_SUITES = ["bench_charts", "bench_frames", "bench_import", "bench_ingest", "bench_reads", "bench_recipes",
                  "bench_runs", "bench_system", "bench_traces", "bench_viewer"]
# Targets not reached yet (row-name prefixes), as last measured for RESULTS.md: `--check` fails on
# them like on any other; `--check --reached` (CI's guard) leaves them out and lists them, so CI
# keeps every target already reached from slipping back without claiming the others.
OPEN_TARGETS: tuple[str, ...] = (
    "spans traced and written", "... and touch every field of every span",
    "ingest width 1:", "many small runs",
    "peers' workload",
)


def run_suite(name: str, quick: bool) -> list[dict]:
    """The rows of suite ``name``, measured in a new Python process."""
    return in_fresh_interpreter(name, "run", quick)


def _mode() -> str:
    if os.environ.get("RUNLITE_PURE"):
        return "pure Python"
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "pure Python"
    return "numpy installed"


def _write(table: str, env: str, mode: str) -> None:
    path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else (
        "# Benchmark results\n\nEvery figure is a median of 5 runs beside a raw-apsw baseline measured in the "
        "same run (`python -m benchmarks --write`; `RUNLITE_PURE=1` for the pure-Python section).\n")
    section = (f"## {mode}\n\nMeasured {dt.date.today().isoformat()}. Environment: {env}\n\n{table}\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(with_section(text, mode, section))


def with_section(text: str, mode: str, section: str) -> str:
    """RESULTS.md's ``text`` with the section of ``mode`` (its ``## `` title line on) replaced
    by ``section``, or added at the end. A whole run's (a mode without ": suites") also drops
    the sections of that mode's single-suite runs (``--only``), which it measured again."""
    pattern = re.compile(rf"^## {re.escape(mode)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    if ":" not in mode:
        text = re.sub(rf"^## {re.escape(mode)}: .*?(?=^## |\Z)", "", text, flags=re.S | re.M)
    return text.rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions (CI: --check --quick)")
    parser.add_argument("--only", action="append", help="run only these suites (e.g. bench_runs)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a figure misses its target (runs the suites with targets)")
    parser.add_argument("--reached", action="store_true",
                        help="with --check: check only the targets already reached (OPEN_TARGETS are listed, "
                             "not checked): CI's guard")
    args = parser.parse_args()
    unknown = sorted(set(args.only or ()) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; the suites are {', '.join(SUITES)}")
    suites = args.only or (CHECKED_SUITES if args.check and not args.write else SUITES)
    rows = []
    for name in suites:
        print(f"running {name}...", file=sys.stderr, flush=True)
        rows.extend(run_suite(name, args.quick))
    mode = _mode() + (f": {', '.join(args.only)}" if args.only else "")  # --only writes its own section
    table = format_table(rows, quick=args.quick)
    # bench_metrics' baseline work timed here against the issue's machine: below 1 when this one is faster
    env = (f"{environment()}; {mode}; raw-apsw inserts took {machine_slowdown():.2f}x the time they took"
           " on the issue's machine")
    print(table)
    print(f"\n{env}")
    if args.write:
        _write(table, env, mode)
    if not args.check:
        return 0
    if args.reached:
        still_open = [r for r in rows if is_open(r, OPEN_TARGETS)]
        rows = [r for r in rows if not is_open(r, OPEN_TARGETS)]
        if still_open:
            print(f"\n--reached: {len(still_open)} targets not reached yet, not checked:")
            for r in still_open:
                print(f"  OPEN {r['name']}: {check_status(r, args.quick)}")
    missed = failures(rows, args.quick)
    checked = sum(1 for r in rows if r.get("check") and (r.get("quick_check", True) or not args.quick))
    if missed:
        print(f"\n--check: {len(missed)} of {checked} checked figures miss their targets:")
        for line in missed:
            print(f"  MISS {line}")
        return 1
    print(f"\n--check: all {checked} checked figures meet their targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
