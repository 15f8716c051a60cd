"""A run handle's images, histograms and tables over steps (docs/MEDIA.md).

Each call validates and encodes its input, and hashes an image's or table's bytes, before the
write transaction; then writes the blob and the row in one transaction: all of the call or
nothing. The default step is the run's step counter as it stands: the step the next
``log_metrics`` record takes (W&B's ``commit=False``), so media logged before an epoch's
metrics share their step.
"""

from __future__ import annotations

from typing import Any

from .. import _lazy
from .._validation import check_name, now_us
from ..media import DEFAULT_BINS

hashlib = _lazy.module("hashlib")
histograms = _lazy.module("runlite.media.histograms")
images = _lazy.module("runlite.media.images")
tables = _lazy.module("runlite.media.tables")
media = _lazy.module("runlite.storage.media")


class RunMedia:
    """The media methods of ``Run`` (a mixin: the handle gives ``_require_id``,
    ``_require_running``, ``_writer`` and ``store``)."""

    def _save_media(self, kind: str, name: str, step: Any, **fields: Any) -> bool:
        step = self._writer.step if step is None else step  # not moved: log_metrics moves it
        content = fields.get("content")
        if content is not None:
            fields["sha256"] = hashlib.sha256(content).hexdigest()  # outside the write transaction
        item = media.Item(kind=kind, name=name, step=step, timestamp=now_us(), **fields)
        with self.store.database.write() as conn:
            media.save(conn, self._require_id(), item)
        return True

    def log_image(self, name: str, image: Any, step: int | None = None, caption: str | None = None) -> bool:
        """Log an image at a step: PNG or JPEG bytes (kept as they are), a numpy array (H x W,
        H x W x 1, 3 or 4; uint8, or float in [0, 1] scaled to 0-255 as W&B does) or a PIL
        image (both stored as PNG). The same content is stored once; the same name at the same
        step again replaces it.

        Args:
            step: by default the run's step counter (the step the next ``log_metrics`` takes).
            caption: text of at most 4,096 characters.

        Raises:
            ValidationError: not an image runlite keeps (other format, broken or truncated
                bytes, another dtype or shape); nothing is logged.
            LimitError: over 50,000,000 pixels or 64 MiB.
            RunStateError: the run is not running.
        """
        name = check_name(name, "image name")
        caption = images.check_caption(caption)
        step = None if step is None else media.check_step(step)
        self._require_running("log images")
        data, info = images.to_image_bytes(image)
        return self._save_media("image", name, step, size=len(data), caption=caption, format=info.format,
                                width=info.width, height=info.height, content=data)

    def log_histogram(self, name: str, values: Any, step: int | None = None,
                      bins: int = DEFAULT_BINS) -> bool:
        """Log a histogram at a step: ``values`` (a list, tuple or numpy array of numbers) put in
        ``bins`` equal bins (1 to 512, default 64) between their smallest and largest finite
        value, as ``numpy.histogram`` does; or a ready histogram, ``(edges, counts)`` or
        numpy's ``(counts, edges)`` (one more edge than counts says which is which). NaN and
        infinities are not binned: they are counted apart (``Histogram.nan_count``...).
        """
        name = check_name(name, "histogram name")
        step = None if step is None else media.check_step(step)
        self._require_running("log histograms")
        content = histograms.to_bins(values, bins)
        data = histograms.pack(content)
        return self._save_media("histogram", name, step, size=len(data), width=len(content.counts), data=data)

    def log_table(self, name: str, data: Any, step: int | None = None, columns: list | None = None) -> bool:
        """Log a table at a step: a list of dicts, a list of rows with ``columns``, or a pandas
        DataFrame (its index is not kept). Cells are None, bool, int, float, str or dates
        (kept as ISO-8601 text); NaN is stored as a missing value, infinities are refused. At
        most 200,000 rows, 1,000 columns, 64 MiB as JSON.
        """
        name = check_name(name, "table name")
        step = None if step is None else media.check_step(step)
        self._require_running("log tables")
        names, rows = tables.to_table(data, columns)
        content = tables.encode(names, rows)
        return self._save_media("table", name, step, size=len(content), format="json", width=len(names),
                                height=len(rows), content=content)
