"""Many processes and threads on one file: no lock error reaches a user, nothing is lost.

8 writer processes x 4 threads and 4 reader processes start together on one file. Each
writer thread writes a known set of runs through the public API and times every write;
readers check that every read is a consistent snapshot while the writers run. Afterwards
every expected run, point and event is in the file exactly once.
"""

import json
import os
import subprocess
import sys
import time

import apsw

import runlite
from tests.stress.conftest import check_file, count, percentiles

N_WRITERS, N_THREADS, N_READERS = 8, 4, 4
POINTS, EVENTS = 20, 3  # per run: metric records (two series each) and events

# Runs per writer thread: each makes 5 write transactions (init, update_metadata, metric
# flush, event flush, close), so the full count gives 4 x 10 x 5 = 200 per process (B5-3).
RUNS_PER_THREAD = count(2, 10)

# Both scripts say "ready" once the store is open, then wait for "go" on stdin, so all
# twelve processes start working at the same moment.
_HANDSHAKE = """
import json, os, sys, threading, time, traceback
import runlite

def wait_for_go():
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"

def failure(exc):
    return f"{type(exc).__name__}: {exc}"
"""

WRITER = _HANDSHAKE + """
path, k, n_runs, points, n_events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
latencies, errors = [], []
lock = threading.Lock()

def timed(samples, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    samples.append(time.perf_counter() - t0)
    return out

def work(store, j):
    samples = []
    for i in range(n_runs):
        name = f"p{k}-t{j}-{i}"
        try:
            run = timed(samples, store.init, name, tags=[f"p{k}", f"t{j}"], metadata={"i": i})
            timed(samples, run.update_metadata, {"done": True})
            for s in range(points):
                run.log_metrics({"loss": i + s / 1000, "acc": float(s)})
            timed(samples, run.flush)
            for e in range(n_events):
                run.log_event(f"{name} e{e}")
            timed(samples, run.flush)
            timed(samples, run.close)
        except Exception as exc:  # reported to the parent, which fails the test
            with lock:
                errors.append(f"{name}: {failure(exc)}")
    with lock:
        latencies.extend(samples)

try:
    store = runlite.open(path)  # default timeout: what a user gets
except Exception as exc:
    print(json.dumps({"latencies": [], "errors": [failure(exc)]}))
    sys.exit(0)
wait_for_go()
threads = [threading.Thread(target=work, args=(store, j)) for j in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
try:
    store.close()
except Exception as exc:
    errors.append(f"close: {failure(exc)}")
print(json.dumps({"latencies": latencies, "errors": errors}))
"""

READER = _HANDSHAKE + """
import random
path, stop, points, n_events = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
errors, violations = [], []
reads = 0
rng = random.Random(os.getpid())

def expect(ok, what):
    if not ok:
        violations.append(what)

def check_run(store, r):
    # A snapshot holds a prefix of what the writer logged, and all of it once the run is completed.
    global reads
    done = r.status == "completed"
    names = store.metric_names(r.id)
    for metric, value in (("loss", lambda i, s: i + s / 1000), ("acc", lambda i, s: float(s))):
        if metric not in names:
            expect(not done, f"{r.name}: completed without {metric}")
            continue
        series = store.metric_values(r.id, metric)
        n = len(series)
        expect(list(series.steps) == list(range(n)), f"{r.name}: {metric} steps are not a prefix")
        expect(list(series.values) == [value(r.metadata["i"], s) for s in range(n)], f"{r.name}: {metric} values")
        expect(n == points if done else n <= points, f"{r.name}: {n} {metric} points (completed: {done})")
    events = store.events(r.id)
    expect([e.seq for e in events] == list(range(len(events))), f"{r.name}: event seqs are not a prefix")
    expect([e.message for e in events] == [f"{r.name} e{e}" for e in range(len(events))], f"{r.name}: messages")
    expect(len(events) == n_events if done else len(events) <= n_events, f"{r.name}: {len(events)} events")
    reads += 3

def check_all(store):
    global reads
    runs = store.runs()
    reads += 1
    names = [r.name for r in runs]
    expect(len(set(names)) == len(names), "a run name listed twice")
    expect(len({r.id for r in runs}) == len(runs), "a run id listed twice")
    for r in runs:
        pk, tj, i = r.name.split("-")
        k, j, i = int(pk[1:]), int(tj[1:]), int(i)
        expect(r.metadata.get("i") == i and list(r.tags) == [f"p{k}", f"t{j}"], f"{r.name}: metadata or tags")
        expect(r.status != "completed" or r.metadata.get("done") is True, f"{r.name}: completed but not done")
    for r in rng.sample(runs, min(4, len(runs))):
        check_run(store, r)
    k = rng.randrange(8)
    tagged = store.list_runs(filter=f'has(tags, "p{k}")')
    expect(all(r.name.startswith(f"p{k}-") for r in tagged), "list_runs returned a run without the tag")
    finished = store.get_runs([f"has tag.p{k}", "metadata.done == true"])
    expect(all(r.name.startswith(f"p{k}-") for r in finished), "get_runs returned a run without the tag")
    reads += 2

try:
    store = runlite.open(path, read_only=True)
except Exception as exc:
    print(json.dumps({"reads": 0, "errors": [failure(exc)], "violations": []}))
    sys.exit(0)
wait_for_go()
last = False
while not last:
    last = os.path.exists(stop)  # one more pass after the writers are done
    try:
        check_all(store)
    except Exception as exc:  # reported to the parent, which fails the test
        errors.append(failure(exc) + traceback.format_exc(limit=-2))
store.close()
print(json.dumps({"reads": reads, "errors": errors, "violations": violations[:20]}))
"""


def _spawn(script, *args):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _start_together(procs):
    for p in procs:
        line = p.stdout.readline()
        assert line.strip() == "ready", (line, p.stderr.read() if p.poll() is not None else "")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()


def _report(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _audit(path, expected):
    """(lost, duplicated): expected runs, points and events missing or wrong, and extra copies."""
    want = {"loss": lambda i: [i + s / 1000 for s in range(POINTS)], "acc": lambda i: [float(s) for s in range(POINTS)]}
    lost = duplicated = 0
    seen = set()
    with runlite.open(path, read_only=True) as store:
        for r in store.runs():
            if r.name in seen or r.name not in expected:
                duplicated += 1
                continue
            seen.add(r.name)
            lost += not (r.status == "completed" and r.metadata.get("done") is True)
            i = r.metadata["i"]
            names = store.metric_names(r.id)
            for metric, values in want.items():
                got = store.metric_values(r.id, metric) if metric in names else None
                ok = got is not None and list(got.steps) == list(range(POINTS)) and list(got.values) == values(i)
                lost += 0 if ok else POINTS
                duplicated += max(0, len(got or ()) - POINTS)
            events = [e.message for e in store.events(r.id)]
            lost += 0 if events == [f"{r.name} e{e}" for e in range(EVENTS)] else EVENTS
            duplicated += max(0, len(events) - EVENTS)
    lost += (1 + 2 * POINTS + EVENTS) * len(set(expected) - seen)
    return lost, duplicated


def test_writers_and_readers_on_one_file(tmp_path, guarantee):
    path, stop = str(tmp_path / "runs.db"), str(tmp_path / "stop")
    runlite.open(path).close()  # readers open read_only: the file must exist
    writers = [_spawn(WRITER, path, k, RUNS_PER_THREAD, POINTS, EVENTS) for k in range(N_WRITERS)]
    readers = [_spawn(READER, path, stop, POINTS, EVENTS) for _ in range(N_READERS)]
    try:
        _start_together(writers + readers)
        wrote = [_report(p) for p in writers]
        open(stop, "w").close()
        read = [_report(p) for p in readers]
    finally:
        for p in writers + readers:
            if p.poll() is None:
                p.kill()
                p.wait()

    latencies = [x for w in wrote for x in w["latencies"]]
    errors = [e for r in wrote + read for e in r["errors"]]
    violations = [v for r in read for v in r["violations"]]
    expected = {f"p{k}-t{j}-{i}" for k in range(N_WRITERS) for j in range(N_THREADS) for i in range(RUNS_PER_THREAD)}
    lost, duplicated = _audit(path, expected)
    guarantee(f"{N_WRITERS} writer processes x {N_THREADS} threads + {N_READERS} readers, one file",
              rounds=len(latencies), failures=len(errors) + len(violations) + duplicated, lost=lost,
              latency=percentiles(latencies),
              note=f"{len(expected)} runs, {sum(r['reads'] for r in read)} checked reads; no StoreBusyError")
    assert errors == []
    assert violations == []
    assert len(latencies) == len(expected) * 5
    assert lost == 0 and duplicated == 0
    check_file(path)


HOLDER = """
import sys, apsw
conn = apsw.Connection(sys.argv[1], flags=apsw.SQLITE_OPEN_READONLY)
conn.execute("BEGIN")
print(conn.execute("SELECT count(*) FROM runs").get, flush=True)  # the snapshot is now held
sys.stdin.readline()
print(conn.execute("SELECT count(*) FROM runs").get, flush=True)  # still the old snapshot
conn.execute("COMMIT")
conn.close()
"""


def _wal_size(path):
    try:
        return os.path.getsize(path + "-wal")
    except FileNotFoundError:
        return 0


def test_long_lived_reader_does_not_block_writers(tmp_path, guarantee):
    """B5-5: a read transaction held open in another process never blocks runlite's writers;
    once it ends, a checkpoint can empty the WAL (what SQLite promises, https://sqlite.org/wal.html)."""
    path = str(tmp_path / "runs.db")
    n_runs = count(20, 200)
    with runlite.open(path, timeout=0) as store:  # any wait for a lock would raise at once
        store.init("before").close()
        holder = _spawn(HOLDER, path)
        try:
            seen_before = int(holder.stdout.readline())
            latencies = []
            for i in range(n_runs):
                t0 = time.perf_counter()
                with store.init(f"r{i}", metadata={"i": i}) as run:
                    run.log_metrics({"x": float(i)})
                latencies.append(time.perf_counter() - t0)
            wal_while_held = _wal_size(path)
            # A checkpoint cannot pass the reader's snapshot: frames stay in the WAL.
            side = apsw.Connection(path)
            busy, log_frames, done_frames = side.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            holder.stdin.write("\n")
            holder.stdin.flush()
            seen_after = int(holder.stdout.readline())
            holder.wait(60)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        truncate = side.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        wal_after = _wal_size(path)
        side.close()
        stored = len(store.runs())
    guarantee("long-lived reader in another process while a writer commits", rounds=n_runs,
              failures=int(seen_after != seen_before) + int(stored != n_runs + 1), lost=n_runs + 1 - stored,
              latency=percentiles(latencies),
              note=f"WAL {wal_while_held:,} B while held ({done_frames}/{log_frames} frames checkpointable), "
                   f"{wal_after} B after TRUNCATE checkpoint")
    assert holder.returncode == 0
    assert seen_before == seen_after == 1  # the reader kept its snapshot throughout
    assert stored == n_runs + 1
    assert done_frames < log_frames  # the held snapshot kept frames in the WAL
    assert truncate[0] == 0 and truncate[1] == truncate[2]  # not busy: every frame checkpointed
    assert wal_after == 0  # TRUNCATE empties the WAL file once no reader needs it
    check_file(path)
