"""Images, histograms and tables over steps: every input kind with the real libraries (numpy,
Pillow, pandas), the limits, hostile inputs, and a refused call leaving the file as it was."""

from __future__ import annotations

import datetime as dt
import fractions
import io
import math
import struct
import sys
import zlib

import attrs
import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import runlite
from runlite.codec import accel
from runlite.media import histograms as hist_mod
from runlite.media import images as image_mod
from runlite.media import tables as table_mod


@pytest.fixture
def run(store):
    r = store.init("media")
    yield r
    r.close()


def dump(store) -> dict:
    """Every row of every table: what a refused call must leave as it was."""
    with store.database.read() as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}


def pil_bytes(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG (valid CRCs) whose header claims ``width`` x ``height`` gray pixels."""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


RNG = np.random.default_rng(19)


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 1), (7, 5, 3), (7, 5, 4), (1, 1), (1, 300, 3), (300, 1, 4),
                                   (700, 600, 3)])  # the last spans several filter blocks
def test_uint8_arrays_round_trip_through_pillow(store, run, shape):
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] = 17  # flat rows too: each filter gets chosen somewhere
    run.log_image("sample", pixels)
    (image,) = store.images(run)
    assert (image.format, image.width, image.height) == ("png", shape[1], shape[0])
    assert image.data.startswith(b"\x89PNG") and image.size == len(image.data)
    assert np.array_equal(image.to_numpy(), pixels[:, :, 0] if len(shape) == 3 and shape[2] == 1 else pixels)


def test_float_arrays_are_scaled_as_wandb_does(store, run):
    pixels = RNG.random((9, 8, 3))
    pixels[0, 0] = (0.0, 1.0, 0.5)
    run.log_image("float", pixels)
    run.log_image("float32", pixels.astype(np.float32), step=1)
    assert np.array_equal(store.images(run, "float")[0].to_numpy(), (pixels * 255).astype(np.uint8))
    assert np.array_equal(store.images(run, "float32")[0].to_numpy(),
                          (pixels.astype(np.float32) * 255).astype(np.uint8))


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 4), dtype=np.int64), "uint8"),
    (np.zeros((4, 4), dtype=bool), "uint8"),
    (np.full((4, 4), 1.5), "from 0 to 1"),
    (np.array([[0.5, np.nan]]), "NaN"),
    (np.full((4, 4), -0.1), "from 0 to 1"),
    (np.zeros((3, 8, 8), dtype=np.uint8), "transpose"),
    (np.zeros((2, 2, 2, 3), dtype=np.uint8), "H x W"),
    (np.zeros((0, 4), dtype=np.uint8), "at least one pixel"),
    (np.zeros(5, dtype=np.uint8), "H x W"),
    (np.array([["a", "b"]]), "uint8"),
])
def test_arrays_runlite_cannot_keep_are_refused(store, run, array, message):
    before = dump(store)
    with pytest.raises(runlite.ValidationError, match=message):
        run.log_image("bad", array)
    assert dump(store) == before


def test_an_array_of_too_many_pixels_is_refused_before_encoding(store, run):
    before = dump(store)
    with pytest.raises(runlite.LimitError, match="50,000,000"):
        run.log_image("huge", np.zeros((8000, 6251), dtype=np.uint8))
    assert dump(store) == before


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_pil_images_are_stored_as_png_and_read_back(store, run, mode):
    source = PILImage.fromarray(RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)).convert(mode)
    run.log_image("pil", source, caption=f"mode {mode}")
    (image,) = store.images(run)
    assert (image.format, image.width, image.height, image.caption) == ("png", 9, 6, f"mode {mode}")
    back = image.to_pil()
    assert back.mode == source.mode and np.array_equal(np.asarray(back), np.asarray(source))


def test_pil_images_of_other_modes(store, run):
    cmyk = PILImage.new("CMYK", (4, 3), (10, 20, 30, 40))
    run.log_image("cmyk", cmyk)
    assert store.images(run, "cmyk")[0].to_pil().mode == "RGB"
    with pytest.raises(runlite.ValidationError, match="mode 'F'"):
        run.log_image("float", PILImage.new("F", (4, 3)))


@pytest.mark.parametrize("fmt, options, mode", [
    ("PNG", {}, "RGB"), ("PNG", {"optimize": True}, "P"), ("PNG", {}, "LA"), ("PNG", {"interlace": 1}, "RGBA"),
    ("PNG", {}, "I;16"), ("PNG", {}, "1"),
    ("JPEG", {"quality": 80}, "RGB"), ("JPEG", {"progressive": True}, "RGB"), ("JPEG", {}, "L"),
    ("JPEG", {}, "CMYK"),
])
def test_png_and_jpeg_bytes_are_kept_as_given(store, run, fmt, options, mode):
    source = PILImage.fromarray(RNG.integers(0, 256, (33, 47, 3), dtype=np.uint8)).convert(mode)
    data = pil_bytes(source, fmt, **options)
    run.log_image("file", data)
    (image,) = store.images(run)
    assert image.data == data == store.image_bytes(run, "file", 0)
    assert (image.format, image.width, image.height) == (fmt.lower(), 47, 33)
    assert image.to_pil().size == (47, 33)


def _hostile_images() -> dict:
    good_png = pil_bytes(PILImage.new("RGB", (5, 4)), "PNG")
    good_jpeg = pil_bytes(PILImage.new("RGB", (5, 4)), "JPEG")
    sof = good_jpeg.index(b"\xff\xc0")
    bomb_jpeg = good_jpeg[:sof + 5] + struct.pack(">HH", 65535, 65535) + good_jpeg[sof + 9:]
    bad_crc = bytearray(good_png)
    bad_crc[29] ^= 1  # inside the IHDR's CRC
    return {
        "a PNG claiming 100000 x 100000": (png_claiming(100_000, 100_000), runlite.LimitError, "decompression"),
        "a JPEG claiming 65535 x 65535": (bomb_jpeg, runlite.LimitError, "decompression"),
        "a truncated PNG": (good_png[:-20], runlite.ValidationError, "truncated"),
        "a truncated JPEG": (good_jpeg[:-40], runlite.ValidationError, "truncated"),
        "a PNG with a bad CRC": (bytes(bad_crc), runlite.ValidationError, "CRC"),
        "a PNG of 0 x 5": (png_claiming(0, 5), runlite.ValidationError, "at least one"),
        "a PNG with trailing bytes": (good_png + b"extra", runlite.ValidationError, "follow its IEND"),
        "a PNG without IDAT": (good_png[:33] + chunk(b"IEND", b""), runlite.ValidationError, "IDAT"),
        "a GIF": (b"GIF89a" + bytes(40), runlite.ValidationError, "neither PNG nor JPEG"),
        "no bytes": (b"", runlite.ValidationError, "neither PNG nor JPEG"),
        "only the PNG signature": (b"\x89PNG\r\n\x1a\n", runlite.ValidationError, "truncated"),
        "a JPEG whose segment runs past the end": (b"\xff\xd8\xff\xe0\xff\xf0" + bytes(10) + b"\xff\xd9",
                                                   runlite.ValidationError, "beyond the end"),
        "a JPEG without a frame header": (b"\xff\xd8\xff\xda\x00\x02\xff\xd9", runlite.ValidationError, "SOF"),
        "over 64 MiB": (b"\x89PNG\r\n\x1a\n" + bytes(64 << 20), runlite.LimitError, "at most"),
        "a JPEG of endless markers": (b"\xff\xd8" + b"\xff\xd0" * 100_001 + b"\xff\xd9", runlite.LimitError,
                                      "markers"),
        "a PNG of endless chunks": (good_png[:33] + chunk(b"tEXt", b"") * 100_001 + good_png[33:],
                                    runlite.LimitError, "chunks"),
    }


@pytest.mark.parametrize("label", sorted(_hostile_images()))
def test_hostile_image_bytes_are_refused_and_change_nothing(store, run, label):
    data, error, message = _hostile_images()[label]
    before = dump(store)
    with pytest.raises(error, match=message):
        run.log_image("hostile", data)
    assert dump(store) == before


def test_other_inputs_are_refused(store, run):
    for bad in ("image.png", 42, None, [[1, 2]], {"pixels": 1}):
        with pytest.raises(runlite.ValidationError, match="PNG or JPEG bytes, a numpy array or a PIL image"):
            run.log_image("x", bad)
    with pytest.raises(runlite.LimitError, match="4096"):
        run.log_image("x", np.zeros((2, 2), np.uint8), caption="c" * 4097)
    with pytest.raises(runlite.ValidationError, match="image name"):
        run.log_image("", np.zeros((2, 2), np.uint8))
    with pytest.raises(runlite.ValidationError, match="step"):
        run.log_image("x", np.zeros((2, 2), np.uint8), step=-1)


def test_the_same_content_is_stored_once_and_a_step_logged_again_is_replaced(store, run):
    pixels = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for step in range(3):
        run.log_image("same", pixels, step=step)
    run.log_image("other", pixels)
    with store.database.read() as conn:
        assert conn.execute("SELECT count(*) FROM blobs").get == 1
    run.log_image("same", pixels[::-1].copy(), step=1, caption="again")
    images = store.images(run, "same")
    assert [(i.step, i.caption) for i in images] == [(0, None), (1, "again"), (2, None)]
    assert np.array_equal(images[1].to_numpy(), pixels[::-1])


def test_the_default_step_is_the_step_the_next_metrics_take(store, run):
    tiny = np.zeros((2, 2), np.uint8)
    run.log_image("a", tiny)  # before any metrics: step 0, shared with the first log_metrics
    run.log_metrics({"loss": 1.0})
    run.log_metrics({"loss": 0.5})
    run.log_image("a", tiny)
    run.log_histogram("h", [1.0, 2.0])
    run.log_table("t", [{"x": 1}])
    run.log_image("a", tiny, step=10)
    assert store.media_steps(run, "image", "a") == [0, 2, 10]
    assert list(store.metric_values(run, "loss").steps) == [0, 1]
    assert [(m.kind, m.name, m.count, m.first_step, m.last_step) for m in store.media_names(run)] == [
        ("histogram", "h", 1, 2, 2), ("image", "a", 3, 0, 10), ("table", "t", 1, 2, 2)]
    assert [m.name for m in store.media_names(run, "image")] == ["a"]


def test_reads_without_bytes_and_one_image_at_a_time(store, run):
    for step in range(4):
        run.log_image("slider", np.full((3, 3), step * 40, np.uint8), step=step)
    index = store.images(run, "slider", data=False)
    assert [i.data for i in index] == [None] * 4 and [i.step for i in index] == [0, 1, 2, 3]
    with pytest.raises(runlite.ValidationError, match="data=False"):
        index[0].to_pil()
    assert store.image_bytes(run, "slider", 2) == store.images(run, "slider", step=2)[0].data
    assert store.images(run, "slider", step=2)[0].to_numpy()[0, 0] == 80
    with pytest.raises(runlite.NotFoundError):
        store.image_bytes(run, "slider", 9)
    assert index[0].to_dict()["timestamp"].endswith("Z") and "data" not in index[0].to_dict()


def test_media_need_a_running_run(store):
    r = store.init("done")
    r.close()
    for call in (lambda: r.log_image("x", np.zeros((2, 2), np.uint8)), lambda: r.log_histogram("h", [1.0]),
                 lambda: r.log_table("t", [{"a": 1}])):
        with pytest.raises(runlite.RunStateError, match="must be running"):
            call()


def test_decoding_without_pillow_says_what_to_install(store, run, monkeypatch):
    run.log_image("x", np.zeros((2, 2), np.uint8))
    (image,) = store.images(run)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    monkeypatch.delitem(sys.modules, "PIL.Image")
    with pytest.raises(runlite.MissingExtraError, match=r"runlite\[media\]") as info:
        image.to_pil()
    assert isinstance(info.value, ImportError) and isinstance(info.value, runlite.RunliteError)


def test_a_stored_image_that_is_not_what_its_row_says_is_refused_on_read(store, run):
    run.log_image("x", np.zeros((10, 10), np.uint8))
    bomb = png_claiming(100_000, 100_000)
    with store.database.write() as conn:  # as a damaged or hostile file would hold it
        from runlite.storage import blobs

        sha = blobs.put_bytes(conn, bomb, now_us=1).sha256
        conn.execute("UPDATE media SET sha256 = ?, size = ?", (sha, len(bomb)))
    with pytest.raises(runlite.CorruptStoreError, match="decompression"):
        store.images(run)
    forged = attrs.evolve(store.images(run, data=False)[0], data=bomb)  # a record made by hand
    with pytest.raises(runlite.CorruptStoreError, match="decompression"):
        forged.to_pil()
    assert not store.verify().ok


# ---------------------------------------------------------------- histograms


def _histogram_cases():
    rng = np.random.default_rng(7)
    return {
        "normal": rng.normal(size=5000),
        "few": np.array([0.1, 0.7, 0.3]),
        "one value": np.array([2.5] * 10),
        "a huge constant": np.array([1e20] * 3),
        "integers": rng.integers(-50, 50, 1000),
        "tiny spread": 1.0 + rng.random(200) * 1e-12,
        "edges exactly": np.linspace(0, 1, 65),
        "wide": np.array([-1e300, 0.0, 1e300]),
        "with nan and inf": np.concatenate([rng.random(100), [np.nan, np.inf, -np.inf, np.inf]]),
        "empty": np.array([]),
        "only nan": np.array([np.nan, np.nan]),
    }


@pytest.mark.parametrize("label", sorted(_histogram_cases()))
@pytest.mark.parametrize("bins", [1, 7, 64, 512])
def test_values_are_binned_as_numpy_bins_them_on_both_paths(store, run, label, bins):
    values = _histogram_cases()[label]
    finite = values[np.isfinite(values)].astype(np.float64)
    for step, (as_list, use_numpy) in enumerate([(False, True), (True, False), (True, True)]):
        with accel.numpy_mode(use_numpy, min_items=1):
            run.log_histogram("h", values.tolist() if as_list else values, step=step, bins=bins)
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if lo == hi and lo - 0.5 == lo:  # numpy cannot widen it; runlite widens relatively
        expected_counts, expected_edges = None, None
    else:
        expected_counts, expected_edges = np.histogram(finite, bins=bins, range=(lo, hi) if lo != hi else None)
    results = store.histograms(run, "h")
    assert len(results) == 3
    for h in results:
        assert h.bins == bins and sum(h.counts) == finite.size
        assert h.nan_count == int(np.isnan(values).sum())
        assert (h.posinf_count, h.neginf_count) == (int((values == np.inf).sum()), int((values == -np.inf).sum()))
        if expected_counts is not None:
            assert list(h.counts) == expected_counts.tolist()
            assert [struct.pack("<d", e) for e in h.edges] == [struct.pack("<d", e) for e in expected_edges]
    assert len({(h.edges, h.counts) for h in results}) == 1  # numpy's path and the pure one agree


def test_ready_histograms_in_either_order(store, run):
    counts, edges = np.histogram(RNG.normal(size=300), bins=12)
    run.log_histogram("numpy order", (counts, edges))
    run.log_histogram("edges first", [edges.tolist(), counts.tolist()])
    run.log_histogram("floats", ([0, 1, 2.5], [3.0, 4]))
    a, b = store.histograms(run, "numpy order")[0], store.histograms(run, "edges first")[0]
    assert (a.counts, a.edges) == (b.counts, b.edges) == (tuple(counts.tolist()), tuple(edges.tolist()))
    got_counts, got_edges = a.to_numpy()
    assert np.array_equal(got_counts, counts) and np.array_equal(got_edges, edges)
    assert store.histograms(run, "floats")[0].counts == (3, 4)
    assert a.to_dict()["counts"] == counts.tolist()


@pytest.mark.parametrize("values, kwargs, error, message", [
    ([1.0], {"bins": 0}, runlite.ValidationError, "from 1 to 512"),
    ([1.0], {"bins": 513}, runlite.ValidationError, "from 1 to 512"),
    ([1.0], {"bins": True}, runlite.ValidationError, "from 1 to 512"),
    ([1.0], {"bins": 2.0}, runlite.ValidationError, "from 1 to 512"),
    (([0, 1, 2], [1, 1]), {"bins": 5}, runlite.ValidationError, "ready"),
    ((list(range(602)), [1] * 601), {}, runlite.LimitError, "1 to 512 bins"),
    (([0, 1, 2], [1, -1]), {}, runlite.ValidationError, "0 to 2"),
    (([0, 1, 2], [1, 0.5]), {}, runlite.ValidationError, "whole numbers"),
    (([0, 2, 1], [1, 1]), {}, runlite.ValidationError, "increase"),
    (([1, 1, 1], [1, 1]), {}, runlite.ValidationError, "increase"),
    (([0, float("nan"), 2], [1, 1]), {}, runlite.ValidationError, "finite"),
    (([0, 1, 2], [1, 1, 1]), {}, runlite.ValidationError, "one more edge"),
    (([0, 1], ["a"]), {}, runlite.ValidationError, "not a count"),
    (["a", 1.0], {}, runlite.ValidationError, "not a number"),
    ([True, 1.0], {}, runlite.ValidationError, "not a number"),
    ("1,2,3", {}, runlite.ValidationError, "list, tuple or array"),
    ({1: 2}, {}, runlite.ValidationError, "list, tuple or array"),
    (range(10_000_001), {}, runlite.LimitError, "10,000,000"),
    ([-1e308, 1e308], {}, runlite.ValidationError, "wider than float64"),
    (np.array(["a", "b"]), {}, runlite.ValidationError, "dtype"),
])
def test_histograms_runlite_cannot_keep_are_refused(store, run, values, kwargs, error, message):
    before = dump(store)
    with pytest.raises(error, match=message):
        run.log_histogram("bad", values, **kwargs)
    assert dump(store) == before


def test_a_histogram_of_512_bins_is_compact(store, run):
    run.log_histogram("w", RNG.normal(size=10_000), bins=512)
    with store.database.read() as conn:
        assert conn.execute("SELECT length(data), width FROM media").fetchone() == (24 + 8 * 513 + 8 * 512, 512)


def test_stored_histogram_bytes_are_checked_on_read(store, run):
    run.log_histogram("w", [1.0, 2.0, 3.0], bins=3)
    with store.database.write() as conn:
        conn.execute("UPDATE media SET data = substr(data, 1, 40), size = 40")
    with pytest.raises(runlite.CorruptStoreError, match="bytes"):
        store.histograms(run)
    with pytest.raises(runlite.CorruptStoreError):
        hist_mod.unpack(hist_mod.pack(hist_mod.Bins((0.0, 1.0), (-1,))), 1)


# ---------------------------------------------------------------- tables


def test_tables_from_dicts_rows_and_dataframes(store, run):
    run.log_table("dicts", [{"a": 1, "b": "x"}, {"b": "y", "c": 2.5}])
    run.log_table("rows", [[1, "x"], (2, None)], columns=["n", "s"])
    frame = pd.DataFrame({"i": np.arange(3, dtype=np.int32), "f": [0.5, np.nan, 2.0], "s": ["a", None, "c"],
                          "t": pd.to_datetime(["2026-01-01", "2026-01-02", None], utc=True),
                          "b": [True, False, True]}, index=[10, 20, 30])
    run.log_table("frame", frame)
    dicts, frame_back, rows = store.tables(run)
    assert dicts.columns == ("a", "b", "c") and dicts.rows == ((1, "x", None), (None, "y", 2.5))
    assert rows.to_dicts() == [{"n": 1, "s": "x"}, {"n": 2, "s": None}]
    assert frame_back.columns == ("i", "f", "s", "t", "b")
    assert frame_back.rows == ((0, 0.5, "a", "2026-01-01T00:00:00+00:00", True),
                               (1, None, None, "2026-01-02T00:00:00+00:00", False), (2, 2.0, "c", None, True))
    back = frame_back.to_pandas()
    assert list(back.columns) == ["i", "f", "s", "t", "b"] and back["i"].tolist() == [0, 1, 2]
    assert math.isnan(back["f"][1]) and back["b"].tolist() == [True, False, True]
    assert frame_back.to_dict()["rows"][0][0] == 0


@pytest.mark.parametrize("data, columns, error, message", [
    ([{"a": float("inf")}], None, runlite.ValidationError, "infinity"),
    ([{"a": [1, 2]}], None, runlite.ValidationError, "a cell is None"),
    ([{"a": {"b": 1}}], None, runlite.ValidationError, "a cell is None"),
    ([{1: "x"}], None, runlite.ValidationError, "column name"),
    ([[1, 2]], None, runlite.ValidationError, "needs columns"),
    ([[1, 2]], ["a"], runlite.ValidationError, "1 cells"),
    ([[1]], ["a", "a"], runlite.ValidationError, "unique"),
    ([{"a": 1, "b": 2}], ["a"], runlite.ValidationError, "not columns"),
    ([], None, runlite.ValidationError, "needs columns"),
    ([[1]] * 200_001, ["a"], runlite.LimitError, "200,000"),
    ([[1]], [f"c{i}" for i in range(1001)], runlite.LimitError, "1000 columns"),
    ([["x" * 70_000]], ["a"], runlite.LimitError, "65536"),
    ([[2 ** 64]], ["a"], runlite.ValidationError, "64 bits"),
    ([["\ud800"]], ["a"], runlite.ValidationError, "surrogate"),
    ("a,b", None, runlite.ValidationError, "list of dicts"),
    (pd.DataFrame({"a": [1], "A": [2]}).rename(columns={"A": "a"}), None, runlite.ValidationError, "unique"),
])
def test_tables_runlite_cannot_keep_are_refused(store, run, data, columns, error, message):
    before = dump(store)
    with pytest.raises(error, match=message):
        run.log_table("bad", data, columns=columns)
    assert dump(store) == before


def test_a_table_over_64_mib_of_json_is_refused(store, run):
    before = dump(store)
    with pytest.raises(runlite.LimitError, match="as JSON"):
        run.log_table("big", [["x" * 60_000]] * 1200, columns=["text"])
    assert dump(store) == before


def test_an_empty_table_with_columns_and_numpy_cells(store, run):
    run.log_table("empty", [], columns=["a", "b"])
    run.log_table("numpy", [[np.int64(3), np.float32(0.5), np.bool_(True), dt.date(2026, 1, 2)]],
                  columns=["i", "f", "b", "d"])
    empty, numpy_cells = store.tables(run)
    assert empty.columns == ("a", "b") and empty.rows == () and empty.to_pandas().shape == (0, 2)
    assert numpy_cells.rows == ((3, 0.5, True, "2026-01-02"),)


def test_stored_table_json_is_checked_on_read():
    data = table_mod.encode(["a"], [[1], [2]])
    assert table_mod.decode(data, 1, 2) == (("a",), ((1,), (2,)))
    for bad, width, height in [(data, 1, 3), (data, 2, 2), (b"[" * 100_000, 1, 0), (b'{"columns": ["a"]}', 1, 0),
                               (b"\xff", 1, 0), (b'{"columns": ["a"], "rows": [[NaN]]}', 1, 1),
                               (b'{"columns": ["a"], "rows": [[[1]]]}', 1, 1)]:
        with pytest.raises(runlite.CorruptStoreError):
            table_mod.decode(bad, width, height)


def test_kinds_are_separate_namespaces_and_reads_filter(store, run):
    run.log_image("x", np.zeros((2, 2), np.uint8), step=1)
    run.log_histogram("x", [1.0], step=1)
    run.log_table("x", [{"a": 1}], step=1)
    assert [(m.kind, m.count) for m in store.media_names(run)] == [("histogram", 1), ("image", 1), ("table", 1)]
    assert store.images(run, "x", step=2) == [] and store.tables(run, "y") == []
    with pytest.raises(runlite.ValidationError, match="kind"):
        store.media_names(run, "video")
    with pytest.raises(runlite.ValidationError, match="step"):
        store.images(run, step="1")


def test_png_header_reader_agrees_with_pillow_on_random_images():
    rng = np.random.default_rng(3)
    for _ in range(30):
        h, w = int(rng.integers(1, 80)), int(rng.integers(1, 80))
        mode = rng.choice(["L", "RGB", "RGBA", "P", "1", "LA"])
        source = PILImage.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
        for fmt in ("PNG", "JPEG") if mode in ("L", "RGB") else ("PNG",):
            info = image_mod.image_info(pil_bytes(source, fmt))
            assert (info.width, info.height) == source.size


from hypothesis import given, strategies as st  # noqa: E402


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=300)
       | st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300),
       st.integers(1, 40))
def test_the_pure_binning_is_numpys(values, bins):
    finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    with accel.numpy_mode(False):
        try:
            got = hist_mod.from_values(values, bins)
        except runlite.ValidationError:
            got = None
    if lo == hi and lo - 0.5 == lo:  # beyond numpy's widening: runlite widens relatively
        assert got is None or sum(got.counts) == finite.size
        return
    if not math.isfinite(hi - lo):
        assert got is None  # wider than float64 bins can split
        return
    try:
        with np.errstate(over="ignore"):  # numpy's linspace overflows on its way to a last edge near the limit
            counts, edges = np.histogram(finite, bins=bins, range=(lo, hi) if lo != hi else None)
    except ValueError:  # "too many bins for data range": numpy cannot make them either
        assert got is None
        return
    assert got.counts == tuple(counts.tolist()) and got.edges == tuple(edges.tolist())
    assert got.nan_count + got.posinf_count + got.neginf_count == len(values) - finite.size


@pytest.mark.parametrize("step", [int, np.array(1.5), True, -1, 2 ** 63])
def test_a_step_that_is_no_int_is_refused_by_every_kind(store, run, step):
    before = dump(store)
    for call in (lambda: run.log_histogram("h", [1.0, 2.0], step=step), lambda: run.log_image("i", np.zeros((2, 2), dtype=np.uint8), step=step),
                 lambda: run.log_table("t", [{"a": 1}], step=step)):
        with pytest.raises(runlite.ValidationError, match="step"):
            call()
    assert dump(store) == before


def test_numpy_ints_are_steps(store, run):
    run.log_histogram("h", [1.0, 2.0], step=np.array(3))
    run.log_histogram("h", [1.0, 2.0], step=np.int64(4))
    assert store.media_steps(run, "histogram", "h") == [3, 4]


def test_counts_no_int64_holds_are_refused_with_their_message(store, run):
    before = dump(store)
    for counts in ([10 ** 5000], [fractions.Fraction(10 ** 5000, 3)]):  # (ValueError, OverflowError before)
        with pytest.raises(runlite.ValidationError, match="counts"):
            run.log_histogram("h", ([0.0, 1.0], counts))
    assert dump(store) == before


def test_long_double_cells_are_the_floats_they_round_to(store, run):
    run.log_table("t", [{"a": np.longdouble(2.5), "b": np.float16(0.5)}])  # (RecursionError before)
    assert store.tables(run, "t")[0].rows == ((2.5, 0.5),)
