"""Media travel with the file: export, merge (idempotent, grown runs, hostile sources refused),
delete, pack (media blobs are referenced), verify, and the Parquet media dataset."""

from __future__ import annotations

import io
import json
import os
import shutil

import apsw
import duckdb
import numpy as np
import pytest
from PIL import Image as PILImage

import runlite
from runlite.parquet import export_parquet

RNG = np.random.default_rng(23)


def picture(seed: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def fill(run, offset: int = 0) -> None:
    """Images (one content shared by two names), histograms and a table over three steps."""
    for step in range(3):
        run.log_image("sample", picture(offset + step), step=step, caption=f"step {step}")
        run.log_image("shared", picture(999), step=step)
        run.log_histogram("weights", RNG.normal(size=200), step=step, bins=16)
        run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    run.log_table("predictions", [{"id": i, "label": f"c{i % 3}", "p": i / 10} for i in range(5)], step=2)


def media_of(store, run) -> dict:
    """Everything a reader sees of a run's media."""
    return {"names": [(m.kind, m.name, m.count, m.first_step, m.last_step) for m in store.media_names(run)],
            "images": [(i.name, i.step, i.caption, i.data) for i in store.images(run)],
            "histograms": [(h.name, h.step, h.edges, h.counts) for h in store.histograms(run)],
            "tables": [(t.name, t.step, t.columns, t.rows) for t in store.tables(run)]}


def dump(path: str) -> dict:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in names}
    finally:
        conn.close()


def count(path_or_store, table: str) -> int:
    if isinstance(path_or_store, str):
        with runlite.open(path_or_store, read_only=True) as store:
            return count(store, table)
    with path_or_store.database.read() as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").get


@pytest.fixture
def source(tmp_path):
    path = str(tmp_path / "source.db")
    with runlite.open(path) as store:
        run = store.init("with-media")
        fill(run)
        run.attach("notes.txt", b"notes", "text/plain")
        run.close()
    return path


def test_export_carries_media_and_their_blobs(source, tmp_path):
    with runlite.open(source) as store:
        expected = media_of(store, "with-media")
        other = store.init("plain")
        other.log_metrics({"x": 1.0})
        other.close()
        counts = store.export(str(tmp_path / "one.db"), run_ids=["with-media"])
        assert counts["media"] == 3 + 3 + 3 + 1 and counts["blobs"] == 3 + 1 + 1 + 1  # 3 + shared + table + notes
        lean = store.export(str(tmp_path / "lean.db"), run_ids=["with-media"], include_attachments=False)
        assert lean["media"] == 10 and lean["blobs"] == 5 and "attachments" not in lean
    for name in ("one.db", "lean.db"):
        with runlite.open(str(tmp_path / name), read_only=True) as out:
            assert media_of(out, "with-media") == expected
            assert out.verify().ok
    with runlite.open(str(tmp_path / "lean.db"), read_only=True) as out:
        assert out.attachments("with-media") == []


def test_merge_brings_media_once_and_a_grown_run_its_new_media(tmp_path):
    source, dest = str(tmp_path / "source.db"), str(tmp_path / "dest.db")
    with runlite.open(source) as src, runlite.open(dest) as store:
        run = src.init("grows")
        fill(run)
        store.init("mine").close()
        assert store.merge(source)["media_copied"] == 10
        before = dump(dest)
        assert store.merge(source)["media_copied"] == 0 and dump(dest) == before  # idempotent
        assert media_of(store, run.id) == media_of(src, run.id)
        run.log_image("sample", picture(77), step=1)  # replaced at a step: the newer copy wins
        run.log_image("sample", picture(78), step=7)
        run.log_histogram("weights", [1.0, 2.0], step=7)
        assert store.merge(source)["media_copied"] == 3
        assert media_of(store, run.id) == media_of(src, run.id)
        assert store.merge(source)["media_copied"] == 0 and store.verify().ok
        run.close()


def test_merging_a_grown_copy_replaces_older_items_and_never_the_reverse(tmp_path):
    older, newer, dest = (str(tmp_path / f"{n}.db") for n in ("older", "newer", "dest"))
    with runlite.open(newer) as store:
        run = store.init("r")
        run.log_image("img", picture(1), step=0)
        run.flush()
        store.backup(older)  # a copy taken before the item was replaced
        run.log_image("img", picture(2), step=0)
        run.log_histogram("h", [1.0, 2.0], step=3)
        run.close()
    for order in ((older, newer), (newer, older)):
        if os.path.exists(dest):
            os.remove(dest)
        with runlite.open(dest) as store:
            for path in order:
                store.merge(path)
            (image,) = store.images("r")
            assert np.array_equal(image.to_numpy(), picture(2))  # the newer copy, whichever came first
            assert [m.name for m in store.media_names("r")] == ["h", "img"]


def test_delete_and_pack_keep_blobs_media_still_use(tmp_path):
    path = str(tmp_path / "p.db")
    with runlite.open(path) as store:
        a, b = store.init("a"), store.init("b")
        a.log_image("img", picture(5))  # shared content
        b.log_image("img", picture(5))
        a.log_image("own", picture(6))
        a.log_table("t", [{"x": 1}])
        b.log_histogram("h", [1.0, 2.0])  # a NULL sha256 among the media rows
        b.attach("gone.bin", b"to be dropped", "application/octet-stream")
        a.close()
        b.close()
        with store.database.write() as conn:  # the attachment goes; its blob is now unused
            conn.execute("DELETE FROM attachments")
        assert store.pack()["blobs_dropped"] == 1  # not blocked by the histogram's NULL, media kept
        assert count(store, "blobs") == 3 and store.verify().ok
        assert store.delete_runs(["a"]) == 1
        assert count(store, "media") == 2  # a's rows went with it (cascade)
        assert store.pack()["blobs_dropped"] == 2  # a's own image and table; the shared image stays
        assert np.array_equal(store.images("b")[0].to_numpy(), picture(5)) and store.verify().ok


# ---------------------------------------------------------------- damage: verify and merge


def raw(path: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA ignore_check_constraints=ON")  # as a hostile file is written
    return conn


def _png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _blob_of(conn, data: bytes) -> str:
    """Plant a sound blob holding ``data`` (a hostile file's blobs hash right: the row lies)."""
    import hashlib

    import zstandard

    sha = hashlib.sha256(data).hexdigest()
    frame = zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress(data)
    conn.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, 1, 1700000000000000)", (sha, len(data), len(frame)))
    conn.execute("INSERT OR IGNORE INTO blob_parts (sha256, seq, size, data) VALUES (?, 0, ?, ?)",
                 (sha, len(data), frame))
    return sha


def _bomb_image(conn):
    sha = _blob_of(conn, _png_claiming(100_000, 100_000))
    conn.execute("UPDATE media SET sha256 = ?, size = ? WHERE name = 'sample' AND step = 1",
                 (sha, len(_png_claiming(100_000, 100_000))))


def _histogram_bytes(conn, change) -> None:
    data = conn.execute("SELECT data FROM media WHERE kind = 'histogram' AND step = 2").get
    conn.execute("UPDATE media SET data = ? WHERE kind = 'histogram' AND step = 2", (change(data),))


DAMAGE = {
    "an unknown kind": lambda c: c.execute("UPDATE media SET kind = 'video' WHERE name = 'sample' AND step = 0"),
    "a negative step": lambda c: c.execute("UPDATE media SET step = -1 WHERE name = 'sample' AND step = 0"),
    "a step as text": lambda c: c.execute("UPDATE media SET step = 'one' WHERE name = 'sample' AND step = 0"),
    "a time beyond year 9999": lambda c: c.execute("UPDATE media SET timestamp = 1e30 WHERE kind = 'table'"),
    "histogram bytes cut": lambda c: c.execute(
        "UPDATE media SET data = substr(data, 1, 50), size = 50 WHERE kind = 'histogram' AND step = 1"),
    "histogram bins changed": lambda c: c.execute("UPDATE media SET width = 15 WHERE kind = 'histogram'"),
    "histogram with a negative count": lambda c: _histogram_bytes(c, lambda d: d[:24] + b"\xff" * 8 + d[32:]),
    "histogram edges decreasing": lambda c: _histogram_bytes(c, lambda d: d[:24] + d[32:40] + d[24:32] + d[40:]),
    "histogram data as text": lambda c: c.execute("UPDATE media SET data = 'bins' WHERE kind = 'histogram'"),
    "an image row naming a missing blob": lambda c: c.execute(
        "UPDATE media SET sha256 = ? WHERE name = 'sample' AND step = 2", ("0" * 64,)),
    "an image of other pixels than its row": lambda c: c.execute(
        "UPDATE media SET width = 13 WHERE name = 'sample' AND step = 2"),
    "an image row over the pixel limit": lambda c: c.execute(
        "UPDATE media SET width = 100000, height = 100000 WHERE name = 'sample' AND step = 2"),
    "an image whose blob is a decompression bomb": _bomb_image,
    "an image whose blob is not an image": lambda c: c.execute(
        "UPDATE media SET sha256 = ?, size = 9 WHERE name = 'sample' AND step = 1", (_blob_of(c, b"not a png"),)),
    "a table whose blob is not JSON": lambda c: c.execute(
        "UPDATE media SET sha256 = ?, size = 9 WHERE kind = 'table'", (_blob_of(c, b"not json!"),)),
    "a table of another shape than its row": lambda c: c.execute("UPDATE media SET height = 4 WHERE kind = 'table'"),
    "a row of a run the file does not hold": lambda c: c.execute(
        "INSERT INTO media SELECT 'no-such-run', kind, name, step, timestamp, caption, format, width, height, size,"
        " sha256, data FROM media WHERE kind = 'histogram' AND step = 0"),
    "a caption as a blob": lambda c: c.execute("UPDATE media SET caption = x'00' WHERE kind = 'image'"),
}


@pytest.mark.parametrize("label", sorted(DAMAGE))
def test_damaged_media_fail_verify_and_refuse_a_merge_whole(source, tmp_path, label):
    damaged, dest = str(tmp_path / "damaged.db"), str(tmp_path / "dest.db")
    shutil.copy(source, damaged)
    conn = raw(damaged)
    with conn:
        DAMAGE[label](conn)
    conn.close()
    with runlite.open(dest) as store:
        store.init("mine").close()
    before = dump(dest)
    with pytest.raises(runlite.CorruptStoreError, match="was not merged"):
        runlite.merge(dest, damaged)
    assert dump(dest) == before
    with runlite.open(damaged, read_only=True) as store:
        assert not store.verify().ok


def test_a_sound_source_verifies_and_merges(source, tmp_path):
    with runlite.open(source, read_only=True) as store:
        report = store.verify()
        assert report.ok and report.checked["media"] == 10
    dest = str(tmp_path / "dest.db")
    runlite.merge(dest, source)
    with runlite.open(dest, read_only=True, untrusted=True) as store:
        assert store.verify().ok and len(store.images("with-media")) == 6


# ---------------------------------------------------------------- Parquet


def test_parquet_media_dataset_and_incremental_exports(tmp_path):
    dest, older = tmp_path / "ds", str(tmp_path / "older.db")
    with runlite.open(str(tmp_path / "p.db")) as store:
        run = store.init("with-media")
        fill(run)
        counts = export_parquet(store, dest)
        assert counts["media"] == 10 and counts["runs"] == 1
        db = duckdb.connect()
        query = (f"SELECT run_id, kind, name, step, caption, format, width, height, size, data, edges, counts, columns,"
                 f" rows FROM read_parquet('{dest}/media/*/*.parquet', hive_partitioning = true)"
                 f" ORDER BY kind, name, step")
        rows = db.sql(query).fetchall()
        assert len(rows) == 10 and {r[0] for r in rows} == {run.id}
        images = [r for r in rows if r[1] == "image"]
        assert [bytes(r[9]) for r in images] == [i.data for i in store.images(run)]
        assert images[0][4:9] == ("step 0", "png", 12, 12, len(images[0][9]))
        assert PILImage.open(io.BytesIO(bytes(images[0][9]))).size == (12, 12)
        hist = [r for r in rows if r[1] == "histogram"]
        assert [(tuple(r[10]), tuple(r[11])) for r in hist] == [(h.edges, h.counts) for h in store.histograms(run)]
        (table,) = [r for r in rows if r[1] == "table"]
        assert table[12] == ["id", "label", "p"] and json.loads(table[13])[1] == [1, "c1", 0.1]

        assert export_parquet(store, dest)["unchanged"] == 1  # nothing new: nothing written
        store.backup(older)
        run.log_image("sample", picture(9), step=9)  # a new image alone makes the run changed
        assert export_parquet(store, dest)["media"] == 11
        run.log_image("sample", picture(10), step=0)  # and so does an image replaced at a step
        assert export_parquet(store, dest)["runs"] == 1
        assert export_parquet(store, dest)["unchanged"] == 1
        step0 = db.sql(f"SELECT data FROM read_parquet('{dest}/media/*/*.parquet') WHERE name = 'sample' AND step = 0")
        assert bytes(step0.fetchall()[0][0]) == store.image_bytes(run, "sample", 0)
        run.close()
    with runlite.open(older, read_only=True) as copy:  # an older copy of the run never replaces the newer
        assert export_parquet(copy, dest)["unchanged"] == 1
    assert db.sql(f"SELECT count(*) FROM read_parquet('{dest}/media/*/*.parquet')").fetchall() == [(11,)]
