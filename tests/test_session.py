"""runlite.init/log/finish, runlite.run and runlite.config: the module-level API of one active
run a process (W&B's semantics), its exit behaviour in real subprocesses, notebook-like
re-runs, and multiprocessing workers (spawn and fork) writing one file."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import runlite


@pytest.fixture(autouse=True)
def no_active_run():
    """Every test starts and ends with no active run in this process."""
    runlite.finish()
    yield
    runlite.finish()


def run_script(code: str, cwd, *, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "RUNLITE_DB"}
    environ.update(env, PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


# -- the module API


def test_init_log_finish_write_the_run(db_path):
    assert runlite.run is None and runlite.config is None
    run = runlite.init("first", db=db_path, project="mnist", config={"optimizer": {"lr": 0.1}, "epochs": 3},
                       tags=["baseline"], notes="the first try")
    assert runlite.run is run and run.status == "running"
    for i in range(5):
        runlite.log({"loss": 1.0 / (i + 1), "acc": i / 10})
    runlite.finish()
    assert runlite.run is None and runlite.config is None
    with runlite.open(db_path) as store:
        record = store.get_run(run.id)
        assert (record.status, record.folder, record.tags, record.description) == (
            "completed", "/mnist", ("baseline",), "the first try")
        assert record.metadata == {"optimizer.lr": 0.1, "epochs": 3}
        loss = store.metric_values(run.id, "loss")
        assert list(loss.steps) == [0, 1, 2, 3, 4] and list(loss.values) == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_import_stays_light_until_init_is_called(tmp_path):
    out = run_script("""
        import sys
        import runlite
        init, log, finish = runlite.init, runlite.log, runlite.finish
        assert runlite.run is None and runlite.config is None
        print(sorted(m for m in ("runlite.store", "runlite.handle", "runlite.storage.connection") if m in sys.modules))
        run = runlite.init("x")
        print("runlite.store" in sys.modules, runlite.run is run, "run" in vars(runlite), "config" in vars(runlite))
        runlite.finish()
    """, tmp_path).stdout.split("\n")
    assert out[:2] == ["[]", "True True False False"]


def test_run_and_config_are_the_active_ones_on_every_access(db_path):
    first = runlite.init("a", db=db_path, config={"k": 1})
    config = runlite.config
    second = runlite.init("b", db=db_path, config={"k": 2})  # the default reinit finishes the first
    assert runlite.run is second and runlite.config["k"] == 2 and config is not runlite.config
    assert "run" not in vars(runlite) and "config" not in vars(runlite)
    assert {"run", "config", "init", "log", "finish"} <= set(dir(runlite))
    runlite.finish()
    with runlite.open(db_path) as store:
        assert [store.get_run(r.id).status for r in (first, second)] == ["completed", "completed"]


def test_init_takes_db_as_a_store_or_the_default_file(tmp_path, monkeypatch):
    with runlite.open(tmp_path / "given.db") as store:
        run = runlite.init("s", db=store)
        runlite.log({"x": 1.0})
        runlite.finish()
        assert not store.closed and store.get_run(run.id).status == "completed"  # not ours to close
    monkeypatch.setenv("RUNLITE_DB", str(tmp_path / "env.db"))
    run = runlite.init("e")
    runlite.finish()
    with runlite.open(tmp_path / "env.db") as store:
        assert store.get_run(run.id).status == "completed"


@pytest.mark.parametrize("kwargs, message", [
    ({"reinit": "sometimes"}, "reinit must be one of"),
    ({"system_metrics": "yes"}, "system_metrics must be True, False"),
    ({"system_metrics": -1}, "system metrics interval must be from"),
    ({"db": 42}, "db must be a Store or a file path"),
    ({"db": ""}, "db must be a Store or a file path"),
    ({"notes": "a", "description": "b"}, "not both"),
    ({"project": "p", "folder": "/f"}, "not both"),
    ({"project": ""}, "project must not be empty"),
    ({"config": [1, 2]}, "config must be a dict"),
    ({"config": {"lr": float("nan")}}, "must be finite"),
    ({"config": {1: "a"}}, "keys of config must be str"),
    ({"config": {"a.b": 1, "a": {"b": 2}}}, "gives the key 'a.b' twice"),
    ({"resume": "auto", "id": "x"}, "resume='auto'"),
    ({"resume": "allow", "name": None}, "needs the run to continue"),
    ({"id": ""}, "id must not be empty"),
    ({"name": " "}, "run name must not be empty"),
    ({"heartbeat_timeout": 0.5}, "heartbeat_timeout must be"),
    ({"tags": "one"}, "tags must be a list"),
])
def test_init_refuses_bad_arguments_and_changes_nothing(db_path, kwargs, message):
    kept = runlite.init("kept", db=db_path)
    with pytest.raises(runlite.ValidationError, match=message):
        runlite.init(**{"name": "bad", "db": db_path, **kwargs})
    assert runlite.run is kept and kept.status == "running"
    runlite.finish()
    with runlite.open(db_path) as store:
        assert [r.name for r in store.runs()] == ["kept"]


def test_init_refused_by_what_the_file_holds_leaves_the_previous_run_active(db_path, tmp_path):
    """The refusals that need the file (or the config's size) ended the previous run first."""
    other = tmp_path / "not-runlite.db"
    other.write_bytes(b"SQLite format 3\x00" + bytes(4096))
    runlite.init("existing", db=db_path, id="job-1")
    runlite.finish()
    kept = runlite.init("kept", db=db_path)
    for kwargs, error in (({"config": {"blob": "x" * (17 << 20)}}, runlite.LimitError),
                          ({"id": "job-2", "resume": "must"}, runlite.NotFoundError),
                          ({"id": "job-1", "resume": "never"}, runlite.RunStateError),
                          ({"id": "job-1"}, runlite.RunStateError),
                          ({"db": str(other)}, runlite.RunliteError)):
        with pytest.raises(error):
            runlite.init(**{"name": "bad", "db": db_path, **kwargs})
        assert runlite.run is kept and kept.status == "running", kwargs
    runlite.finish()
    with runlite.open(db_path) as store:
        assert sorted(r.name for r in store.runs()) == ["existing", "kept"]
        assert store.get_run(kept.id).status == "completed"


def test_reinit_modes(db_path):
    first = runlite.init("a", db=db_path)
    assert runlite.init("again", db=db_path, reinit="return_previous") is first
    with pytest.raises(runlite.RunStateError, match="still active"):
        runlite.init("b", db=db_path, reinit="error")
    assert runlite.run is first and first.status == "running"
    second = runlite.init("c", db=db_path, reinit=True)
    assert first.status == "completed" and runlite.run is second


def test_with_block_ends_the_run_and_log_then_says_so(db_path):
    with runlite.init("w", db=db_path) as run:
        runlite.log({"x": 1.0})
    assert run.status == "completed" and runlite.run is None
    with pytest.raises(runlite.RunStateError, match="completed"):
        runlite.log({"x": 2.0})
    runlite.finish()
    with pytest.raises(runlite.RunStateError, match="call runlite.init"):
        runlite.log({"x": 3.0})


def test_finish_with_an_exit_code_fails_the_run(db_path):
    run = runlite.init("code", db=db_path)
    with pytest.raises(runlite.ValidationError):
        runlite.finish(exit_code="1")
    runlite.finish(exit_code=3)
    with runlite.open(db_path) as store:
        record = store.get_run(run.id)
        assert record.status == "failed" and "exit code 3" in record.error


def test_system_metrics_are_sampled_by_default_where_psutil_is(db_path, monkeypatch):
    pytest.importorskip("psutil")
    import time

    from runlite.system import DEFAULT_INTERVAL

    assert runlite.init("default", db=db_path).system_metrics_interval == DEFAULT_INTERVAL
    assert runlite.init("off", db=db_path, system_metrics=False).system_metrics_interval is None
    run = runlite.init("fast", db=db_path, system_metrics=0.05)
    with runlite.open(db_path, read_only=True) as reader:
        for _ in range(200):
            if "system/cpu.percent" in reader.metric_names(run.id):
                break
            time.sleep(0.05)
        else:
            pytest.fail("no system sample within 10 s at an interval of 0.05 s")
    runlite.log({"loss": 1.0})
    runlite.finish()
    with runlite.open(db_path) as store:
        assert list(store.metric_values(run.id, "loss").steps) == [0]  # samples keep steps of their own

    monkeypatch.setitem(sys.modules, "psutil", None)  # psutil not installed
    kept = runlite.init("no psutil", db=db_path)  # wanted by default, not required: skipped
    assert kept.system_metrics_interval is None
    with pytest.raises(runlite.MissingExtraError, match=r"runlite\[system\]"):
        runlite.init("asked", db=db_path, system_metrics=10)  # asked for: refused before anything changes
    assert runlite.run is kept
    runlite.finish()
    with runlite.open(db_path) as store:
        assert sorted(r.name for r in store.runs()) == ["default", "fast", "no psutil", "off"]


# -- config


def test_config_writes_through_and_reads_nested_keys(db_path):
    runlite.init("cfg", db=db_path, config=argparse.Namespace(lr=0.1, model={"depth": 4, "act": "relu"}))
    config = runlite.config
    assert dict(config) == {"lr": 0.1, "model.depth": 4, "model.act": "relu"}
    assert config["model"] == {"depth": 4, "act": "relu"} and config.lr == 0.1 and "model.depth" in config
    config.update({"optimizer": {"name": "adam", "betas": [0.9, 0.99]}}, allow_val_change=True)
    config["seed"] = np.int64(7)
    config.warmup = np.float32(0.5)
    assert config.setdefault("seed", 1) == 7 and config.setdefault("fresh", "yes") == "yes"
    with pytest.raises(KeyError):
        config["nothing"]
    with pytest.raises(AttributeError):
        config.nothing
    with pytest.raises(runlite.ValidationError, match="must be finite"):
        config.update(clip=float("inf"))
    stored = runlite.open(db_path).get_run(runlite.run.id).metadata
    assert stored == {"lr": 0.1, "model.depth": 4, "model.act": "relu", "optimizer.name": "adam",
                      "optimizer.betas": [0.9, 0.99], "seed": 7, "warmup": 0.5, "fresh": "yes"}
    assert type(stored["seed"]) is int and type(stored["warmup"]) is float
    assert config.as_dict(nest=True)["optimizer"] == {"name": "adam", "betas": [0.9, 0.99]}


def test_numpy_scalars_are_numbers_in_metadata_everywhere(store):
    run = store.init("np", metadata={"lr": np.float32(0.1), "n": np.int64(3), "ok": np.bool_(True),
                                     "w": np.array(2.5), "name": np.str_("adam"), "xs": [np.float64(1.5)]})
    run.update_metadata({"seed": np.uint8(7)})
    run.set_folder_details(metadata={"budget": np.int32(10)})
    metadata = store.get_run(run.id).metadata
    assert metadata == {"lr": 0.10000000149011612, "n": 3, "ok": True, "w": 2.5, "name": "adam", "xs": [1.5],
                        "seed": 7}
    assert [type(metadata[k]) for k in ("lr", "n", "ok", "seed")] == [float, int, bool, int]
    assert store.folder("/")["metadata"] == {"budget": 10}
    for bad, message in ((np.float32("nan"), "must be finite"), (np.array([1, 2]), "numpy or torch scalars"),
                         (np.datetime64("2024-01-01"), "numpy or torch scalars")):
        with pytest.raises(runlite.ValidationError, match=message):
            run.update_metadata({"bad": bad})


def test_nested_config_keys_are_filterable_in_both_grammars(db_path):
    for name, lr in (("slow", 0.01), ("fast", 0.1)):
        runlite.init(name, db=db_path, config={"optimizer": {"lr": lr, "name": "sgd"}})
    runlite.finish()
    with runlite.open(db_path) as store:
        assert [r.name for r in store.get_runs(["metadata.optimizer.lr > 0.05"])] == ["fast"]
        assert [r.name for r in store.get_runs(["metadata.optimizer.name == sgd"], sort_by="name")] == ["fast", "slow"]
        found = store.list_runs(filter='and(eq(metadata_key, "optimizer.lr"), gt(metadata_value, 0.05))')
        assert [r.name for r in found] == ["fast"]
        found = store.list_runs(filter='has(metadata, \'{"optimizer.lr": 0.01}\')')
        assert [r.name for r in found] == ["slow"]


# -- log


def test_log_steps_follow_wandb(db_path):
    run = runlite.init("steps", db=db_path)
    runlite.log({"loss": 1.0})                # step 0
    runlite.log({"loss": 0.9}, step=10)       # an explicit step sets the step...
    runlite.log({"loss": 0.8})                # ...and later calls continue after it: 11
    runlite.log({"val": 0.5}, step=11)        # the same step again: another metric at step 11
    runlite.log({"lr": 0.1}, commit=False)    # joins the next record's step (12)
    runlite.log({"loss": 0.7})                # 12
    runlite.log({"loss": 0.6}, step=np.int64(20))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runlite.log({"loss": 9.0}, step=3)    # back in time: dropped, with one warning a run
        runlite.log({"loss": 9.0}, step=4)
    assert len(caught) == 1 and "step 3 is below the last step logged (20)" in str(caught[0].message)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    runlite.log({})                           # nothing to log: nothing happens
    runlite.log({"loss": 0.5})                # 21
    runlite.finish()
    with runlite.open(db_path) as store:
        assert list(store.metric_values(run.id, "loss").steps) == [0, 10, 11, 12, 20, 21]
        assert list(store.metric_values(run.id, "val").steps) == [11]
        assert list(store.metric_values(run.id, "lr").steps) == [12]
        assert [e.message for e in store.events(run.id, level="warning")] == [
            "runlite.log dropped 2 record(s) whose step went back"]


def test_a_step_below_one_held_by_commit_false_is_dropped(db_path):
    """After commit=False the counter is the step just logged, not the next one: a step one
    below it was taken as going forward."""
    run = runlite.init("held", db=db_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runlite.log({"loss": 1.0}, step=10, commit=False)
        runlite.log({"loss": 2.0}, step=9)
    assert len(caught) == 1 and "step 9 is below the last step logged (10)" in str(caught[0].message)
    runlite.log({"acc": 0.5})  # still step 10: the held step takes the next record
    runlite.finish()
    with runlite.open(db_path) as store:
        assert list(store.metric_values(run.id, "loss").steps) == [10]
        assert list(store.metric_values(run.id, "acc").steps) == [10]


def test_a_record_dropped_as_replayed_or_going_back_is_still_checked(db_path):
    """A dropped record was never checked: bad values went unnoticed while a job replayed."""
    first = runlite.init("r", db=db_path, id="job")
    for step in range(5):
        runlite.log({"loss": float(step)})
    runlite.finish()
    runlite.init("r", db=db_path, id="job", resume="allow")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for bad in ({"loss": "not a number"}, {"loss": [1.0]}, {"": 1.0}):
            with pytest.raises(runlite.ValidationError):
                runlite.log(bad, step=3)  # a step the file holds: replayed
        runlite.log({"loss": 9.0}, step=7)
        with pytest.raises(runlite.ValidationError):
            runlite.log({"loss": object()}, step=2)  # back in time
    runlite.finish()
    with runlite.open(db_path) as store:
        assert list(store.metric_values(first.id, "loss").steps) == [0, 1, 2, 3, 4, 7]


def test_log_takes_numbers_only_and_a_refused_call_logs_nothing(db_path):
    run = runlite.init("values", db=db_path)
    runlite.log({"a": np.float32(0.25), "b": np.int64(3), "c": np.bool_(True), "d": np.array(1.5), "e": float("nan")})
    for bad, message in (({"a": "high"}, "accepted are int, float, bool"), ({"a": [1.0]}, "accepted are"),
                         ({"a": np.array([1.0, 2.0])}, "accepted are"), ([("a", 1.0)], "must be a dict")):
        with pytest.raises(runlite.ValidationError, match=message):
            runlite.log(bad)
        with pytest.raises(runlite.ValidationError):
            runlite.log(bad, step=5)
    for bad_step in (-1, 1.5, "3", True):
        with pytest.raises(runlite.ValidationError, match="step must be"):
            runlite.log({"a": 1.0}, step=bad_step)
    with pytest.raises(runlite.ValidationError, match="commit"):
        runlite.log({"a": 1.0}, commit="no")
    runlite.log({"a": 2.0})
    runlite.finish()
    with runlite.open(db_path) as store:
        series = store.metric_values(run.id, "a")
        assert list(series.steps) == [0, 1] and list(series.values) == [0.25, 2.0]
        e = store.metric_values(run.id, "e").values[0]
        assert e != e and list(store.metric_values(run.id, "d").values) == [1.5]


def test_torch_scalars_are_numbers_in_config_and_log(db_path):
    torch = pytest.importorskip("torch")
    run = runlite.init("torch", db=db_path, config={"lr": torch.tensor(0.5)})
    runlite.log({"loss": torch.tensor(0.25)})
    runlite.finish()
    with runlite.open(db_path) as store:
        assert store.get_run(run.id).metadata == {"lr": 0.5}
        assert list(store.metric_values(run.id, "loss").values) == [0.25]


# -- exit behaviour, in real processes


@pytest.mark.parametrize("end, code", [("pass", 0), ("raise SystemExit(3)", 3)])
def test_interpreter_exit_completes_the_active_run(tmp_path, end, code):
    done = run_script(f"""
        import runlite
        runlite.init("script", config={{"a": 1}})
        for i in range(3):
            runlite.log({{"x": float(i)}})
        {end}  # sys.exit's code is not seen by atexit: completed (docs/ML.md)
    """, tmp_path, check=False)
    assert done.returncode == code, done.stderr
    with runlite.open(tmp_path / "runs.db") as store:
        (record,) = store.runs()
        assert record.status == "completed" and list(store.metric_values(record.id, "x").values) == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("raised, status", [("ValueError('bad batch')", "failed"),
                                             ("KeyboardInterrupt()", "terminated")])
def test_an_uncaught_exception_ends_the_run_and_the_previous_hook_still_reports(tmp_path, raised, status):
    done = run_script(f"""
        import sys
        import runlite
        previous = sys.excepthook
        def mine(kind, exc, tb):
            print("MY HOOK", kind.__name__, flush=True)
            previous(kind, exc, tb)
        sys.excepthook = mine
        runlite.init("crash")
        runlite.log({{"x": 1.0}})
        raise {raised}
    """, tmp_path, check=False)
    assert done.returncode != 0
    assert "MY HOOK" in done.stdout and "Traceback" in done.stderr  # the program's own report as before
    with runlite.open(tmp_path / "runs.db") as store:
        (record,) = store.runs()
        assert record.status == status and raised.split("(")[0] in record.error
        assert list(store.metric_values(record.id, "x").values) == [1.0]
        assert [e.level for e in store.events(record.id)] == ["error"]


def test_notebook_cells_keep_the_run_active_between_them(tmp_path):
    # A notebook runs cells with exec and shows a cell's exception itself (sys.excepthook is
    # not called): the run stays active; running the init cell again starts a new run.
    out = run_script("""
        import traceback
        import runlite
        cells = ['run = runlite.init("nb", config={"lr": 0.1})',
                 'runlite.log({"loss": 1.0})',
                 '1 / 0',
                 'runlite.log({"loss": 0.5}); runlite.config.lr = 0.01',
                 'run = runlite.init("nb", config={"lr": 0.1})',
                 'runlite.log({"loss": 2.0})']
        namespace = {"runlite": runlite}
        for cell in cells:
            try:
                exec(cell, namespace)
            except Exception:
                traceback.print_exc()
        print(runlite.run.id)
    """, tmp_path).stdout.strip()
    with runlite.open(tmp_path / "runs.db") as store:
        first, second = sorted(store.runs(), key=lambda r: r.created)
        assert (first.status, second.status, second.id) == ("completed", "completed", out)
        assert list(store.metric_values(first.id, "loss").values) == [1.0, 0.5]
        assert first.metadata == {"lr": 0.01} and second.metadata == {"lr": 0.1}


def _worker(args):
    db, index, start_method = args
    import runlite as rl

    run = rl.init(f"worker-{index}", db=db, config={"index": index, "start": start_method})
    for step in range(200):
        rl.log({"loss": float(index * 1000 + step), "acc": step / 200})
    rl.finish()
    return run.id


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_four_workers_each_log_their_own_run_into_one_file(tmp_path, start_method):
    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method} here")
    db = str(tmp_path / "runs.db")
    parent = runlite.init("parent", db=db)  # forked children inherit it, and must leave it alone
    runlite.log({"p": 1.0})
    context = multiprocessing.get_context(start_method)
    with context.Pool(4) as pool:  # a worker stuck past the timeout fails the test instead of hanging it
        ids = pool.map_async(_worker, [(db, i, start_method) for i in range(4)]).get(timeout=300)
    assert runlite.run is parent and parent.status == "running"
    runlite.log({"p": 2.0})
    runlite.finish()
    with runlite.open(db) as store:
        assert len(set(ids)) == 4
        for index, run_id in enumerate(ids):
            record = store.get_run(run_id)
            assert record.status == "completed" and record.metadata == {"index": index, "start": start_method}
            loss = store.metric_values(run_id, "loss")
            assert list(loss.steps) == list(range(200))
            assert list(loss.values) == [float(index * 1000 + s) for s in range(200)]
        assert store.get_run(parent.id).status == "completed"
        assert list(store.metric_values(parent.id, "p").values) == [1.0, 2.0]


def test_a_forked_child_has_no_active_run_and_its_exit_leaves_the_parents(tmp_path):
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    out = run_script("""
        import os, sys
        import runlite
        parent = runlite.init("parent")
        runlite.log({"p": 1.0})
        pid = os.fork()
        if pid == 0:  # the child: no active run; its own run; then a normal exit (atexit runs)
            assert runlite.run is None
            runlite.init("child")
            runlite.log({"c": 1.0})
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print(runlite.run is parent, parent.status, runlite.open("runs.db").get_run(parent.id).status)
        runlite.log({"p": 2.0})
    """, tmp_path).stdout.split()
    assert out == ["True", "running", "running"]
    with runlite.open(tmp_path / "runs.db") as store:
        assert {r.name: r.status for r in store.runs()} == {"parent": "completed", "child": "completed"}
        (parent,) = store.get_runs(["name == parent"])
        assert list(store.metric_values(parent.id, "p").values) == [1.0, 2.0]
