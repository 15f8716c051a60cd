"""The records media reads return: ``MediaName``, ``Image``, ``Histogram``, ``Table`` (frozen attrs values).

Each names its step and when it was logged (``timestamp``, an aware UTC datetime);
``to_dict()`` gives JSON-ready values. Pixels are decoded by Pillow on request only.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs

from .. import errors
from ..records.times import iso
from . import images


@attrs.frozen
class MediaName:
    """One name of a run's media of one kind: ``count`` items from ``first_step`` to
    ``last_step``, the last logged (or replaced) at ``updated``."""

    kind: str
    name: str
    count: int
    first_step: int
    last_step: int
    updated: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``updated`` as ISO-8601)."""
        out = attrs.asdict(self)
        out["updated"] = iso(self.updated)
        return out


@attrs.frozen
class Image:
    """An image logged at a step: its stored PNG or JPEG bytes (``data``; None when read with
    ``data=False``) and what its header says."""

    name: str
    step: int
    timestamp: _dt.datetime
    format: str
    width: int
    height: int
    size: int
    sha256: str
    caption: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)

    def _bytes(self) -> bytes:
        if self.data is None:
            raise errors.ValidationError("this Image was read without its bytes (data=False): read it with "
                                         "store.images(...) or store.image_bytes(...)")
        return self.data

    def to_pil(self):
        """The image decoded by Pillow (``pip install 'runlite[media]'``), its header checked first."""
        return images.decode(self._bytes(), images.ImageInfo(self.format, self.width, self.height))

    def to_numpy(self):
        """The pixels as a numpy array (H x W, or H x W x channels) through Pillow."""
        try:
            import numpy as np
        except ImportError as exc:
            raise errors.MissingExtraError("Image.to_numpy() needs numpy: pip install numpy") from exc
        return np.asarray(self.to_pil())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, without the bytes."""
        out = attrs.asdict(self)
        del out["data"]
        out["timestamp"] = iso(self.timestamp)
        return out


@attrs.frozen
class Histogram:
    """A histogram logged at a step: ``edges`` (one more than ``counts``) and ``counts``; NaN
    and infinite values were not binned and are counted apart."""

    name: str
    step: int
    timestamp: _dt.datetime
    edges: tuple
    counts: tuple
    nan_count: int = 0
    posinf_count: int = 0
    neginf_count: int = 0

    @property
    def bins(self) -> int:
        """The number of bins."""
        return len(self.counts)

    def to_numpy(self):
        """``(counts, edges)`` as numpy arrays, the order ``numpy.histogram`` returns."""
        try:
            import numpy as np
        except ImportError as exc:
            raise errors.MissingExtraError("Histogram.to_numpy() needs numpy: pip install numpy") from exc
        return np.asarray(self.counts, dtype=np.int64), np.asarray(self.edges, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (edges and counts as lists)."""
        out = attrs.asdict(self)
        out.update(edges=list(self.edges), counts=list(self.counts), timestamp=iso(self.timestamp))
        return out


@attrs.frozen
class Table:
    """A table logged at a step: ``columns`` and ``rows`` (tuples of cells: None, bool, int,
    float, str; dates as ISO-8601 text, NaN as None)."""

    name: str
    step: int
    timestamp: _dt.datetime
    columns: tuple
    rows: tuple
    sha256: str

    def to_dicts(self) -> list[dict[str, Any]]:
        """Each row as ``{column: cell}``."""
        return [dict(zip(self.columns, row)) for row in self.rows]

    def to_pandas(self):
        """A DataFrame of the rows; needs pandas (``pip install 'runlite[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise errors.MissingExtraError("Table.to_pandas() needs pandas: pip install 'runlite[pandas]'") from exc
        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``columns`` and ``rows`` as lists)."""
        return {"name": self.name, "step": self.step, "timestamp": iso(self.timestamp), "sha256": self.sha256,
                "columns": list(self.columns), "rows": [list(row) for row in self.rows]}
