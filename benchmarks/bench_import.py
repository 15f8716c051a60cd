"""What runlite's import costs a program, with bytecode cached, and whether a plain ingest script
imports numpy.

``import runlite`` alone loads only the errors (the rest is imported on first use, PEP 562), so
timing it says little: a program pays its imports when it first opens a file and logs. The
checked figure is that first use: one interpreter imports runlite's dependencies (``apsw``,
``zstandard``, ``attrs``: not runlite's own time), then runs a small script twice (open an
existing file, a run with one record of two metrics, end it, read one back), and gives the
first run's CPU time less the second's: the imports and first-call work of runlite alone, the
SQLite work counted in neither (CPU time: the work is all CPU, and a busy moment of a shared
machine then changes it less). Median of repeats. ``import runlite`` alone is shown beside it, as a
whole interpreter run (``python -c``) less ``python -c pass``; each is taken in turn with the
others, so a busy moment of the machine hits them alike. Bytecode is cached in a private
``PYTHONPYCACHEPREFIX`` (warmed by one untimed run of each), whatever the caller's
``PYTHONDONTWRITEBYTECODE``.

Target (issue 18): <= 50 ms on the issue's machine (about 80 ms then, when ``import runlite``
loaded everything), "scaled" by this machine's measured slowdown (see common.py): interpreter
start-up is no floor of runlite's own import work, so it is shown beside it, not divided into
it. numpy is an optional accelerator: a script that only logs metrics must not import it (a
value of 0).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import runlite

from .common import row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(runlite.__file__)))
PROGRAMS = {"pass": "pass", "deps": "import apsw, zstandard, attrs", "runlite": "import runlite"}

# Prints runlite's first use less its second, in ms (the module docstring); argv[1]: a runlite file.
FIRST_USE_SCRIPT = """
import sys, time
import apsw, zstandard, attrs  # runlite's dependencies: not its own time
start = time.process_time()
import runlite

def use(name):
    with runlite.open(sys.argv[1]) as store:
        with store.init(name) as run:
            run.log_metrics({"loss": 0.5, "acc": 0.25})
        store.metric_values(run.id, "loss")

use("first")
first = time.process_time()
use("second")
print((first - start - (time.process_time() - first)) * 1e3)
"""

INGEST_SCRIPT = """
import os, sys, tempfile
import runlite
with tempfile.TemporaryDirectory() as tmp:
    with runlite.open(os.path.join(tmp, "n.db")) as store:
        with store.init("plain") as run:
            for i in range(5_000):
                run.log_metrics({f"m{k}": i * 0.5 + k for k in range(10)})
            run.flush()
        store.metric_values(run.id, "m0")
print(int("numpy" in sys.modules))
"""


def _env(cache: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _seconds(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def _first_use_ms(path: str, env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", FIRST_USE_SCRIPT, path], env=env, check=True, capture_output=True,
                          text=True)
    return float(done.stdout.strip().splitlines()[-1])


def import_times(repeat: int) -> dict[str, float]:
    """Median ms of each program in ``PROGRAMS`` and of runlite's first use ("first use"),
    bytecode cached."""
    with tempfile.TemporaryDirectory() as cache:
        env = _env(cache)
        path = os.path.join(cache, "first-use.db")
        for code in PROGRAMS.values():
            _seconds(code, env)  # writes the bytecode
        _first_use_ms(path, env)  # and makes the file the timed runs open
        times: dict[str, list[float]] = {k: [] for k in (*PROGRAMS, "first use")}
        for _ in range(repeat):
            for key, code in PROGRAMS.items():
                times[key].append(_seconds(code, env) * 1e3)
            times["first use"].append(_first_use_ms(path, env))
    return {k: statistics.median(v) for k, v in times.items()}


def numpy_imported() -> int:
    """1 when a script that only logs and reads metrics ends with numpy imported."""
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", INGEST_SCRIPT], env=_env(cache), check=True,
                              capture_output=True, text=True)
    return int(done.stdout.strip().splitlines()[-1])


def _numpy_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numpy") is not None


def run(quick: bool = False) -> list[dict]:
    """runlite's own import time beside the interpreter's and its dependencies'; numpy's import."""
    ms = import_times(7 if quick else 21)
    installed = "installed" if _numpy_installed() else "NOT installed: this figure cannot fail"
    return [
        row("python -c pass", ms["pass"], "ms"),
        row("python -c 'import apsw, zstandard, attrs' (runlite's dependencies)", ms["deps"], "ms"),
        row("import runlite alone (python -c 'import runlite' - python -c pass; the rest loads on first use)",
            ms["runlite"] - ms["pass"], "ms"),
        row("runlite's first use: its imports and first calls (open a file, log, end, read; the same again"
            " subtracted), bytecode cached, beside its dependencies' own import", ms["first use"], "ms",
            ms["deps"] - ms["pass"], higher_is_better=False,
            target="<= 50 ms on the issue's machine (baseline: the dependencies' own import)",
            check=("scaled", "<=", 50.0)),
        row(f"a plain ingest script imports numpy (1 = yes; numpy {installed})", numpy_imported(), "",
            target="0: numpy only when the caller imported it", check=("value", "<=", 0)),
    ]
