"""Downsampled re-reads of an unchanged file (storage/kept_reads.py): a read-only connection
keeps a window's chunk rows and the series laid out (codec/series_sketch.py) while its
``PRAGMA data_version`` stays the same, and answers exactly what a first read answers,
whatever changed in between: the series grown, packed, merged into, damaged."""

from __future__ import annotations

import math
import random
import struct
import threading

import apsw
import pytest

import runlite
from runlite.codec import sketch
from runlite.errors import CorruptStoreError
from runlite.storage import kept_reads, metric_reads

MAX_POINTS = (100, 1000)
WINDOWS = ((None, None), (20_000, None), (None, 60_000), (30_000, 40_000))


def _log(run, start: int, stop: int, seed: int = 1) -> None:
    rnd = random.Random(seed * 1_000_003 + start)
    for i in range(start, stop):
        v = math.nan if i % 4099 == 0 else (rnd.choice([math.inf, -0.0, 50.0]) if i % 9001 == 0 else rnd.gauss(0, 1))
        run.log_metrics({"loss": v}, step=i)


def _picked(store, run_id: str, max_points: int, start=None, stop=None) -> list[bytes]:
    s = store.metric_values(run_id, "loss", max_points=max_points, start=start, stop=stop)
    return [struct.pack("<qdqd", *p) for p in zip(s.steps, s.times, s.timestamps, s.values)]


def _first_reads(path, run_id: str) -> dict:
    """Every (max_points, window) read by a store that never read the file before (a new
    connection: nothing another one kept is its own)."""
    with runlite.open(path, read_only=True) as fresh:
        return {(m, w): _picked(fresh, run_id, m, *w) for m in MAX_POINTS for w in WINDOWS}


def _all_reads(store, run_id: str) -> dict:
    return {(m, w): _picked(store, run_id, m, *w) for m in MAX_POINTS for w in WINDOWS}


@pytest.fixture
def grown(tmp_path):
    """A file with a 50,000-point series, its run still open to grow it."""
    path = tmp_path / "r.db"
    writer = runlite.open(path)
    run = writer.init("r")
    _log(run, 0, 50_000)
    run.flush()
    yield path, writer, run
    writer.close()


def test_a_re_read_lists_the_rows_once_and_walks_no_chunk(grown, monkeypatch):
    path, _, run = grown
    want = _first_reads(path, run.id)
    listed, walked = [], []
    real_chunks, real_walk = metric_reads._chunks, sketch.downsample
    monkeypatch.setattr(metric_reads, "_chunks", lambda *a, **k: listed.append(a) or real_chunks(*a, **k))
    monkeypatch.setattr(sketch, "downsample", lambda *a, **k: walked.append(a) or real_walk(*a, **k))
    with runlite.open(path, read_only=True) as reader:
        for turn in range(3):
            listed.clear()
            walked.clear()
            assert _all_reads(reader, run.id) == want
            if turn == 0:
                assert len(listed) == len(WINDOWS)  # once a window: max_points is not in the key
            else:  # the rows kept; the windows of whole chunks laid out on the first re-read
                assert listed == []
                assert len(walked) <= 3 * len(MAX_POINTS)  # only windows cut inside a chunk walk
            if turn == 2:
                assert len(walked) < len(WINDOWS) * len(MAX_POINTS)


def test_a_series_grown_after_a_re_read_is_read_grown(grown):
    path, writer, run = grown
    with runlite.open(path, read_only=True) as reader:
        for _ in range(2):
            before = _all_reads(reader, run.id)
        assert before == _first_reads(path, run.id)
        _log(run, 50_000, 80_000)
        run.flush()
        after = _all_reads(reader, run.id)
        assert after != before
        assert after == _first_reads(path, run.id)
        s = reader.metric_values(run.id, "loss", max_points=1000)
        assert s.steps[-1] == 79_999


def test_a_store_reading_its_own_series_sees_what_it_logs(tmp_path):
    with runlite.open(tmp_path / "r.db") as store:
        run = store.init("r")
        for start, stop in ((0, 30_000), (30_000, 60_000), (60_000, 61_000)):
            _log(run, start, stop)
            run.flush()
            for _ in range(3):
                got = _all_reads(store, run.id)
            assert got == _first_reads(tmp_path / "r.db", run.id)
            assert store.metric_values(run.id, "loss", max_points=100).steps[-1] == stop - 1


def test_a_re_read_after_pack_or_merge_reads_the_new_rows(grown, tmp_path):
    path, writer, run = grown
    other = tmp_path / "other.db"
    with runlite.open(other) as source:
        more = source.init("more")
        _log(more, 0, 70_000, seed=2)
        more.close()
    with runlite.open(path, read_only=True) as reader:
        for change in ("close", "pack", "merge"):
            for _ in range(2):  # kept, then laid out
                _all_reads(reader, run.id)
            if change == "close":
                _log(run, 50_000, 50_300)  # a short tail: packing merges small chunks
                run.close()
            elif change == "pack":
                writer.pack()
            else:
                with pytest.raises(runlite.errors.NotFoundError):
                    reader.metric_values(more.id, "loss", max_points=100)
                writer.merge(other)
            assert _all_reads(reader, run.id) == _first_reads(path, run.id)
        assert _all_reads(reader, more.id) == _first_reads(path, more.id)


def _outcome(store, run_id: str, max_points: int):
    try:
        return _picked(store, run_id, max_points)
    except CorruptStoreError as exc:
        return str(exc)


def test_a_sketch_damaged_after_a_re_read_is_refused_as_a_first_read_refuses_it(grown):
    path, _, run = grown
    run.close()
    coarse_to_fine = (4, 10, 40, 100)
    with runlite.open(path, read_only=True) as reader:
        for _ in range(2):
            for max_points in coarse_to_fine:
                reader.metric_values(run.id, "loss", max_points=max_points)
        conn = apsw.Connection(str(path))
        seq, blob = conn.execute("SELECT seq, sketch FROM chunks ORDER BY seq LIMIT 1 OFFSET 2").fetchone()
        conn.execute("UPDATE chunks SET sketch = ? WHERE seq = ?", (blob[:1] + b"\x00" * (len(blob) - 1), seq))
        conn.close()
        with runlite.open(path, read_only=True) as fresh:
            want = {m: _outcome(fresh, run.id, m) for m in coarse_to_fine}
        assert any(isinstance(w, str) and "sketch" in w for w in want.values())  # some read needs that sketch
        for _ in range(3):  # listed again, then kept: the series cannot be laid out, the walk says why
            assert {m: _outcome(reader, run.id, m) for m in coarse_to_fine} == want


def test_only_read_only_connections_keep_and_their_key_is_their_own(tmp_path):
    with runlite.open(tmp_path / "r.db") as store:
        run = store.init("r")
        _log(run, 0, 20_000)
        run.close()
        with store.database.write() as conn:  # a connection that writes keeps nothing
            assert kept_reads.version(conn) is None
        with store.database.read() as conn:
            seen = kept_reads.version(conn)
            assert seen is not None and kept_reads.version(conn) == seen
    with runlite.open(tmp_path / "r.db", read_only=True) as again, again.database.read() as conn:
        assert kept_reads.version(conn)[0] is not seen[0]  # a new connection: none of the old one's values
    memory = runlite.open(":memory:")
    run = memory.init("r")
    _log(run, 0, 20_000)
    run.close()
    first = _picked(memory, run.id, 100)
    assert all(_picked(memory, run.id, 100) == first for _ in range(2))
    memory.close()


def test_threads_each_reading_keep_their_own_and_agree(grown):
    path, _, run = grown
    run.close()
    want = _first_reads(path, run.id)
    failures = []
    with runlite.open(path, read_only=True) as reader:
        def read():
            try:
                for _ in range(3):
                    assert _all_reads(reader, run.id) == want
            except AssertionError as exc:  # pragma: no cover - reported below
                failures.append(exc)
        threads = [threading.Thread(target=read) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures
