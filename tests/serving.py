"""Helpers for tests of ``runlite serve``: start it on a free port, stop it, and a recording
proxy that keeps every request a real client sends (to compare with what was stored)."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

import zstandard
from requests_toolbelt.multipart.decoder import MultipartDecoder  # independent of runlite's parser


class Served:
    """A ``runlite serve`` process on 127.0.0.1 with a free port."""

    def __init__(self, db: str, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runlite", "serve", db, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        if " at http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"runlite serve did not start: {line!r} {self.proc.stderr.read()!r}")
        self.url = line.split(" at ", 1)[1].split()[0]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()


def request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """``(status, parsed JSON or text)`` of one request."""
    status, answer_headers, data = request_raw(url, method, path, body, headers)
    kind = answer_headers.get("content-type", "")
    return status, (json.loads(data) if "json" in kind and data else data.decode("utf-8", "replace"))


class RecordingProxy:
    """Forwards every request to ``target`` and keeps ``(method, path, headers, body)``.

    ``info`` changes what ``GET /info`` answers (e.g. to make the client use the batch
    endpoint, or send bodies uncompressed), so each ingestion path of the client is driven.
    """

    def __init__(self, target: str, info: dict | None = None):
        self.target = urllib.parse.urlsplit(target)
        self.requests: list[tuple[str, str, dict, bytes]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(size) if size else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                proxy.requests.append((self.command, self.path, headers, data))
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                conn.request(self.command, self.path, body=data or None, headers=headers)
                answer = conn.getresponse()
                out = answer.read()
                if self.path.split("?")[0].endswith("/info") and info:
                    doc = json.loads(out)
                    for key, value in info.items():
                        doc.setdefault(key, {}).update(value)
                    out = json.dumps(doc).encode()
                conn.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _parts(self):
        """``(method, route, part name, content type, bytes)`` of every request: a multipart
        form's parts, decoded independently of runlite, or the whole body as one part named ``""``."""
        for method, path, headers, data in self.requests:
            route = path.split("?")[0]
            if headers.get("Content-Encoding") == "zstd" or headers.get("content-encoding") == "zstd":
                data = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
            kind = headers.get("Content-Type") or headers.get("content-type") or ""
            if not kind.startswith("multipart/"):
                yield method, route, "", kind, data
                continue
            for part in MultipartDecoder(data, kind).parts:
                disposition = part.headers[b"Content-Disposition"].decode()
                name = disposition.split('name="', 1)[1].split('"', 1)[0]
                yield method, route, name, part.headers[b"Content-Type"].decode().split(";")[0], part.content

    def sent_feedback(self) -> dict[str, tuple[str, dict]]:
        """Every feedback record the client sent, by id: ``(the route it went by, the record)``."""
        sent = {}
        for method, route, name, _, data in self._parts():
            if name.startswith("feedback."):
                sent[name.split(".", 1)[1]] = (route, json.loads(data))
            elif method == "POST" and route.endswith("/feedback"):
                record = json.loads(data)
                sent[record["id"]] = (route, record)
        return sent

    def sent_runs(self) -> dict[str, dict]:
        """Every run the client sent (creates and updates merged, later values winning), by id,
        with ``"_attachments"`` holding ``{name: (mime, bytes)}``."""
        runs: dict[str, dict] = {}
        for method, route, name, mime, data in self._parts():
            if route.endswith("/runs/multipart"):
                head, _, rest = name.partition(".")
                run_id, _, field = rest.partition(".")
                if head == "attachment":
                    runs.setdefault(run_id, {}).setdefault("_attachments", {})[field] = (mime, data)
                elif head in ("post", "patch"):
                    value = json.loads(data)
                    if field:
                        runs.setdefault(run_id, {})[field] = value
                    else:
                        runs.setdefault(run_id, {}).update(value)
            elif route.endswith("/runs/batch"):
                doc = json.loads(data)
                for op in ("post", "patch"):
                    for run in doc.get(op) or []:
                        runs.setdefault(run["id"], {}).update(run)
            elif route.endswith("/runs") and method == "POST":
                run = json.loads(data)
                runs.setdefault(run["id"], {}).update(run)
            elif "/runs/" in route and method == "PATCH":
                run = json.loads(data)
                runs.setdefault(route.rsplit("/", 1)[1], {}).update(run)
        return runs


def request_raw(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """``(status, headers, body bytes)`` of one request, the body as it came (for protobuf)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data
