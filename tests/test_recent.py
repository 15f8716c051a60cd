"""Recent decodes (storage/recent.py): a kept decode is reused only for the very bytes it came
from, within its bounds; window reads and downsampling that reuse them give what a first read
gives, whatever changed in between."""

from __future__ import annotations

import os
import threading
import time

import pytest

import runlite
from runlite.errors import CorruptStoreError
from runlite.storage import chunk_rows
from runlite.storage.recent import Recent


def test_a_kept_value_is_given_for_equal_bytes_and_the_same_how_only():
    kept = Recent(entries=4, budget=100)
    kept.put("k", b"abc", 1, "value", 3)
    assert kept.get("k", b"abc", 1) == "value"
    assert kept.get("k", bytes(bytearray(b"abc")), 1) == "value"  # equal bytes, another object
    assert kept.get("k", b"abd", 1) is None    # other bytes under the same key
    assert kept.get("k", b"abc", 2) is None    # decoded another way
    assert kept.get("k", "abc", 1) is None     # text is not the blob it spells
    assert kept.get("other", b"abc", 1) is None


def test_the_least_recently_used_entry_goes_first_and_both_bounds_hold():
    kept = Recent(entries=3, budget=10)
    for key in "abc":
        kept.put(key, key.encode(), 0, key, 2)
    assert kept.get("a", b"a", 0) == "a"       # a is now the most recently used
    kept.put("d", b"d", 0, "d", 2)             # four entries: b, the least recently used, goes
    assert [kept.get(k, k.encode(), 0) for k in "abcd"] == ["a", None, "c", "d"]
    kept.put("e", b"e", 0, "e", 7)             # 2 + 2 + 2 + 7 > 10: a and c go (least recent first)
    assert [kept.get(k, k.encode(), 0) for k in "acde"] == [None, None, "d", "e"]
    kept.put("huge", b"h", 0, "h", 11)         # larger than the whole budget: not kept, nothing evicted
    assert kept.get("huge", b"h", 0) is None and kept.get("e", b"e", 0) == "e"
    kept.put("e", b"e2", 0, "e2", 1)           # a key put again replaces its entry and its size
    assert kept.get("e", b"e", 0) is None and kept.get("e", b"e2", 0) == "e2"
    kept.clear()
    assert kept.get("d", b"d", 0) is None


def test_threads_share_it_without_losing_its_bounds():
    kept = Recent(entries=8, budget=64)
    errors = []

    def work(t):
        try:
            for i in range(2000):
                key = (t, i % 16)
                blob = f"{t}-{i % 16}".encode()
                got = kept.get(key, blob, 0)
                assert got is None or got == blob
                kept.put(key, blob, 0, blob, 4)
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(kept._kept) <= 8 and kept._held <= 64 and kept._held == 4 * len(kept._kept)


def _long_series(store, values):
    run = store.init("r")
    for i, v in enumerate(values):
        run.log_metrics({"loss": v}, step=i)
    run.close()
    return run.id


def test_two_files_with_the_same_chunk_keys_each_read_their_own(tmp_path):
    """Same series id, same chunk seq, other bytes: the second file's window is its own."""
    n = 20_000
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    ids = []
    for k, path in enumerate(paths):
        with runlite.open(path) as store:
            ids.append(_long_series(store, [float(i * (k + 1)) for i in range(n)]))
    reads = [
        lambda store, run_id: store.metric_stats(run_id, "loss", start=9_000, stop=9_999).max,
        lambda store, run_id: list(store.metric_values(run_id, "loss", start=9_000, stop=9_003).values),
        lambda store, run_id: max(store.metric_values(run_id, "loss", max_points=64).values),
    ]
    wants = [lambda k: 9_999.0 * (k + 1), lambda k: [float(i * (k + 1)) for i in range(9_000, 9_004)],
             lambda k: (n - 1) * (k + 1)]
    for read, want in zip(reads, wants):  # each read of both files in turn: the second finds the first's kept
        for _ in range(2):
            for k, (path, run_id) in enumerate(zip(paths, ids)):
                with runlite.open(path, read_only=True) as store:
                    assert read(store, run_id) == want(k)


def test_a_damaged_blob_is_refused_every_time_and_never_kept(tmp_path):
    """Its chunk's bytes change under the same key after a read kept their decode: the next
    reads decode the new bytes (and refuse them), never reuse the old decode."""
    path = tmp_path / "r.db"
    with runlite.open(path) as store:
        run_id = _long_series(store, [float(i) for i in range(20_000)])
    good = runlite.open(path, read_only=True)
    assert good.metric_stats(run_id, "loss", start=9_000, stop=9_999).count == 1000  # its decode is kept
    good.close()
    import apsw

    conn = apsw.Connection(str(path))
    seq, blob = conn.execute("SELECT seq, data FROM chunks WHERE step_lo <= 9000 AND step_hi >= 9000").fetchone()
    damaged = blob[:-9] + bytes(x ^ 0xFF for x in blob[-9:])
    conn.execute("UPDATE chunks SET data = ? WHERE seq = ? AND step_lo <= 9000", (damaged, seq))
    conn.close()
    with runlite.open(path, read_only=True) as store:
        for _ in range(2):
            with pytest.raises(CorruptStoreError):
                store.metric_stats(run_id, "loss", start=9_000, stop=9_999)
    assert all(entry[0] != damaged for entry in chunk_rows._DECODED._kept.values())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_is_not_stuck_on_a_lock_held_at_the_fork(tmp_path):
    path = tmp_path / "r.db"
    with runlite.open(path) as store:
        run_id = _long_series(store, [float(i) for i in range(20_000)])
    with runlite.open(path, read_only=True) as store:
        store.metric_stats(run_id, "loss", start=9_000, stop=9_999)  # kept in the parent
    with chunk_rows._DECODED._lock:  # as if another thread were keeping a decode when the program forked
        pid = os.fork()
        if pid == 0:  # the child: read the same window (a hang here fails the test by its timeout)
            code = 1
            try:
                with runlite.open(path, read_only=True) as store:
                    got = store.metric_stats(run_id, "loss", start=9_000, stop=9_999)
                code = 0 if (got.count, got.max) == (1000, 9_999.0) else 2
            finally:
                os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the lock its parent held at the fork")
