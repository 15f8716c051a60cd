"""Tests of runlite.blobs: round trips, dedup, bounded memory, zstd bombs, corruption."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import struct
import threading
import time
import tracemalloc

import apsw
import pytest
import zstandard

from runlite.storage import blobs
from runlite.errors import CorruptStoreError, LimitError, NotFoundError, ValidationError

MiB = 1 << 20
PART = blobs.PART_SIZE
BIG = (1 << 30) if os.environ.get("RUNLITE_FULL") == "1" else 300 * MiB
MEMORY_CAP = 64 * MiB


@pytest.fixture
def conn():
    db = apsw.Connection(":memory:")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(blobs.BLOB_DDL)
    yield db
    db.close()


def in_tx(db, fn, *args, **kwargs):
    """Run ``fn`` inside BEGIN IMMEDIATE/COMMIT, rolling back on error like runlite does."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db, *args, **kwargs)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def counts(db):
    """(blob rows, part rows, compressed bytes) in the store."""
    (n_blobs,), = db.execute("SELECT count(*) FROM blobs")
    (n_parts, stored), = db.execute("SELECT count(*), coalesce(sum(length(data)), 0) FROM blob_parts")
    return n_blobs, n_parts, stored


def fetcher(db, sha):
    def fetch(seq):
        return db.execute("SELECT size, data FROM blob_parts WHERE sha256 = ? AND seq = ?", (sha, seq)).fetchone()
    return fetch


def stream_all(db, sha, chunk=MiB):
    (size, parts), = db.execute("SELECT size, parts FROM blobs WHERE sha256 = ?", (sha,))
    out = bytearray()
    with blobs.open_reader(fetcher(db, sha), sha, size, parts) as reader:
        while piece := reader.read(chunk):
            out += piece
    return bytes(out)


def text(n, seed=0):
    rnd = random.Random(seed)
    words = [b"loss", b"accuracy", b"epoch", b"0.125", b"train", b"eval", b"run-17", b"\n"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b","
    return bytes(out[:n])


class OnePass(io.RawIOBase):
    """``size`` bytes of compressible text made on the fly; not seekable; memory O(1)."""

    SEGMENT = 64 << 10
    BLOCK = text(256 << 10, seed=1)

    def __init__(self, size, seed=0, fail_at=None):
        self._size, self._seed, self._pos, self._fail_at = size, seed, 0, fail_at

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._fail_at is not None and self._pos >= self._fail_at:
            raise OSError("disk went away")
        segment, offset = divmod(self._pos, self.SEGMENT)
        n = min(len(buffer), self._size - self._pos, self.SEGMENT - offset)
        start = (segment * 7919 + self._seed) % (len(self.BLOCK) - self.SEGMENT) + offset
        buffer[:n] = self.BLOCK[start:start + n]
        self._pos += n
        return n


def peak_memory(fn):
    """Return (result, peak bytes traced while ``fn`` ran)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------- round trips

SIZES = [0, 1, 100, PART - 1, PART, PART + 1, 3 * PART + 17]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "random"])
def test_round_trip(conn, size, kind):
    data = text(size) if kind == "text" else random.Random(size).randbytes(size)
    info = in_tx(conn, blobs.put_bytes, data, now_us=123)
    assert info.new and info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.size, info.parts) == (size, -(-size // PART))
    assert counts(conn) == (1, info.parts, info.stored)
    assert blobs.read_bytes(conn, info.sha256) == data
    assert stream_all(conn, info.sha256) == data
    assert stream_all(conn, info.sha256, chunk=4097) == data
    assert blobs.verify_blob(conn, info.sha256) == []
    (created,), = conn.execute("SELECT created FROM blobs")
    assert created == 123


@pytest.mark.parametrize("size", SIZES)
def test_put_stream_matches_put_bytes_and_dedups(conn, size):
    data = text(size, seed=size)
    first = in_tx(conn, blobs.put_stream, io.BytesIO(data), now_us=1)
    before = counts(conn)
    assert first.new and (first.sha256, first.size) == blobs.hash_stream(io.BytesIO(data))
    again = [
        in_tx(conn, blobs.put_bytes, data, now_us=2),
        in_tx(conn, blobs.put_stream, io.BytesIO(data), now_us=3),
        in_tx(conn, blobs.put_stream, OnePassBytes(data), now_us=4),
        in_tx(conn, blobs.put_stream, io.BytesIO(data), now_us=5, expected_sha256=first.sha256),
    ]
    for info in again:
        assert info == blobs.BlobInfo(first.sha256, first.size, first.stored, first.parts, new=False)
    assert counts(conn) == before


class OnePassBytes(io.RawIOBase):
    """A non-seekable stream over ``data`` returning short reads, like a pipe."""

    def __init__(self, data):
        self._data, self._pos = data, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), 1000 + self._pos % 5000, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


def test_one_pass_stream_spools_then_stores(conn):
    data = text(9 * PART + 5)  # more than the in-memory spool holds
    info = in_tx(conn, blobs.put_stream, io.BufferedReader(OnePassBytes(data)), now_us=1)
    assert info.new and info.sha256 == hashlib.sha256(data).hexdigest() and info.parts == 10
    assert blobs.read_bytes(conn, info.sha256) == data


def test_known_hash_of_stored_content_does_not_read_the_stream(conn):
    data = text(5000)
    info = in_tx(conn, blobs.put_bytes, data, now_us=1)
    unreadable = OnePass(10, fail_at=0)
    again = in_tx(conn, blobs.put_stream, unreadable, now_us=2, expected_sha256=info.sha256)
    assert not again.new and again.sha256 == info.sha256


def test_hash_stream_and_limits(conn, monkeypatch, tmp_path):
    data = text(3 * PART + 1)
    assert blobs.hash_stream(io.BytesIO(data)) == (hashlib.sha256(data).hexdigest(), len(data))
    with pytest.raises(LimitError):
        blobs.hash_stream(io.BytesIO(data), limit=len(data) - 1)
    monkeypatch.setattr(blobs, "MAX_BLOB_SIZE", 10)
    with pytest.raises(LimitError):
        in_tx(conn, blobs.put_bytes, b"x" * 11, now_us=1)
    path = tmp_path / "big"
    path.write_bytes(b"y" * 11)
    with open(path, "rb") as f, pytest.raises(LimitError):
        in_tx(conn, blobs.put_stream, f, now_us=1)  # refused from its size, before reading
    with pytest.raises(LimitError):
        in_tx(conn, blobs.put_stream, OnePassBytes(b"z" * 11), now_us=1)
    assert counts(conn) == (0, 0, 0)


def test_bad_arguments(conn):
    with pytest.raises(ValidationError):
        in_tx(conn, blobs.put_bytes, b"x", now_us=-1)
    with pytest.raises(ValidationError):
        in_tx(conn, blobs.put_bytes, b"x", now_us=1, level=99)
    with pytest.raises(ValidationError):
        in_tx(conn, blobs.put_bytes, "text", now_us=1)
    with pytest.raises(ValidationError):
        in_tx(conn, blobs.put_stream, io.StringIO("text"), now_us=1)
    with pytest.raises(ValidationError):
        in_tx(conn, blobs.put_stream, io.BytesIO(b"x"), now_us=1, expected_sha256="ABC")
    with pytest.raises(ValidationError):
        blobs.read_bytes(conn, "../etc/passwd")
    assert counts(conn) == (0, 0, 0)


def test_read_missing_and_too_large(conn):
    with pytest.raises(NotFoundError):
        blobs.read_bytes(conn, "0" * 64)
    assert blobs.verify_blob(conn, "0" * 64) == [f"blob {'0' * 64}: not found"]
    info = in_tx(conn, blobs.put_bytes, b"abc" * 1000, now_us=1)
    with pytest.raises(LimitError):
        blobs.read_bytes(conn, info.sha256, max_size=2999)


# ---------------------------------------------------------------------------- changed files, failures


def test_file_changed_between_hash_and_put(conn, tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(text(2 * PART + 10))
    with open(path, "rb") as f:
        sha, _ = blobs.hash_stream(f)
    path.write_bytes(text(2 * PART + 10, seed=9))  # rewritten while saving
    conn.execute("BEGIN IMMEDIATE")
    with open(path, "rb") as f, pytest.raises(ValidationError, match="changed"):
        blobs.put_stream(conn, f, now_us=1, expected_sha256=sha)
    assert counts(conn) == (0, 0, 0)  # even before the caller rolls back
    conn.execute("ROLLBACK")
    assert counts(conn) == (0, 0, 0)


def test_stream_error_midway_stores_nothing_and_keeps_the_transaction(conn):
    kept = in_tx(conn, blobs.put_bytes, b"kept", now_us=1)
    conn.execute("BEGIN IMMEDIATE")
    for stream in (OnePass(20 * PART, fail_at=5 * PART), io.BufferedReader(OnePass(20 * PART, fail_at=5 * PART))):
        with pytest.raises(OSError):
            blobs.put_stream(conn, stream, now_us=1)
    conn.execute("COMMIT")
    assert counts(conn) == (1, 1, kept.stored)


# ---------------------------------------------------------------------------- bounded memory


def test_large_one_pass_stream_has_bounded_memory(conn):
    expected = blobs.hash_stream(OnePass(BIG))
    info, peak = peak_memory(lambda: in_tx(conn, blobs.put_stream, OnePass(BIG), now_us=1))
    assert (info.sha256, info.size) == expected and info.parts == BIG // PART
    assert peak < MEMORY_CAP, f"save peaked at {peak / MiB:.1f} MiB"

    def read_to_end():
        digest = hashlib.sha256()
        with blobs.open_reader(fetcher(conn, info.sha256), info.sha256, info.size, info.parts) as reader:
            while piece := reader.read(MiB):
                digest.update(piece)
        return digest.hexdigest()

    sha, peak = peak_memory(read_to_end)
    assert sha == info.sha256
    assert peak < MEMORY_CAP, f"read peaked at {peak / MiB:.1f} MiB"


def test_large_sparse_file_two_pass_has_bounded_memory(conn, tmp_path):
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(BIG)

    def save():
        with open(path, "rb") as f:
            sha, _ = blobs.hash_stream(f)
            f.seek(0)
            return in_tx(conn, blobs.put_stream, f, now_us=1, expected_sha256=sha)

    info, peak = peak_memory(save)
    assert info.size == BIG and info.stored < BIG // 1000
    assert peak < MEMORY_CAP, f"save peaked at {peak / MiB:.1f} MiB"
    problems, peak = peak_memory(lambda: blobs.verify_blob(conn, info.sha256))
    assert problems == [] and peak < MEMORY_CAP


# ---------------------------------------------------------------------------- zstd bombs

ZSTD_MAGIC = 0xFD2FB528


def frame_declaring(content_size: int) -> bytes:
    """A hand-made 17-byte frame whose header declares ``content_size`` bytes (one RLE block)."""
    descriptor = 0b1110_0000  # 8-byte content size, single segment, no checksum
    block = (1 << 17) << 3 | 0b01 << 1 | 1  # last block, RLE, 128 KiB
    return struct.pack("<IBQ", ZSTD_MAGIC, descriptor, content_size) + block.to_bytes(3, "little") + b"\0"


def insert_blob(db, sha, size, parts):
    """Write rows by hand, as a crafted or damaged file would hold them."""
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO blobs VALUES (?, ?, ?, ?, 0)", (sha, size, sum(len(d) for _, d in parts), len(parts)))
    for seq, (part_size, data) in enumerate(parts):
        db.execute("INSERT INTO blob_parts (sha256, seq, size, data) VALUES (?, ?, ?, ?)", (sha, seq, part_size, data))
    db.execute("COMMIT")


def compress(data, **kwargs):
    kwargs.setdefault("write_checksum", True)
    kwargs.setdefault("write_content_size", True)
    return zstandard.ZstdCompressor(**kwargs).compress(data)


def with_declared_size(frame, size):
    """Patch the 2-byte content size field of a small frame made by ``compress``."""
    descriptor = frame[4]
    assert descriptor >> 6 == 1 and descriptor & 0x20  # 2-byte content size, single segment
    return frame[:5] + struct.pack("<H", size - 256) + frame[7:]


CONTENT = text(3000, seed=5)
GOOD = compress(CONTENT)
BOMBS = {
    "declares 8 GiB, recorded 8 GiB": (frame_declaring(8 << 30), 8 << 30, "is not an int from 0"),
    "declares 8 GiB, recorded 128 KiB": (frame_declaring(8 << 30), 128 << 10, "declares 8589934592"),
    "declares 64 MiB": (frame_declaring(64 << 20), 64 << 20, "no checksum"),
    "no content size": (compress(CONTENT, write_content_size=False), len(CONTENT), "does not declare"),
    "declared size differs from recorded": (GOOD, len(CONTENT) - 1, "declares 3000"),
    "header lies about the size": (with_declared_size(GOOD, 1000), 1000, "could not decode"),
    "trailing frame": (GOOD + GOOD, len(CONTENT), "unused data"),
    "trailing junk": (GOOD + b"\0junk", len(CONTENT), "unused data"),
    "no checksum": (compress(CONTENT, write_checksum=False), len(CONTENT), "no checksum"),
    "skippable frame": (struct.pack("<II", 0x184D2A50, 3000) + bytes(3000), 3000, "declares 0"),
    "skippable frame, empty part": (struct.pack("<II", 0x184D2A50, 4) + b"abcd", 0, "no checksum"),
    "empty frame with junk": (compress(b"") + b"junk", 0, "empty frame"),
    "not zstd": (b"PK\x03\x04" + bytes(100), 100, "not a zstd frame"),
    "empty data": (b"", 100, "not a zstd frame"),
    "huge stored row": (GOOD + bytes(1 << 20), len(CONTENT), "compressed bytes for"),
    "text instead of bytes": ("(\xb5/\xfd", 10, "not a zstd frame"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_decompress_part_refuses_bombs_quickly_with_bounded_memory(name):
    data, size, message = BOMBS[name]
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(CorruptStoreError, match=message):
            blobs.decompress_part(data, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB and time.perf_counter() - start < 1.0


@pytest.mark.parametrize("name", ["declares 8 GiB, recorded 128 KiB", "no content size", "trailing frame"])
def test_reading_a_bomb_from_the_store_fails_naming_blob_and_part(conn, name):
    data, size, _ = BOMBS[name]
    sha = "ab" * 32
    insert_blob(conn, sha, len(CONTENT) + size, [(len(CONTENT), GOOD), (size, data)])
    _, peak = peak_memory(lambda: pytest.raises(CorruptStoreError, blobs.read_bytes, conn, sha))
    assert peak < 16 * MiB
    with pytest.raises(CorruptStoreError, match=f"blob {sha} part 1"):
        blobs.read_bytes(conn, sha)
    problems = blobs.verify_blob(conn, sha)
    assert any("part 1" in p for p in problems), problems


def test_decompress_part_accepts_what_it_wrote():
    assert blobs.decompress_part(GOOD, len(CONTENT)) == CONTENT
    assert blobs.decompress_part(compress(b""), 0) == b""


# ---------------------------------------------------------------------------- corruption


@pytest.fixture
def stored(conn):
    data = text(3 * PART + 500, seed=3)
    return data, in_tx(conn, blobs.put_bytes, data, now_us=1)


def assert_corrupt_everywhere(db, sha, match):
    with pytest.raises(CorruptStoreError, match=match):
        blobs.read_bytes(db, sha)
    with pytest.raises(CorruptStoreError, match=match):
        stream_all(db, sha)
    problems = blobs.verify_blob(db, sha)
    assert any(re.search(match, p) for p in problems), problems


@pytest.mark.parametrize("where", ["payload", "checksum", "header"])
def test_flipped_bytes_are_detected(conn, stored, where):
    _, info = stored
    (data,), = conn.execute("SELECT data FROM blob_parts WHERE sha256 = ? AND seq = 1", (info.sha256,))
    bad = bytearray(data)
    index = {"payload": len(bad) // 2, "checksum": len(bad) - 2, "header": 5}[where]
    bad[index] ^= 0x55
    conn.execute("UPDATE blob_parts SET data = ? WHERE sha256 = ? AND seq = 1", (bytes(bad), info.sha256))
    assert_corrupt_everywhere(conn, info.sha256, f"blob {info.sha256} part 1")


def test_swapped_parts_are_caught_by_the_content_hash(conn, stored):
    _, info = stored
    rows = dict(conn.execute("SELECT seq, data FROM blob_parts WHERE sha256 = ? AND seq < 2", (info.sha256,)))
    for seq, other in ((0, 1), (1, 0)):
        conn.execute("UPDATE blob_parts SET data = ? WHERE sha256 = ? AND seq = ?", (rows[other], info.sha256, seq))
    assert_corrupt_everywhere(conn, info.sha256, "content hashes to")


def test_missing_part_is_detected(conn, stored):
    _, info = stored
    conn.execute("DELETE FROM blob_parts WHERE sha256 = ? AND seq = 2", (info.sha256,))
    assert_corrupt_everywhere(conn, info.sha256, "part 2")


def test_missing_last_part_and_wrong_sizes_are_detected(conn, stored):
    _, info = stored
    conn.execute("DELETE FROM blob_parts WHERE sha256 = ? AND seq = 3", (info.sha256,))
    conn.execute("UPDATE blobs SET parts = 3 WHERE sha256 = ?", (info.sha256,))
    assert_corrupt_everywhere(conn, info.sha256, "bytes, (expected|the blob records)")


def test_blob_size_smaller_than_parts_is_refused_before_decoding(conn, stored):
    _, info = stored
    conn.execute("UPDATE blobs SET size = ? WHERE sha256 = ?", (PART, info.sha256))
    assert_corrupt_everywhere(conn, info.sha256, "exceed the blob size|the blob records")


def test_reader_fetches_on_the_reading_thread_and_may_stop_early(conn, stored):
    data, info = stored
    threads = set()

    def fetch(seq):
        threads.add(threading.get_ident())
        return fetcher(conn, info.sha256)(seq)

    with blobs.open_reader(fetch, info.sha256, info.size, info.parts) as reader:
        assert reader.read(10) == data[:10]
    with blobs.open_reader(fetch, info.sha256, info.size, info.parts) as reader:
        assert reader.read() == data
        assert reader.read() == b""
    assert threads == {threading.get_ident()}


# ---------------------------------------------------------------------------- garbage collection


def test_delete_unreferenced(conn):
    conn.execute("CREATE TABLE refs (sha256 TEXT)")
    keep = in_tx(conn, blobs.put_bytes, text(2 * PART, seed=1), now_us=1)
    drop = in_tx(conn, blobs.put_bytes, text(2 * PART, seed=2), now_us=1)
    conn.execute("INSERT INTO refs VALUES (?)", (keep.sha256,))
    assert in_tx(conn, blobs.delete_unreferenced, "SELECT sha256 FROM refs") == 1
    assert counts(conn) == (1, keep.parts, keep.stored)
    assert blobs.verify_blob(conn, keep.sha256) == [] and counts(conn)[0] == 1
    conn.execute("INSERT INTO refs VALUES (NULL)")  # NOT IN with a NULL deletes nothing
    conn.execute("DELETE FROM refs WHERE sha256 IS NOT NULL")
    assert in_tx(conn, blobs.delete_unreferenced, "SELECT sha256 FROM refs") == 0
    assert counts(conn) == (1, keep.parts, keep.stored)
    assert in_tx(conn, blobs.delete_unreferenced, "SELECT sha256 FROM refs WHERE sha256 IS NOT NULL") == 1
    assert counts(conn) == (0, 0, 0)
    with pytest.raises(NotFoundError):
        blobs.read_bytes(conn, drop.sha256)
