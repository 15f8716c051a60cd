"""Stores used when a call names none: ``Run()`` opens ``$RUNLITE_DB`` (else ``./runs.db``), and
``traceable``/``trace`` write to the store set by ``set_default_store`` (else that same file).

Opening a store needs the ``Store`` class, and ``store`` imports ``run`` (``store.init`` makes
Runs): so the ``store`` module hands its class over here when it is imported (until then
``import runlite`` provides a stand-in that imports ``store`` on first use, so the public face
loads lazily), and this module imports neither. The import graph stays acyclic.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from . import errors

_store_class: list = []
_default = {"store": None, "pid": 0}
_lock = threading.Lock()


def provide(store_class: type) -> None:
    """Called once by the ``store`` module with the ``Store`` class."""
    _store_class[:] = [store_class]


def _cls() -> type:
    return _store_class[0]  # provided as runlite is imported (its __init__ imports store)


def is_store(value: Any) -> bool:
    """Whether ``value`` is a Store."""
    return isinstance(value, _cls())


def default_path() -> str:
    """``$RUNLITE_DB``, else ``runs.db`` in the working directory."""
    return os.environ.get("RUNLITE_DB") or "runs.db"


def open_store(path: str | os.PathLike | None = None) -> Any:
    """A new Store on ``path`` (default ``default_path()``); the caller closes it."""
    return _cls()(path or default_path())


def set_default_store(store: Any) -> None:
    """The store spans go to when ``traceable``/``trace`` name none (a Store or a path)."""
    cls = _cls()
    if isinstance(store, (str, os.PathLike)):
        store = cls(store)
    if store is not None and not isinstance(store, cls):
        raise errors.ValidationError(f"set_default_store takes a Store, a path or None, got {type(store).__name__}")
    with _lock:
        _default["store"], _default["pid"] = store, os.getpid()


def store_or_default(store: Any) -> Any:
    """``store`` itself, or the process's default trace store (opened on first use, and again
    in a forked child or after it was closed)."""
    if store is not None:
        return store
    with _lock:
        if _default["store"] is None or _default["pid"] != os.getpid() or _default["store"].closed:
            _default["store"] = open_store()
            _default["pid"] = os.getpid()
        return _default["store"]
