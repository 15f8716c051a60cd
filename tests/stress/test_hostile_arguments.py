"""Hostile arguments to every public method: a result or a RunliteError, never another exception.

Each public method of ``Store``, ``Run``, a live ``Span`` and ``runlite.simvue``'s ``Run`` and
``Client`` is called once for every parameter and hostile value, its other required parameters
given valid values, and ``RunRecord.from_dict`` with each field of a run dict hostile. The
promise: the call returns, or raises a ``RunliteError`` with a message. A TypeError from a
binding, an AttributeError from a ``.strip()`` on a float or an OverflowError from the system
is the bug this finds (each kind was found here, and fixed).

Methods that take paths, or end or delete things, are called apart and without ``".."``: a
hostile value could aim them anywhere (``save_directory("..")`` walks the file system). Those
that end the object under test or start processes are left out, each named with its reason.
Every value is passed in the default run too (17,168 calls, 3-5 s here).

A refused call also leaves the file as it was (``test_a_refused_call_changes_nothing``): with
values that mix a valid entry and a hostile one too, so a call that took part of its
argument before refusing the rest is found.
"""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import math

import attrs
import pytest

import runlite
from runlite import RunliteError

from .conftest import full

HOSTILE = [
    None, math.nan, math.inf, -1, 0, 2**64, -2**70, 10**30, 1.5, -0.0, True, "", "\x00", "\ud800", "..", "1e999",
    "x" * 200_000, b"\xff", [], [None], [math.inf], (1, 2), {}, {"a": math.nan}, {1: 2}, {"": 1}, {"\ud800": 1},
    {"a": {"b": object()}}, object(), datetime.datetime(2020, 1, 1),
]

# Called apart (``test_paths_and_whole_store_methods``), without "..": a hostile value may aim
# them anywhere (``save_directory("..")`` walks the file system, ``restore`` writes files).
PATH_METHODS = {"backup", "restore", "merge", "export", "pack", "save_directory", "save_all", "import_runs",
                "import_recipe_runs", "delete_runs", "abort_run", "runs_to_delete", "mark_delivered", "sql"}
# Left out, and why.
_ENDS = {"close", "end", "reconnect", "resume", "init", "abort", "set_status", "kill_all_processes"}  # end the object
_ELSE = {"start_system_metrics", "stop_system_metrics", "add_process",  # start threads or processes
         "child", "create_child", "post", "patch", "wait",  # make other spans and runs (their own calls)
         "columns"}  # the span writer's (Span.columns: a batch of spans)
SKIPPED = PATH_METHODS | _ENDS | _ELSE

# Valid values of the other required parameters, by name, while one parameter is hostile.
RUN_VALID = {"name": "m", "metrics": {"x": 1.0}, "message": "hi", "data": b"x", "category": "output", "value": 1.0,
             "path": "a.txt", "obj": 1, "tags": ["a"], "metadata": {"a": 1}, "source": "metrics", "metric": "x",
             "rule": "is above", "threshold": 1.0, "range_low": 0.0, "range_high": 1.0, "frequency": 1,
             "window": 1, "pattern": "err", "values": [1.0, 2.0], "table": {"a": [1]}, "state": "ok"}
SIMVUE_RUN_VALID = {"metrics": {"x": 1.0}, "message": "hi", "name": "n", "file_path": "a.txt", "filename": "a.txt",
                    "category": "output", "obj": 1, "tags": ["a"], "metadata": {"a": 1}, "source": "metrics",
                    "metric": "x", "rule": "is above", "threshold": 1.0, "frequency": 1, "window": 1,
                    "pattern": "err", "state": "ok", "identifier": "x", "names": ["x"], "description": "d"}


def _store_valid(run_id: str, trace_id: str) -> dict:
    return {"run_id": run_id, "id_or_name": run_id, "name": "loss", "metric": "loss", "trace_id": trace_id,
            "names": ["loss"], "path": "f.txt", "key": "k", "run": run_id}


def _client_valid(run_id: str) -> dict:
    return {"run_id": run_id, "run_ids": [run_id], "metric_names": ["loss"], "xaxis": "step", "name": "loss",
            "folder_path": "/f", "identifier": run_id, "artifact_name": "f.txt", "metric_name": "loss",
            "filters": ["has tag.t"], "tag": "t"}


def _simvue_run():
    import runlite.simvue as simvue

    run = simvue.Run()
    run.init(name="victim")
    return run


class _Victim:
    """A running run whose methods the calls go to: one a call ended (an alert's abort) is
    replaced by a new one before the next call (``fresh``), which the calls then reach."""

    def __init__(self, start):
        self.start = start
        self.run = start()

    def fresh(self) -> bool:
        """True when the run was replaced (a new one started: a commit)."""
        if self.run.status == "running":
            return False
        self.run = self.start()
        return True

    def method(self, name: str):
        return lambda **kwargs: getattr(self.run, name)(**kwargs)


def _calls(obj, valid: dict, names=None, values=HOSTILE):
    """``(label, method, kwargs)`` for every public method of ``obj`` (or those ``names``),
    parameter and value; of a ``_Victim``'s run, each called on the run current at the call."""
    victim, obj = (obj, obj.run) if isinstance(obj, _Victim) else (None, obj)
    for name in sorted(dir(obj)) if names is None else sorted(names):
        if name.startswith("_") or (names is None and name in SKIPPED) or not hasattr(obj, name):
            continue
        method = getattr(obj, name)
        if not callable(method) or inspect.isclass(method):
            continue
        try:
            params = [p for p in inspect.signature(method).parameters.values()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        except (TypeError, ValueError):
            continue
        base = {p.name: valid.get(p.name, "x") for p in params if p.default is inspect.Parameter.empty}
        for param in params:
            for value in values:
                yield (f"{type(obj).__name__}.{name}({param.name}={value!r:.40})",
                       method if victim is None else victim.method(name), {**base, param.name: value})


def _starts(label: str, starter, valid: dict):
    """``(label, call, kwargs)`` for every parameter and value of the run start ``starter()``
    gives (a bound method, of a new handle for each call); the run it starts closed at once."""
    def call(**kwargs):
        start = starter()
        started = start(**kwargs)
        (started if hasattr(started, "close") else start.__self__).close()  # (simvue's init: True)
    for param in inspect.signature(starter()).parameters.values():
        if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            for value in HOSTILE:
                yield f"{label}({param.name}={value!r:.40})", call, {**valid, param.name: value}


def _escapes(calls, after=None) -> tuple[int, list[str]]:
    """(calls made, those that raised anything but a RunliteError with a message)."""
    made, bad = 0, []
    for label, method, kwargs in calls:
        made += 1
        try:
            result = method(**kwargs)
            if inspect.isgenerator(result):
                for _ in zip(range(5), result):
                    pass
        except RunliteError as exc:
            if not str(exc).strip():
                bad.append(f"{label}: {type(exc).__name__} without a message")
        except Exception as exc:  # noqa: BLE001 - the finding itself
            bad.append(f"{label}: {type(exc).__name__}: {str(exc)[:120]}")
        if after is not None:
            after()
    return made, bad


@pytest.fixture
def filled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what a call writes by a relative name lands here
    store = runlite.open(str(tmp_path / "hostile.db"))
    runlite.set_default_store(store)
    run = store.init("base", folder="/f", metadata={"a": 1}, tags=["t"])
    for i in range(20):
        run.log_metrics({"loss": 1.0 / (i + 1)})
    run.log_event("hello")
    run.save_bytes("f.txt", b"abc", "output")
    run.close()
    with runlite.trace("root", store=store, inputs={"q": 1}) as root:
        pass
    store.flush()
    yield store, run.id, root.trace_id
    runlite.set_default_store(None)
    store.close()


def test_store_methods(filled, guarantee):
    store, run_id, trace_id = filled
    made, bad = _escapes(_calls(store, _store_valid(run_id, trace_id)))
    more, worse = _escapes(_starts("Store.init", lambda: store.init, {"name": "n"}))
    guarantee("hostile arguments: Store methods", rounds=made + more, failures=len(bad) + len(worse),
              note="a result or a RunliteError")
    assert not bad + worse, "\n".join(bad + worse)


def test_run_and_span_methods(filled, tmp_path, guarantee):
    store, _, _ = filled
    (tmp_path / "a.txt").write_text("a")
    victim = _Victim(lambda: store.init("victim"))
    made, bad = _escapes(_calls(victim, RUN_VALID), victim.fresh)
    victim.run.close()
    with runlite.trace("span", store=store) as span:
        more, worse = _escapes(_calls(span, {"name": "n", "key": "k"}))
    guarantee("hostile arguments: Run and Span methods", rounds=made + more, failures=len(bad) + len(worse),
              note="a result or a RunliteError")
    assert not bad + worse, "\n".join(bad + worse)


def test_simvue_run_and_client_methods(filled, tmp_path, guarantee):
    pytest.importorskip("simvue")  # the Client's dataframes need the test extra
    import runlite.simvue as simvue
    from runlite.simvue.client import Client

    store, run_id, _ = filled
    (tmp_path / "a.txt").write_text("a")
    with Client(path=store.path) as client:
        made, bad = _escapes(_calls(client, _client_valid(run_id)))
    victim = _Victim(_simvue_run)
    more, worse = _escapes(_calls(victim, SIMVUE_RUN_VALID), victim.fresh)
    victim.run.close()
    with Client(path=store.path) as client:  # deletions named by hostile values: nothing is deleted
        n, found = _escapes(_calls(client, {"run_id": "none", "folder_path": "/none", "reason": "r"},
                                   {"delete_run", "delete_runs", "delete_folder", "abort_run"}))
    starts, failed = _escapes(_starts("simvue.Run.init", lambda: simvue.Run().init, {"name": "n"}))
    more, worse = more + n + starts, worse + found + failed
    guarantee("hostile arguments: runlite.simvue Run and Client", rounds=made + more,
              failures=len(bad) + len(worse), note="a result or a RunliteError")
    assert not bad + worse, "\n".join(bad + worse)


def test_paths_and_whole_store_methods(filled, tmp_path, guarantee):
    store, run_id, _ = filled
    values = [v for v in HOSTILE if v != ".."]
    other = str(tmp_path / "other.db")
    with runlite.open(other) as source:
        source.init("elsewhere").close()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("f")
    valid = {"dest": str(tmp_path / "copy.db"), "run": run_id, "source": other, "path": str(tmp_path / "out"),
             "runs": [], "outbox_ids": [], "query": "SELECT 1", "directory": "d", "items": ["d"],
             "category": "output"}
    made, bad = _escapes(_calls(store, valid, PATH_METHODS, values))
    run = store.init("files")
    more, worse = _escapes(_calls(run, valid, PATH_METHODS, values))
    run.close()
    for fn, base in ((runlite.open, {}), (runlite.merge, {"dest": str(tmp_path / "merged.db")})):
        def opened(fn=fn, **kwargs):
            found = fn(**kwargs)
            if isinstance(found, runlite.Store):
                found.close()
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                calls = [(f"runlite.{fn.__name__}({param.name}={v!r:.40})", opened, {**base, param.name: v})
                         for v in values]
                n, found = _escapes(calls)
                more, worse = more + n, worse + found
    if importlib.util.find_spec("pyarrow") is not None:  # the parquet extra (in the test extra)
        from runlite.parquet import export_parquet

        base = {"store": store, "dest": str(tmp_path / "dataset")}
        calls = [(f"export_parquet({name}={v!r:.40})", export_parquet, {**base, name: v})
                 for name in ("dest", "run_ids", "overwrite", "progress") for v in values]
        n, found = _escapes(calls)
        more, worse = more + n, worse + found
    guarantee("hostile arguments: methods on paths and whole stores", rounds=made + more,
              failures=len(bad) + len(worse), note="a result or a RunliteError")
    assert not bad + worse, "\n".join(bad + worse)


def test_run_record_from_dict(guarantee):
    """``RunRecord.from_dict`` of a run dict with each field hostile, and of hostile data whole."""
    run = {"id": "00000000-0000-0000-0000-000000000001", "name": "n", "run_type": "chain", "status": "success"}
    calls = [(f"RunRecord.from_dict({field.name}={value!r:.40})", runlite.RunRecord.from_dict,
              {"data": {**run, field.name: value}})
             for field in attrs.fields(runlite.RunRecord) for value in HOSTILE]
    calls += [(f"RunRecord.from_dict({value!r:.40})", runlite.RunRecord.from_dict, {"data": value})
              for value in HOSTILE]
    made, bad = _escapes(calls)
    guarantee("hostile arguments: RunRecord.from_dict", rounds=made, failures=len(bad),
              note="a record or a ValidationError")
    assert not bad, "\n".join(bad)


# A valid entry beside a hostile one, in either order: a refused call must not have kept the first.
MIXED = [mixed for value in HOSTILE for mixed in ({"ok": 1.0, "zz": value}, {"zz": value, "ok": 1.0},
                                                  ["ok", value], [value, "ok"])]


@pytest.fixture
def no_heartbeats(monkeypatch):
    """A running run's heartbeat (every 30 s) is a commit of its own: none during the test."""
    monkeypatch.setattr("runlite.live.registry.HEARTBEAT_INTERVAL", 1e9)


def _fingerprint(store) -> int:
    """What changes when anything is committed to the file (after a flush): SQLite's
    ``data_version`` of the store's reader, which another connection's commit (the writer's)
    changes, and nothing else does."""
    store.flush()
    with store.database.read() as conn:
        return conn.execute("PRAGMA data_version").get


def _unchanged_by_refusals(store, calls, fresh=None) -> tuple[int, list[str]]:
    """(calls refused, those after which the file had changed)."""
    refused, changed, before = 0, [], None
    for label, method, kwargs in calls:
        if fresh is not None and fresh():
            before = None  # a new run was started: the file changed before this call
        if before is None:
            before = _fingerprint(store)
        try:
            result = method(**kwargs)
            if inspect.isgenerator(result):
                for _ in zip(range(5), result):
                    pass
        except RunliteError:
            refused += 1
            after = _fingerprint(store)
            if after != before:
                changed.append(label)
            before = after
        else:
            before = None  # it did what it does: the next call starts from what it left
    return refused, changed


def test_a_refused_call_changes_nothing(filled, tmp_path, guarantee, no_heartbeats):
    """Every hostile call of ``Store`` and ``Run`` methods that raised a RunliteError left every
    row of the file as it was, once flushed (a refused ``log_metrics`` buffered nothing). The
    default run passes the mixed values to every method; ``--full`` the other values too."""
    store, run_id, trace_id = filled
    (tmp_path / "a.txt").write_text("a")
    values = MIXED + HOSTILE if full() else MIXED
    victim = _Victim(lambda: store.init("victim"))
    refused, changed = _unchanged_by_refusals(store, _calls(victim, RUN_VALID, values=values), victim.fresh)
    victim.run.close()
    more, worse = _unchanged_by_refusals(store, _calls(store, _store_valid(run_id, trace_id), values=values))
    guarantee("refused calls: Store and Run methods", rounds=refused + more, failures=len(changed) + len(worse),
              note="the file as it was")
    assert refused + more > 1000 and not changed + worse, "\n".join(changed + worse)


def test_a_refused_simvue_call_changes_nothing(filled, tmp_path, guarantee, no_heartbeats):
    """As ``test_a_refused_call_changes_nothing``, for ``runlite.simvue``'s ``Run`` and ``Client``."""
    pytest.importorskip("simvue")  # the Client's dataframes need the test extra
    from runlite.simvue.client import Client

    store, run_id, _ = filled
    (tmp_path / "a.txt").write_text("a")
    values = MIXED + HOSTILE if full() else MIXED
    victim = _Victim(_simvue_run)
    refused, changed = _unchanged_by_refusals(store, _calls(victim, SIMVUE_RUN_VALID, values=values), victim.fresh)
    victim.run.close()
    with Client(path=store.path) as client:
        more, worse = _unchanged_by_refusals(store, _calls(client, _client_valid(run_id), values=values))
    guarantee("refused calls: runlite.simvue Run and Client", rounds=refused + more,
              failures=len(changed) + len(worse), note="the file as it was")
    assert refused + more > 1000 and not changed + worse, "\n".join(changed + worse)
