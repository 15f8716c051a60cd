"""Export runs, metric points, events, alerts and media as Parquet datasets (needs pyarrow).

Layout under ``dest`` (every table, column and type in docs/PARQUET.md)::

    runs/part-0.parquet                  one row per run
    series/part-0.parquet                one row per (run, metric, asset): the series' summary
    metrics/run_id=<id>/part-0.parquet   Hive-partitioned by run: one file per run with points
    events/run_id=<id>/part-0.parquet    Hive-partitioned by run: one file per run with events
    alerts/part-0.parquet                one row per (run, alert)
    media/run_id=<id>/part-0.parquet     Hive-partitioned by run: images (with their bytes), histograms, tables
    runlite-manifest.json                the version of each run the files hold

Exports are incremental: a run whose version (``manifest.py``) the dataset already holds is
skipped and its files are not touched; a new or changed run has its files replaced and its
catalog rows (``runs``, ``series``, ``alerts``) rewritten. Exporting several stores into one
dataset unions their runs (run ids are UUIDs, unique across machines); a run found in several
stores keeps its newest copy. Memory stays bounded by one row group of points (about a
million) or one page of events at a time, plus the catalogs.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import time

from .._ids import is_uuid
from .._validation import check_path, check_progress, shown
from ..errors import ValidationError
from . import files, manifest
from ..errors import DatasetError
from .schema import CATALOGS, DATASETS, SCHEMA_VERSION, alert_row, as_json, run_row, schemas, series_row

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_CHECKPOINT_SECONDS = 30.0  # how much work an interruption may cost: catalogs and manifest saved this often


def _pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or an ImportError saying what to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("export_parquet needs pyarrow: pip install 'runlite[parquet]'") from exc
    return pa, pq


def _check_dest(dest, overwrite: bool) -> str:
    """``dest`` as a path, refused (before anything is written) when it is a file, or a
    non-empty directory that is not a runlite dataset and ``overwrite`` is not given."""
    root = check_path(dest, "dest")
    try:  # a name of bytes that are not UTF-8 (Linux allows it): pyarrow names files in UTF-8 only
        root.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"dest {shown(root)} is a name that is not UTF-8 text; pyarrow writes Parquet only "
                              "under folder names that are: choose another dest") from None
    if os.path.exists(root) and not os.path.isdir(root):
        raise ValidationError(f"dest must be a directory, got the file {root!r}")
    has_manifest = os.path.isfile(os.path.join(root, manifest.NAME))
    # An export interrupted before its first manifest leaves only its own lock and staging.
    foreign = os.path.isdir(root) and set(os.listdir(root)) - {manifest.LOCK_NAME, files.STAGING}
    if foreign and not overwrite and not has_manifest:
        raise ValidationError(f"dest {root!r} is not empty and holds no {manifest.NAME} (not a dataset an "
                              f"export of this runlite wrote); pass overwrite=True to replace it")
    return root


def _clear(root: str) -> None:
    """Remove what an export writes in ``root`` (under the lock); other files are left alone."""
    for name in (*DATASETS, manifest.NAME, files.STAGING):
        sub = os.path.join(root, name)
        if os.path.isdir(sub) and not os.path.islink(sub):
            shutil.rmtree(sub)
        elif os.path.lexists(sub):
            os.remove(sub)


def _select_runs(store, run_ids) -> list:
    """The records to export, every id checked to be a UUID (it becomes a directory name)."""
    if run_ids is None:
        records = store.runs()
    else:
        if not isinstance(run_ids, (list, tuple, set, frozenset)):
            raise ValidationError(f"run_ids must be a list of run ids, got {shown(run_ids)}")
        records, seen = [], set()
        for run_id in run_ids:
            record = store.get_run(run_id)
            if record.id not in seen:
                seen.add(record.id)
                records.append(record)
    for record in records:
        if not is_uuid(record.id):
            raise ValidationError(f"run id {record.id!r} is not a UUID; refusing to use it in a path")
    return records


def _us(when) -> int:
    """Epoch microseconds, exactly (0 for no time)."""
    if when is None:
        return 0
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _digest(row: dict, alerts: list) -> str:
    """What changes without ``modified`` moving (an alert's state, the effective status)."""
    text = json.dumps([row, alerts], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _files_present(root: str, run_id: str, held: list) -> bool:
    """The files the manifest counts are still there (a dataset a user trimmed is repaired)."""
    return all(count == 0 or os.path.isfile(files.part_path(root, dataset, run_id))
               for dataset, count in (("metrics", held[1]), ("events", held[2]), ("media", held[3])))


class _Export:
    """One export into one dataset: the catalogs and manifest in memory, saved at checkpoints."""

    def __init__(self, pa, pq, store, root: str):
        self.pa, self.pq, self.store, self.root = pa, pq, store, root
        self.schemas = schemas(pa)
        fresh = not os.path.isfile(os.path.join(root, manifest.NAME))
        # Everything read and checked before anything is written: a refused dataset is left as it was.
        self.held = {} if fresh else manifest.read(root, SCHEMA_VERSION)
        self.old = {name: (self.schemas[name].empty_table() if fresh else
                           files.read_catalog(pa, pq, root, name, self.schemas[name])) for name in CATALOGS}
        # A held run missing from the runs catalog (a catalog removed by hand) is written again.
        self.in_catalog = set(self.old["runs"].column("id").to_pylist())
        self.staging = files.reset_staging(root)
        for name in DATASETS:
            os.makedirs(os.path.join(root, name), exist_ok=True)
        self.rows = {name: [] for name in CATALOGS}
        self.replaced: set = set()
        self.dirty = fresh  # whether the files on disk are behind the catalogs and manifest in memory
        self.counts = {**dict.fromkeys(DATASETS, 0), "unchanged": 0}
        self.sizes: dict = {}
        if fresh:
            self.checkpoint()  # from now on the directory says it is a dataset, empty or not

    def measure(self, records) -> None:
        """What each run the dataset holds has now (points, events, media time), for all of them
        in one read: a few reads a run were most of the cost of an export that writes nothing."""
        self.sizes = self.store.run_sizes([record.id for record in records if record.id in self.held])

    def decide(self, record, alerts: list) -> tuple[bool, list]:
        """Whether to write the run, and its version as known before writing. Its digest is made
        only when its counts and times all tie with the held ones (else a write makes it)."""
        held = self.held.get(record.id)
        version = [_us(record.modified), None, None, None, None, int(record.kind == "placeholder")]
        if held is None:  # new here: its counts are taken as it is written
            return True, version
        points, events, media_updated = self.sizes[record.id]
        version[1], version[3] = points, _us(media_updated)

        def digest() -> str:
            version[4] = _digest(run_row(record), alerts)
            return version[4]
        verdict = manifest.compare(version, held, (events > held[2]) - (events < held[2]), digest)
        if verdict == "same" and (record.id not in self.in_catalog or not _files_present(self.root, record.id, held)):
            verdict = "changed"
        return verdict in ("new", "changed"), version

    def write_run(self, record, alerts: list, version: list) -> None:
        """The run's files replaced, its catalog rows queued."""
        pa, pq, store, run_id = self.pa, self.pq, self.store, record.id
        row = run_row(record)
        if version[4] is None:
            version[4] = _digest(row, alerts)
        staged = os.path.join(self.staging, f"{run_id}-metrics.parquet")
        points, series = files.stage_metrics(pa, pq, store, run_id, staged, self.schemas["metrics"])
        files.place(staged if points else None, files.part_path(self.root, "metrics", run_id))
        staged = os.path.join(self.staging, f"{run_id}-events.parquet")
        events = files.stage_events(pa, pq, store, run_id, staged, self.schemas["events"], as_json)
        files.place(staged if events else None, files.part_path(self.root, "events", run_id))
        staged = os.path.join(self.staging, f"{run_id}-media.parquet")
        media, newest = files.stage_media(pa, pq, store, run_id, staged, self.schemas["media"])
        files.place(staged if media else None, files.part_path(self.root, "media", run_id))
        self.rows["runs"].append(row)
        self.rows["series"] += [series_row(run_id, name, asset, store.metric_summary(run_id, name, asset=asset))
                                for name, asset in series]
        self.rows["alerts"] += alerts
        self.replaced.add(run_id)
        self.dirty = True
        # What was written, not what was read before: a run that grew meanwhile is written again next time.
        self.held[run_id] = [version[0], points, events, 0 if newest is None else _us(newest), *version[4:]]
        self.counts["runs"] += 1
        self.counts["series"] += len(series)
        self.counts["metrics"] += points
        self.counts["events"] += events
        self.counts["media"] += media
        self.counts["alerts"] += len(alerts)

    def checkpoint(self) -> None:
        """Catalogs first, then the manifest: it never claims a run whose rows are not in place.
        With nothing new since the last one, nothing is rewritten."""
        if not self.dirty:
            return
        for name in CATALOGS:
            files.write_catalog(self.pa, self.pq, self.root, self.staging, name, self.schemas[name],
                                self.old[name], self.replaced, self.rows[name])
        manifest.write(self.root, SCHEMA_VERSION, self.held, self.staging)
        self.dirty = False


def export_parquet(store, dest: str | os.PathLike, *, run_ids=None, overwrite: bool = False,
                   progress=None) -> dict:
    """Write runs, metric points, events, alerts and media as Parquet datasets under ``dest``, incrementally.

    Args:
        store: an open ``Store``.
        dest: a directory; created if missing. An existing dataset (one holding
            ``runlite-manifest.json``) is updated: only runs that are new or changed since it
            was written (points, events, media, status, any field, alert states) are written, and the
            files of the others are left untouched. Exporting several stores into one ``dest``
            unions their runs; of a run found in several, the newest copy is kept. Read back with
            e.g. DuckDB's ``read_parquet('dest/metrics/*/*.parquet', hive_partitioning=true)``
            or Spark's ``spark.read.parquet('dest/metrics')`` (docs/PARQUET.md).
        run_ids: only these runs (ids or unique names); default every run.
        overwrite: first remove what an export writes in ``dest`` (the datasets and the
            manifest; other files there are left alone), then write every run.

    Returns:
        Rows written per dataset (``runs``, ``series``, ``metrics``, ``events``, ``alerts``,
        ``media``: of the runs written by this call) and ``unchanged``: runs skipped because the
        dataset already held them (or a newer copy). Runs without points (or events, media) get
        no metrics (or events, media) file.

    Raises:
        ValidationError: ``dest`` is not a path, or is a file, or a non-empty directory that
            is not a dataset without ``overwrite``, or cannot be made; ``run_ids`` is not a
            list, or a run id is not a UUID; ``progress`` is not callable.
        DatasetError: the dataset's manifest or catalogs are damaged or of another schema
            version, or another export is writing to it.
        NotFoundError: a run in ``run_ids`` does not exist.
        ImportError: pyarrow is not installed.
    """
    pa, pq = _pyarrow()
    check_progress(progress)
    store.flush()  # this program's live runs: their buffered points and events are part of the export
    records = _select_runs(store, run_ids)  # before touching dest: a refused call writes nothing
    wanted = {r.id for r in records}
    alerts: dict = {}
    for a in store.alerts():
        if a.run_id in wanted:
            alerts.setdefault(a.run_id, []).append(alert_row(a))
    root = _check_dest(dest, bool(overwrite))
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:  # a name too long, a folder that cannot be written...: refused, nothing written
        raise ValidationError(f"dest {shown(root)} cannot be made a folder here: {exc.strerror or exc}") from None
    with manifest.Lock(root):
        if overwrite:
            _clear(root)
        job = _Export(pa, pq, store, root)
        job.measure(records)
        last = time.monotonic()
        for done, record in enumerate(records, start=1):
            if progress is not None:
                progress(done, len(records))
            run_alerts = alerts.get(record.id, [])
            write, version = job.decide(record, run_alerts)
            if not write:
                job.counts["unchanged"] += 1
                continue
            job.write_run(record, run_alerts, version)
            if time.monotonic() - last >= _CHECKPOINT_SECONDS:
                job.checkpoint()
                last = time.monotonic()
        job.checkpoint()
        shutil.rmtree(job.staging, ignore_errors=True)
    return job.counts


__all__ = ["DATASETS", "DatasetError", "export_parquet"]
