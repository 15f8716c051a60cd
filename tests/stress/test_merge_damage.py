"""Merging a damaged source never damages the destination: refused whole, or merged sound.

A merge copies rows from another file into this one, where they stay. SQLite pages carry no
checksum, so a source can hold chunks that decode to other points, statistics that no longer
match their chunk, sketches of other points, blob parts beyond a blob, events whose cells
are of another type. Every case here merges a damaged copy of one source into a fresh copy
of one destination and accepts two outcomes only:

- refused with a ``RunliteError`` (``CorruptStoreError`` for damage), the destination's full
  dump (every row of every table) as it was before;
- returned, and the destination opens and passes ``verify()`` and ``integrity_check``.

The cases: targeted damage to every kind of row a merge brings in (and to rows it does not
bring in, which may merge); random damage in bulk, byte and bit flips in the file as well as
in single cells, merged in a child process that reports its peak RSS and the time of each
merge; and injected I/O errors while the merge reads its source, which must raise a
``StoreError`` naming the file, never a raw apsw error.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
import traceback
from array import array
from collections import Counter

import apsw
import pytest
import zstandard

import runlite
from runlite import errors
from runlite.codec import accel, chunks, sketch, stats
from runlite.storage import stat_rows
from tests.stress.conftest import check_file, count, full
from tests.stress.faultvfs import FaultVFS

SEED = int(os.environ.get("RUNLITE_MERGE_DAMAGE_SEED", "1414"))
RSS_BOUND_MIB = 160  # as for hostile files: a merge may grow the peak RSS by at most this much


# ---------------------------------------------------------------- the source and the destination


def build(folder: str) -> dict:
    """``source.db`` and ``dest.db``: the destination is the source part-way, plus a run of its own.

    So a merge brings in new runs, series, blobs, events, feedback and alert history, and
    also grows series the destination holds fewer points of, and meets blobs and series
    (``lr``) it holds already.
    """
    src, dest = os.path.join(folder, "source.db"), os.path.join(folder, "dest.db")
    with runlite.open(src) as store:
        run = store.init("grows", metadata={"lr": 0.01}, tags=["a"], folder="/exp")
        for i in range(5_000):
            run.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 10_000}, step=i, timestamp=1.7e9 + i * 0.01)
        for i in range(300):  # explicit times: chunks with a time column; all held by the destination
            run.log_metrics({"lr": 0.01 * 0.99 ** i}, step=i, time=i * 0.5)
        run.attach("shared.bin", b"content both files hold " * 400, "application/octet-stream")
        run.log_image("frame", bytes(_png(8, 6, 0)), step=0)  # media the destination holds too
        run.log_histogram("weights", [float(i % 13) for i in range(500)], step=0)
        run.log_event("first half")
        run.flush()
        store.backup(dest)  # the destination: this run part-way
        for i in range(5_000, 12_000):
            run.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 12_000 if i % 97 else float("nan")}, step=i,
                            timestamp=1.7e9 + i * 0.01)
        run.log_event("second half")
        run.log_image("frame", bytes(_png(8, 6, 1)), step=1)
        run.log_histogram("weights", [float(i % 7) for i in range(500)], step=1)
        run.close()
        new = store.init("new", metadata={"split": "test"}, tags=["b"], folder="/exp")
        new.create_metric_threshold_alert("f1-high", "f1", 0.5, "is above")
        for i in range(3_000):
            new.log_metrics({"f1": (i % 17) / 17, "nan-heavy": float("nan") if i % 3 else float(i)}, step=i)
        new.log_event("evaluated", level="warning")
        new.add_event("tool", payload={"k": [1, 2]})
        new.attach("report.bin", random.Random(7).randbytes(300_000), "application/octet-stream")
        new.attach("notes.txt", b"notes on the run\n" * 300, "text/plain")
        new.log_image("confusion", bytes(_png(16, 16, 2)), caption="epoch 3")
        new.log_table("predictions", [{"id": i, "label": f"c{i % 4}", "p": i / 40} for i in range(40)])
        new.close()
        with runlite.trace("pipeline", "chain", inputs={"q": "why?"}, store=store) as root:
            with runlite.trace("answer", "llm", inputs={"prompt": "say why"}, store=store):
                pass
        store.create_feedback(root.id, "correctness", score=0.75, comment="mostly right", value={"ok": True})
    with runlite.open(dest) as store:
        mine = store.init("mine")
        mine.log_metrics({"x": 1.0})
        mine.attach("mine.txt", b"my own bytes", "text/plain")
        mine.close()
    return {"source": src, "dest": dest}


def _png(width: int, height: int, shade: int) -> bytes:
    """A small gray PNG (the standard library's zlib; no image library needed)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes((shade * 40 + x + y) % 256 for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def raw(path: str) -> apsw.Connection:
    """The damaging connection: no runlite policy, no triggers, no foreign keys."""
    conn = apsw.Connection(path)
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA ignore_check_constraints=ON")  # a hostile file need not keep them
    return conn


def dump(path: str) -> dict:
    """Every row of every table (and the header fields runlite sets), order-independent."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        out = {f"pragma {p}": conn.execute(f"PRAGMA {p}").get for p in ("user_version", "application_id")}
        for (table,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").fetchall():
            out[table] = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
        return out
    finally:
        conn.close()


def merge_case(source: str, dest: str, before: dict) -> dict:
    """Merge; then judge the destination as the module docstring says. Never raises."""
    started = time.perf_counter()
    try:
        runlite.merge(dest, source)
        outcome, error, message = "merged", None, ""
    except errors.RunliteError as exc:
        outcome, error, message = "refused", type(exc).__name__, str(exc)[:300]
    except BaseException as exc:  # noqa: BLE001 - an escape is what this test looks for
        outcome, error, message = "escape", type(exc).__name__, traceback.format_exc()[-1500:]
    seconds = time.perf_counter() - started
    problem = None
    if outcome == "escape":
        problem = f"raw {error}"
    elif outcome == "refused":
        try:
            if dump(dest) != before:
                problem = "refused, but the destination changed"
        except apsw.Error as exc:
            problem = f"refused, and the destination cannot be read: {exc}"
    else:
        try:
            check_file(dest)
        except Exception as exc:  # noqa: BLE001 - verify failing, or raising anything, is a damaged destination
            problem = f"merged, and the destination is damaged: {type(exc).__name__}: {str(exc)[:300]}"
    return {"outcome": outcome, "error": error, "message": message, "problem": problem, "seconds": seconds}


def with_wal(source: str, out: str) -> None:
    """``out`` (and ``out``-wal): ``source`` with one more transaction still in its WAL, as a
    file copied while its writer runs is; SQLite reads the WAL even as it closes such a file."""
    work = out + ".work.db"
    shutil.copy(source, work)
    store = runlite.open(work)
    try:
        with store.database.write() as conn:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        with store.database.write():  # one transaction: nested writes join it
            run = store.init("late", tags=["wal"])
            for i in range(2_000):
                run.log_metrics({"late": float(i)}, step=i)
            run.log_event("written last")
            run.close()
        shutil.copy(work, out)
        shutil.copy(work + "-wal", out + "-wal")
    finally:
        store.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("merge-damage"))
    made = build(folder)
    made["wal_source"] = os.path.join(folder, "wal-source.db")
    with_wal(made["source"], made["wal_source"])
    made["dump"] = dump(made["dest"])
    sound = os.path.join(folder, "sound-dest.db")  # the sound source merges, and the result verifies
    shutil.copy(made["dest"], sound)
    result = merge_case(made["source"], sound, made["dump"])
    assert result["outcome"] == "merged" and result["problem"] is None, result
    return made


def _copies(files: dict, folder, name: str) -> tuple[str, str]:
    os.makedirs(folder, exist_ok=True)
    src, dest = os.path.join(folder, f"{name}-source.db"), os.path.join(folder, f"{name}-dest.db")
    shutil.copy(files["source"], src)
    shutil.copy(files["dest"], dest)
    return src, dest


# ---------------------------------------------------------------- targeted damage


def _chunk(conn, run: str, name: str, seq: int = 0) -> int:
    return conn.execute("SELECT c.id FROM chunks AS c JOIN series AS s ON s.id = c.series_id JOIN runs AS r"
                        " ON r.id = s.run_id WHERE r.name = ? AND s.name = ? AND c.seq = ?", (run, name, seq)).get


def _flip_blob(conn, table: str, column: str, rowid: int, bit: int | None = None) -> None:
    data = bytearray(conn.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).get)
    bit = len(data) * 4 if bit is None else bit  # the middle by default: inside the zstd frame
    data[bit // 8] ^= 1 << (bit % 8)
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (bytes(data), rowid))


def _blob_of(conn, name: str) -> str:
    return conn.execute("SELECT sha256 FROM attachments WHERE name = ?", (name,)).get


def _run_id(conn, name: str) -> str:
    return conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).get


def _junk_frame() -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress(b"junk" * 100)


# name -> (damage(conn), whether the damage is in rows the merge brings in: then it must be refused)
TARGETED = {
    "chunk data zeroed": (lambda c: c.execute(
        "UPDATE chunks SET data = zeroblob(length(data)) WHERE id = ?", (_chunk(c, "grows", "loss"),)), True),
    "chunk data: one bit flipped": (lambda c: _flip_blob(c, "chunks", "data", _chunk(c, "new", "f1")), True),
    "chunk header: point count changed": (lambda c: _flip_blob(c, "chunks", "data", _chunk(c, "new", "f1"), 33),
                                          True),
    "chunk statistic changed (min)": (lambda c: c.execute(
        "UPDATE chunks SET min = min - 1 WHERE id = ?", (_chunk(c, "new", "f1"),)), True),
    "chunk statistic changed (count)": (lambda c: c.execute(
        "UPDATE chunks SET count = count + 1 WHERE id = ?", (_chunk(c, "new", "f1"),)), True),
    "chunk statistic as text": (lambda c: c.execute(
        "UPDATE chunks SET mean = 'high' WHERE id = ?", (_chunk(c, "new", "f1"),)), True),
    "chunk step range changed": (lambda c: c.execute(
        "UPDATE chunks SET step_hi = step_hi + 1000 WHERE id = ?", (_chunk(c, "new", "f1"),)), True),
    "chunk timestamp range changed": (lambda c: c.execute(
        "UPDATE chunks SET ts_lo = ts_lo - 1 WHERE id = ?", (_chunk(c, "grows", "acc"),)), True),
    "chunk sketch zeroed": (lambda c: c.execute(
        "UPDATE chunks SET sketch = zeroblob(length(sketch)) WHERE id = ?", (_chunk(c, "new", "f1"),)), True),
    "chunk sketch: one bit flipped": (lambda c: _flip_blob(c, "chunks", "sketch", _chunk(c, "new", "f1")), True),
    "chunk sketch of another chunk's points": (lambda c: c.execute(
        "UPDATE chunks SET sketch = (SELECT sketch FROM chunks WHERE id = ?) WHERE id = ?",
        (_chunk(c, "new", "nan-heavy"), _chunk(c, "new", "f1"))), True),
    "series summary changed (mean)": (lambda c: c.execute(
        "UPDATE series SET mean = mean + 1 WHERE name = 'f1'"), True),
    "series summary of a grown series changed (last)": (lambda c: c.execute(
        "UPDATE series SET last = 42.0 WHERE name = 'loss'"), True),
    "series count as text": (lambda c: c.execute("UPDATE series SET count = 'many' WHERE name = 'f1'"), True),
    "series count raised (the destination's copy looks short)": (lambda c: c.execute(
        "UPDATE series SET count = count + 1 WHERE name = 'lr'"), True),
    "new blob: a part's bit flipped": (lambda c: _flip_blob(c, "blob_parts", "data", c.execute(
        "SELECT rowid FROM blob_parts WHERE sha256 = ? AND seq = 0", (_blob_of(c, "report.bin"),)).get), True),
    "new blob: an extra part": (lambda c: c.execute(
        "INSERT INTO blob_parts (sha256, seq, size, data) SELECT sha256, parts, 400, ? FROM blobs WHERE sha256 = ?",
        (_junk_frame(), _blob_of(c, "notes.txt"))), True),
    "events: time as text": (lambda c: c.execute("UPDATE events SET time = 'yesterday' WHERE name = 'tool'"), True),
    "events: time beyond year 9999": (lambda c: c.execute(
        "UPDATE events SET time = -9223372036854775807 WHERE name = 'tool'"), True),
    "events: kwargs not JSON": (lambda c: c.execute("UPDATE events SET kwargs = '{\"k\": [1' WHERE name = 'tool'"),
                                True),
    "events: kwargs a blob": (lambda c: c.execute("UPDATE events SET kwargs = x'7b7d' WHERE name = 'tool'"), True),
    "feedback: value not JSON": (lambda c: c.execute("UPDATE feedback SET value = '{'"), True),
    "feedback: created as a real": (lambda c: c.execute("UPDATE feedback SET created = 1.5"), True),
    "run_alerts row naming a missing alert": (lambda c: c.execute(
        "INSERT INTO run_alerts (run_id, alert_id, state, changed) VALUES (?, 'no-such-alert', 'ok', NULL)",
        (_run_id(c, "new"),)), True),
    "alert_history row naming a missing alert": (lambda c: c.execute(
        "INSERT INTO alert_history VALUES (?, 'no-such-alert', 0, 1700000000000000, 1.0, 'critical')",
        (_run_id(c, "new"),)), True),
    "attachment naming a missing blob": (lambda c: c.execute(
        "UPDATE attachments SET sha256 = ? WHERE name = 'notes.txt'", ("0" * 64,)), True),
    "events of a run the source does not hold": (lambda c: c.execute(
        "INSERT INTO events (run_id, seq, time, message) VALUES ('no-such-run', 0, 1700000000000000, 'x')"), True),
    "run tags not JSON": (lambda c: c.execute("UPDATE runs SET tags = '[\"b' WHERE name = 'new'"), True),
    "media: a histogram's bytes cut": (lambda c: c.execute(
        "UPDATE media SET data = substr(data, 1, 40), size = 40 WHERE kind = 'histogram' AND step = 1"), True),
    "media: an image row claiming other pixels": (lambda c: c.execute(
        "UPDATE media SET width = 17 WHERE name = 'confusion'"), True),
    "media: a table's blob bit flipped": (lambda c: _flip_blob(c, "blob_parts", "data", c.execute(
        "SELECT p.rowid FROM blob_parts AS p JOIN media AS m ON m.sha256 = p.sha256 WHERE m.kind = 'table'").get),
        True),
    "media: a table row naming a missing blob": (lambda c: c.execute(
        "UPDATE media SET sha256 = ? WHERE kind = 'table'", ("0" * 64,)), True),
    "media: step as text": (lambda c: c.execute("UPDATE media SET step = 'last' WHERE name = 'confusion'"), True),
    "media: a kind runlite does not log": (lambda c: c.execute(
        "UPDATE media SET kind = 'video' WHERE name = 'confusion'"), True),
    # Not brought in: the destination holds these already. A merge may go ahead.
    "an extra part of a blob the destination holds": (lambda c: c.execute(
        "INSERT INTO blob_parts (sha256, seq, size, data) SELECT sha256, parts, 400, ? FROM blobs WHERE sha256 = ?",
        (_junk_frame(), _blob_of(c, "shared.bin"))), False),
    "a part of a blob the destination holds, bit flipped": (lambda c: _flip_blob(c, "blob_parts", "data", c.execute(
        "SELECT rowid FROM blob_parts WHERE sha256 = ? AND seq = 0", (_blob_of(c, "shared.bin"),)).get), False),
    "a media row the destination holds, caption changed": (lambda c: c.execute(
        "UPDATE media SET caption = 'edited' WHERE name = 'frame' AND step = 0"), False),
    "a chunk of a series the destination holds whole, zeroed": (lambda c: c.execute(
        "UPDATE chunks SET data = zeroblob(length(data)) WHERE id = ?", (_chunk(c, "grows", "lr"),)), False),
}


@pytest.mark.parametrize("use_numpy", [True, False], ids=["numpy", "pure"])
def test_targeted_damage_is_refused_whole(files, tmp_path, guarantee, use_numpy):
    if use_numpy and not accel.numpy_installed():
        pytest.skip("numpy is not installed")
    rows = []
    for i, (name, (damage, brought_in)) in enumerate(TARGETED.items()):
        src, dest = _copies(files, tmp_path / f"{i:02d}", "case")
        conn = raw(src)
        with conn:
            damage(conn)
        conn.close()
        with accel.numpy_mode(use_numpy):  # merge checks chunks with numpy when it can, else exactly
            result = merge_case(src, dest, files["dump"])
        if brought_in and result["problem"] is None and result["error"] != "CorruptStoreError":
            result["problem"] = f"{result['outcome']} ({result['error']}): damage brought in must be CorruptStoreError"
        rows.append({"name": name, **result})
        shutil.rmtree(tmp_path / f"{i:02d}")
    bad = [(r["name"], r["outcome"], r["error"], r["problem"], r["message"][:200]) for r in rows if r["problem"]]
    outcomes = Counter(f"{r['outcome']} ({r['error']})" if r["error"] else r["outcome"] for r in rows)
    guarantee(f"merge: targeted damage in the source (chunks, sketches, summaries, blob parts, cells, media;"
              f" {'numpy' if use_numpy else 'pure Python'} checks)",
              rounds=len(rows), failures=len(bad),
              note=f"{len(TARGETED)} kinds of damage, {sum(b for _, b in TARGETED.values())} in rows a merge brings"
                   f" in; outcomes {dict(sorted(outcomes.items()))}; the destination's full dump unchanged after"
                   f" every refusal; longest merge {max(r['seconds'] for r in rows) * 1e3:.0f} ms")
    for r in rows:
        print(f"{r['name']:58} {r['outcome']:8} {r['error'] or '':20} {(r['problem'] or r['message'])[:90]}")
    assert not bad, bad


# ---------------------------------------------------------------- the two ways chunks are checked


def _random_chunk(rng: random.Random) -> tuple:
    """(columns, origin) of a chunk as runlite writes them, of a kind that strains statistics."""
    n = rng.choice([1, 2, 3, 100, 256, 257, 511, 512, 513, 1000, 1500, 4096, 8192])
    kind = rng.choice(["smooth", "constant", "cancelling", "huge", "tiny", "nan", "all nan", "inf", "signed zeros",
                       "ints", "steps down"])
    if kind == "constant":
        values = [rng.choice([0.1, 3.0, 1e10, -7.25])] * n
    elif kind == "cancelling":  # a mean near 0 from large values: numpy's sum is not exact enough
        values = [rng.choice([1e8, -1e8]) + rng.random() for _ in range(n)]
    elif kind == "huge":
        values = [rng.uniform(1e300, 1.7e308) * rng.choice([1, -1]) for _ in range(n)]
    elif kind == "tiny":
        values = [rng.uniform(0, 1e-300) for _ in range(n)]
    elif kind == "nan":
        values = [float("nan") if rng.random() < 0.1 else rng.gauss(0, 1) for _ in range(n)]
    elif kind == "all nan":
        values = [float("nan")] * n
    elif kind == "inf":
        values = [rng.choice([float("inf"), -float("inf"), 1.0]) if rng.random() < 0.05 else rng.random()
                  for _ in range(n)]
    elif kind == "signed zeros":
        values = [rng.choice([0.0, -0.0, 1.0, -1.0]) for _ in range(n)]
    elif kind == "ints":
        values = [float(rng.randrange(-5, 5)) for _ in range(n)]
    else:
        values = [1.0 / (i + 1) + rng.gauss(0, 0.01) for i in range(n)]
    origin = 1_700_000_000_000_000 + rng.randrange(10**9)
    start = rng.randrange(-1000, 10**6)
    steps = [start + (i if kind != "steps down" else -i) for i in range(n)]
    stamps = [origin + i * rng.choice([1, 1000, 10**6]) for i in range(n)]
    times = None if rng.random() < 0.7 else [i * 0.5 for i in range(n)]
    return (array("q", steps), None if times is None else array("d", times), array("q", stamps),
            array("d", values)), origin


def _stored_chunk(columns: tuple, origin: int) -> tuple:
    """(statistics as read back, data, sketch) as ``metrics`` writes a chunk."""
    chunk = stats.chunk_stats(*columns, time_origin_us=origin)
    return (stat_rows.stats_tuple(stat_rows.stats_row(chunk)), chunks.encode_chunk(*columns, time_origin_us=origin),
            sketch.make(*columns, has_nan=chunk.nan_count > 0, time_origin_us=origin))


def _changed(value, rng: random.Random):
    if type(value) is int:
        return rng.choice([value + 1, value - 1, value ^ (1 << rng.randrange(62))])
    if type(value) is float:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0] ^ (1 << rng.randrange(64))
        return rng.choice([struct.unpack("<d", struct.pack("<Q", bits))[0], value * (1 + 1e-6), -value,
                           float("nan"), value + 1.0])
    return rng.choice([0.0, 1.0])  # a NULL statistic given a value


def test_numpy_and_exact_chunk_checks_agree(guarantee):
    """Merge checks a chunk with numpy first and falls back to the exact check; numpy must
    never accept a chunk the exact check refuses (and sound chunks must pass both)."""
    if not accel.numpy_installed():
        pytest.skip("numpy is not installed")
    from runlite.storage import checks  # here: the other tests also run against a runlite without it

    rng = random.Random(SEED)
    rounds = count(400, 4000)
    disagree, refused, started = [], 0, time.perf_counter()
    for i in range(rounds):
        columns, origin = _random_chunk(rng)
        stored, data, sk = _stored_chunk(columns, origin)
        what = rng.choice(["sound", "statistic", "statistic", "sketch", "other sketch"]) if i % 4 else "sound"
        if what == "statistic":
            at = rng.randrange(len(stored))
            stored = stored[:at] + (_changed(stored[at], rng),) + stored[at + 1:]
        elif what == "sketch" and not sk:  # a chunk of one block stores none: one stored is damage
            sk = bytes([rng.randrange(256)])
        elif what == "sketch":
            flipped = bytearray(sk)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            sk = bytes(flipped)
        elif what == "other sketch":
            sk = _stored_chunk(*_random_chunk(rng))[2]
        if not (isinstance(stored[0], int) and isinstance(stored[1], int) and 0 <= stored[1] <= stored[0]):
            continue  # counts that are no counts: refused by the type checks before any decoding
        verdicts = []
        for use_numpy in (True, False):
            with accel.numpy_mode(use_numpy):
                verdicts.append(checks.chunk_problem(stored, data, sketch_data=sk)[0])
        refused += verdicts[1] is not None
        if (verdicts[0] is None) != (verdicts[1] is None) or (what == "sound" and verdicts[1] is not None):
            disagree.append((i, what, len(columns[3]), verdicts))
    guarantee("merge: numpy chunk checks against the exact check", rounds=rounds, failures=len(disagree),
              note=f"seed {SEED}; random chunks (NaN, infinities, signed zeros, cancelling sums, huge and tiny"
                   f" values, 1 to 8,192 points), sound or with one statistic or the sketch changed;"
                   f" {refused} refused by both, the rest accepted by both; {time.perf_counter() - started:.1f} s")
    assert not disagree, disagree[:5]


# ---------------------------------------------------------------- random damage, in bulk


def _flip_file(path: str, rng: random.Random, *, bits: bool, tail: bool) -> str:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        lo = len(data) * 3 // 4 if tail else 100  # the header's flips are test_corruption's
        offsets = sorted(rng.randrange(lo, len(data)) for _ in range(rng.randint(1, 8 if bits else 16)))
        for off in offsets:
            data[off] ^= (1 << rng.randrange(8)) if bits else rng.randrange(1, 256)
        f.seek(0)
        f.write(data)
    return f"{'bit' if bits else 'byte'} flips at {offsets[:4]}{'...' if len(offsets) > 4 else ''}"


_CELL_TABLES = {  # table -> (how a row is named, columns that may be damaged)
    "chunks": ("rowid", ("data", "sketch", "count", "nan_count", "min", "max", "mean", "m2", "first", "last",
                         "first_step", "last_step", "step_lo", "step_hi", "time_lo", "time_hi", "ts_lo", "ts_hi")),
    "series": ("rowid", ("count", "nan_count", "min", "max", "min_step", "max_step", "mean", "m2", "first", "last",
                         "first_step", "last_step")),
    "blob_parts": ("rowid", ("data", "size", "seq")),
    "blobs": ("sha256", ("size", "stored", "parts")),
    "events": ("run_id, seq", ("time", "kwargs", "level")),
    "feedback": ("rowid", ("value", "created", "score")),
    "run_alerts": ("run_id, alert_id", ("alert_id", "changed")),
    "alert_history": ("run_id, alert_id, seq", ("alert_id", "time")),
}


def _mutated(value, rng: random.Random):
    if isinstance(value, bytes) and value:
        data = bytearray(value)
        if rng.random() < 0.2:
            return bytes(len(data))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if isinstance(value, float):
        bits = struct.unpack("<Q", struct.pack("<d", value))[0] ^ (1 << rng.randrange(64))
        return rng.choice([struct.unpack("<d", struct.pack("<Q", bits))[0], value + rng.choice([-1.0, 1e-3, 7.0]),
                           str(value)])
    if isinstance(value, int):
        return rng.choice([value ^ (1 << rng.randrange(63)), value + rng.choice([-1, 1, 1000]), float(value) + 0.5,
                           str(value)])
    if isinstance(value, str):
        if not value:
            return 0
        i = rng.randrange(len(value))
        return rng.choice([value[:i] + chr((ord(value[i]) ^ 1) or 65) + value[i + 1:], value[:i], 12345])
    return rng.choice([0, 1.5, "x", b"\x00"])


def _damage_cells(path: str, rng: random.Random) -> str:
    conn = raw(path)
    done = []
    try:
        while not done:
            table = rng.choice(sorted(_CELL_TABLES))
            key, columns = _CELL_TABLES[table]
            column = rng.choice(columns)
            rows = conn.execute(f"SELECT {key}, {column} FROM {table}").fetchall()
            if not rows:
                continue
            *ident, value = rng.choice(rows)
            where = " AND ".join(f"{k.strip()} = ?" for k in key.split(","))
            try:
                with conn:
                    conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (_mutated(value, rng), *ident))
            except apsw.ConstraintError:
                continue  # NOT NULL or UNIQUE: choose again
            done.append(f"{table}.{column}")
    finally:
        conn.close()
    return f"cell {done[0]}"


def _campaign_jobs(files: dict, folder, copies: int) -> list[dict]:
    rng = random.Random(SEED)
    kinds = ["byte flips", "tail byte flips", "bit flips", "cell damage", "cell damage"]
    jobs = []
    for i in range(copies):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        src, dest = _copies(files, folder / f"{i:04d}", "job")
        if kind == "cell damage":
            detail = _damage_cells(src, rng)
        else:
            detail = _flip_file(src, rng, bits=kind == "bit flips", tail=kind == "tail byte flips")
        jobs.append({"index": i, "kind": kind, "detail": detail, "source": src, "dest": dest})
    return jobs


def child_main(jobs_path: str) -> None:
    """Merge each job's source into its destination, in this process; print the results."""
    faulthandler.enable()
    with open(jobs_path, encoding="utf-8") as f:
        spec = json.load(f)
    before = dump(spec["template_dest"])
    warm = spec["template_dest"] + ".warm-up.db"  # a sound merge first: imports and caches are not growth
    shutil.copy(spec["template_dest"], warm)
    runlite.merge(warm, spec["template_source"])
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = []
    for job in spec["jobs"]:
        faulthandler.dump_traceback_later(120, exit=True)  # a hang ends the child, with tracebacks
        results.append({**job, **merge_case(job["source"], job["dest"], before)})
        faulthandler.cancel_dump_traceback_later()
        for path in (job["source"], job["dest"]):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.remove(path + suffix)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"results": results, "growth_mib": max(0, peak - baseline) / 1024, "peak_mib": peak / 1024}))


def test_random_damage_never_damages_the_destination(files, tmp_path, guarantee):
    copies = count(40, 400)
    jobs = _campaign_jobs(files, tmp_path, copies)
    jobs_path = tmp_path / "jobs.json"
    jobs_path.write_text(json.dumps({"template_dest": files["dest"], "template_source": files["source"],
                                     "jobs": jobs}), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "tests.stress.test_merge_damage", str(jobs_path)],
                          env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True, text=True,
                          timeout=120 + 10 * copies)
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    rows, growth = report["results"], report["growth_mib"]
    bad = [r for r in rows if r["problem"]]
    by_kind: dict[str, Counter] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], Counter())[f"{r['outcome']} ({r['error']})" if r["error"] else r["outcome"]] += 1
    seconds = [r["seconds"] for r in rows]
    guarantee("merge: random damage in the source (byte and bit flips in the file, damaged cells)",
              rounds=len(rows), failures=len(bad) + int(growth > RSS_BOUND_MIB),
              note=f"seed {SEED}; {'; '.join(f'{k}: {dict(sorted(v.items()))}' for k, v in sorted(by_kind.items()))};"
                   f" refused: the destination's full dump unchanged, merged: it passes verify; merge p50"
                   f" {statistics.median(seconds) * 1e3:.0f} ms, max {max(seconds) * 1e3:.0f} ms; child peak RSS"
                   f" {report['peak_mib']:.0f} MiB, growth over a sound merge {growth:.1f} MiB (bound {RSS_BOUND_MIB} MiB)")
    for kind, outcomes in sorted(by_kind.items()):
        print(f"{kind:18} {dict(sorted(outcomes.items()))}")
    assert not bad, [(r["kind"], r["detail"], r["outcome"], r["error"], r["problem"], r["message"][:300])
                     for r in bad[:10]]
    assert growth <= RSS_BOUND_MIB


# ---------------------------------------------------------------- I/O errors reading the source


@pytest.fixture
def source_faults(tmp_path):
    """A FaultVFS over ``tmp_path/source`` only: the destination's I/O never fails."""
    (tmp_path / "source").mkdir()
    before = {id(c) for c in apsw.connections()}
    vfs = FaultVFS(str(tmp_path / "source"))
    try:
        yield vfs
    finally:
        vfs.disarm()
        leaked = [c for c in apsw.connections() if id(c) not in before]
        for conn in leaked:
            with contextlib.suppress(apsw.Error):
                conn.close()
        vfs.unregister()
    assert not leaked, f"{len(leaked)} connection(s) left open"


def _io_problem(exc: BaseException, folder: str) -> str | None:
    """Why ``exc`` is not a clean error for an injected read error of the source, or None."""
    if not isinstance(exc, errors.RunliteError):
        return f"raw {type(exc).__module__}.{type(exc).__name__}: {exc}"
    if isinstance(exc, (errors.CorruptStoreError, errors.NotARunliteFile, errors.SchemaTooNew,
                        errors.StoreFullError)) or not isinstance(exc, errors.StoreError):
        return f"a transient read error reported as {type(exc).__name__}: {exc}"
    if folder not in str(exc) or "I/O error" not in str(exc):
        return f"the error does not say it is an I/O error of the file: {exc}"
    return None


def test_read_errors_of_the_source_are_store_errors(files, tmp_path, source_faults, guarantee):
    started = time.perf_counter()

    def attempt(template: str, tag: str, nth: int, persistent: bool) -> tuple[str, str | None, int]:
        src, dest = os.path.join(tmp_path, "source", f"{tag}.db"), os.path.join(tmp_path, f"{tag}-dest.db")
        for suffix in ("", "-wal"):
            if os.path.exists(template + suffix):
                shutil.copy(template + suffix, src + suffix)
        shutil.copy(files["dest"], dest)
        source_faults.arm("read", nth, persistent=persistent)
        problem, outcome = None, "merged"
        try:
            runlite.merge(dest, src)
        except Exception as exc:  # noqa: BLE001 - every exception is judged
            outcome, problem = type(exc).__name__, _io_problem(exc, str(tmp_path))
        injected, reads = source_faults.injected, source_faults.counts["read"]
        source_faults.disarm()
        if problem is None and outcome != "merged" and dump(dest) != files["dump"]:
            problem = "refused, but the destination changed"
        if problem is None:
            try:
                check_file(dest)
            except Exception as exc:  # noqa: BLE001
                problem = f"the destination after the fault: {type(exc).__name__}: {exc}"
        for path in (src, dest):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.remove(path + suffix)
        return outcome, problem, injected if nth < 10**9 else reads

    rounds, problems, outcomes, totals = 0, [], Counter(), {}
    for label, template in (("checkpointed", files["source"]), ("with a WAL", files["wal_source"])):
        _, dry_problem, total = attempt(template, "dry", 10**9, False)
        assert dry_problem is None and total > 0, dry_problem
        totals[label] = total
        steps = range(1, total + 2) if full() else sorted(set(range(1, total + 1, max(1, total // 12))) | {total})
        for persistent in (False, True):
            for nth in steps:
                outcome, problem, injected = attempt(template, f"{'p' if persistent else 'o'}{nth}", nth, persistent)
                rounds += injected > 0
                outcomes[outcome] += 1
                if problem:
                    problems.append(f"{label}, read #{nth} {'persistent' if persistent else 'once'}: {problem}")
    guarantee("I/O errors reading the merge source", rounds=rounds, failures=len(problems),
              note=f"fails the Nth of {', '.join(f'{n} reads ({k})' for k, n in totals.items())} of the source,"
                   f" once and persistently; outcomes {dict(sorted(outcomes.items()))};"
                   f" {time.perf_counter() - started:.1f} s")
    assert rounds > 0
    assert not problems, "\n".join(problems[:10])


class CloseFaultVFS(apsw.VFS):
    """Files under ``scope`` fail as they are closed (``close(2)`` reports EIO, as a network
    filesystem may when it writes back late), while ``armed``. SQLite ignores the error;
    apsw raises it again from the call that closed the file (see ``faultvfs``), which is how
    a failure there reaches the caller unless runlite handles it."""

    def __init__(self, scope: str):
        self.base = apsw.vfs_names()[0]
        self.scope = os.path.join(os.path.abspath(scope), "")
        self.armed = False
        self.injected = 0
        super().__init__("runlite-close-faults", base=self.base, makedefault=True)

    def xOpen(self, name, flags):
        return CloseFaultFile(self, name, flags)


class CloseFaultFile(apsw.VFSFile):
    def __init__(self, vfs: CloseFaultVFS, name, flags):
        self.vfs = vfs
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        self.scoped = path is not None and os.path.abspath(path).startswith(vfs.scope)
        super().__init__(vfs.base, name, flags)

    def xClose(self):
        super().xClose()
        if self.scoped and self.vfs.armed:
            self.vfs.injected += 1
            exc = apsw.exception_for(apsw.SQLITE_IOERR_CLOSE)
            exc.args = ("injected close fault",)
            raise exc


def test_a_failing_close_of_the_source_is_no_raw_error(files, tmp_path, guarantee):
    (tmp_path / "source").mkdir()
    before = {id(c) for c in apsw.connections()}
    vfs = CloseFaultVFS(str(tmp_path / "source"))
    rows = []
    try:
        for label, template in (("checkpointed", files["source"]), ("with a WAL", files["wal_source"])):
            src, dest = str(tmp_path / "source" / f"{len(rows)}.db"), str(tmp_path / f"{len(rows)}-dest.db")
            for suffix in ("", "-wal"):
                if os.path.exists(template + suffix):
                    shutil.copy(template + suffix, src + suffix)
            shutil.copy(files["dest"], dest)
            vfs.armed, vfs.injected = True, 0
            problem, outcome = None, "merged"
            try:
                runlite.merge(dest, src)
            except Exception as exc:  # noqa: BLE001 - judged below
                outcome = type(exc).__name__
                if not isinstance(exc, errors.StoreError) or isinstance(exc, errors.CorruptStoreError):
                    problem = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
            vfs.armed = False
            if problem is None:
                try:
                    if outcome != "merged" and dump(dest) != files["dump"]:
                        problem = "refused, but the destination changed"
                    check_file(dest)
                except Exception as exc:  # noqa: BLE001
                    problem = f"the destination after the fault: {type(exc).__name__}: {exc}"
            rows.append({"label": label, "outcome": outcome, "problem": problem, "injected": vfs.injected})
    finally:
        vfs.armed = False
        leaked = [c for c in apsw.connections() if id(c) not in before]
        for conn in leaked:
            with contextlib.suppress(apsw.Error):
                conn.close()
        vfs.unregister()
    bad = [r for r in rows if r["problem"]] + ([{"problem": f"{len(leaked)} connection(s) left open"}]
                                               if leaked else [])
    guarantee("I/O error closing the merge source", rounds=len(rows), failures=len(bad),
              note=f"close(2) of the source's files fails ({sum(r['injected'] for r in rows)} faults), source"
                   f" checkpointed and with a WAL; outcomes {[r['outcome'] for r in rows]}")
    assert all(r["injected"] for r in rows), rows
    assert not bad, bad


if __name__ == "__main__":
    child_main(sys.argv[1])
