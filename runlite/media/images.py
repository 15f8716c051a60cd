"""Images as runlite stores them: PNG or JPEG bytes, whose size is read from the header alone.

``log_image`` takes PNG/JPEG bytes (kept as given), numpy arrays (encoded to PNG here) and PIL
images (encoded to PNG by Pillow). Nothing here decodes pixels: a PNG's chunks are walked
(lengths, CRCs, IHDR first, IEND last) and a JPEG's segments up to its frame header, so a
header claiming 100,000 x 100,000 pixels is refused before anything would allocate them.

Arrays are encoded with the standard library (zlib and a few chunks) and numpy, which the
caller has by definition: no optional dependency for the common case, and the same pixels
give the same bytes on every machine (so they are stored once). Each row gets the PNG filter
with the smallest sum of absolute differences, libpng's heuristic: within 7% of Pillow's size
on a photo-like image, equal on plots and gradients (docs/MEDIA.md). Decoding (``to_numpy``,
``to_pil``) is Pillow's job, never runlite's.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from typing import Any

import attrs

from .. import errors
from .._validation import check_text, shown

FORMATS = ("png", "jpeg")
MAX_IMAGE_PIXELS = 50_000_000  # width x height: a decompression-bomb guard (Pillow warns at 89M)
MAX_IMAGE_BYTES = 64 << 20  # encoded bytes of one image
MAX_CAPTION = 4096  # characters
MAX_CHUNKS = 100_000  # PNG chunks, or JPEG segments before the frame header: real files have far fewer
PILLOW = "pip install 'runlite[media]' (Pillow)"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}  # color type -> depths
# JPEG frame headers (SOF0-3, 5-7, 9-11, 13-15); C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
_JPEG_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))  # TEM, RST0-7: markers without a length
_PIL_AS_IS = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16")  # modes PNG holds as they are
_PIL_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV")
_FILTER_BLOCK = 1 << 20  # bytes of rows filtered at a time: memory stays a small multiple of it


@attrs.frozen
class ImageInfo:
    """What an image's header says: ``format`` (``png`` or ``jpeg``), ``width``, ``height``."""

    format: str
    width: int
    height: int


class _Bad(Exception):
    """Why bytes are not an image runlite keeps (``limit``: well-formed, but too large)."""

    def __init__(self, message: str, *, limit: bool = False):
        super().__init__(message)
        self.limit = limit


def _sized(fmt: str, width: int, height: int) -> ImageInfo:
    if width < 1 or height < 1:
        raise _Bad(f"its header says {width} x {height} pixels; an image has at least one")
    if width * height > MAX_IMAGE_PIXELS:
        raise _Bad(f"its header says {width} x {height} = {width * height:,} pixels; at most "
                   f"{MAX_IMAGE_PIXELS:,} are accepted (a guard against decompression bombs)", limit=True)
    return ImageInfo(fmt, width, height)


def _png(data: bytes) -> ImageInfo:
    """Walk every chunk: length, type, CRC; IHDR first, an IDAT, IEND last and nothing after."""
    pos, end, seen, chunks, header = 8, len(data), set(), 0, None
    while True:
        if pos + 12 > end:
            raise _Bad("it ends inside a chunk (truncated: no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF or pos + 12 + length > end:
            raise _Bad(f"its {kind!r:.12} chunk at byte {pos} claims {length} bytes beyond the end (truncated)")
        if not kind.isalpha() or not kind.isascii():
            raise _Bad(f"the chunk at byte {pos} has the type {kind!r}, not four letters")
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, pos + 8 + length)[0]:
            raise _Bad(f"its {kind.decode()} chunk at byte {pos} fails its CRC")
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _Bad(f"it holds more than {MAX_CHUNKS:,} chunks", limit=True)
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise _Bad("its first chunk is not a 13-byte IHDR")
            width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            if depth not in _PNG_DEPTHS.get(color, ()) or compression or filtering or interlace > 1:
                raise _Bad(f"its IHDR is not valid (bit depth {depth}, color type {color}, compression "
                           f"{compression}, filter {filtering}, interlace {interlace})")
            header = (width, height, color)
        seen.add(kind)
        pos += 12 + length
        if kind == b"IEND":
            break
    if pos != end:
        raise _Bad(f"{end - pos} bytes follow its IEND chunk")
    if b"IDAT" not in seen:
        raise _Bad("it has no IDAT chunk (no pixels)")
    if header[2] == 3 and b"PLTE" not in seen:
        raise _Bad("it has a palette color type and no PLTE chunk")
    return _sized("png", header[0], header[1])


def _jpeg(data: bytes) -> ImageInfo:
    """Walk the segments up to the frame header (SOFn); the data must end with EOI."""
    if not data.endswith(b"\xff\xd9"):
        raise _Bad("it does not end with the JPEG end-of-image marker (truncated)")
    pos, end, segments = 2, len(data), 0
    while True:
        segments += 1
        if segments > MAX_CHUNKS:
            raise _Bad(f"it holds more than {MAX_CHUNKS:,} markers before its frame header", limit=True)
        while pos < end and data[pos] == 0xFF and pos + 1 < end and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > end or data[pos] != 0xFF:
            raise _Bad(f"no JPEG marker at byte {pos} before its frame header")
        marker = data[pos + 1]
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA, 0x00):  # SOI again, EOI or a scan before any frame header
            raise _Bad(f"it reaches marker 0x{marker:02X} at byte {pos} before a frame header (SOF)")
        if pos + 4 > end:
            raise _Bad("it ends inside a segment header (truncated)")
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if length < 2 or pos + 2 + length > end:
            raise _Bad(f"its segment at byte {pos} claims {length} bytes beyond the end (truncated)")
        if marker in _JPEG_SOF:
            if length < 8:
                raise _Bad(f"its frame header at byte {pos} is {length} bytes, shorter than one")
            height, width, components = struct.unpack_from(">HHB", data, pos + 5)
            if components < 1 or length < 8 + 3 * components:
                raise _Bad(f"its frame header at byte {pos} lists {components} components in {length} bytes")
            return _sized("jpeg", width, height)
        pos += 2 + length


def _parse(data: bytes) -> ImageInfo:
    if len(data) > MAX_IMAGE_BYTES:
        raise _Bad(f"it is {len(data):,} bytes; at most {MAX_IMAGE_BYTES:,} are accepted", limit=True)
    if data.startswith(_PNG_MAGIC):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    raise _Bad(f"it starts with {data[:8]!r}, neither PNG nor JPEG (runlite keeps PNG and JPEG bytes; "
               "pass other images as a numpy array or a PIL image, which become PNG)")


def image_info(data: bytes) -> ImageInfo:
    """The format and size of PNG or JPEG bytes, checked without decoding a pixel.

    Raises:
        LimitError: more than ``MAX_IMAGE_BYTES`` bytes or ``MAX_IMAGE_PIXELS`` pixels.
        ValidationError: not PNG or JPEG, or broken (truncated, a bad CRC or header).
    """
    try:
        return _parse(bytes(data))
    except _Bad as exc:
        raise (errors.LimitError if exc.limit else errors.ValidationError)(
            f"image bytes refused: {exc}; nothing was logged") from None


def stored_problem(data: Any, fmt: Any, width: Any, height: Any) -> str | None:
    """Why stored image bytes are not the image their row describes, or None."""
    if not isinstance(data, bytes):
        return f"its content is {type(data).__name__}, not bytes"
    try:
        info = _parse(data)
    except _Bad as exc:
        return f"its bytes are not an image runlite keeps: {exc}"
    if (info.format, info.width, info.height) != (fmt, width, height):
        return (f"its bytes are a {info.format} of {info.width} x {info.height} pixels, its row says "
                f"{fmt!r:.20} of {width!r:.20} x {height!r:.20}")
    return None


def check_caption(caption: Any) -> str | None:
    """None, or text of at most ``MAX_CAPTION`` characters."""
    return None if caption is None else check_text(caption, "caption", max_len=MAX_CAPTION)


# ---------------------------------------------------------------- arrays and PIL images to PNG


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(np, rows, previous):
    """The rows (h x w x c uint8) as PNG scanlines: each with the filter (0-4) whose output has
    the smallest sum of absolute values as signed bytes; ``previous`` is the row above them.
    Differences wrap in uint8, as PNG's filters are defined (modulo 256)."""
    h, w, c = rows.shape
    raw = rows.reshape(h, w * c)
    up = np.empty_like(raw)
    up[0] = previous.reshape(w * c) if previous is not None else 0
    up[1:] = raw[:-1]
    left = np.zeros_like(raw)
    left[:, c:] = raw[:, :-c]
    upper_left = np.zeros_like(raw)
    upper_left[:, c:] = up[:, :-c]
    a, b, d = left.astype(np.int16), up.astype(np.int16), upper_left.astype(np.int16)
    pa, pb, pc = np.abs(b - d), np.abs(a - d), np.abs(a + b - 2 * d)  # Paeth: the neighbour nearest a + b - d
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upper_left))
    average = (left >> 1) + (up >> 1) + (left & up & 1)  # floor((left + up) / 2) without overflow
    candidates = (raw, raw - left, raw - up, raw - average, raw - paeth)
    cost = np.stack([np.abs(f.view(np.int8).astype(np.int16)).sum(axis=1) for f in candidates])
    best = cost.argmin(axis=0)  # ties: the lowest filter number, as libpng
    lines = np.empty((h, w * c + 1), np.uint8)
    lines[:, 0] = best
    for kind, f in enumerate(candidates):
        chosen = best == kind
        lines[chosen, 1:] = f[chosen]
    return lines


def encode_png(np, pixels) -> bytes:
    """PNG bytes of an h x w x c uint8 array (c: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA)."""
    h, w, c = pixels.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    compressor = zlib.compressobj(6)
    out, size = [], 0
    step = max(1, _FILTER_BLOCK // (w * c))
    for top in range(0, h, step):
        block = _filtered(np, pixels[top:top + step], pixels[top - 1] if top else None)
        out.append(compressor.compress(block.tobytes()))
        size += len(out[-1])
        if size > MAX_IMAGE_BYTES:
            raise errors.LimitError(f"the image encodes to more than {MAX_IMAGE_BYTES:,} bytes of PNG; "
                                    "log a smaller image (nothing was logged)")
    out.append(compressor.flush())
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return _PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(out)) + _chunk(b"IEND", b"")


def _array_pixels(np, array):
    """An array as h x w x c uint8 pixels, as W&B reads arrays: uint8 as it is, floats in
    [0, 1] multiplied by 255 and rounded down; anything else refused."""
    shape = getattr(array, "shape", ())
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise errors.ValidationError(
            f"an image array must be H x W (gray), H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA), got shape "
            f"{tuple(shape)}; a channels-first array (C x H x W) needs array.transpose(1, 2, 0)")
    h, w, _ = array.shape
    if h < 1 or w < 1:
        raise errors.ValidationError(f"an image array needs at least one pixel, got shape {tuple(shape)}")
    if h * w > MAX_IMAGE_PIXELS:
        raise errors.LimitError(f"the image is {w} x {h} = {h * w:,} pixels; at most {MAX_IMAGE_PIXELS:,} are accepted")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            inside = bool(np.all((array >= 0) & (array <= 1)))  # False for NaN too
        if not inside:
            raise errors.ValidationError(
                f"a float image array must hold values from 0 to 1 (scaled to 0-255 as W&B does); this one holds "
                f"values from {np.nanmin(array)!r} to {np.nanmax(array)!r}{' and NaN' if np.isnan(array).any() else ''}"
                "; scale it first, or pass uint8 values")
        return np.ascontiguousarray((array * 255).astype(np.uint8))
    raise errors.ValidationError(
        f"an image array must be uint8 (0-255) or float (0-1), got dtype {array.dtype}; "
        "convert it, e.g. array.astype(numpy.uint8)")


def _pil_png(image) -> bytes:
    width, height = image.size  # from the header: nothing is decoded before this check
    if width * height > MAX_IMAGE_PIXELS:
        raise errors.LimitError(f"the image is {width} x {height} = {width * height:,} pixels; "
                                f"at most {MAX_IMAGE_PIXELS:,} are accepted")
    if image.mode in _PIL_TO_RGB:
        image = image.convert("RGB")
    elif image.mode not in _PIL_AS_IS:
        raise errors.ValidationError(f"a PIL image of mode {image.mode!r} cannot be kept as it is; convert it "
                                     "first, e.g. image.convert('RGB') or image.convert('L')")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise errors.ValidationError(f"Pillow could not encode the image as PNG: {exc}") from exc
    return buffer.getvalue()


def to_image_bytes(image: Any) -> tuple[bytes, ImageInfo]:
    """What ``log_image`` stores for ``image``: PNG/JPEG bytes as given, arrays and PIL images as PNG."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        return data, image_info(data)
    np = sys.modules.get("numpy")
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        data = _pil_png(image)
    elif np is not None and (isinstance(image, np.ndarray) or hasattr(image, "__array__")):
        try:
            array = np.asarray(image)
        except (TypeError, ValueError, RuntimeError) as exc:  # e.g. a tensor on a GPU
            raise errors.ValidationError(f"the image could not be read as a numpy array: {exc}") from exc
        data = encode_png(np, _array_pixels(np, array))
    else:
        raise errors.ValidationError(
            f"an image must be PNG or JPEG bytes, a numpy array or a PIL image, got {type(image).__name__} "
            f"{shown(image, 40)}")
    return data, image_info(data)


def pillow():
    """``PIL.Image``, or ``MissingExtraError`` saying what to install."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise errors.MissingExtraError(f"decoding an image needs Pillow: {PILLOW}") from exc
    return Image


def decode(data: bytes, info: ImageInfo):
    """A loaded PIL image of stored bytes, their header checked against ``info`` first (a file
    from elsewhere may claim a small image and hold a huge one)."""
    problem = stored_problem(data, info.format, info.width, info.height)
    if problem:
        raise errors.CorruptStoreError(f"the stored image {problem}")
    pil = pillow()
    try:
        image = pil.open(io.BytesIO(data))
        if image.size != (info.width, info.height):
            raise errors.CorruptStoreError(f"Pillow reads {image.size} pixels, the stored header says "
                                           f"{(info.width, info.height)}")
        image.load()
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as exc:
        raise errors.CorruptStoreError(f"the stored image does not decode: {exc}") from exc
    return image
