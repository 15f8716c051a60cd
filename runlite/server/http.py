"""What every route of the server shares: request bodies (size cap; zstd, gzip or deflate,
never inflated past the cap), JSON documents, and the one mapping of runlite's errors to HTTP
answers (LangSmith's ``{"detail": message}``)."""

from __future__ import annotations

import json
import zlib
from typing import Any, Callable

from .. import errors
from .._validation import digits

MAX_BODY = 64 << 20            # bytes of a request body, after decompression
API_PREFIX = "/api/v1"

# The answer to each kind of refusal: a client's mistake is a 4xx and changes nothing.
_STATUS = (
    (errors.NotFoundError, 404),
    (errors.LimitError, 413),
    (errors.ValidationError, 422),
    (errors.AmbiguousNameError, 409),
    (errors.ReadOnlyStoreError, 403),
    # The file's state, not the request's: 503 is retried by LangSmith's SDKs (a 4xx drops the
    # batch); a file runlite cannot read is the server's fault.
    (errors.StoreBusyError, 503),
    (errors.StoreFullError, 503),
    (errors.StoreClosedError, 503),
    (errors.StoreError, 500),
    (errors.RunliteError, 400),
)


async def in_thread(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in a worker thread: the event loop keeps serving every other request
    while it works or waits (a file's lock, a write)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


async def hand_over(store, runs: list) -> None:
    """Hand checked runs to the store's batch writer, in a worker thread: past
    ``MAX_PENDING`` waiting runs the hand-over writes them itself (memory stays bounded), and
    that write, or its wait for another program's lock, must not stop the event loop, which
    would hold up every request, reads and ``/info`` included, for as long."""
    await in_thread(store.live.receive, runs)


def status_of(exc: errors.RunliteError) -> int:
    """The HTTP status answering a refused request."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def error_response(status: int, message: str):
    from starlette.responses import JSONResponse

    # A 501 answers the same however often it is asked: LangSmith's generated clients retry
    # every 5xx (with backoff) unless the answer tells them not to.
    headers = {"x-should-retry": "false"} if status == 501 else None
    return JSONResponse({"detail": utf8(message[:2000])}, status_code=status, headers=headers)


def utf8(message: str) -> str:
    """A message UTF-8 can hold: a lone surrogate it quotes from a request becomes ``\\udXXX``
    (encoding the answer would fail, and the client would get a 500 instead)."""
    return message if message.isascii() else message.encode("utf-8", "backslashreplace").decode("utf-8")


async def body(request, limit: int) -> bytes:
    """The request body, refused (LimitError) past ``limit`` bytes whether sent plainly,
    chunked, or compressed: ``Content-Encoding: zstd`` (as LangSmith's SDKs send it), ``gzip``
    (OTLP's) or ``deflate``; a compressed body is never inflated past ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and ((declared_size := digits(declared, 20)) is None or declared_size > limit):
        raise errors.LimitError(f"the body is {declared} bytes; this server takes at most {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.LimitError(f"the body is over {limit:,} bytes, the most this server takes")
        chunks.append(chunk)
    data = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding in ("gzip", "x-gzip"):
        return inflate(data, limit, gzip=True)
    if encoding == "deflate":
        return inflate(data, limit, gzip=False)
    if encoding != "zstd":
        raise errors.ValidationError(f"Content-Encoding {encoding[:40]!r} is not accepted "
                                     "(zstd, gzip, deflate or none)")
    from ..codec.zstd import decompress_limited

    return decompress_limited(data, limit=limit, what="the request body")


def inflate(data: bytes, limit: int, *, gzip: bool) -> bytes:
    """A gzip body (every member of it) or a zlib-wrapped deflate body, refused (LimitError)
    as soon as it would inflate past ``limit`` bytes: zlib is never asked for more."""
    name = "gzip" if gzip else "deflate"
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(31 if gzip else 15)
        pending = rest
        try:
            while not inflater.eof:
                room = limit + 1 - len(out)  # >= 1: 0 would mean no bound to zlib
                chunk = inflater.decompress(pending, room)
                out += chunk
                if len(out) > limit:
                    raise errors.LimitError(f"the {name} body decompresses to over {limit:,} bytes, "
                                            "the most this server takes")
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break
        except zlib.error as exc:
            raise errors.ValidationError(f"the body is not valid {name}: {exc}") from None
        if not inflater.eof:
            raise errors.ValidationError(f"the {name} body is truncated")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if not gzip:
            raise errors.ValidationError(f"the {name} body has {len(rest):,} bytes after its end")


def json_value(data: bytes, what: str | Callable[[], str] = "the body") -> Any:
    """A JSON document sent by a client; ValidationError when it is not one. ``what`` names it
    in the error, or makes the name (a multipart form names thousands of parts that are JSON)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise errors.ValidationError(f"{_named(what)} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ValidationError(f"{_named(what)} is not JSON: {str(exc)[:200]}") from None


def _named(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what
