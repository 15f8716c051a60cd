"""Chunk codec version 2's three bodies (plain, one frame, a frame a column): each is written
where docs/CODEC.md says, and each refuses frames without checksums, sizes that do not add
up and frames of the wrong size, naming what is wrong."""

from __future__ import annotations

import math
import struct
from array import array

import pytest
import zstandard

from runlite.codec import zstd
from runlite.codec.chunks import decode_chunk, encode_chunk
from runlite.errors import CorruptStoreError

ORIGIN = 1_700_000_000_000_000
HEADER = struct.Struct("<BBHIq")


def columns(n: int, schedule: bool = False):
    steps = array("q", range(n))
    stamps = array("q", [ORIGIN + 1000 * i + (i * 7919) % 41 for i in range(n)])
    if schedule:  # smooth: DOD saves well over 1.5 B/pt, so a frame a column
        values = array("d", [3e-4 * (1 + math.cos(math.pi * (i + 20000) / 60000)) / 2 for i in range(n)])
    else:
        values = array("d", [2 * math.exp(-i / 300) + ((i * 2654435761) % 1000) * 1e-7 for i in range(n)])
    return steps, None, stamps, values


@pytest.mark.parametrize("n, schedule, flag", [(1, False, 8), (64, False, 8), (65, False, 4), (300, False, 4),
                                               (5000, True, 0)])
def test_each_size_and_shape_gets_its_body(n, schedule, flag):
    cols = columns(n, schedule)
    blob = encode_chunk(*cols, time_origin_us=ORIGIN)
    assert blob[1] & 0x0C == flag
    got = decode_chunk(blob, derive_times=False)
    assert [c.tobytes() for c in got if c is not None] == [c.tobytes() for c in cols if c is not None]


def test_one_frame_must_carry_a_checksum():
    blob = encode_chunk(*columns(300), time_origin_us=ORIGIN)
    assert blob[1] & 4
    content = zstandard.ZstdDecompressor().decompress(blob[HEADER.size:])
    bare = zstandard.ZstdCompressor(write_checksum=False).compress(content)
    with pytest.raises(CorruptStoreError, match="^chunk body: .*no checksum"):
        decode_chunk(blob[:HEADER.size] + bare)
    wrong = zstd.compress(content[:-8], level=1)  # a column short
    with pytest.raises(CorruptStoreError, match="^chunk body: the zstd frame declares"):
        decode_chunk(blob[:HEADER.size] + wrong)


def test_frames_of_columns_must_carry_checksums_and_add_up():
    blob = encode_chunk(*columns(5000, schedule=True), time_origin_us=ORIGIN)
    assert not blob[1] & 0x0C
    sizes = struct.unpack_from("<3I", blob, HEADER.size)
    with pytest.raises(CorruptStoreError, match="^chunk column sizes .* do not add up"):
        decode_chunk(blob + blob[-5:])
    last = blob[-sizes[2]:]
    bare = zstandard.ZstdCompressor(write_checksum=False).compress(zstandard.ZstdDecompressor().decompress(last))
    bad = bytearray(blob[:-sizes[2]] + bare)
    struct.pack_into("<I", bad, HEADER.size + 8, len(bare))
    with pytest.raises(CorruptStoreError, match="^chunk values column: .*no checksum"):
        decode_chunk(bytes(bad))
    frame = zstd.compress(bytes(8), level=1)
    bad = bytearray(blob[:-sizes[2]] + frame)
    struct.pack_into("<I", bad, HEADER.size + 8, len(frame))
    with pytest.raises(CorruptStoreError, match="^chunk values column: the zstd frame declares 8 bytes"):
        decode_chunk(bytes(bad))


def test_plain_chunks_refuse_codes_conflicting_flags_and_damage():
    blob = encode_chunk(*columns(2), time_origin_us=ORIGIN)
    assert blob[1] == 8
    for pos, value in ((1, 8 | 4), (2, 0x01), (3, 0x30)):
        bad = bytearray(blob)
        bad[pos] = value
        with pytest.raises(CorruptStoreError):
            decode_chunk(bytes(bad))
    with pytest.raises(CorruptStoreError, match="^uncompressed chunk of 2 points is"):
        decode_chunk(blob + b"\0")
    with pytest.raises(CorruptStoreError, match="CRC-32"):
        decode_chunk(blob[:-1] + bytes([blob[-1] ^ 1]))
