"""What the commands print and ask: tables for people, JSON for programs, a progress bar and
a confirmation on a terminal."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import sys
import threading
import time
from typing import Any, Iterator

from .. import errors


def short_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # but tab and newline
_CONTROL_IN_CELL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` for a terminal: control characters written as escapes (``\\x1b``), so text from
    a file (an event's message) cannot move the cursor, clear the screen or retitle the window;
    tabs and newlines kept unless ``one_line``."""
    pattern = _CONTROL_IN_CELL if one_line else _CONTROL
    return pattern.sub(lambda m: repr(m[0])[1:-1], text)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns under ``headers``, two spaces apart; each cell on one line."""
    rows = [[printable(c, one_line=True) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def json_safe(value: Any) -> Any:
    """JSON without NaN/Infinity tokens: non-finite floats become the strings "NaN", "Infinity";
    bytes (a blob an SQL statement read) become ``{"base64": "..."}``, never Python's ``b'...'``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def ascii_only(stream: Any) -> bool:
    """Whether ``stream`` cannot write every character (``PYTHONIOENCODING=ascii``, a latin-1
    locale, a Windows console): JSON for it is written with ``\\u`` escapes."""
    try:
        "\u540d\U0001f600".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


@contextlib.contextmanager
def encodable() -> Iterator[None]:
    """While a command runs, a character stdout or stderr cannot write is written as an escape
    (``\\xfc``) rather than failing the command; their error handlers come back afterwards."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if ascii_only(stream) and hasattr(stream, "reconfigure"):
            changed.append((stream, stream.errors))
            stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream, errors_ in changed:
            with contextlib.suppress(Exception):  # (a stream closed meanwhile)
                stream.reconfigure(errors=errors_)


def print_json(value: Any) -> None:
    print(json.dumps(json_safe(value), indent=2, ensure_ascii=ascii_only(sys.stdout), default=str,
                     allow_nan=False))


def fmt(x: Any) -> str:
    """A cell: ``-`` for nothing, floats to 6 significant digits."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def bar(label: str, fraction: float | None, seconds: float) -> str:
    """One frame of the progress bar (a carriage return first: each frame overwrites the last)."""
    if fraction is None:  # before the operation has said how far it is
        return f"\rrunlite: {label}... {seconds:5.1f} s"
    filled = int(fraction * 30)
    return f"\rrunlite: {label} [{'#' * filled}{' ' * (30 - filled)}] {fraction:4.0%} {seconds:5.1f} s"


@contextlib.contextmanager
def progress(label: str, stream=None) -> Iterator[Any]:
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
            stream.write(bar(label, state["fraction"], time.monotonic() - start))
            stream.flush()

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        yield update
    finally:
        finished.set()
        thread.join()
        stream.write(f"\rrunlite: {label}: done in {time.monotonic() - start:.1f} s" + " " * 40 + "\n")


def tree_lines(root: Any) -> Iterator[str]:
    """One line per span, indented by depth (an explicit stack: traces may be thousands deep)."""
    stack = [(root, 0)]
    while stack:
        rec, depth = stack.pop()
        latency = f"{rec.latency:.3f}s" if rec.latency is not None else "-"
        tokens = f" {rec.total_tokens} tok" if rec.total_tokens else ""
        error = " ERROR" if rec.error else ""
        yield f"{'  ' * depth}{rec.name} [{rec.run_type or rec.kind}] {rec.status} {latency}{tokens}{error}"
        stack.extend((child, depth + 1) for child in reversed(rec.child_runs))


def tree_json(root: Any) -> Iterator[str]:
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
        text = json.dumps(json_safe(fields), ensure_ascii=ascii_only(sys.stdout), default=str, allow_nan=False)
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


def can_ask(args: Any) -> None:
    """Refuse a deletion before any work when it could not be confirmed: no ``--yes`` and no
    terminal on stdin to ask on (a script says it means it)."""
    if not args.yes and not sys.stdin.isatty():
        raise errors.ValidationError(f"runlite {args.command} deletes only when told to: pass --yes "
                                     "(stdin is not a terminal to ask on)")


def confirm(question: str, args: Any) -> bool:
    """Whether to go on: ``--yes`` was given, or the person at the terminal answers yes. The
    question goes to stderr, so stdout stays the command's output."""
    if args.yes:
        return True
    can_ask(args)
    sys.stderr.write(f"runlite: {question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def byte_size(n: int) -> str:
    """``n`` bytes for people: 512 bytes, 3.2 KiB, 1.5 MiB, 2.0 GiB."""
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return ""  # not reached
