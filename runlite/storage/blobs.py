"""Content-addressed, zstd-compressed, chunked blobs inside the SQLite file.

A blob is keyed by the SHA-256 of its content, so content saved by many runs is stored
once; it is cut into ``PART_SIZE`` parts, one zstd frame each, so memory stays bounded.
Decoding trusts no stored byte. Before any part is inflated, the rows must be laid out as
runlite writes them (`check_layout`): parts numbered from 0, each recording 1 to
``PART_SIZE`` bytes, adding up to the blob's size; so a file cannot make a read, a verify
or a restore inflate more than the size it declares, nor more than ``PART_SIZE`` per part.
A frame must then declare exactly the part size its row records before zstd may allocate,
must carry a checksum and must end the row; the SHA-256 of the whole content is checked at
the end.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import os
import re
import stat
import struct
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterator, Optional

import attrs
import zstandard

from . import schema
from ..codec import zstd
from ..errors import CorruptStoreError, LimitError, NotFoundError, ValidationError

BLOB_DDL = ";\n".join(schema.BLOB_DDL) + ";"  # the tables, as the schema creates them

PART_SIZE = 1 << 20  # 2 and 4 MiB measured no faster (benchmarks/bench_blobs.py); 1 MiB uses least memory
MAX_BLOB_SIZE = 1 << 40
# The most one frame may declare to `decompress_part`. A blob's parts are held to PART_SIZE
# (what runlite has always written) by `check_layout` and the reader, before they decode.
MAX_PART_SIZE = 64 << 20
# Level 1 saves ~1.3x faster than level 3 on 2 cores (level 3 cannot reach 200 MB/s
# there) and compressed CSV-like logs as well in bench_blobs.py.
DEFAULT_LEVEL = 1

# zstd releases the GIL, so parts are (de)compressed on worker threads while the
# caller's thread reads, hashes and talks to SQLite. SQLite stalls that thread in
# bursts (cache spills, WAL writes); keeping 8 parts in flight lets the workers go on
# meanwhile (measured: 2 in flight saved at ~125 MB/s, 8 at ~220 MB/s) for ~16 MiB.
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_AHEAD = 8
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_SPOOL_RECORD = struct.Struct("<QQ")  # part size, frame length
_local = threading.local()  # zstd contexts are not thread-safe: one per thread

Parts = Iterator[tuple[int, bytes]]  # (uncompressed size, zstd frame) per part, in order


@attrs.frozen
class BlobInfo:
    """A stored blob; ``new`` is False when the content already existed (nothing inserted)."""

    sha256: str
    size: int
    stored: int
    parts: int
    new: bool


def _check_sha(value: object, what: str = "sha256") -> str:
    if not isinstance(value, str) or not _SHA_RE.fullmatch(value):
        raise ValidationError(f"{what} must be 64 lowercase hex digits, got {value!r:.80}")
    return value


def _check_int(what: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(f"{what} must be an int from {low} to {high}, got {value!r}")


def _check_limit(size: int, limit: int) -> None:
    if size > limit:
        raise LimitError(f"blob content is larger than {limit} bytes (at least {size} bytes)")


def _known_size(fileobj: BinaryIO) -> Optional[int]:
    """Bytes left in a regular file, or None when that cannot be known cheaply."""
    try:
        st = os.fstat(fileobj.fileno())
        return st.st_size - fileobj.tell() if stat.S_ISREG(st.st_mode) else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _read_full(fileobj: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at EOF, looping over short reads (pipes, raw files)."""
    data = fileobj.read(n)
    if not isinstance(data, (bytes, bytearray)):
        raise ValidationError(f"the stream returned {type(data).__name__}, not bytes: "
                              "pass a blocking stream opened in binary mode")
    if len(data) == n or not data:
        return bytes(data)
    buf = bytearray(data)
    while len(buf) < n and (more := fileobj.read(n - len(buf))):
        buf += more
    return bytes(buf)


def _compress(chunk: bytes, level: int) -> tuple[int, bytes]:
    cache = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    return len(chunk), cache[level].compress(chunk)


def _compressed_parts(fileobj: BinaryIO, level: int, hasher) -> Parts:
    """Read, hash (on this thread) and compress (on workers) ``fileobj`` part by part."""
    total = 0
    chunk = _read_full(fileobj, PART_SIZE)
    if len(chunk) < PART_SIZE:  # one part or none: not worth starting threads
        if chunk:
            _check_limit(len(chunk), MAX_BLOB_SIZE)
            hasher.update(chunk)
            yield _compress(chunk, level)
        return
    pending: collections.deque[Future] = collections.deque()
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="runlite-zstd") as pool:
        try:
            while chunk:
                total += len(chunk)
                _check_limit(total, MAX_BLOB_SIZE)
                hasher.update(chunk)
                pending.append(pool.submit(_compress, chunk, level))
                while len(pending) > _AHEAD:
                    yield pending.popleft().result()
                chunk = _read_full(fileobj, PART_SIZE)
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # stopped early (error): do no more work
                future.cancel()


def _existing(conn, sha256: str) -> Optional[BlobInfo]:
    row = conn.execute("SELECT size, stored, parts FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else BlobInfo(sha256, *row, new=False)


def _store(conn, sha256: str, parts: Parts, now_us: int, check: Callable[[], None] = lambda: None) -> BlobInfo:
    """Insert the blob row, then its parts, then run ``check``; all undone on any error.

    The savepoint means a refused or failed blob leaves nothing behind even if the
    caller goes on to commit its transaction.
    """
    conn.execute("SAVEPOINT runlite_blob_put")
    try:
        with contextlib.closing(parts):  # stops the workers at once on error
            conn.execute("INSERT INTO blobs (sha256, size, stored, parts, created) VALUES (?, 0, 0, 0, ?)",
                         (sha256, now_us))
            seq = size = stored = 0
            for part_size, frame in parts:
                conn.execute("INSERT INTO blob_parts (sha256, seq, size, data) VALUES (?, ?, ?, ?)",
                             (sha256, seq, part_size, frame))
                seq, size, stored = seq + 1, size + part_size, stored + len(frame)
        check()
        conn.execute("UPDATE blobs SET size = ?, stored = ?, parts = ? WHERE sha256 = ?",
                     (size, stored, seq, sha256))
    except BaseException:
        # A full disk or I/O error may have rolled back the whole transaction, savepoint
        # included: then "no such savepoint" would replace the real error.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK TO runlite_blob_put")
                conn.execute("RELEASE runlite_blob_put")
            except Exception:  # noqa: BLE001 - the original error is the one that matters
                pass
        raise
    conn.execute("RELEASE runlite_blob_put")
    return BlobInfo(sha256, size, stored, seq, new=True)


def _put_known(conn, fileobj: BinaryIO, sha256: str, now_us: int, level: int) -> BlobInfo:
    """Store ``fileobj``, whose content a first pass hashed to ``sha256``."""
    found = _existing(conn, sha256)
    if found is not None:
        return found
    hasher = hashlib.sha256()

    def check() -> None:
        if hasher.hexdigest() != sha256:
            raise ValidationError(f"the content changed while it was being saved: expected sha256 "
                                  f"{sha256}, read {hasher.hexdigest()}; nothing was stored")

    return _store(conn, sha256, _compressed_parts(fileobj, level, hasher), now_us, check)


def _put_spooled(conn, fileobj: BinaryIO, now_us: int, level: int) -> BlobInfo:
    """Store a one-pass stream, spooling compressed parts until its hash is known.

    Parts cannot be inserted before the blob row, whose key is the hash of everything;
    the spool stays in memory up to 4 parts, then goes to a temporary file.
    """
    hasher = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=4 * PART_SIZE) as spool:
        for part_size, frame in _compressed_parts(fileobj, level, hasher):
            spool.write(_SPOOL_RECORD.pack(part_size, len(frame)) + frame)
        found = _existing(conn, hasher.hexdigest())
        if found is not None:
            return found
        spool.seek(0)

        def unspool() -> Parts:
            while header := spool.read(_SPOOL_RECORD.size):
                part_size, length = _SPOOL_RECORD.unpack(header)
                yield part_size, spool.read(length)

        return _store(conn, hasher.hexdigest(), unspool(), now_us)


def hash_stream(fileobj: BinaryIO, *, limit: int = MAX_BLOB_SIZE) -> tuple[str, int]:
    """Hash a binary stream from its position to EOF, one part at a time.

    Returns:
        ``(sha256 hex, size in bytes)``.

    Raises:
        LimitError: the stream holds more than ``limit`` bytes.
    """
    known = _known_size(fileobj)
    if known is not None:
        _check_limit(known, limit)
    hasher, size = hashlib.sha256(), 0
    while chunk := _read_full(fileobj, PART_SIZE):
        size += len(chunk)
        _check_limit(size, limit)
        hasher.update(chunk)
    return hasher.hexdigest(), size


def put_stream(conn, fileobj: BinaryIO, *, now_us: int, level: int = DEFAULT_LEVEL,
               expected_sha256: Optional[str] = None) -> BlobInfo:
    """Store a binary stream, from its position to EOF, as a blob.

    Runs inside the caller's write transaction on apsw connection ``conn``, in a
    savepoint of its own. Without ``expected_sha256``, a seekable stream is hashed
    first (content already stored is then never compressed) and a one-pass stream
    is compressed into a temporary spool until its hash is known.

    Args:
        conn: apsw connection holding the ``BLOB_DDL`` tables.
        fileobj: binary stream, read ``PART_SIZE`` bytes at a time.
        now_us: creation time, microseconds since the Unix epoch.
        level: zstd level, -7 to 22.
        expected_sha256: hash from a first pass (``hash_stream``); when that content
            is already stored, the stream is not read at all.

    Returns:
        The blob; ``new=False`` when its content was already stored.

    Raises:
        ValidationError: the bytes read do not hash to ``expected_sha256`` (the file
            changed while saving); nothing was stored.
        LimitError: the content is larger than ``MAX_BLOB_SIZE``.
    """
    _check_int("now_us", now_us, 0, 1 << 62)
    _check_int("level", level, -7, 22)
    known = _known_size(fileobj)
    if known is not None:
        _check_limit(known, MAX_BLOB_SIZE)
    if expected_sha256 is None and fileobj.seekable():
        start = fileobj.tell()
        expected_sha256, _ = hash_stream(fileobj, limit=MAX_BLOB_SIZE)
        fileobj.seek(start)
    if expected_sha256 is None:
        return _put_spooled(conn, fileobj, now_us, level)
    return _put_known(conn, fileobj, _check_sha(expected_sha256, "expected_sha256"), now_us, level)


def put_bytes(conn, data: bytes, *, now_us: int, level: int = DEFAULT_LEVEL) -> BlobInfo:
    """Store ``data`` as a blob; see ``put_stream``."""
    _check_int("now_us", now_us, 0, 1 << 62)
    _check_int("level", level, -7, 22)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    _check_limit(len(data), MAX_BLOB_SIZE)
    return _put_known(conn, io.BytesIO(data), hashlib.sha256(data).hexdigest(), now_us, level)


def _decode(data: object, expected_size: object, where: str) -> bytes:
    """``decompress_part``, naming ``where`` (blob and part) in its errors."""
    # The part's row records its size: the frame must declare exactly that (at most
    # MAX_PART_SIZE) and carry a checksum before zstd may allocate (codec.zstd says why).
    return zstd.decompress(data, expected_size=expected_size, limit=MAX_PART_SIZE, what=where, checksum=True)


def decompress_part(data: bytes, expected_size: int) -> bytes:
    """Decode one stored part: exactly one checksummed zstd frame of ``expected_size`` bytes.

    Raises:
        CorruptStoreError: the frame is malformed, declares another or no size, is over
            ``MAX_PART_SIZE``, has no checksum or a wrong one, or is followed by data.
    """
    return _decode(data, expected_size, "blob part")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _part_size_problem(where: str, size: object) -> Optional[str]:
    """Why a part row's recorded size is not one runlite writes, or None."""
    # runlite cuts content into PART_SIZE parts and never writes an empty one: a row
    # claiming more is refused before its frame is looked at, so a few KiB of zeros
    # declaring 64 MiB per part cannot make anyone inflate (or write) gigabytes.
    if not _is_int(size) or not 1 <= size <= PART_SIZE:
        return (f"{where}: recorded size {size!r:.40} is not an int from 1 to {PART_SIZE} "
                f"(runlite stores parts of at most {PART_SIZE} bytes)")
    return None


def _layout_problems(conn, found: BlobInfo) -> list[str]:
    """What is wrong with a blob's rows, read without their data: nothing is decoded."""
    where = f"blob {found.sha256}"
    size, stored, parts = found.size, found.stored, found.parts
    if not _is_int(size) or not 0 <= size <= MAX_BLOB_SIZE:
        return [f"{where}: recorded size {size!r:.40} is not an int from 0 to {MAX_BLOB_SIZE}"]
    if not _is_int(parts) or not 0 <= parts <= size:  # each part holds at least one byte
        return [f"{where}: recorded part count {parts!r:.40} is not an int from 0 to its size {size}"]
    if not _is_int(stored) or stored < 0:
        return [f"{where}: recorded stored size {stored!r:.40} is not a non-negative int"]
    problems: list[str] = []
    expect = total = 0
    # Only seq and size are read (they precede data in the row, so SQLite does not load
    # the frames); the walk is bounded by the rows the file really holds.
    for seq, part_size in conn.execute("SELECT seq, size FROM blob_parts WHERE sha256 = ? ORDER BY seq",
                                       (found.sha256,)):
        if not _is_int(seq) or seq < expect:
            problems.append(f"{where}: part number {seq!r:.40} is not an int from {expect} to {parts - 1}")
            break
        if seq != expect:
            gap = f"part {expect} is" if seq == expect + 1 else f"parts {expect} to {seq - 1} are"
            problems.append(f"{where}: {gap} missing")
        if seq >= parts:
            problems.append(f"{where}: part {seq} is stored, the blob records {parts} parts")
            break
        problem = _part_size_problem(f"{where} part {seq}", part_size)
        if problem:
            problems.append(problem)
            break
        expect, total = seq + 1, total + part_size
        if total > size:
            problems.append(f"{where}: parts hold more than the {size} bytes the blob records")
            break
    if not problems:
        if expect != parts:
            gap = f"part {expect} is" if parts == expect + 1 else f"parts {expect} to {parts - 1} are"
            problems.append(f"{where}: {gap} missing ({expect} parts stored, the blob records {parts})")
        elif total != size:
            problems.append(f"{where}: parts hold {total} bytes, the blob records {size}")
    return problems


def check_layout(conn, sha256: str) -> BlobInfo:
    """A stored blob's row, once its part rows are laid out as runlite writes them.

    Reads sizes only, never a frame: parts numbered 0 to ``parts - 1``, each recording 1 to
    ``PART_SIZE`` bytes, adding up to the blob's size. Call it before reading or restoring
    a blob from a file that may be someone else's: afterwards no read can inflate more than
    the size it reports.

    Raises:
        NotFoundError: no blob has this hash.
        CorruptStoreError: the rows are not laid out so (the first problem found).
    """
    found = _existing(conn, _check_sha(sha256))
    if found is None:
        raise NotFoundError(f"no blob with sha256 {sha256}")
    problems = _layout_problems(conn, found)
    if problems:
        raise CorruptStoreError(problems[0])
    return found


class _PartReader(io.RawIOBase):
    """Raw stream over a blob's parts, checking sizes and the SHA-256 when EOF is reached.

    ``fetch_part`` is called on the reading thread only; up to ``_AHEAD`` fetched parts
    are decoded ahead on worker threads, and hashing stays in order on this thread.
    """

    def __init__(self, fetch_part, sha256: str, size: int, parts: int):
        self._fetch, self._sha256, self._size, self._parts = fetch_part, sha256, size, parts
        self._fetched = self._claimed = self._got = self._pos = 0
        self._part = b""
        self._hasher = hashlib.sha256()
        self._pending: collections.deque[Future] = collections.deque()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._verified = False

    def readable(self) -> bool:
        return True

    def _fetch_ahead(self) -> None:
        # Ahead by count and by bytes (one part is always allowed); each part is checked to
        # hold at most PART_SIZE before it is handed to a worker, so this bounds memory.
        while self._fetched < self._parts and (not self._pending or (
                len(self._pending) < _AHEAD and self._claimed - self._got < _AHEAD * PART_SIZE)):
            where = f"blob {self._sha256} part {self._fetched}"
            row = self._fetch(self._fetched)
            if row is None:
                raise CorruptStoreError(f"{where}: missing (the blob has {self._parts} parts)")
            size, data = row
            problem = _part_size_problem(where, size)  # refused before decoding
            if problem:
                raise CorruptStoreError(problem)
            if size > self._size - self._claimed:
                raise CorruptStoreError(f"{where}: {size} more bytes would exceed the blob size {self._size}")
            if self._parts == 1:  # no threads for small blobs
                future: Future = Future()
                future.set_result(_decode(data, size, where))
            else:
                self._pool = self._pool or ThreadPoolExecutor(_WORKERS, thread_name_prefix="runlite-unzstd")
                future = self._pool.submit(_decode, data, size, where)
            self._pending.append(future)
            self._fetched += 1
            self._claimed += size

    def _next_part(self) -> bool:
        """Make the next decoded part current; at the end, verify and return False."""
        self._part = b""  # not held while the next one decodes
        self._fetch_ahead()
        if self._pending:
            self._part, self._pos = self._pending.popleft().result(), 0
            self._hasher.update(self._part)
            self._got += len(self._part)
            return True
        self._stop()
        if not self._verified:
            if self._got != self._size:
                raise CorruptStoreError(f"blob {self._sha256}: parts hold {self._got} bytes, expected {self._size}")
            if self._hasher.hexdigest() != self._sha256:
                raise CorruptStoreError(f"blob {self._sha256}: content hashes to {self._hasher.hexdigest()}")
            self._verified = True
        return False

    def readinto(self, buffer) -> int:
        while self._pos >= len(self._part):
            if not self._next_part():
                return 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._part) - self._pos)
        view[:n] = memoryview(self._part)[self._pos:self._pos + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        chunks = [self._part[self._pos:]]
        while self._next_part():
            chunks.append(self._part)
        self._part, self._pos = b"", 0
        return b"".join(chunks)

    def _stop(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def close(self) -> None:
        self._stop()
        self._part = b""
        super().close()


def open_reader(fetch_part: Callable[[int], Optional[tuple[int, bytes]]], sha256: str,
                size: int, parts: int) -> io.BufferedReader:
    """Open a blob as a readable binary stream that decodes a few parts at a time.

    Args:
        fetch_part: ``fetch_part(seq) -> (size, data)`` of a stored part, or None if
            there is none; called on the reading thread only.
        sha256, size, parts: the blob's row.

    Returns:
        A buffered binary stream. Bytes are handed out as decoded; sizes and the content
        hash are checked when the end is read, so only a stream read to EOF is verified.

    Raises:
        CorruptStoreError: ``size`` and ``parts`` cannot add up; while reading, a part is
            missing, records more than ``PART_SIZE`` bytes or fails to decode, the sizes do
            not add up, or the content does not hash to ``sha256``.
    """
    _check_sha(sha256)
    for what, value in (("size", size), ("parts", parts)):
        if not _is_int(value) or value < 0:
            raise CorruptStoreError(f"blob {sha256}: {what} {value!r:.40} is not a non-negative int")
    # Parts hold 1 to PART_SIZE bytes each: a count that cannot add up is refused at once.
    least = -(-size // PART_SIZE)
    if size > MAX_BLOB_SIZE or not least <= parts <= size:
        raise CorruptStoreError(f"blob {sha256}: {parts} parts cannot hold {size} bytes, expected {least} "
                                f"to {size} parts of 1 to {PART_SIZE} bytes, at most {MAX_BLOB_SIZE} bytes")
    return io.BufferedReader(_PartReader(fetch_part, sha256, size, parts), buffer_size=PART_SIZE)


def part(conn, sha256: str, seq: int) -> Optional[tuple[int, bytes]]:
    """``(size, data)`` of one stored part of a blob, or None."""
    return conn.execute("SELECT size, data FROM blob_parts WHERE sha256 = ? AND seq = ?", (sha256, seq)).fetchone()


def read_bytes(conn, sha256: str, *, max_size: int = 1 << 31) -> bytes:
    """Return a blob's whole content, verified against its hash.

    Raises:
        NotFoundError: no blob has this hash.
        LimitError: the content is larger than ``max_size`` (stream it with ``open_reader``).
        CorruptStoreError: the stored blob fails a check.
    """
    found = check_layout(conn, sha256)  # sizes first: found.size is then what may be inflated
    if found.size > max_size:
        raise LimitError(f"blob {sha256} holds {found.size} bytes, more than max_size={max_size}")
    with open_reader(lambda seq: part(conn, sha256, seq), sha256, found.size, found.parts) as reader:
        return reader.read()


def verify_blob(conn, sha256: str) -> list[str]:
    """Check a stored blob: its rows laid out as runlite writes them (`check_layout`; if not,
    nothing is decoded), every part decodes, the content hash matches.

    Returns:
        The problems found, one sentence each; empty when the blob is sound.
    """
    found = _existing(conn, _check_sha(sha256))
    if found is None:
        return [f"blob {sha256}: not found"]
    # Rows that cannot be what runlite wrote say enough: decoding them would only let a
    # file declaring gigabytes of zeros take minutes to refuse (merge verifies every new blob).
    problems = _layout_problems(conn, found)
    if problems:
        return problems
    # The layout is sound (numbering, sizes, total), so each part decodes to at most PART_SIZE
    # bytes and the parts that decode hold exactly the blob's size.
    hasher = hashlib.sha256()
    stored = 0
    broken = False  # a part undecodable: the content hash would say nothing new
    for seq, size, data in conn.execute(
            "SELECT seq, size, data FROM blob_parts WHERE sha256 = ? ORDER BY seq", (sha256,)):
        stored += len(data) if isinstance(data, bytes) else 0
        try:
            content = _decode(data, size, f"blob {sha256} part {seq}")
        except CorruptStoreError as exc:
            problems.append(str(exc))
            broken = True
            continue
        hasher.update(content)
        del content  # not held while the next part decodes
    if stored != found.stored:
        problems.append(f"blob {sha256}: parts hold {stored} compressed bytes, the blob records {found.stored}")
    if not broken and hasher.hexdigest() != sha256:
        problems.append(f"blob {sha256}: content hashes to {hasher.hexdigest()}")
    return problems


def delete_unreferenced(conn, referenced_sql: str) -> int:
    """Delete the blobs, and their parts, whose hash ``referenced_sql`` does not return.

    ``referenced_sql`` is a trusted ``SELECT`` written by runlite (never by a user)
    that yields one column of sha256 values. Should it yield a NULL, ``NOT IN`` matches
    nothing and nothing is deleted: the safe way to fail. Run inside a write transaction.

    Returns:
        The number of blobs deleted.
    """
    doomed = f"SELECT sha256 FROM blobs WHERE sha256 NOT IN ({referenced_sql})"
    # Parts first and by hand, so this is right even with foreign keys off.
    conn.execute(f"DELETE FROM blob_parts WHERE sha256 IN ({doomed})")
    conn.execute(f"DELETE FROM blobs WHERE sha256 IN ({doomed})")
    return conn.changes()
