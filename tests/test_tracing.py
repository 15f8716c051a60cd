"""Tracing: traceable/trace trees under threads and asyncio, read_run/trace, feedback, round trips."""

import asyncio
import contextvars
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import runlite
from runlite.records import LANGSMITH_FIELDS


def shape(rec):
    """(name, [children shapes]) of a nested record."""
    return (rec.name, [shape(c) for c in rec.child_runs])


def roots(store):
    return sorted((r for r in store.runs() if r.parent_run_id is None), key=lambda r: r.dotted_order)


def test_nested_calls_form_a_tree(traced):
    @runlite.traceable(run_type="tool")
    def leaf(x):
        return x + 1

    @runlite.traceable
    def middle(x):
        return {"v": leaf(x) + leaf(x)}

    @runlite.traceable(name="top-level")
    def top(x, scale=2):
        with runlite.trace("manual", inputs={"x": x}) as span:
            span.add_tags(["m"])
            middle(x)
        return middle(x)["v"] * scale

    assert top(1) == 8
    (root,) = roots(traced)
    tree = traced.trace(root.trace_id)
    assert shape(tree) == ("top-level", [("manual", [("middle", [("leaf", []), ("leaf", [])])]),
                                         ("middle", [("leaf", []), ("leaf", [])])])
    assert tree.inputs == {"x": 1, "scale": 2} and tree.outputs == {"output": 8}
    assert tree.child_runs[1].outputs == {"v": 4}  # dict outputs are kept as they are
    assert tree.child_runs[0].tags == ("m",)
    for rec in [tree, *tree.child_runs]:
        assert rec.status == "completed" and rec.trace_id == tree.id
    leaf_rec = tree.child_runs[0].child_runs[0].child_runs[0]
    assert leaf_rec.run_type == "tool" and leaf_rec.parent_run_ids == [tree.id, tree.child_runs[0].id,
                                                                        tree.child_runs[0].child_runs[0].id]


def test_errors_recorded_and_propagated(traced):
    @runlite.traceable
    def fails():
        raise KeyError("missing")

    @runlite.traceable
    def outer():
        try:
            fails()
        except KeyError:
            return "handled"

    assert outer() == "handled"
    tree = traced.trace(roots(traced)[0].trace_id)
    child = tree.child_runs[0]
    assert child.status == "failed" and "KeyError: 'missing'" in child.error and "Traceback" in child.error
    assert tree.status == "completed"
    with pytest.raises(ZeroDivisionError):
        with runlite.trace("ctx") as span:
            1 / 0
    assert traced.get_run(span.id).status == "failed"


def test_generators_and_first_token(traced):
    @runlite.traceable(run_type="llm")
    def stream(n):
        for i in range(n):
            yield f"tok{i}"

    @runlite.traceable
    def consumer():
        out = []
        for tok in stream(3):
            with runlite.trace("between") as s:  # code between yields is not inside stream's span
                out.append(tok)
        return out

    assert consumer() == ["tok0", "tok1", "tok2"]
    tree = traced.trace(roots(traced)[0].trace_id)
    assert shape(tree) == ("consumer", [("stream", []), ("between", []), ("between", []), ("between", [])])
    gen = tree.child_runs[0]
    assert gen.outputs == {"output": ["tok0", "tok1", "tok2"]}
    assert gen.first_token_time is not None and gen.first_token_time >= gen.start_time
    assert [e.name for e in traced.events(gen.id)] == ["new_token"]


def test_children_inherit_tags_without_duplicates(traced):
    @runlite.traceable(tags=["leaf", "shared"])
    def leaf():
        return runlite.current_span()

    @runlite.traceable(tags=["mid", "shared"])
    def mid():
        return leaf()

    with runlite.trace("root", tags=["root", "shared"]) as root:
        span = mid()
        root.add_tags("late")  # tags added later are not pushed down to children made before
    assert span.tags == ["root", "shared", "mid", "leaf"]
    assert traced.get_run(span.id).tags == ("root", "shared", "mid", "leaf")
    assert traced.get_run(root.id).tags == ("root", "shared", "late")


def test_generator_closed_early_cleans_up_inside_its_span(traced):
    """A traced generator closed early closes the generator it wraps while its span is current
    (its ``finally`` code is traced inside it), then ends its span: GeneratorExit, items so far."""
    @runlite.traceable
    def cleanup():
        return "clean"

    @runlite.traceable
    def gen():
        try:
            yield 1
            yield 2
        finally:
            cleanup()

    @runlite.traceable
    async def agen():
        try:
            yield 1
            yield 2
        finally:
            cleanup()

    g = gen()
    assert next(g) == 1
    g.close()

    async def main():
        a = agen()
        assert await a.__anext__() == 1
        await a.aclose()

    asyncio.run(main())
    for name in ("gen", "agen"):
        (rec,) = [r for r in roots(traced) if r.name == name]
        tree = traced.trace(rec.trace_id)
        assert [c.name for c in tree.child_runs] == ["cleanup"] and tree.child_runs[0].status == "completed"
        assert tree.status == "failed" and "GeneratorExit" in tree.error and tree.outputs == {"output": [1]}
        assert tree.end_time >= tree.child_runs[0].end_time
    assert len(roots(traced)) == 2


def test_async_tasks_keep_their_parent(traced):
    @runlite.traceable
    async def work(i):
        await asyncio.sleep(0.001 * (3 - i))
        return await inner(i)

    @runlite.traceable
    async def inner(i):
        await asyncio.sleep(0)
        return i * 10

    @runlite.traceable
    async def agen():
        for i in range(2):
            await asyncio.sleep(0)
            yield i

    @runlite.traceable
    async def main():
        results = await asyncio.gather(*(work(i) for i in range(3)))
        items = [x async for x in agen()]
        return {"results": results, "items": items}

    assert asyncio.run(main()) == {"results": [0, 10, 20], "items": [0, 1]}
    tree = traced.trace(roots(traced)[0].trace_id)
    names = [c.name for c in tree.child_runs]
    assert names.count("work") == 3 and names[-1] == "agen"
    for w in tree.child_runs[:3]:
        assert [c.name for c in w.child_runs] == ["inner"]
        assert w.child_runs[0].outputs["output"] == w.outputs["output"]


def test_threads_keep_their_own_trees(traced):
    @runlite.traceable
    def job(k):
        return step(k)

    @runlite.traceable
    def step(k):
        return k

    threads = [threading.Thread(target=job, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rs = roots(traced)
    assert len(rs) == 6
    for r in rs:
        tree = traced.trace(r.trace_id)
        assert shape(tree) == ("job", [("step", [])]) and tree.child_runs[0].inputs == tree.inputs


def test_context_carried_into_a_pool(traced):
    @runlite.traceable
    def task(i):
        return i

    @runlite.traceable
    def fan_out():
        with ThreadPoolExecutor(3) as pool:
            # copy the context in this thread, once per task: each worker runs task in it
            futures = [pool.submit(contextvars.copy_context().run, task, i) for i in range(3)]
            return [f.result() for f in futures]

    fan_out()
    tree = traced.trace(roots(traced)[0].trace_id)
    assert sorted(c.name for c in tree.child_runs) == ["task", "task", "task"]


def test_span_usage_events_metadata_attachments(traced):
    with runlite.trace("call-llm", run_type="llm", inputs={"prompt": "hi"}, metadata={"model": "m1"}) as span:
        span.set_usage(usage_metadata={"input_tokens": 12, "output_tokens": 30, "total_tokens": 42,
                                       "input_cost": 0.001, "output_cost": 0.002})
        span.add_event("start")
        span.add_metadata({"temperature": 0.2})
        span.attach("prompt.txt", b"hi there", "text/plain")
        child = runlite.trace("child")
        with child:
            pass
        span.end(outputs={"text": "hello"})
    rec = traced.read_run(span.id, load_child_runs=True)
    assert (rec.prompt_tokens, rec.completion_tokens, rec.total_tokens) == (12, 30, 42)
    assert rec.total_cost == pytest.approx(0.003)
    assert rec.metadata["model"] == "m1" and rec.metadata["temperature"] == 0.2
    assert rec.metadata["usage_metadata"]["total_tokens"] == 42
    assert traced.get_run(child.id).metadata["model"] == "m1"  # children inherit metadata
    assert rec.attachments == {"prompt.txt": ("text/plain", 8)}
    assert traced.read_attachment(span.id, "prompt.txt") == b"hi there"
    assert [c.name for c in rec.child_runs] == ["child"]
    assert [e.name for e in traced.events(span.id)] == ["start"]
    with pytest.raises(runlite.ValidationError):
        span.set_usage(prompt_tokens=-1)


def test_read_run_without_children_and_unknown(traced):
    with runlite.trace("a") as a:
        with runlite.trace("b"):
            pass
    assert traced.read_run(a.id).child_runs == ()
    assert len(traced.read_run(a.id, load_child_runs=True).child_runs) == 1
    with pytest.raises(runlite.NotFoundError):
        traced.trace("01000000-0000-7000-8000-000000000000")


def test_feedback_stats(traced):
    with runlite.trace("judged") as span:
        pass
    traced.create_feedback(span.id, "correctness", score=1)
    traced.create_feedback(span.id, "correctness", score=0, comment="wrong")
    traced.create_feedback(span.id, "correctness", score=True)
    traced.create_feedback(span.id, "label", value="good")
    traced.create_feedback(span.id, "label", value="good", source="model")
    traced.create_feedback(span.id, "label", value={"error": "evaluator crashed"})
    stats = traced.read_run(span.id).feedback_stats
    assert stats["correctness"]["n"] == 3 and stats["correctness"]["avg"] == pytest.approx(2 / 3)
    assert stats["correctness"]["stdev"] == pytest.approx(0.5773502691896257)
    assert (stats["correctness"]["min"], stats["correctness"]["max"]) == (0.0, 1.0)
    assert stats["label"] == {"n": 3, "avg": None, "stdev": None, "min": None, "max": None, "errors": 1,
                              "values": {"good": 2}}
    one = runlite.trace("one")
    one.end()
    traced.create_feedback(one.id, "k", score=0.5)
    assert traced.read_run(one.id).feedback_stats["k"]["stdev"] is None
    for bad in (dict(score=float("nan")), dict(score="high"), dict(source={"type": "robot"})):
        with pytest.raises(runlite.ValidationError):
            traced.create_feedback(one.id, "k", **bad)
    assert len(traced.feedback(one.id)) == 1


def test_list_feedback_of_every_run_with_langsmiths_filters(traced):
    """LangSmith's ``list_feedback`` needs no run: all of it, by key or source type, oldest
    first, in pages."""
    import uuid

    with runlite.trace("root") as root:
        with runlite.trace("child") as child:
            pass
    made = [traced.create_feedback(root.id, "correctness", score=1),
            traced.create_feedback(child.id, "correctness", score=0, source={"type": "model"}),
            traced.create_feedback(child.id, "label", value="good", source="app")]
    listed = traced.list_feedback()
    assert [f["id"] for f in listed] == made and {f["trace_id"] for f in listed} == {root.trace_id}
    assert [f["run_id"] for f in listed] == [root.id, child.id, child.id]
    assert [f["key"] for f in traced.list_feedback(feedback_key="correctness")] == ["correctness"] * 2
    assert [f["id"] for f in traced.list_feedback(feedback_source_type=["model", "app"])] == made[1:]
    assert [f["id"] for f in traced.list_feedback(feedback_source_type="api")] == made[:1]
    assert [f["id"] for f in traced.list_feedback(run_ids=[uuid.UUID(child.id)], feedback_key=["label"])] == made[2:]
    assert [f["id"] for f in traced.list_feedback(limit=1, offset=1)] == made[1:2]
    assert traced.list_feedback(run_ids=[str(uuid.uuid4())]) == [] and traced.list_feedback(limit=0) == []
    for bad in (dict(feedback_source_type="robot"), dict(limit=-1), dict(offset=1.5), dict(run_ids=5),
                dict(feedback_key=[None]), dict(run_ids=["x"] * 10_001)):
        with pytest.raises(runlite.ValidationError):
            traced.list_feedback(**bad)


def test_every_langsmith_field_round_trips(traced, tmp_path):
    with runlite.trace("root", inputs={"q": 1}) as root:
        with runlite.trace("llm", run_type="llm") as llm:
            llm.set_usage(prompt_tokens=3, completion_tokens=4)
            llm.add_event("new_token", token="x")
    traced.create_feedback(root.id, "score", score=1)
    data = traced.read_run(root.id, load_child_runs=True).to_dict()
    data.update(app_path="/o/p/r", in_dataset=True, manifest_id="m-1",
                inputs_s3_urls={"in": "s3://b/i"}, outputs_s3_urls={"out": "s3://b/o"},
                reference_example_id="01000000-0000-7000-8000-00000000000e", session_id="proj-1",
                serialized={"name": "chain"})
    for field in LANGSMITH_FIELDS:
        assert field in data
    with runlite.open(str(tmp_path / "copy.db")) as other:
        other.import_runs([json.loads(json.dumps(data))])
        back = other.read_run(root.id, load_child_runs=True).to_dict()
    data.pop("feedback_stats"), back.pop("feedback_stats")  # derived from feedback records
    assert back == data
    with runlite.open(str(tmp_path / "copy.db")) as other:
        with pytest.raises(runlite.ValidationError, match="already exists"):
            other.import_runs([data])


def test_import_refuses_inconsistent_trees(traced):
    with runlite.trace("r") as r:
        pass
    data = traced.read_run(r.id).to_dict()
    data["id"] = "01000000-0000-7000-8000-0000000000aa"
    with runlite.open(":memory:") as other:
        with pytest.raises(runlite.ValidationError, match="dotted_order"):
            other.import_runs([data])
        with pytest.raises(runlite.ValidationError):
            other.import_runs(["not a dict"])
        assert other.runs() == []


SCRIPT = """
import runlite
@runlite.traceable
def hello(name):
    return "hi " + name
hello("env")
"""


def test_default_store_from_environment(tmp_path):
    path = str(tmp_path / "env.db")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "RUNLITE_DB": path}
    subprocess.run([sys.executable, "-c", SCRIPT], check=True, env=env)  # written at exit
    with runlite.open(path, read_only=True) as s:
        (rec,) = s.runs()
        assert rec.name == "hello" and rec.outputs == {"output": "hi env"} and rec.status == "completed"


def test_bad_arguments(traced):
    with pytest.raises(runlite.ValidationError):
        runlite.traceable(run_type="")
    with pytest.raises(runlite.ValidationError):
        runlite.trace("")
    with pytest.raises(runlite.ValidationError):
        runlite.traceable(tags="notalist")
    with pytest.raises(runlite.ValidationError):
        runlite.set_default_store(42)


def test_spans_traced_from_many_threads_while_batches_are_written(traced):
    """8 threads trace spans (events, metadata, an attachment each) while the ticker writes
    batches and another thread reads (each read writes pending spans first): every span is
    in the file once, in its final state, with every event and attachment."""
    threads, per_thread, events = 8, 60, 3
    stop, failures, ids = threading.Event(), [], []

    def work(t):
        try:
            for i in range(per_thread):
                with runlite.trace(f"t{t}", inputs={"i": i}) as span:
                    ids.append(span.id)
                    for k in range(events):
                        span.add_event(f"e{k}", step=k)
                        span.add_metadata({f"k{k}": k})
                        time.sleep(0)  # let the writers in between any two changes
                    span.attach("note.txt", f"{t}-{i}".encode(), "text/plain")
                    span.add_outputs({"done": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    def read():
        try:
            while not stop.is_set():
                traced.runs(limit=5)  # a read writes this process's pending spans first
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    reader.join()
    assert not failures, failures
    runs = {r.id: r for r in traced.runs()}
    assert len(ids) == len(set(ids)) == threads * per_thread
    assert set(runs) == set(ids)
    for run_id in ids:
        rec = runs[run_id]
        assert rec.status == "completed" and rec.outputs == {"done": rec.inputs["i"]}
        assert {f"k{k}" for k in range(events)} <= set(rec.metadata)
        assert [e.name for e in traced.events(run_id)] == [f"e{k}" for k in range(events)]
        assert rec.attachments == {"note.txt": ("text/plain", len(traced.read_attachment(run_id, "note.txt")))}


def test_children_without_a_store_follow_their_parents_store(tmp_path, monkeypatch):
    # The default store is another file: a child there would lack its parent and never be written.
    monkeypatch.setenv("RUNLITE_DB", str(tmp_path / "default.db"))
    with runlite.open(tmp_path / "own.db") as own:
        @runlite.traceable(run_type="tool")
        def leaf(x):
            return x + 1

        @runlite.traceable(store=own)
        def root(x):
            with runlite.trace("inner", inputs={"x": x}) as span:
                span.end(outputs={"y": leaf(x)})
            return x

        assert root(1) == 1
        own.flush()
        names = {r.name: r for r in own.runs()}
        assert set(names) == {"root", "inner", "leaf"}
        assert names["inner"].parent_run_id == names["root"].id
        assert names["leaf"].parent_run_id == names["inner"].id
        assert not os.path.exists(tmp_path / "default.db") or not runlite.open(tmp_path / "default.db").runs()


def test_a_refused_end_or_add_outputs_changes_nothing(traced):
    span = runlite.trace("s", inputs={"q": 1})
    with pytest.raises(runlite.ValidationError, match="end_time"):
        span.end(outputs={"a": 1}, error="boom", end_time="not a time")  # (outputs and error were kept)
    for not_a_dict in ("text", 3, ["a"], None):
        with pytest.raises(runlite.ValidationError, match="must be a dict"):  # (TypeError before)
            span.add_outputs(not_a_dict)
    assert (span.outputs, span.error, span.end_us) == (None, None, None)
    span.add_outputs({"b": 2})
    span.end(outputs={"a": 1})
    rec = traced.get_run(span.id)
    assert rec.outputs == {"b": 2, "a": 1} and rec.error is None and rec.status == "completed"


def test_a_refused_trace_writes_no_span(traced):
    for bad in (b"abc", {}, ["x"], "not-a-uuid"):  # (the span was made, then refused: it was written)
        with pytest.raises(runlite.ValidationError, match="reference_example_id"):
            runlite.trace("s", reference_example_id=bad)
    traced.flush()
    assert traced.runs() == []


class _BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


def test_span_values_json_cannot_hold_are_stored_leniently_never_breaking_the_store(traced):
    # Each used to be accepted, then fail the span batch's write for ever: every later read of the
    # store flushed it first and raised (TypeError, ValueError, RuntimeError, a lone surrogate...).
    cyclic: dict = {}
    cyclic["self"] = cyclic
    calls = [lambda s: s.add_event("e", k={(1, 2): 3}), lambda s: s.add_event("e", k=10 ** 5000),
             lambda s: s.add_event("e", k=_BadRepr()), lambda s: s.add_event("e", k=cyclic),
             lambda s: s.add_event({"name": "e", "kwargs": {(1,): 2}}), lambda s: s.end(error="bad \ud800 text"),
             lambda s: s.end(error=10 ** 5000), lambda s: s.end(error=_BadRepr()),
             lambda s: s.add_outputs({10 ** 5000: 1})]
    for i, call in enumerate(calls):
        with runlite.trace(f"s{i}") as span:
            call(span)
    traced.flush()
    records = {r.name: r for r in traced.list_runs()}
    assert sorted(records) == sorted(f"s{i}" for i in range(len(calls)))
    for rec in records.values():
        rec.to_dict()
        traced.events(rec.id)
    assert traced.events(records["s0"].id)[0].kwargs == {"k": {"(1, 2)": 3}}
    assert records["s5"].error == "bad \ufffd text" and records["s7"].error.startswith("<")
    assert traced.verify().ok


def test_a_span_under_a_span_of_another_file_starts_its_own_trace(traced, tmp_path):
    with runlite.open(str(tmp_path / "other.db")) as other:
        with runlite.trace("outer") as outer:
            with runlite.trace("inner", store=other):  # (its parent's row is not in that file: it was
                pass                                    # never written, and every read of the file failed)
            with runlite.trace("explicit", store=other, parent=outer):
                pass
            with runlite.trace("child"):
                pass
        assert sorted((r.name, r.parent_run_id) for r in other.list_runs()) == [("explicit", None), ("inner", None)]
    assert traced.get_run("child").parent_run_id == outer.id
