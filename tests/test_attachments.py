"""Saved files and attachments: dedup, streaming, verification, restore, path escapes."""

import hashlib
import os
import tracemalloc

import apsw
import numpy as np
import pytest

import runlite


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("alpha\n" * 1000)
    (tmp_path / "data" / "sub" / "b.csv").write_text("x,y\n1,2\n")
    (tmp_path / "model.bin").write_bytes(os.urandom(3000))
    return tmp_path


def test_save_records_and_reads(store, tree):
    run = store.init("s")
    run.save("data/a.txt", "input")
    run.save("./data/sub/b.csv", "output", preserve_path=True)
    run.save("model.bin", "code", filetype="application/x-hdf5")  # a type mimetypes knows (issue 17)
    items = {a.name: a for a in store.attachments(run)}
    assert set(items) == {"a.txt", "data/sub/b.csv", "model.bin"}
    a = items["a.txt"]
    content = (tree / "data" / "a.txt").read_bytes()
    assert a.category == "input" and a.mime_type == "text/plain" and a.size == len(content)
    assert a.sha256 == hashlib.sha256(content).hexdigest()
    assert a.original_path == str(tree / "data" / "a.txt")
    assert items["model.bin"].mime_type == "application/x-hdf5"
    assert items["data/sub/b.csv"].mime_type == "text/csv"
    assert store.read_attachment(run, "a.txt") == content
    with store.open_attachment(run, "model.bin") as f:
        assert f.read() == (tree / "model.bin").read_bytes()
    assert [x.name for x in store.attachments(run, category="output")] == ["data/sub/b.csv"]
    assert store.get_run(run.id).attachments["a.txt"] == ("text/plain", len(content))


def test_unknown_type_is_octet_stream(store, tree):
    (tree / "blob.zzz").write_bytes(b"?")
    run = store.init("m")
    run.save("blob.zzz", "output")
    assert store.attachments(run)[0].mime_type == "application/octet-stream"


def test_save_directory_and_save_all(store, tree):
    run = store.init("d")
    run.save_directory("data", "code", preserve_path=True)
    assert [a.name for a in store.attachments(run)] == ["data/a.txt", "data/sub/b.csv"]
    run2 = store.init("all")
    run2.save_all(["model.bin", "data/sub"], "input")
    assert [a.name for a in store.attachments(run2)] == ["b.csv", "model.bin"]


def test_missing_file_saves_nothing(store, tree):
    run = store.init("x")
    with pytest.raises(runlite.NotFoundError):
        run.save_all(["model.bin", "nope.txt"], "input")
    assert store.attachments(run) == []
    with pytest.raises(runlite.ValidationError):
        run.save("data", "input")  # a directory
    with pytest.raises(runlite.ValidationError):
        run.save("model.bin", "results")  # bad category
    with pytest.raises(runlite.ValidationError):
        run.save(str(tree / "model.bin"), "input", preserve_path=True)  # absolute kept path
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("bad repr")

    for not_a_list in (10 ** 5000, BadRepr(), np.array(3), "model.bin"):  # (ValueError, RuntimeError, TypeError)
        with pytest.raises(runlite.ValidationError, match="items must be a list"):
            run.save_all(not_a_list, "input")
    for not_a_path in (None, 3, 1.5, "", "\ud800"):  # (a TypeError or UnicodeEncodeError before)
        with pytest.raises(runlite.ValidationError, match="file path|file name"):
            run.save(not_a_path, "input")
        with pytest.raises(runlite.ValidationError, match="file path|file name"):
            run.save_directory(not_a_path, "input")
    assert store.attachments(run) == []


def test_duplicate_basenames_refused(store, tree):
    (tree / "data" / "sub" / "a.txt").write_text("other")
    run = store.init("dup")
    with pytest.raises(runlite.ValidationError, match="preserve_path"):
        run.save_directory("data", "input")
    assert store.attachments(run) == []


def test_output_refused_while_created(store, tree):
    run = store.init("c", running=False)
    run.save("model.bin", "input")  # inputs and code may be saved before running
    with pytest.raises(runlite.RunStateError):
        run.save("model.bin", "output")
    done = store.init("done")
    done.close()
    with pytest.raises(runlite.RunStateError):
        done.save("model.bin", "input")


def _blob_bytes(store):
    conn = store.database._current().writer
    return conn.execute("SELECT count(*), coalesce(sum(stored), 0) FROM blobs").fetchone()


def test_same_content_stored_once(store, tree):
    for i in range(5):
        store.init(f"r{i}").save("data/a.txt", "input")
    store.init("att").attach("copy", (tree / "data" / "a.txt").read_bytes(), "text/plain")
    count, stored = _blob_bytes(store)
    assert count == 1
    store.init("again").save("data/a.txt", "input")
    assert _blob_bytes(store) == (1, stored)


def test_attach_langsmith(store):
    run = store.init("span", run_type="llm")
    run.attach("image", b"\x89PNG\r\n", "image/png")
    assert store.get_run(run.id).to_dict()["attachments"] == {"image": ["image/png", 6]}
    assert store.read_attachment(run, "image") == b"\x89PNG\r\n"
    for bad in (("", b"x", "text/plain"), ("n", "text", "text/plain"), ("n", b"x", "notamime")):
        with pytest.raises(runlite.ValidationError):
            run.attach(*bad)


def test_restore(store, tree):
    run = store.init("r")
    run.save_directory("data", "code", preserve_path=True)
    run.save("model.bin", "input")
    written = store.restore(run, tree / "out", category="code")
    assert sorted(os.path.relpath(p, tree / "out") for p in written) == ["data/a.txt", "data/sub/b.csv"]
    assert (tree / "out" / "data" / "a.txt").read_text() == (tree / "data" / "a.txt").read_text()


def _plant(store, run_id, name):
    """Write a hostile attachment row directly, as a forged file would hold it."""
    conn = store.database._current().writer
    sha = conn.execute("SELECT sha256 FROM attachments LIMIT 1").get
    conn.execute("INSERT INTO attachments (run_id, name, category, mime_type, size, sha256, created)"
                 " SELECT ?, ?, 'code', mime_type, size, sha256, created FROM attachments WHERE sha256 = ? LIMIT 1",
                 (run_id, name, sha))


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "a/../../x", "a//b", "./x"])
def test_restore_refuses_escapes(store, tree, name):
    run = store.init("h")
    run.save("model.bin", "code")
    _plant(store, run.id, name)
    with pytest.raises(runlite.ValidationError):
        store.restore(run, tree / "out2")
    assert not (tree / "escape.txt").exists() and not (tree / "x").exists()


def test_restore_refuses_symlink_escape(store, tree):
    run = store.init("link")
    run.save("data/a.txt", "code", preserve_path=True)
    out = tree / "out3"
    out.mkdir()
    (tree / "elsewhere").mkdir()
    os.symlink(tree / "elsewhere", out / "data")
    with pytest.raises(runlite.ValidationError, match="outside|link"):
        store.restore(run, out)
    assert not (tree / "elsewhere" / "a.txt").exists()


def test_corrupted_blob_refused(store, tree):
    run = store.init("c")
    run.save("data/a.txt", "input")
    conn = store.database._current().writer
    data = bytearray(conn.execute("SELECT data FROM blob_parts").get)
    data[len(data) // 2] ^= 0xFF
    conn.execute("UPDATE blob_parts SET data = ?", (bytes(data),))
    with pytest.raises(runlite.CorruptStoreError):
        store.read_attachment(run, "a.txt")
    with pytest.raises(runlite.CorruptStoreError):
        with store.open_attachment(run, "a.txt") as f:
            f.read()


def test_zstd_bomb_refused_with_bounded_memory(store, tree):
    import zstandard

    run = store.init("bomb")
    run.save("model.bin", "input")
    bomb = zstandard.ZstdCompressor(write_content_size=True, write_checksum=True).compress(bytes(256 << 20))
    conn = store.database._current().writer
    conn.execute("UPDATE blob_parts SET data = ?", (bomb,))  # declares 256 MiB, row says 3000 bytes
    tracemalloc.start()
    with pytest.raises(runlite.CorruptStoreError):
        store.read_attachment(run, "model.bin")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20


class _Zeros:
    """A file-like object of n zero bytes, generated (no disk, no memory)."""

    def __init__(self, n):
        self.left = n

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def test_big_file_streams_with_bounded_memory(store, tmp_path):
    size = (1 << 30) if os.environ.get("RUNLITE_FULL") else (200 << 20)
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: no disk blocks, reads as zeros
    run = store.init("big")
    tracemalloc.start()
    run.save(str(path), "output")
    save_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    digest = hashlib.sha256()
    with store.open_attachment(run, "big.bin") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    read_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert save_peak < 64 << 20 and read_peak < 64 << 20
    zeros = hashlib.sha256()
    src = _Zeros(size)
    while chunk := src.read(1 << 20):
        zeros.update(chunk)
    assert digest.hexdigest() == zeros.hexdigest()


def test_save_object_is_json_only(store):
    run = store.init("obj")
    run.save_object({"weights": [1.5, 2.0], "name": "model"}, "output", name="model.json")
    (item,) = store.attachments(run)
    assert (item.name, item.category, item.mime_type) == ("model.json", "output", "application/json")
    import json

    assert json.loads(store.read_attachment(run, "model.json")) == {"weights": [1.5, 2.0], "name": "model"}
    for bad in (object(), {1, 2}, {"x": float("nan")}, b"bytes"):
        with pytest.raises(runlite.ValidationError):
            run.save_object(bad, "output", name="bad.json")
    run.save_object([1, 2], "input")  # default name: <type>_<id>
    assert any(a.name.startswith("list_") for a in store.attachments(run))
