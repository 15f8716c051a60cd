"""Running the server: a socket on 127.0.0.1 (or, with an API key, any address), uvicorn
serving the application, and the store closed (everything acknowledged written) at the end."""

from __future__ import annotations

import socket

from .. import errors
from .._validation import shown
from .app import make_app
from .http import MAX_BODY

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Server:
    """A listening server over one store: ``url``, ``run()`` until stopped, ``stop()``."""

    def __init__(self, store, sock: socket.socket, app, *, log_requests: bool = False):
        import uvicorn

        self.store = store
        self.socket = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(
            app, log_level="info" if log_requests else "warning", access_log=log_requests,
            timeout_graceful_shutdown=5, lifespan="off"))

    def run(self) -> None:
        """Serve until ``stop()``, SIGINT or SIGTERM; then close the store, which writes every
        run acknowledged so far."""
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()
            self.store.close()

    def stop(self) -> None:
        """Ask ``run()`` to finish (from another thread)."""
        self._server.should_exit = True


def serve(db_path: str, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
          max_body: int = MAX_BODY, log_requests: bool = False) -> Server:
    """A server for the runlite file at ``db_path`` (created if missing), listening but not
    yet serving: call ``run()``. ``port=0`` picks a free port (``url`` says which). Any
    ``host`` but loopback needs an ``api_key``: the file would otherwise be open to the network."""
    from ..store import Store

    if not isinstance(host, str) or not host:
        raise errors.ValidationError(f"host must be an address, got {shown(host)}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise errors.ValidationError(f"port must be an int from 0 to 65535, got {shown(port)}")
    if api_key is not None and (not isinstance(api_key, str) or not 8 <= len(api_key) <= 4096 or not api_key.isprintable()):
        raise errors.ValidationError("api_key must be printable text of 8 to 4096 characters")
    if host not in LOOPBACK and api_key is None:
        raise errors.ValidationError(f"listening on {host!r} (not loopback) needs an API key (--api-key)")
    if isinstance(max_body, bool) or not isinstance(max_body, int) or not 1024 <= max_body <= 1 << 34:
        raise errors.ValidationError(f"max_body must be bytes from 1024 to 2**34, got {shown(max_body)}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Made as a TCP socket by name, so that asyncio sets TCP_NODELAY on each connection: with
    # protocol 0 it did not, and a response's second write (its body) waited for the client's
    # delayed ACK, ~40 ms a request on a reused connection (the LangSmith SDK's).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
        sock.listen(128)
        store = Store(db_path)
    except BaseException:
        sock.close()
        raise
    try:
        app = make_app(store, api_key=api_key, max_body=max_body)
        return Server(store, sock, app, log_requests=log_requests)
    except BaseException:
        sock.close()
        store.close()
        raise
