"""Corrupted files: every damaged copy gives a typed RunliteError or the right data, never a crash.

One representative store (runs with metadata and tags, metric series in several chunks,
events, attachments, alerts, a trace, feedback) and a copy of it with a last transaction
still in its WAL are mutated into hundreds of copies: random byte flips anywhere, flips in
the last pages (blob and chunk payload), flips in the WAL, truncations, a zeroed header, an
empty file, garbage, other applications' SQLite files. A child process (faulthandler on, a
watchdog per copy) opens each copy normally and read-only+untrusted and reads everything
through the public API, then runs ``verify()``.

What is and is not checksum-protected: attachment bytes are SHA-256 checked, metric chunk
payloads are zstd frames with a checksum covering the chunk header too, WAL frames carry
SQLite's checksums. SQLite's own pages carry none, so a flip in a TEXT or INTEGER cell
(metadata, a name, a timestamp, a chunk's row statistics) can come back silently changed;
the test counts those cases, and whether ``verify()`` noticed, instead of hiding them.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import shutil
import subprocess
import sys
import traceback

import apsw
import pytest

import runlite
from tests.stress.conftest import count

SEED = int(os.environ.get("RUNLITE_CORRUPT_SEED", "8300"))
PER_COPY_TIMEOUT = 60  # seconds: the child's watchdog aborts (with tracebacks) past this
PAGE = 4096


# ---------------------------------------------------------------- the representative store


def _known_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def build_store(path: str, work: str) -> None:
    """Everything runlite keeps, small: about 300 KiB."""
    config = os.path.join(work, "config.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write("".join(f"layer_{i}: {{units: {i * 16}, dropout: 0.{i % 10}}}\n" for i in range(120)))
    with runlite.open(path) as store:
        run = store.init("train-resnet", metadata={"lr": 0.01, "model": "résnet-50", "layers": [1, 2, 3]},
                         tags=["baseline", "gpu"], folder="/exp/vision", description="a representative run")
        for i in range(20_000):  # CHUNK_POINTS is 8,192: three chunks per series
            run.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 20_000}, step=i, timestamp=1.7e9 + i * 0.01)
        for i in range(300):  # explicit times: chunks that store a time column
            run.log_metrics({"lr": 0.01 * 0.99 ** i}, step=i, time=i * 0.5)
        for i in range(25):
            run.log_event(f"epoch {i} done: loss={1 / (i + 1):.4f}", level="warning" if i % 7 == 0 else "info")
        run.attach("weights.bin", _known_bytes(1, 4096), "application/octet-stream")
        run.attach("notes.txt", ("notes on the run, line %d\n" * 150).encode(), "text/plain")
        run.save(config, "input")
        run.create_metric_threshold_alert("loss-high", "loss", 10.0, "is above")
        run.create_metric_range_alert("acc-range", "acc", 0.0, 0.5, "is outside range")
        run.close()
        other = store.init("eval", metadata={"split": "test"}, tags=["eval"], folder="/exp/vision")
        for i in range(500):
            other.log_metrics({"f1": (i % 17) / 17}, step=i)
        other.log_event("evaluated")
        other.attach("report.json", json.dumps({"f1": 0.5, "rows": list(range(300))}).encode(), "application/json")
        other.close()
        with runlite.trace("pipeline", "chain", inputs={"question": "why?"}, store=store,
                           tags=["trace"], metadata={"user": "ü"}) as root:
            with runlite.trace("retrieve", "retriever", inputs={"k": 3}, store=store):
                pass
            with runlite.trace("answer", "llm", inputs={"prompt": "say why"}, store=store) as llm:
                pass
        store.create_feedback(llm.id, "correctness", score=0.75, comment="mostly right")
        store.create_feedback(root.id, "thumbs", value="up")


def add_wal_transaction(path: str) -> None:
    """One more transaction left in the WAL of ``path`` (the file is copied with it, not checkpointed)."""
    store = runlite.open(path)
    try:
        with store.database.write() as conn:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        # One transaction (nested writes join it), so a damaged WAL loses all of it or none.
        with store.database.write():
            run = store.init("late", metadata={"late": True}, tags=["wal"])
            for i in range(2000):
                run.log_metrics({"late_metric": float(i)}, step=i)
            run.log_event("written last")
            run.attach("late.bin", _known_bytes(2, 3000), "application/octet-stream")
            run.close()
        shutil.copy(path, path + ".main")
        shutil.copy(path + "-wal", path + ".wal")
    finally:
        store.close()  # checkpoints the original; the copies above keep the transaction in the WAL


# ---------------------------------------------------------------- reading everything


def _value(fn):
    """``("ok", value)``, ``("error", class name)`` for a RunliteError; anything else propagates."""
    try:
        return ("ok", fn())
    except runlite.RunliteError as exc:
        return ("error", type(exc).__name__)


def plan_of(store) -> dict:
    """What to read: every run, series, attachment and trace of a sound store."""
    runs = store.runs()
    return {
        "runs": [r.id for r in runs],
        "traces": sorted({r.trace_id for r in runs}),
        "series": [(r.id, n) for r in runs for n in store.metric_names(r.id)],
        "files": [(r.id, a.name) for r in runs for a in store.attachments(r.id)],
    }


def _series(s) -> tuple:
    return (s.steps.tobytes(), s.times.tobytes(), s.timestamps.tobytes(), s.values.tobytes())


def read_all(store, plan: dict, escapes: list) -> dict:
    """Every read of the public API, keyed; an exception that is not a RunliteError goes to ``escapes``."""
    calls = {"runs": lambda: [r.to_dict() for r in store.runs()],
             "alerts": lambda: [a.to_dict() for a in store.alerts()],
             "folders": store.folders}
    for run_id in plan["runs"]:
        calls[f"get_run {run_id}"] = lambda r=run_id: store.get_run(r).to_dict()
        calls[f"events {run_id}"] = lambda r=run_id: [e.to_dict() for e in store.events(r)]
        calls[f"attachments {run_id}"] = lambda r=run_id: [a.to_dict() for a in store.attachments(r)]
        calls[f"feedback {run_id}"] = lambda r=run_id: store.feedback(r)
        calls[f"alerts {run_id}"] = lambda r=run_id: [a.to_dict() for a in store.alerts(r)]
        calls[f"metric_names {run_id}"] = lambda r=run_id: store.metric_names(r)
    for trace_id in plan["traces"]:
        calls[f"trace {trace_id}"] = lambda t=trace_id: store.trace(t).to_dict()
    for run_id, name in plan["series"]:
        calls[f"metric {run_id} {name}"] = lambda r=run_id, n=name: _series(store.metric_values(r, n))
        calls[f"summary {run_id} {name}"] = lambda r=run_id, n=name: store.metric_summary(r, n).to_dict()
    for run_id, name in plan["files"]:
        calls[f"file {run_id} {name}"] = lambda r=run_id, n=name: store.read_attachment(r, n)
    out = {}
    for key, fn in calls.items():
        try:
            out[key] = _value(fn)
        except BaseException as exc:  # noqa: BLE001 - the very thing this test looks for
            escapes.append({"call": key, "error": type(exc).__name__, "message": str(exc)[:300],
                            "traceback": traceback.format_exc()[-3000:]})
            out[key] = ("escape", type(exc).__name__)
    return out


def _verify(store, escapes: list):
    try:
        report = store.verify()
        return "ok" if report.ok else "problems"
    except runlite.RunliteError as exc:
        return f"raised {type(exc).__name__}"
    except BaseException as exc:  # noqa: BLE001
        escapes.append({"call": "verify", "error": type(exc).__name__, "message": str(exc)[:300],
                        "traceback": traceback.format_exc()[-3000:]})
        return "escape"


def examine(path: str, mode: str, plan: dict, expected: list[dict]) -> dict:
    """Open ``path`` in ``mode``, read everything, verify; classify against the expected snapshots."""
    escapes: list = []
    try:
        store = (runlite.open(path, read_only=True, untrusted=True) if mode == "untrusted"
                 else runlite.open(path))
    except runlite.RunliteError as exc:
        return {"outcome": "refused at open", "error": type(exc).__name__, "escapes": []}
    except BaseException as exc:  # noqa: BLE001
        return {"outcome": "escape", "escapes": [{"call": "open", "error": type(exc).__name__,
                                                  "message": str(exc)[:300],
                                                  "traceback": traceback.format_exc()[-3000:]}]}
    try:
        data = read_all(store, plan, escapes)
        verified = _verify(store, escapes)
    finally:
        try:
            store.close()
        except BaseException as exc:  # noqa: BLE001
            escapes.append({"call": "close", "error": type(exc).__name__, "message": str(exc)[:300],
                            "traceback": traceback.format_exc()[-3000:]})
    result = {"verify": verified, "escapes": escapes}
    if escapes:
        return {**result, "outcome": "escape"}
    if mode == "normal" and data["runs"] == ("ok", []) and data["folders"] == ("ok", []):
        # An empty file opened for writing is a new store (as a path that does not exist is).
        return {**result, "outcome": "opened as a new store"}
    if any(data == alternative for alternative in expected):
        return {**result, "outcome": "identical" if verified == "ok" else "verify reported"}
    reference = expected[0]
    differs = sorted(k for k, v in data.items() if v[0] == "ok" and v != reference.get(k)
                     and all(v != alt.get(k) for alt in expected))
    errors = sorted({v[1] for v in data.values() if v[0] == "error"} - {
        v[1] for alt in expected for v in alt.values() if v[0] == "error"})
    if differs:
        caught = verified != "ok"
        return {**result, "outcome": "differs, verify caught" if caught else "differs, verify missed",
                "differs": differs, "errors": errors}
    return {**result, "outcome": "error on read", "errors": errors}


def snapshot(path: str, plan: dict | None = None) -> tuple[dict, dict]:
    """(plan, everything read) of a sound file, read through a scratch copy."""
    scratch = path + ".scratch"
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            shutil.copy(path + suffix, scratch + suffix)
    try:
        with runlite.open(scratch) as store:
            plan = plan or plan_of(store)
            escapes: list = []
            data = read_all(store, plan, escapes)
            assert not escapes, escapes
            assert store.verify().ok
            return plan, data
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(scratch + suffix):
                os.remove(scratch + suffix)


# ---------------------------------------------------------------- mutated copies


def _flip(data: bytearray, rng: random.Random, lo: int, hi: int, n: int) -> list[int]:
    offsets = sorted(rng.randrange(lo, hi) for _ in range(n))
    for off in offsets:
        data[off] ^= rng.randrange(1, 256)  # never zero: the byte really changes
    return offsets


def _foreign(path: str, app_id: int) -> None:
    conn = apsw.Connection(path)
    conn.execute(f"PRAGMA application_id={app_id:d}")
    conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT); CREATE TABLE notes (body TEXT);"
                 "INSERT INTO runs VALUES ('r1', 'not a runlite run'); INSERT INTO notes VALUES ('hello')")
    conn.close()


def make_copies(base: str, wal_base: str, out_dir: str, n: int, rng: random.Random) -> list[dict]:
    """``n`` mutated copies under ``out_dir`` (a folder each); returns their manifest entries."""
    with open(base, "rb") as f:
        main = f.read()
    with open(wal_base + ".main", "rb") as f:
        wal_main = f.read()
    with open(wal_base + ".wal", "rb") as f:
        wal = f.read()
    fixed = ["empty", "zeroed header", "garbage small", "garbage large", "foreign app", "foreign no app id",
             "header flips", "truncate to header", "truncate mid page"]
    weighted = ["flips"] * 9 + ["payload flips"] * 5 + ["truncate"] * 2 + ["wal flips"] * 3 + ["header flips"]
    kinds = (fixed + [rng.choice(weighted) for _ in range(max(0, n - len(fixed)))])[:n]
    manifest = []
    for i, kind in enumerate(kinds):
        folder = os.path.join(out_dir, f"{i:04d}")
        os.makedirs(folder)
        path = os.path.join(folder, "store.db")
        entry = {"index": i, "kind": kind, "path": path, "expect": "base", "detail": ""}
        data, wal_data = bytearray(main), None
        if kind == "empty":
            data = bytearray()
        elif kind == "zeroed header":
            data[:100] = bytes(100)
        elif kind.startswith("garbage"):
            data = bytearray(rng.randbytes(rng.randrange(1, 4096) if kind.endswith("small")
                                           else rng.randrange(8, 64) * PAGE))
        elif kind.startswith("foreign"):
            _foreign(path, 0x0F0F0F0F if kind == "foreign app" else 0)
            data = None
        elif kind == "header flips":
            entry["detail"] = _flip(data, rng, 0, 100, rng.randint(1, 3))
        elif kind == "truncate to header":
            data = data[:100]
        elif kind == "truncate mid page":
            data = data[:PAGE * rng.randrange(1, len(data) // PAGE) + rng.randrange(1, PAGE)]
        elif kind == "truncate":
            cut = rng.randrange(1, len(data))
            entry["detail"] = cut
            data = data[:cut]
        elif kind == "flips":
            entry["detail"] = _flip(data, rng, 0, len(data), rng.randint(1, 16))
        elif kind == "payload flips":  # the last quarter of the pages: overflow pages of blobs and chunks
            entry["detail"] = _flip(data, rng, len(data) * 3 // 4, len(data), rng.randint(1, 16))
        elif kind == "wal flips":
            data, wal_data = bytearray(wal_main), bytearray(wal)
            entry["detail"] = _flip(wal_data, rng, 32, len(wal_data), rng.randint(1, 16))
            entry["expect"] = "wal"
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        if wal_data is not None:
            with open(path + "-wal", "wb") as f:
                f.write(wal_data)
        manifest.append(entry)
    return manifest


# ---------------------------------------------------------------- the child process


def child_main(manifest_path: str, results_path: str, progress_path: str) -> None:
    faulthandler.enable()
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    plan, base_data = snapshot(manifest["base"])
    wal_plan, wal_data = snapshot(manifest["wal_base"])
    _, wal_dropped = snapshot(manifest["base"], wal_plan)  # the WAL's transaction lost whole
    expectations = {"base": (plan, [base_data]), "wal": (wal_plan, [wal_data, wal_dropped])}
    originals = {k: v for k, v in {**base_data, **wal_data}.items() if k.startswith("file ")}
    with open(results_path, "w", encoding="utf-8") as out, open(progress_path, "w", encoding="utf-8") as progress:
        for entry in manifest["copies"]:
            progress.write(json.dumps(entry) + "\n")
            progress.flush()
            faulthandler.dump_traceback_later(PER_COPY_TIMEOUT, exit=True)
            copy_plan, expected = expectations[entry["expect"]]
            row = {"index": entry["index"], "kind": entry["kind"], "detail": entry["detail"]}
            for mode in ("untrusted", "normal"):  # untrusted first: read-only leaves the copy as it is
                row[mode] = examine(entry["path"], mode, copy_plan, expected)
            row["wrong_files"] = _wrong_files(entry["path"], copy_plan, originals)
            faulthandler.cancel_dump_traceback_later()
            out.write(json.dumps(row) + "\n")
            out.flush()
            shutil.rmtree(os.path.dirname(entry["path"]), ignore_errors=True)
        import resource
        out.write(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}) + "\n")


def _wrong_files(path: str, plan: dict, originals: dict) -> list[str]:
    """Attachments read without error whose bytes differ from the originals (must never happen)."""
    wrong = []
    try:
        store = runlite.open(path, read_only=True) if os.path.exists(path) else None
    except runlite.RunliteError:
        return wrong
    if store is None:
        return wrong
    with store:
        for run_id, name in plan["files"]:
            try:
                data = store.read_attachment(run_id, name)
                with store.open_attachment(run_id, name) as stream:
                    streamed = stream.read()
            except runlite.RunliteError:
                continue
            except BaseException:  # noqa: BLE001 - reported by examine() already
                continue
            if ("ok", data) != originals.get(f"file {run_id} {name}") or streamed != data:
                wrong.append(f"{run_id} {name}")
    return wrong


# ---------------------------------------------------------------- the test


def _copies() -> int:
    return count(60, 400)


def test_corrupted_copies_give_typed_errors_or_right_data(tmp_path, guarantee):
    base, wal_base = str(tmp_path / "base.db"), str(tmp_path / "wal" / "store.db")
    build_store(base, str(tmp_path))
    os.makedirs(os.path.dirname(wal_base))
    shutil.copy(base, wal_base)
    add_wal_transaction(wal_base)
    rng = random.Random(SEED)
    copies_dir = tmp_path / "copies"
    copies_dir.mkdir()
    manifest = {"base": base, "wal_base": wal_base,
                "copies": make_copies(base, wal_base, str(copies_dir), _copies(), rng)}
    manifest_path, results_path, progress_path = (str(tmp_path / n) for n in
                                                  ("manifest.json", "results.jsonl", "progress.jsonl"))
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    limit = 120 + 5 * len(manifest["copies"])
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.stress.test_corruption", manifest_path,
                               results_path, progress_path], env={**os.environ, "PYTHONPATH": os.getcwd()},
                              capture_output=True, text=True, timeout=limit)
        returncode, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, stderr = "timeout", (exc.stderr or b"").decode(errors="replace")
    rows = _read_rows(results_path)
    peak = rows.pop()["peak_rss_kib"] if rows and "peak_rss_kib" in rows[-1] else None
    summary = summarize(rows)
    crashed = returncode != 0
    last = _last_line(progress_path) if crashed else None
    failures = (summary["escaped"] + summary["wrong files"] + (summary["wal copies"] - summary["wal copies whole"])
                + (1 if crashed else 0))
    guarantee("corrupted files: typed error or right data", rounds=len(rows) * 2, failures=failures,
              note=_note(summary, peak))
    print(json.dumps(summary, indent=1))
    assert not crashed, f"child exit {returncode} on copy {last}:\n{stderr[-5000:]}"
    assert len(rows) == len(manifest["copies"])
    assert summary["escaped"] == 0, summary["escape examples"]
    assert summary["wrong files"] == 0, summary["wrong file examples"]
    assert summary["wal copies whole"] == summary["wal copies"]  # WAL frames are checksummed: all or nothing


# ---------------------------------------------------------------- regressions found by the copies


def _damage(path: str, sql: str, params: tuple = ()) -> None:
    """Change cells the way a flipped byte can, without runlite's policy or the file's triggers."""
    conn = apsw.Connection(path)
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
    conn.execute(sql, params)
    conn.close()


def _small_store(path: str) -> str:
    with runlite.open(path) as store:
        run = store.init("r", tags=["a"], metadata={"k": 1})
        run.log_metrics({"x": 1.0})
        run.add_event("tool", payload=1)
        run.create_metric_threshold_alert("x-high", "x", 10.0, "is above")
        run.close()
        store.create_feedback(run.id, "score", value="good")
        return run.id


@pytest.mark.parametrize("sql, read", [
    ("UPDATE runs SET tags = '[\"a'", lambda s, r: s.get_run(r).to_dict()),
    ("UPDATE runs SET metadata = '{\"k\": 1'", lambda s, r: s.runs()[0].metadata),
    ("UPDATE runs SET ls_fields = '[1]'", lambda s, r: s.get_run(r).to_dict()),
    ("UPDATE runs SET created = 9223372036854775807", lambda s, r: s.get_run(r).to_dict()),
    ("UPDATE runs SET ended = 'yesterday'", lambda s, r: s.trace(r).to_dict()),
    ("UPDATE alerts SET definition = '{\"metric\": '", lambda s, r: s.alerts(r)),
    ("UPDATE events SET kwargs = '{'", lambda s, r: s.events(r)),
    ("UPDATE events SET time = -9223372036854775807", lambda s, r: s.events(r)),
    # A flipped type byte turns TEXT into another type; a BLOB is the one SQL can plant past affinity.
    ("UPDATE events SET kwargs = x'7b7d'", lambda s, r: s.events(r)),
    ("UPDATE feedback SET value = x'3132'", lambda s, r: s.feedback(r)),
    ("UPDATE alerts SET definition = x'7b7d'", lambda s, r: s.alerts()),
    ("UPDATE folders SET tags = x'5b5d'", lambda s, r: s.folder("/")),
    ("UPDATE chunks SET data = 7", lambda s, r: s.metric_values(r, "x")),
    ("UPDATE chunks SET data = x'01'", lambda s, r: s.metric_values(r, "x")),
])
def test_undecodable_cells_give_corrupt_store_error(tmp_path, sql, read):
    """A damaged cell (no SQLite page checksum catches it) is a CorruptStoreError, not a ValueError."""
    path = str(tmp_path / "s.db")
    run_id = _small_store(path)
    _damage(path, sql)
    for options in ({}, {"read_only": True, "untrusted": True}):
        with runlite.open(path, **options) as store:
            with pytest.raises(runlite.CorruptStoreError):
                read(store, run_id)


def test_negative_schema_version_gives_corrupt_store_error(tmp_path):
    path = str(tmp_path / "s.db")
    _small_store(path)
    _damage(path, "PRAGMA user_version = -5")
    for options in ({}, {"read_only": True}, {"read_only": True, "untrusted": True}):
        with pytest.raises(runlite.CorruptStoreError):
            runlite.open(path, **options)


def _read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _last_line(path: str) -> str | None:
    rows = _read_rows(path)
    return json.dumps(rows[-1]) if rows else None


def summarize(rows: list[dict]) -> dict:
    """Outcome counts per mode, escapes, wrong data, verify caught/missed."""
    outcomes: dict[str, dict[str, int]] = {"untrusted": {}, "normal": {}}
    escapes, silent_metrics, silent_other, wrong_files, escaped, wal, wal_whole = [], 0, 0, [], 0, 0, 0
    for row in rows:
        if row["kind"] == "wal flips":
            wal += 1
            wal_whole += all(row[m]["outcome"] == "identical" for m in ("untrusted", "normal"))
        for mode in ("untrusted", "normal"):
            result = row[mode]
            outcomes[mode][result["outcome"]] = outcomes[mode].get(result["outcome"], 0) + 1
            escaped += result["outcome"] == "escape"
            for esc in result["escapes"]:
                escapes.append({"copy": row["index"], "kind": row["kind"], "detail": row["detail"],
                                "mode": mode, **esc})
            differs = result.get("differs", [])
            if any(k.startswith(("metric ", "summary ")) for k in differs):
                silent_metrics += 1
            if any(not k.startswith(("metric ", "summary ")) for k in differs):
                silent_other += 1
        if row["wrong_files"]:
            wrong_files.append({"copy": row["index"], "kind": row["kind"], "files": row["wrong_files"]})
    caught = sum(o.get("differs, verify caught", 0) for o in outcomes.values())
    missed = sum(o.get("differs, verify missed", 0) for o in outcomes.values())
    return {"copies": len(rows), "outcomes": outcomes, "escaped": escaped, "escape examples": escapes[:5],
            "wal copies": wal, "wal copies whole": wal_whole,
            "wrong files": len(wrong_files), "wrong file examples": wrong_files[:5],
            "silent metric differences": silent_metrics, "silent other differences": silent_other,
            "verify caught": caught, "verify missed": missed}


def _note(summary: dict, peak_kib: int | None) -> str:
    def counts(mode):
        return ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"][mode].items()))

    peak = f"; child peak RSS {peak_kib / 1024:.0f} MiB" if peak_kib else ""
    return (f"seed {SEED}, {summary['copies']} copies x (untrusted, normal) open. untrusted: {counts('untrusted')}. "
            f"normal: {counts('normal')}. Checksummed, never wrong: attachment bytes (SHA-256; wrong: "
            f"{summary['wrong files']}); WAL flips: {summary['wal copies whole']} of {summary['wal copies']} copies "
            f"read as the file with or without its last transaction. Not checksummed (SQLite cells: metadata, "
            f"names, times, chunk rows' statistics and positions), read back silently changed: metric values or "
            f"summaries in {summary['silent metric differences']} opens, other fields in "
            f"{summary['silent other differences']}; verify() caught {summary['verify caught']} of these opens, "
            f"missed {summary['verify missed']}{peak}")


if __name__ == "__main__":
    child_main(*sys.argv[1:4])
