"""The manifest of a dataset: which version of each run its files hold.

``runlite-manifest.json`` at the dataset's root is plain JSON (never eval'd or unpickled)::

    {"format": "runlite-parquet", "schema": 2,
     "runs": {"<run id>": [modified_us, points, events, media_us, "<digest>", stand_in], ...}}

A run's *version* is what an export compares to decide whether to write it again: the time
its row last changed (``modified``, microseconds), its number of metric points and of events,
when its media last changed (``media_us``: the newest media item's timestamp, 0 for none;
logging or replacing an item moves it forward), and a digest of its exported row and alert
states (which change without ``modified``), and whether it is a placeholder: the stand-in a
trace's file keeps for a parent another file holds (1), or the run itself (0; an entry of
five, as exports before it wrote, is the run). Runs only grow (points, events and media are
appended, ``modified`` moves forward), so a copy of a run whose counts and times are all at
most the held ones, and not all equal, is an older snapshot of it (from another machine's
file) and is not written over the newer one. And a run is always newer than its stand-in,
whatever either's times: the stand-in is made when a child arrives, often after the run.

The manifest is replaced atomically and last: it only ever claims runs whose files and catalog
rows are all in place, so an interrupted export is repaired by the next one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from ..errors import DatasetError
from .._ids import is_uuid

NAME = "runlite-manifest.json"
LOCK_NAME = ".runlite-lock"
FORMAT = "runlite-parquet"
MAX_BYTES = 1 << 30  # far above a million runs' entries; a larger file is not one runlite wrote
_DIGEST_LEN = 32  # hex characters


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 63


def _time(value: Any) -> bool:
    """Epoch microseconds: a run may be dated before 1970 (0 is "no time")."""
    return type(value) is int and -(1 << 63) <= value < 1 << 63


def _valid_version(entry: Any) -> bool:
    return (type(entry) is list and len(entry) in (5, 6) and _time(entry[0]) and _count(entry[1])
            and _count(entry[2]) and _time(entry[3])
            and type(entry[4]) is str and len(entry[4]) == _DIGEST_LEN
            and all(c in "0123456789abcdef" for c in entry[4])
            and (len(entry) == 5 or entry[5] in (0, 1) and type(entry[5]) is int))


def stands_in(entry: list) -> bool:
    """Whether a held version is a placeholder's (an entry of five is the run's own)."""
    return len(entry) == 6 and entry[5] == 1


def _refuse(path: str, why: str) -> DatasetError:
    return DatasetError(f"{path}: {why}; it was not written by this runlite's export "
                        f"(remove it, or export with overwrite=True to rebuild the dataset)")


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def read(root: str, schema_version: int) -> dict:
    """The held versions ``{run_id: [modified_us, points, events, media_us, digest, stand_in]}``, every
    entry checked."""
    path = os.path.join(root, NAME)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_BYTES:
        raise _refuse(path, f"it is larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _refuse(path, f"it is not a JSON document ({type(exc).__name__})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _refuse(path, f"it is not a {FORMAT} manifest")
    if doc.get("schema") != schema_version or type(doc.get("schema")) is not int:
        raise DatasetError(f"{path}: the dataset has schema {doc.get('schema')!r:.20} and this runlite writes "
                           f"schema {schema_version}; export with overwrite=True to rebuild it")
    runs = doc.get("runs")
    if not isinstance(runs, dict):
        raise _refuse(path, "its runs are not an object")
    for run_id, entry in runs.items():
        if not is_uuid(run_id):  # a run id becomes a directory name
            raise _refuse(path, f"it names the run {run_id!r:.60}, which is not a UUID")
        if not _valid_version(entry):
            raise _refuse(path, f"its entry of run {run_id} is not [modified, points, events, media, digest,"
                                " stand_in]")
    return runs


def write(root: str, schema_version: int, runs: dict, staging: str) -> None:
    """Replace the manifest atomically (written beside, flushed, renamed over)."""
    tmp = os.path.join(staging, NAME + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "schema": schema_version, "runs": runs}, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(root, NAME))


def compare(source: list, held: list | None, events_relation: int, digest: Callable[[], str]) -> str:
    """``"new"``, ``"same"``, ``"older"`` (the dataset holds a newer copy) or ``"changed"``.

    ``source`` is ``[modified_us, points, None, media_us, None, stand_in]`` (its events are
    known only relative to the held count: ``events_relation`` is -1, 0 or 1). ``digest()``
    gives its digest, asked only when its counts and times all equal the held ones (making it
    costs more than the rest of the comparison).
    """
    if held is None:
        return "new"
    if stands_in(source) != stands_in(held):  # the run replaces its stand-in, never the reverse
        return "older" if stands_in(source) else "changed"
    relations = ((source[0] > held[0]) - (source[0] < held[0]), (source[1] > held[1]) - (source[1] < held[1]),
                 events_relation, (source[3] > held[3]) - (source[3] < held[3]))
    if relations == (0, 0, 0, 0):
        return "same" if digest() == held[4] else "changed"
    if all(r <= 0 for r in relations):
        return "older"
    return "changed"


class Lock:
    """One export at a time per dataset: an OS lock on ``.runlite-lock``, released if the process dies."""

    def __init__(self, root: str):
        self.path = os.path.join(root, LOCK_NAME)
        self.fd: int | None = None

    def __enter__(self) -> "Lock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer is the caller's job
            return self
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self.fd)
            self.fd = None
            raise DatasetError(f"another export is writing to {os.path.dirname(self.path)!r}") from exc
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None
