"""Only RunliteError, on any input: deep traces, deeply nested JSON, cells of the wrong type.

Three ways the interpreter's recursion limit or a stored cell's type used to escape as a
RecursionError or TypeError instead of a result or a typed RunliteError:

- legitimate traces thousands of spans deep (``run.child()`` chains): reading them whole,
  ``to_dict``/``from_dict``, equality and ``repr`` of the nested records, importing them,
  the report and the viewer;
- JSON nested thousands of levels, given where a scalar belongs (the error message's
  ``repr`` recursed) or found in a stored cell (decoding recursed): reads must give a
  ``CorruptStoreError`` naming the cell and ``verify()`` must report it;
- TEXT in INTEGER columns (SQLite keeps any type in any column): every read of such a cell
  is a ``CorruptStoreError`` (or the right data, when the read does not use the cell) and
  ``verify()`` reports it.

Each call's outcome is tallied; an exception that is not a RunliteError, a read that
returns changed data, or a damaged cell ``verify()`` misses is a failure.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import time
from typing import Any, Callable

import apsw
import attrs

import runlite
from runlite import RunliteError, RunRecord
from runlite._ids import dotted_segment, uuid7
from runlite.ui.report import report_html
from runlite.ui.viewer import Viewer
from tests.stress.conftest import check_file, count, full

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def nested_list(depth: int, leaf: Any = 1) -> Any:
    """``[[...[leaf]...]]``, ``depth`` lists, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int, kind: str = "list") -> str:
    """JSON text of ``depth`` nested lists (or objects)."""
    if kind == "list":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def depth_of(data: dict) -> int:
    """How many ``child_runs`` levels a ``to_dict()`` tree has (explicit stack)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node["child_runs"])
    return deepest


class Tally:
    """Outcomes of calls: ok, refused (a RunliteError) or escaped (anything else)."""

    def __init__(self):
        self.rows: list[dict] = []

    def call(self, label: str, fn: Callable[[], Any], *, expect_ok: bool = False) -> Any:
        start = time.perf_counter()
        try:
            value = fn()
            outcome, error, message = "ok", "", ""
        except RunliteError as exc:
            value, outcome, error, message = None, "refused", type(exc).__name__, str(exc)
        except BaseException as exc:  # noqa: BLE001 - an escape is what this test looks for
            value, outcome, error, message = None, "escape", type(exc).__name__, str(exc)[:300]
        bad = outcome == "escape" or (expect_ok and outcome != "ok")
        self.rows.append({"label": label, "outcome": outcome, "error": error, "message": message,
                          "seconds": time.perf_counter() - start, "bad": bad})
        return value

    def fail(self, label: str, why: str) -> None:
        self.rows.append({"label": label, "outcome": "wrong", "error": "", "message": why, "seconds": 0.0,
                          "bad": True})

    @property
    def bad(self) -> list[tuple]:
        return [(r["label"], r["outcome"], r["error"], r["message"][:300]) for r in self.rows if r["bad"]]

    def counts(self) -> dict:
        out: dict = {}
        for r in self.rows:
            key = r["error"] or r["outcome"]
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    @property
    def slowest(self) -> float:
        return max((r["seconds"] for r in self.rows), default=0.0)


# ---------------------------------------------------------------- deep traces


def _chain_dicts(depth: int) -> list[dict]:
    """A trace ``depth`` spans below its root as flat ``to_dict()``-shaped dicts, root first."""
    base = 1_700_000_000_000_000
    out, order, parent, trace_id = [], "", None, None
    for level in range(depth + 1):
        run_id = uuid7(base + level)
        trace_id = trace_id or run_id
        order = (order + "." if order else "") + dotted_segment(base + level, run_id)
        out.append({"id": run_id, "name": f"span-{level}", "status": "completed", "kind": "trace",
                    "run_type": "chain", "trace_id": trace_id, "dotted_order": order, "parent_run_id": parent,
                    "start_time": (base + level) / 1000, "end_time": (base + 2 * depth - level) / 1000})
        parent = run_id
    return out


def _nest(flat: list[dict]) -> dict:
    """The flat chain as one nested dict (each span the only child of the one before)."""
    nested = [dict(d, child_runs=[]) for d in flat]
    for parent, child in zip(nested, nested[1:]):
        parent["child_runs"].append(child)
    return nested[0]


def test_deep_traces_read_serialise_compare_and_render(tmp_path, guarantee):
    depth = count(600, 2000)      # spans below the root, in the file (built with run.child())
    in_memory = count(2000, 20_000)  # records only: to_dict, from_dict, ==, repr
    rss0 = _rss_mib()
    tally = Tally()
    path = str(tmp_path / "deep.db")
    built = time.perf_counter()
    with runlite.open(path) as store:
        root = store.init("root", run_type="chain", inputs={"q": "deep"})
        spans = [root]
        for level in range(depth):
            spans.append(spans[-1].child(f"span-{level + 1}", run_type="tool" if level % 2 else "chain",
                                         inputs={"level": level}))
        for span in reversed(spans):
            span.close()
        built = time.perf_counter() - built

        whole = tally.call("read_run(load_child_runs=True)",
                           lambda: store.read_run(root.id, load_child_runs=True), expect_ok=True)
        trace = tally.call("trace()", lambda: store.trace(root.id), expect_ok=True)
        data = tally.call("read_run(...).to_dict()", lambda: whole.to_dict(), expect_ok=True)
        tally.call("trace().to_dict()", lambda: trace.to_dict(), expect_ok=True)
        if data is not None and depth_of(data) != depth:
            tally.fail("to_dict depth", f"{depth_of(data)} levels, expected {depth}")
        if tally.call("read_run == trace", lambda: whole == trace, expect_ok=True) is not True:
            tally.fail("read_run == trace", "the two reads of one tree compare unequal")
        text = tally.call("repr(trace)", lambda: repr(trace), expect_ok=True)
        if text is not None and text.count("RunRecord(") != depth + 1:
            tally.fail("repr", f"{text.count('RunRecord(')} records shown, expected {depth + 1}")
        whole = text = None  # held no longer: the peak RSS figure is then that of one tree at a time
        again = tally.call("from_dict(to_dict())", lambda: RunRecord.from_dict(data), expect_ok=True)
        if tally.call("from_dict(to_dict()) == trace", lambda: again == trace, expect_ok=True) is not True:
            tally.fail("from_dict round trip", "the record rebuilt from to_dict() differs")
        again = None
        deepest = spans[-1].id
        leaf = tally.call("get_run(deepest).to_dict()", lambda: store.get_run(deepest).to_dict(), expect_ok=True)
        if leaf is not None and len(leaf["parent_run_ids"]) != depth:
            tally.fail("parent_run_ids", f"{len(leaf['parent_run_ids'])} ancestors, expected {depth}")
        html = tally.call("report_html", lambda: report_html(store, [root.id]), expect_ok=True)
        if html is not None and f"{depth + 1:,} spans" not in html:
            tally.fail("report", f"the report does not count {depth + 1:,} spans")
        html = trace = None
        page = tally.call("viewer /run/<root>", lambda: Viewer(store).get(f"/run/{root.id}"), expect_ok=True)
        if page is not None and page.status != 200:
            tally.fail("viewer", f"status {page.status}: {page.body[:200]!r}")
        copy = str(tmp_path / "imported.db")
        with runlite.open(copy) as other:
            ids = tally.call("import_runs([to_dict()])", lambda: other.import_runs([data]), expect_ok=True)
            data = None
            if ids is not None and len(ids) != depth + 1:
                tally.fail("import", f"{len(ids)} runs imported, expected {depth + 1}")
            back = tally.call("imported trace().to_dict()", lambda: other.trace(root.id).to_dict(), expect_ok=True)
            if back is not None and depth_of(back) != depth:
                tally.fail("import depth", f"{depth_of(back)} levels read back, expected {depth}")
            back = None

    # Records alone, deeper still: built bottom-up as reads build them.
    chain = None
    for level in range(in_memory, -1, -1):
        chain = RunRecord(id=f"r{level}", name=f"span-{level}", status="completed",
                          child_runs=() if chain is None else (chain,))
    flat = tally.call("in memory: to_dict()", lambda: chain.to_dict(), expect_ok=True)
    rebuilt = tally.call("in memory: from_dict()", lambda: RunRecord.from_dict(flat), expect_ok=True)
    if tally.call("in memory: ==", lambda: rebuilt == chain, expect_ok=True) is not True:
        tally.fail("in memory: ==", "the rebuilt chain compares unequal")
    changed = attrs.evolve(chain)  # same values: equal; then one leaf renamed deep down: unequal
    node, path_down = flat or {"child_runs": []}, 0
    while node["child_runs"]:
        node, path_down = node["child_runs"][0], path_down + 1
    node["name"] = "renamed"
    if tally.call("in memory: != after a change", lambda: RunRecord.from_dict(flat) != changed,
                  expect_ok=True) is not True:
        tally.fail("in memory: !=", f"a change {path_down} levels down went unnoticed")
    shown = tally.call("in memory: repr()", lambda: repr(chain), expect_ok=True)
    if shown is not None and shown.count("RunRecord(") != in_memory + 1:
        tally.fail("in memory: repr", "not every record is shown")
    flat_chain = _chain_dicts(count(500, 2000))  # dotted orders grow with depth: memory grows with its square
    cyclic = dict(flat_chain[0], child_runs=[])
    cyclic["child_runs"].append(cyclic)
    with runlite.open(":memory:") as mem:
        tally.call("in memory: import_runs(nested chain)",
                   lambda: mem.import_runs([_nest(flat_chain)]), expect_ok=True)
        tally.call("import_runs(a cycle)", lambda: mem.import_runs([cyclic]))
        if tally.rows[-1]["outcome"] != "refused":
            tally.fail("import_runs(a cycle)", "a cyclic child_runs was not refused")

    guarantee(f"deep traces: {depth:,} spans deep in the file, {in_memory:,} in memory", rounds=len(tally.rows),
              failures=len(tally.bad),
              note=f"read, to_dict, from_dict, ==, repr, import, report, viewer; outcomes {tally.counts()}; "
                   f"built in {built:.1f} s; slowest call {tally.slowest:.2f} s; "
                   f"peak RSS growth {_rss_mib() - rss0:.0f} MiB")
    assert not tally.bad, "\n".join(map(repr, tally.bad))
    check_file(path)


# ---------------------------------------------------------------- deep values as arguments


def test_deeply_nested_arguments_give_runlite_errors(tmp_path, guarantee):
    depth = count(2000, 100_000)
    deep = nested_list(depth)
    deep_dict: Any = 1
    for _ in range(depth):
        deep_dict = {"k": deep_dict}
    tally = Tally()
    path = str(tmp_path / "args.db")
    with runlite.open(path) as store:
        run = store.init("target")
        run.log_metrics({"m": 1.0})
        store.flush()
        one = _chain_dicts(0)[0]  # a run dict import_runs accepts, to spoil one field of
        calls: dict[str, Callable[[], Any]] = {
            "init(name)": lambda: store.init(deep),
            "init(tags)": lambda: store.init("x", tags=deep),
            "init(tags=[deep])": lambda: store.init("x", tags=[deep]),
            "init(folder)": lambda: store.init("x", folder=deep),
            "init(description)": lambda: store.init("x", description=deep),
            "init(metadata)": lambda: store.init("x", metadata=deep),
            "init(metadata={k: deep})": lambda: store.init("x", metadata={"k": deep}),
            "init(metadata=deep dict)": lambda: store.init("x", metadata=deep_dict),
            "init(run_type)": lambda: store.init("x", run_type=deep),
            "init(status)": lambda: store.init("x", status=deep),
            "init(parent)": lambda: store.init("x", parent=deep),
            "log_metrics({m: deep})": lambda: run.log_metrics({"m": deep}),
            "log_metrics(step)": lambda: run.log_metrics({"m": 1.0}, step=deep),
            "log_metrics(time)": lambda: run.log_metrics({"m": 1.0}, time=deep),
            "log_metrics(timestamp)": lambda: run.log_metrics({"m": 1.0}, timestamp=deep),
            "log_metrics(asset)": lambda: run.log_metrics({"m": 1.0}, asset=deep),
            "update_tags(deep)": lambda: run.update_tags(deep),
            "update_metadata(deep)": lambda: run.update_metadata(deep),
            "update_metadata({k: deep})": lambda: run.update_metadata({"k": deep}),
            "log_event(message)": lambda: run.log_event(deep),
            "log_event(timestamp)": lambda: run.log_event("x", timestamp=deep),
            "attach(name)": lambda: run.attach(deep, b"x"),
            "attach(data)": lambda: run.attach("a.bin", deep),
            "attach(mime_type)": lambda: run.attach("a.bin", b"x", deep),
            "folder(path)": lambda: store.folder(deep),
            "get_run(deep)": lambda: store.get_run(deep),
            "read_run(deep)": lambda: store.read_run(deep),
            "runs(folder)": lambda: store.runs(folder=deep),
            "runs(tags)": lambda: store.runs(tags=deep),
            "metric_values(name)": lambda: store.metric_values(run.id, deep),
            "metric_values(xaxis)": lambda: store.metric_values(run.id, "m", xaxis=deep),
            "metric_values(start)": lambda: store.metric_values(run.id, "m", start=deep),
            "metric_values(max_points)": lambda: store.metric_values(run.id, "m", max_points=deep),
            "events(contains)": lambda: store.events(run.id, contains=deep),
            "import_runs(deep)": lambda: store.import_runs(deep),
            "import_runs([{id: deep}])": lambda: store.import_runs([{"id": deep, "name": "x", "status": "completed"}]),
            "import_runs(session_id)": lambda: store.import_runs([dict(one, session_id=deep)]),
            "import_runs(pid)": lambda: store.import_runs([dict(one, pid=10 ** 30)]),
            "import_runs(dotted_order)": lambda: store.import_runs([dict(one, dotted_order=deep)]),
            "import_runs(event seq)": lambda: store.import_runs([dict(one, events=[{"seq": deep}])]),
            "import_runs(event message)": lambda: store.import_runs([dict(one, events=[{"message": deep}])]),
            "report_html(run_ids)": lambda: report_html(store, deep),
            "report_html([deep])": lambda: report_html(store, [deep]),
        }
        for label, call in calls.items():
            tally.call(label, call)
        longest = max((len(r["message"]) for r in tally.rows), default=0)
        too_long = [r["label"] for r in tally.rows if len(r["message"]) > 2000]
        for label in too_long:
            tally.fail(label, "the error message is over 2,000 characters")
    guarantee(f"arguments nested {depth:,} deep where a scalar belongs", rounds=len(tally.rows),
              failures=len(tally.bad),
              note=f"{len(calls)} calls; outcomes {tally.counts()}; longest message {longest} characters; "
                   f"slowest call {tally.slowest * 1000:.1f} ms")
    assert not tally.bad, "\n".join(map(repr, tally.bad))
    check_file(path)


# ---------------------------------------------------------------- damaged cells


def _damage(path: str, sql: str, params: tuple = ()) -> None:
    """Change cells the way a flipped byte can, without runlite's policy or the file's triggers."""
    conn = apsw.Connection(path)
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
    conn.execute(sql, params)
    conn.close()


def _base_store(path: str) -> dict:
    with runlite.open(path) as store:
        run = store.init("r", folder="/exp", tags=["a"], metadata={"k": 1, "deep": nested_list(60)})
        for i in range(20_000):  # three chunks: window reads decode some and add up the others
            run.log_metrics({"loss": 1.0 / (i + 1)}, step=i, time=i * 0.01)
        run.log_event("hello")
        run.add_event("tool", payload=[1, 2])
        run.attach("plot.png", PNG, "image/png")
        run.create_metric_threshold_alert("loss-high", "loss", 10.0, "is above")
        span = run.child("llm-call", run_type="llm", inputs={"prompt": "hi"})
        span.close()
        run.close()
        store.create_feedback(run.id, "score", value={"good": True})
        assert store.get_run(run.id).metadata["deep"] == nested_list(60)  # legitimately deep: read back
        return {"run": run.id, "span": span.id}


def _summary(value: Any) -> Any:
    """A comparable form of what a read returned."""
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    if hasattr(value, "values") and hasattr(value, "steps"):
        return (list(value.steps), list(value.values))
    if attrs.has(type(value)):
        return repr(attrs.astuple(value))
    return repr(value)


def _examine(path: str, reads: dict, ids: dict, tally: Tally, label: str, expected: dict | None) -> dict:
    """Every read, then verify(), in both open modes; what came back, by read."""
    seen = {}
    for mode, options in (("normal", {}), ("untrusted", {"read_only": True, "untrusted": True})):
        with runlite.open(path, **options) as store:
            for name, read in reads.items():
                value = tally.call(f"{label} [{mode}] {name}", lambda: read(store, ids))
                ok = tally.rows[-1]["outcome"] == "ok"
                if ok and expected is not None and name in expected and _summary(value) != expected[name]:
                    tally.fail(f"{label} [{mode}] {name}", "read back changed data, no error")
                seen[name] = _summary(value) if ok else None
            report = tally.call(f"{label} [{mode}] verify()", lambda: store.verify())
            if expected is not None and report is not None and report.ok:
                tally.fail(f"{label} [{mode}] verify()", "verify() found nothing wrong")
    return seen


def _viewer_page(target: str) -> Callable:
    def read(store, ids):
        response = Viewer(store).get(target.format(**ids))
        if b"internal error" in response.body:  # the viewer's answer to an unexpected exception
            raise AssertionError(f"the viewer failed on {target}")
        return response.status
    return read


JSON_READS = {
    "get_run().metadata": lambda s, ids: s.get_run(ids["run"]).metadata,
    "get_run().to_dict()": lambda s, ids: s.get_run(ids["run"]).to_dict(),
    "runs() to_dict": lambda s, ids: [r.to_dict() for r in s.runs()],
    "list_runs() to_dict": lambda s, ids: [r.to_dict() for r in s.list_runs()],
    "trace().to_dict()": lambda s, ids: s.trace(ids["run"]).to_dict(),
    "folder()": lambda s, ids: s.folder("/exp"),
    "events()": lambda s, ids: s.events(ids["run"]),
    "feedback()": lambda s, ids: s.feedback(ids["run"]),
    "alerts()": lambda s, ids: s.alerts(ids["run"]),
    "report_html": lambda s, ids: len(report_html(s, [ids["run"]])) > 0,
    "viewer /run/<id>": _viewer_page("/run/{run}"),
    "viewer /": _viewer_page("/"),
}
JSON_CELLS = [("runs", c) for c in ("metadata", "tags", "inputs", "outputs", "extra", "serialized", "system",
                                    "ls_fields")] + [
    ("folders", "metadata"), ("folders", "tags"), ("events", "kwargs"), ("feedback", "value"),
    ("alerts", "definition")]


def test_deep_json_in_stored_cells_is_corrupt_store_error(tmp_path, guarantee):
    # 200 levels: still decodable, but deeper than runlite writes (MAX_STORED_DEPTH is 128);
    # 2,000 and 100,000: beyond the decoder's recursion limit (and SQLite's JSON depth limit).
    depths = (200, 2000, 100_000) if full() else (2000,)
    plants = [(table, column, depth, "list") for table, column in JSON_CELLS for depth in depths]
    plants += [("runs", "metadata", 200, "list"), ("events", "kwargs", 200, "list"),
               ("runs", "metadata", 2000, "object")]
    base = str(tmp_path / "base.db")
    ids = _base_store(base)
    tally = Tally()
    rss0 = _rss_mib()
    for table, column, depth, kind in dict.fromkeys(plants):
        path = str(tmp_path / f"{table}-{column}-{depth}-{kind}.db")
        shutil.copy(base, path)
        _damage(path, f"UPDATE {table} SET {column} = ?", (nested_text(depth, kind),))
        _examine(path, JSON_READS, ids, tally, f"{table}.{column} nested {depth} ({kind})", {})
    guarantee(f"JSON nested 200 to {max(depths):,} deep in stored cells", rounds=len(tally.rows),
              failures=len(tally.bad),
              note=f"{len(dict.fromkeys(plants))} damaged copies x 2 open modes x {len(JSON_READS)} reads + "
                   f"verify(); outcomes "
                   f"{tally.counts()}; every verify() reported the cell; slowest call {tally.slowest:.2f} s; "
                   f"peak RSS growth {_rss_mib() - rss0:.0f} MiB")
    assert not tally.bad, "\n".join(map(repr, tally.bad))
    check_file(base)


TYPED_READS = {
    "read_attachment": lambda s, ids: s.read_attachment(ids["run"], "plot.png"),
    "open_attachment": lambda s, ids: _read_stream(s.open_attachment(ids["run"], "plot.png")),
    "metric_names": lambda s, ids: s.metric_names(ids["run"]),
    "metric_series": lambda s, ids: s.metric_series(ids["run"]),
    "metric_values": lambda s, ids: s.metric_values(ids["run"], "loss"),
    "metric_values(max_points)": lambda s, ids: s.metric_values(ids["run"], "loss", max_points=16),
    # chunks hold steps 0-8191, 8192-16383, 16384-19999: the middle one lies inside these windows
    "metric_values(window)": lambda s, ids: s.metric_values(ids["run"], "loss", start=100, stop=19_000),
    "metric_values(time window)": lambda s, ids: s.metric_values(ids["run"], "loss", xaxis="time", start=1.0,
                                                                 stop=190.0),
    "metric_stats(window)": lambda s, ids: s.metric_stats(ids["run"], "loss", start=100, stop=19_000),
    "metric_stats": lambda s, ids: s.metric_stats(ids["run"], "loss"),
    "metric_summary": lambda s, ids: s.metric_summary(ids["run"], "loss"),
    "report_html": lambda s, ids: len(report_html(s, [ids["run"]])) > 0,
    "viewer /run/<id>": _viewer_page("/run/{run}"),
    "viewer /chart": _viewer_page("/chart?run={run}&metric=loss&start=100&stop=19000"),
}
TYPED_CELLS = [
    ("blobs", "size", ""), ("blobs", "parts", ""), ("blob_parts", "seq", ""), ("blob_parts", "size", ""),
    *[("chunks", c, " WHERE seq = 1") for c in ("count", "nan_count", "min", "max", "mean", "first_step",
                                               "step_lo", "step_hi", "time_lo", "ts_hi")],
    *[("series", c, "") for c in ("count", "nan_count", "min", "mean", "last", "first_step", "max_step")],
]
# The default run: one cell of each kind of column and table.
TYPED_SMALL = [("blobs", "size", ""), ("blob_parts", "seq", ""), ("chunks", "count", " WHERE seq = 1"),
               ("chunks", "step_lo", " WHERE seq = 1"), ("chunks", "min", " WHERE seq = 1"),
               ("series", "count", ""), ("series", "min", "")]


def _read_stream(stream) -> bytes:
    with stream:
        return stream.read()


def test_text_in_integer_cells_is_corrupt_store_error(tmp_path, guarantee):
    base = str(tmp_path / "base.db")
    ids = _base_store(base)
    tally = Tally()
    expected = _examine(base, TYPED_READS, ids, Tally(), "undamaged", None)
    cells = TYPED_CELLS if full() else TYPED_SMALL
    for table, column, where in cells:
        path = str(tmp_path / f"{table}-{column}.db")
        shutil.copy(base, path)
        _damage(path, f"UPDATE {table} SET {column} = 'abc'{where}")
        _examine(path, TYPED_READS, ids, tally, f"{table}.{column} = 'abc'",
                 {k: v for k, v in expected.items() if not k.startswith(("report", "viewer"))})
    guarantee("TEXT in integer and real cells (blobs, parts, chunks, series)", rounds=len(tally.rows),
              failures=len(tally.bad),
              note=f"{len(cells)} damaged copies x 2 open modes x {len(TYPED_READS)} reads + verify(); "
                   f"outcomes {tally.counts()}; reads that returned returned the right data; every verify() "
                   f"reported the cell; slowest call {tally.slowest:.2f} s")
    assert not tally.bad, "\n".join(map(repr, tally.bad))
    check_file(base)
