"""Reading a run's images, histograms and tables over steps (docs/MEDIA.md)."""

from __future__ import annotations

from typing import Any

from ..storage import media


class MediaReads:
    """The media reads of ``Store``.

    A mixin of ``Store``, which gives ``database``, ``live``, ``flush``, ``run_id``, ``_read`` and
    ``_metric_read``.
    """

    def media_names(self, run: Any, kind: str | None = None) -> list[tuple[str, str, int]]:
        """``(kind, name, count)`` of a run's media (kind ``image``, ``histogram`` or ``table``;
        all by default), by kind then name: what a viewer lists, with the number of steps."""
        return self._metric_read(run, media.names, kind)

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
