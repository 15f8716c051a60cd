"""Where a copy of the file goes (backup, export, pack to a file): the destination checked
before anything is written, and the copy renamed into place only once whole."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import apsw

from .. import errors
from .._validation import shown


@contextlib.contextmanager
def written_whole(dest: str, *, durable: bool = False, what: str = "the copy") -> Iterator[str]:
    """A temporary path beside ``dest``, renamed to ``dest`` when the block succeeds (and
    ``dest``, if there, is still held open by no one: see `check_not_in_use`).

    A copy killed half-way is a SQLite file with a hot journal, which SQLite rolls back to an
    empty database on open, and runlite.open would take that for a new, empty store: so a
    copy (backup, export, pack to a file) only ever appears at ``dest`` whole. A copy killed
    half-way leaves a ``*.runlite-partial`` file beside ``dest``; a failed one, nothing.
    """
    tmp = f"{dest}.{os.urandom(6).hex()}.runlite-partial"
    try:
        yield tmp
        if os.path.exists(dest):  # checked again: a program may have opened it while the copy was made
            check_not_in_use(dest, what)
        for sidecar in _SIDECARS[1:]:  # a replaced file's: they must not meet the new one
            if os.path.exists(dest + sidecar):
                os.remove(dest + sidecar)
        os.replace(tmp, dest)
    except BaseException:
        discard(tmp)
        raise
    if durable:  # the rename itself survives a power cut once the folder is synced
        folder = os.open(os.path.dirname(os.path.abspath(dest)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


# A SQLite file's own name and those of the files beside it that hold its state.
_SIDECARS = ("", "-wal", "-shm", "-journal")


def discard(path: str) -> None:
    """Remove a file runlite made, closed, and the files SQLite keeps beside it (those absent
    are passed over)."""
    for sidecar in _SIDECARS:
        with contextlib.suppress(OSError):
            os.remove(path + sidecar)


def _same_family(dest: str, source: str) -> bool:
    """Whether ``dest`` or a file beside it (which `written_whole` removes) is ``source`` or one
    of its own: its write-ahead log holds what is committed but not yet in the file."""
    if os.path.exists(dest) and os.path.exists(source) and os.path.samefile(dest, source):
        return True
    theirs = {os.path.realpath(source + sidecar) for sidecar in _SIDECARS}
    return any(os.path.realpath(dest + sidecar) in theirs for sidecar in _SIDECARS)


def check_dest(dest: Any, source: str, *, overwrite: bool, what: str) -> None:
    """Refuse a copy's ``dest`` that is not a file path in an existing folder, is a folder, is
    the ``source`` file itself or a file SQLite keeps beside it (replacing either would pull the
    file from under its connections), or exists (unless ``overwrite``)."""
    if not isinstance(dest, str) or not dest or dest == ":memory:" or "\x00" in dest:
        raise errors.ValidationError(f"dest must be a file path, got {shown(dest)}")
    if os.path.isdir(dest):
        raise errors.ValidationError(f"{dest!r} is a directory; {what} writes a file")
    if _same_family(dest, source):
        raise errors.ValidationError(f"{dest!r} is the file {what} reads, or one SQLite keeps beside it"
                                     " (-wal, -shm, -journal); it writes another")
    if os.path.lexists(dest) and not overwrite:
        raise errors.ValidationError(f"{dest!r} exists; pass overwrite=True to replace it")
    if os.path.exists(dest):
        check_not_in_use(dest, what)
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        raise errors.NotFoundError(f"the folder of {dest!r} does not exist")


def check_not_in_use(dest: str, what: str) -> None:
    """Refuse to replace a SQLite file that a connection holds open (a store of this process or
    of another): its writers would go on writing into the replaced file, unlinked, and lose all
    they wrote after, acknowledged or not. One try, without waiting, at the exclusive lock that
    any connection open on a WAL file prevents; a file SQLite cannot open or read as a database
    is held by no one as one, nor is anything but a regular file."""
    if not os.path.isfile(dest):
        return
    try:
        conn = apsw.Connection(dest, flags=apsw.SQLITE_OPEN_READWRITE)
    except apsw.Error:
        return
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()
        conn.execute("ROLLBACK")
    except (apsw.BusyError, apsw.LockedError):
        raise errors.StoreBusyError(f"{dest!r} is open in a program (a store or a connection holds it): replacing"
                                    f" it would lose what they write there; close them, or let {what} write"
                                    " another path") from None
    except apsw.Error:
        return
    finally:
        conn.close()
