"""Reading a run's saved files and attachments: whole, streamed, or restored to a folder."""

from __future__ import annotations

import os
from typing import Any

from .. import _lazy

blobs = _lazy.module("runlite.storage.blobs")
files = _lazy.module("runlite.storage.attachments")


class FileReads:
    """The file reads of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def attachments(self, run: Any, category: str | None = None) -> list:
        """A run's saved files and attachments (``Attachment`` records), by name."""
        return self._metric_read(run, files.listing, category)

    def attachment(self, run: Any, name: str):
        """One of a run's saved files and attachments (an ``Attachment`` record), by its stored
        name; NotFoundError when the run has none of that name."""
        return self._metric_read(run, files.find, name)

    def read_attachment(self, run: Any, name: str, *, max_size: int = 1 << 31) -> bytes:
        """The whole content of an attachment, checksum verified (``open_attachment`` streams)."""
        run_id = self.run_id(run)
        with self.database.read() as conn:
            found = files.find(conn, run_id, name)
            return blobs.read_bytes(conn, found.sha256, max_size=max_size)

    def open_attachment(self, run: Any, name: str):
        """A readable binary stream of an attachment; its SHA-256 is checked at the end."""
        run_id = self.run_id(run)
        with self.database.read() as conn:
            found = files.find(conn, run_id, name)
            parts = files.blob_parts(conn, found.sha256)

        def fetch_part(seq: int):
            with self.database.read() as conn:
                return blobs.part(conn, found.sha256, seq)

        return blobs.open_reader(fetch_part, found.sha256, found.size, parts)

    def restore(self, run: Any, dest: str | os.PathLike, category: str | None = None) -> list[str]:
        """Write a run's files under ``dest`` with their saved paths; returns the paths written.

        Checked before anything is written: the blobs' stored sizes, names that would land
        outside ``dest`` (absolute, ``..``, links) or clash (``a`` and ``a/b``) or not fit the
        file system, and free space. Files are renamed into place once all are written and
        verified (never through a link); a failure removes what the call wrote.
        """
        root, planned = files.plan_restore(dest, self._metric_read(run, files.restorable, category))

        def fetch(sha256: str, seq: int):  # the blob checked above, whatever the name holds by now
            with self.database.read() as conn:
                return blobs.part(conn, sha256, seq)
        return files.write_restore(root, planned, lambda item: blobs.open_reader(
            lambda seq: fetch(item.sha256, seq), item.sha256, item.size, item.parts))
