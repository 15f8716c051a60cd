"""Commands that read runs: ls, show, metrics, events, files, alerts, trace, query, sql."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

from .. import errors
from ..storage.events import LEVELS
from ..storage.schema import RUN_STATUSES
from . import options
from .output import fmt, print_json, printable, short_time, table, tree_json, tree_lines
from .paths import destination, reader

RUN_HELP = "a run id, a unique run name, or a unique prefix of an id (4 or more hex digits)"
SHOWN_EVENTS = 5  # the last events `show` prints by default


def cmd_ls(args: argparse.Namespace) -> int:
    """List runs, newest first: the top-level ones (spans and child runs too with --all)."""
    with reader(args) as store:
        runs = store.runs(folder=args.folder, status=args.status, limit=args.limit,
                          is_root=None if args.all else True)
        if args.json:
            print_json([r.to_dict() for r in runs])
            return 0
        rows = [[r.id, r.name, r.status, r.folder, r.run_type or r.kind, short_time(r.start_time),
                 ",".join(r.tags)] for r in runs]
    print(table(rows, ["id", "name", "status", "folder", "type", "started", "tags"]))
    return 0


def _metric_rows(store, run_id: str) -> list[dict]:
    rows = []
    for name, asset, _count in store.metric_series(run_id):
        s = store.metric_summary(run_id, name, asset=asset).to_dict()
        rows.append({"name": name, "asset": asset, "count": s["count"], "last": s["last"], "min": s["min"],
                     "max": s["max"], "avg": s["avg"]})
    return rows


def _metric_table(rows: list[dict]) -> str:
    return table([[r["name"], r["asset"] or "", str(r["count"]), fmt(r["last"]), fmt(r["min"]), fmt(r["max"]),
                   fmt(r["avg"])] for r in rows], ["name", "asset", "count", "last", "min", "max", "avg"])


def _event_line(e) -> str:
    text = e.message if e.message is not None else json.dumps(e.kwargs or {}, ensure_ascii=False)
    return printable(f"{e.time.isoformat()}  {e.level or e.name or '-':8}  {text}")


def _files_table(items: list) -> str:
    return table([[a.name, a.category or "", a.mime_type, str(a.size), a.sha256[:12]] for a in items],
                 ["name", "category", "type", "bytes", "sha256"])


def _alerts_table(states: list, *, runs: bool = True) -> str:
    headers = ["alert", "source", "state", "changed"]
    rows = [[s.name, s.source, s.state, short_time(s.changed)] for s in states]
    if runs:  # alerts of every run: say whose
        headers, rows = ["run"] + headers, [[s.run_id] + row for s, row in zip(states, rows)]
    return table(rows, headers)


def cmd_show(args: argparse.Namespace) -> int:
    """Show one run: its fields, metrics, last events, files and alerts.

    Metrics with their count, last, min, max and mean; the last --events events (log messages
    and named events) and how many there are. With --json: the run's fields and "metrics",
    "event_count", "events", "files" and "alerts"."""
    with reader(args) as store:
        record = store.get_run(args.run)
        data = record.to_dict()
        metrics = _metric_rows(store, record.id)
        count = store.event_count(record.id)
        events = store.events(record.id, offset=max(0, count - args.events)) if args.events else []
        files = store.attachments(record.id)
        alerts = store.alerts(record.id)
    if args.json:
        print_json({**data, "metrics": metrics, "event_count": count, "events": [e.to_dict() for e in events],
                    "files": [a.to_dict() for a in files], "alerts": [s.to_dict() for s in alerts]})
        return 0
    for key in ("id", "name", "status", "kind", "run_type", "folder", "description", "created",
                "started", "endtime", "trace_id", "parent_run_id", "child_run_ids", "tags",
                "metadata", "inputs", "outputs", "error"):
        value = record.status if key == "status" else data.get(key)  # runlite's word, as ls and --status
        if value in (None, [], {}):
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        print(printable(f"{key:>14}: {value}"))
    sections = [(f"metrics ({len(metrics)})", _metric_table(metrics) if metrics else ""),
                (f"events ({count}" + (f", the last {len(events)}" if 0 < len(events) < count else "") + ")",
                 "\n".join(_event_line(e) for e in events)),
                (f"files ({len(files)})", _files_table(files) if files else ""),
                (f"alerts ({len(alerts)})", _alerts_table(alerts, runs=False) if alerts else "")]
    for title, body in sections:
        print(f"\n{title}" + (":\n" + "\n".join("  " + line for line in body.splitlines()) if body else ""))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    """A run's metrics with their summaries, or one metric's points as CSV or JSON."""
    with reader(args) as store:
        if args.name is None:
            rows = _metric_rows(store, store.run_id(args.run))
            print_json(rows) if args.json else print(_metric_table(rows))
            return 0
        series = store.metric_values(args.run, args.name, asset=args.asset, xaxis=args.xaxis,
                                     max_points=args.max_points)
    columns = list(zip(series.steps, series.times, series.timestamps, series.values))
    if args.json:
        print_json([{"step": s, "time": t, "timestamp": ts, "value": v} for s, t, ts, v in columns])
        return 0
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["step", "time", "timestamp_us", "value"])
    for s, t, ts, v in columns:
        out.writerow([s, repr(t), ts, repr(v)])  # repr: exact floats, nan/inf spelled out
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """A run's events in time order."""
    with reader(args) as store:
        events = store.events(args.run, level=args.level, contains=args.contains, limit=args.limit)
    if args.json:
        print_json([e.to_dict() for e in events])
        return 0
    for e in events:
        print(_event_line(e))
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    """A run's saved files: list them, write one to stdout (--cat), or restore them (--restore)."""
    with reader(args) as store:
        if args.cat is not None:
            with store.open_attachment(args.run, args.cat) as f:
                while chunk := f.read(1 << 20):
                    sys.stdout.buffer.write(chunk)
            return 0
        items = store.attachments(args.run, category=args.category)
        if args.restore is not None:
            destination(args.restore, overwrite=args.overwrite, folder=True)
            if not args.overwrite:
                for a in items:
                    if os.path.lexists(target := os.path.join(args.restore, a.name)):
                        raise errors.ValidationError(f"{target!r} exists: pass --overwrite to replace it")
            written = store.restore(args.run, args.restore, category=args.category)
            print_json(written) if args.json else print("\n".join(written))
            return 0
    print_json([a.to_dict() for a in items]) if args.json else print(_files_table(items))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """Alerts and their states (of one run, or of every run)."""
    with reader(args) as store:
        states = store.alerts(args.run, critical_only=args.critical)
    print_json([s.to_dict() for s in states]) if args.json else print(_alerts_table(states))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """A trace as a tree (give any run of it)."""
    with reader(args) as store:
        tree = store.trace(store.get_run(args.run).trace_id)
        if args.json:
            print("".join(tree_json(tree)))
            return 0
        lines = list(tree_lines(tree))
    print("\n".join(lines))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Runs matching Simvue filters (arguments) or a LangSmith filter (--filter)."""
    with reader(args) as store:
        if args.filter is not None:
            runs = store.list_runs(filter=args.filter, limit=args.limit)
        else:
            runs = store.get_runs(args.filters or None, limit=args.limit)
        if args.json:
            print_json([r.to_dict() for r in runs])
            return 0
        rows = [[r.id, r.name, r.status, r.run_type or r.kind, short_time(r.start_time)] for r in runs]
    print(table(rows, ["id", "name", "status", "type", "started"]))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run one read-only SQL statement (a second one is refused; row and time limits).

    With --json: one object per row, so each column needs a name of its own; a blob is
    {"base64": "..."}."""
    with reader(args) as store:
        result = store.sql(args.query, max_rows=args.limit, timeout=args.timeout)
    twice = [c for i, c in enumerate(result.columns) if c in result.columns[:i]]
    if args.json and twice:  # an object per row keeps one value a name: the others would be lost
        raise errors.ValidationError(f"the column name {twice[0]!r} is given twice: with --json each column "
                                     f"needs a name of its own (SELECT a.id AS a_id, b.id AS b_id ...)")
    if result.truncated:
        print(f"runlite: stopped at {args.limit} rows (--limit)", file=sys.stderr)
    if args.json:
        print_json(result.to_dicts())
    elif result.rows:
        print(table([[fmt(c) if not isinstance(c, bytes) else f"<{len(c)} bytes>" for c in r] for r in result.rows],
                    list(result.columns)))
    return 0


def register(command) -> None:
    """The reading commands, made with ``command(name, func, ...)`` (see ``main.build_parser``)."""
    count = options.whole(0)
    p = command("ls", cmd_ls)
    p.add_argument("--all", action="store_true", help="child runs and spans too, not only top-level runs")
    p.add_argument("--folder", help="only runs in this folder, e.g. /sweeps")
    p.add_argument("--status", choices=RUN_STATUSES, help="only runs with this status (lost included)")
    p.add_argument("--limit", type=count, help="at most this many runs")
    p = command("show", cmd_show)
    p.add_argument("run", type=options.given, metavar="RUN", help=RUN_HELP)
    p.add_argument("--events", type=count, default=SHOWN_EVENTS, metavar="N",
                   help=f"how many of the last events to show (default {SHOWN_EVENTS})")
    p = command("metrics", cmd_metrics)
    p.add_argument("run", type=options.given, metavar="RUN", help=RUN_HELP)
    p.add_argument("name", nargs="?", metavar="NAME", help="a metric name: print its points (CSV, or JSON with --json)")
    p.add_argument("--asset", help="the series of this asset")
    p.add_argument("--xaxis", default="step", choices=("step", "time", "timestamp"))
    p.add_argument("--max-points", type=options.whole(4), metavar="N", help="downsample to at most N points (N >= 4)")
    p = command("events", cmd_events)
    p.add_argument("run", type=options.given, metavar="RUN", help=RUN_HELP)
    p.add_argument("--level", choices=LEVELS, help="only events of this level")
    p.add_argument("--contains", help="only messages containing this text")
    p.add_argument("--limit", type=count, help="at most this many events")
    p = command("files", cmd_files)
    p.add_argument("run", type=options.given, metavar="RUN", help=RUN_HELP)
    p.add_argument("--category", choices=("input", "output", "code"))
    one = p.add_mutually_exclusive_group()  # a file to stdout, or all to a directory
    one.add_argument("--cat", metavar="NAME", help="write this file's content to stdout")
    one.add_argument("--restore", metavar="DEST",
                     help="write the files under the directory DEST with their saved paths")
    options.add_overwrite(p, "files under DEST")
    p = command("alerts", cmd_alerts)
    p.add_argument("run", type=options.given, nargs="?", metavar="RUN", help=RUN_HELP + " (default: every run)")
    p.add_argument("--critical", action="store_true", help="only alerts that are critical")
    p = command("trace", cmd_trace)
    p.add_argument("run", type=options.given, metavar="RUN", help="any run of the trace: " + RUN_HELP)
    p = command("query", cmd_query)
    p.add_argument("filters", nargs="*", metavar="FILTER",
                   help="Simvue filters, ANDed, e.g. 'metadata.lr > 0.01' 'has tag.x'")
    p.add_argument("--filter", help='a LangSmith filter instead, e.g. \'and(eq(run_type, "llm"), gt(latency, 2))\'')
    p.add_argument("--limit", type=count, help="at most this many runs")
    p = command("sql", cmd_sql)
    p.add_argument("query", type=options.given, metavar="QUERY", help="one SELECT statement")
    p.add_argument("--limit", type=options.whole(0, 1_000_000), default=1000,
                   help="stop after this many rows (default 1000)")
    p.add_argument("--timeout", type=options.seconds(86_400), default=10.0,
                   help="stop after this many seconds (default 10)")
