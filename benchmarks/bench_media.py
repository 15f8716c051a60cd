"""Media over steps through the public API, each against a baseline measured in the same run.

- images: ``log_image`` of 256 x 256 RGB uint8 arrays (runlite's own PNG encoder, then a blob and
  a row) vs Pillow encoding the same arrays to PNG and raw apsw inserting the bytes;
- PNG size: runlite's encoder vs Pillow's on a photo-like 512 x 512 image (bytes; lower is better);
- histograms: ``log_histogram`` of 100,000 values (numpy path) vs ``numpy.histogram`` and a raw
  insert of the packed bins; the pure path on 10,000 values beside the same baseline;
- dedup: blob bytes added by logging an identical image again (must be 0).
"""

from __future__ import annotations

import io
import os
import struct
import tempfile

import apsw
import numpy as np

import runlite
from runlite.codec import accel

from .common import paired_medians, row

N_IMAGES = 200


def _arrays(n: int) -> list:
    rng = np.random.default_rng(5)
    base = np.linspace(0, 255, 256 * 256 * 3).reshape(256, 256, 3)
    return [np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def _photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    field = np.cumsum(np.cumsum(rng.normal(0, 1, (512, 512)), 0), 1)
    field = (field - field.min()) / np.ptp(field) * 255
    rgb = np.stack([field, field * 0.8 + 20, 255 - field], -1) + rng.normal(0, 4, (512, 512, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _raw(tmp: str):
    conn = apsw.Connection(os.path.join(tmp, "raw.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE media (step INTEGER PRIMARY KEY, data BLOB)")
    return conn


def _log_images(tmp: str, arrays: list) -> None:
    with runlite.open(os.path.join(tmp, "m.db")) as store, store.init("images") as run:
        for step, pixels in enumerate(arrays):
            run.log_image("sample", pixels, step=step)


def _pillow_images(tmp: str, arrays: list) -> None:
    from PIL import Image

    conn = _raw(tmp)
    for step, pixels in enumerate(arrays):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        with conn:
            conn.execute("INSERT INTO media VALUES (?, ?)", (step, buffer.getvalue()))
    conn.close()


def _log_histograms(tmp: str, values: list, pure: bool) -> None:
    with runlite.open(os.path.join(tmp, "h.db")) as store, store.init("histograms") as run:
        with accel.numpy_mode(not pure):
            for step, v in enumerate(values):
                run.log_histogram("weights", v.tolist() if pure else v, step=step)


def _numpy_histograms(tmp: str, values: list) -> None:
    conn = _raw(tmp)
    for step, v in enumerate(values):
        counts, edges = np.histogram(v, bins=64)
        with conn:
            conn.execute("INSERT INTO media VALUES (?, ?)", (step, struct.pack("<65d64q", *edges, *counts)))
    conn.close()


def run(quick: bool = False) -> list[dict]:
    """Images/s and histograms/s beside their baselines, PNG bytes beside Pillow's, dedup bytes."""
    try:
        from PIL import Image
    except ImportError:  # the media extra is not installed: the baselines need Pillow
        return [row("media (needs Pillow: pip install 'runlite[media]')", 0, "-")]
    repeat = 1 if quick else 5
    n = 40 if quick else N_IMAGES
    arrays = _arrays(n)
    t_mine, t_pil = paired_medians([lambda tmp: _log_images(tmp, arrays), lambda tmp: _pillow_images(tmp, arrays)],
                                   repeat)
    out = [row(f"log_image of {n} 256x256 RGB arrays (baseline: Pillow PNG + raw insert)", n / t_mine, "images/s",
               n / t_pil)]

    photo = _photo()
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    with runlite.open(":memory:") as store, store.init("size") as run:
        run.log_image("photo", photo)
        mine = store.images(run, "photo")[0].size
        before = store.sql("SELECT sum(stored) FROM blobs").rows[0][0]
        run.log_image("again", photo)  # the same pixels: the same bytes, stored once
        added = store.sql("SELECT sum(stored) FROM blobs").rows[0][0] - before
    out.append(row("PNG bytes of a photo-like 512x512 image (baseline: Pillow's)", mine, "bytes",
                   len(buffer.getvalue()), higher_is_better=False))
    out.append(row("blob bytes added by logging an identical image again", added, "bytes", None,
                   higher_is_better=False, target="0"))

    rng = np.random.default_rng(9)
    k = 20 if quick else 100
    big = [rng.normal(size=100_000) for _ in range(k)]
    small = [rng.normal(size=10_000) for _ in range(k)]
    t_np, t_base = paired_medians([lambda tmp: _log_histograms(tmp, big, False),
                                   lambda tmp: _numpy_histograms(tmp, big)], repeat)
    out.append(row(f"log_histogram of 100,000 values x {k} (numpy; baseline: np.histogram + raw insert)",
                   k / t_np, "histograms/s", k / t_base))
    t_pure, t_base = paired_medians([lambda tmp: _log_histograms(tmp, small, True),
                                     lambda tmp: _numpy_histograms(tmp, small)], repeat)
    out.append(row(f"log_histogram of 10,000 values x {k} (pure Python; same baseline)", k / t_pure,
                   "histograms/s", k / t_base))
    return out


if __name__ == "__main__":  # pragma: no cover
    with tempfile.TemporaryDirectory():
        for r in run(quick=True):
            print(r)
