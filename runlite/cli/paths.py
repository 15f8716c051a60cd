"""The runlite file a command works on, and the files it writes: each checked first, so a
mistake reads as the command's words ("no runlite file at 'x.db'", "'out.db' exists: pass
--overwrite") rather than a library call's."""

from __future__ import annotations

import argparse
import contextlib
import os

from .. import errors
from .. import open as open_store

DEFAULT_DB = "runs.db"


def db_path(args: argparse.Namespace) -> str:
    """The file: the first positional argument, else --db, else $RUNLITE_DB, else runs.db. A
    file given as an empty path (``--db "$UNSET"``) is refused, never taken for runs.db."""
    if "" in (args.file, args.db):
        raise errors.ValidationError("the runlite file is an empty path: name it, or leave it out for "
                                     f"$RUNLITE_DB or {DEFAULT_DB}")
    return args.file or args.db or os.environ.get("RUNLITE_DB") or DEFAULT_DB


def existing(args: argparse.Namespace) -> str:
    """The command's runlite file, which must be there (only ``demo``, ``merge`` and ``serve``
    make one)."""
    path = db_path(args)
    if os.path.isdir(path):
        raise errors.ValidationError(f"{path!r} is a directory, not a runlite file")
    if not os.path.exists(path):
        hint = " (the first argument is the file; --db FILE names it instead)" if args.file else ""
        raise errors.NotFoundError(f"no runlite file at {path!r}{hint}")
    return path


def reader(args: argparse.Namespace):
    """The store opened for reading (checked and read as untrusted with --untrusted)."""
    return open_store(existing(args), read_only=True, untrusted=bool(getattr(args, "untrusted", False)))


def writer(args: argparse.Namespace, *, create: bool = False):
    """The store opened for writing; with ``create``, a new file is made when there is none."""
    path = db_path(args)
    if not create or os.path.isdir(path):
        existing(args)
    return open_store(path)


def destination(path: str, *, overwrite: bool, source: str | None = None, folder: bool = False) -> str:
    """A file the command is to write: refused when it is a directory, the ``source`` file
    itself, in no folder, or there already without ``--overwrite``. With ``folder``, a
    directory to write into (made when missing; what it holds is the command's to check)."""
    if not path:
        raise errors.ValidationError("the destination is an empty path")
    if folder:
        if os.path.lexists(path) and not os.path.isdir(path):
            raise errors.ValidationError(f"{path!r} is a file: give the path of a directory")
        return path
    if os.path.isdir(path):
        raise errors.ValidationError(f"{path!r} is a directory: give the path of a file to write")
    if source is not None and os.path.exists(path) and os.path.samefile(path, source):
        raise errors.ValidationError(f"{path!r} is the runlite file itself: give another path")
    if os.path.lexists(path) and not overwrite:
        raise errors.ValidationError(f"{path!r} exists: pass --overwrite to replace it")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise errors.NotFoundError(f"the folder of {path!r} does not exist")
    return path


def write_whole(path: str, data: bytes) -> None:
    """``data`` in a temporary file renamed to ``path``: a reader never sees half of it."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise errors.StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
