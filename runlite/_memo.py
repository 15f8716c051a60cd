"""Values made once for the objects they come from, while a batch of work lasts.

A flush does the same work for every series of a record shape, and those series share their
axis columns (the same steps, times and timestamps objects): the axis's ranges and order, its
transformed bytes, its default times, whether those never decrease. ``made_once`` keys such a
value by the objects' identities and keeps the objects in the entry, so no other object can take
their ids while the cache lives and a key found is theirs.
"""

from __future__ import annotations

from typing import Any, Callable


def made_once(cache: dict | None, objects: tuple, what: Any, make: Callable[[], Any]) -> Any:
    """``make()``, made once in ``cache`` for ``objects`` (by identity) and ``what`` (by value):
    made every time without a cache, and None when the first object is None."""
    if objects[0] is None:
        return None
    if cache is None:
        return make()
    key = (*map(id, objects), what)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (objects, make())
    return hit[1]
