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


# Modules a program that opens a file, logs metrics and reads them back does not need: each is
# loaded when its theme is first used (runlite/_lazy.py). Together they were most of that
# program's ~100 ms of imports (benchmarks/bench_import.py).
THEMES = ("runlite.recipes.engine", "runlite.storage.recipes", "runlite.media.images", "runlite.storage.media",
          "runlite.storage.blobs", "runlite.storage.attachments", "runlite.alerts", "runlite.storage.alerts",
          "runlite.query", "runlite.storage.search", "runlite.storage.archive", "runlite.storage.trace_reads",
          "runlite.storage.feedback", "runlite.storage.ingest", "runlite.storage.spans", "runlite.system.feed",
          "runlite.tracing.api", "runlite.media.histograms", "runlite.storage.run_table", "logging", "socket", "hashlib",
          "traceback", "uuid")


def test_a_program_that_logs_loads_none_of_the_other_themes(tmp_path):
    out = run_python(f"""
        import sys
        import runlite
        with runlite.open("m.db") as store:
            with store.init("r", metadata={{"lr": 0.1}}, tags=["a"]) as run:
                run.log_metrics({{"loss": 0.5, "acc": 0.25}})
                run.log_event("started")
            print(store.metric_values(run.id, "loss"), store.get_run(run.id).status)
        print(sorted(m for m in {THEMES!r} if m in sys.modules))
    """, tmp_path)
    assert out.splitlines()[-1] == "[]", out


def test_a_program_that_only_logs_makes_no_record_classes(tmp_path):
    # attrs makes each record class's methods as the class is made (~0.5 ms a class): a training
    # script that logs and ends reads nothing back, so it loads no record module; its first read
    # loads that read's records only.
    out = run_python("""
        import sys
        import runlite
        made_by = ("runlite.records.runs", "runlite.records.series", "runlite.records.events", "runlite.records.query",
                   "runlite.records.charts", "runlite.stored_records")  # the modules that make record classes
        loaded = lambda: sorted(m for m in made_by if m in sys.modules)
        with runlite.open("m.db") as store:
            with store.init("r", metadata={"lr": 0.1}) as run:
                for step in range(3):
                    run.log_metrics({"loss": 0.5 / (step + 1), "acc": 0.25})
                run.log_event("done")
            print(loaded())
            store.metric_values(run.id, "loss")
            print(loaded())
            store.get_run(run.id)
            print(loaded())
    """, tmp_path)
    assert out.splitlines() == ["[]", "['runlite.records.series']",
                                "['runlite.records.runs', 'runlite.records.series', 'runlite.stored_records']"], out


def test_each_theme_loads_when_first_used(tmp_path):
    # The same program then uses each theme once: a filter, alerts, a saved file, an image, a
    # recipe cookbook, a trace, verify, a failed run, a run table's page; each call works with its
    # modules loaded then.
    out = run_python(f"""
        import struct, sys, zlib
        import runlite

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))  # a 1x1 grey PNG
        with runlite.open("m.db") as store:
            with store.init("r") as run:
                run.log_metrics({{"loss": 0.5}})
            assert not [m for m in {THEMES!r} if m in sys.modules]
            assert len(store.list_runs(filter='eq(name, "r")')) == 1
            with store.init("alerted") as run:
                run.create_metric_threshold_alert("high", "loss", 1.0, "is above")
                run.save_object({{"a": 1}}, "output", name="a.json")
                run.log_histogram("h", [1.0, 2.0, 3.0])
                run.log_image("img", png)
            assert [f.name for f in store.attachments(run.id)] == ["a.json"]
            store.create_cookbook("book", levers=[("press", "speed")], outcomes=[("press", "quality")])
            with runlite.trace("outer", store=store) as span:
                pass
            store.flush()
            assert store.trace(span.trace_id).name == "outer"
            assert store.verify().ok
            try:
                with store.init("fails"):
                    raise ValueError("boom")
            except ValueError:
                pass
            assert store.get_run(store.list_runs(filter='eq(name, "fails")')[0].id).status == "failed"
            assert store.run_page(limit=1).total == 4  # r, alerted, the trace outer, fails
        # (not socket, never imported now, nor the modules of calls it does not make)
        unused = ("socket", "runlite.system.feed", "runlite.storage.feedback", "runlite.storage.ingest",
                  "runlite.storage.trace_reads")
        print(sorted(m for m in {THEMES!r} if m not in sys.modules and m not in unused))
    """, tmp_path)
    assert out.splitlines()[-1] == "[]", out


def test_a_lazy_module_loads_at_first_use_and_is_the_module_after(tmp_path):
    out = run_python("""
        import sys
        from runlite import _lazy
        lazy = _lazy.module("colorsys")
        print("colorsys" in sys.modules, "imported at first use" in repr(lazy))
        print(lazy.rgb_to_hsv(1.0, 0.0, 0.0), "colorsys" in sys.modules, "loaded" in repr(lazy))
        import colorsys
        lazy.ONE_THIRD = 0.5  # a test's patch reaches the module itself
        print(colorsys.ONE_THIRD)
        del lazy.ONE_THIRD
        print(hasattr(colorsys, "ONE_THIRD"))
        try:
            _lazy.module("runlite.no_such_module").anything
        except ModuleNotFoundError as exc:
            print(exc.name)
    """, tmp_path)
    assert out.split("\n")[:5] == ["False True", "(0.0, 1.0, 1.0) True True", "0.5", "False",
                                   "runlite.no_such_module"], out
