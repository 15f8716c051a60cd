"""Commands that show runs outside the terminal or send them on: report, ui, serve, push."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import threading
from typing import Any, Callable, Iterator

from .. import errors
from ..langsmith import push as push_mod
from . import options
from .output import byte_size, print_json, progress
from .paths import db_path, destination, existing, reader, write_whole


def cmd_report(args: argparse.Namespace) -> int:
    """Write an HTML report of runs: one self-contained file (charts, events, alerts, files, traces)."""
    from ..ui.report import report_html

    destination(args.output, overwrite=args.overwrite, source=db_path(args))
    with reader(args) as store:
        data = report_html(store, args.runs, title=args.title).encode("utf-8")
    write_whole(args.output, data)  # a reader never sees half a report
    if args.json:
        print_json({"report": args.output, "bytes": len(data)})
    else:
        print(f"{args.output} ({byte_size(len(data))})")
    return 0


class _Signals:
    """SIGINT and SIGTERM while a server starts or runs: each is recorded, calls ``then`` (a
    server's ``stop``) and raises KeyboardInterrupt. Raised inside a finalizer or a weakref
    callback (the garbage collector's), Python prints and drops that exception: the record and
    ``then`` still stop the server, which would otherwise serve on for good."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.then: Callable[[], None] | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.received.append(signum)
        if self.then is not None:
            self.then()
        raise KeyboardInterrupt


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[_Signals]:
    """A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored:
    servers promise to stop on Ctrl-C (SIGINT) and on SIGTERM, however they were started.
    The caller's handlers come back afterwards: ``main(["serve", ...])`` inside a program must
    not leave SIGTERM raising KeyboardInterrupt there (its forked children would then outlive
    ``terminate()`` while stuck in C)."""
    signals = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    before = {sig: signal.signal(sig, signals) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _listening(args: argparse.Namespace, path: str, url: str, text: str) -> None:
    """The line saying where the server listens (one JSON object with --json), flushed at once:
    a program starting it on port 0 reads the address from it."""
    if args.json:
        print(json.dumps({"file": path, "url": url}), flush=True)
    else:
        print(f"runlite: {text.format(path=path, url=url)}", flush=True)


def cmd_ui(args: argparse.Namespace) -> int:
    """Look at the runs in a browser: a local read-only viewer (127.0.0.1 only) until Ctrl-C."""
    from ..ui.viewer import serve

    path = existing(args)
    with _stopping_on_signals() as signals:
        try:
            server = serve(path, port=args.port, untrusted=bool(args.untrusted))
        except OSError as exc:  # the port is taken, or not ours to use
            raise errors.ValidationError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
        try:
            _listening(args, path, server.url, "viewing {path} at {url} (read-only; Ctrl-C to stop)")
            if not args.no_browser:
                import webbrowser

                webbrowser.open(server.url)
            if not signals.received:  # one may have come, its KeyboardInterrupt dropped
                server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """A LangSmith-compatible server and the viewer over one file: LANGSMITH_ENDPOINT=<its URL>.

    FILE is made when missing."""
    from ..server import serve

    path = db_path(args)
    if os.path.isdir(path):
        existing(args)  # says it is a directory
    key = args.api_key or os.environ.get("RUNLITE_API_KEY")
    with _stopping_on_signals() as signals:
        try:
            server = serve(path, host=args.host, port=args.port, api_key=key, max_body=args.max_body,
                           log_requests=args.log_requests)
        except OSError as exc:
            raise errors.ValidationError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        signals.then = server.stop
        try:
            _listening(args, server.store.path, server.url,
                       "serving {path} at {url} (LangSmith API and viewer; Ctrl-C to stop)")
            if not signals.received:  # one may have come, its KeyboardInterrupt dropped
                server.run()  # until SIGINT or SIGTERM; then it closes the socket and the store
        except KeyboardInterrupt:  # the signal that stopped it, raised again once stopped (or one before it ran)
            pass
        finally:  # a signal before run() began: nothing served, nothing left open
            server.socket.close()
            server.store.close()
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """Send traces, whole, to LangSmith or a runlite serve (--langsmith), or as OTel spans (--otlp)."""
    with reader(args) as store, progress("pushing") as update:
        return push_mod.command(store, args, update)


def register(command) -> None:
    """The commands that show or send runs elsewhere, made with ``command(name, func, ...)``."""
    p = command("report", cmd_report)
    p.add_argument("runs", nargs="+", type=options.given, metavar="RUN",
                   help="runs by id, unique name or unique id prefix (overlaid in one report)")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", help="the report's title (default: from the run names)")
    options.add_overwrite(p, "the HTML file")
    port = options.whole(0, 65535)
    p = command("ui", cmd_ui)
    p.add_argument("--port", type=port, default=8765, help="the port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, just print the address")
    p = command("serve", cmd_serve, untrusted=False)
    p.add_argument("--port", type=port, default=1984, help="the port (default 1984; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="the address (default 127.0.0.1; others need --api-key)")
    p.add_argument("--api-key", help="refuse requests without this key (x-api-key); or $RUNLITE_API_KEY")
    p.add_argument("--max-body", type=options.whole(1024, 1 << 34), default=64 << 20,
                   help="the largest request body in bytes (default 64 MiB)")
    p.add_argument("--log-requests", action="store_true", help="print a line per request")
    push_mod.add_arguments(command("push", cmd_push))
