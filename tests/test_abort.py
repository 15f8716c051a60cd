"""Aborting a run from outside its process (Simvue's ``Client.abort_run``): the file says
``terminated`` at once, and the run's own handle stops at its next heartbeat."""

from __future__ import annotations

import time

import pytest

import runlite
from runlite.simvue.client import Client


def test_a_run_aborted_from_another_store_stops_at_its_next_heartbeat(tmp_path):
    path = str(tmp_path / "runs.db")
    writer = runlite.open(path)
    run = writer.init("long-job", heartbeat_timeout=1.5)  # heartbeats every 0.5 s
    run.log_metrics({"loss": 1.0})
    with runlite.open(path) as other:
        other.abort_run(run.id, "stopped by the operator")
        got = other.get_run(run.id)
        assert got.status == "terminated" and got.error == "stopped by the operator" and got.ended is not None
        with pytest.raises(runlite.RunStateError, match="not running"):
            other.abort_run(run.id)
    deadline = time.monotonic() + 10
    with pytest.raises(runlite.RunAborted, match="abort_run"):
        while time.monotonic() < deadline:
            run.log_metrics({"loss": 0.5})
            time.sleep(0.05)
    run.close()  # ending an aborted handle keeps it terminated
    assert writer.get_run(run.id).status == "terminated"
    writer.close()


def test_simvue_client_abort_run(tmp_path):
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as store:
        run = store.init("job")
        with Client(path=path) as client:
            answer = client.abort_run(run.id, "out of budget")
            assert answer == {"id": run.id, "status": "terminated", "reason": "out of budget"}
        assert store.get_run(run.id).error == "out of budget"


def test_a_simvue_run_aborted_from_outside_calls_its_abort_callback(tmp_path):
    from runlite.simvue import Run

    path = str(tmp_path / "runs.db")
    called = []
    with runlite.open(path) as store:
        run = Run(mode="offline", abort_callback=called.append, store=store)
        run.init("simvue-job", timeout=2)  # heartbeats every 2/3 s
        with Client(path=path) as client:
            client.abort_run(run.id, "stop it")
        deadline = time.monotonic() + 10
        while not called and time.monotonic() < deadline:
            time.sleep(0.05)
        assert called == [run]
        with pytest.raises(RuntimeError):
            run.log_metrics({"x": 1.0})
        run.close()
