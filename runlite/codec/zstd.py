"""Safe zstd: the one place that decides whether a stored frame may be decoded.

zstandard's ``decompress`` ignores ``max_output_size`` when a frame declares its content
size: it allocates whatever the header says, so one damaged or hostile frame could ask for
gigabytes. Every stored frame runlite decodes (metric chunks, block sketches, blob parts)
goes through `decompress`, which reads the header first and lets zstd allocate only a
declared size that is known, within the caller's limit and, when the caller knows it,
exactly the expected size. Pure: no SQLite.
"""

from __future__ import annotations

import threading

import zstandard

from ..errors import CorruptStoreError

__all__ = ["compress", "compress_parts", "decompress", "decompress_limited"]

# zstandard (de)compression contexts must not be shared between threads: one set per thread.
_local = threading.local()


def compress(data, *, level: int, checksum: bool = True) -> bytes:
    """One zstd frame holding ``data``, declaring its content size (`decompress` needs it).

    Args:
        level: zstd level, -7 to 22.
        checksum: write the frame's content checksum (4 bytes) so damage is detected.
    """
    try:  # one attribute and one dict lookup: a flush makes two frames a series
        cctx = _local.compressors[level, checksum]
    except (AttributeError, KeyError):  # this thread's first frame at this level
        cctx = _compressor(level, checksum)
    return cctx.compress(data)


def _compressor(level: int, checksum: bool) -> zstandard.ZstdCompressor:
    """This thread's compressor of ``level`` writing the content size (and ``checksum``)."""
    cache = _local.__dict__.setdefault("compressors", {})
    cctx = cache.get((level, checksum))
    if cctx is None:
        cctx = cache[level, checksum] = zstandard.ZstdCompressor(
            level=level, write_checksum=checksum, write_content_size=True)
    return cctx


def compress_parts(parts, *, level: int) -> bytes:
    """One zstd frame (content size and checksum written, as `compress`) holding the parts
    one after another, each ending a zstd block: a part then gets entropy tables of its own
    (the chunk codec's byte planes: noise stored raw, sparse planes tightly)."""
    cobj = _compressor(level, True).compressobj(size=sum(map(len, parts)))
    out = []
    for part in parts:
        out.append(cobj.compress(part))
        out.append(cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
    out.append(cobj.flush())
    return b"".join(out)


def _decompressor(limit: int) -> zstandard.ZstdDecompressor:
    """This thread's decompressor whose window cap fits frames of up to ``limit`` bytes.

    One-shot decoding writes straight into the checked, declared-size output; the cap
    bounds the buffers zstd would size by a header's window when it streams (the empty
    frame path), whatever the header claims. A frame's window is at most the power of two
    at or above its content size, so legitimate frames always fit.
    """
    window = 1 << max(10, (limit - 1).bit_length())  # zstd's smallest window is 1 KiB
    cache = _local.__dict__.setdefault("decompressors", {})
    dctx = cache.get(window)
    if dctx is None:
        dctx = cache[window] = zstandard.ZstdDecompressor(max_window_size=window)
    return dctx


def _bound(size: int) -> int:
    """More compressed bytes than any frame of ``size`` bytes of content needs (zstd's
    bound is size + size/256 + a few hundred bytes)."""
    return size + (size >> 7) + 1024


def decompress(data, *, limit: int, what: str, expected_size: int | None = None,
               checksum: bool = False) -> bytes:
    """Decode exactly one stored zstd frame, checking its header before zstd allocates.

    Args:
        data: the stored bytes (bytes, bytearray or memoryview; not copied).
        limit: the most content bytes any such frame may hold.
        what: the frame's name in errors (``"blob <sha> part 3"``, ``"chunk body"``).
        expected_size: the exact content size, when the caller knows it (a row or header
            records it); it must itself be an int from 0 to ``limit``.
        checksum: refuse a frame without a content checksum.

    Returns:
        The content: exactly the declared (and expected) number of bytes.

    Raises:
        CorruptStoreError: not bytes or not a zstd frame; far more bytes than such content
            needs; the frame declares no content size, or one over ``limit`` or other than
            ``expected_size``; no checksum when one is required; zstd fails (damage, a wrong
            checksum, content of another size); data after the frame (another frame, junk).
    """
    def bad(why: str) -> CorruptStoreError:
        return CorruptStoreError(f"{what}: {why}")

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise bad(f"stored data is {type(data).__name__}, not a zstd frame")
    if expected_size is not None and (not isinstance(expected_size, int) or isinstance(expected_size, bool)
                                      or not 0 <= expected_size <= limit):
        raise bad(f"recorded size {expected_size!r:.40} is not an int from 0 to {limit}")
    try:
        view = memoryview(data).cast("B")
    except TypeError:  # a non-contiguous view
        raise bad("stored data is not a contiguous buffer, not a zstd frame") from None
    # A frame is never much larger than its content: refuse absurd data before parsing it.
    most = limit if expected_size is None else expected_size
    if len(view) > _bound(most):
        raise bad(f"{len(view)} compressed bytes for {'at most ' if expected_size is None else ''}"
                  f"{most} bytes of content")
    try:
        declared = zstandard.frame_content_size(view)
        has_checksum = zstandard.get_frame_parameters(view).has_checksum if checksum else True
    except zstandard.ZstdError as exc:
        raise bad(f"not a zstd frame ({exc})") from None
    if declared == -1:  # zstd would decode blindly, growing its output as it goes
        raise bad("the zstd frame does not declare its content size")
    if expected_size is not None and declared != expected_size:
        raise bad(f"the zstd frame declares {declared} bytes, {expected_size} expected")
    if declared > limit:
        raise bad(f"the zstd frame declares {declared} bytes, more than the {limit} allowed")
    if not has_checksum:  # also refuses skippable frames, which parse as 0 bytes
        raise bad("the zstd frame carries no checksum")
    dctx = _decompressor(limit)
    try:
        if declared == 0:  # decompress() returns b"" for size 0 without reading on: check the rest
            dobj = dctx.decompressobj()
            if dobj.decompress(view) or not dobj.eof or dobj.unused_data:
                raise zstandard.ZstdError("an empty frame with missing or extra data")
            return b""
        out = dctx.decompress(view, max_output_size=declared, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise bad(f"zstd could not decode the frame ({exc})") from None
    if len(out) != declared:
        raise bad(f"decoded {len(out)} bytes, the frame declares {declared}")
    return out


def decompress_limited(data, *, limit: int, what: str) -> bytes:
    """Decode zstd data someone sent (one or more frames, sizes declared or not), streaming
    into at most ``limit`` bytes: ``LimitError`` past that, ``ValidationError`` when it is not
    zstd. For bodies received, not stored frames (those go through `decompress`)."""
    import io

    from ..errors import LimitError, ValidationError

    try:
        reader = zstandard.ZstdDecompressor(max_window_size=1 << 27).stream_reader(
            io.BytesIO(data), read_across_frames=True)
        out = reader.read(limit + 1)
        while len(out) <= limit:
            more = reader.read(limit + 1 - len(out))
            if not more:
                break
            out += more
        if len(out) > limit:
            raise LimitError(f"{what} decompresses to over {limit:,} bytes, the most taken")
        # The reader stops quietly where the data does: every frame must also be complete. The
        # content is known to fit the limit now, so decoding it again frame by frame is bounded.
        rest = bytes(data)
        while rest:
            frame = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()
            frame.decompress(rest)
            if not frame.eof:
                raise ValidationError(f"{what} ends inside a zstd frame (truncated)")
            rest = frame.unused_data
    except zstandard.ZstdError as exc:
        raise ValidationError(f"{what} is not valid zstd: {str(exc)[:200]}") from None
    return out
