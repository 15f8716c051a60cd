"""The ``runlite`` command: thin over the public API.

Errors print one line on stderr and exit 1 (2 for usage errors); no tracebacks for user
mistakes. ``--json`` output is for programs; tables are for people.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from . import __version__, errors
from . import open as open_store

DEFAULT_DB = "runs.db"


def _db_path(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("RUNLITE_DB") or DEFAULT_DB


def _short_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cmd_demo(args: argparse.Namespace) -> int:
    """Write an example experiment run and a small trace tree, then show them."""
    from .demo import write_demo

    path = _db_path(args)
    with open_store(path) as store:
        summary = write_demo(store)
    print(f"wrote {path}:")
    for line in summary:
        print(f"  {line}")
    print(f"\nlist them with: runlite ls {path}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    """List runs, newest first."""
    with open_store(_db_path(args), read_only=True) as store:
        runs = store.runs(folder=args.folder, status=args.status, limit=args.limit)
    if args.json:
        _print_json([r.to_dict() for r in runs])
        return 0
    rows = [[r.id, r.name, r.status, r.folder, r.run_type or r.kind, _short_time(r.start_time),
             ",".join(r.tags)] for r in runs]
    print(_table(rows, ["id", "name", "status", "folder", "type", "started", "tags"]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show one run (by id or unique name)."""
    with open_store(_db_path(args), read_only=True) as store:
        record = store.get_run(args.run)
    data = record.to_dict()
    if args.json:
        _print_json(data)
        return 0
    for key in ("id", "name", "status", "kind", "run_type", "folder", "description", "created",
                "started", "endtime", "trace_id", "parent_run_id", "child_run_ids", "tags",
                "metadata", "inputs", "outputs", "error"):
        value = data.get(key)
        if value in (None, [], {}):
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        print(f"{key:>14}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="runlite", description="Runs in one SQLite file.")
    parser.add_argument("--version", action="version", version=f"runlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def db_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("db", nargs="?", help=f"the runlite file (default: $RUNLITE_DB or {DEFAULT_DB})")

    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    db_arg(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ls", help=cmd_ls.__doc__, description=cmd_ls.__doc__)
    db_arg(p)
    p.add_argument("--folder", help="only runs in this folder, e.g. /sweeps")
    p.add_argument("--status", help="only runs with this status (lost included)")
    p.add_argument("--limit", type=int, help="at most this many runs")
    p.add_argument("--json", action="store_true", help="JSON for programs")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("show", help=cmd_show.__doc__, description=cmd_show.__doc__)
    p.add_argument("run", help="a run id or unique name")
    db_arg(p)
    p.add_argument("--json", action="store_true", help="JSON for programs")
    p.set_defaults(func=cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runlite`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except errors.RunliteError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"runlite: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
