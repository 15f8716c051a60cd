"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME] [--write]``.

Each figure is printed beside a baseline measured in the same run (raw apsw), as a ratio.
``--write`` replaces benchmarks/RESULTS.md with the table and the environment line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys

from .common import environment, format_table

SUITES = ["bench_runs"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="one repetition, smaller sizes")
    parser.add_argument("--only", action="append", help="run only these suites (e.g. bench_runs)")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows = []
    for name in args.only or SUITES:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name}...", file=sys.stderr, flush=True)
        rows.extend(module.run(quick=args.quick))
    table = format_table(rows)
    env = environment()
    print(table)
    print(f"\n{env}")
    if args.write:
        path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# Benchmark results\n\n")
            f.write(f"Measured {dt.date.today().isoformat()} with `python -m benchmarks --write` "
                    "(medians of 5 runs; ratios against raw apsw measured in the same run).\n\n")
            f.write(f"Environment: {env}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
