"""The last few decodes of stored blobs, each kept with the very bytes it came from.

A dashboard re-reads the window it shows, an alert the tail it checks, a chart the sketches
of the series it draws: each read fetches the same blobs again. Fetching a blob is cheap;
decompressing and decoding it is most of such a read. So a read that finds the bytes it
just fetched equal to those a kept decode came from reuses that decode.

Matching the bytes, not a row's identity, keeps this right whatever happened in between:
another process's writes, a merge, a deleted run, another file with the same ids. Equal
bytes decode to equal values, and the decoders are pure functions of their bytes and of the
``how`` a caller passes along (the row's point count, the columns and rows asked for).
Bounded twice: a number of entries and a total size (as the caller counts it: the bytes its
values and the kept blob hold); a decode larger than the whole budget is not kept.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Hashable


class Recent:
    """A small least-recently-used map of ``key -> (blob, how, value)``, safe across threads.

    ``get`` returns the kept value only when the caller's blob equals the kept one byte for
    byte and ``how`` is equal; the value must be treated as read-only by whoever gets it.
    """

    __slots__ = ("_lock", "_kept", "_entries", "_budget", "_held", "__weakref__")

    def __init__(self, entries: int, budget: int) -> None:
        self._lock = threading.Lock()
        self._kept: dict[Hashable, tuple] = {}  # insertion order: least recently used first
        self._entries, self._budget, self._held = entries, budget, 0
        _EVERY.add(self)

    def get(self, key: Hashable, blob: Any, how: Hashable) -> Any:
        """The value kept for ``key`` if it came from ``blob`` decoded ``how``, else None."""
        with self._lock:
            found = self._kept.pop(key, None)
            if found is None:
                return None
            self._kept[key] = found  # most recently used now
        kept_blob, kept_how, value, _ = found
        # Outside the lock: comparing bytes reads both, and kept entries are never changed.
        if kept_how == how and type(kept_blob) is type(blob) and kept_blob == blob:
            return value
        return None

    def put(self, key: Hashable, blob: Any, how: Hashable, value: Any, size: int) -> None:
        """Keep ``value`` (``size``, as the budget counts) as the decode of ``blob`` ``how``,
        evicting the least recently used entries to stay within both bounds."""
        if size > self._budget:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._held -= old[3]
            while self._kept and (len(self._kept) >= self._entries or self._held + size > self._budget):
                oldest = next(iter(self._kept))
                self._held -= self._kept.pop(oldest)[3]
            self._kept[key] = (blob, how, value, size)
            self._held += size

    def clear(self) -> None:
        """Forget every kept decode."""
        with self._lock:
            self._kept.clear()
            self._held = 0


# Every Recent of this process. A forked child gives each a new lock and forgets what it kept:
# a thread the fork did not copy may have held the lock, halfway through an update.
_EVERY: "weakref.WeakSet[Recent]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for kept in list(_EVERY):
        kept._lock = threading.Lock()
        kept._kept, kept._held = {}, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
