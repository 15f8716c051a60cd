"""The local read-only viewer behind ``runlite ui``.

``Viewer`` maps a GET target (path and query) to a ``Response(status, content_type, body)``
and does no I/O of its own, so a desktop tool can embed the same pages. ``serve`` puts it
behind a standard-library HTTP server that listens on 127.0.0.1 only and opens the store
read-only, so a job can keep writing while people look. Pages come from ``report``; this
module adds the run list, routing, parameter checks and the HTTP details.

Routes (GET and HEAD only; anything else is 405):

- ``/``: the run list, searchable with either filter grammar (``q``, ``grammar``).
- ``/run/<id or name>`` and ``/runs?id=a&id=b``: run pages (runs overlaid when several).
- ``/fragment/run/<id>`` and ``/fragment/runs?id=..``: the same body without the document,
  re-fetched by the page script while a run is running.
- ``/chart?run=..&metric=..&asset=..&start=..&stop=..&xaxis=..&buckets=..``: one re-bucketed
  SVG chart (what the page script fetches when a chart is zoomed).
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as _dt
import html
import http
import http.server
import io
import logging
import math
import selectors
import socket
import sys
import threading
import time
import typing
import urllib.parse
from typing import Any

from .. import errors
from . import report
from ..store import Store

log = logging.getLogger(__name__)

# Scripts may only talk back to this server; nothing else loads (images are data: URIs).
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "connect-src 'self'")
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
HTML = "text/html; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

LOCAL_HOSTS = ("127.0.0.1", "localhost")
MAX_TARGET = 8192        # characters of path + query
MAX_FILTER = 4096        # characters of a search
MAX_RUNS = 20            # runs on one page or chart
MAX_ID = 256             # characters of a run id or name (names are at most 256)
LIST_LIMIT = 500         # rows of the run list
BUCKETS = (16, 4000)     # allowed range of chart buckets
GRAMMARS = {"auto": "either grammar", "langsmith": "LangSmith filter", "simvue": "Simvue filter"}
WORKERS = 8              # request threads: at most this many requests (and reader connections) at once
# Slow and idle clients: request heads are read by one selector thread, so a client still
# sending (or sending nothing) holds a socket and a small buffer, never one of the WORKERS.
HEAD_IDLE_S = 5.0        # a connection silent this long before its request is complete is closed
HEAD_DEADLINE_S = 10.0   # the whole request line and headers must arrive within this, however trickled
SEND_TIMEOUT_S = 10.0    # each write of a response (headers, then body) must finish within this
MAX_HEAD = 65_536        # bytes of request line and headers; beyond it 431
MAX_PENDING = 512        # connections still sending their request; beyond it the oldest is closed
MAX_QUEUED = 32          # complete requests waiting for a worker; beyond it 503 at once


class Response(typing.NamedTuple):
    status: int
    content_type: str
    body: bytes


class _Refused(Exception):
    """A request refused with ``status`` and a message safe to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error_page(status: int, message: str) -> Response:
    title = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 414: "Address too long",
             503: "Busy"}.get(status, "Error")
    body = f'<p><a href="/">all runs</a></p><h1>{title}</h1><pre class="error">{html.escape(message)}</pre>'
    return Response(status, HTML, report.page(f"runlite: {title}", body).encode())


def _one(params: dict, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise _Refused(400, f"give the parameter {name!r} once")
    return values[0]


def _check_params(params: dict, allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed:
            raise _Refused(400, f"unknown parameter {name[:40]!r}; this page takes {', '.join(allowed) or 'none'}")


def _run_ref(text: str) -> str:
    if not text or len(text) > MAX_ID or not text.isprintable():
        raise _Refused(400, f"a run is given by its id or name (1 to {MAX_ID} printable characters)")
    return text


def _number(params: dict, name: str) -> float | None:
    text = _one(params, name)
    if text is None or text == "":
        return None
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _Refused(400, f"{name} must be a finite number, got {text[:40]!r}")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _fmt_time(value: _dt.datetime | None) -> str:
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _fmt_duration(run: Any) -> str:
    if run.started is None:
        return "-"
    end = run.ended or (_dt.datetime.now(_dt.timezone.utc) if run.status == "running" else None)
    if end is None:
        return "-"
    seconds = max(0.0, (end - run.started).total_seconds())
    if seconds < 1:
        text = f"{seconds * 1000:.0f} ms"
    elif seconds < 60:
        text = f"{seconds:.1f} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min {int(seconds % 60)} s"
    else:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return text + (" so far" if run.ended is None else "")


class Viewer:
    """The viewer's pages over an open store (read-only is best: nothing here writes).

    ``get(target)`` answers one GET; it never raises and never shows a traceback: unexpected
    errors are logged on the ``runlite.ui.viewer`` logger and answered with a plain 500.
    """

    def __init__(self, store: Store, *, title: str | None = None):
        self.store = store
        self.title = title or f"runlite: {store.path}"

    def get(self, target: str) -> Response:
        """The response to ``GET target`` (``/path?query``)."""
        try:
            return self._answer(target)
        except Exception:
            log.exception("viewer: unexpected error answering %s", target[:200])
            return Response(500, TEXT, b"internal error (details are in the viewer's log)\n")

    def _answer(self, target: str) -> Response:
        try:
            return self._route(target)
        except _Refused as exc:
            return _error_page(exc.status, str(exc))
        except errors.NotFoundError as exc:
            return _error_page(404, str(exc))
        except (errors.ValidationError, errors.AmbiguousNameError) as exc:
            return _error_page(400, str(exc))
        except (errors.StoreBusyError, errors.StoreClosedError) as exc:
            return _error_page(503, str(exc))
        except errors.RunliteError as exc:  # a damaged or unreadable file: say what runlite says
            log.warning("viewer: %s: %s", target[:200], exc)
            return _error_page(500, str(exc))

    def _route(self, target: str) -> Response:
        if len(target) > MAX_TARGET:
            raise _Refused(414, f"the address is longer than {MAX_TARGET} characters")
        parts = urllib.parse.urlsplit(target)
        try:
            params = urllib.parse.parse_qs(parts.query, keep_blank_values=True, errors="strict",
                                           max_num_fields=2 * MAX_RUNS + 10)
            path = urllib.parse.unquote(parts.path, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the address is not valid UTF-8 or has too many parameters") from None
        if path == "/":
            return self._run_list(params)
        if path == "/chart":
            return self._chart(params)
        for prefix, fragment in (("/run/", False), ("/fragment/run/", True)):
            if path.startswith(prefix):
                _check_params(params, ())
                return self._runs_page([_run_ref(path[len(prefix):])], fragment=fragment)
        if path in ("/runs", "/fragment/runs"):
            _check_params(params, ("id",))
            refs = params.get("id", [])
            if not 1 <= len(refs) <= MAX_RUNS:
                raise _Refused(400, f"give 1 to {MAX_RUNS} runs as id=...")
            return self._runs_page([_run_ref(r) for r in refs], fragment=path.startswith("/fragment/"))
        raise _Refused(404, f"no page at {path[:200]!r}")

    # -- pages

    def _runs_page(self, refs: list[str], *, fragment: bool) -> Response:
        records = []
        for ref in refs:
            record = self.store.get_run(ref)  # an id or a unique name; NotFoundError -> 404
            if all(r.id != record.id for r in records):
                records.append(record)
        ids = [r.id for r in records]
        body = '<p class="nav"><a href="/">all runs</a></p>' + report.runs_body(self.store, ids, served=True)
        if fragment:
            return Response(200, HTML, body.encode())
        if len(ids) == 1:
            refresh = "/fragment/run/" + urllib.parse.quote(ids[0], safe="")
        else:
            refresh = "/fragment/runs?" + urllib.parse.urlencode([("id", i) for i in ids])
        running = any(r.status == "running" for r in records)
        title = ", ".join(r.name for r in records[:5]) + (" ..." if len(records) > 5 else "")
        document = report.page(title, body, served=True, refresh_url=refresh if running else None)
        return Response(200, HTML, document.encode())

    def _chart(self, params: dict) -> Response:
        _check_params(params, ("run", "metric", "asset", "start", "stop", "xaxis", "buckets"))
        refs = params.get("run", [])
        if not 1 <= len(refs) <= MAX_RUNS:
            raise _Refused(400, f"give 1 to {MAX_RUNS} runs as run=...")
        metric = _one(params, "metric")
        if not metric or len(metric) > MAX_ID:
            raise _Refused(400, f"give a metric name of 1 to {MAX_ID} characters as metric=...")
        asset = _one(params, "asset") or None
        if asset is not None and len(asset) > MAX_ID:
            raise _Refused(400, f"an asset name has at most {MAX_ID} characters")
        xaxis = _one(params, "xaxis", "step")
        if xaxis not in ("step", "time", "timestamp"):
            raise _Refused(400, f"xaxis must be step, time or timestamp, got {xaxis[:40]!r}")
        start, stop = _number(params, "start"), _number(params, "stop")
        if start is not None and stop is not None and start > stop:
            raise _Refused(400, f"start ({start}) is after stop ({stop})")
        buckets = _number(params, "buckets")
        if buckets is None:
            buckets = 400
        elif not isinstance(buckets, int) or not BUCKETS[0] <= buckets <= BUCKETS[1]:
            raise _Refused(400, f"buckets must be a whole number from {BUCKETS[0]} to {BUCKETS[1]}")
        ids = list(dict.fromkeys(self.store.get_run(_run_ref(r)).id for r in refs))
        svg = report.chart_svg(self.store, ids, metric, start=start, stop=stop, xaxis=xaxis, buckets=buckets,
                               asset=asset)
        return Response(200, SVG, svg.encode())

    def _search(self, text: str, grammar: str) -> tuple[list, str]:
        """Runs matching ``text`` (newest first) and the grammar used."""
        if not text:  # top-level runs only: a trace's spans would crowd the list
            return self.store.list_runs(is_root=True, limit=LIST_LIMIT + 1), ""
        if grammar == "auto":  # as metric_values_many reads a filter: prefix functions have "("
            grammar = "langsmith" if "(" in text else "simvue"
        if grammar == "langsmith":
            return self.store.list_runs(filter=text, limit=LIST_LIMIT + 1), grammar
        return self.store.get_runs([text], limit=LIST_LIMIT + 1), grammar

    def _run_list(self, params: dict) -> Response:
        _check_params(params, ("q", "grammar"))
        text = (_one(params, "q", "") or "").strip()
        grammar = _one(params, "grammar", "auto")
        if grammar not in GRAMMARS:
            raise _Refused(400, f"grammar must be one of {', '.join(GRAMMARS)}, got {grammar[:40]!r}")
        if len(text) > MAX_FILTER:
            raise _Refused(400, f"the search is longer than {MAX_FILTER} characters")
        status, problem, runs, used = 200, "", [], ""
        try:
            runs, used = self._search(text, grammar)
        except errors.FilterError as exc:
            status, problem = 400, str(exc)
        body = self._list_html(text, grammar, runs, used, problem)
        return Response(status, HTML, report.page(self.title, body, served=True).encode())

    def _list_html(self, text: str, grammar: str, runs: list, used: str, problem: str) -> str:
        options = "".join(f'<option value="{k}"{" selected" if k == grammar else ""}>{html.escape(v)}</option>'
                          for k, v in GRAMMARS.items())
        out = [
            '<form class="search" method="get" action="/" role="search">',
            f'<input type="search" name="q" id="q" size="60" maxlength="{MAX_FILTER}" '
            f'value="{html.escape(text)}" aria-label="filter" '
            "placeholder='metadata.lr &gt; 0.01   or   and(eq(status, \"completed\"), has(tags, \"best\"))'>",
            f'<select name="grammar" id="grammar" aria-label="filter grammar">{options}</select>',
            '<button type="submit">Search</button></form>',
        ]
        if problem:
            out.append(f'<pre class="error" id="filter-error">{html.escape(problem)}</pre>')
            return "\n".join(out)
        shown = runs[:LIST_LIMIT]
        what = f"{len(shown)} run{'s' if len(shown) != 1 else ''}"
        if len(runs) > LIST_LIMIT:
            what = f"the newest {LIST_LIMIT} runs (narrow the search to see others)"
        elif not text:
            what += " (top-level; search to include trace spans)"
        else:
            what += f" matching ({GRAMMARS[used]})"
        out.append(f'<p class="count" id="count">{html.escape(what)}</p>')
        out.append('<form method="get" action="/runs"><table class="grid run-list" id="runs"><thead><tr><th></th>'
                   "<th>name</th><th>status</th><th>type</th><th>folder</th><th>tags</th><th>created</th>"
                   "<th>duration</th></tr></thead><tbody>")
        for run in shown:
            rid = html.escape(run.id)
            link = "/run/" + urllib.parse.quote(run.id, safe="")
            cells = [
                f'<input type="checkbox" name="id" value="{rid}" aria-label="compare">',
                f'<a href="{html.escape(link)}">{html.escape(run.name)}</a>',
                f'<span class="status status-{html.escape(run.status)}">{html.escape(run.status)}</span>',
                html.escape(run.run_type or run.kind),
                html.escape(run.folder),
                "".join(f'<span class="tag">{html.escape(t)}</span>' for t in run.tags[:20]),
                _fmt_time(run.created),
                _fmt_duration(run),
            ]
            out.append(f'<tr data-run-id="{rid}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table>")
        if shown:
            out.append(f'<p><button type="submit">Compare checked runs</button> (up to {MAX_RUNS})</p>')
        out.append("</form>")
        return "\n".join(out)


# ---------------------------------------------------------------- the HTTP server


def _local_host(header: str) -> bool:
    """Whether a Host header names this machine (127.0.0.1 or localhost, any port)."""
    name, _, port = header.strip().lower().partition(":")
    return name in LOCAL_HOSTS and (port == "" or port.isdigit())


class _Handler(http.server.BaseHTTPRequestHandler):
    """One request, parsed from the ``head`` the server has read: answering never waits on the
    client, and HTTP/1.0 closes the connection after it (no worker waits on a kept-alive one)."""

    server_version = "runlite-viewer"
    sys_version = ""  # no Python version in the Server header
    timeout = SEND_TIMEOUT_S  # the socket's timeout, now only for writes: sendall's total deadline

    def __init__(self, request, client_address, server, head: bytes = b""):
        self.head = head
        super().__init__(request, client_address, server)  # handles the request

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # never read the socket: the head is all a GET or HEAD needs
        self.rfile = io.BytesIO(self.head)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def __getattr__(self, name: str):
        # Every other method (POST, PUT, DELETE, anything) is refused the same way.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True  # a request body, if any, is never read
        self._send(Response(405, TEXT, b"this viewer only reads: GET and HEAD\n"), head=False,
                   extra=(("Allow", "GET, HEAD"),))

    def _answer(self, *, head: bool) -> None:
        if not _local_host(self.headers.get("Host") or ""):  # a page elsewhere, via DNS rebinding
            self._send(Response(403, TEXT, b"this viewer answers only to 127.0.0.1 or localhost\n"), head=head)
            return
        self._send(self.server.viewer.get(self.path), head=head)

    def _send(self, response: Response, *, head: bool, extra: tuple = ()) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def end_headers(self) -> None:
        for key, value in SECURITY_HEADERS:  # on every response, the server's own errors too
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


def _refuse(sock: socket.socket, status: int, message: str) -> None:
    """Answer ``status`` without a worker (best effort: one non-blocking send), then close."""
    body = message.encode()
    lines = [f"HTTP/1.0 {status} {http.HTTPStatus(status).phrase}", f"Content-Type: {TEXT}",
             f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in SECURITY_HEADERS)]
    try:
        sock.setblocking(False)
        sock.send("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    except OSError:
        pass  # the client is gone or not reading: closing is all that is left
    finally:
        sock.close()


class _Pending:
    """A connection whose request head is still arriving."""

    def __init__(self, address, now: float, deadline_s: float):  # deadline: for the whole head
        self.address, self.data, self.last, self.deadline = address, bytearray(), now, now + deadline_s


class _HeadReader:
    """One thread reading every connection's request head with a selector, so a slow or idle
    client costs a socket, never a worker. A complete head goes to ``server.dispatch``; a
    connection silent for ``server.head_idle`` s, or incomplete after ``server.head_deadline``
    s, is closed, and so is the oldest when more than ``server.max_pending`` are waiting."""

    def __init__(self, server: ViewerServer):
        self.server, self.selector = server, selectors.DefaultSelector()
        self.wake_r, self.wake_w = socket.socketpair()  # the accepting thread wakes the selector
        for sock in (self.wake_r, self.wake_w):
            sock.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.incoming: collections.deque = collections.deque()
        self.pending: dict[socket.socket, _Pending] = {}  # oldest first (dicts keep insertion order)
        self.lock, self.stopping = threading.Lock(), False  # the lock orders add() against close()
        self.thread = threading.Thread(target=self.run, name="runlite-viewer-heads", daemon=True)
        self.thread.start()

    def add(self, sock: socket.socket, address) -> None:
        """A connection just accepted (called by the accepting thread)."""
        with self.lock:
            if self.stopping:
                sock.close()
                return
            self.incoming.append((sock, address))
        self.wake()

    def wake(self) -> None:
        try:
            self.wake_w.send(b"\0")
        except OSError:  # the wake-up pipe is full: the selector is awake already
            pass

    def close(self) -> None:
        with self.lock:
            self.stopping = True
        self.wake()
        self.thread.join(5.0)  # bounded: a stuck reader must not keep the viewer from stopping
        for sock in [*self.pending, *(s for s, _ in self.incoming), self.wake_r, self.wake_w]:
            sock.close()
        self.selector.close()

    def run(self) -> None:
        while not self.stopping:
            try:
                self.step()
            except Exception:  # a bug here must not stop the viewer: say so and go on
                log.exception("viewer: error reading requests")

    def step(self) -> None:
        now, idle = time.monotonic(), self.server.head_idle
        due = min((min(p.last + idle, p.deadline) for p in self.pending.values()), default=now + 60.0)
        for key, _ in self.selector.select(max(0.0, due - now)):
            if key.fileobj is self.wake_r:
                self.wake_r.recv(65536)
            elif key.fileobj in self.pending:
                self.read(key.fileobj)
        now = time.monotonic()
        while self.incoming:
            sock, address = self.incoming.popleft()
            if len(self.pending) >= self.server.max_pending:  # the oldest has had the longest to send its request
                self.drop(next(iter(self.pending)))
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.pending[sock] = _Pending(address, now, self.server.head_deadline)
        for sock in [s for s, p in self.pending.items() if now >= min(p.last + idle, p.deadline)]:
            self.drop(sock)

    def read(self, sock: socket.socket) -> None:
        p = self.pending[sock]
        try:
            chunk = sock.recv(16384)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            chunk = b""
        if not chunk:  # the client closed or failed
            self.drop(sock)
            return
        start = max(0, len(p.data) - 2)  # the blank line may straddle two reads
        p.data += chunk
        p.last = time.monotonic()
        if p.data.find(b"\n\r\n", start) >= 0 or p.data.find(b"\n\n", start) >= 0:
            self.forget(sock)
            self.server.dispatch(sock, p.address, bytes(p.data))
        elif len(p.data) > MAX_HEAD:
            self.forget(sock)
            _refuse(sock, 431, f"the request line and headers are longer than {MAX_HEAD} bytes\n")

    def forget(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        del self.pending[sock]

    def drop(self, sock: socket.socket) -> None:
        self.forget(sock)
        sock.close()


class ViewerServer(http.server.HTTPServer):
    """The viewer's HTTP server. ``serve_forever()`` to run; ``server_close()`` closes the store.

    Connections go from the accepting thread to one head-reading thread (``_HeadReader``);
    complete requests run on ``WORKERS`` threads with at most ``MAX_QUEUED`` waiting (more get
    503). Slow or idle clients cannot starve it, and many refreshing tabs use at most
    ``WORKERS`` reader connections. ``head_idle``, ``head_deadline``, ``max_pending``: per instance.
    """

    request_queue_size = 128  # listen backlog: a burst of connections is accepted, not dropped
    head_idle, head_deadline, max_pending = HEAD_IDLE_S, HEAD_DEADLINE_S, MAX_PENDING

    def __init__(self, address: tuple[str, int], viewer: Viewer, *, log_requests: bool = False):
        self.viewer, self.log_requests = viewer, log_requests
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="runlite-viewer")
        self._slots = threading.BoundedSemaphore(WORKERS + MAX_QUEUED)  # requests running or queued
        super().__init__(address, _Handler)
        self._heads = _HeadReader(self)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def process_request(self, request, client_address) -> None:
        self._heads.add(request, client_address)

    def dispatch(self, request: socket.socket, client_address, head: bytes) -> None:
        """A complete request head: to a worker, or 503 when too many already wait."""
        if not self._slots.acquire(blocking=False):
            _refuse(request, 503, "the viewer is busy: too many requests at once; try again\n")
            return
        request.setblocking(True)
        self._pool.submit(self._work, request, client_address, head)

    def _work(self, request, client_address, head: bytes) -> None:
        try:
            _Handler(request, client_address, self, head)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._slots.release()
            self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):  # the browser went away: nothing to say
            return
        log.error("viewer: error serving %s", client_address, exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        self._heads.close()  # first: nothing is dispatched to the pool after this
        self._pool.shutdown(wait=False, cancel_futures=True)  # answers under way finish on their own
        self.viewer.store.close()


def serve(db_path: str, *, port: int = 0, host: str = "127.0.0.1", untrusted: bool = False,
          log_requests: bool = False) -> ViewerServer:
    """A viewer server for the runlite file at ``db_path``, listening but not yet serving.

    The store is opened ``read_only`` (``untrusted`` for a file from someone else), so jobs
    keep writing it. The server listens on 127.0.0.1 only: it has no authentication, so any
    other ``host`` is refused. ``port=0`` picks a free port; ``server.url`` says which.
    Call ``serve_forever()`` (e.g. in a thread), then ``shutdown()`` and ``server_close()``.
    """
    if host not in LOCAL_HOSTS:
        raise errors.ValidationError(
            f"the viewer listens on 127.0.0.1 only (it has no authentication), got host {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise errors.ValidationError(f"port must be an int from 0 to 65535, got {port!r}")
    store = Store(db_path, read_only=True, untrusted=untrusted)
    try:
        return ViewerServer(("127.0.0.1", port), Viewer(store), log_requests=log_requests)
    except BaseException:
        store.close()
        raise
