"""Saved files and attachments of runs, stored as content-addressed blobs.

Simvue saves files under a category (``input``, ``output``, ``code``); LangSmith attaches
named bytes with a MIME type. Both become an ``attachments`` row pointing at a blob, so the
same content saved by many runs is stored once.
"""

from __future__ import annotations

import collections
import errno
import mimetypes
import os
import posixpath
import stat
import sys
from typing import Any, Callable, Iterator

import attrs

from . import blobs
from .. import errors
from ..records.events import Attachment
from .._validation import check_choice, check_name, check_path, check_text, from_us, now_us, shown

CATEGORIES = ("input", "output", "code")
_EXTRA_MIME = ("application/vnd.plotly.v1+json",)


def check_category(category: Any) -> str:
    """``input``, ``output`` or ``code``."""
    return check_choice(category, "category", CATEGORIES)


PLOTLY_MIME = "application/vnd.plotly.v1+json"  # Simvue's own type for plotly figures


def check_mime(mime: Any, *, known: bool = False) -> str:
    """A MIME type ``type/subtype``; with ``known`` (Simvue's ``file_type``, as Simvue checks
    it) one of Python's ``mimetypes.types_map`` or Simvue's plotly type."""
    check_text(mime, "MIME type", max_len=255, allow_control=False)
    if mime.count("/") != 1 or not all(part.strip() for part in mime.split("/")):
        raise errors.ValidationError(f"MIME type must look like 'type/subtype', got {mime!r}")
    if known and mime != PLOTLY_MIME:
        if not mimetypes.inited:
            mimetypes.init()
        if mime not in mimetypes.types_map.values():
            raise errors.ValidationError(
                f"invalid MIME type {mime!r}: file_type must be a type Python's mimetypes knows"
                f" (e.g. 'text/plain', 'application/json') or {PLOTLY_MIME!r}; nothing was saved")
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
    counts = collections.Counter(n for _, n in plan)
    duplicates = sorted(n for n, k in counts.items() if k > 1)
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
    """The number of parts of a blob, once its rows are laid out as runlite writes them."""
    try:
        return blobs.check_layout(conn, sha256).parts
    except errors.NotFoundError:
        raise errors.CorruptStoreError(f"the blob {sha256} of an attachment is missing") from None


# ---------------------------------------------------------------- restore
#
# Everything that can be checked is checked before anything is written (`restorable`,
# `plan_restore`): the blobs' stored sizes, every name, what already exists under dest, the
# free space. Then (`write_restore`) each file goes to a temporary file of a fresh random
# name, created with O_CREAT|O_EXCL|O_NOFOLLOW in its folder, and every folder is opened
# with O_DIRECTORY|O_NOFOLLOW relative to the one above: no link, planted before or swapped
# in meanwhile, can send bytes outside dest. Files are renamed into place only once all of
# them are written and verified; a failure removes the temporary files and the folders made.

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
_PARTIAL = ".runlite-partial"


@attrs.frozen
class RestoreItem:
    """One attachment to restore: its checked blob, and where it goes (``path``, once planned)."""

    name: str
    size: int
    sha256: str
    parts: int
    path: str = ""


def restorable(conn, run_id: str, category: str | None) -> list[RestoreItem]:
    """A run's attachments, each once its blob's rows say it holds exactly the recorded size.

    Nothing is decoded: `blobs.check_layout` reads sizes only, so parts claiming more than
    runlite writes (a few KiB of zeros declaring 64 MiB each) are refused here, before
    anything is inflated or written; afterwards no read inflates more than ``size``.
    """
    items = []
    for found in listing(conn, run_id, category):
        where = f"attachment {found.name!r} of run {run_id}"
        try:
            info = blobs.check_layout(conn, found.sha256)
        except errors.NotFoundError:
            raise errors.CorruptStoreError(f"{where}: its blob {found.sha256} is missing; "
                                           "nothing was restored") from None
        except errors.CorruptStoreError as exc:
            raise errors.CorruptStoreError(f"{where}: {exc}; nothing was restored") from None
        if found.size != info.size:
            raise errors.CorruptStoreError(f"{where} records {found.size!r:.40} bytes, its blob holds {info.size}; "
                                           "nothing was restored")
        items.append(RestoreItem(found.name, info.size, info.sha256, info.parts))
    return items


def _nearest_existing(path: str) -> str:
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _limit(folder: str, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):  # not known there, or no pathconf
        return default


def _check_existing(root: str, name: str) -> None:
    """Below ``root``, what ``name`` will pass through must be real folders, and what it
    replaces a regular file (read with lstat: links are never followed)."""
    path, segments = root, name.split("/")
    for i, segment in enumerate(segments):
        path = os.path.join(path, segment)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return  # made by the restore
        except OSError as exc:
            raise errors.ValidationError(f"cannot examine {path!r} to restore {name!r} ({exc.strerror}); "
                                         "nothing was written") from None
        if stat.S_ISLNK(mode):
            raise errors.ValidationError(f"refusing to write attachment {name!r} through the link {path!r} "
                                         "(links under dest are never followed); nothing was written")
        if i < len(segments) - 1 and not stat.S_ISDIR(mode):
            raise errors.ValidationError(f"attachment {name!r} needs {path!r} to be a folder, and it is not; "
                                         "nothing was written")
        if i == len(segments) - 1 and not stat.S_ISREG(mode):
            raise errors.ValidationError(f"attachment {name!r} would replace {path!r}, which is not a regular "
                                         "file (only files are replaced); nothing was written")


def plan_restore(dest: Any, items: list[RestoreItem]) -> tuple[str, list[RestoreItem]]:
    """``(folder, items with their paths)``, once nothing stands in the way; writes nothing.

    Raises:
        ValidationError: ``dest`` is not a folder path; a name is not a relative path, would
            pass through a link or a file, or would replace something that is not a regular
            file; one name is the folder of another (``a`` and ``a/b``).
        LimitError: a path segment or a whole path is longer than the file system allows.
        StoreFullError: the files would need more space than is free there.
    """
    dest = check_path(dest, "dest")
    if not (_O_NOFOLLOW and _O_DIRECTORY and os.open in os.supports_dir_fd):
        raise errors.ValidationError("restore needs O_NOFOLLOW, O_DIRECTORY and dir_fd (POSIX); "
                                     "this platform lacks them, so files cannot be restored safely")
    root = os.path.realpath(dest)  # links in the path the caller gave are the caller's own
    base = _nearest_existing(root)
    if not os.path.isdir(base):
        raise errors.ValidationError(f"dest {dest!r} must be a folder or a path to make one; {base!r} is not a folder")
    name_max, path_max = _limit(base, "PC_NAME_MAX", 255), _limit(base, "PC_PATH_MAX", 4096)
    names = {item.name for item in items}
    planned = []
    for item in items:
        check_stored_name(item.name)
        segments = item.name.split("/")
        path = os.path.join(root, *segments)
        try:
            lengths = [len(os.fsencode(segment)) for segment in segments]
            whole = len(os.fsencode(path))
        except UnicodeError:
            raise errors.ValidationError(f"attachment name {item.name!r} cannot be encoded as a file name here "
                                         f"({sys.getfilesystemencoding()}); nothing was written") from None
        if max(lengths) > name_max:
            raise errors.LimitError(f"attachment name {item.name!r} has a segment of {max(lengths)} bytes; the file "
                                    f"system under {dest!r} accepts at most {name_max}; nothing was written")
        if whole >= path_max:
            raise errors.LimitError(f"restoring {item.name!r} under {dest!r} makes a path of {whole} bytes; at most "
                                    f"{path_max - 1} are accepted; nothing was written")
        for i in range(1, len(segments)):  # a name that is another's folder could only half-restore
            folder = "/".join(segments[:i])
            if folder in names:
                raise errors.ValidationError(f"attachment {folder!r} would be both a file and the folder of "
                                             f"{item.name!r}; nothing was written")
        _check_existing(root, item.name)
        planned.append(attrs.evolve(item, path=path))
    needed = sum(item.size for item in items)
    try:
        fs = os.statvfs(base)
    except (OSError, AttributeError):
        fs = None
    # Every file is written whole before any is renamed into place, so all of it must fit.
    # A file system reporting no blocks (some pseudo and network ones) says nothing: skip.
    if fs is not None and fs.f_blocks and needed > fs.f_bavail * fs.f_frsize:
        raise errors.StoreFullError(f"restoring needs {needed} bytes and {fs.f_bavail * fs.f_frsize} are free "
                                    f"under {dest!r}; nothing was written")
    return root, planned


def _os_error(exc: OSError, what: str) -> errors.RunliteError:
    """An OSError met while restoring, as the RunliteError that says what happened."""
    text = f"{what}: {exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return errors.StoreFullError(text)
    if exc.errno == errno.EFBIG:
        return errors.LimitError(text)
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG,
                     errno.EACCES, errno.EPERM, errno.EROFS):  # dest changed meanwhile, or is not ours to write
        return errors.ValidationError(text)
    return errors.StoreError(text)


def _open_folder(root_fd: int, segments: list[str], made: list[str] | None, root: str) -> int:
    """A new fd of the folder ``segments`` below ``root_fd``, each opened without following a
    link; missing folders are made (and listed in ``made``) when ``made`` is given."""
    fd = os.dup(root_fd)
    try:
        for i, segment in enumerate(segments):
            if made is not None:
                try:
                    os.mkdir(segment, 0o777, dir_fd=fd)
                    made.append(os.path.join(root, *segments[:i + 1]))
                except FileExistsError:
                    pass
            child = os.open(segment, _DIR_FLAGS, dir_fd=fd)  # ELOOP or ENOTDIR if not a real folder
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _new_file(folder_fd: int) -> tuple[str, int]:
    """A new empty file of a random name in the folder (never an existing name, never a link)."""
    for _ in range(16):
        name = f".{os.urandom(8).hex()}{_PARTIAL}"
        try:
            return name, os.open(name, _NEW_FILE_FLAGS, 0o666, dir_fd=folder_fd)
        except FileExistsError:
            continue
    raise errors.StoreError("could not make a temporary file of a fresh name in 16 tries")


def _make_root(root: str, made: list[str]) -> None:
    missing = []
    path = root
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        os.mkdir(path)
        made.append(path)


def write_restore(root: str, planned: list[RestoreItem], open_item: Callable[[RestoreItem], Any]) -> list[str]:
    """Write ``planned`` (from `plan_restore`) below ``root``; returns their paths.

    ``open_item(item)`` returns a stream of the item's content that verifies it at EOF.
    All files are written to temporary files first and renamed into place only when every
    one is complete: on any error, what this call wrote and the folders it made are removed.
    """
    if not planned:
        return []
    made: list[str] = []
    staged: list[tuple[list[str], str, str]] = []  # (folder segments, temporary name, final name)
    placed = 0
    current = f"restoring under {root!r}"
    try:
        _make_root(root, made)
        root_fd = os.open(root, _DIR_FLAGS)
        try:
            for item in planned:
                current = f"restoring {item.name!r} under {root!r}"
                segments = item.name.split("/")
                folder = _open_folder(root_fd, segments[:-1], made, root)
                try:
                    tmp, fd = _new_file(folder)
                    staged.append((segments[:-1], tmp, segments[-1]))
                    with os.fdopen(fd, "wb") as out, open_item(item) as reader:
                        while piece := reader.read(1 << 20):
                            out.write(piece)
                finally:
                    os.close(folder)
            for folder_segments, tmp, final in staged:  # every file complete and verified: place them
                folder = _open_folder(root_fd, folder_segments, None, root)
                try:
                    os.replace(tmp, final, src_dir_fd=folder, dst_dir_fd=folder)
                finally:
                    os.close(folder)
                placed += 1
        finally:
            os.close(root_fd)
    except BaseException as exc:
        _undo(root, staged[placed:], made)
        if not isinstance(exc, OSError):
            raise
        done = "nothing was restored" if not placed else f"{placed} of {len(planned)} files were already in place"
        raise _os_error(exc, f"{current} ({done})") from None
    return [item.path for item in planned]


def _undo(root: str, staged: list[tuple[list[str], str, str]], made: list[str]) -> None:
    """Remove the temporary files and the folders a failed restore made (best effort)."""
    try:
        root_fd = os.open(root, _DIR_FLAGS)
    except OSError:
        root_fd = None
    if root_fd is not None:
        for folder_segments, tmp, _final in staged:
            try:
                folder = _open_folder(root_fd, folder_segments, None, root)
            except OSError:
                continue
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
            finally:
                os.close(folder)
        os.close(root_fd)
    for path in reversed(made):  # deepest first; a folder someone else filled meanwhile stays
        try:
            os.rmdir(path)
        except OSError:
            pass


def iter_names(items: Any) -> Iterator[str]:
    """The paths of a ``save_all`` list."""
    try:  # any iterable but one path (a 0-d array, too, is not iterable)
        if isinstance(items, (str, bytes, os.PathLike)):
            raise TypeError
        items = list(items)
    except TypeError:
        raise errors.ValidationError(f"items must be a list of file or directory paths, got {shown(items)}") from None
    for item in items:
        yield os.fspath(item) if isinstance(item, os.PathLike) else item


def check_attach_name(name: Any) -> str:
    """A LangSmith attachment name."""
    return check_name(name, "attachment name")
