"""Writing a dataset's files so that a reader never sees half of one.

Every file is written whole in the staging directory (``.runlite-staging`` at the dataset's
root, which readers of ``runs/``, ``metrics/``... never list) and renamed into place: a reader
sees a run's old file or its new one. Leftovers of an interrupted export are only ever in the
staging directory, which the next export empties first.
"""

from __future__ import annotations

import os
import shutil
from array import array

from ..errors import DatasetError
from .schema import CATALOG_KEY, histogram_row, image_row, table_row

STAGING = ".runlite-staging"
EVENT_PAGE = 50_000  # events read and written per row group
# Points per row group of a metrics file: a run's small series share one (a row group per
# series would make readers open thousands of tiny ones), a long series is split.
ROW_GROUP_POINTS = 1 << 20
# A media file's row groups: at most about this many bytes of images and tables, or rows.
MEDIA_GROUP_BYTES = 64 << 20
MEDIA_GROUP_ROWS = 10_000


def reset_staging(root: str) -> str:
    """An empty staging directory (what an interrupted export left there is dropped)."""
    path = os.path.join(root, STAGING)
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    os.mkdir(path)
    return path


def part_path(root: str, dataset: str, run_id: str) -> str:
    """The file of one run in a per-run dataset (``run_id`` checked to be a UUID by the caller)."""
    return os.path.join(root, dataset, f"run_id={run_id}", "part-0.parquet")


def place(staged: str | None, final: str) -> None:
    """Rename a staged file over ``final``; with no file (the run has no rows there), remove it."""
    if staged is not None:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(staged, final)
        return
    if os.path.lexists(final):
        os.remove(final)
        try:
            os.rmdir(os.path.dirname(final))
        except OSError:  # not empty: someone else's file is there; leave it
            pass


def _column(pa, data, typecode: str, arrow_type):
    """An Arrow array over an ``array``-like column without copying when it is already packed."""
    if not (isinstance(data, array) and data.typecode == typecode):
        data = array(typecode, data)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def stage_metrics(pa, pq, store, run_id: str, path: str, schema) -> tuple[int, list]:
    """One run's points into ``path``, its series gathered into row groups of about
    ``ROW_GROUP_POINTS`` points (memory stays bounded by that, whatever the run's size).

    Returns the number of points (no file when 0) and each series' ``(name, asset)``."""
    writer, total, series, pending, waiting = None, 0, [], [], 0
    try:
        for name, asset, _count in store.metric_series(run_id):
            series.append((name, asset))
            for s in store.iter_metric_values(run_id, name, asset=asset):  # bounded memory per piece
                n = len(s)
                if n == 0:
                    continue
                pending.append(pa.Table.from_arrays([
                    pa.repeat(pa.scalar(name, pa.string()), n),
                    pa.repeat(pa.scalar(asset, pa.string()), n),
                    _column(pa, s.steps, "q", pa.int64()),
                    _column(pa, s.times, "d", pa.float64()),
                    _column(pa, s.timestamps, "q", schema.field("timestamp").type),
                    _column(pa, s.values, "d", pa.float64()),
                ], schema=schema))
                waiting += n
                total += n
                if waiting >= ROW_GROUP_POINTS:
                    writer = writer or pq.ParquetWriter(path, schema)
                    writer.write_table(pa.concat_tables(pending), row_group_size=waiting)
                    pending, waiting = [], 0
        if pending:
            writer = writer or pq.ParquetWriter(path, schema)
            writer.write_table(pa.concat_tables(pending), row_group_size=waiting)
    finally:
        if writer is not None:
            writer.close()
    return total, series


def stage_events(pa, pq, store, run_id: str, path: str, schema, as_json) -> int:
    """One run's events into ``path``, a page of events per row group; the number (no file when 0)."""
    writer, total = None, 0
    try:
        while True:
            page = store.events(run_id, limit=EVENT_PAGE, offset=total)
            if not page:
                break
            table = pa.Table.from_pylist([
                {"seq": e.seq, "time": e.time, "level": e.level, "name": e.name, "message": e.message,
                 "kwargs": as_json(e.kwargs)} for e in page], schema=schema)
            if writer is None:
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
            total += len(page)
            if len(page) < EVENT_PAGE:
                break
    finally:
        if writer is not None:
            writer.close()
    return total


def _media_rows(store, run_id: str):
    """``(row, bytes it weighs)`` of each of a run's media items, one image or table read at a
    time (a name's histograms, a few KiB each, at once)."""
    for entry in store.media_names(run_id):
        if entry.kind == "histogram":
            for histogram in store.histograms(run_id, entry.name):
                yield histogram_row(histogram), 16 * histogram.bins
            continue
        for step in store.media_steps(run_id, entry.kind, entry.name):
            if entry.kind == "image":
                for image in store.images(run_id, entry.name, step=step):
                    yield image_row(image), image.size
            else:
                for table in store.tables(run_id, entry.name, step=step):
                    row = table_row(table)
                    yield row, len(row["rows"])


def stage_media(pa, pq, store, run_id: str, path: str, schema) -> tuple[int, object]:
    """One run's media into ``path`` (images with their bytes), in row groups of about
    ``MEDIA_GROUP_BYTES`` or ``MEDIA_GROUP_ROWS``: memory stays bounded by one.

    Returns the number of rows (no file when 0) and the newest ``timestamp`` among them (None)."""
    writer, total, newest, pending, weight = None, 0, None, [], 0
    try:
        for row, size in _media_rows(store, run_id):
            pending.append(row)
            weight += size
            total += 1
            newest = row["timestamp"] if newest is None else max(newest, row["timestamp"])
            if weight >= MEDIA_GROUP_BYTES or len(pending) >= MEDIA_GROUP_ROWS:
                writer = writer or pq.ParquetWriter(path, schema)
                writer.write_table(pa.Table.from_pylist(pending, schema=schema))
                pending, weight = [], 0
        if pending:
            writer = writer or pq.ParquetWriter(path, schema)
            writer.write_table(pa.Table.from_pylist(pending, schema=schema))
    finally:
        if writer is not None:
            writer.close()
    return total, newest


def read_catalog(pa, pq, root: str, dataset: str, schema):
    """A catalog's rows as an Arrow table (empty when it has no file yet), its schema checked."""
    path = os.path.join(root, dataset, "part-0.parquet")
    if not os.path.exists(path):
        return schema.empty_table()
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {str(exc)[:200]}); "
                           f"export with overwrite=True to rebuild the dataset") from exc
    if not table.schema.remove_metadata().equals(schema):
        raise DatasetError(f"{path}: its columns are not runlite's {dataset} columns; "
                           f"export with overwrite=True to rebuild the dataset")
    return table


def write_catalog(pa, pq, root: str, staging: str, dataset: str, schema, old, replaced: set, rows: list) -> None:
    """Rewrite a catalog: the old rows of runs not in ``replaced``, then ``rows``; renamed into place."""
    import pyarrow.compute as pc

    key = CATALOG_KEY[dataset]
    if replaced and old.num_rows:
        keep = pc.invert(pc.is_in(old.column(key), value_set=pa.array(sorted(replaced), pa.string())))
        old = old.filter(keep)
    table = pa.concat_tables([old, pa.Table.from_pylist(rows, schema=schema)])
    staged = os.path.join(staging, f"{dataset}.parquet")
    pq.write_table(table, staged)
    os.makedirs(os.path.join(root, dataset), exist_ok=True)
    os.replace(staged, os.path.join(root, dataset, "part-0.parquet"))
