"""Reading a run's images, histograms and tables over steps (docs/MEDIA.md)."""

from __future__ import annotations

from typing import Any

from .. import _lazy

media = _lazy.module("runlite.storage.media")


class MediaReads:
    """The media reads of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def media_names(self, run: Any, kind: str | None = None) -> list:
        """The names of a run's media (``MediaName`` records: kind, name, count, first and last
        step, when last logged), of one kind (``image``, ``histogram``, ``table``) or all, by
        kind then name: what a viewer lists."""
        return self._metric_read(run, media.names, kind)

    def media_steps(self, run: Any, kind: str, name: str) -> list[int]:
        """The steps at which a run has an item of ``kind`` and ``name`` (a slider's stops)."""
        return self._metric_read(run, media.steps, kind, name)

    def images(self, run: Any, name: str | None = None, *, step: int | None = None, data: bool = True) -> list:
        """A run's images (``Image`` records), by name then step; only ``name``'s, only at ``step``.

        ``data=False`` reads the index only (steps, sizes, captions: no bytes), for a slider over
        many steps; ``image_bytes`` then reads one. With their bytes, one call returns at most
        1 GiB (``LimitError`` beyond: narrow it, or read the index).
        """
        return self._metric_read(run, media.images_of, name, step, bool(data))

    def image_bytes(self, run: Any, name: str, step: int) -> bytes:
        """The stored PNG or JPEG bytes of one image (checked against its row and its hash)."""
        return self._metric_read(run, media.image_bytes, name, step)

    def histograms(self, run: Any, name: str | None = None, *, step: int | None = None) -> list:
        """A run's histograms (``Histogram`` records), by name then step."""
        return self._metric_read(run, media.histograms_of, name, step)

    def tables(self, run: Any, name: str | None = None, *, step: int | None = None) -> list:
        """A run's tables (``Table`` records with ``columns``, ``rows``, ``to_pandas()``), by name then step."""
        return self._metric_read(run, media.tables_of, name, step)
