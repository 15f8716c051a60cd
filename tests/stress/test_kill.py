"""kill -9 at random moments: while logging, during a flush, a merge, a pack and a migration.

A child process (tests/stress/killer.py) does the work and prints an acknowledgement line after
every call returns; the parent sends SIGKILL at a random moment, then checks the file: it opens,
integrity_check and verify pass (``check_file``), and the scenario's promise holds:

- logging: every metric and event acknowledged more than FLUSH_INTERVAL before the kill is in
  the file, the stored steps are a prefix (no flush half-written), and every file saved or
  attached is there with its exact bytes once the call returned (``run.save``/``run.attach``
  commit their own write transaction before returning: nothing of theirs is buffered);
- a flush is all or nothing: every series and the events hold the same records;
- a merge leaves the destination as it was before or as it is after, never a mix;
- a pack (VACUUM in place) changes no logical content; ``pack(dest=...)`` leaves either no file
  at ``dest`` or a complete copy (it writes ``dest.<random>.runlite-partial`` and renames);
- a migration leaves the file at the old schema version (and runlite.open migrates it later)
  or at the new one with everything migrated, never a mix; no data lost.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import apsw
import pytest

import runlite
from runlite.storage import archive, attachments as files, metric_buffer, metrics as metrics_mod, schema, schema_check
from runlite._ids import dotted_segment, uuid7
from runlite._validation import now_us
from tests.stress import killer
from tests.stress.conftest import check_file, count

ENV = {**os.environ, "PYTHONPATH": os.getcwd()}
MODES = pytest.mark.parametrize("durable", [False, True], ids=["normal", "durable"])
KILLED = -signal.SIGKILL
RNG = random.Random()  # kill moments and values; the global generator is left alone


# ---------------------------------------------------------------- the child processes


def spawn(job: str, path, durable: bool, *args, stdout=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.stress.killer", job, str(path), "1" if durable else "0", *map(str, args)],
        stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV)


def parse(text: str) -> list[tuple[str, int, float]]:
    """The acknowledgements in ``text``: ``(kind, n, epoch seconds)`` of each complete line."""
    out = []
    for line in text.split("\n")[:-1]:  # the part after the last newline is not a whole line
        kind, n, t = line.split()
        out.append((kind, int(n), float(t)))
    return out


def kill(proc: subprocess.Popen) -> float:
    """SIGKILL the child; returns the time just before the signal (the kill is no earlier)."""
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode in (KILLED, 0), f"the child failed (exit {proc.returncode}):\n{err}"
    return killed_at


def run_through(job: str, path, durable: bool, *args) -> list:
    """Run a job to its end (no kill): its acknowledgements, to time the call and get the after state."""
    proc = spawn(job, path, durable, *args)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return parse(out)


def duration(acks: list, begin: str = "start") -> float:
    """Seconds from the first ``begin`` acknowledgement to the first ``done``."""
    times: dict = {}
    for kind, _, t in acks:
        times.setdefault(kind, t)
    return times["done"] - times[begin]


def kill_inside(job: str, path, durable: bool, window: float, *args, after: str = "start") -> list:
    """Start ``job``, wait for its ``after`` acknowledgement, SIGKILL it at a random moment of the
    next ``window`` seconds; returns every acknowledgement it printed."""
    proc = spawn(job, path, durable, *args)
    acks = []
    for line in proc.stdout:
        acks += parse(line)
        if acks and acks[-1][0] == after:
            break
    time.sleep(RNG.uniform(0, window))
    kill(proc)
    acks += parse(proc.stdout.read())
    proc.stdout.close()
    assert any(kind == after for kind, _, _ in acks), f"the child never acknowledged {after!r}"
    return acks


def acked(acks: list, kind: str) -> bool:
    return any(k == kind for k, _, _ in acks)


BROKEN = (AssertionError, runlite.RunliteError, apsw.Error)


class Tally:
    """One scenario's rounds: failures, acknowledged items lost, and what broke in which round."""

    def __init__(self) -> None:
        self.rounds = self.failures = self.lost = 0
        self.problems: list[str] = []

    def check(self, check, *args):
        """Run one round's ``check`` (returns ``(lost, problems, result)``) and count it; a file
        that does not open, verify or read makes a failed round too, not an early test error."""
        self.rounds += 1
        try:
            lost, problems, result = check(*args)
        except BROKEN as exc:
            lost, problems, result = 0, [f"{type(exc).__name__}: {exc}"[:400]], None
        self.lost += lost
        self.failures += bool(problems)
        self.problems += [f"round {self.rounds - 1}: {p}" for p in problems]
        return result

    def record(self, guarantee, scenario: str, note: str) -> None:
        """The table row first, then the assertion, so a broken promise shows in the table too."""
        guarantee(scenario, rounds=self.rounds, failures=self.failures, lost=self.lost, note=note)
        assert not self.problems, self.problems


def mode(durable: bool) -> str:
    return "durable" if durable else "normal"


# ---------------------------------------------------------------- 1. logging


def check_logging(path, acks: list, killed_at: float) -> tuple[int, list[str], int]:
    """(acknowledged items missing, problems, acknowledged items checked) of a logging round."""
    check_file(path)
    cutoff = killed_at - metric_buffer.FLUSH_INTERVAL
    due = {"m": 0, "e": 0, "s": 0}  # older than the flush interval: numbers 0 .. due-1 must be there
    for kind, n, t in acks:
        if kind in due and t < cutoff:
            due[kind] = max(due[kind], n + 1)
    saved = {n for kind, n, _ in acks if kind == "f"}
    lost, problems = 0, []
    with runlite.open(path, read_only=True) as s:
        try:
            xs, ys = s.metric_values("victim", "x"), s.metric_values("victim", "y")
        except runlite.NotFoundError:  # nothing flushed yet
            xs = ys = None
        n = 0 if xs is None else len(xs)
        steps, values = list(range(n)), [float(i) for i in range(n)]
        if xs is not None and (list(xs.steps) != steps or list(xs.values) != values or list(ys.steps) != steps
                               or list(ys.values) != [-v for v in values]):
            problems.append(f"the stored metrics are not the prefix 0..{n - 1} of both series")
        lost += max(0, due["m"] - n)
        messages = [e.message for e in s.events("victim")]
        if messages != [f"e{i}" for i in range(len(messages))]:
            problems.append("the stored events are not a prefix of those logged")
        lost += max(0, due["e"] - len(messages))
        spans = {r.name: r for r in s.runs(run_type="tool")}
        lost += sum(f"s{j}" not in spans for j in range(due["s"]))
        if any(r.end_time is None or r.inputs != {"i": int(name[1:]) * killer.SPAN_EVERY}
               for name, r in spans.items()):
            problems.append("a stored span is not the whole span that was traced")
        stored = {a.name for a in s.attachments("victim")}
        for k in saved:
            if killer.file_name(k) not in stored:
                lost += 1
        for name in stored:
            k = int(name[1:].split(".")[0])
            if name != killer.file_name(k) or s.read_attachment("victim", name) != killer.payload(k):
                problems.append(f"the file {name!r} does not hold what was saved")
    if lost:
        problems.append(f"{lost} acknowledged items missing (must have steps < {due['m']}, events < {due['e']},"
                        f" spans < {due['s']}, files {sorted(saved)})")
    return lost, problems, due["m"] + due["e"] + due["s"] + len(saved)


@MODES
def test_kill_while_logging_metrics_events_and_files(tmp_path, guarantee, durable):
    tally, checked = Tally(), 0
    for r in range(count(1, 30)):
        path, out = tmp_path / f"log{r}.db", tmp_path / f"log{r}.acks"
        with open(out, "w") as f:
            proc = spawn("log", path, durable, stdout=f)
        deadline = time.time() + 60
        while "ready" not in out.read_text() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(RNG.uniform(1.2, 2.4))  # acknowledgements older than FLUSH_INTERVAL exist by then
        killed_at = kill(proc)
        acks = parse(out.read_text())
        checked += tally.check(check_logging, path, acks, killed_at) or 0
    tally.record(guarantee, f"kill -9 while logging metrics, events, spans, files ({mode(durable)})",
                 f"{checked:,} acknowledged items checked (metrics, events, spans > {metric_buffer.FLUSH_INTERVAL:g} s"
                 " before the kill; files at once)")


# ---------------------------------------------------------------- 2. during a flush


def check_flush(path, acks: list) -> tuple[int, list[str], bool]:
    """(records of acknowledged flushes missing, problems, whether an unacknowledged flush is in)."""
    check_file(path)
    flushed = sum(kind == "done" for kind, _, _ in acks) * killer.FLUSH_RECORDS
    logged = sum(kind == "start" for kind, _, _ in acks) * killer.FLUSH_RECORDS
    problems = []
    with runlite.open(path, read_only=True) as s:
        try:
            first = s.metric_values("victim", "m0")
        except runlite.NotFoundError:
            first = None
        n = 0 if first is None else len(first)
        if first is not None and (list(first.steps) != list(range(n)) or
                                  list(first.values) != [killer.flush_record(i)["m0"] for i in range(n)]):
            problems.append("series m0 is not the prefix of what was logged")
        names = s.metric_names("victim")
        if n and sorted(names) != sorted(killer.flush_record(0)):
            problems.append(f"{len(names)} of {killer.FLUSH_SERIES} series stored: a flush was half-written")
        counts = {s.metric_summary("victim", name).count for name in names}
        events = s.events("victim")
        if counts - {n} or len(events) != n:
            problems.append(f"series hold {sorted(counts)} points and {len(events)} events: a flush was half-written")
        if n > logged:
            problems.append(f"{n} records stored, only {logged} logged")
    lost = max(0, flushed - n)
    if lost:
        problems.append(f"{lost} records of acknowledged flushes missing")
    return lost, problems, n > flushed


@MODES
def test_kill_during_a_flush_is_all_or_nothing(tmp_path, guarantee, durable):
    tally, inside, kept = Tally(), 0, 0
    for r in range(count(2, 25)):
        path = tmp_path / f"flush{r}.db"
        proc = spawn("flush", path, durable)
        acks = []
        for line in proc.stdout:  # batch 1 times a flush (batch 0 also makes the series); the kill is in batch 2
            acks += parse(line)
            if acks and acks[-1][:2] == ("start", 2):
                break
        times = {(kind, n): t for kind, n, t in acks}
        assert ("done", 1) in times, proc.stderr.read()
        time.sleep(RNG.uniform(0, 1.5 * (times["done", 1] - times["start", 1])))
        kill(proc)
        acks += parse(proc.stdout.read())
        proc.stdout.close()
        killed_inside = sum(k == "done" for k, _, _ in acks) < 3
        committed = tally.check(check_flush, path, acks)
        inside += killed_inside
        kept += bool(killed_inside and committed)
    tally.record(guarantee, f"kill -9 during a flush of {killer.FLUSH_SERIES * killer.FLUSH_RECORDS:,} points"
                 f" ({mode(durable)})", f"{inside} kills before the flush returned; {kept} found it committed whole,"
                 f" {inside - kept} none of it")


# ---------------------------------------------------------------- contents compared before and after


def counts(path) -> dict:
    """run id -> (metric points, events, files): what a merge changes."""
    with runlite.open(path, read_only=True) as s, s.database.read() as conn:
        return {run_id: rest for run_id, *rest in conn.execute(
            "SELECT id, (SELECT coalesce(sum(count), 0) FROM series WHERE run_id = runs.id),"
            " (SELECT count(*) FROM events WHERE run_id = runs.id),"
            " (SELECT count(*) FROM attachments WHERE run_id = runs.id) FROM runs")}


def contents(path, names: list[str] | None = None) -> dict:
    """run id -> a digest of everything the API returns for it (runs, series, events, files),
    for every run or the runs ``names``."""
    out = {}
    with runlite.open(path, read_only=True) as s:
        for rec in s.runs() if names is None else [s.get_run(name) for name in names]:
            h = hashlib.sha256(repr((rec.name, rec.status, rec.tags, rec.metadata)).encode())
            for name in s.metric_names(rec.id):
                values = s.metric_values(rec.id, name)
                h.update(repr((name, list(values.steps), list(values.values))).encode())
            h.update(repr([(e.seq, e.message) for e in s.events(rec.id)]).encode())
            for a in s.attachments(rec.id):
                h.update(a.name.encode() + hashlib.sha256(s.read_attachment(rec.id, a.name)).digest())
            out[rec.id] = h.hexdigest()
    return out


def log_run(store, name: str, points: int, *, events: int = 20, file_size: int = 0, flushes: int = 4) -> None:
    run = store.init(name, tags=["stress"])
    for f in range(flushes):
        for i in range(f * points // flushes, (f + 1) * points // flushes):
            run.log_metrics({"a": float(i), "b": RNG.random(), "c": float(i % 7)}, step=i)
        run.flush()
    for i in range(events):
        run.log_event(f"{name} event {i}")
    if file_size:
        run.attach("data.bin", os.urandom(file_size))
    run.close()


# ---------------------------------------------------------------- 3. during a merge


@pytest.fixture(scope="module")
def merge_files(tmp_path_factory):
    """(source, dest template): the source has runs the dest lacks and runs it holds fewer points of."""
    folder = tmp_path_factory.mktemp("merge")
    source, early, dest = folder / "source.db", folder / "early.db", folder / "dest.db"
    with runlite.open(source) as s:
        runs = [s.init(f"src{k}", tags=["src"]) for k in range(15)]
        for k, run in enumerate(runs):  # these runs go on growing after the early copy
            for i in range(1_000):
                run.log_metrics({"a": float(i), "b": float(k)}, step=i)
        s.backup(str(early))
        runs += [s.init(f"src{k}", tags=["src"]) for k in range(15, 60)]
        for k, run in enumerate(runs):
            for i in range(1_000 if k < 15 else 0, 3_000):
                run.log_metrics({"a": float(i), "b": float(k)}, step=i)
            for i in range(50):
                run.log_event(f"src{k} event {i}")
            run.attach("data.bin", os.urandom(96 << 10))
            run.close()
    with runlite.open(dest) as s:
        for k in range(10):
            log_run(s, f"own{k}", 2_000)
        s.merge(str(early))
    return source, dest


@MODES
def test_kill_during_a_merge_leaves_before_or_after(tmp_path, guarantee, merge_files, durable):
    source, template = merge_files
    before = counts(template)
    finished = tmp_path / "finished.db"
    shutil.copy(template, finished)
    window = 1.2 * duration(run_through("merge", finished, durable, source))
    after = counts(finished)
    assert before != after and set(before) < set(after)

    def check(path, acks):
        check_file(path)
        state = counts(path)
        if state == after or (state == before and not acked(acks, "done")):
            return 0, [], None
        returned = " (the merge had returned)" if acked(acks, "done") else ""
        problem = f"{len(state)} runs: neither the state before ({len(before)}) nor after ({len(after)}){returned}"
        return sum(state.get(k) != v for k, v in after.items()), [problem], None

    tally, inside = Tally(), 0
    for r in range(count(2, 20)):
        path = tmp_path / f"merge{r}.db"
        shutil.copy(template, path)
        acks = kill_inside("merge", path, durable, window, source)
        inside += not acked(acks, "done")
        tally.check(check, path, acks)
    tally.record(guarantee, f"kill -9 during a merge ({mode(durable)})",
                 f"{len(after) - len(before)} runs added, 15 grown; {inside} kills before it returned")


# ---------------------------------------------------------------- 4. during a pack


@pytest.fixture(scope="module")
def pack_files(tmp_path_factory):
    """(template, its contents): runs with metrics, events and incompressible files, some deleted
    so pack has blobs to drop and pages to reclaim."""
    template = tmp_path_factory.mktemp("pack") / "pack.db"
    with runlite.open(template) as s:
        for k in range(16):
            log_run(s, f"run{k}", 6_000, file_size=384 << 10)
        s.delete_runs([r.id for r in s.runs() if r.name in ("run1", "run4", "run7", "run10", "run13")])
    return template, contents(template)


@MODES
@pytest.mark.parametrize("to_dest", [False, True], ids=["in_place", "to_dest"])
def test_kill_during_a_pack_changes_nothing(tmp_path, guarantee, pack_files, durable, to_dest):
    template, before = pack_files
    finished = tmp_path / "finished.db"
    shutil.copy(template, finished)
    acks = run_through("pack", finished, durable, tmp_path / "finished-copy.db" if to_dest else "")
    windows = {"start": 1.2 * duration(acks), "vacuum": 1.2 * duration(acks, "vacuum")}

    def check(path, dest, acks):
        """The packed file is unchanged; dest, when asked for, is absent or a complete copy."""
        check_file(path)
        state = contents(path)
        lost = sum(state.get(k) != v for k, v in before.items())
        problems = ["the packed file's contents changed"] if state != before else []
        if not to_dest:
            return lost, problems, None
        if not os.path.exists(dest):
            return lost, problems + (["pack(dest) returned but dest is missing"] if acked(acks, "done") else []), \
                "absent"
        try:
            check_file(dest)
            whole = contents(dest) == before
        except BROKEN:
            whole = False
        return lost, problems + ([] if whole else ["a partial copy is at dest"]), "complete" if whole else "partial"

    tally, inside, outcomes = Tally(), 0, {"complete": 0, "absent": 0, "partial": 0}
    for r in range(count(1, 10)):
        path, dest = tmp_path / f"pack{r}.db", tmp_path / f"pack{r}-copy.db"
        shutil.copy(template, path)
        after = "vacuum" if r % 2 else "start"  # every other kill falls inside the VACUUM itself
        acks = kill_inside("pack", path, durable, windows[after], dest if to_dest else "", after=after)
        inside += not acked(acks, "done")
        outcome = tally.check(check, path, dest, acks)
        if outcome:
            outcomes[outcome] += 1
    note = f"{inside} kills before it returned"
    if to_dest:
        note += "; dest " + ", ".join(f"{k} {v}" for k, v in outcomes.items())
    tally.record(guarantee, f"kill -9 during {'pack(dest)' if to_dest else 'pack (VACUUM in place)'}"
                 f" ({mode(durable)})", note)


@pytest.mark.parametrize("how", ["backup", "export"])
def test_kill_during_a_backup_or_export_leaves_no_partial_copy(tmp_path, guarantee, pack_files, how):
    """A copy appears at dest whole or not at all (a partial one would open as an empty store)."""
    template, before = pack_files
    finished = tmp_path / "finished.db"
    shutil.copy(template, finished)
    window = 1.2 * duration(run_through("copy", finished, False, how, tmp_path / "finished-copy.db"))

    def check(dest, acks):
        if not os.path.exists(dest):
            return 0, [f"{how} returned but dest is missing"] if acked(acks, "done") else [], "absent"
        try:
            check_file(dest)
            whole = contents(dest) == before
        except BROKEN:
            whole = False
        return 0, [] if whole else [f"a partial {how} is at dest"], "complete" if whole else "partial"

    tally, outcomes = Tally(), {"complete": 0, "absent": 0, "partial": 0}
    for r in range(count(1, 10)):
        path, dest = tmp_path / f"src{r}.db", tmp_path / f"copy{r}.db"
        shutil.copy(template, path)
        acks = kill_inside("copy", path, False, window, how, dest)
        outcome = tally.check(check, dest, acks)
        if outcome:
            outcomes[outcome] += 1
        check_file(path)
    tally.record(guarantee, f"kill -9 during {how}", "dest " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))


def test_a_failed_pack_to_dest_leaves_no_file(tmp_path, monkeypatch):
    """pack(dest) writes beside dest and renames: when it fails, neither dest nor the partial copy stays."""
    path, dest = tmp_path / "p.db", tmp_path / "copy.db"
    with runlite.open(path) as s:
        log_run(s, "r", 1_000)

        def refuse(src, dst):
            raise OSError("rename refused")

        monkeypatch.setattr(archive.os, "replace", refuse)
        with pytest.raises(OSError, match="rename refused"):
            s.pack(dest=dest)
        monkeypatch.undo()
        assert sorted(os.listdir(tmp_path)) == ["p.db", "p.db-shm", "p.db-wal"]
        s.pack(dest=dest)
    assert sorted(p for p in os.listdir(tmp_path) if "partial" in p) == []
    assert contents(dest) == contents(path)


def test_merge_into_a_durable_store_commits_durably(tmp_path, monkeypatch):
    """A merge writes through its own connection: it gets the destination store's synchronous setting."""
    source = tmp_path / "src.db"
    with runlite.open(source) as s:
        log_run(s, "r", 100)
    seen = []
    profile = archive.policy.writer_profile

    def spy(conn, **kwargs):
        seen.append(kwargs["durable"])
        return profile(conn, **kwargs)

    monkeypatch.setattr(archive.policy, "writer_profile", spy)
    for durable in (False, True):
        with runlite.open(tmp_path / f"dest{durable}.db", durable=durable) as s:
            seen.clear()
            s.merge(source)
            assert seen and set(seen) == {durable}


# ---------------------------------------------------------------- 5. during a migration

OLD_VERSION = 5  # before V6 (tag index, recipes): its migration indexes every run's tags
OLD_RUNS = 40_000
TAGS = 3
DATA_RUNS = [f"old{k}" for k in range(30)]  # the old runs that have metrics, events and a file


def build_old_file(path) -> None:
    """A file at OLD_VERSION written as runlite.db.migrate would have, with rows of that schema."""
    conn = apsw.Connection(str(path))
    try:
        conn.execute("BEGIN IMMEDIATE")
        for version in range(1, OLD_VERSION + 1):
            for statement in schema.MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID:d}")
        conn.execute(f"PRAGMA user_version={OLD_VERSION:d}")
        start = now_us() - 86_400_000_000
        conn.execute("INSERT INTO folders (path, created) VALUES ('/', ?)", (start,))
        ids = [uuid7(start + k) for k in range(OLD_RUNS)]
        conn.executemany(
            "INSERT INTO runs (id, name, status, folder, tags, trace_id, dotted_order, created, started, ended,"
            " modified) VALUES (?, ?, 'completed', '/', ?, ?, ?, ?, ?, ?, ?)",
            ((rid, f"old{k}", f'["t{k % 7}", "g{k % 3}", "all"]', rid, dotted_segment(start + k, rid),
              start + k, start + k, start + k + 1, start + k + 1) for k, rid in enumerate(ids)))
        for k, rid in enumerate(ids[:len(DATA_RUNS)]):  # metrics (v2), events (v3) and files (v4)
            buf = metric_buffer.MetricBuffer()
            for i in range(500):
                buf.add({"loss": 1 / (i + 1), "k": float(k)}, i, None, start + k + i, "", start + k, start + k + i)
            metrics_mod.flush(conn, rid, buf, {}, start + k)
            conn.executemany("INSERT INTO events (run_id, seq, time, level, message) VALUES (?, ?, ?, 'info', ?)",
                             [(rid, i, start + k + i, f"old event {i}") for i in range(20)])
            files.save_bytes(conn, rid, "notes.txt", f"notes of run {k}".encode() * 50, "text/plain")
        conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def old_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("migrate") / "old.db"
    build_old_file(path)
    return path


@MODES
def test_kill_during_a_migration_leaves_old_or_new(tmp_path, guarantee, old_file, durable):
    finished = tmp_path / "finished.db"
    shutil.copy(old_file, finished)
    window = 1.2 * duration(run_through("migrate", finished, durable))
    expected = counts(finished), contents(finished, DATA_RUNS)
    assert len(expected[0]) == OLD_RUNS

    def check(path, acks):
        """The file is at the old version or the new one, never between; then it opens (migrating
        an old one) and holds what a migration run to its end gives."""
        conn = apsw.Connection(str(path))  # any open recovers the file (rolls back a hot journal)
        try:
            version = conn.execute("PRAGMA user_version").get
            old = version == OLD_VERSION and not schema_check.differences(conn, OLD_VERSION)
            new = version == schema.SCHEMA_VERSION and not schema_check.differences(conn, schema.SCHEMA_VERSION)
            tagged = conn.execute("SELECT count(*) FROM run_tags").get if new else 0
        finally:
            conn.close()
        problems = []
        if old and acked(acks, "done"):
            problems.append("runlite.open returned but the file is still at the old version")
        elif not old and (not new or tagged != OLD_RUNS * TAGS):
            problems.append(f"a mix: user_version {version}, schema of neither version or "
                            f"{tagged} of {OLD_RUNS * TAGS} tags indexed")
        check_file(path)  # migrates a file left at the old version
        state = counts(path), contents(path, DATA_RUNS)
        lost = sum(state[0].get(k) != v for k, v in expected[0].items()) + \
            sum(state[1].get(k) != v for k, v in expected[1].items())
        if state != expected:
            problems.append("the runs' data differ from a migration that ran to its end")
        return lost, problems, old

    tally, inside, left = Tally(), 0, []
    for r in range(count(2, 20)):
        path = tmp_path / f"migrate{r}.db"
        shutil.copy(old_file, path)
        if r % 2:  # a file runlite made is in WAL mode; an old one may still have a rollback journal
            conn = apsw.Connection(str(path))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
        acks = kill_inside("migrate", path, durable, window)
        inside += not acked(acks, "done")
        left.append(tally.check(check, path, acks))
    tally.record(guarantee, f"kill -9 during a migration v{OLD_VERSION}->v{schema.SCHEMA_VERSION} ({mode(durable)})",
                 f"{OLD_RUNS:,} runs; left at v{OLD_VERSION} {left.count(True)}, at v{schema.SCHEMA_VERSION}"
                 f" {left.count(False)}; {inside} kills before it returned")
