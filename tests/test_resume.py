"""Resuming runs (W&B's resume semantics): a created, completed, failed, terminated or lost run
back to running, steps and run time continuing, alerts armed again, the history recording
it; ``init(id=..., resume=...)`` in its three modes; and a preempted job (kill -9) restarted
with the same id that loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import runlite
from runlite._ids import run_id_for


def dead_run(db_path: str, name: str, **init) -> str:
    """A run left running by a process that died without ending it (it reads lost)."""
    code = textwrap.dedent(f"""
        import os, runlite
        store = runlite.open({db_path!r})
        run = store.init({name!r}, **{init!r})
        for i in range(3):
            run.log_metrics({{"loss": float(i)}})
        store.flush()
        print(run.id, flush=True)
        os._exit(0)  # no close, no atexit: the run stays 'running' with a dead pid
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_completed_run_resumes_where_it_stopped(store):
    run = store.init("done", metadata={"lr": 0.1}, tags=["a"])
    for i in range(5):
        run.log_metrics({"loss": float(i)})
    run.log_metrics({"val": 1.0}, step=2)
    run.close()
    before = store.get_run(run.id)
    loss_before = store.metric_values(run.id, "loss")

    again = store.resume("done")
    assert again.id == run.id and again.status == "running"
    assert again.step == 5 and again.resumed == {"was": "completed", "last_step": 4,
                                                  "last_steps": {"loss": 4, "val": 2}}
    record = store.get_run(run.id)
    assert (record.status, record.end_time, record.start_time) == ("running", None, before.start_time)
    again.log_metrics({"loss": 5.0})
    again.close()

    loss = store.metric_values(run.id, "loss", xaxis="step")
    assert list(loss.steps) == [0, 1, 2, 3, 4, 5]
    assert loss.times[-1] > loss_before.times[-1]  # run time goes on from the first start
    record = store.get_run(run.id)
    assert record.status == "completed" and record.end_time > before.end_time
    (entry,) = record.extra["resumed"]
    assert entry["was"] == "completed" and entry["pid"] == os.getpid()
    assert [e.message for e in store.events(run.id)] == [
        f"resumed (was completed) on {entry['host']}, pid {os.getpid()}; steps continue after 4"]


@pytest.mark.parametrize("ending", ["failed", "terminated", "created", "lost"])
def test_each_ended_state_resumes_and_says_what_it_was(store, db_path, ending):
    if ending == "lost":
        run_id = dead_run(db_path, "r")
        assert store.get_run(run_id).status == "lost"
    elif ending == "created":
        run_id = store.init("r", running=False).id
    else:
        run = store.init("r")
        run.end(error="out of memory") if ending == "failed" else run.set_status(ending)
        run_id = run.id
    again = store.resume(run_id)
    assert again.resumed["was"] == ending and store.get_run(run_id).status == "running"
    again.log_event("hello")
    again.close()
    record = store.get_run(run_id)
    assert record.status == "completed" and record.error is None
    assert [e["was"] for e in record.extra["resumed"]] == [ending]
    if ending == "failed":
        assert record.extra["resumed"][0]["error"] == "out of memory"
    messages = [e.message for e in store.events(run_id)]
    assert messages[-2].startswith(f"resumed (was {ending})") and messages[-1] == "hello"


def test_a_running_run_is_not_resumed(store):
    run = store.init("busy")
    with pytest.raises(runlite.RunStateError, match=r"is running \(pid \d+ on .*only a run no process runs"):
        store.resume(run.id)
    with pytest.raises(runlite.RunStateError, match="exists"):
        store.init(id=run.id)
    assert store.get_run(run.id).extra is None  # nothing recorded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times are read from Linux /proc")
def test_a_stalled_writer_on_this_host_keeps_its_run(db_path):
    """A run whose heartbeat stalled (its process stopped, or held behind a write lock longer than
    heartbeat_timeout) reads lost, but while that process lives here it is not resumed: the run
    would get two writers. Once the process is gone, it resumes."""
    code = textwrap.dedent(f"""
        import sys, runlite
        store = runlite.open({db_path!r})
        run = store.init("stalled", heartbeat_timeout=1)
        print(run.id, flush=True)
        sys.stdin.readline()
        run.log_metrics({{"loss": 1.0}})
        run.close()
        store.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        run_id = proc.stdout.readline().strip()
        os.kill(proc.pid, signal.SIGSTOP)  # no heartbeat from now on
        with runlite.open(db_path) as store:
            deadline = time.monotonic() + 30
            while store.get_run(run_id).status != "lost" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.get_run(run_id).status == "lost"
            with pytest.raises(runlite.RunStateError, match=rf"reads lost, but its process \(pid {proc.pid}\) still runs"):
                store.resume(run_id)
            assert store.get_run(run_id).extra is None  # nothing recorded
        os.kill(proc.pid, signal.SIGCONT)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        os.kill(proc.pid, signal.SIGCONT) if proc.poll() is None else None
        proc.kill()
    with runlite.open(db_path) as store:
        record = store.get_run(run_id)
        assert record.status == "completed" and list(store.metric_values(run_id, "loss").values) == [1.0]
        assert store.resume(run_id).resumed["was"] == "completed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process start times are read from Linux /proc")
def test_a_run_whose_pid_was_taken_by_a_later_process_resumes(db_path):
    """The writer died and its pid now belongs to a process started after its last heartbeat:
    the run is lost, and resumes."""
    run_id = dead_run(db_path, "reused")
    with runlite.open(db_path) as store:
        with store.database.write() as conn:  # the run's last heartbeat a minute ago, from the pid of...
            conn.execute("UPDATE runs SET heartbeat_timeout = 5, heartbeat = heartbeat - 60000000 WHERE id = ?",
                         (run_id,))
        later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # ...a process started since
        try:
            with store.database.write() as conn:
                conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (later.pid, run_id))
            assert store.get_run(run_id).status == "lost"
            assert store.resume(run_id).resumed["was"] == "lost"
        finally:
            later.kill()
            later.wait()


def test_resumes_add_to_the_history(store):
    run = store.init("twice")
    run.close()
    for _ in range(2):
        store.resume(run.id).close()
    assert [e["was"] for e in store.get_run(run.id).extra["resumed"]] == ["completed", "completed"]
    assert len(store.events(run.id, contains="resumed (was completed)")) == 2


def test_reconnect_of_a_lost_run_says_lost(store, db_path):
    run_id = dead_run(db_path, "gone")
    with pytest.raises(runlite.RunStateError, match=r"is lost; only a 'created' run can be reconnected \(resume"):
        store.reconnect(run_id)


def test_a_run_resumed_in_another_copy_of_the_file_still_merges(tmp_path):
    first, second = str(tmp_path / "first.db"), str(tmp_path / "second.db")
    run_id = dead_run(first, "moved")  # started by another process
    with runlite.open(first) as store:
        store.backup(second)
    with runlite.open(second) as store:  # resumed here: another pid (and maybe host) than in `first`
        again = store.resume(run_id)
        again.log_metrics({"loss": 9.0})
        again.close()
    with runlite.open(first) as store:
        assert store.merge(second)["run_conflicts"] == 0
        record = store.get_run(run_id)
        assert record.status == "completed" and [e["was"] for e in record.extra["resumed"]] == ["lost"]
        assert list(store.metric_values(run_id, "loss").values) == [0.0, 1.0, 2.0, 9.0]
        store.resume(run_id).close()
        assert store.merge(second)["run_conflicts"] == 0  # both copies resumed: still one run


def test_alerts_are_armed_again(store):
    run = store.init("hot")
    run.create_metric_threshold_alert("high", "temp", 50, "is above", window=1, frequency=1)
    run.log_metrics({"temp": 10.0}, time=0.5)
    run.close()
    assert [a.state for a in store.alerts(run)] == ["ok"]
    again = store.resume(run.id)
    for t in (1.5, 2.5, 3.5):
        again.log_metrics({"temp": 90.0}, time=t)
    again.close()
    assert [a.state for a in store.alerts(run)] == ["critical"]


# -- init(id=..., resume=...)


def test_init_with_an_id_and_the_three_modes(store):
    with pytest.raises(runlite.NotFoundError, match="resume='must'"):
        store.init(id="job-7", resume="must")
    first = store.init(id="job-7", resume="allow", metadata={"lr": 0.1}, tags=["a"])
    assert first.id == run_id_for("job-7") == str(uuid.uuid5(uuid.UUID("5b1c3c1e-6a0f-4e0c-9a55-72756e696431"),
                                                              "job-7"))
    assert first.name == "job-7" and first.resumed is None  # text ids name the run
    first.close()
    with pytest.raises(runlite.RunStateError, match="resume='allow' or 'must' continues it"):
        store.init(id="job-7", resume="never")
    with pytest.raises(runlite.RunStateError, match="resume=None wants a new one"):
        store.init(id="job-7")
    second = store.init("new name", id="job-7", resume="must", metadata={"epochs": 3}, tags=["b", "a"],
                        description="continued")
    assert second.id == first.id and second.resumed["was"] == "completed"
    second.close()
    record = store.get_run(first.id)
    assert (record.name, record.metadata, record.tags, record.description) == (
        "job-7", {"lr": 0.1, "epochs": 3}, ("a", "b"), "continued")
    given = str(uuid.uuid4()).upper()
    third = store.init("named", id=given, resume="never")
    assert third.id == given.lower() and third.name == "named"


def test_resume_by_unique_name(store):
    with pytest.raises(runlite.NotFoundError):
        store.init("nightly", resume="must")
    first = store.init("nightly", resume="allow")
    first.close()
    assert store.init("nightly", resume=True).id == first.id
    store.init("twin").close()
    store.init("twin").close()
    with pytest.raises(runlite.AmbiguousNameError, match="give the run's id"):
        store.init("twin", resume="allow")
    assert len(store.runs()) == 3


@pytest.mark.parametrize("kwargs, error, message", [
    ({"resume": "allow"}, runlite.ValidationError, "needs the run to continue"),
    ({"resume": "auto", "id": "x"}, runlite.ValidationError, "resume='auto'"),
    ({"resume": "sometimes", "id": "x"}, runlite.ValidationError, "resume must be one of"),
    ({"id": ""}, runlite.ValidationError, "id must not be empty"),
    ({"id": "a\x00b"}, runlite.ValidationError, "control character"),
    ({"id": 7}, runlite.ValidationError, "id must be a str"),
])
def test_bad_resume_arguments_are_refused(store, kwargs, error, message):
    with pytest.raises(error, match=message):
        store.init(**kwargs)
    assert store.runs() == []


def test_step_counter(store):
    run = store.init("s")
    assert run.step == 0
    run.log_metrics({"x": 1.0})
    run.step = 100
    run.log_metrics({"x": 2.0})
    assert run.step == 101
    for bad in (-1, "3", 2.5):
        with pytest.raises(runlite.ValidationError, match="step must be"):
            run.step = bad
    run.close()
    assert list(store.metric_values(run.id, "x").steps) == [0, 100]
    assert runlite.Run().step is None


# -- a preempted job


JOB = """
import os, sys, time
import runlite

start = int(sys.argv[1])
run = runlite.init("train", id="job-1234", resume="allow", config={"lr": 0.1})
print("resumed" if run.resumed else "new", run.step, flush=True)
for step in range(start, 400):
    runlite.log({"loss": 1.0 / (step + 1)}, step=step)
    if step % 10 == 0:
        runlite.log({"val": float(step)}, step=step)
    if start == 0:
        time.sleep(0.01)  # the first job is slow: it is killed on the way
runlite.finish()
"""


def test_a_preempted_job_restarted_with_the_same_id_loses_nothing_and_duplicates_nothing(tmp_path):
    db = tmp_path / "runs.db"
    script = tmp_path / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "RUNLITE_DB": str(db)}
    job = subprocess.Popen([sys.executable, str(script), "0"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert job.stdout.readline().split() == ["new", "0"]
    stored = 0
    with runlite.open(db, read_only=True) as store:  # wait until the file holds some flushed steps
        for _ in range(600):
            series = store.metric_series(run_id_for("job-1234")) if store.runs() else []
            stored = next((count for name, _asset, count in series if name == "loss"), 0)
            if stored >= 30:
                break
            time.sleep(0.05)
    checkpoint = 20  # the restarted job replays from its last checkpoint, before the last stored step
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert 30 <= stored < 400
    with runlite.open(db) as store:
        killed = store.get_run(run_id_for("job-1234"))
        last = max(store.metric_values(killed.id, "loss").steps)
        assert killed.status == "lost" and checkpoint < last < 399

    done = subprocess.run([sys.executable, str(script), str(checkpoint)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["resumed", str(last + 1)]
    assert "values at steps the file already holds are skipped" in done.stderr  # the warning, once

    with runlite.open(db) as store:
        record = store.get_run(run_id_for("job-1234"))
        assert record.status == "completed" and [e["was"] for e in record.extra["resumed"]] == ["lost"]
        loss = store.metric_values(record.id, "loss")
        assert list(loss.steps) == list(range(400))  # every step exactly once
        assert list(loss.values) == [1.0 / (s + 1) for s in range(400)]
        assert list(store.metric_values(record.id, "val").steps) == list(range(0, 400, 10))
        assert store.events(record.id, contains="resumed (was lost)")
        assert record.metadata == {"lr": 0.1}
