"""Images, histograms and tables of runs in the file: the ``media`` table (docs/MEDIA.md).

One row per (run, kind, name, step); logging the same again replaces it, as a later value of
a key at one step does in W&B. Images and tables are content-addressed blobs; histograms are
packed inline. Every read checks what it decodes (a file may come from elsewhere): an image's
header against its row, a table's JSON against its shape, a histogram's bytes against its
bins; ``problems`` (verify) and ``merge`` run the same checks over every row.
"""

from __future__ import annotations

import io
import operator
from typing import Any, Callable, Iterator

import attrs

from . import blobs
from .. import errors
from .._validation import EARLIEST_US, INT64_MAX, LATEST_US, check_choice, check_name, check_text, from_us, shown
from ..media import histograms, images, tables
from ..media.records import Histogram, Image, MediaName, Table

KINDS = ("image", "histogram", "table")
COLUMNS = ("run_id", "kind", "name", "step", "timestamp", "caption", "format", "width", "height", "size", "sha256",
           "data")
MAX_IMAGES_READ = 1 << 30  # bytes of images one ``images()`` call returns; more: data=False and image_bytes


@attrs.frozen
class Item:
    """One media row to write, made (validated, encoded, hashed) before the write transaction.
    ``content`` is the blob of an image or table; ``data`` a histogram's packed bytes."""

    kind: str
    name: str
    step: int
    timestamp: int
    size: int
    caption: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    content: bytes | None = attrs.field(default=None, repr=False)
    data: bytes | None = attrs.field(default=None, repr=False)


def check_step(step: Any, what: str = "step") -> int:
    """A step: an int from 0 to 2**63-1 (numpy integers too)."""
    try:
        if isinstance(step, bool):
            raise TypeError
        step = operator.index(step)  # (a class, or a 0-d array of floats, has __index__ and refuses it)
    except TypeError:
        raise errors.ValidationError(f"{what} must be an int >= 0, got {type(step).__name__} {shown(step)}") from None
    if not 0 <= step <= INT64_MAX:
        raise errors.ValidationError(f"{what} must be an int from 0 to 2**63-1, got {shown(step)}")
    return step


def check_kind(kind: Any) -> str:
    """``image``, ``histogram`` or ``table``."""
    return check_choice(kind, "kind", KINDS)


def save(conn, run_id: str, item: Item) -> None:
    """Write one item (its blob first) inside the caller's write transaction; an item already at
    that (kind, name, step) is replaced."""
    if item.content is not None:
        blobs.put_stream(conn, io.BytesIO(item.content), now_us=item.timestamp, expected_sha256=item.sha256)
    conn.execute(
        "INSERT INTO media (run_id, kind, name, step, timestamp, caption, format, width, height, size, sha256, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, kind, name, step) DO UPDATE SET"
        " timestamp = excluded.timestamp, caption = excluded.caption, format = excluded.format,"
        " width = excluded.width, height = excluded.height, size = excluded.size, sha256 = excluded.sha256,"
        " data = excluded.data",
        (run_id, item.kind, item.name, item.step, item.timestamp, item.caption, item.format, item.width,
         item.height, item.size, item.sha256, item.data))


# ---------------------------------------------------------------- reads


def names(conn, run_id: str, kind: str | None = None) -> list[MediaName]:
    """The names of a run's media (of one kind), by kind then name, with their counts and steps."""
    select = "SELECT kind, name, count(*), min(step), max(step), max(timestamp) FROM media WHERE run_id = ?"
    if kind is None:
        rows = conn.execute(f"{select} GROUP BY kind, name ORDER BY kind, name", (run_id,))
    else:
        rows = conn.execute(f"{select} AND kind = ? GROUP BY name ORDER BY name", (run_id, check_kind(kind)))
    return [MediaName(kind=k, name=n, count=c, first_step=lo, last_step=hi, updated=from_us(t))
            for k, n, c, lo, hi, t in rows]


def steps(conn, run_id: str, kind: str, name: Any) -> list[int]:
    """The steps a run has an item of ``kind`` and ``name`` at, in order."""
    return [r[0] for r in conn.execute("SELECT step FROM media WHERE run_id = ? AND kind = ? AND name = ?"
                                       " ORDER BY step", (run_id, check_kind(kind), check_name(name)))]


def _rows(conn, run_id: str, kind: str, name: Any, step: Any) -> list[tuple]:
    """The rows of one kind (``COLUMNS`` without ``run_id``), by name then step, optionally of
    one name and one step; each checked to be a row runlite writes (its content is not read)."""
    where, args = ["run_id = ?", "kind = ?"], [run_id, kind]
    if name is not None:
        where.append("name = ?")
        args.append(check_text(name, "name", max_len=1 << 16))
    if step is not None:
        where.append("step = ?")
        args.append(check_step(step))
    rows = conn.execute(f"SELECT {', '.join(COLUMNS[1:])} FROM media WHERE {' AND '.join(where)}"  # code only
                        " ORDER BY name, step", args).fetchall()
    for row in rows:
        problem = row_problem(row) if row[0] == kind else "its kind changed while it was read"
        if problem:
            raise errors.CorruptStoreError(f"the {kind} {row[1]!r:.80} at step {row[2]!r:.20}: {problem}")
    return rows


def _blob(conn, sha256: Any, limit: int) -> bytes:
    try:
        return blobs.read_bytes(conn, sha256, max_size=limit)
    except errors.NotFoundError:
        raise errors.CorruptStoreError(f"the blob {sha256} of a media row is missing") from None
    except errors.ValidationError as exc:  # a key that is no sha256, a size over the limit
        raise errors.CorruptStoreError(f"the blob of a media row cannot be read: {exc}") from None


def _image(conn, row: tuple, with_data: bool) -> Image:
    _kind, name, step, stamp, caption, fmt, width, height, size, sha, _data = row
    data = None
    if with_data:
        data = _blob(conn, sha, images.MAX_IMAGE_BYTES)
        problem = images.stored_problem(data, fmt, width, height)
        if problem:
            raise errors.CorruptStoreError(f"the image {name!r:.80} at step {step}: {problem}")
    return Image(name=name, step=step, timestamp=from_us(stamp), format=fmt, width=width, height=height,
                 size=size, sha256=sha, caption=caption, data=data)


def images_of(conn, run_id: str, name: Any = None, step: Any = None, data: bool = True) -> list[Image]:
    """A run's images (of ``name``, at ``step``), by name then step; with their bytes when ``data``."""
    rows = _rows(conn, run_id, "image", name, step)
    if data:
        total = sum(row[8] for row in rows)
        if total > MAX_IMAGES_READ:
            raise errors.LimitError(f"these {len(rows)} images hold {total:,} bytes, more than {MAX_IMAGES_READ:,}: "
                                    "read them with data=False and image_bytes() one at a time, or give a name or step")
    return [_image(conn, row, data) for row in rows]


def image_bytes(conn, run_id: str, name: Any, step: Any) -> bytes:
    """The stored PNG or JPEG bytes of one image, checked."""
    rows = _rows(conn, run_id, "image", check_name(name), check_step(step))
    if not rows:
        raise errors.NotFoundError(f"run {run_id} has no image {name!r} at step {step}")
    return _image(conn, rows[0], True).data


def histograms_of(conn, run_id: str, name: Any = None, step: Any = None) -> list[Histogram]:
    """A run's histograms (of ``name``, at ``step``), by name then step."""
    out = []
    for _kind, name_, step_, stamp, _caption, _fmt, width, _height, _size, _sha, data in _rows(
            conn, run_id, "histogram", name, step):
        try:
            bins = histograms.unpack(data, width)
        except errors.CorruptStoreError as exc:
            raise errors.CorruptStoreError(f"the histogram {name_!r:.80} at step {step_}: {exc}") from None
        out.append(Histogram(name=name_, step=step_, timestamp=from_us(stamp), edges=bins.edges, counts=bins.counts,
                             nan_count=bins.nan_count, posinf_count=bins.posinf_count,
                             neginf_count=bins.neginf_count))
    return out


def tables_of(conn, run_id: str, name: Any = None, step: Any = None) -> list[Table]:
    """A run's tables (of ``name``, at ``step``), by name then step."""
    out = []
    for _kind, name_, step_, stamp, _caption, _fmt, width, height, _size, sha, _data in _rows(
            conn, run_id, "table", name, step):
        try:
            columns, rows = tables.decode(_blob(conn, sha, tables.MAX_TABLE_BYTES), width, height)
        except errors.CorruptStoreError as exc:
            raise errors.CorruptStoreError(f"the table {name_!r:.80} at step {step_}: {exc}") from None
        out.append(Table(name=name_, step=step_, timestamp=from_us(stamp), columns=columns, rows=rows, sha256=sha))
    return out


# ---------------------------------------------------------------- checks (verify, merge)


def _int_in(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def row_problem(row: tuple) -> str | None:
    """Why a row (``COLUMNS`` without ``run_id``) is not one runlite writes, its content unread."""
    kind, name, step, stamp, caption, fmt, width, height, size, sha, data = row
    if not isinstance(name, str) or not _int_in(step, 0, INT64_MAX):
        return f"its name {name!r:.40} or step {step!r:.40} is not a name and a step"
    if not _int_in(stamp, EARLIEST_US, LATEST_US):
        return f"its timestamp {stamp!r:.40} is not microseconds since the epoch (years 1 to 9999)"
    if caption is not None and not (isinstance(caption, str) and len(caption) <= images.MAX_CAPTION):
        return f"its caption is not text of at most {images.MAX_CAPTION} characters"
    if kind == "image":
        if fmt not in images.FORMATS or not (_int_in(width, 1, images.MAX_IMAGE_PIXELS)
                                             and _int_in(height, 1, images.MAX_IMAGE_PIXELS)
                                             and width * height <= images.MAX_IMAGE_PIXELS):
            return f"an image of format {fmt!r:.20} and {width!r:.20} x {height!r:.20} pixels is not one runlite keeps"
        ok = _int_in(size, 1, images.MAX_IMAGE_BYTES) and isinstance(sha, str) and data is None
    elif kind == "histogram":
        ok = _int_in(width, 1, histograms.MAX_BINS) and height is None and fmt is None and sha is None and \
            isinstance(data, bytes) and size == len(data)
    elif kind == "table":
        ok = fmt == "json" and _int_in(width, 1, tables.MAX_COLUMNS) and _int_in(height, 0, tables.MAX_ROWS) and \
            _int_in(size, 1, tables.MAX_TABLE_BYTES) and isinstance(sha, str) and data is None
    else:
        return f"its kind {kind!r:.40} is none of {KINDS}"
    return None if ok else f"its fields (format, width, height, size, blob, data) are not those of a {kind}"


def content_problem(conn, row: tuple) -> str | None:
    """Why a row's content (its blob, or its packed bytes) is not what the row says, or None."""
    kind, _name, _step, _stamp, _caption, fmt, width, height, size, sha, data = row
    try:
        if kind == "histogram":
            histograms.unpack(data, width)
            return None
        content = _blob(conn, sha, images.MAX_IMAGE_BYTES if kind == "image" else tables.MAX_TABLE_BYTES)
        if len(content) != size:
            return f"its blob holds {len(content)} bytes, its row says {size}"
        if kind == "image":
            return images.stored_problem(content, fmt, width, height)
        tables.decode(content, width, height)
    except errors.CorruptStoreError as exc:
        return str(exc)
    return None


def problems(conn) -> Iterator[str]:
    """What is wrong with the file's media rows and their content (``verify``)."""
    for (run_id,) in conn.execute("SELECT DISTINCT run_id FROM media WHERE run_id NOT IN (SELECT id FROM runs)"):
        yield f"media rows of run {run_id!r:.40}, which the file does not hold"
    for run_id, *row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM media"):  # names from code only
        problem = row_problem(tuple(row)) or content_problem(conn, tuple(row))
        if problem:
            yield f"{row[0]!s:.20} {row[1]!r:.80} at step {row[2]!r:.20} of run {run_id!r:.40}: {problem}"


def merge(conn, refuse: Callable[[str], Exception]) -> int:
    """Copy the media rows of the attached source (``src``) that this file lacks, or holds an
    older copy of (a later ``timestamp`` wins, as for a replaced image); each row checked first,
    content included (``refuse(problem)`` is raised for the first bad one). Their blobs must be
    here already (copied and verified). Returns the rows copied; merging again copies none."""
    todo = conn.execute(
        "SELECT s.rowid, " + ", ".join(f"s.{c}" for c in COLUMNS) + " FROM src.media AS s LEFT JOIN main.media AS m"
        " ON m.run_id = s.run_id AND m.kind = s.kind AND m.name = s.name AND m.step = s.step"
        " WHERE m.run_id IS NULL OR s.timestamp > m.timestamp").fetchall()
    columns = ", ".join(COLUMNS)
    for rowid, run_id, *row in todo:
        problem = row_problem(tuple(row)) or content_problem(conn, tuple(row))
        if problem:
            raise refuse(f"its {row[0]!s:.20} {row[1]!r:.80} at step {row[2]!r:.20} of run {run_id!r:.40}: {problem}")
        conn.execute(
            f"INSERT INTO main.media ({columns}) SELECT {columns} FROM src.media WHERE rowid = ?"
            " ON CONFLICT(run_id, kind, name, step) DO UPDATE SET timestamp = excluded.timestamp,"
            " caption = excluded.caption, format = excluded.format, width = excluded.width, height = excluded.height,"
            " size = excluded.size, sha256 = excluded.sha256, data = excluded.data"
            " WHERE excluded.timestamp > media.timestamp", (rowid,))
    return len(todo)
