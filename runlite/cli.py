"""The ``runlite`` command: thin over the public API.

Errors print one line on stderr and exit 1 (2 for usage errors); no tracebacks for user
mistakes. ``--json`` output is for programs; tables are for people. Exit codes: 0 success,
1 an error or (``verify``) a problem found, 2 a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, Sequence

from . import __version__, errors
from . import merge as merge_files
from . import open as open_store
from .langsmith import push as push_mod

DEFAULT_DB = "runs.db"


def _db_path(args: argparse.Namespace) -> str:
    return getattr(args, "db_pos", None) or args.db or os.environ.get("RUNLITE_DB") or DEFAULT_DB


def _reader(args: argparse.Namespace):
    """The store opened for reading (checked and read as untrusted with --untrusted)."""
    return open_store(_db_path(args), read_only=True, untrusted=bool(getattr(args, "untrusted", False)))


def _short_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _json_safe(value: Any) -> Any:
    """JSON without NaN/Infinity tokens: non-finite floats become the strings "NaN", "Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_json_safe(value), indent=2, ensure_ascii=False, default=str, allow_nan=False))


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _bar(label: str, fraction: float | None, seconds: float) -> str:
    if fraction is None:  # before the operation has said how far it is
        return f"\rrunlite: {label}... {seconds:5.1f} s"
    filled = int(fraction * 30)
    return f"\rrunlite: {label} [{'#' * filled}{' ' * (30 - filled)}] {fraction:4.0%} {seconds:5.1f} s"


@contextlib.contextmanager
def _progress(label: str, stream=None) -> Iterator[Any]:
    """A progress bar on stderr while a long operation runs, when stderr is a terminal.

    Yields ``update(done, total)`` for operations that know how far they are; others show
    the elapsed time.
    """
    stream = stream or sys.stderr
    state: dict = {"fraction": None}

    def update(done: int, total: int) -> None:
        state["fraction"] = done / total if total else 1.0

    if not stream.isatty():
        yield update
        return
    finished = threading.Event()
    start = time.monotonic()

    def draw() -> None:
        while not finished.wait(0.2):
            stream.write(_bar(label, state["fraction"], time.monotonic() - start))
            stream.flush()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        yield update
    finally:
        finished.set()
        thread.join()
        stream.write(f"\rrunlite: {label}: done in {time.monotonic() - start:.1f} s" + " " * 40 + "\n")


# ---------------------------------------------------------------- commands


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
    with _reader(args) as store:
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
    with _reader(args) as store:
        data = store.get_run(args.run).to_dict()
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


def cmd_metrics(args: argparse.Namespace) -> int:
    """Metric names with summaries, or one metric's points as CSV or JSON."""
    with _reader(args) as store:
        if args.name is None:
            rows = []
            for name, asset, count in store.metric_series(args.run):
                s = store.metric_summary(args.run, name, asset=asset)
                rows.append({"name": name, "asset": asset, **s.to_dict()})
            if args.json:
                _print_json(rows)
            else:
                print(_table([[r["name"], r["asset"] or "", str(r["count"]), _fmt(r["min"]), _fmt(r["max"]),
                               _fmt(r["avg"]), _fmt(r["last"])] for r in rows],
                             ["name", "asset", "count", "min", "max", "avg", "last"]))
            return 0
        series = store.metric_values(args.run, args.name, asset=args.asset, xaxis=args.xaxis,
                                     max_points=args.max_points)
    columns = list(zip(series.steps, series.times, series.timestamps, series.values))
    if args.json:
        _print_json([{"step": s, "time": t, "timestamp": ts, "value": v} for s, t, ts, v in columns])
        return 0
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["step", "time", "timestamp_us", "value"])
    for s, t, ts, v in columns:
        out.writerow([s, repr(t), ts, repr(v)])  # repr: exact floats, nan/inf spelled out
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """A run's events in time order."""
    with _reader(args) as store:
        events = store.events(args.run, level=args.level, contains=args.contains, limit=args.limit)
    if args.json:
        _print_json([e.to_dict() for e in events])
        return 0
    for e in events:
        text = e.message if e.message is not None else json.dumps(e.kwargs or {}, ensure_ascii=False)
        print(f"{e.time.isoformat()}  {e.level or e.name or '-':8}  {text}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    """A run's saved files: list them, write one to stdout (--cat), or restore them (--restore)."""
    with _reader(args) as store:
        if args.cat is not None:
            with store.open_attachment(args.run, args.cat) as f:
                while chunk := f.read(1 << 20):
                    sys.stdout.buffer.write(chunk)
            return 0
        if args.restore is not None:
            for path in store.restore(args.run, args.restore, category=args.category):
                print(path)
            return 0
        items = store.attachments(args.run, category=args.category)
    if args.json:
        _print_json([a.to_dict() for a in items])
        return 0
    print(_table([[a.name, a.category or "", a.mime_type, str(a.size), a.sha256[:12]] for a in items],
                 ["name", "category", "type", "bytes", "sha256"]))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """Alerts and their states (of one run, or of every run)."""
    with _reader(args) as store:
        states = store.alerts(args.run, critical_only=args.critical)
    if args.json:
        _print_json([s.to_dict() for s in states])
        return 0
    print(_table([[s.run_id, s.name, s.source, s.state, _short_time(s.changed)] for s in states],
                 ["run", "alert", "source", "state", "changed"]))
    return 0


def _tree_lines(root: Any) -> Iterator[str]:
    """One line per span, indented by depth (an explicit stack: traces may be thousands deep)."""
    stack = [(root, 0)]
    while stack:
        rec, depth = stack.pop()
        latency = f"{rec.latency:.3f}s" if rec.latency is not None else "-"
        tokens = f" {rec.total_tokens} tok" if rec.total_tokens else ""
        error = " ERROR" if rec.error else ""
        yield f"{'  ' * depth}{rec.name} [{rec.run_type or rec.kind}] {rec.status} {latency}{tokens}{error}"
        stack.extend((child, depth + 1) for child in reversed(rec.child_runs))


def _tree_json(root: Any) -> Iterator[str]:
    """The nested ``to_dict()`` of a trace as JSON text, written with an explicit stack (the json
    module recurses once per level of ``child_runs``); each run's own fields are shallow."""
    stack: list = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        fields = item.to_dict(child_runs=False)
        del fields["child_runs"]  # written below, around the children
        text = json.dumps(_json_safe(fields), ensure_ascii=False, default=str, allow_nan=False)
        kids = item.child_runs
        if not kids:
            yield text[:-1] + ', "child_runs": []}'
            continue
        yield text[:-1] + ', "child_runs": ['
        stack.append("]}")
        for i, child in enumerate(reversed(kids)):
            stack.append(child)
            if i < len(kids) - 1:
                stack.append(", ")


def cmd_trace(args: argparse.Namespace) -> int:
    """A trace as a tree (give any run of it)."""
    with _reader(args) as store:
        tree = store.trace(store.get_run(args.run).trace_id)
        if args.json:
            print("".join(_tree_json(tree)))
            return 0
        lines = list(_tree_lines(tree))
    print("\n".join(lines))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Runs matching Simvue filters (arguments) or a LangSmith filter (--filter)."""
    with _reader(args) as store:
        if args.filter is not None:
            runs = store.list_runs(filter=args.filter, limit=args.limit)
        else:
            runs = store.get_runs(args.filters or None, limit=args.limit)
        if args.json:
            _print_json([r.to_dict() for r in runs])
            return 0
        rows = [[r.id, r.name, r.status, r.run_type or r.kind, _short_time(r.start_time)] for r in runs]
    print(_table(rows, ["id", "name", "status", "type", "started"]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write chosen runs (whole traces, with everything theirs) to a new standalone file."""
    with _reader(args) as store, _progress("exporting") as update:
        counts = store.export(args.dest, run_ids=args.run or None, filter=args.where or None,
                              include_attachments=not args.no_files, progress=update)
    _print_json(counts) if args.json else print(f"exported {counts.get('runs', 0)} runs to {args.dest}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Bring the runs of other runlite files in (idempotent; each file all or nothing)."""
    with _progress("merging") as update:
        results = merge_files(_db_path(args), *args.sources, progress=update)
    if args.json:
        _print_json(results)
    else:
        for source, counts in zip(args.sources, results):
            print(f"{source}: {counts['runs_added']} runs added, {counts['series_copied']} series brought up to date")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the whole file; exit 1 when anything is wrong."""
    with _reader(args) as store, _progress("verifying") as update:
        report = store.verify(progress=update)
    if args.json:
        _print_json(report.to_dict())
    else:
        print("ok" if report.ok else "\n".join(report.problems))
        print(", ".join(f"{v} {k}" for k, v in report.checked.items()), file=sys.stderr)
    return 0 if report.ok else 1


def cmd_pack(args: argparse.Namespace) -> int:
    """Drop content no run uses and reclaim space (in place, or into --dest)."""
    with open_store(_db_path(args)) as store, _progress("packing") as update:
        done = store.pack(dest=args.dest, progress=update)
    print(f"dropped {done['blobs_dropped']} unused blobs" + (f"; packed copy: {args.dest}" if args.dest else ""))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the file while jobs keep writing."""
    with _reader(args) as store:
        store.backup(args.dest, overwrite=args.overwrite)
    print(args.dest)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """Delete runs (with their descendants): by id/name, Simvue filter (--where) or age (--older-than)."""
    chosen = args.runs or args.where or args.older_than
    with open_store(_db_path(args)) as store:
        n = store.delete_runs(args.runs or None, filter=args.where or None, older_than=args.older_than) if chosen else 0
        packed = args.pack or args.command == "gc"
        if packed:
            store.pack()
    print(f"deleted {n} runs" + ("; packed" if packed else ""))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    """Delete runs as rm does (if any are chosen), then drop unused content and reclaim space."""
    return cmd_rm(args)


def cmd_parquet(args: argparse.Namespace) -> int:
    """Write runs, points, events and alerts as Parquet datasets; again, only new or changed runs (runlite[parquet])."""
    from .parquet import export_parquet

    with _reader(args) as store, _progress("writing Parquet") as update:
        counts = export_parquet(store, args.dest, run_ids=args.run or None, overwrite=args.overwrite,
                                progress=update)
    _print_json(counts) if args.json else print(f"wrote {args.dest}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only SQL statement (row and time limits; reads only)."""
    with _reader(args) as store:
        result = store.sql(args.query, max_rows=args.limit, timeout=args.timeout)
    if result.truncated:
        print(f"runlite: stopped at {args.limit} rows (--limit)", file=sys.stderr)
    if args.json:
        _print_json(result.to_dicts())
    elif result.rows:
        print(_table([[_fmt(c) if not isinstance(c, bytes) else f"<{len(c)} bytes>" for c in r] for r in result.rows],
                     list(result.columns)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write an HTML report of runs: one self-contained file (charts, events, alerts, files, traces)."""
    from .ui.report import report_html

    with _reader(args) as store:
        data = report_html(store, args.runs, title=args.title).encode("utf-8")
    out = args.output
    tmp = f"{out}.{os.getpid()}.tmp"
    try:  # a temporary file renamed into place: a reader never sees half a report
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        print(f"runlite: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{out} ({len(data) / 1024:,.1f} KiB)")
    return 0


def _stop_on_signals() -> None:
    """A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored:
    servers promise to stop on Ctrl-C (SIGINT) and on SIGTERM, however they were started."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def cmd_ui(args: argparse.Namespace) -> int:
    """Look at the runs in a browser: a local read-only viewer (127.0.0.1 only) until Ctrl-C."""
    from .ui.viewer import serve

    path = _db_path(args)
    _stop_on_signals()
    try:
        server = serve(path, port=args.port, untrusted=bool(args.untrusted))
    except OSError as exc:  # the port is taken, or not ours to use
        raise errors.ValidationError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    try:
        print(f"runlite: viewing {path} at {server.url} (read-only; Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """A LangSmith-compatible server and the viewer over one file: LANGSMITH_ENDPOINT=<its URL>."""
    from .server import serve

    _stop_on_signals()
    key = args.api_key or os.environ.get("RUNLITE_API_KEY")
    try:
        server = serve(_db_path(args), host=args.host, port=args.port, api_key=key, max_body=args.max_body,
                       log_requests=args.log_requests)
    except OSError as exc:
        raise errors.ValidationError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"runlite: serving {server.store.path} at {server.url} (LangSmith API and viewer; Ctrl-C to stop)",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # the signal that stopped it, raised again once stopped
        server.run()
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """Send traces, whole, to LangSmith or a `runlite serve` (--langsmith), or as OTel spans to any OTLP endpoint."""
    with _reader(args) as store, _progress("pushing") as update:
        return push_mod.command(store, args, update)


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="runlite", description="Runs in one SQLite file.")
    parser.add_argument("--version", action="version", version=f"runlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.set_defaults(commands=sub.choices)  # the subcommands by name, for reference()

    def command(name: str, func, *, db_positional: bool = False, json_flag: bool = True):
        p = sub.add_parser(name, help=func.__doc__.splitlines()[0], description=func.__doc__)
        p.add_argument("--db", help=f"the runlite file (default: $RUNLITE_DB or {DEFAULT_DB})")
        if db_positional:
            p.add_argument("db_pos", nargs="?", metavar="DB", help="the runlite file (same as --db)")
        if name not in ("demo", "merge", "pack", "rm", "gc", "serve"):
            p.add_argument("--untrusted", action="store_true",
                           help="a file from someone else: check it first and read it with the untrusted profile")
        if json_flag:
            p.add_argument("--json", action="store_true", help="JSON for programs")
        p.set_defaults(func=func)
        return p

    command("demo", cmd_demo, db_positional=True, json_flag=False)
    p = command("ls", cmd_ls, db_positional=True)
    p.add_argument("--folder", help="only runs in this folder, e.g. /sweeps")
    p.add_argument("--status", help="only runs with this status (lost included)")
    p.add_argument("--limit", type=int, help="at most this many runs")
    p = command("show", cmd_show, json_flag=True)
    p.add_argument("run", help="a run id or unique name")
    p.add_argument("db_pos", nargs="?", metavar="DB", help="the runlite file (same as --db)")
    p = command("metrics", cmd_metrics)
    p.add_argument("run", help="a run id or unique name")
    p.add_argument("name", nargs="?", help="a metric name: print its points (CSV, or JSON with --json)")
    p.add_argument("--asset", help="the series of this asset")
    p.add_argument("--xaxis", default="step", choices=("step", "time", "timestamp"))
    p.add_argument("--max-points", type=int, help="downsample to at most this many points")
    p = command("events", cmd_events)
    p.add_argument("run", help="a run id or unique name")
    p.add_argument("--level", help="debug, info, warning, error or critical")
    p.add_argument("--contains", help="only messages containing this text")
    p.add_argument("--limit", type=int)
    p = command("files", cmd_files)
    p.add_argument("run", help="a run id or unique name")
    p.add_argument("--category", choices=("input", "output", "code"))
    p.add_argument("--cat", metavar="NAME", help="write this file's content to stdout")
    p.add_argument("--restore", metavar="DEST", help="write the files under DEST with their saved paths")
    p = command("alerts", cmd_alerts)
    p.add_argument("run", nargs="?", help="a run id or name (default: every run)")
    p.add_argument("--critical", action="store_true", help="only alerts that are critical")
    p = command("trace", cmd_trace)
    p.add_argument("run", help="any run of the trace (id or unique name)")
    p = command("query", cmd_query)
    p.add_argument("filters", nargs="*", help="Simvue filters, ANDed, e.g. 'metadata.lr > 0.01' 'has tag.x'")
    p.add_argument("--filter", help='a LangSmith filter instead, e.g. \'and(eq(run_type, "llm"), gt(latency, 2))\'')
    p.add_argument("--limit", type=int)
    p = command("export", cmd_export)
    p.add_argument("dest", help="the new file to write")
    p.add_argument("--run", action="append", help="a run to export (repeatable; default: all)")
    p.add_argument("--where", action="append", help="a Simvue filter choosing the runs (repeatable)")
    p.add_argument("--no-files", action="store_true", help="leave saved files and attachments out")
    p = command("merge", cmd_merge)
    p.add_argument("sources", nargs="+", help="runlite files to merge into the store")
    command("verify", cmd_verify)
    p = command("pack", cmd_pack, json_flag=False)
    p.add_argument("--dest", help="write a compact copy here instead of packing in place")
    p = command("backup", cmd_backup, json_flag=False)
    p.add_argument("dest", help="where to write the copy")
    p.add_argument("--overwrite", action="store_true")
    for name, func in (("rm", cmd_rm), ("gc", cmd_gc)):
        p = command(name, func, json_flag=False)
        p.add_argument("runs", nargs="*", help="run ids or unique names")
        p.add_argument("--where", action="append", help="a Simvue filter choosing the runs (repeatable)")
        p.add_argument("--older-than", help="runs that ended before this time (ISO-8601 or epoch seconds)")
        p.add_argument("--pack", action="store_true", help="then drop unused content and reclaim space")
    p = command("parquet", cmd_parquet)
    p.add_argument("dest", help="a directory for the Parquet datasets")
    p.add_argument("--run", action="append", help="a run to write (repeatable; default: all)")
    p.add_argument("--overwrite", action="store_true", help="rebuild: first remove what an export wrote in dest")
    p = command("sql", cmd_sql)
    p.add_argument("query", help="one SELECT statement")
    p.add_argument("--limit", type=int, default=1000, help="stop after this many rows (default 1000)")
    p.add_argument("--timeout", type=float, default=10.0, help="stop after this many seconds (default 10)")
    p = command("report", cmd_report, json_flag=False)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or unique names (runs overlaid in one report)")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", help="the report's title (default: from the run names)")
    p = command("ui", cmd_ui, db_positional=True, json_flag=False)
    p.add_argument("--port", type=int, default=8765, help="the port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, just print the address")
    p = command("serve", cmd_serve, db_positional=True, json_flag=False)
    p.add_argument("--port", type=int, default=1984, help="the port (default 1984; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="the address (default 127.0.0.1; others need --api-key)")
    p.add_argument("--api-key", help="refuse requests without this key (x-api-key); or $RUNLITE_API_KEY")
    p.add_argument("--max-body", type=int, default=64 << 20, help="the largest request body in bytes (default 64 MiB)")
    p.add_argument("--log-requests", action="store_true", help="print a line per request")
    push_mod.add_arguments(command("push", cmd_push))
    return parser


def reference() -> str:
    """The Markdown command reference (docs/cli.md), made from ``--help``."""
    commands = build_parser().get_default("commands")
    out = ["# runlite command line", "",
           "Generated from `runlite COMMAND --help` (`python -m runlite.cli --reference > docs/cli.md`).", ""]
    for name, p in commands.items():
        out += [f"## runlite {name}", "", "```", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runlite`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--reference"]:
        print(reference())
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "rm" and not (args.runs or args.where or args.older_than):
        parser.error("rm needs run ids, --where or --older-than")
    try:
        return args.func(args)
    except (errors.RunliteError, ImportError) as exc:  # ImportError: an optional extra that is not installed
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"runlite: error: {message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
