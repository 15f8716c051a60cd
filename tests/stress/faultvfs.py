"""A test-only SQLite VFS that injects I/O errors and emulates a small disk.

Why a VFS shim: runlite opens its own connections (one writer per process, one reader per
thread, plus the connections of ``merge`` and ``backup``), so a test cannot hand it a special
connection; registering a VFS as the process default is the one way to reach all of them.
A real small filesystem (``mount -t tmpfs -o size=2m``) needs root, which CI rarely has; the
shim's byte quota stands in for it and also lets a test lift the "disk full" at will.

``FaultVFS`` wraps the default VFS (``unix``) file by file. It only touches files under
``scope`` (a test's directory), so other files of the process are never failed. It can

- fail the Nth ``xRead`` / ``xWrite`` / ``xSync`` / ``xTruncate`` (counted together over the
  kinds armed) with ``SQLITE_IOERR_*``, ``once`` or ``persistent``-ly from N on, as SQLite's
  own I/O-error tests do;
- refuse with ``SQLITE_FULL`` any write or truncate that would grow the scoped files (the
  database, its WAL and journals, backup and pack targets) beyond ``quota`` bytes.

One difference from a native VFS shapes the shim: an exception raised in a Python VFS method
is raised again by apsw from the statement that caused it even when SQLite ignored the error
code (a failed automatic checkpoint, the EXCLUSIVE lock a read-only connection tries when it
closes). A native VFS reports nothing then, so the shim does not fail those calls (see
``FaultFile.xWrite`` and ``xLock``); an I/O fault armed across an automatic checkpoint would
still surface this way, so the fault tests keep their WALs below the checkpoint size.

Use it through the ``fault_vfs`` fixture of ``test_faults.py``: registered as the default
only for one test, then unregistered, so nothing outlives the test.
"""

from __future__ import annotations

import os
import threading

import apsw

NAME = "runlite-faults"

# The extended code SQLite gets for each kind of failed call (what the unix VFS returns).
IOERR_CODES = {
    "read": apsw.SQLITE_IOERR_READ,
    "write": apsw.SQLITE_IOERR_WRITE,
    "sync": apsw.SQLITE_IOERR_FSYNC,
    "truncate": apsw.SQLITE_IOERR_TRUNCATE,
}
KINDS = tuple(IOERR_CODES)


def _io_error(kind: str) -> apsw.Error:
    exc = apsw.exception_for(IOERR_CODES[kind])
    exc.args = (f"injected {kind} fault",)
    return exc


def _full_error(size: int, quota: int) -> apsw.Error:
    exc = apsw.exception_for(apsw.SQLITE_FULL)
    exc.args = (f"injected disk full: {size:,} bytes would exceed the quota of {quota:,}",)
    return exc


def _path_of(name) -> str | None:
    """The file name SQLite opens (a str, an apsw URIFilename, or None for a temp file)."""
    if name is None:
        return None
    if isinstance(name, apsw.URIFilename):
        name = name.filename()
    return os.path.abspath(name)


class FaultVFS(apsw.VFS):
    """The fault-injecting VFS. ``arm()`` a fault or set ``quota``; ``disarm()`` to stop.

    ``calls`` counts the calls of the armed kinds since ``arm``, ``counts`` the calls of each
    kind; ``injected`` counts the faults raised (I/O errors and full-disk refusals) since
    ``arm`` / ``set_quota``.
    """

    def __init__(self, scope: str, *, makedefault: bool = True):
        self.base = apsw.vfs_names()[0]  # the default before us: the VFS our files wrap
        self.scope = os.path.join(os.path.abspath(scope), "")
        self.lock = threading.Lock()  # the ticker thread does I/O too
        self.sizes: dict[str, int] = {}  # scoped file -> size, shared by all handles of it
        self.quota: int | None = None
        self.kinds: frozenset = frozenset()
        self.nth = 0
        self.persistent = False
        self.calls = 0
        self.counts = dict.fromkeys(KINDS, 0)  # calls of each kind since arm(), armed or not
        self.injected = 0
        super().__init__(NAME, base=self.base, makedefault=makedefault)

    # -- the plan

    def arm(self, kinds, nth: int, *, persistent: bool = False) -> None:
        """Fail the ``nth`` call (1-based) of ``kinds`` from now on, once or from then on."""
        kinds = frozenset([kinds] if isinstance(kinds, str) else kinds)
        unknown = kinds - set(KINDS)
        if unknown or nth < 1:
            raise ValueError(f"kinds must be among {KINDS} and nth >= 1, got {sorted(unknown)}, {nth}")
        with self.lock:
            self.kinds, self.nth, self.persistent = kinds, nth, persistent
            self.calls = self.injected = 0
            self.counts = dict.fromkeys(KINDS, 0)

    def disarm(self) -> None:
        """No more I/O errors and no quota."""
        with self.lock:
            self.kinds, self.quota = frozenset(), None

    def set_quota(self, quota: int | None) -> None:
        """Refuse growing the scoped files beyond ``quota`` bytes (None: no limit)."""
        with self.lock:
            self.quota = quota
            self.injected = 0

    def used(self) -> int:
        """Bytes the scoped files hold now (as this VFS sees them)."""
        with self.lock:
            return sum(self.sizes.values())

    # -- called by the files

    def in_scope(self, path: str | None) -> bool:
        return path is not None and path.startswith(self.scope)

    def before(self, kind: str) -> None:
        """Raise the armed I/O error if this call is the one (or one of the ones) to fail."""
        with self.lock:
            self.counts[kind] += 1
            if kind not in self.kinds:
                return
            self.calls += 1
            hit = self.calls == self.nth or (self.persistent and self.calls > self.nth)
            if hit:
                self.injected += 1
        if hit:
            raise _io_error(kind)

    def grow(self, path: str, new_size: int, *, enforce: bool = True) -> None:
        """Account for ``path`` becoming ``new_size`` bytes, or refuse it with SQLITE_FULL."""
        with self.lock:
            old = self.sizes.get(path, 0)
            if enforce and self.quota is not None and new_size > old:
                total = sum(self.sizes.values()) - old + new_size
                if total > self.quota:
                    self.injected += 1
                    raise _full_error(total, self.quota)
            self.sizes[path] = new_size

    def forget(self, path: str) -> None:
        with self.lock:
            self.sizes.pop(path, None)

    # -- VFS methods

    def xOpen(self, name, flags):
        return FaultFile(self, name, flags)

    def xDelete(self, filename, syncdir):
        super().xDelete(filename, syncdir)
        self.forget(_path_of(filename))


class FaultFile(apsw.VFSFile):
    """A file of the base VFS; scoped files go through ``FaultVFS`` checks first."""

    def __init__(self, vfs: FaultVFS, name, flags):
        self.vfs = vfs
        self.path = _path_of(name)
        self.scoped = vfs.in_scope(self.path)
        self.read_only = bool(flags[0] & apsw.SQLITE_OPEN_READONLY)
        self.main_db = bool(flags[0] & apsw.SQLITE_OPEN_MAIN_DB)
        super().__init__(vfs.base, name, flags)
        if self.scoped:
            with vfs.lock:
                vfs.sizes[self.path] = super().xFileSize()

    def xRead(self, amount, offset):
        if self.scoped:
            self.vfs.before("read")
        return super().xRead(amount, offset)

    def xWrite(self, data, offset):
        if self.scoped:
            self.vfs.before("write")
            end = offset + len(data)
            with self.vfs.lock:
                current = self.vfs.sizes.get(self.path, 0)
            if end > current:
                # A WAL database file grows only in checkpoints; SQLite ignores a failed
                # automatic checkpoint (the commit stands), but apsw would still raise the
                # FullError from COMMIT, faking a failed commit. So those growths are let through.
                checkpoint = self.main_db and os.path.exists(self.path + "-wal")
                self.vfs.grow(self.path, end, enforce=not checkpoint)
        super().xWrite(data, offset)

    def xSync(self, flags):
        if self.scoped:
            self.vfs.before("sync")
        super().xSync(flags)

    def xTruncate(self, newsize):
        if self.scoped:
            self.vfs.before("truncate")
            self.vfs.grow(self.path, newsize)  # a truncate may also extend the file
        super().xTruncate(newsize)

    def xLock(self, level):
        try:
            super().xLock(level)
        except apsw.IOError as exc:
            # The last connection to a WAL file tries an EXCLUSIVE lock when it closes; on a
            # read-only descriptor that fails (SQLITE_IOERR_LOCK) and SQLite ignores it. apsw
            # would still raise the exception from Connection.close(), which the native VFS
            # never does; as BUSY (which apsw drops) SQLite sees a failure all the same.
            if self.read_only and level == apsw.SQLITE_LOCK_EXCLUSIVE:
                raise apsw.BusyError("exclusive lock on a read-only file") from exc
            raise
