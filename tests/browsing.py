"""Browser plumbing shared by the headless-Chromium tests (``test_browser*.py``).

Importing this module skips the importing test module, with the reason, when Playwright or
Chromium is missing (install the browser with `apt-get install -y chromium`; Playwright's own
browser download is never used). ``Watched`` blocks and records every request that does not go
to this machine; ``serving`` runs a viewer in a thread for one test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import threading
import urllib.parse
import zlib

import pytest

from runlite.ui import viewer

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("playwright not installed: `pip install playwright` (the browser: `apt-get install chromium`)",
                allow_module_level=True)

CHROMIUM = os.environ.get("RUNLITE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium: install with `apt-get install chromium`", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
BOXES = """els => els.map(e => { const b = e.getBBox(); return [b.width, b.height]; })"""


@contextlib.contextmanager
def launched():
    """Headless Debian Chromium, closed afterwards."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def serving(db_path: str):
    """``runlite ui``'s server for ``db_path`` on a free 127.0.0.1 port, in a thread."""
    srv = viewer.serve(db_path, port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def png(width: int = 24, height: int = 16) -> bytes:
    """A small valid PNG (a colour gradient), made with the standard library."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 10, y * 15, 128))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Watched:
    """A page whose console errors and outside requests are recorded (outside ones blocked)."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.requested: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requested.append(r.url))
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("file", "data") or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def local_only(self) -> bool:
        return not self.outside and all(urllib.parse.urlsplit(u).scheme in ("file", "data")
                                        or urllib.parse.urlsplit(u).hostname == "127.0.0.1"
                                        for u in self.requested)

    def boxes(self, selector: str) -> list:
        return self.page.eval_on_selector_all(selector, BOXES)

    def shot(self, directory, name: str) -> str:
        path = str(directory / name)
        self.page.screenshot(path=path, full_page=False)
        extra = os.environ.get("RUNLITE_SCREENSHOT_DIR")
        if extra:
            shutil.copy(path, os.path.join(extra, name))
        return path


def drawn(boxes: list) -> bool:
    return bool(boxes) and all(w > 0 and h > 0 for w, h in boxes)
