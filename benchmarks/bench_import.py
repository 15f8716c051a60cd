"""``import runlite`` time with bytecode cached, and whether a plain ingest script imports numpy.

Each import is timed as a whole interpreter run (``python -c ...``), median of repeats taken in
turn so a busy moment of the machine hits the three alike: ``python -c pass``, the runtime
dependencies alone (``import apsw, zstandard, attrs``), and ``import runlite``. runlite's own
import time is the difference between the last two. Bytecode is cached in a private
``PYTHONPYCACHEPREFIX`` (warmed by one untimed run of each), whatever the caller's
``PYTHONDONTWRITEBYTECODE``.

Target (issue 18): <= 50 ms on the issue's machine (about 80 ms then), "scaled" by this
machine's measured slowdown (see common.py): interpreter start-up is no floor of runlite's own
import work, so it is shown beside it, not divided into it. numpy is an optional accelerator: a
script that only logs metrics must not import it (a value of 0).
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


def import_times(repeat: int) -> dict[str, float]:
    """Median ms of each program in ``PROGRAMS``, bytecode cached."""
    with tempfile.TemporaryDirectory() as cache:
        env = _env(cache)
        for code in PROGRAMS.values():
            _seconds(code, env)  # writes the bytecode
        times: dict[str, list[float]] = {k: [] for k in PROGRAMS}
        for _ in range(repeat):
            for key, code in PROGRAMS.items():
                times[key].append(_seconds(code, env))
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


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
    own = ms["runlite"] - ms["deps"]
    installed = "installed" if _numpy_installed() else "NOT installed: this figure cannot fail"
    return [
        row("python -c pass", ms["pass"], "ms"),
        row("python -c 'import apsw, zstandard, attrs' (runlite's dependencies)", ms["deps"], "ms"),
        row("import runlite: its own time (import runlite - the dependencies), bytecode cached", own, "ms",
            ms["deps"] - ms["pass"], higher_is_better=False,
            target="<= 50 ms on the issue's machine (baseline: the dependencies' own import)",
            check=("scaled", "<=", 50.0)),
        row(f"a plain ingest script imports numpy (1 = yes; numpy {installed})", numpy_imported(), "",
            target="0: numpy only when the caller imported it", check=("value", "<=", 0)),
    ]
