"""System metrics: real psutil samples land in ``system/...`` series with steps of their own,
one thread per process serves every sampling run, and sampling ends with the run.

Samples come every 0.05 s here. Nothing is timed: a test waits (with a generous deadline) until
enough samples arrived, then checks what was written.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
import types

import psutil
import pytest

import runlite
from runlite import errors, system
from runlite.system import probes, sampler

FAST = 0.05
DEADLINE = 60.0  # seconds a wait may take on a loaded machine before the test fails
CORE = ("system/cpu.percent", "system/memory.used_mb", "system/memory.percent",
        "system/process.cpu_percent", "system/process.rss_mb", "system/process.threads")


@pytest.fixture(autouse=True)
def sampler_ends():
    """Every test leaves no sampling thread behind (the next test starts its own)."""
    yield
    thread = sampler.thread()
    if thread is not None:
        thread.join(DEADLINE)
    assert sampler.thread() is None
    assert sampler_threads() == []


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == sampler.THREAD_NAME and t.is_alive()]


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def count(store, run, name: str = "system/cpu.percent") -> int:
    try:
        return len(store.metric_values(run, name))
    except errors.NotFoundError:
        return 0


def system_names(store, run) -> list[str]:
    return [n for n in store.metric_names(run) if n.startswith("system/")]


def steps(store, run, name: str) -> list[int]:
    return list(store.metric_values(run, name).steps)


# -- what is sampled


def test_real_samples_land_as_system_series_with_steps_of_their_own(store):
    run = store.init("train", system_metrics=FAST)
    assert run.system_metrics_interval == FAST
    calls = 0
    while count(store, run) < 5:  # the user's loop goes on while the sampler logs beside it
        run.log_metrics({"loss": 1.0 / (calls + 1)})
        calls += 1
        time.sleep(0.01)
        assert calls < DEADLINE / 0.01, "gave up waiting for 5 samples"
    run.log_metrics({"loss": 0.0, "acc": 1.0})
    run.end()

    assert steps(store, run, "loss") == list(range(calls + 1))  # the run's counter never moved
    assert steps(store, run, "acc") == [calls]
    names = system_names(store, run)
    assert set(CORE) <= set(names)
    gpu = {f"system/gpu.{i}.{s}" for i in range(16) for s in probes.GPU_SERIES}
    assert set(names) <= set(probes.SERIES) | gpu
    n = count(store, run)
    for name in names:  # one record a sample: every series has the steps 0..n-1
        assert steps(store, run, name) == list(range(n)), name
    for name in ("system/cpu.percent", "system/memory.percent", "system/process.cpu_percent"):
        values = store.metric_values(run, name).values
        assert all(0.0 <= v <= 100.0 for v in values), (name, list(values))
    rss = store.metric_values(run, "system/process.rss_mb").values
    mine = psutil.Process().memory_info().rss / 1e6
    assert all(mine / 4 < v < mine * 4 for v in rss)  # this process's RSS, in MB
    assert all(v >= 2 for v in store.metric_values(run, "system/process.threads").values)  # main + sampler
    for name in names:
        if name.endswith("_per_s"):
            assert all(v >= 0 and math.isfinite(v) for v in store.metric_values(run, name).values), name
    assert store.get_run(run.id).status == "completed"


def test_sampling_starts_and_stops_on_a_running_run(store):
    run = store.init("manual")
    assert run.system_metrics_interval is None
    assert run.start_system_metrics(FAST) is True
    wait_until(lambda: count(store, run) >= 2, "2 samples")
    assert run.stop_system_metrics() is True
    assert run.system_metrics_interval is None
    thread = sampler.thread()
    if thread is not None:
        thread.join(DEADLINE)  # the only run left: the thread ends
    stopped_at = count(store, run)
    run.log_metrics({"x": 1.0})
    run.start_system_metrics(FAST)  # again: the steps go on from where they stopped
    wait_until(lambda: count(store, run) >= stopped_at + 2, "2 more samples")
    run.close()
    assert steps(store, run, "system/cpu.percent") == list(range(count(store, run)))
    assert steps(store, run, "x") == [0]


def test_a_resumed_run_samples_after_its_stored_samples_and_logs_after_its_own_steps(store):
    """Resumed, the samples began again at step 0 (each stored step twice), and the run's own
    steps went on after the samples' last step."""
    run = store.init("train", id="job", system_metrics=FAST)
    run.log_metrics({"loss": 1.0})
    wait_until(lambda: count(store, run) >= 3, "3 samples")
    run.close()
    before = count(store, run)
    again = store.init("train", id="job", resume="allow", system_metrics=FAST)
    assert again.step == 1 and again.resumed["last_step"] == 0
    again.log_metrics({"loss": 0.5})
    wait_until(lambda: count(store, again) >= before + 2, "2 more samples")
    again.close()
    assert steps(store, again, "loss") == [0, 1]
    for name in system_names(store, again):
        assert steps(store, again, name) == list(range(count(store, again))), name


def test_default_interval_is_ten_seconds(store):
    assert system.DEFAULT_INTERVAL == 10.0
    assert system.setting(True) == 10.0 and system.setting(False) is None and system.setting(None) is None
    run = store.init("default", system_metrics=True)
    assert run.system_metrics_interval == 10.0
    run.start_system_metrics()
    assert run.system_metrics_interval == 10.0
    run.end()
    assert run.system_metrics_interval is None


# -- one thread


def test_one_thread_serves_two_runs_and_ends_after_them(tmp_path):
    with runlite.open(str(tmp_path / "a.db")) as a, runlite.open(str(tmp_path / "b.db")) as b:
        first = a.init("first", system_metrics=FAST)
        second = b.init("second", system_metrics=FAST * 2)
        wait_until(lambda: count(a, first) >= 3 and count(b, second) >= 3, "samples in both runs")
        assert len(sampler_threads()) == 1
        thread = sampler.thread()
        first.end()
        had = count(b, second)
        wait_until(lambda: count(b, second) >= had + 2, "the second run sampled on after the first ended")
        assert sampler.thread() is thread and thread.is_alive()
        second.end()
        thread.join(DEADLINE)
        assert not thread.is_alive() and sampler.thread() is None
        for store, run in ((a, first), (b, second)):
            assert steps(store, run, "system/memory.percent") == list(range(count(store, run)))


def test_no_sample_after_the_run_ends_even_by_an_exception(store):
    with pytest.raises(ZeroDivisionError):
        with store.init("crash", system_metrics=FAST) as run:
            wait_until(lambda: count(store, run) >= 3, "3 samples")
            1 / 0
    record = store.get_run(run.id)
    assert record.status == "failed"
    thread = sampler.thread()
    if thread is not None:
        thread.join(DEADLINE)
    ended_us = record.ended.timestamp() * 1e6
    assert all(ts <= ended_us for ts in store.metric_values(run, "system/cpu.percent").timestamps)


def test_closing_the_store_stops_its_runs_sampling(db_path):
    store = runlite.open(db_path)
    run = store.init("left running", system_metrics=FAST)
    wait_until(lambda: count(store, run) >= 2, "2 samples")
    store.close()  # the run is never ended: the feed finds its writer released and leaves
    wait_until(lambda: sampler.thread() is None, "the sampler to end")
    with runlite.open(db_path, read_only=True) as again:
        assert count(again, run) >= 2


# -- failures never break the run


def test_a_failing_probe_is_dropped_and_said_once(store, monkeypatch):
    def broken():
        raise RuntimeError("no /proc/meminfo here")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    run = store.init("probe fails", system_metrics=FAST)
    wait_until(lambda: count(store, run) >= 4, "4 samples")
    run.log_metrics({"loss": 1.0})
    run.end()
    assert store.get_run(run.id).status == "completed"
    names = system_names(store, run)
    assert "system/memory.percent" not in names and "system/memory.used_mb" not in names
    assert "system/cpu.percent" in names
    assert steps(store, run, "system/cpu.percent") == list(range(count(store, run)))
    warnings = store.events(run, level="warning")
    assert len(warnings) == 1
    assert "memory probe failed" in warnings[0].message and "no /proc/meminfo here" in warnings[0].message


def test_nvml_absent_means_no_gpu_series_and_no_note():
    reader = probes.Reader()
    try:
        values, notes = reader.read()
    finally:
        reader.close()
    try:
        import pynvml

        pynvml.nvmlInit()
        gpus = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - not installed, or no driver: no GPU for runlite either
        gpus = 0
    gpu_names = {n for n in values if n.startswith("system/gpu.")}
    if gpus == 0:
        assert gpu_names == set() and notes == []
    else:  # a machine with NVIDIA GPUs: each one's utilisation at least
        assert {f"system/gpu.{i}.utilization" for i in range(gpus)} <= gpu_names


class _NotSupported(Exception):
    pass


def _nvml_standin(calls: list) -> types.ModuleType:
    """NVML's calls as pynvml names them, for one GPU whose power reading is not supported
    (this machine has no GPU: the mapping of NVML's figures to series is what is tested)."""
    nv = types.ModuleType("pynvml")
    nv.NVML_TEMPERATURE_GPU = 0
    nv.nvmlInit = lambda: calls.append("init")
    nv.nvmlShutdown = lambda: calls.append("shutdown")
    nv.nvmlDeviceGetCount = lambda: 1
    nv.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=87, memory=40)
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=6_000_000_000, total=24_000_000_000,
                                                                 free=18_000_000_000)
    nv.nvmlDeviceGetTemperature = lambda h, sensor: 71 if sensor == 0 else -1

    def power(h):
        raise _NotSupported("Not Supported")
    nv.nvmlDeviceGetPowerUsage = power
    return nv


def test_gpu_figures_as_series_and_an_unsupported_one_dropped(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "pynvml", _nvml_standin(calls))
    reader = probes.Reader()
    values, notes = reader.read()
    again, later = reader.read()
    reader.close()
    assert values["system/gpu.0.utilization"] == 87.0
    assert values["system/gpu.0.memory_used_mb"] == 6000.0
    assert values["system/gpu.0.memory_percent"] == 25.0
    assert values["system/gpu.0.temperature"] == 71.0
    assert "system/gpu.0.power_watts" not in values and "system/gpu.0.power_watts" not in again
    assert len(notes) == 1 and "gpu.0 power probe failed" in notes[0] and later == []
    assert calls == ["init", "shutdown"]


def test_gpu_power_is_watts(monkeypatch):
    nv = _nvml_standin([])
    nv.nvmlDeviceGetPowerUsage = lambda h: 251_500  # NVML gives milliwatts
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    reader = probes.Reader()
    values, notes = reader.read()
    reader.close()
    assert values["system/gpu.0.power_watts"] == 251.5 and notes == []


# -- what is refused


@pytest.mark.parametrize("bad", [0, -1, 0.001, 86_401, 1e300, 10**400, math.nan, math.inf, "10", True, [10]])
def test_bad_intervals_are_refused(store, bad):
    run = store.init("bad interval")
    with pytest.raises(errors.ValidationError, match="interval"):
        run.start_system_metrics(bad)
    assert run.system_metrics_interval is None and sampler.thread() is None
    run.end()


@pytest.mark.parametrize("bad", [0, -5, math.nan, "yes", [1]])
def test_bad_settings_create_no_run(store, bad):
    with pytest.raises(errors.ValidationError, match="system_metrics|interval"):
        store.init("refused", system_metrics=bad)
    assert store.runs() == []


def test_a_run_not_running_cannot_sample(store):
    with pytest.raises(errors.ValidationError, match="running"):
        store.init("created", running=False, system_metrics=True)
    assert store.runs() == []
    run = store.init("later", running=False)
    with pytest.raises(errors.RunStateError):
        run.start_system_metrics(FAST)
    run.end()
    with pytest.raises(errors.RunStateError):
        run.start_system_metrics(FAST)


def test_missing_psutil_names_the_extra(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # what an uninstalled package does to an import
    assert runlite.system.available() is False
    with pytest.raises(errors.MissingExtraError, match=r"pip install 'runlite\[system\]'") as info:
        store.init("no psutil", system_metrics=True)
    assert isinstance(info.value, ImportError)
    assert store.runs() == []
    run = store.init("asks later")
    with pytest.raises(errors.MissingExtraError):
        run.start_system_metrics()
    run.end()
    monkeypatch.undo()
    assert runlite.system.available() is True


# -- processes


def _child_samples(path: str, parent, queue) -> None:
    try:
        inherited = sampler.thread() is None and parent.system_metrics_interval is None  # the parent's
        with runlite.open(path) as store:
            run = store.init("child", system_metrics=FAST)
            wait_until(lambda: count(store, run) >= 3, "3 samples in the child")
            threads = sampler_threads()
            mine = sampler.thread()
            run.end()
        queue.put(("ok", inherited, len(threads), mine is not None and mine.ident in
                   {t.ident for t in threads}, os.getpid()))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        queue.put(("error", repr(exc)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_samples_in_its_own_thread(store, db_path):
    parent = store.init("parent", system_metrics=FAST)
    wait_until(lambda: count(store, parent) >= 2, "2 samples in the parent")
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_samples, args=(db_path, parent, queue))
    proc.start()
    result = queue.get(timeout=DEADLINE * 2)
    proc.join(DEADLINE)
    assert result[0] == "ok", result
    _, nothing_inherited, threads, own, pid = result
    assert nothing_inherited and threads == 1 and own and pid != os.getpid()
    assert proc.exitcode == 0
    assert parent.system_metrics_interval == FAST
    had = count(store, parent)
    wait_until(lambda: count(store, parent) >= had + 2, "the parent sampling on")
    parent.end()
    child = [r for r in store.runs() if r.name == "child"][0]
    assert child.status == "completed"
    for run in (parent, child):
        assert steps(store, run, "system/cpu.percent") == list(range(count(store, run)))
    rss = store.metric_values(child, "system/process.rss_mb").values
    assert len(rss) >= 3  # the child's own process was read


def test_interpreter_exit_stops_sampling_and_writes_the_samples(db_path):
    code = (
        "import time, runlite\n"
        f"store = runlite.open({db_path!r})\n"
        f"run = store.init('exits', system_metrics={FAST})\n"
        "deadline = time.monotonic() + 60\n"
        "while runlite.system.sampler.usage()[0] < 4:\n"
        "    assert time.monotonic() < deadline\n"
        "    time.sleep(0.02)\n"
        "run.log_metrics({'loss': 0.5})\n"  # never ended, never closed: the exit does it
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE * 2,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    with runlite.open(db_path, read_only=True) as store:
        run = store.runs()[0]
        n = count(store, run)
        assert n >= 4
        assert steps(store, run, "system/cpu.percent") == list(range(n))
        assert steps(store, run, "loss") == [0]


def test_an_alert_on_a_system_series_that_aborts_the_run_stops_its_sampling(store):
    run = store.init("aborted", system_metrics=FAST)
    run.create_metric_threshold_alert("threads", "system/process.threads", 0.5, "is above", window=1,
                                      frequency=1, trigger_abort=True)  # a process has a thread or more
    wait_until(lambda: run.status == "terminated", "the alert to end the run")
    assert run.system_metrics_interval is None
    wait_until(lambda: sampler.thread() is None, "the sampler to end")
    assert store.get_run(run.id).status == "terminated"
    assert [a.state for a in store.alerts(run)] == ["critical"]
    run.close()
