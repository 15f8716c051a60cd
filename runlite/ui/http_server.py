"""The viewer's HTTP server: a standard-library server that answers GET and HEAD only.

Request heads are read by one selector thread, so a slow or idle client holds a socket and a
small buffer, never a worker; complete requests run on ``WORKERS`` threads. Every response
carries ``SECURITY_HEADERS`` (a strict CSP: scripts and styles from this origin only).
What to answer comes from a viewer object's ``get(target) -> Response`` (``viewer.Viewer``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import http
import http.server
import io
import logging
import selectors
import socket
import sys
import threading
import time
import typing
from typing import Any

log = logging.getLogger("runlite.ui.viewer")

# Scripts come from this server's /static/ only (no inline script) and may only talk back to it;
# nothing else loads (images are data: URIs). Styles: the page's own <style> and uPlot's.
CSP = ("default-src 'none'; img-src data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'")
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
HTML = "text/html; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"

LOCAL_HOSTS = ("127.0.0.1", "localhost")
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


def _local_host(header: str) -> bool:
    """Whether a Host header names this machine (127.0.0.1 or localhost, any port)."""
    name, _, port = header.strip().lower().partition(":")
    return name in LOCAL_HOSTS and (port == "" or (port.isascii() and port.isdigit()))


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

    def __init__(self, server: "ViewerServer"):
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

    def __init__(self, address: tuple[str, int], viewer: Any, *, log_requests: bool = False):
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
        if hasattr(self, "_heads"):  # not when binding failed (the port taken): HTTPServer closes then
            self._heads.close()  # first: nothing is dispatched to the pool after this
        self._pool.shutdown(wait=False, cancel_futures=True)  # answers under way finish on their own
        self.viewer.store.close()
