"""What a read derived from the file, kept per reader connection while the file is unchanged.

A dashboard redraws the same series every few seconds, and each downsampled read lists the
series' chunk rows again (a row read and checked a chunk: about half a millisecond for a
1,000,000-point series, more than the rest of a kept read) and walks their sketches again.
Reads may keep such derived values here, keyed by the reader connection, and reuse them while
SQLite's ``PRAGMA data_version`` on it is unchanged: it moves whenever another connection, of
this process or another, commits to the file, and is read in the read's own transaction, so
it names the snapshot the read sees. Only read-only connections keep anything: a
connection's own writes do not move its data_version, and a reader makes none. A value kept
must be derived from the file alone (never from a call's other arguments) and treated as
read-only by whoever gets it. Bounded as `recent` is (entries and bytes); a connection
closed leaves its entries to be evicted.
"""

from __future__ import annotations

import weakref
from typing import Any, Hashable

from .recent import Recent

_KEPT = Recent(entries=64, budget=16 << 20)
_TOKENS: "weakref.WeakKeyDictionary[Any, object]" = weakref.WeakKeyDictionary()  # connection -> its key


def version(conn) -> tuple | None:
    """``(a key of this connection, its data_version)``, or None when the connection may write
    (it keeps nothing). Call it inside the read's transaction."""
    if not conn.readonly("main"):
        return None
    token = _TOKENS.get(conn)
    if token is None:  # an object, not id(conn): a later connection may reuse a closed one's id
        token = _TOKENS.setdefault(conn, object())
    return token, conn.execute("PRAGMA data_version").get


def get(seen: tuple | None, key: Hashable) -> Any:
    """The value kept for ``key`` on the connection and file state ``seen`` (`version`), or None."""
    if seen is None:
        return None
    return _KEPT.get((seen[0], key), seen[1], None)


def put(seen: tuple | None, key: Hashable, value: Any, size: int) -> None:
    """Keep ``value`` (about ``size`` bytes) for ``key`` while the file stays as ``seen``."""
    if seen is not None:
        _KEPT.put((seen[0], key), seen[1], None, value, size)


def clear() -> None:
    """Forget everything kept (tests)."""
    _KEPT.clear()
