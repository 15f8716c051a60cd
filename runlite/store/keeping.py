"""Keeping and shipping the file: your own SQL, verify, backup, export, delete, pack, merge."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import _lazy, errors
from .._validation import check_path, check_progress, one_or_many, shown, to_us
from ..storage import runs as runs_mod
from ..storage import connection as db

if TYPE_CHECKING:  # annotations only: a record's module loads with the first read that makes one
    from ..records.query import QueryResult

archive = _lazy.module("runlite.storage.archive")
search = _lazy.module("runlite.storage.search")
sql_mod = _lazy.module("runlite.storage.sql")


class Keeping:
    """The file-keeping methods of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def sql(self, query: str, params: Any = (), *, max_rows: int = 1000, timeout: float = 10.0) -> QueryResult:
        """Run one read-only SQL statement of your own (``SELECT``, ``WITH``, reading pragmas)
        on a connection that can change nothing; stops after ``max_rows`` rows (``truncated``
        says so) or raises after ``timeout`` seconds. Values go in ``params``, never in ``query``."""
        self.flush()
        return sql_mod.run(self.database, query, params, max_rows=max_rows, timeout=timeout)

    def verify(self, *, progress=None):
        """Check the whole file (integrity, schema, every blob, chunk and summary); returns a
        ``VerifyReport`` whose ``ok`` is True when nothing is wrong. ``progress(done, total)``
        is called as it goes."""
        return self._read(archive.verify, check_progress(progress))

    def backup(self, dest: str | os.PathLike, *, overwrite: bool = False) -> str:
        """A consistent copy of the file at ``dest`` while writers go on; returns ``dest``."""
        dest = check_path(dest, "dest")
        self.flush()
        with self.database.read() as conn:
            with db.translated(dest):
                archive.backup(conn, dest, overwrite=overwrite, durable=self.database.durable)
        return dest

    def _ids(self, run_ids: Any) -> list[str]:
        return [self.run_id(r) for r in one_or_many(run_ids, "run_ids")]

    def export(self, path: str | os.PathLike, *, filter: Any = None, run_ids: list | None = None,
               include_attachments: bool = True, progress=None, overwrite: bool = False) -> dict:
        """Write a new, standalone runlite file holding just some runs: ``run_ids``, or those a
        ``filter`` (either grammar) selects, or all; each with its whole trace, series, events,
        attachments and the blobs they use, alerts, feedback, folders and cookbooks. Returns the
        rows copied per table. A file at ``path`` is refused, or with ``overwrite`` replaced
        once the new one is whole."""
        path = check_path(path)
        check_progress(progress)
        if self.path == ":memory:":
            raise errors.ValidationError("an in-memory store cannot be exported; use backup() to a file first")
        if run_ids is not None and filter is not None:
            raise errors.ValidationError("give run_ids or filter, not both")
        self.flush()
        if run_ids is not None:
            ids = self._ids(run_ids)
        elif filter is not None:
            ids = search.run_ids_for(self, filter, "filter")
        else:
            with self.database.read() as conn:
                ids = archive.all_run_ids(conn)
        return archive.export(self.path, path, ids, include_attachments=bool(include_attachments),
                              timeout=self.database.timeout, progress=progress, durable=self.database.durable,
                              overwrite=bool(overwrite))

    def delete_runs(self, run_ids: list | None = None, *, filter: Any = None, older_than: Any = None) -> int:
        """Delete runs (with their descendants and everything of theirs): ``run_ids``, the runs
        a ``filter`` (either grammar) selects, and/or runs ended before ``older_than`` (a
        datetime, ISO-8601 string or epoch seconds). Returns how many runs were deleted.
        Content blobs stay until ``pack()``. ``runs_to_delete`` says which, changing nothing."""
        ids = self._chosen(run_ids, filter, older_than)
        with self.database.write() as conn:
            # Descendants too, and runs any store of the process on the file writes: deleted,
            # such a run's next flush would fail for good on its missing row.
            doomed = runs_mod.with_descendants(conn, ids)
            busy = self.live.open_run_ids() & set(doomed)
            if busy:
                raise errors.RunStateError(f"cannot delete runs that are open for writing in this process"
                                           f" ({', '.join(sorted(busy)[:5])}); close them first")
            return archive.delete_runs(conn, doomed)

    def runs_to_delete(self, run_ids: list | None = None, *, filter: Any = None, older_than: Any = None) -> list[str]:
        """The ids ``delete_runs`` would delete with the same arguments, changing nothing: the
        runs chosen, then their descendants, each once (a dry run; confirm, then delete these)."""
        ids = self._chosen(run_ids, filter, older_than)
        with self.database.read() as conn:
            return runs_mod.with_descendants(conn, ids)

    def _chosen(self, run_ids: Any, filter: Any, older_than: Any) -> list[str]:
        if run_ids is None and filter is None and older_than is None:
            raise errors.ValidationError("delete_runs needs run_ids, filter or older_than (nothing is deleted by default)")
        self.flush()
        ids: list[str] = []
        if run_ids is not None:
            ids += self._ids(run_ids)
        if filter is not None:
            ids += search.run_ids_for(self, filter, "filter")
        if older_than is not None:
            cutoff = to_us(older_than, "older_than")
            with self.database.read() as conn:
                ids += archive.ended_before(conn, cutoff)
        return list(dict.fromkeys(ids))

    def pack(self, *, dest: str | os.PathLike | None = None, progress=None, dry_run: bool = False,
             overwrite: bool = False) -> dict:
        """Drop content no run uses, merge small metric chunks into full ones, and reclaim
        space: ``VACUUM`` the file in place, or write a compact copy to ``dest`` (``VACUUM
        INTO`` a temporary file beside it, renamed once complete: a pack killed half-way leaves
        no file at ``dest``; a file there is refused, or replaced with ``overwrite``). Returns
        what was done. ``dry_run=True`` changes nothing and
        returns what would be reclaimed for sure: ``blobs_unused``, their ``blob_bytes``, and
        the file's ``free_bytes``."""
        if not isinstance(dry_run, bool):
            raise errors.ValidationError(f"dry_run must be True or False, got {shown(dry_run)}")
        dest = None if dest is None else check_path(dest, "dest")
        check_progress(progress)
        if dry_run:
            self.flush()
            with self.database.read() as conn:
                return {**archive.reclaimable(conn), "dest": dest}
        return archive.pack(self.database, dest=dest, progress=progress, overwrite=bool(overwrite))

    def merge(self, source: Any, *, progress=None) -> dict:
        """Bring the runs of another runlite file (or Store) in, all or nothing per file.

        Idempotent: merging the same file again adds nothing; a run that grew in the source
        (more points, events, files, a final status) is brought up to date, never duplicated;
        content is deduplicated by hash. The source is opened read-only and checked first
        (integrity, identity, exact schema); a hostile or damaged file changes nothing here.
        Its email outbox is not merged (it is that host's delivery queue).
        """
        if self.read_only or self.path == ":memory:":
            raise errors.ValidationError("merge needs a writable store in a file")
        source = check_path(source.path if isinstance(source, Keeping) else source, "source")  # a Store's too
        check_progress(progress)
        if os.path.abspath(source) == os.path.abspath(self.path):
            raise errors.ValidationError("a store cannot merge itself")
        self.flush()
        return archive.merge(self.path, source, timeout=self.database.timeout, progress=progress,
                             durable=self.database.durable)
