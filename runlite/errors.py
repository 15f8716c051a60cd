"""The one exception hierarchy of runlite: every public call raises only these.

apsw exceptions never leave a public call raw; ``db.translate`` maps them here.
Messages say what was wrong, with the value, and what would be right.
"""

from __future__ import annotations


class RunliteError(Exception):
    """Base class of every error runlite raises."""


class ValidationError(RunliteError, ValueError):
    """An argument was refused; nothing was written."""


class LimitError(ValidationError):
    """A value is larger than runlite accepts (a name, a blob, a JSON document...)."""


class FilterError(ValidationError):
    """A filter string could not be parsed or names an unknown field.

    ``position`` is the 0-based offset in ``text`` where the problem starts.
    """

    def __init__(self, message: str, *, text: str = "", position: int = 0):
        self.text = text
        self.position = position
        if text:
            shown = text if len(text) <= 200 else text[:200] + "..."
            caret = " " * min(position, 200) + "^"
            message = f"{message}\n  {shown}\n  {caret}"
        super().__init__(message)


class KpiError(ValidationError):
    """A KPI formula is not allowed or cannot be evaluated."""


class NotFoundError(RunliteError, LookupError):
    """No run (or attachment, alert, cookbook...) matches what was asked for."""


class AmbiguousNameError(RunliteError, LookupError):
    """A name matches several runs; use the run id instead."""


class RunStateError(RunliteError):
    """The run's status does not allow this call (e.g. logging to a completed run)."""


class RunAborted(RunStateError):
    """The run was terminated by an alert with ``trigger_abort=True``."""


class StoreError(RunliteError):
    """The SQLite file could not do what was asked."""


class NotARunliteFile(StoreError):
    """The file is not SQLite, or is a SQLite file of another application."""


class SchemaTooNew(StoreError):
    """The file was written by a newer runlite than this one."""


class CorruptStoreError(StoreError):
    """The file, a page, a chunk or a blob failed an integrity check."""


class StoreBusyError(StoreError, TimeoutError):
    """Another connection held the write lock for longer than ``timeout``."""


class StoreFullError(StoreError):
    """The disk (or the file's page limit) is full; the transaction was rolled back."""


class ReadOnlyStoreError(StoreError):
    """A write was attempted on a store opened with ``read_only=True``."""


class StoreClosedError(StoreError):
    """The store was closed."""


class MissingExtraError(RunliteError, ImportError):
    """An optional part of runlite was asked for but its package is not installed; the message
    names the extra to install (``pip install 'runlite[system]'``)."""


class DatasetError(RunliteError, ValueError):
    """A Parquet dataset's manifest or catalog is damaged, of another version, or busy."""


class MergeConflictError(StoreError):
    """A merge met runs (or alerts) with the same id but different identities in the two
    files; nothing was merged. ``run_ids`` lists the conflicting run ids (empty for an alert)."""

    def __init__(self, message: str, *, run_ids: list[str] | tuple[str, ...] = ()):
        self.run_ids = tuple(run_ids)
        super().__init__(message)


class SimvueRunError(RunliteError, RuntimeError):
    """An error of ``runlite.simvue``: a ``RuntimeError`` where Simvue raises its
    ``SimvueRunError`` (also a ``RuntimeError``), so ``except RuntimeError`` keeps working."""


class SimvueValidationError(ValidationError, SimvueRunError):
    """An argument ``runlite.simvue`` refused (a ``ValueError`` and a ``RuntimeError``)."""


class SimvueStateError(RunStateError, SimvueRunError):
    """The run's state does not allow this ``runlite.simvue`` call (also a ``RuntimeError``)."""


class SimvueNotFoundError(NotFoundError, SimvueRunError):
    """``runlite.simvue`` found no such alert or run (a ``LookupError`` and a ``RuntimeError``)."""
