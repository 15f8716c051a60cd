"""What `import runlite` loads, that every public name still arrives on first use, and that
logging metrics never imports numpy on the program's behalf. Each check runs in a fresh
interpreter, so modules other tests imported cannot hide a regression."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, tmp_path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("RUNLITE_NUMPY", "RUNLITE_PURE", "RUNLITE_DB")}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_loads_only_the_public_face(tmp_path):
    out = run_python("""
        import sys
        import runlite
        heavy = [m for m in ("runlite.store", "runlite.handle", "runlite.storage.connection", "runlite.tracing",
                             "runlite.records", "numpy", "uuid", "decimal") if m in sys.modules]
        print(heavy)
    """, tmp_path)
    assert out.strip() == "[]"


def test_every_public_name_arrives_on_first_use(tmp_path):
    out = run_python("""
        import runlite
        names = list(runlite.__all__)
        assert all(getattr(runlite, n) is not None for n in names)
        assert set(names) <= set(dir(runlite))
        ns = {}
        exec("from runlite import *", ns)
        assert set(names) <= set(ns)
        assert runlite.Store.__module__ == "runlite.store" and runlite.Run.__module__ == "runlite.handle"
        try:
            runlite.no_such_name
        except AttributeError as exc:
            print(exc)
    """, tmp_path)
    assert "no attribute 'no_such_name'" in out


def test_default_store_opens_without_touching_runlite_store_first(tmp_path):
    # Through a submodule: the `store` module is not imported yet when the default store opens.
    run_python("""
        import sys
        from runlite.tracing import trace
        import runlite
        assert "runlite.store" not in sys.modules
        runlite.set_default_store("spans.db")
        from runlite.store import Store
        from runlite import _defaults
        store = _defaults.store_or_default(None)
        assert isinstance(store, Store) and isinstance(store, runlite.Store)
        with trace("outer"):
            pass
        store.flush()
        assert len(store.list_runs()) == 1
        store.close()
    """, tmp_path)


@pytest.mark.parametrize("explicit_times", [False, True])
def test_logging_metrics_never_imports_numpy(tmp_path, explicit_times):
    out = run_python(f"""
        import sys
        import runlite
        with runlite.open("m.db") as store:
            with store.init("r") as run:
                for i in range(12_000):  # long columns: numpy would be worth it, were it imported
                    run.log_metrics({{"loss": 1 / (i + 1), "acc": i / 12_000}}, step=i,
                                    **({{"time": i * 0.5}} if {explicit_times} else {{}}))
                run_id = run.id
            store.flush()
            values = store.metric_values(run_id, "loss")
            assert len(values) == 12_000, len(values)
        print("numpy" in sys.modules)
    """, tmp_path)
    assert out.strip() == "False"


def test_numpy_is_used_when_the_program_imported_it(tmp_path):
    pytest.importorskip("numpy")
    out = run_python("""
        import numpy
        from runlite.codec import accel
        print(accel.numpy_for(10_000) is numpy, accel.numpy_for(10) is None)
    """, tmp_path)
    assert out.split() == ["True", "True"]
