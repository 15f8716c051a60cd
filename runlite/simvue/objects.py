"""Simvue's API objects (``Run``, ``Folder``, ``Tag``, ``Alert``, ``Artifact``) as read-only views of
runlite records, and the run dict Simvue's server gives; ``client.py`` returns them."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any

from .. import errors

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # Simvue's (simvue.models), UTC
STAR_TAG = "starred"  # runlite has no star: a starred run is one tagged "starred"
ClientError = errors.SimvueRunError


def stamp(value: _dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(_dt.timezone.utc).strftime(DATETIME_FORMAT)


# ---------------------------------------------------------------- read-only objects


class _View:
    """A read-only object as Simvue's API objects are with ``read_only=True``."""

    def __init__(self, identifier: str, data: dict):
        self._identifier, self._data = identifier, data

    @property
    def id(self) -> str:
        return self._identifier

    def to_dict(self) -> dict:
        return dict(self._data)

    def read_only(self, is_read_only: bool = True) -> None:
        if not is_read_only:
            raise ClientError(f"{type(self).__name__} objects of a runlite file are read-only: change runs with Run")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identifier={self._identifier!r})"


class Run(_View):
    """A stored run as Simvue's ``simvue.api.objects.Run`` reads it (read-only)."""

    def __init__(self, record: Any, store: Any, user: str | None):
        super().__init__(record.id, run_dict(record, store, user, parts=None))
        self._record, self._store = record, store

    name = property(lambda self: self._record.name)
    tags = property(lambda self: list(self._record.tags))
    status = property(lambda self: self._record.status)
    folder = property(lambda self: self._record.folder)
    metadata = property(lambda self: dict(self._record.metadata))
    description = property(lambda self: self._record.description)
    system = property(lambda self: dict(self._record.system or {}))
    heartbeat_timeout = property(lambda self: self._record.heartbeat_timeout)
    created = property(lambda self: self._record.created)
    started = property(lambda self: self._record.started)
    endtime = property(lambda self: self._record.ended)
    user = property(lambda self: self._data["user"])
    star = property(lambda self: STAR_TAG in self._record.tags)
    ttl = property(lambda self: None)
    notifications = property(lambda self: "none")
    abort_trigger = property(lambda self: False)

    @property
    def runtime(self) -> float | None:
        """Seconds from start to end (or to now for a run not ended)."""
        start = self._record.started or self._record.created
        end = self._record.ended or _dt.datetime.now(_dt.timezone.utc)
        return None if start is None else (end - start).total_seconds()

    @property
    def alerts(self) -> list[str]:
        return [a.alert_id for a in self._store.alerts(self.id)]

    def get_alert_details(self) -> Iterator[dict]:
        yield from (alert_dict(a) for a in self._store.alerts(self.id))

    @property
    def metrics(self) -> Iterator[tuple[str, dict]]:
        yield from _metrics(self._store, self.id).items()

    @property
    def events(self) -> Iterator[tuple[str, dict]]:
        for e in self._store.events(self.id):
            yield str(e.seq), {"message": e.message, "timestamp": stamp(e.time)}

    @property
    def artifacts(self) -> list[dict]:
        return [Artifact(self.id, a, self._store).to_dict() for a in self._store.attachments(self.id)]


class Folder(_View):
    """A folder as Simvue's ``Folder`` reads it; its id is its path."""

    path = property(lambda self: self._data["path"])
    name = property(lambda self: self._data["path"].rstrip("/").rpartition("/")[2] or "/")
    description = property(lambda self: self._data.get("description"))
    tags = property(lambda self: list(self._data.get("tags") or []))
    metadata = property(lambda self: dict(self._data.get("metadata") or {}))
    star = property(lambda self: STAR_TAG in (self._data.get("tags") or []))
    visibility = property(lambda self: None)
    ttl = property(lambda self: None)

    @property
    def created(self) -> _dt.datetime | None:
        value = self._data.get("created")
        return None if value is None else _dt.datetime.strptime(value, DATETIME_FORMAT).replace(tzinfo=_dt.timezone.utc)


class Tag(_View):
    """A tag as Simvue's ``Tag`` reads it; its id is its name (runlite tags are names on runs)."""

    name = property(lambda self: self._identifier)
    colour = property(lambda self: None)
    description = property(lambda self: None)


class Alert(_View):
    """An alert definition as Simvue's ``Alert`` reads it."""

    name = property(lambda self: self._data["name"])
    source = property(lambda self: self._data["source"])
    description = property(lambda self: self._data.get("description"))
    notification = property(lambda self: self._data.get("notification", "none"))
    abort = property(lambda self: bool(self._data.get("trigger_abort")))

    def __init__(self, identifier: str, data: dict, store: Any):
        super().__init__(identifier, data)
        self._store = store

    def get_status(self, run_id: str) -> str | None:
        """This alert's status on a run: ``ok``, ``critical``, or None when not attached."""
        return next((a.state for a in self._store.alerts(run_id) if a.alert_id == self.id), None)


class Artifact(_View):
    """A saved file or object as Simvue's ``FileArtifact``/``ObjectArtifact`` read it."""

    name = property(lambda self: self._data["name"])
    mime_type = property(lambda self: self._data["mime_type"])
    size = property(lambda self: self._data["size"])
    checksum = property(lambda self: self._data["sha256"])
    original_path = property(lambda self: self._data.get("original_path"))
    category = property(lambda self: self._data.get("category"))
    storage_url = property(lambda self: None)

    @property
    def created(self) -> _dt.datetime:
        return _dt.datetime.strptime(self._data["created"], DATETIME_FORMAT).replace(tzinfo=_dt.timezone.utc)

    def __init__(self, run_id: str, attachment: Any, store: Any):
        data = {**attachment.to_dict(), "created": stamp(attachment.created), "run": run_id}
        super().__init__(f"{run_id}/{attachment.name}", data)
        self._store, self._run_id = store, run_id

    def download_content(self) -> Iterator[bytes]:
        """The content in pieces, its SHA-256 checked at the end."""
        with self._store.open_attachment(self._run_id, self.name) as stream:
            while piece := stream.read(1 << 20):
                yield piece


# ---------------------------------------------------------------- dict shapes


def alert_dict(state: Any) -> dict:
    return {"id": state.alert_id, "name": state.name, "source": state.source, "status": state.state,
            **{k: v for k, v in (state.definition or {}).items() if k not in ("name", "source")}}


def _metrics(store: Any, run_id: str) -> dict:
    out = {}
    for name in store.metric_names(run_id):
        s = store.metric_summary(run_id, name)
        out[name] = {"count": s.count, "min": s.min, "max": s.max, "average": s.avg, "first": s.first,
                     "last": s.last, "step": s.last_step}
    return out


def run_dict(record: Any, store: Any, user: str | None, parts: set | None) -> dict:
    """The run as Simvue's server gives it; ``parts`` (None: all) picks the optional ones."""
    system = dict(record.system or {})
    out = {"id": record.id, "name": record.name, "description": record.description, "status": record.status,
           "folder": record.folder, "tags": list(record.tags), "created": stamp(record.created),
           "started": stamp(record.started), "endtime": stamp(record.ended),
           "heartbeat_timeout": record.heartbeat_timeout, "ttl": None, "starred": STAR_TAG in record.tags,
           "user": system.get("user") or user}
    if parts is None or "metadata" in parts:
        out["metadata"] = dict(record.metadata)
    if parts is None or "system" in parts:
        out["system"] = system
    if parts is not None and "metrics" in parts:
        out["metrics"] = _metrics(store, record.id)
    if parts is not None and "alerts" in parts:
        out["alerts"] = [{"alert": alert_dict(a), "status": a.state} for a in store.alerts(record.id)]
    if parts is not None and "timing" in parts:
        out["runtime"] = Run(record, store, user).runtime
    return out
