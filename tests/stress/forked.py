"""Jobs each in a process of its own, forked from one child that did the imports once: what
the hostile-file tests use to measure a call's memory (``ru_maxrss`` per job) and to survive
a call that crashes its process."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Callable


def rss_kib() -> int:
    """This process's peak resident memory (KiB): in a forked job, that job's own peak."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def each_in_a_fork(jobs: list[dict], one: Callable[[dict], dict], crashed: dict) -> list[dict]:
    """``one(job)`` for every job, each in a forked process; a job whose process dies gives
    ``crashed`` with its wait status as ``error``."""
    results = []
    for job in jobs:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the job's own process
            os.close(read_end)
            try:
                os.write(write_end, json.dumps(one(job)).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            out = pipe.read()
        _, status = os.waitpid(pid, 0)
        results.append(json.loads(out) if status == 0 and out else
                       {"outcome": "crash", **crashed, "error": f"wait status {status}"})
    return results


def run_module(module: str, jobs: list[dict], jobs_path: str, timeout: float) -> list[dict]:
    """Run ``python -m module jobs_path`` (whose ``__main__`` prints the results as its last
    line, e.g. from `each_in_a_fork`) over ``jobs``; its results."""
    with open(jobs_path, "w", encoding="utf-8") as f:
        json.dump(jobs, f, default=list)
    proc = subprocess.run([sys.executable, "-m", module, jobs_path], env={**os.environ, "PYTHONPATH": os.getcwd()},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
