"""runlite: runs (experiments, LLM traces, recipe runs) in one fast, safe SQLite file."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from . import _defaults, _lazy
from .errors import (
    AmbiguousNameError, CorruptStoreError, FilterError, KpiError, LimitError, MergeConflictError, MissingExtraError,
    NotARunliteFile, NotFoundError, ReadOnlyStoreError, RunAborted, RunliteError, RunStateError, SchemaTooNew,
    StoreBusyError, StoreClosedError, StoreError, StoreFullError, ValidationError,
)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time each name is imported on first use
    from ._defaults import set_default_store
    from .handle import Run
    from .recipes.cookbook import Cookbook
    from .media.records import Histogram, Image, MediaName, Table
    from .records import Attachment, Event, QueryResult, RunList, RunRecord, Series, Stats
    from .session import finish, init, log
    from .storage.alerts import AlertChange, AlertState
    from .storage.archive import VerifyReport
    from .storage.recipes import RecipeRun
    from .store import Store
    from .tracing import Span, current_span, get_current_run_tree, trace, traceable, tracing_context

__version__ = "0.1.0"

# `import runlite` loads only the errors: the rest (SQLite layer, tracing, recipes, records)
# is imported when a name is first used (PEP 562), so a program pays for what it touches.
_LAZY = {
    "set_default_store": "_defaults", "Cookbook": "recipes.cookbook", "Run": "handle", "Store": "store",
    "AlertChange": "storage.alerts", "AlertState": "storage.alerts", "VerifyReport": "storage.archive",
    "RecipeRun": "storage.recipes",
    **dict.fromkeys(("Histogram", "Image", "MediaName", "Table"), "media.records"),
    **dict.fromkeys(("Attachment", "Event", "QueryResult", "RunList", "RunRecord", "Series", "Stats"), "records"),
    **dict.fromkeys(("Span", "current_span", "get_current_run_tree", "trace", "traceable", "tracing_context"),
                    "tracing"),
    **dict.fromkeys(("init", "log", "finish"), "session"),
}
# The active run of runlite.init() and its parameters: asked of `session` on every access, never
# kept in this module's globals (None until the first init(), which is when `session` loads).
_ACTIVE = {"run": "active_run", "config": "active_config"}


_public_name = _lazy.names_getter(__name__, globals(), {k: f"{__name__}.{m}" for k, m in _LAZY.items()})


def __getattr__(name: str):
    if name in _ACTIVE:
        session = sys.modules.get(f"{__name__}.session")
        return None if session is None else getattr(session, _ACTIVE[name])()
    return _public_name(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_ACTIVE))


class _StoreOnFirstUse(type):
    """Stands for the ``Store`` class in `_defaults` until the ``store`` module is imported
    (it then hands over the real class): a ``Run()`` or ``traceable`` without a store, reached
    through any submodule, still opens one."""

    def __call__(cls, *args, **kwargs):
        from .store import Store

        return Store(*args, **kwargs)

    def __instancecheck__(cls, obj) -> bool:
        from .store import Store

        return isinstance(obj, Store)


_defaults.provide(_StoreOnFirstUse("Store", (), {}))  # `store` replaces it with the real class


def open(path: str | os.PathLike = "runs.db", *, read_only: bool = False, durable: bool = False,
         timeout: float = 30.0, on_alert=None, untrusted: bool = False) -> Store:
    """Open (or create) the runlite file at ``path``; ``":memory:"`` for a private in-memory store.

    Args:
        read_only: never create or change anything; the file must exist.
        durable: ``synchronous=FULL``: every commit also survives a power cut (slower).
        timeout: seconds to wait for another writer's lock before ``StoreBusyError``.
        on_alert: called with an ``AlertChange`` whenever an alert of a run written through
            this store changes state.
        untrusted: with ``read_only``, for a file from someone else: its integrity, identity
            and exact schema are checked first, and it is read with the untrusted profile
            (triggers and views never run, cell sizes checked, read-only authorizer).
    """
    from .store import Store

    return Store(path, read_only=read_only, durable=durable, timeout=timeout, on_alert=on_alert,
                 untrusted=untrusted)


def merge(dest: str | os.PathLike | Store, *sources: str | os.PathLike | Store, progress=None) -> list[dict]:
    """Merge the runs of each source file into ``dest`` (each source all or nothing). A ``dest``
    that is not there yet is made once every source opens as a runlite file, and is removed
    again when the first source is refused deeper: a refused call leaves no empty file behind."""
    from .store import Store

    made = isinstance(dest, (str, os.PathLike)) and not os.path.lexists(dest)  # (another dest: Store refuses it)
    if made:
        for source in sources:
            if not isinstance(source, Store):
                try:
                    Store(source, read_only=True).close()
                except NotFoundError:
                    raise NotFoundError(f"no file at {source!r} to merge") from None
    store = dest if isinstance(dest, Store) else Store(dest)
    merged: list[dict] = []
    try:
        for source in sources:
            merged.append(store.merge(source, progress=progress))
    except BaseException:
        if made and not merged:  # the first source opened but was refused deeper: nothing came of it
            _discard_if_empty(store, os.fspath(dest))
        raise
    finally:
        if store is not dest:
            store.close()
    return merged


def _discard_if_empty(store, path: str) -> None:
    """Close and remove the file a refused merge made, unless a run is in it (written by another
    process meanwhile: never removed)."""
    from .storage import copies

    try:
        empty = not store.list_runs(limit=1)
    except RunliteError:
        return
    store.close()
    if empty:
        copies.discard(path)


__all__ = [
    "AlertChange", "AlertState", "Attachment", "Cookbook", "Event", "QueryResult", "RecipeRun", "RunList", "Series",
    "Span", "Stats",
    "VerifyReport", "current_span", "get_current_run_tree",
    "set_default_store", "trace", "traceable", "tracing_context",
    "AmbiguousNameError", "CorruptStoreError", "FilterError", "KpiError", "LimitError", "MergeConflictError",
    "MissingExtraError", "NotARunliteFile", "NotFoundError", "ReadOnlyStoreError", "Run", "RunAborted", "RunRecord",
    "RunliteError", "RunStateError", "SchemaTooNew", "Store", "StoreBusyError", "StoreClosedError",
    "StoreError", "StoreFullError", "ValidationError", "__version__", "merge", "open",
    "init", "log", "finish",  # runlite.run and runlite.config are the active run's: not here (never copied)
    "Histogram", "Image", "MediaName", "Table",
]
