"""A full disk and injected I/O errors: clean typed errors, the file intact, nothing acknowledged lost.

Faults come from ``faultvfs.FaultVFS`` (its docstring says why a shim), the default VFS for
one test only: a byte quota for a full disk (plus a real 2 MiB tmpfs where mounting is
permitted), and, as in SQLite's I/O-error tests, the Nth read / write / sync / truncate
failing once or persistently, N stepped from 1 until the operation completes (every N with
``--full``, a spread by default). A ``Ledger`` books what calls acknowledged (``acked``:
committed when the call returned), what runlite buffered (``logged``) and what a call that
raised may still have left (``maybe``). Promises checked:

- a failing call raises a ``StoreError`` naming the file: ``StoreFullError`` (``__cause__``
  the ``FullError``) for a full disk, an I/O error for an I/O error; never a raw apsw error,
  a rollback error masking it, or ``CorruptStoreError`` for a transient fault;
- on the full disk, reads work and the file holds every acknowledged item;
- once the fault is gone the store writes again and close() writes what failed flushes kept;
  the file reopens, passes integrity_check and verify, holds every logged item once and
  nothing else; no connection is left open.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import subprocess
import time
from collections import Counter

import apsw
import pytest

import runlite
from runlite.storage import metric_buffer
from runlite import errors
from tests.stress.conftest import check_file, count, full
from tests.stress.faultvfs import KINDS, FaultVFS

METRIC = "v"
ITEMS = ("points", "events", "files")


# ---------------------------------------------------------------- fixtures and bookkeeping


def _connection_ids(*, collect: bool = True) -> set[int]:
    if collect:  # garbage (e.g. kept alive by a traceback cycle) is not a leak
        gc.collect()
    return {id(c) for c in apsw.connections()}


def _leaked(before: set[int]) -> set[int]:
    """Connections opened since ``before`` that are still open (collecting only when needed)."""
    return (_connection_ids(collect=False) - before) and (_connection_ids() - before)


@pytest.fixture
def fault_vfs(tmp_path):
    """A FaultVFS over ``tmp_path``, the default VFS for this test only."""
    names_before, conns_before = apsw.vfs_names(), _connection_ids()
    vfs = FaultVFS(str(tmp_path))
    try:
        yield vfs
    finally:
        vfs.disarm()
        leaked = [c for c in apsw.connections() if id(c) not in conns_before]
        for conn in leaked:  # close them so the VFS can go; the assertion below reports them
            with contextlib.suppress(apsw.Error):
                conn.close()
        vfs.unregister()
    assert apsw.vfs_names() == names_before, "the fault VFS outlived its test"
    assert not leaked, f"{len(leaked)} connection(s) left open"


class Ledger:
    """Per run: point values, event messages and file names, in three books (module docstring)."""

    def __init__(self, contents: dict | None = None):
        self.acked: dict = {}
        self.logged: dict = {}
        self.maybe: dict = {}
        self.merge_in(contents or {})

    @staticmethod
    def _add(book, run_id, kind, items):
        book.setdefault(run_id, {k: [] for k in ITEMS})[kind].extend(items)

    def run(self, run_id: str) -> None:
        for book in (self.acked, self.logged):
            book.setdefault(run_id, {k: [] for k in ITEMS})

    def log(self, run_id, kind, items, *, ok: bool = True) -> None:
        """Buffered by a call that returned (``ok``), or by one that raised after buffering."""
        self._add(self.logged if ok else self.maybe, run_id, kind, items)

    def commit(self, run_id, kind, items) -> None:
        """Written by a call that returned."""
        self._add(self.acked, run_id, kind, items)
        self._add(self.logged, run_id, kind, items)

    def flushed(self, run_id) -> None:
        """A flush returned: everything logged for the run is in the file."""
        self.run(run_id)
        for kind in ("points", "events"):
            self.acked[run_id][kind] = list(self.logged[run_id][kind])

    def merge_in(self, contents: dict) -> None:
        for run_id, kinds in contents.items():
            for kind, items in kinds.items():
                self.commit(run_id, kind, items)

    def compare(self, found: dict, *, after_close: bool) -> tuple[int, int, int]:
        """(items that must be there and are not, items there twice, items nobody wrote).

        Before close the file must hold every acknowledged item, after close every logged one.
        """
        must = self.logged if after_close else self.acked
        lost = extra = 0
        for run_id, kinds in must.items():
            got = found.get(run_id, {k: [] for k in ITEMS})
            lost += (run_id not in found) + sum(sum((Counter(kinds[k]) - Counter(got[k])).values()) for k in ITEMS)
        for run_id, got in found.items():
            books = [book[run_id] for book in (self.logged, self.maybe) if run_id in book]
            extra += not books  # a run nobody created (e.g. by an init that raised)
            for k in ITEMS:
                extra += len(set(got[k]).difference(*(book[k] for book in books)))
        twice = sum(len(items) - len(set(items)) for kinds in found.values() for items in kinds.values())
        return lost, twice, extra


def contents(store) -> dict[str, dict[str, list]]:
    """Every run's points, event messages and file names, through the public read API."""
    out = {}
    for record in store.runs():
        try:
            points = sorted(store.metric_values(record.id, METRIC).values)
        except errors.NotFoundError:
            points = []
        out[record.id] = {"points": points,
                          "events": sorted(e.message for e in store.events(record.id)),
                          "files": sorted(a.name for a in store.attachments(record.id))}
    return out


def _payload(seed: int, size: int) -> bytes:
    """Incompressible bytes, different per seed (zstd cannot shrink them: they take disk)."""
    return os.urandom(size - 8) + seed.to_bytes(8, "little")


def _source_store(path, attach_bytes: int = 120_000) -> dict:
    """A store to merge in, written without faults; returns its contents."""
    with runlite.open(path) as src:
        for i in range(2):
            with src.init(f"source-{i}") as run:
                for step in range(300):
                    run.log_metrics({METRIC: -float(i * 1000 + step) - 1})
                run.log_event(f"source event {i}")
                run.attach(f"source-{i}.bin", _payload(10_000 + i, attach_bytes // 2))
        return contents(src)


def log_and_flush(ledger, run, points, events) -> None:
    """log_metrics / log_event each item, then flush(); the ledger follows."""
    for kind, items, log in (("points", points, lambda v: run.log_metrics({METRIC: v})),
                             ("events", events, run.log_event)):
        for item in items:
            try:
                log(item)
            except errors.RunliteError:  # a due flush raised, after the item was buffered
                ledger.log(run.id, kind, [item], ok=False)
                raise
            ledger.log(run.id, kind, [item])
    run.flush()
    ledger.flushed(run.id)


def full_error_problem(exc: BaseException, path) -> str | None:
    """Why ``exc`` is not the promised full-disk error about ``path``, or None when it is."""
    if not isinstance(exc, errors.StoreFullError):
        return f"{type(exc).__module__}.{type(exc).__name__} instead of StoreFullError: {exc}"
    if not isinstance(exc.__cause__, apsw.FullError):
        return f"StoreFullError caused by {exc.__cause__!r}, not by FullError"
    if "full" not in str(exc) or str(path) not in str(exc):
        return f"StoreFullError that does not say that {path} is full: {exc}"
    return None


# ---------------------------------------------------------------- disk full


class Filler:
    """Writes through the public API in rotation until the disk refuses, keeping a ledger."""

    def __init__(self, store, files_dir):
        self.store, self.files_dir, self.path = store, files_dir, store.path
        self.ledger = Ledger()
        self.runs: list = []
        self.seq = 0
        self.problems: list[str] = []
        self.refused: Counter = Counter()
        self.ops = [self.new_run, self.metrics, self.events, self.save, self.attach]

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def new_run(self):
        run = self.store.init(f"fill-{self._next()}")
        self.runs.append(run)
        self.ledger.run(run.id)

    def metrics(self):
        log_and_flush(self.ledger, self.runs[-1], [float(self._next()) for _ in range(200)], [])

    def events(self):
        log_and_flush(self.ledger, self.runs[-1], [], [f"event {self._next()} " + "x" * 200 for _ in range(20)])

    def save(self):
        run, name = self.runs[-1], f"saved-{self._next()}.bin"
        path = os.path.join(self.files_dir, name)
        with open(path, "wb") as f:
            f.write(_payload(self.seq, 24_000))
        run.save(path, "output")
        self.ledger.commit(run.id, "files", [name])

    def attach(self):
        run, name = self.runs[-1], f"attached-{self._next()}"
        run.attach(name, _payload(self.seq, 12_000))
        self.ledger.commit(run.id, "files", [name])

    def call(self, op) -> bool:
        """One call; a refusal is checked (the full-disk error) and counted."""
        try:
            op()
            return True
        except Exception as exc:  # noqa: BLE001 - every exception is judged here
            problem = full_error_problem(exc, self.path)
            if problem:
                self.problems.append(f"{op.__name__}: {problem}")
            self.refused[op.__name__] += 1
            return False

    def fill(self, *, max_calls: int = 5_000) -> int:
        """Rotate through the writes until every kind was refused twice in a row, then make
        each kind never refused yet alone until it is; return calls made. A small write can
        go on fitting in space the file already holds (a metrics call did for the whole rotation
        in 2 of 30 runs): it is not wrong, but each kind must be seen refused."""
        self.call(self.new_run)
        streak = calls = 0
        while streak < 2 * len(self.ops) and calls < max_calls:
            op = self.ops[calls % len(self.ops)] if self.runs else self.new_run
            streak = 0 if self.call(op) else streak + 1
            calls += 1
        for op in self.ops:
            alone = 0
            while self.runs and op.__name__ not in self.refused and alone < max_calls:
                self.call(op)
                alone += 1
            calls += alone
        return calls

    def merge_and_pack(self, source_path, source_contents) -> None:
        """merge and pack on the full disk, through a second handle (the first one's failed
        flushes would raise first): refused cleanly, or done completely when they fit."""
        with runlite.open(self.path) as other:
            def merge():
                other.merge(str(source_path))
                self.ledger.merge_in(source_contents)

            def pack():
                other.pack()
            for op in (merge, pack):
                self.call(op)


def fill_free_and_check(filler, source, free_space, guarantee, scenario, refusals, conns_before) -> None:
    """Fill the disk, check the promises, free space with ``free_space()``, check again."""
    calls = filler.fill()
    filler.merge_and_pack(*source)
    lost_full, twice_full, extra_full = filler.ledger.compare(contents(filler.store), after_close=False)
    refused = refusals()
    free_space()
    # space again: the store writes, and close() writes what failed flushes kept
    writes_again = filler.call(filler.new_run) and filler.call(filler.metrics)
    filler.store.close()
    leaked = _leaked(conns_before)
    with runlite.open(filler.path) as reopened:
        lost, twice, extra = filler.ledger.compare(contents(reopened), after_close=True)
    never_refused = {op.__name__ for op in filler.ops} - set(filler.refused)
    broken = filler.problems + [what for what, bad in (
        ("no call was refused", not refused), (f"never refused: {sorted(never_refused)}", never_refused),
        ("no writes once space was back", not writes_again), ("connections left open", leaked),
        ("items twice or never written", twice_full + extra_full + twice + extra)) if bad]
    guarantee(scenario, rounds=refused, failures=len(broken), lost=lost_full + lost,
              note=f"{calls} calls; refused: {dict(sorted(filler.refused.items()))}")
    assert not broken, broken[:5]
    assert (lost_full, lost) == (0, 0)
    check_file(filler.path)


def test_disk_full_raises_store_full_and_keeps_everything_acknowledged(fault_vfs, tmp_path, guarantee):
    (tmp_path / "files").mkdir()
    source = (tmp_path / "source.db", _source_store(tmp_path / "source.db"))
    conns_before = _connection_ids()
    store = runlite.open(tmp_path / "runs.db")
    budget = count(400_000, 6_000_000)  # bytes the store may grow by: the full run passes a WAL checkpoint
    fault_vfs.set_quota(fault_vfs.used() + budget)
    fill_free_and_check(Filler(store, str(tmp_path / "files")), source, fault_vfs.disarm, guarantee,
                        "disk full (VFS quota): StoreFullError, nothing acknowledged lost",
                        lambda: fault_vfs.injected, conns_before)


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 2 MiB tmpfs, mounted for this test (root only), unmounted afterwards."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root and mount(8); the VFS quota tests stand in for it")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mounting a 2 MiB tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:  # lazily if a file is still open there (a failed test), so the mount never stays
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_real_small_filesystem_full(small_filesystem, tmp_path, guarantee):
    """The same promises on a real full filesystem (ENOSPC from the kernel, no shim)."""
    ballast = small_filesystem / "ballast"
    ballast.write_bytes(b"\0" * 300_000)  # deleted to give space back
    (tmp_path / "files").mkdir()
    source = (tmp_path / "source.db", _source_store(tmp_path / "source.db"))
    conns_before = _connection_ids()
    store = runlite.open(small_filesystem / "runs.db")
    filler = Filler(store, str(tmp_path / "files"))
    try:
        fill_free_and_check(filler, source, ballast.unlink, guarantee,
                            "disk full (2 MiB tmpfs): StoreFullError, nothing acknowledged lost",
                            lambda: sum(filler.refused.values()), conns_before)
    finally:  # after a failed assertion: give space back so close() can write, and unmount
        ballast.unlink(missing_ok=True)
        store.close()


def _series(store, run_id) -> list:
    return sorted(store.metric_values(run_id, METRIC).values)


def test_background_flush_on_full_disk_keeps_points_and_says_so(fault_vfs, tmp_path, caplog, guarantee):
    """The buffered path: a failed background flush keeps the points and the error surfaces."""
    path = tmp_path / "runs.db"
    conns_before = _connection_ids()
    store = runlite.open(path)
    run = store.init("buffered")
    run.log_metrics({METRIC: 0.0})
    run.flush()
    fault_vfs.set_quota(fault_vfs.used())  # nothing more fits
    logged = [0.0, 1.0, 2.0, 3.0]
    for value in logged[1:]:
        run.log_metrics({METRIC: value})

    def ticker_logged():
        return any("background flush" in r.getMessage() for r in caplog.records)

    deadline = time.monotonic() + 10 * metric_buffer.FLUSH_INTERVAL
    while not ticker_logged() and time.monotonic() < deadline:  # the ticker's flush fails
        time.sleep(0.02)
    ticker_tried = fault_vfs.injected > 0
    on_disk_while_full = _series(store, run.id)  # reads work on a full disk: what the file holds

    surfaced = []  # the error reaches the caller on the next log call, and on flush()
    for call in (lambda: run.log_metrics({METRIC: 4.0}), run.flush):
        try:
            call()
            surfaced.append("returned")
        except Exception as exc:  # noqa: BLE001 - judged below
            surfaced.append(full_error_problem(exc, path) or "StoreFullError")

    refusals = fault_vfs.injected
    fault_vfs.disarm()
    run.flush()  # space again: one flush writes everything kept
    after_lift = _series(store, run.id)

    fault_vfs.set_quota(fault_vfs.used())  # full again, and the store closed with a point buffered
    run.log_metrics({METRIC: 5.0})
    try:
        store.close()
        close_error = "returned: the buffered point was dropped silently"
    except Exception as exc:  # noqa: BLE001
        close_error = full_error_problem(exc, path) or ("" if "lost" in str(exc) else f"vague: {exc}")
    refusals += fault_vfs.injected
    fault_vfs.disarm()
    leaked = _leaked(conns_before)
    with runlite.open(path) as reopened:
        final = _series(reopened, run.id)

    lost = sum(v not in after_lift for v in logged)
    promises = {
        "the ticker tried and logged its failure": ticker_tried and ticker_logged(),
        "reads work on the full disk": on_disk_while_full == [0.0],
        "the next log call and flush() raise StoreFullError": surfaced == ["StoreFullError"] * 2,
        "once space is back, everything kept is written once": lost == 0 and after_lift == logged,
        "the log call that raised logged nothing (a retry logs it once)": 4.0 not in after_lift,
        "close() on a full disk raises StoreFullError saying points are lost": close_error == "",
        "close() leaves no connection open": not leaked and store.closed,
        "the file keeps what was flushed": final == after_lift,
    }
    broken = [name for name, kept in promises.items() if not kept]
    guarantee("disk full: background flush keeps points; error on next call, flush(), close()",
              rounds=refusals, failures=len(broken), lost=lost,
              note="a log call that raises has logged nothing, so retrying it is right")
    assert not broken, (broken, surfaced, close_error, on_disk_while_full, after_lift)
    check_file(path)


def test_dropped_run_handle_keeps_its_buffered_points(tmp_path, guarantee):
    """Regression: live runs were held weakly, so a handle dropped with points still buffered
    (e.g. after a failed flush) vanished with them: nothing flushed them, silently."""
    path = tmp_path / "runs.db"
    store = runlite.open(path)
    run = store.init("dropped")
    run_id = run.id
    for value in range(10):
        run.log_metrics({METRIC: float(value)})
    del run
    gc.collect()
    store.close()
    with runlite.open(path) as reopened:
        try:
            kept = len(reopened.metric_values(run_id, METRIC))
        except errors.NotFoundError:
            kept = 0
    guarantee("a dropped Run handle: its buffered points are still written", rounds=1,
              failures=int(kept != 10), lost=10 - kept)
    assert kept == 10
    check_file(path)


# ---------------------------------------------------------------- injected I/O errors


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """A store with runs, metrics, events and files, and a second one to merge; their contents."""
    base = tmp_path_factory.mktemp("fault-templates")
    main, source = base / "main.db", base / "source.db"
    payloads = {f"blob-{i}": _payload(i, 40_000) for i in range(2)}
    with runlite.open(main) as store:
        for i in range(2):
            with store.init(f"template-{i}") as run:
                for step in range(2_000):
                    run.log_metrics({METRIC: float(i * 10_000 + step)})
                for k in range(30):
                    run.log_event(f"template event {i}.{k}")
                run.attach(f"blob-{i}", payloads[f"blob-{i}"])
        expected = contents(store)
    return {"main": main, "main_contents": expected, "payloads": payloads, "source": source,
            "source_contents": _source_store(source, attach_bytes=40_000)}


class Case:
    """One round: a fresh copy of the template, what the file must/may hold, what went wrong."""

    def __init__(self, workdir, templates, *, new_file: bool):
        workdir.mkdir()
        self.dir, self.path, self.source = workdir, workdir / "runs.db", workdir / "source.db"
        shutil.copyfile(templates["source"], self.source)
        self.source_contents, self.payloads = templates["source_contents"], templates["payloads"]
        self.template = {} if new_file else templates["main_contents"]
        if not new_file:
            shutil.copyfile(templates["main"], self.path)
        self.ledger = Ledger(self.template)
        self.store = self.run = None
        self.copies: list = []  # files the operation wrote besides the store (checked too)
        self.problems: list[str] = []  # wrong data seen by the operation itself

    def new_run(self, name):
        self.run = self.store.init(name)
        self.ledger.run(self.run.id)


def op_open_new(case):
    runlite.open(case.path).close()


def op_open_existing(case):
    with runlite.open(case.path) as store:
        store.get_run("template-0")


def op_init(case):
    case.new_run("new-run")


def op_log_and_flush(case):
    log_and_flush(case.ledger, case.run, [i + 0.5 for i in range(300)], [f"event {k}" for k in range(20)])


def op_close(case):
    """The last connection's close checkpoints the WAL into the file and truncates it."""
    log_and_flush(case.ledger, case.run, [i + 0.5 for i in range(200)], [])
    case.store.close()


def op_save(case):
    path = case.dir / "saved.bin"
    path.write_bytes(_payload(7, 150_000))
    case.run.save(str(path), "output")
    case.ledger.commit(case.run.id, "files", ["saved.bin"])


def op_read(case):
    """metric_values, events and attachment bytes: right or an error, never wrong data."""
    for run_id, kinds in case.template.items():
        if sorted(case.store.metric_values(run_id, METRIC).values) != kinds["points"]:
            case.problems.append(f"metric_values of {run_id} returned wrong points")
        if sorted(e.message for e in case.store.events(run_id)) != kinds["events"]:
            case.problems.append(f"events of {run_id} returned wrong messages")
        for name in kinds["files"]:
            if case.store.read_attachment(run_id, name) != case.payloads[name]:
                case.problems.append(f"attachment {name} of {run_id} returned wrong bytes")


def op_verify(case):
    report = case.store.verify()
    if not report.ok:  # an I/O error is not damage: raise it, do not report the file broken
        case.problems.append(f"verify reported damage: {report.problems[:2]}")


def op_backup(case):
    copy = case.dir / "copy.db"
    try:
        case.store.backup(str(copy))
    except errors.RunliteError:
        if copy.exists():  # it would open as a new, empty store
            case.problems.append(f"a failed backup left {copy.name} ({copy.stat().st_size} bytes) behind")
        raise
    case.copies.append(copy)


def op_merge(case):
    case.store.merge(str(case.source))
    case.ledger.merge_in(case.source_contents)


def op_pack(case):
    case.store.pack()


# name -> (operation, what is ready before the fault is armed)
OPERATIONS = {
    "open+create": (op_open_new, "new file"),
    "open existing": (op_open_existing, "file"),
    "init run": (op_init, "store"),
    "log_metrics+log_event+flush": (op_log_and_flush, "run"),
    "log+flush, durable=True": (op_log_and_flush, "durable run"),
    "save file": (op_save, "run"),
    "read metrics, events, files": (op_read, "store"),
    "verify": (op_verify, "store"),
    "backup": (op_backup, "store"),
    "merge": (op_merge, "store"),
    "pack": (op_pack, "store"),
    "log, flush, close": (op_close, "run"),
}


def io_error_problem(exc: BaseException, workdir) -> str | None:
    """Why ``exc`` is not a clean error for an injected I/O error, or None when it is."""
    if not isinstance(exc, errors.RunliteError):
        return f"raw {type(exc).__module__}.{type(exc).__name__}: {exc}"
    if isinstance(exc, (errors.CorruptStoreError, errors.NotARunliteFile, errors.SchemaTooNew)):
        return f"a transient I/O error reported as a damaged file: {type(exc).__name__}: {exc}"
    if isinstance(exc, errors.StoreFullError) or not isinstance(exc, errors.StoreError):
        return f"an I/O error reported as {type(exc).__name__}: {exc}"
    if str(workdir) not in str(exc):
        return f"the error does not name the file: {exc}"
    if "I/O error" not in str(exc):  # e.g. a failed ROLLBACK TO's "no such savepoint" masking it
        return f"the I/O error was replaced by another: {exc}"
    return None


def run_round(fault_vfs, templates, workdir, operation, kinds, nth, persistent) -> dict:
    """One operation with one fault plan; returns what happened (problems, lost, injected)."""
    act, ready = OPERATIONS[operation]
    case = Case(workdir, templates, new_file=ready == "new file")
    conns_before = _connection_ids(collect=False)
    if ready in ("store", "run", "durable run"):
        case.store = runlite.open(case.path, durable=ready == "durable run")
    if ready in ("run", "durable run"):
        case.new_run("live-run")
    fault_vfs.arm(kinds, nth, persistent=persistent)
    problems, outcome = [], "ok"
    try:
        act(case)
    except Exception as exc:  # noqa: BLE001 - every exception is judged
        outcome = type(exc).__name__
        problems.append(io_error_problem(exc, workdir))
    injected, counts = fault_vfs.injected, dict(fault_vfs.counts)
    fault_vfs.disarm()
    problems += case.problems
    if case.store is not None and not case.store.closed:
        try:  # the fault is gone: the same store writes again, and close() writes what was kept
            case.new_run("after-the-fault")
            case.store.close()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"the store after the fault was removed: {type(exc).__name__}: {exc}")
    leaked = _leaked(conns_before)
    if leaked:
        problems.append(f"{len(leaked)} connection(s) left open")
        for conn in apsw.connections():
            if id(conn) in leaked:
                conn.close()
    lost = 0
    try:
        for path in (case.path, *case.copies):
            check_file(path)
        with runlite.open(case.path) as store:
            lost, twice, extra = case.ledger.compare(contents(store), after_close=True)
        if lost or twice or extra:
            problems.append(f"{lost} acknowledged item(s) missing, {twice} written twice, {extra} never "
                            f"written, after {outcome}")
    except (AssertionError, errors.RunliteError) as exc:
        problems.append(f"the file after the fault: {type(exc).__name__}: {exc}")
    return {"problems": [p for p in problems if p], "lost": lost, "injected": injected,
            "outcome": outcome, "counts": counts}


def _steps(total: int) -> list[int]:
    """The N to fail: each one up to one past the last call (full), or a spread ending on the last."""
    if full():
        return list(range(1, total + 2))
    stride = max(1, -(-total // 3))  # the first calls (opening files) are often the telling ones
    return sorted(set(range(1, total + 1, stride)) | {min(2, total), total})


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_injected_io_errors(fault_vfs, templates, tmp_path, operation, guarantee):
    started = time.perf_counter()
    dry = run_round(fault_vfs, templates, tmp_path / "dry", operation, KINDS, 10**9, False)
    assert not dry["problems"], dry["problems"]
    totals = dry["counts"]  # calls of each kind when nothing fails
    rounds = failures = lost = 0
    problems: list[str] = []
    outcomes: Counter = Counter()
    for kind in (k for k in KINDS if totals[k]):
        for persistent in (False, True):
            for nth in _steps(totals[kind]):
                workdir = tmp_path / f"{kind}-{'p' if persistent else 'o'}-{nth}"
                result = run_round(fault_vfs, templates, workdir, operation, kind, nth, persistent)
                shutil.rmtree(workdir, ignore_errors=True)
                rounds += result["injected"] > 0
                failures += bool(result["problems"])
                lost += result["lost"]
                outcomes[result["outcome"]] += 1
                problems += [f"{kind} #{nth} {'persistent' if persistent else 'once'}: {p}"
                             for p in result["problems"]]
                if result["injected"] == 0:
                    break  # the operation got past its last call of this kind: it completed
    calls = ", ".join(f"{n} {k}s" for k, n in totals.items() if n)
    guarantee(f"I/O errors: {operation}", rounds=rounds, failures=failures, lost=lost,
              note=f"fails the Nth of {calls}, once and persistently; outcomes "
                   f"{dict(sorted(outcomes.items()))}; {time.perf_counter() - started:.1f} s")
    assert rounds > 0
    assert not problems, "\n".join(problems[:10])
