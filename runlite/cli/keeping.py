"""Commands that keep the file: demo, export, merge, verify, pack, backup, rm, gc, parquet."""

from __future__ import annotations

import argparse
import os
import sys

from .. import errors
from . import options
from .output import byte_size, can_ask, confirm, print_json, progress, short_time, table
from .paths import db_path, destination, existing, reader, writer

SHOWN_RUNS = 20  # runs a deletion lists before it asks


def cmd_demo(args: argparse.Namespace) -> int:
    """Write an example experiment run and a small trace tree, then show them.

    FILE is made when missing; an existing file keeps its runs beside the new ones."""
    from ..demo import write_demo

    with writer(args, create=True) as store:
        summary = write_demo(store)
    path = db_path(args)
    if args.json:
        print_json({"file": path, "wrote": summary})
        return 0
    print(f"wrote {path}:")
    for line in summary:
        print(f"  {line}")
    print(f"\nlist them with: runlite ls {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write chosen runs (whole traces, with everything theirs) to a new standalone file."""
    destination(args.dest, overwrite=args.overwrite, source=db_path(args))
    with reader(args) as store, progress("exporting") as update:
        counts = store.export(args.dest, run_ids=args.run or None, filter=args.where or None,
                              include_attachments=not args.no_files, progress=update, overwrite=args.overwrite)
    print_json(counts) if args.json else print(f"exported {counts.get('runs', 0)} runs to {args.dest}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Bring the runs of other runlite files into FILE.

    FILE is made when missing, once every source opens as a runlite file. Idempotent:
    merging a file again adds nothing; runs that grew are brought up to date. Each source
    all or nothing."""
    from .. import merge as merge_files

    path = db_path(args)
    _mergeable(args.sources, path)
    if os.path.isdir(path):
        existing(args)  # the error a directory gets
    with progress("merging") as update:
        results = merge_files(path, *args.sources, progress=update)  # FILE made once the sources open
    if args.json:
        print_json(results)
    else:
        for source, counts in zip(args.sources, results):
            print(f"{source}: {counts['runs_added']} runs added, {counts['series_copied']} series brought up to date")
    return 0


def _mergeable(sources: list[str], path: str) -> None:
    """Refuse before anything is merged a source that could never be: an empty path, none, a
    directory, FILE itself (else the sources before it would be merged, then the command fail)."""
    for source in sources:
        if not source:
            raise errors.ValidationError("a source is an empty path")
        if os.path.isdir(source):
            raise errors.ValidationError(f"{source!r} is a directory, not a runlite file")
        if not os.path.isfile(source):
            raise errors.NotFoundError(f"no file at {source!r} to merge")
        if os.path.exists(path) and os.path.samefile(source, path):
            raise errors.ValidationError(f"{source!r} is the runlite file itself: a store cannot merge itself")


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the whole file; exit 1 when anything is wrong."""
    with reader(args) as store, progress("verifying") as update:
        report = store.verify(progress=update)
    if args.json:
        print_json(report.to_dict())
    else:
        print("ok" if report.ok else "\n".join(report.problems))
        print(", ".join(f"{v} {k}" for k, v in report.checked.items()), file=sys.stderr)
    return 0 if report.ok else 1


def _reclaim_line(found: dict) -> str:
    return (f"would reclaim at least {byte_size(found['blob_bytes'] + found['free_bytes'])}: "
            f"{found['blobs_unused']} unused files ({byte_size(found['blob_bytes'])}) and "
            f"{byte_size(found['free_bytes'])} of free pages")


def cmd_pack(args: argparse.Namespace) -> int:
    """Drop content no run uses and reclaim space (in place, or into --dest; --dry-run says how much)."""
    if args.dest is not None:
        destination(args.dest, overwrite=args.overwrite, source=db_path(args))
    with writer(args) as store:
        if args.dry_run:
            found = store.pack(dry_run=True)
            print_json({"dry_run": True, **found}) if args.json else print(_reclaim_line(found))
            return 0
        with progress("packing") as update:
            done = store.pack(dest=args.dest, progress=update, overwrite=args.overwrite)
    if args.json:
        print_json(done)
    else:
        print(f"dropped {done['blobs_dropped']} unused blobs" + (f"; packed copy: {args.dest}" if args.dest else ""))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the file while jobs keep writing."""
    destination(args.dest, overwrite=args.overwrite, source=db_path(args))
    with reader(args) as store:
        store.backup(args.dest, overwrite=args.overwrite)
    print_json({"backup": args.dest}) if args.json else print(args.dest)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """Delete runs with their descendants and everything theirs (asks first).

    Runs by id, unique name or id prefix, by Simvue filter (--where) and/or by age
    (--older-than); their child runs and spans go with them. Content they leave unused stays
    until pack or gc. --dry-run lists what would go."""
    return _delete(args, pack=args.pack)


def cmd_gc(args: argparse.Namespace) -> int:
    """Delete runs as rm does (when any are chosen), then pack: reclaim the space."""
    return _delete(args, pack=True)


def _delete(args: argparse.Namespace, *, pack: bool) -> int:
    path = db_path(args)
    chosen = bool(args.runs or args.where or args.older_than is not None)
    if chosen and not args.dry_run:
        can_ask(args)
    with writer(args) as store:
        doomed = []
        if chosen:
            doomed = store.runs_to_delete(args.runs or None, filter=args.where or None, older_than=args.older_than)
        tops = _chosen(store, doomed)
        said = f"{len(doomed)} runs from {path}" + (f" ({len(tops)} chosen, and {len(doomed) - len(tops)} runs under "
                                                    "them)" if len(tops) < len(doomed) else "")
        if args.dry_run:
            found = store.pack(dry_run=True) if pack else None
            if args.json:
                print_json({"dry_run": True, "runs": doomed, "reclaimable": found})
                return 0
            print(f"would delete {said}" + (":" if doomed else ""))
            _print_runs(tops)
            if found is not None:
                print(_reclaim_line(found) + " (and what the deleted runs leave unused)")
            print("nothing changed (--dry-run)")
            return 0
        if doomed and not args.yes:  # what is about to go, before the question (on stderr, as the question)
            print(f"deleting {said}:", file=sys.stderr)
            _print_runs(tops, sys.stderr)
        if doomed and not confirm(f"delete these {len(doomed)} runs?", args):
            print("runlite: nothing deleted", file=sys.stderr)
            return 1
        deleted = store.delete_runs(doomed) if doomed else 0
        packed = None
        if pack:
            with progress("packing") as update:
                packed = store.pack(progress=update)
    if args.json:
        print_json({"deleted": deleted, "runs": doomed, "packed": packed})
    else:
        print(f"deleted {deleted} runs" + ("; packed" if pack else ""))
    return 0


def _chosen(store, doomed: list[str]) -> list:
    """The records of the runs a deletion chose: those of ``doomed`` whose parent is not going
    too (the others are their child runs and spans), in ``doomed``'s order."""
    records = {}
    for start in range(0, len(doomed), 500):  # a bounded number of ids a query
        records.update((r.id, r) for r in store.list_runs(run_ids=doomed[start:start + 500]))
    going = set(doomed)
    return [records[i] for i in doomed if i in records and records[i].parent_run_id not in going]


def _print_runs(listing: list, stream=None) -> None:
    shown = listing[:SHOWN_RUNS]
    if shown:
        rows = [[r.id, r.name, r.run_type or r.kind, short_time(r.start_time)] for r in shown]
        print("\n".join("  " + line for line in table(rows, ["id", "name", "type", "started"]).splitlines()),
              file=stream)
    if len(listing) > len(shown):
        print(f"  ... and {len(listing) - len(shown)} more", file=stream)


def cmd_parquet(args: argparse.Namespace) -> int:
    """Write runs, points, events and alerts as Parquet datasets (needs runlite[parquet]).

    A dataset runlite wrote at DEST is brought up to date: only new or changed runs are
    written (--overwrite rebuilds it)."""
    from ..parquet import export_parquet  # pyarrow itself when called: an ImportError main words

    destination(args.dest, overwrite=args.overwrite, folder=True)
    with reader(args) as store, progress("writing Parquet") as update:
        counts = export_parquet(store, args.dest, run_ids=args.run or None, overwrite=args.overwrite,
                                progress=update)
    print_json(counts) if args.json else print(f"wrote {args.dest}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def register(command) -> None:
    """The commands that keep the file, made with ``command(name, func, ...)`` (``main.build_parser``)."""
    command("demo", cmd_demo, untrusted=False)
    p = command("export", cmd_export)
    p.add_argument("dest", metavar="DEST", help="the new file to write")
    chosen = p.add_mutually_exclusive_group()  # runs by name or by filter
    chosen.add_argument("--run", action="append", type=options.given, metavar="RUN",
                        help="a run to export (repeatable; default: all)")
    chosen.add_argument("--where", action="append", metavar="FILTER",
                        help="a Simvue filter choosing the runs (repeatable)")
    p.add_argument("--no-files", action="store_true", help="leave saved files and attachments out")
    options.add_overwrite(p)
    p = command("merge", cmd_merge, untrusted=False)
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="runlite files to merge into FILE")
    command("verify", cmd_verify)
    p = command("pack", cmd_pack, untrusted=False)
    p.add_argument("--dest", help="write a compact copy here instead of packing in place")
    options.add_overwrite(p, "--dest")
    p.add_argument("--dry-run", action="store_true", help="say how much would be reclaimed; change nothing")
    p = command("backup", cmd_backup)
    p.add_argument("dest", metavar="DEST", help="where to write the copy")
    options.add_overwrite(p)
    for name, func in (("rm", cmd_rm), ("gc", cmd_gc)):
        p = command(name, func, untrusted=False)
        p.add_argument("runs", nargs="*", type=options.given, metavar="RUN",
                       help="runs by id, unique name or unique id prefix")
        p.add_argument("--where", action="append", metavar="FILTER", help="a Simvue filter choosing the runs (repeatable)")
        p.add_argument("--older-than", type=options.moment, metavar="TIME",
                       help="runs that ended before TIME: ISO-8601, epoch seconds, or a duration ago (30d, 12h)")
        if name == "rm":
            p.add_argument("--pack", action="store_true", help="then drop unused content and reclaim space")
        options.add_asking(p, "deleted" + (" and reclaimed" if name == "gc" else ""))
    p = command("parquet", cmd_parquet)
    p.add_argument("dest", metavar="DEST", help="a directory for the Parquet datasets")
    p.add_argument("--run", action="append", type=options.given, metavar="RUN",
                   help="a run to write (repeatable; default: all)")
    options.add_overwrite(p, "DEST: rebuild the datasets, or replace a directory holding something else")
