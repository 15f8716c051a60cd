"""Simvue's ``Client`` (2.x) over a runlite file: the same methods, arguments, return shapes
(objects, dicts, dataframes) and errors, so ``import runlite.simvue as simvue`` is the whole
migration of read code. Built on ``Store``'s public API (and ``storage/runs.py`` to delete folder
records, which ``Store`` has no method for); see docs/SIMVUE.md ("Client").

There is no server: ``server_token``/``server_url`` are accepted and unused, and what only a
server has (sharing, tenants) is accepted and documented. pandas is imported only for
``output_format="dataframe"``.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any

from .. import _defaults, errors
from .._validation import shown
from ..query.parse import current_user
from ..storage import runs as stored_runs
from .converters import aggregated_table, deserialize, metrics_table, runs_dataframe
from .objects import Alert, Artifact, Folder, Run, Tag, alert_dict, run_dict, stamp

logger = logging.getLogger(__name__)

NAME_REGEX = r"^[a-zA-Z0-9\-\_\s\/\.:]+$"
FOLDER_REGEX = r"^/.*"


ClientError = errors.SimvueRunError  # where Simvue's client raises RuntimeError
InvalidArgument = errors.SimvueValidationError  # Simvue's pydantic argument errors (RuntimeError there)


class AmbiguousArguments(errors.ValidationError, AssertionError):
    """Arguments Simvue refuses with ``AssertionError`` (run_ids with run_filters...)."""


class ObjectNotFoundError(errors.SimvueNotFoundError):
    """Simvue's ``ObjectNotFoundError``: no such object (here also a ``LookupError`` and a ``RuntimeError``)."""

    def __init__(self, obj_type: str, name: str, extra: str | None = None):
        super().__init__(f"Failed to retrieve '{name}' of type '{obj_type}' "
                         f"{f'{extra}, ' if extra else ''}no such object")


class FolderNotFound(errors.NotFoundError, ValueError):
    """``delete_runs`` of a folder that does not exist (Simvue raises ``ValueError``)."""


def _exactly(value: str) -> str:
    """``value`` as a filter's value that reads back as it is: a filter's text is stripped of
    the spaces around it (a folder "/x " would have selected "/x", and deleted its runs), and
    then of one pair of quotes around it."""
    return f'"{value}"'


def _check(value: Any, pattern: str, what: str) -> str:
    if not isinstance(value, str) or not re.match(pattern, value):
        raise InvalidArgument(f"{what} must be a str matching {pattern!r}, got {shown(value)}")
    return value


def _count(value: Any, what: str, *, positive: bool, none: bool = True) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        raise InvalidArgument(f"{what} must be {'a positive' if positive else 'a non-negative'} int, got {shown(value)}")
    return value


def _listed(value: Any, what: str) -> list:
    """A list (or tuple) argument as a list; None as an empty one."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise InvalidArgument(f"{what} must be a list, got {shown(value)}")
    return list(value)


def _choice(value: Any, choices: tuple, what: str) -> Any:
    if value not in choices:
        raise InvalidArgument(f"{what} must be one of {', '.join(map(repr, choices))}, got {shown(value)}")
    return value


def _sorting(columns: Any) -> list[tuple[str, bool]] | None:
    if columns is None:
        return None
    if not isinstance(columns, (list, tuple)) or not all(
            isinstance(c, (list, tuple)) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], bool)
            for c in columns):
        raise InvalidArgument(f"sort_by_columns must be a list of (column, descending) pairs, got {shown(columns)}")
    return [(c, d) for c, d in columns]


def _sort_objects(items: list, columns: list | None) -> list:
    for column, descending in reversed(columns or []):
        items.sort(key=lambda pair: (getattr(pair[1], column, None) is None, getattr(pair[1], column, None)),
                   reverse=descending)
    return items


# ---------------------------------------------------------------- the client


class Client:
    """Simvue's ``Client`` over a runlite file.

    Args:
        server_token, server_url: accepted for Simvue's signature; there is no server.
        store: a ``runlite.Store`` (or a path); ``path``: a path. Default: the default store
            (``runlite.set_default_store``, else ``$RUNLITE_DB``, else ``runs.db``).
    """

    def __init__(self, *, server_token: Any = None, server_url: str | None = None, store: Any = None,
                 path: str | os.PathLike | None = None):
        if store is not None and path is not None:
            raise InvalidArgument("give store or path, not both")
        if isinstance(store, (str, os.PathLike)):
            store, path = None, store
        self._own = path is not None
        self.store = _defaults.open_store(path) if path is not None else _defaults.store_or_default(store)
        self.server_url, self.server_token = server_url, server_token
        self.user = current_user()

    def close(self) -> None:
        """Close the store when this client opened it (``path=``)."""
        if self._own:
            self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs

    def _record(self, run_id: Any) -> Any:
        if not isinstance(run_id, str):
            raise InvalidArgument(f"run_id must be a str, got {shown(run_id)}")
        try:
            return self.store.get_run(run_id)
        except errors.NotFoundError:
            raise ObjectNotFoundError("run", run_id) from None

    def _runs(self, filters: Any, **kwargs: Any) -> list:
        try:
            return self.store.get_runs(filters, **kwargs)
        except errors.FilterError as e:
            raise InvalidArgument(str(e)) from e

    def get_run_id_from_name(self, name: str) -> str:
        """The id of the one run named ``name``; ``ClientError`` when none or several are."""
        _check(name, NAME_REGEX, "name")
        found = self._runs([f"name == {_exactly(name)}"], limit=2)
        if not found:
            raise ClientError("Could not collect ID - no run found with this name.")
        if len(found) > 1:
            raise ClientError("Could not collect ID - more than one run exists with this name.")
        return found[0].id

    def get_run(self, run_id: str) -> Run:
        """A run as a read-only Simvue ``Run`` object; ``ObjectNotFoundError`` when missing."""
        return Run(self._record(run_id), self.store, self.user)

    def get_run_name_from_id(self, run_id: str) -> str:
        return self._record(run_id).name

    def get_runs(self, filters: list[str] | None, *, attributes: list[str] | None = None, metadata: bool = False,
                 metrics: bool = False, alerts: bool = False, system_info: bool = False, timing_info: bool = False,
                 output_format: str = "objects", count_limit: int | None = 100, start_index: int = 0,
                 show_shared: bool = True, sort_by_columns: list[tuple[str, bool]] | None = None) -> Any:
        """Runs matching Simvue filter strings: ``(id, Run)`` pairs (``objects``, a generator),
        a list of run dicts (``dict``), or ``simvue.converters.to_dataframe``'s frame."""
        _choice(output_format, ("dict", "objects", "dataframe"), "output_format")
        _count(count_limit, "count_limit", positive=True)
        _count(start_index, "start_index", positive=False, none=False)
        if filters is not None and (not isinstance(filters, list) or not all(isinstance(f, str) for f in filters)):
            raise InvalidArgument(f"filters must be a list of str or None, got {shown(filters)}")
        filters = list(filters or []) + ([] if show_shared else ["user == self"])
        sorting = _sorting(sort_by_columns)
        found = self._runs(filters, sort_by=sorting, limit=count_limit, offset=start_index)
        if output_format == "objects":
            return ((r.id, Run(r, self.store, self.user)) for r in found)
        parts = {p for p, on in (("metadata", metadata), ("metrics", metrics), ("alerts", alerts),
                                 ("system", system_info), ("timing", timing_info)) if on}
        dicts = [run_dict(r, self.store, self.user, parts) for r in found]
        if attributes is not None:
            dicts = [{k: v for k, v in d.items() if k in attributes or k == "id"} for d in dicts]
        return dicts if output_format == "dict" else runs_dataframe(dicts)

    def abort_run(self, run_id: str, reason: str) -> dict:
        """Abort a running run (in any process): it is ``terminated`` with ``reason`` at once,
        and its process stops logging at its next heartbeat (``Store.abort_run``)."""
        record = self._record(run_id)
        try:
            self.store.abort_run(record.id, reason)
        except errors.RunStateError as exc:
            raise ClientError(str(exc)) from None
        return {"id": record.id, "status": "terminated", "reason": reason}

    def delete_run(self, run_id: str) -> dict | None:
        """Delete a run (its descendants, metrics, events and files too)."""
        record = self._record(run_id)
        self.store.delete_runs([record.id])
        return {"id": record.id, "name": record.name}

    def delete_runs(self, folder_path: str) -> list[dict] | None:
        """Delete the runs directly in a folder; ``ValueError`` when there is no such folder."""
        _check(folder_path, FOLDER_REGEX, "folder_path")
        if self.get_folder(folder_path) is None:
            raise FolderNotFound(f"Could not find a folder matching '{folder_path}'")
        found = self._runs([f"folder.path == {_exactly(folder_path)}"])
        if found:
            self.store.delete_runs([r.id for r in found])
        return [{"id": r.id, "name": r.name} for r in found]

    def delete_folder(self, folder_path: str, *, recursive: bool = False, remove_runs: bool = False,
                      allow_missing: bool = False) -> list[dict] | None:
        """Delete a folder (with ``recursive`` its subfolders; with ``remove_runs`` their runs);
        returns the runs deleted."""
        _check(folder_path, FOLDER_REGEX, "folder_path")
        if self.get_folder(folder_path) is None:
            if allow_missing:
                return None
            raise ObjectNotFoundError(name=folder_path, obj_type="folder")
        below = [p for p in self.store.folders() if p.startswith(folder_path.rstrip("/") + "/")]
        if below and not recursive:
            raise ClientError(f"folder '{folder_path}' holds folders {below}: pass recursive=True")
        found = [r for p in [folder_path] + below for r in self._runs([f"folder.path == {_exactly(p)}"])]
        if found and not remove_runs:
            raise ClientError(f"folder '{folder_path}' holds {len(found)} runs: pass remove_runs=True")
        if found:
            self.store.delete_runs([r.id for r in found])
        with self.store.database.write() as conn:  # the folder records, now that no run is in them
            stored_runs.delete_folders(conn, [folder_path] + below)
        return [{"id": r.id, "name": r.name} for r in found]

    # -- artifacts

    def list_artifacts(self, run_id: str, sort_by_columns: list[tuple[str, bool]] | None = None
                       ) -> Iterator[tuple[str, Artifact]]:
        """``(id, Artifact)`` pairs of a run's saved files and objects."""
        record = self._record(run_id)
        items = [(a.id, a) for a in (Artifact(record.id, x, self.store) for x in self.store.attachments(record.id))]
        return iter(_sort_objects(items, _sorting(sort_by_columns)))

    def _artifact(self, run_id: str, name: str) -> Artifact:
        record = self._record(run_id)
        try:
            found = self.store.attachment(record.id, name)
        except errors.NotFoundError:
            raise ObjectNotFoundError(obj_type="artifact", name=name, extra=f"for run '{run_id}'") from None
        return Artifact(record.id, found, self.store)

    def get_artifact(self, run_id: str, name: str, *, allow_pickle: bool = False) -> Any:
        """An artifact's content, deserialized as Simvue does for JSON, numpy arrays, pandas
        frames and plotly figures; other content (pickles included: never unpickled) as bytes."""
        artifact = self._artifact(run_id, name)
        content = b"".join(artifact.download_content())
        value = deserialize(content, artifact.mime_type)
        return content if value is None else value

    def get_artifact_as_file(self, run_id: str, name: str, output_dir: str | os.PathLike | None = None) -> None:
        """Write one artifact to ``output_dir`` (an existing directory; default the cwd) under its name."""
        artifact = self._artifact(run_id, name)
        root = self._output_dir(output_dir)
        target = (root / artifact.name).resolve()
        if root.resolve() not in target.parents:
            raise ClientError(f"artifact name {artifact.name!r} would be written outside {str(root)!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            out.writelines(artifact.download_content())
        os.replace(partial, target)

    def get_artifacts_as_files(self, run_id: str, category: str | None = None,
                               output_dir: str | os.PathLike | None = None) -> None:
        """Write a run's artifacts (of one ``category``: input, output, code) under ``output_dir``."""
        _choice(category, ("input", "output", "code", None), "category")
        record = self._record(run_id)
        try:
            self.store.restore(record.id, self._output_dir(output_dir), category)
        except errors.RunliteError as e:
            raise ClientError(f"Download of files of run '{run_id}' failed with exception: {e}") from e

    @staticmethod
    def _output_dir(output_dir: Any) -> pathlib.Path:
        root = pathlib.Path.cwd() if output_dir is None else pathlib.Path(output_dir)
        if not root.is_dir():
            raise InvalidArgument(f"output_dir must be an existing directory, got {str(root)!r}")
        return root

    # -- folders and tags

    def get_folder(self, folder_path: str, *, read_only: bool = True) -> Folder | None:
        """A folder by path, or None."""
        _check(folder_path, FOLDER_REGEX, "folder_path")
        try:
            details = self.store.folder(folder_path)
        except errors.NotFoundError:
            return None
        folder = Folder(details["path"], {**details, "created": stamp(details.get("created"))})
        folder.read_only(read_only)
        return folder

    def get_folders(self, *, filters: list[str] | None = None, count: int = 100, start_index: int = 0,
                    sort_by_columns: list[tuple[str, bool]] | None = None) -> Iterator[tuple[str, Folder]]:
        """``(id, Folder)`` pairs; filters ``path == x``, ``path != x``, ``path contains x``."""
        _count(count, "count", positive=True, none=False)
        _count(start_index, "start_index", positive=False, none=False)
        tests = [_folder_test(f) for f in _listed(filters, "filters")]
        paths = [p for p in self.store.folders() if all(t(p) for t in tests)]
        items = [(p, self.get_folder(p)) for p in paths]
        items = _sort_objects([(p, f) for p, f in items if f is not None], _sorting(sort_by_columns))
        return iter(items[start_index:start_index + count])

    def get_tags(self, *, start_index: int | None = None, count_limit: int | None = None,
                 sort_by_columns: list[tuple[str, bool]] | None = None) -> Iterator[tuple[str, Tag]]:
        """``(id, Tag)`` pairs of every tag on a run of the file, by name."""
        start = _count(start_index, "start_index", positive=False) or 0
        limit = _count(count_limit, "count_limit", positive=True)
        items = _sort_objects([(n, Tag(n, {"name": n})) for n in self.store.tags()], _sorting(sort_by_columns))
        return iter(items[start:None if limit is None else start + limit])

    def get_tag(self, tag_id: str) -> Tag:
        """One tag by id (its name); ``ObjectNotFoundError`` when no run has it."""
        if not isinstance(tag_id, str) or not self.store.get_runs([f"has tag.{_exactly(tag_id)}"], limit=1):
            raise ObjectNotFoundError(obj_type="tag", name=str(tag_id))
        return Tag(tag_id, {"name": tag_id})

    # -- metrics, events, alerts

    def get_metrics_names(self, run_id: str) -> Iterator[str]:
        """The names of a run's metrics (a generator, as Simvue's)."""
        yield from self.store.metric_names(self._record(run_id).id)

    def get_metric_values(self, metric_names: list[str], xaxis: str, *, output_format: str = "dict",
                          run_ids: list[str] | None = None, run_filters: list[str] | None = None,
                          use_run_names: bool = False, aggregate: bool = False,
                          max_points: int | None = None) -> Any:
        """Values of metrics across runs, in ``simvue.converters``' shapes: ``{metric: {(x,
        run): value}}`` or a dataframe indexed by ``(xaxis, "run")``; with ``aggregate``,
        ``{metric: {(x, stat): value}}`` (stats average, min, max). None when no run has them."""
        if not isinstance(metric_names, list) or not all(isinstance(n, str) for n in metric_names):
            raise InvalidArgument(f"metric_names must be a list of str, got {shown(metric_names)}")
        _choice(xaxis, ("step", "time", "timestamp"), "xaxis")
        _choice(output_format, ("dataframe", "dict"), "output_format")
        _count(max_points, "max_points", positive=True)
        if not metric_names:
            raise errors.ValidationError("No metric names were provided")
        run_ids = _listed(run_ids, "run_ids")
        if run_filters and run_ids:
            raise AmbiguousArguments("Specification of both 'run_ids' and 'run_filters' "
                                     "in get_metric_values is ambiguous")
        if xaxis == "timestamp" and aggregate:
            raise AmbiguousArguments("Cannot return metric values with options 'aggregate=True' and "
                                     "'xaxis=timestamp'")
        records = [self._record(r) for r in run_ids] if run_ids else self._runs(run_filters or None)
        # The named series of every run, read together (1 to 3 points are taken below from the whole series).
        found = self.store.metric_values_many(
            [r.id for r in records], metric_names, xaxis=xaxis,
            max_points=None if max_points is None or max_points < 4 else max_points) if records else {}
        data: dict[str, dict[str, list[dict]]] = {}
        labels = []
        for record in records:
            series = found.get(record.id, {})
            run = {n: _points(series[n], xaxis, max_points) for n in metric_names if n in series}
            if run and record.id not in data:
                data[record.id] = run
                labels.append(record.name if use_run_names else record.id)
        if not data:
            return None
        if aggregate:
            return aggregated_table(data, xaxis, output_format)
        return metrics_table(data, xaxis, labels, output_format)


    def get_events(self, run_id: str, *, message_contains: str | None = None, start_index: int | None = None,
                   count_limit: int | None = None) -> list[dict[str, str]]:
        """A run's events, oldest first, as ``{"message", "timestamp"}`` dicts."""
        start = _count(start_index, "start_index", positive=False) or 0
        limit = _count(count_limit, "count_limit", positive=True)
        found = self.store.events(self._record(run_id).id, contains=message_contains or None, limit=limit,
                                  offset=start)
        return [{"message": e.message, "timestamp": stamp(e.time)} for e in found]

    def get_alerts(self, *, run_id: str | None = None, critical_only: bool = True, names_only: bool = True,
                   start_index: int | None = None, count_limit: int | None = None,
                   sort_by_columns: list[tuple[str, bool]] | None = None) -> list:
        """Alert names (or ``Alert`` objects) of a run, only the critical ones by default; with
        no run, every alert of the file (``critical_only`` must then be False, as in Simvue)."""
        start = _count(start_index, "start_index", positive=False) or 0
        limit = _count(count_limit, "count_limit", positive=True)
        sorting = _sorting(sort_by_columns)
        if not run_id:
            if critical_only:
                raise ClientError("critical_only is ambiguous when returning alerts with no run ID specified.")
            states = {a.alert_id: a for a in self.store.alerts()}
            items = _sort_objects([(i, Alert(i, alert_dict(a), self.store)) for i, a in states.items()], sorting)
            items = items[start:None if limit is None else start + limit]
            return [a.name for _, a in items] if names_only else [a for _, a in items]
        if sorting:
            logger.warning("Run identifier specified for alert retrieval, argument 'sort_by_columns' will be ignored")
        states = [a for a in self.store.alerts(self._record(run_id).id) if not critical_only or a.state == "critical"]
        return [a.name if names_only else Alert(a.alert_id, alert_dict(a), self.store) for a in states]


def _folder_test(text: Any):
    m = re.fullmatch(r"\s*path\s*(==|!=|contains)\s*(.*?)\s*", text) if isinstance(text, str) else None
    if m is None:
        raise InvalidArgument(f"folder filters are 'path == x', 'path != x' or 'path contains x', got {shown(text)}")
    op, value = m.groups()
    return {"==": lambda p: p == value, "!=": lambda p: p != value, "contains": lambda p: value in p}[op]


def _points(series: Any, xaxis: str, max_points: int | None) -> list[dict]:
    """``[{xaxis: x, "value": v}]`` of a Series; runlite downsamples to 4 points or more (min, max
    and last of each bucket), so 1 to 3 points are taken evenly from the whole series."""
    xs = {"step": series.steps, "time": series.times,
          "timestamp": [t / 1e6 for t in series.timestamps]}[xaxis]
    points = [{xaxis: x, "value": v} for x, v in zip(xs, series.values)]
    if max_points is not None and len(points) > max_points:
        last = len(points) - 1
        points = [points[round(i * last / max(max_points - 1, 1))] for i in range(max_points)] \
            if max_points > 1 else points[-1:]
    return points


__all__ = [
    "Alert",
    "Artifact",
    "Client",
    "ClientError",
    "Folder",
    "InvalidArgument",
    "ObjectNotFoundError",
    "Run",
    "Tag",
]
