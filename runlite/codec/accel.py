"""Whether a whole-column operation may use numpy; shared by the chunk codec and the statistics.

numpy, when installed, speeds up a few whole-column operations whose results are
bit-identical to the pure path. runlite never imports it on its own (that costs ~0.3 s and
tens of MB): it is used when the program has already imported it (``'numpy' in
sys.modules``), or after an explicit opt-in, ``numpy_mode(True)`` or ``RUNLITE_NUMPY=1``.
A plain script that logs metrics therefore never loads numpy. ``RUNLITE_PURE=1`` runs (and
measures) the pure path; tests and benchmarks switch modes with ``numpy_mode``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["numpy_for", "numpy_installed", "numpy_mode"]

_mode = {"use": not os.environ.get("RUNLITE_PURE"),
         "import": bool(os.environ.get("RUNLITE_NUMPY")),  # opted in: import numpy when useful
         "min": 4096}    # below this many items numpy's call overhead does not pay
_np_module = None        # None: not tried yet; False: not installed


def _load():
    global _np_module
    if _np_module is None:
        try:
            import numpy
        except ImportError:
            numpy = False
        _np_module = numpy
    return _np_module or None


def numpy_for(n: int):
    """The numpy module if allowed, installed and worth it for n items, else None."""
    if not _mode["use"] or n < max(_mode["min"], 1):
        return None
    if _np_module is None and not _mode["import"] and "numpy" not in sys.modules:
        return None  # the program does not use numpy: do not load it for it
    return _load()


def numpy_installed() -> bool:
    """True when numpy can be imported."""
    return _load() is not None


@contextlib.contextmanager
def numpy_mode(enabled: bool, *, min_items: int | None = None) -> Iterator[None]:
    """Use numpy (when installed, importing it if need be) or the pure path inside the block;
    ``min_items`` changes the column length from which numpy is used. The previous mode is
    restored after."""
    saved = dict(_mode)
    _mode["use"] = _mode["import"] = bool(enabled)
    if min_items is not None:
        _mode["min"] = min_items
    try:
        yield
    finally:
        _mode.update(saved)
