"""Saved files and attachments of runs, stored as content-addressed blobs.

Simvue saves files under a category (``input``, ``output``, ``code``); LangSmith attaches
named bytes with a MIME type. Both become an ``attachments`` row pointing at a blob, so the
same content saved by many runs is stored once.
"""

from __future__ import annotations

import io
import mimetypes
import os
import posixpath
from typing import Any, Iterator

from . import blobs
from .. import errors
from ..records import Attachment
from .._validation import check_choice, check_name, check_text, from_us, now_us

CATEGORIES = ("input", "output", "code")
_EXTRA_MIME = ("application/vnd.plotly.v1+json",)


def check_category(category: Any) -> str:
    """``input``, ``output`` or ``code``."""
    return check_choice(category, "category", CATEGORIES)


def check_mime(mime: Any) -> str:
    """A MIME type ``type/subtype``."""
    check_text(mime, "MIME type", max_len=255, allow_control=False)
    if mime.count("/") != 1 or not all(part.strip() for part in mime.split("/")):
        raise errors.ValidationError(f"MIME type must look like 'type/subtype', got {mime!r}")
    return mime


def check_stored_name(name: Any) -> str:
    """A stored name: a relative POSIX path with no empty, '.' or '..' segments."""
    check_text(name, "attachment name", max_len=4096, allow_control=False)
    if not name or name.startswith("/") or "\\" in name:
        raise errors.ValidationError(
            f"attachment name {name!r} must be a relative path with '/' separators, not absolute"
        )
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise errors.ValidationError(f"attachment name {name!r} has an empty, '.' or '..' segment")
    return name


def stored_name(path: str, preserve_path: bool) -> str:
    """The name a file is saved under: its base name, or its relative path (leading ./ removed)."""
    if not preserve_path:
        return check_stored_name(os.path.basename(os.path.normpath(path)))
    if os.path.isabs(path):
        raise errors.ValidationError(f"preserve_path keeps relative paths only; {path!r} is absolute")
    name = posixpath.normpath(path.replace(os.sep, "/"))
    while name.startswith("./"):
        name = name[2:]
    return check_stored_name(name)


def guess_mime(path: str, filetype: str | None) -> str:
    """The given MIME type (checked) or one guessed from the file name."""
    if filetype is not None:
        return check_mime(filetype)
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def save_file(conn, run_id: str, path: str, *, name: str, category: str | None, mime: str,
              sha256: str) -> None:
    """Store one file (hashed beforehand) inside the caller's write transaction."""
    with open(path, "rb") as f:
        info = blobs.put_stream(conn, f, now_us=now_us(), expected_sha256=sha256)
    original = os.path.abspath(os.path.expandvars(path))
    conn.execute(
        "INSERT OR REPLACE INTO attachments (run_id, name, category, mime_type, size, sha256,"
        " original_path, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, name, category, mime, info.size, info.sha256, original, now_us()),
    )


def save_bytes(conn, run_id: str, name: str, data: bytes, mime: str, category: str | None = None) -> None:
    """Store bytes as an attachment inside the caller's write transaction."""
    info = blobs.put_bytes(conn, data, now_us=now_us())
    conn.execute(
        "INSERT OR REPLACE INTO attachments (run_id, name, category, mime_type, size, sha256,"
        " original_path, created) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
        (run_id, name, category, mime, info.size, info.sha256, now_us()),
    )


def plan_files(paths: list[str], preserve_path: bool, base: str | None = None) -> list[tuple[str, str]]:
    """``(path, stored name)`` for files; a directory contributes every file below it."""
    plan = []
    for path in paths:
        check_text(path, "file name", max_len=4096)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    full = os.path.join(root, file)
                    if os.path.isfile(full):
                        plan.append((full, stored_name(full, preserve_path)))
        elif os.path.isfile(path):
            plan.append((path, stored_name(path, preserve_path)))
        else:
            raise errors.NotFoundError(f"no file or directory {path!r} to save; nothing was saved")
    names = [n for _, n in plan]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise errors.ValidationError(
            f"several files would be saved as {duplicates[:5]}; use preserve_path=True; nothing was saved"
        )
    return plan


# ---------------------------------------------------------------- reads

_COLUMNS = "name, category, mime_type, size, sha256, original_path, created"


def _record(row: tuple) -> Attachment:
    name, category, mime, size, sha, original, created = row
    return Attachment(name=name, category=category, mime_type=mime, size=size, sha256=sha,
                      original_path=original, created=from_us(created))


def listing(conn, run_id: str, category: str | None) -> list[Attachment]:
    """A run's attachments, by name."""
    if category is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM attachments WHERE run_id = ? ORDER BY name", (run_id,))
    else:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM attachments WHERE run_id = ? AND category = ? ORDER BY name",
                            (run_id, check_category(category)))
    return [_record(r) for r in rows]


def find(conn, run_id: str, name: str) -> Attachment:
    """One attachment of a run by its stored name."""
    check_text(name, "attachment name", max_len=4096)
    row = conn.execute(f"SELECT {_COLUMNS} FROM attachments WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
    if row is None:
        raise errors.NotFoundError(f"run {run_id} has no attachment {name!r}")
    return _record(row)


def blob_parts(conn, sha256: str) -> int:
    """The number of parts of a blob (NotFoundError when the blob is missing)."""
    parts = conn.execute("SELECT parts FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
    if parts is None:
        raise errors.CorruptStoreError(f"the blob {sha256} of an attachment is missing")
    return parts[0]


def restore_target(dest: str, name: str) -> str:
    """Where ``name`` goes under ``dest``; refuses names that would land outside it."""
    check_stored_name(name)
    root = os.path.realpath(dest)
    target = os.path.join(root, *name.split("/"))
    parent = os.path.realpath(os.path.dirname(target))
    if parent != root and not parent.startswith(root + os.sep):
        raise errors.ValidationError(f"attachment {name!r} would be written outside {dest!r} (through a link)")
    if os.path.islink(target):
        raise errors.ValidationError(f"refusing to write attachment {name!r} through the link {target!r}")
    return target


def copy_stream(reader: io.BufferedReader, target: str) -> None:
    """Write a verified stream to ``target`` (a partial file is removed on error)."""
    tmp = target + ".runlite-partial"
    try:
        with open(tmp, "wb") as out:
            while True:
                piece = reader.read(1 << 20)
                if not piece:
                    break
                out.write(piece)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def iter_names(items: Any) -> Iterator[str]:
    """The paths of a ``save_all`` list."""
    if isinstance(items, (str, bytes, os.PathLike)) or not hasattr(items, "__iter__"):
        raise errors.ValidationError(f"items must be a list of file or directory paths, got {items!r:.80}")
    for item in items:
        yield os.fspath(item) if isinstance(item, os.PathLike) else item


def check_attach_name(name: Any) -> str:
    """A LangSmith attachment name."""
    return check_name(name, "attachment name")
