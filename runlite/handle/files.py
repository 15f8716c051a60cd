"""A run handle's saved files and attachments: all files of a call or none, hashed outside the write."""

from __future__ import annotations

import os
from typing import Any

from .. import _lazy, errors
from .._validation import check_json_value, check_path, dumps

files = _lazy.module("runlite.storage.attachments")
blobs = _lazy.module("runlite.storage.blobs")


class RunFiles:
    """The file methods of ``Run`` (a mixin: the handle gives ``_require_id``, ``store``, ``_status``)."""

    def _require_saveable(self, category: str | None) -> str:
        run_id = self._require_id()
        if self._status == "created" and category == "output":
            raise errors.RunStateError(f"run {self.name!r} is created, not running: output files cannot be saved yet")
        if self._status not in ("created", "running"):
            raise errors.RunStateError(f"cannot save files: run {self.name!r} is {self._status}")
        return run_id

    def _save_plan(self, plan: list, category: str, filetype: str | None) -> bool:
        run_id = self._require_saveable(category)
        if filetype is not None:
            files.check_mime(filetype, known=True)
        hashed = []
        for path, name in plan:  # pass 1, outside the transaction: hash with bounded memory
            with open(path, "rb") as f:
                sha, _size = blobs.hash_stream(f)
            hashed.append((path, name, files.guess_mime(path, filetype), sha))
        with self.store.database.write() as conn:  # all files or none
            for path, name, mime, sha in hashed:
                files.save_file(conn, run_id, path, name=name, category=category, mime=mime, sha256=sha)
        return True

    def save(self, filename: str | os.PathLike, category: str, filetype: str | None = None,
             preserve_path: bool = False, name: str | None = None) -> bool:
        """Save a file under ``category`` (``input``, ``output``, ``code``).

        The stored name is ``name`` when given, else the base name, or with ``preserve_path``
        the given relative path (leading ``./`` removed). The MIME type is guessed from the
        file's own name when ``filetype`` is None. Saving the same name again replaces it; the
        same content is stored once per file.
        """
        files.check_category(category)
        filename = check_path(filename, "filename")
        if os.path.isdir(filename):
            raise errors.ValidationError(f"{filename!r} is a directory: use save_directory()")
        if name is not None:
            if not os.path.isfile(filename):
                raise errors.NotFoundError(f"no file {filename!r} to save; nothing was saved")
            return self._save_plan([(filename, files.check_stored_name(name))], category, filetype)
        return self._save_plan(files.plan_files([filename], preserve_path), category, filetype)

    def save_directory(self, directory: str | os.PathLike, category: str, filetype: str | None = None,
                       preserve_path: bool = False) -> bool:
        """Save every file below ``directory`` (recursively), all or none."""
        files.check_category(category)
        directory = check_path(directory, "directory")
        if not os.path.isdir(directory):
            raise errors.NotFoundError(f"no directory {directory!r}; nothing was saved")
        return self._save_plan(files.plan_files([directory], preserve_path), category, filetype)

    def save_all(self, items: list, category: str, filetype: str | None = None,
                 preserve_path: bool = False) -> bool:
        """Save a list of files and directories, all or none (a missing one saves nothing)."""
        files.check_category(category)
        return self._save_plan(files.plan_files(list(files.iter_names(items)), preserve_path), category, filetype)

    def save_object(self, obj: Any, category: str, name: str | None = None) -> bool:
        """Save a JSON-able object (dicts, lists, numbers, str, bool, None) as ``application/json``.

        Objects are stored as JSON only: runlite never pickles (and never unpickles).
        The default name is ``<type>_<id>`` as in Simvue.
        """
        files.check_category(category)
        name = files.check_stored_name(f"{type(obj).__name__}_{id(obj)}" if name is None else name)
        data = dumps(check_json_value(obj, "object"), "object").encode()
        run_id = self._require_saveable(category)
        with self.store.database.write() as conn:
            files.save_bytes(conn, run_id, name, data, "application/json", category)
        return True

    def attach(self, name: str, data: bytes, mime_type: str = "application/octet-stream") -> bool:
        """Attach bytes to the run (LangSmith style); visible on the record as ``{name: (mime, size)}``."""
        name = files.check_attach_name(name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise errors.ValidationError(f"attachment data must be bytes, got {type(data).__name__}")
        mime = files.check_mime(mime_type)
        run_id = self._require_saveable(None)
        with self.store.database.write() as conn:
            files.save_bytes(conn, run_id, name, bytes(data), mime)
        return True

    def save_bytes(self, name: str, data: bytes, category: str,
                   mime_type: str = "application/octet-stream") -> bool:
        """Save bytes as a file of the run under ``category`` (``input``, ``output``, ``code``),
        with any well-formed MIME type (``runlite.simvue`` stores numpy arrays and DataFrames so)."""
        files.check_category(category)
        name = files.check_stored_name(name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise errors.ValidationError(f"data must be bytes, got {type(data).__name__}")
        mime = files.check_mime(mime_type)
        run_id = self._require_saveable(category)
        with self.store.database.write() as conn:
            files.save_bytes(conn, run_id, name, bytes(data), mime, category)
        return True
