"""Hostile files: crafted schemas, huge declared sizes, zstd bombs and path escapes are refused
with a typed RunliteError, with bounded memory.

Each case plants one hostile thing into an otherwise sound runlite file (with a raw SQLite
connection, as an attacker would), then a child process does one thing with it (open it
untrusted, read the planted item, stream it, restore the run's files, merge the file) and
reports what was raised and its peak RSS (``ru_maxrss``) against its RSS after setup. The
parent asserts the outcome and that the peak stays under baseline + ``RSS_BOUND_MIB``.
"""

from __future__ import annotations

import faulthandler
import functools
import hashlib
import json
import os
import shutil
import struct
import sys
from concurrent.futures import ThreadPoolExecutor

import apsw
import pytest
import zstandard

import runlite
from runlite.storage import blobs
from tests.stress import forked
from tests.stress.conftest import raw, plant_names

RSS_BOUND_MIB = 160  # a case may grow the child's peak RSS by at most this much
ZSTD_MAGIC = 0xFD2FB528
_RESULTS: dict[str, dict] = {}


# ---------------------------------------------------------------- crafted zstd frames


def declared_frame(size: int) -> bytes:
    """A 19-byte frame header declaring ``size`` bytes of content, then one empty last block
    and a checksum: zstd allocates the declared size before it finds out (B2)."""
    descriptor = (3 << 6) | (1 << 5) | (1 << 2)  # 8-byte content size, single segment, checksum
    return struct.pack("<IBQ", ZSTD_MAGIC, descriptor, size) + b"\x01\x00\x00" + b"\x00" * 4


@functools.lru_cache(maxsize=None)
def zeros_frame(size: int, *, content_size: bool = True) -> bytes:
    """A real frame of ``size`` zero bytes (256 MiB compress to about 8 KiB), made streaming."""
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=content_size)
    chunker = cctx.chunker(size=size if content_size else -1, chunk_size=1 << 20)
    zero = bytes(1 << 20)
    out = []
    for _ in range(size >> 20):
        out.extend(chunker.compress(zero))
    out.extend(chunker.compress(bytes(size & ((1 << 20) - 1))))
    out.extend(chunker.finish())
    return b"".join(out)


def frame_of(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress(data)


# ---------------------------------------------------------------- the sound file and its plants

ATTACHMENT = bytes(range(256)) * 20  # 5,120 known bytes


def build_good(path: str) -> dict:
    with runlite.open(path) as store:
        run = store.init("victim", tags=["t"], metadata={"k": 1})
        for i in range(300):
            run.log_metrics({"loss": 1 / (i + 1)}, step=i)
        run.attach("a.bin", ATTACHMENT, "application/octet-stream")
        run.close()
        return {"run": run.id}


def plant_blob(path: str, frames: list[bytes], part_sizes: list[int], blob_size: int | None = None,
               parts: int | None = None) -> None:
    """Replace the attachment's parts with ``frames`` recording ``part_sizes``."""
    conn = raw(path)
    sha = conn.execute("SELECT sha256 FROM attachments WHERE name = 'a.bin'").get
    with conn:
        conn.execute("DELETE FROM blob_parts WHERE sha256 = ?", (sha,))
        for seq, (frame, size) in enumerate(zip(frames, part_sizes)):
            conn.execute("INSERT INTO blob_parts (sha256, seq, size, data) VALUES (?, ?, ?, ?)", (sha, seq, size, frame))
        total = sum(part_sizes) if blob_size is None else blob_size
        conn.execute("UPDATE blobs SET size = ?, stored = ?, parts = ? WHERE sha256 = ?",
                     (total, sum(map(len, frames)), len(frames) if parts is None else parts, sha))
        conn.execute("UPDATE attachments SET size = ? WHERE sha256 = ?", (total, sha))
    conn.close()


def plant_chunk(path: str, data: bytes) -> None:
    """Replace the first chunk of ``loss``: a 16-byte codec header then ``data``."""
    conn = raw(path)
    with conn:
        conn.execute("UPDATE chunks SET data = ? WHERE seq = 0 AND series_id ="
                     " (SELECT id FROM series WHERE name = 'loss')", (data,))
    conn.close()


def chunk_header(points: int, times: bool = False) -> bytes:
    return struct.pack("<BBHIq", 1, 1 if times else 0, 0, points, 0)


def plant_schema(path: str, sql: str) -> None:
    conn = raw(path)
    conn.execute(sql)
    conn.close()


def plant_schema_row(path: str, kind: str, name: str, sql: str) -> None:
    """A row written into sqlite_schema directly: SQL no CREATE statement would accept."""
    conn = raw(path)
    conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 0)
    conn.execute("PRAGMA writable_schema=ON")
    with conn:
        conn.execute("INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (?, ?, ?, 0, ?)",
                     (kind, name, name, sql))
    conn.close()


def plant_page_size(path: str, page_size_field: int) -> None:
    with open(path, "r+b") as f:
        f.seek(16)
        f.write(struct.pack(">H", page_size_field))


GIB, TIB, MIB = 1 << 30, 1 << 40, 1 << 20


def _bomb_cases() -> dict:
    """name -> (plant function, description). Each plants into both an attachment and a chunk."""
    return {
        "declares 8 GiB": lambda: declared_frame(8 * GIB),
        "declares 32 TiB": lambda: declared_frame(32 * TIB),
        "8 KiB inflating to 256 MiB": lambda: zeros_frame(256 * MIB),
        "no content size (256 MiB)": lambda: zeros_frame(256 * MIB, content_size=False),
        "trailing data": lambda: frame_of(ATTACHMENT) + b"trailing bytes",
        "two frames": lambda: frame_of(ATTACHMENT[:2560]) + frame_of(ATTACHMENT[2560:]),
        "skippable frame": lambda: struct.pack("<II", 0x184D2A50, 4) + b"\x00" * 4,
    }


# ---------------------------------------------------------------- the child process


def _do(action: str, case: dict):
    """One action on the hostile file; returns a short description of what came back."""
    path, run = case["path"], case.get("run")
    if action == "merge":
        return runlite.merge(case["dest"], path)
    if action.startswith("merge, then "):  # payloads are copied as they are: the read must refuse
        merged = runlite.merge(case["dest"], path)
        return _do(action[len("merge, then "):], {**case, "path": case["dest"], "merged": merged})
    if action == "open normal":
        with runlite.open(path, read_only=True) as store:
            report = store.verify()
            if not report.ok:
                raise runlite.CorruptStoreError(f"verify: {report.problems[:3]}")
            return [r.name for r in store.runs()]
    with runlite.open(path, read_only=True, untrusted=True) as store:
        if action == "open untrusted":
            return [r.name for r in store.runs()]
        if action == "read_attachment":
            return len(store.read_attachment(run, "a.bin"))
        if action == "open_attachment":
            with store.open_attachment(run, "a.bin") as stream:
                total = 0
                while piece := stream.read(1 << 20):
                    total += len(piece)
                return total
        if action == "metric_values":
            return len(store.metric_values(run, "loss"))
        if action == "metric_stats":
            return store.metric_stats(run, "loss", start=0, stop=10).count
        if action == "restore":
            return store.restore(run, case["restore_dest"])
        if action == "verify":
            report = store.verify()
            if not report.ok:
                raise runlite.CorruptStoreError(f"verify: {report.problems[:3]}")
            return "verify ok"
    raise AssertionError(action)


def _one(case: dict) -> dict:
    """Do ``case["action"]`` in this (forked) process; what came back, with its RSS figures."""
    faulthandler.dump_traceback_later(120, exit=True)  # a hang ends the process, with tracebacks
    baseline = forked.rss_kib()
    try:
        value = _do(case["action"], case)
        result = {"outcome": "ok", "value": repr(value)[:200]}
    except runlite.RunliteError as exc:
        result = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300]}
    except BaseException as exc:  # noqa: BLE001 - an escape is what this test looks for
        result = {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:300]}
    return {**result, "baseline_kib": baseline, "peak_kib": forked.rss_kib()}


def child_main(jobs_path: str) -> None:
    """Run each job in a process forked from this one (imports done once; ru_maxrss per job)."""
    faulthandler.enable()
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    print(json.dumps(forked.each_in_a_fork(jobs, _one, {"baseline_kib": 0, "peak_kib": 0})))


def run_children(jobs: list[dict], folder: str) -> list[dict]:
    os.makedirs(folder, exist_ok=True)
    return forked.run_module("tests.stress.test_hostile", jobs, os.path.join(folder, "jobs.json"), timeout=600)


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-good")
    path, dest = str(folder / "good.db"), str(folder / "dest.db")
    info = build_good(path)
    with runlite.open(dest) as store:  # a merge destination with data of its own
        run = store.init("mine")
        run.log_metrics({"x": 1.0})
        run.attach("mine.txt", b"my own bytes", "text/plain")
        run.close()
    return {"path": path, "dest": dest, **info}


def run_cases(good: dict, tmp_path, cases: list[tuple]) -> list[dict]:
    """``cases``: (name, plant(path), actions[, prepare(folder)]); each action runs in a process of its own."""
    jobs = []
    for i, (name, plant, actions, *prepare) in enumerate(cases):
        planted = str(tmp_path / f"{i:02d}.db")
        shutil.copy(good["path"], planted)
        plant(planted)
        for j, action in enumerate(actions):
            folder = tmp_path / f"{i:02d}-{j}"
            (folder / "restored").mkdir(parents=True)
            path, dest = str(folder / "hostile.db"), str(folder / "dest.db")
            shutil.copy(planted, path)
            shutil.copy(good["dest"], dest)
            for step in prepare:  # what the case needs next to the file (links in the restore folder)
                step(str(folder))
            jobs.append({"name": name, "action": action, "path": path, "dest": dest, "run": good["run"],
                         "restore_dest": str(folder / "restored"), "folder": str(folder)})
    halves = [jobs[0::2], jobs[1::2]]  # two children at a time: the machine has two cores
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda part: run_children(part, str(tmp_path / f"jobs{id(part)}")) if part else [],
                             halves))
    rows = []
    for case, result in zip(halves[0] + halves[1], done[0] + done[1]):
        growth = max(0, result["peak_kib"] - result["baseline_kib"]) / 1024
        rows.append({**case, **result, "growth_mib": growth})
    return rows


def record(guarantee, scenario: str, rows: list[dict], extra_failures: int = 0) -> list[dict]:
    """Record the table row; return the rows that broke a promise (not refused, or over the bound)."""
    bad = [r for r in rows if r["outcome"] != "refused" or r["growth_mib"] > RSS_BOUND_MIB]
    worst = max(rows, key=lambda r: r["growth_mib"])
    guarantee(scenario, rounds=len(rows), failures=len(bad) + extra_failures,
              note=f"{len(rows)} (case, action) pairs, each refused with a RunliteError "
                   f"({', '.join(sorted({r.get('error', '?') for r in rows if r['outcome'] == 'refused'}))}); "
                   f"peak RSS growth max {worst['growth_mib']:.1f} MiB ({worst['name']}: {worst['action']}), "
                   f"bound {RSS_BOUND_MIB} MiB")
    for r in rows:
        print(f"{r['name']:45} {r['action']:35} {r['outcome']:8} {r.get('error', ''):20} "
              f"+{r['growth_mib']:6.1f} MiB")
    return bad


def _brief(rows: list[dict]) -> list[tuple]:
    return [(r["name"], r["action"], r["outcome"], r.get("error"), r.get("message", "")[:300],
             round(r["growth_mib"], 1)) for r in rows]


def test_hostile_schemas_are_refused(good, tmp_path, guarantee):
    attached = tmp_path / "attached.db"

    def attach_row(path):
        plant_schema_row(path, "view", "evil", f"ATTACH DATABASE '{attached}' AS evil")

    every = ("open untrusted", "merge", "open normal")
    cases = [
        ("view calling a function", lambda p: plant_schema(
            p, "CREATE VIEW sneaky AS SELECT randomblob(1000000000) AS x, zeroblob(1000000000) AS y"), every),
        ("trigger calling a function", lambda p: plant_schema(
            p, "CREATE TRIGGER sneaky AFTER INSERT ON folders BEGIN SELECT randomblob(1000000000);"
               " DELETE FROM blobs; END"), every),
        ("generated column calling a function", lambda p: plant_schema(
            p, "ALTER TABLE runs ADD COLUMN g AS (zeroblob(1000000000))"), every),
        ("index on an expression calling a function", lambda p: plant_schema(
            p, "CREATE INDEX sneaky ON runs(length(hex(upper(name))))"), every),
        ("ATTACH in the schema", attach_row, every),
        ("page_size field claims 65536", lambda p: plant_page_size(p, 1), every),
        ("page_size field invalid (3)", lambda p: plant_page_size(p, 3), every),
        ("extra table", lambda p: plant_schema(p, "CREATE TABLE extra (payload BLOB)"),
         ("open untrusted", "merge", "open normal")),
    ]
    rows = run_cases(good, tmp_path, cases)
    bad = record(guarantee, "hostile schemas (views, triggers, generated columns, ATTACH, page_size)", rows,
                 int(attached.exists()))
    assert not bad, _brief(bad)
    assert not attached.exists(), "a file named in the schema was attached"
    with runlite.open(good["dest"], read_only=True) as dest:  # merges into copies: the original is as it was
        assert [r.name for r in dest.runs()] == ["mine"]


def test_huge_sizes_and_zstd_bombs_are_refused_with_bounded_memory(good, tmp_path, guarantee):
    cases = []
    blob_actions = ("read_attachment", "open_attachment", "restore", "verify", "merge, then read_attachment")
    chunk_actions = ("metric_values", "metric_stats", "verify", "merge, then metric_values")
    for name, make in _bomb_cases().items():
        def plant_in_blob(path, make=make):
            frame = make()
            declared = zstandard.frame_content_size(frame) if len(frame) >= 18 else -1
            size = declared if declared > 0 else len(ATTACHMENT)  # the row "agrees" with the frame
            plant_blob(path, [frame], [size])

        def plant_in_chunk(path, make=make):
            plant_chunk(path, chunk_header(300) + make())

        cases.append((f"attachment: {name}", plant_in_blob, blob_actions))
        cases.append((f"chunk: {name}", plant_in_chunk, chunk_actions))
    cases += [
        ("attachment: blob declares 1 TiB", lambda p: plant_blob(p, [frame_of(ATTACHMENT)], [TIB]),
         blob_actions),
        ("attachment: blob declares 2**31 parts", lambda p: plant_blob(
            p, [frame_of(ATTACHMENT)], [len(ATTACHMENT)], parts=1 << 31), blob_actions),
        ("attachment: part size stored as text", lambda p: plant_blob(  # 2 parts: decoded on threads
            p, [frame_of(ATTACHMENT[:2560]), frame_of(ATTACHMENT[2560:])], ["2560 bytes", 2560],
            blob_size=len(ATTACHMENT)), blob_actions),
        ("attachment: largest allowed part (64 MiB of zeros)", lambda p: plant_blob(
            p, [zeros_frame(blobs.MAX_PART_SIZE)], [blobs.MAX_PART_SIZE]), blob_actions),
        # 4 parts in flight at once would be 256 MiB: reading ahead is bounded in bytes too
        ("attachment: 4 parts of 64 MiB (256 MiB)", lambda p: plant_blob(
            p, [zeros_frame(blobs.MAX_PART_SIZE)] * 4, [blobs.MAX_PART_SIZE] * 4),
         ("open_attachment", "restore", "verify")),
        ("chunk: largest allowed frame (2**20 points, 32 MiB)", lambda p: plant_chunk(
            p, chunk_header(1 << 20, times=True) + zeros_frame(16 + 32 * MIB)), chunk_actions),
    ]
    rows = run_cases(good, tmp_path, cases)
    bad = record(guarantee, "huge declared sizes and zstd bombs (attachments, metric chunks)", rows)
    assert not bad, _brief(bad)


def test_restore_refuses_path_escapes(good, tmp_path, guarantee):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"untouched")

    def names(*hostile):
        return lambda p: plant_names(p, list(hostile))

    def link_dir(folder):
        os.symlink(outside, os.path.join(folder, "restored", "link"))

    def link_file(folder):
        os.symlink(outside / "victim.txt", os.path.join(folder, "restored", "x-link"))

    cases = [
        ("name '../x'", names("../x"), ("restore",)),
        ("name 'sub/../../x'", names("sub/../../x"), ("restore",)),
        ("absolute name", names(str(outside / "victim.txt")), ("restore",)),
        ("name with a backslash", names("..\\x"), ("restore",)),
        ("name '.'", names("."), ("restore",)),
        ("empty name", names(""), ("restore",)),
        ("name through a symlinked folder", names("link/x"), ("restore",), link_dir),
        ("name that is a symlink", names("x-link"), ("restore",), link_file),
    ]
    rows = run_cases(good, tmp_path, cases)
    written = [r for r in rows if os.listdir(os.path.join(r["folder"], "restored"))
               not in ([], ["link"], ["x-link"])]
    changed = sorted(os.listdir(outside)) != ["victim.txt"] or (outside / "victim.txt").read_bytes() != b"untouched"
    bad = record(guarantee, "restore: path escapes in attachment names", rows, len(written) + int(changed))
    assert not bad, _brief(bad)
    assert not written, [(r["name"], os.listdir(os.path.join(r["folder"], "restored"))) for r in written]
    assert not changed


def test_merge_refuses_a_blob_that_does_not_hash_to_its_key(tmp_path):
    """Regression: merge copied blobs unchecked; content is deduplicated by hash, so a later
    save of the genuine content reused the foreign parts and could never be read back."""
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    genuine = b"the real model weights " * 200
    sha = hashlib.sha256(genuine).hexdigest()
    with runlite.open(src) as store:
        run = store.init("hostile")
        run.attach("x.bin", b"decoy", "application/octet-stream")
        run.close()
    conn = raw(src)
    conn.execute("PRAGMA foreign_keys=OFF")
    old = conn.execute("SELECT sha256 FROM attachments").get
    lie = frame_of(b"X" * len(genuine))  # a sound frame of other content, filed under the genuine hash
    with conn:
        conn.execute("UPDATE blob_parts SET sha256 = ?, size = ?, data = ? WHERE sha256 = ?", (sha, len(genuine), lie, old))
        conn.execute("UPDATE blobs SET sha256 = ?, size = ?, stored = ? WHERE sha256 = ?", (sha, len(genuine), len(lie), old))
        conn.execute("UPDATE attachments SET sha256 = ?, size = ? WHERE sha256 = ?", (sha, len(genuine), old))
    conn.close()
    with runlite.open(dst) as store:
        with pytest.raises(runlite.CorruptStoreError):
            store.merge(src)
        assert store.runs() == []
        run = store.init("mine")
        run.attach("weights.bin", genuine, "application/octet-stream")
        run.close()
        assert store.read_attachment(run.id, "weights.bin") == genuine


if __name__ == "__main__":
    child_main(sys.argv[1])
