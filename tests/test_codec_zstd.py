"""runlite.codec.zstd: the one safe decoder every stored frame (chunks, sketches, blob parts)
goes through. Each refusal is a CorruptStoreError naming the frame, raised before zstd
allocates more than the caller's limit allows."""

from __future__ import annotations

import struct
import threading
import time
import tracemalloc

import pytest
import zstandard

from runlite.codec import zstd
from runlite.errors import CorruptStoreError

MiB = 1 << 20
MAGIC = 0xFD2FB528
CONTENT = bytes(range(256)) * 40  # 10,240 bytes


def frame(data: bytes = CONTENT, **kwargs) -> bytes:
    kwargs.setdefault("write_checksum", True)
    kwargs.setdefault("write_content_size", True)
    return zstandard.ZstdCompressor(**kwargs).compress(data)


def declaring(content_size: int) -> bytes:
    """A hand-made frame whose header declares ``content_size`` bytes (single segment, one
    128 KiB RLE block, no checksum)."""
    block = (1 << 17) << 3 | 0b01 << 1 | 1
    return struct.pack("<IBQ", MAGIC, 0b1110_0000, content_size) + block.to_bytes(3, "little") + b"\0"


GOOD = frame()
REFUSED = {  # name: (data, keyword arguments, message fragment)
    "text": ("(\xb5/\xfd", {}, "str, not a zstd frame"),
    "None": (None, {}, "NoneType, not a zstd frame"),
    "not zstd": (b"PK\x03\x04" + bytes(60), {}, "not a zstd frame"),
    "empty data": (b"", {}, "not a zstd frame"),
    "no content size": (frame(write_content_size=False), {}, "does not declare its content size"),
    "declares 8 GiB": (declaring(8 << 30), {}, "declares 8589934592 bytes, more than the 1048576 allowed"),
    "declares other than expected": (GOOD, {"expected_size": len(CONTENT) - 1}, "declares 10240 bytes, 10239 expected"),
    "expected size over the limit": (GOOD, {"expected_size": 2 * MiB}, "is not an int from 0 to 1048576"),
    "expected size negative": (GOOD, {"expected_size": -1}, "is not an int from 0"),
    "expected size a bool": (GOOD, {"expected_size": True}, "is not an int from 0"),
    "expected size text": (GOOD, {"expected_size": "10240"}, "is not an int from 0"),
    "no checksum, one required": (frame(write_checksum=False), {"checksum": True}, "carries no checksum"),
    "skippable frame, checksum required": (struct.pack("<II", 0x184D2A50, 4) + b"abcd", {"checksum": True},
                                          "carries no checksum"),
    "skippable frame, size expected": (struct.pack("<II", 0x184D2A50, 4) + b"abcd", {"expected_size": 4},
                                      "declares 0 bytes, 4 expected"),
    "trailing frame": (GOOD + GOOD, {}, "unused data"),
    "trailing junk": (GOOD + b"junk", {}, "unused data"),
    "empty frame with junk": (frame(b"") + b"junk", {}, "an empty frame with missing or extra data"),
    "far more bytes than the content needs": (GOOD + bytes(MiB), {"expected_size": len(CONTENT)},
                                              "compressed bytes for 10240 bytes"),
    "far more bytes than the limit allows": (bytes(2 * MiB), {}, "compressed bytes for at most 1048576"),
    "damaged payload": (GOOD[:20] + bytes([GOOD[20] ^ 0xFF]) + GOOD[21:], {}, "zstd could not decode"),
    "header lies about the size": (GOOD[:5] + struct.pack("<H", 1000 - 256) + GOOD[7:], {}, "zstd could not decode"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refuses_with_a_corrupt_store_error_quickly_and_in_bounded_memory(name):
    data, kwargs, message = REFUSED[name]
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(CorruptStoreError, match="^the frame: .*" + message.replace("(", r"\(")):
            zstd.decompress(data, limit=MiB, what="the frame", **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB + 2 * len(data or b"") and time.perf_counter() - start < 1.0


def test_round_trips():
    assert zstd.decompress(zstd.compress(CONTENT, level=3), limit=MiB, what="x") == CONTENT
    assert zstd.decompress(zstd.compress(CONTENT, level=1), limit=MiB, what="x", checksum=True,
                           expected_size=len(CONTENT)) == CONTENT
    plain = zstd.compress(CONTENT, level=1, checksum=False)
    assert not zstandard.get_frame_parameters(plain).has_checksum
    assert zstd.decompress(plain, limit=len(CONTENT), what="x", expected_size=len(CONTENT)) == CONTENT
    assert zstd.decompress(zstd.compress(b"", level=3), limit=0, what="x", expected_size=0) == b""
    # Any buffer, without a copy of the caller's: a slice of a larger blob, a bytearray.
    assert zstd.decompress(memoryview(b"head" + GOOD)[4:], limit=MiB, what="x") == CONTENT
    assert zstd.decompress(bytearray(GOOD), limit=MiB, what="x") == CONTENT


def test_content_exactly_at_the_limit_is_accepted():
    data = bytes(MiB)
    assert zstd.decompress(zstd.compress(data, level=1), limit=MiB, what="x", expected_size=MiB) == data
    with pytest.raises(CorruptStoreError, match="more than the 1048575 allowed"):
        zstd.decompress(zstd.compress(data, level=1), limit=MiB - 1, what="x")


def test_threads_decode_concurrently_with_their_own_contexts():
    payloads = [bytes([i]) * (1000 + i) + CONTENT for i in range(16)]
    frames = [zstd.compress(p, level=3) for p in payloads]
    failures: list = []

    def work(offset: int) -> None:
        try:
            for k in range(300):
                i = (offset + k) % len(frames)
                assert zstd.decompress(frames[i], limit=MiB, what="x", expected_size=len(payloads[i])) == payloads[i]
                assert zstd.compress(payloads[i], level=3) == frames[i]
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
