"""Restore must not escape or half-write; hostile part sizes are refused before anything inflates.

Each case prepares a copy of a sound runlite file (edited with a raw SQLite connection, as an
attacker would) and a destination folder (with links or files planted in it), then a child
process does one thing (restore the run's files from the file opened untrusted, verify it,
merge it, read the attachment) and reports what was raised, its seconds, the bytes it
passed to write() (``wchar`` of /proc/self/io) and its peak RSS (``ru_maxrss``) against its
RSS after setup. Each child may write no file larger than ``FSIZE_CAP`` (RLIMIT_FSIZE), so a
restore that would fill the disk fails early instead. The parent then compares the
destination folder and a folder standing for "outside" with what they held before.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import shutil
import stat
import sys
import time

import pytest
import zstandard

import runlite
from runlite.storage import attachments, blobs
from tests.stress.conftest import check_file, count, plant_names, raw
from tests.stress import forked

MIB = 1 << 20
RSS_BOUND_MIB = 160  # a case may grow the child's peak RSS by at most this much
SECONDS_BOUND = 3.0  # an action refused before inflating takes well under a second
WRITE_BOUND = 32 * MIB  # bytes a refused action may pass to write() (merge writes its journal)
FSIZE_CAP = 512 * MIB  # no child may write a larger file: a runaway restore stops there
FIRST = b"the first file, restored before the others\n" * 10
ATTACHMENT = bytes(range(256)) * 20  # 5,120 known bytes
HUGE_PARTS = count(128, 400)  # parts of 64 MiB of zeros: 8 GiB declared (the 400: 25 GiB)
LYING_PARTS = count(16, 256)  # 1 MiB parts of zeros, laid out as runlite writes, filed under another hash


# ---------------------------------------------------------------- the sound file and the plants


def build_good(path: str) -> str:
    with runlite.open(path) as store:
        run = store.init("victim")
        run.attach("0-first.txt", FIRST, "text/plain")
        run.attach("a.bin", ATTACHMENT, "application/octet-stream")
        run.close()
        return run.id


@functools.lru_cache(maxsize=None)
def zeros_frame(size: int) -> bytes:
    return zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True).compress(bytes(size))


def plant_parts(path: str, part_size: int, parts: int, *, rename: str | None = None) -> None:
    """Replace a.bin's blob by ``parts`` frames of ``part_size`` zeros, every row agreeing."""
    frame = zeros_frame(part_size)
    conn = raw(path)
    sha = conn.execute("SELECT sha256 FROM attachments WHERE name = 'a.bin'").get
    with conn:
        conn.execute("DELETE FROM blob_parts WHERE sha256 = ?", (sha,))
        conn.executemany("INSERT INTO blob_parts (sha256, seq, size, data) VALUES (?, ?, ?, ?)",
                         ((sha, seq, part_size, frame) for seq in range(parts)))
        conn.execute("UPDATE blobs SET size = ?, stored = ?, parts = ? WHERE sha256 = ?",
                     (part_size * parts, len(frame) * parts, parts, sha))
        conn.execute("UPDATE attachments SET size = ? WHERE sha256 = ?", (part_size * parts, sha))
        if rename:
            conn.execute("UPDATE attachments SET name = ? WHERE name = 'a.bin'", (rename,))
    conn.close()


# ---------------------------------------------------------------- the child process


def _wchar() -> int:
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))
    except (OSError, StopIteration):
        return 0


def _do(job: dict):
    if job["action"] == "merge":
        return runlite.merge(job["dest_db"], job["path"])
    with runlite.open(job["path"], read_only=True, untrusted=True) as store:
        if job["action"] == "restore":
            return store.restore(job["run"], job["restored"])
        if job["action"] == "verify":
            report = store.verify()
            if not report.ok:
                raise runlite.CorruptStoreError(f"verify: {report.problems[:2]}")
            return "verify ok"
        if job["action"] == "read_attachment":
            return len(store.read_attachment(job["run"], "a.bin"))
        if job["action"] == "open_attachment":
            with store.open_attachment(job["run"], "a.bin") as stream:
                return sum(len(piece) for piece in iter(lambda: stream.read(MIB), b""))
    raise AssertionError(job["action"])


def _one(job: dict) -> dict:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_CAP, FSIZE_CAP))  # Python ignores SIGXFSZ: EFBIG
    baseline, written, start = forked.rss_kib(), _wchar(), time.perf_counter()
    try:
        result = {"outcome": "ok", "value": repr(_do(job))[:200]}
    except runlite.RunliteError as exc:
        result = {"outcome": "refused", "error": type(exc).__name__, "message": str(exc)[:300]}
    except BaseException as exc:  # noqa: BLE001 - an escape is what this test looks for
        result = {"outcome": "escape", "error": type(exc).__name__, "message": str(exc)[:300]}
    return {**result, "seconds": time.perf_counter() - start, "written": _wchar() - written,
            "growth_mib": max(0, forked.rss_kib() - baseline) / 1024}


def child_main(jobs_path: str) -> None:
    """Each job in a process forked from this one (imports done once; ru_maxrss per job)."""
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    print(json.dumps(forked.each_in_a_fork(jobs, _one, {"seconds": 0, "written": 0, "growth_mib": 0})))


# ---------------------------------------------------------------- running cases


def snapshot(folder: str) -> dict:
    """Everything below ``folder``, links read and never followed: path -> what it is."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                out[os.path.relpath(path, folder)] = ("link", os.readlink(path))
            elif stat.S_ISDIR(mode):
                out[os.path.relpath(path, folder)] = ("dir",)
            else:
                with open(path, "rb") as f:
                    out[os.path.relpath(path, folder)] = ("file", hashlib.sha256(f.read()).hexdigest())
    return out


def file_entry(data: bytes) -> tuple:
    return ("file", hashlib.sha256(data).hexdigest())


RESTORED = {"0-first.txt": file_entry(FIRST), "a.bin": file_entry(ATTACHMENT)}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("restore-good")
    path, dest_db = str(folder / "good.db"), str(folder / "dest.db")
    run = build_good(path)
    with runlite.open(dest_db) as store:
        mine = store.init("mine")
        mine.attach("mine.txt", b"my own bytes", "text/plain")
        mine.close()
    return {"path": path, "dest_db": dest_db, "run": run}


def run_cases(good: dict, tmp_path, cases: list[dict]) -> list[dict]:
    """Each case: name, plant(path) or None, actions, prepare(folder) or None, expect.

    ``expect`` is a set of error names (refused, the destination left as it was) or a dict
    of what restore adds to the destination (path -> entry)."""
    jobs = []
    for i, case in enumerate(cases):
        planted = str(tmp_path / f"{i:02d}.db")
        shutil.copy(good["path"], planted)
        if case.get("plant"):
            case["plant"](planted)
        for j, action in enumerate(case["actions"]):
            folder = tmp_path / f"{i:02d}-{j}"
            (folder / "restored").mkdir(parents=True)
            (folder / "outside").mkdir()
            (folder / "outside" / "victim.txt").write_bytes(b"untouched")
            path, dest_db = str(folder / "hostile.db"), str(folder / "dest.db")
            shutil.copy(planted, path)
            shutil.copy(good["dest_db"], dest_db)
            if case.get("prepare"):
                case["prepare"](str(folder))
            jobs.append({"name": case["name"], "action": action, "path": path, "dest_db": dest_db,
                         "run": good["run"], "restored": str(folder / "restored"), "folder": str(folder),
                         "before": snapshot(str(folder / "restored")), "expect": case["expect"]})
    results = forked.run_module("tests.stress.test_restore_attack",
                                [{k: v for k, v in job.items() if k not in ("before", "expect")} for job in jobs],
                                str(tmp_path / "jobs.json"), timeout=900)
    rows = []
    for job, result in zip(jobs, results):
        row = {**job, **result, "after": snapshot(job["restored"]),
               "outside": snapshot(os.path.join(job["folder"], "outside"))}
        row["problems"] = judge(row)
        rows.append(row)
        print(f"{row['name'][:50]:50} {row['action']:16} {row['outcome']:8} {row.get('error', ''):18} "
              f"{row['seconds']:6.2f} s {row['written'] / MIB:8.1f} MiB written +{row['growth_mib']:6.1f} MiB RSS"
              f"  {[p[:300] for p in row['problems']] or ''}")
    return rows


def judge(row: dict) -> list[str]:
    """The promises this row broke."""
    problems = []
    if row["outside"] != {"victim.txt": file_entry(b"untouched")}:
        problems.append(f"outside changed: {row['outside']}")
    if row["growth_mib"] > RSS_BOUND_MIB:
        problems.append(f"peak RSS grew {row['growth_mib']:.0f} MiB")
    expect = row["expect"]
    if isinstance(expect, dict):  # restore succeeds, adding (or replacing) exactly these
        if row["outcome"] != "ok":
            problems.append(f"{row['outcome']} {row.get('error')}: {row.get('message')}")
        if row["after"] != {**row["before"], **expect}:
            problems.append(f"destination holds {row['after']}")
        return problems
    if row["outcome"] != "refused" or row["error"] not in expect:
        problems.append(f"{row['outcome']} {row.get('error')} (expected one of {sorted(expect)}): "
                        f"{row.get('message')}")
    if row["after"] != row["before"]:
        problems.append(f"destination changed: {row['before']} -> {row['after']}")
    return problems


def record(guarantee, scenario: str, rows: list[dict], extra: str = "", failures: int = 0) -> list[dict]:
    bad = [r for r in rows if r["problems"]]
    slowest = max(rows, key=lambda r: r["seconds"])
    heaviest = max(rows, key=lambda r: r["growth_mib"])
    most = max(rows, key=lambda r: r["written"])
    errors_seen = sorted({r["error"] for r in rows if r["outcome"] == "refused"})
    guarantee(scenario, rounds=len(rows), failures=len(bad) + failures,
              note=f"{len(rows)} (case, action) pairs; refused with {', '.join(errors_seen) or '-'}; "
                   f"max {slowest['seconds']:.2f} s ({slowest['name']}: {slowest['action']}), "
                   f"max {most['written'] / MIB:.1f} MiB passed to write() ({most['name']}: {most['action']}), "
                   f"peak RSS growth max {heaviest['growth_mib']:.1f} MiB, bound {RSS_BOUND_MIB} MiB{extra}")
    return bad


def _brief(rows: list[dict]) -> list[tuple]:
    return [(r["name"], r["action"], [p[:300] for p in r["problems"]]) for r in rows]


# ---------------------------------------------------------------- the tests


def test_restore_refuses_links_clashes_and_long_names_before_writing(good, tmp_path, guarantee):
    def link(target_in_outside: str, where: str):
        def prepare(folder):
            path = os.path.join(folder, "restored", where)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(os.path.join(folder, "outside", target_in_outside), path)
        return prepare

    def put(where: str, data: bytes | None):  # a file, or a folder when data is None
        def prepare(folder):
            path = os.path.join(folder, "restored", where)
            if data is None:
                os.makedirs(path)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
        return prepare

    def both(*steps):
        return lambda folder: [step(folder) for step in steps]

    refused = {"ValidationError"}
    too_long = {"LimitError"}
    deep = "/".join(["y" * 254] * 16)  # 4,079 characters: a stored name, but with dest no usable path
    cases = [
        {"name": "stale a.bin.runlite-partial link to a new file outside", "actions": ["restore"],
         "prepare": link("stolen.bin", "a.bin.runlite-partial"), "expect": RESTORED},
        {"name": "stale a.bin.runlite-partial link to a file outside", "actions": ["restore"],
         "prepare": link("victim.txt", "a.bin.runlite-partial"), "expect": RESTORED},
        {"name": "names 'a' and 'a/b'", "actions": ["restore"], "plant": lambda p: plant_names(p, ["a", "a/b"]),
         "expect": refused},
        {"name": "a 300-character segment", "actions": ["restore"],
         "plant": lambda p: plant_names(p, ["x" * 300]), "expect": too_long},
        {"name": "a path longer than the file system takes", "actions": ["restore"],
         "plant": lambda p: plant_names(p, [deep]), "expect": too_long},
        {"name": "a link in a folder of dest (d/e -> outside)", "actions": ["restore"],
         "plant": lambda p: plant_names(p, ["d/e/x"]), "prepare": link("", "d/e"), "expect": refused},
        {"name": "a file where a folder is needed", "actions": ["restore"],
         "plant": lambda p: plant_names(p, ["f/x"]), "prepare": put("f", b"a file"), "expect": refused},
        {"name": "a folder where a file goes", "actions": ["restore"], "prepare": put("a.bin", None),
         "expect": refused},
        {"name": "a file that is a link to outside", "actions": ["restore"], "prepare": link("victim.txt", "a.bin"),
         "expect": refused},
        {"name": "replaces a file, leaves an unrelated link alone", "actions": ["restore"],
         "prepare": both(put("a.bin", b"old"), link("victim.txt", "zz-link")), "expect": RESTORED},
    ]
    rows = run_cases(good, tmp_path, cases)
    swapped = swapped_folder_during_restore(good, tmp_path / "swap")
    bad = record(guarantee, "restore: stale links, links and files under dest, clashing and overlong names",
                 rows, extra=f"; a folder swapped for a link after the checks: {swapped or 'refused, nothing written'}",
                 failures=int(bool(swapped)))
    assert not bad, _brief(bad)
    assert not swapped, swapped
    check_file(good["path"])


def swapped_folder_during_restore(good: dict, folder) -> str:
    """The checks pass, then dest/d becomes a link to outside before the write: the write,
    which opens every folder without following links, must refuse and leave nothing."""
    folder.mkdir()
    dest, outside = folder / "restored", folder / "outside"
    (dest / "d").mkdir(parents=True)
    outside.mkdir()
    path = str(folder / "swap.db")
    shutil.copy(good["path"], path)
    plant_names(path, ["d/x"])
    with runlite.open(path, read_only=True) as store:
        with store.database.read() as conn:
            items = attachments.restorable(conn, good["run"], None)
        root, planned = attachments.plan_restore(str(dest), items)
        os.rmdir(dest / "d")
        os.symlink(outside, dest / "d")
        try:
            attachments.write_restore(root, planned, lambda item: open_blob(store, item))
        except runlite.ValidationError:
            pass
        else:
            return "written through the link"
    if os.listdir(outside):
        return f"outside holds {os.listdir(outside)}"
    if sorted(os.listdir(dest)) != ["d"]:
        return f"dest holds {sorted(os.listdir(dest))}"
    return ""


def open_blob(store, item):
    def fetch(seq):
        with store.database.read() as conn:
            return blobs.part(conn, item.sha256, seq)
    return blobs.open_reader(fetch, item.sha256, item.size, item.parts)


def test_huge_declared_parts_are_refused_before_inflating(good, tmp_path, guarantee):
    """The issue's archive: parts of 64 MiB of zeros (a few KiB each), every size agreeing."""
    cases = [{"name": f"{HUGE_PARTS} parts of 64 MiB of zeros", "plant": lambda p: plant_parts(p, 64 * MIB, HUGE_PARTS),
              "actions": ["restore", "verify", "merge", "read_attachment", "open_attachment"],
              "expect": {"CorruptStoreError", "LimitError"}}]  # LimitError: over read_attachment's max_size
    rows = run_cases(good, tmp_path, cases)
    for row in rows:
        if row["seconds"] > SECONDS_BOUND:
            row["problems"].append(f"took {row['seconds']:.1f} s")
        if row["written"] > WRITE_BOUND:
            row["problems"].append(f"passed {row['written'] / MIB:.0f} MiB to write()")
    merged = next(r for r in rows if r["action"] == "merge")
    with runlite.open(merged["dest_db"], read_only=True) as dest:  # the refused merge changed nothing
        merged_into = [r.name for r in dest.runs()]
    size = os.path.getsize(str(tmp_path / "00.db"))
    bad = record(guarantee, f"declared parts beyond what runlite writes ({HUGE_PARTS} x 64 MiB of zeros, "
                            f"{size / MIB:.1f} MiB file)", rows, failures=int(merged_into != ["mine"]),
                 extra=f"; bounds {SECONDS_BOUND:.0f} s and {WRITE_BOUND // MIB} MiB written per action")
    assert not bad, _brief(bad)
    assert merged_into == ["mine"]
    check_file(merged["dest_db"])


def test_restore_is_all_or_nothing(good, tmp_path, guarantee):
    """Content that fails its hash only at the end, and more than the disk holds: whatever
    was restored before is not left behind, and what dest held is as it was."""
    free = shutil.disk_usage(str(tmp_path)).free
    beyond = free // MIB + max(1024, free // MIB // 20)  # 1 MiB parts declaring more than is free
    cases = [
        {"name": f"a blob whose content fails its hash ({LYING_PARTS} MiB of zeros)", "actions": ["restore"],
         "plant": lambda p: plant_parts(p, MIB, LYING_PARTS, rename="sub/a.bin"),
         "prepare": lambda folder: open(os.path.join(folder, "restored", "0-first.txt"), "wb").write(b"old"),
         "expect": {"CorruptStoreError"}},
    ]
    skipped = ""
    if beyond <= 400_000:  # a file of about 100 bytes per part
        cases.append({"name": f"declares more than the free space ({beyond:,} x 1 MiB)", "actions": ["restore"],
                      "plant": lambda p: plant_parts(p, MIB, beyond), "expect": {"StoreFullError"}})
    else:
        skipped = f"; free-space case skipped ({free / 2**30:.0f} GiB free)"
    rows = run_cases(good, tmp_path, cases)
    for row in rows:
        if row["expect"] == {"StoreFullError"} and row["written"] > WRITE_BOUND:
            row["problems"].append(f"passed {row['written'] / MIB:.0f} MiB to write() before refusing")
    bad = record(guarantee, "restore: content failing its hash, more than the free space: nothing left", rows,
                 extra=skipped)
    assert not bad, _brief(bad)
    check_file(good["path"])


if __name__ == "__main__":
    child_main(sys.argv[1])
