"""Modules imported when a program first uses them.

``import runlite`` loads only the errors (PEP 562, ``runlite/__init__.py``). A program that
opens a file and logs metrics then loads the store, the run handle and the writer; the themes it
may never touch (recipes, media, saved files, alerts, run filters, trace reads, archives) stand
in the modules that call them as a `module` each, and load at their first use. That first use
was ~100 ms of imports, most of it these themes (bench_import's "runlite's first use").
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


class LazyModule:
    """Stands for the module ``name``: the first use of an attribute imports it (Python's import
    lock makes that safe between threads), and every attribute read, set or deleted is then the
    module's own (a test that patches ``lazy.name`` patches the module, as it would without)."""

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _load(self) -> ModuleType:
        module = self._module
        if module is None:
            module = import_module(self._name)
            object.__setattr__(self, "_module", module)
        return module

    def __getattr__(self, attr: str):  # (only for names that are not the slots above)
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value) -> None:
        setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, {'loaded' if self._module is not None else 'imported at first use'}>"


def module(name: str) -> LazyModule:
    """The module ``name`` (absolute: ``runlite.storage.recipes``), imported at first use."""
    return LazyModule(name)


def names_getter(package: str, namespace: dict, table: dict):
    """A package's PEP 562 ``__getattr__`` for its public names imported on first use: ``table``
    maps each name to the module that defines it (absolute), and a name once imported is kept
    in ``namespace`` (the package's globals), so later lookups are plain attribute reads."""

    def __getattr__(name: str):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(import_module(module), name)
        return value

    return __getattr__


def load(*modules: LazyModule) -> None:
    """Import ``modules`` now, for work that may run at interpreter exit, when an import can
    fail: ``concurrent.futures`` (under ``storage/blobs.py``) registers an exit hook as it
    loads, which Python refuses once it is shutting down."""
    for lazy in modules:
        lazy._load()


class _RunliteLog:
    """runlite's logger (``logging.getLogger("runlite")``), ``logging`` imported at its first
    message: the background writers only log their failures, so most programs never load it."""

    __slots__ = ()

    def __getattr__(self, attr: str):
        return getattr(import_module("logging").getLogger("runlite"), attr)


log = _RunliteLog()
