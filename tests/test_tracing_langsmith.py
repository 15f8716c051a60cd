"""runlite's tracing API as the LangSmith SDK's: the same code, run once with ``langsmith`` and once
with ``runlite``, gives the same tags, metadata, projects, outputs, errors and tree.

The SDK (``langsmith``, when installed) runs for real, with its network calls replaced:
``RunTree.post``/``patch`` record the run instead of sending it. A scenario is a function of a
module (``langsmith`` or ``runlite``: the same names) and a list it appends the current span to
from inside traced code; the two lists are compared field by field (``view``). Behaviours where
runlite deliberately differs from the SDK are tested on runlite alone, and say so.
"""

import asyncio
import gc
import logging
import os
import threading
import uuid

import pytest

import runlite
from runlite.tracing import context as tracing_context_module
from runlite.tracing.usage import usage_fields


@pytest.fixture(autouse=True)
def no_project_env(monkeypatch):
    for key in ("LANGSMITH_PROJECT", "LANGCHAIN_PROJECT", "LANGCHAIN_SESSION", "HOSTED_LANGSERVE_PROJECT_NAME"):
        monkeypatch.delenv(key, raising=False)
    tracing_context_module.env_project.cache_clear()
    yield
    tracing_context_module.env_project.cache_clear()


class _FakeClient:
    otel_exporter = None


class SDK:
    """The real LangSmith SDK with its network calls replaced by a dict of recorded runs."""

    def __init__(self, monkeypatch):
        self.ls = pytest.importorskip("langsmith")
        from langsmith import run_trees, utils

        self.runs = {}
        monkeypatch.setattr(run_trees.RunTree, "post", lambda run, *a, **k: self.runs.__setitem__(run.id, run))
        monkeypatch.setattr(run_trees.RunTree, "patch", lambda run, *a, **k: self.record_patch(run))
        monkeypatch.setattr(run_trees, "get_cached_client", lambda *a, **k: _FakeClient())
        self.utils = utils
        self.reread_environment()

    def reread_environment(self):
        self.utils.get_env_var.cache_clear()  # the SDK reads its environment once
        self.utils.get_tracer_project.cache_clear()

    def record_patch(self, run):
        if not run.end_time:  # as RunTree.patch does
            run.end()
        self.runs[run.id] = run

    def run(self, scenario):
        """``scenario(langsmith, seen)`` with tracing on; the spans it saw."""
        seen = []
        with self.ls.tracing_context(enabled=True, client=_FakeClient()):
            scenario(self.ls, seen)
        return seen


@pytest.fixture
def sdk(monkeypatch):
    return SDK(monkeypatch)


def ended(run) -> bool:
    return (run.end_us if isinstance(run, runlite.Span) else run.end_time) is not None


def view(run, ids: dict) -> dict:
    """What both record of a run, in one shape: the SDK's own ``ls_*`` metadata left out, its
    ``default`` project as None, tags as a set, the parent as an index into the scenario's list."""
    metadata = {k: v for k, v in (run.metadata or {}).items() if not k.startswith("ls_") and k != "revision_id"}
    project = run.session_name
    parent = None if run.parent_run_id is None else ids.get(str(run.parent_run_id), "elsewhere")
    return {"name": run.name, "tags": sorted(set(run.tags or [])), "metadata": metadata,
            "project": None if project == "default" else project, "parent": parent,
            "inputs": run.inputs or None, "outputs": run.outputs or None, "failed": run.error is not None,
            "GeneratorExit": "GeneratorExit" in (run.error or ""), "ended": ended(run)}


def views(seen: list) -> list:
    ids = {str(run.id): k for k, run in enumerate(seen)}
    return [view(run, ids) for run in seen]


def compare(sdk, scenario, traced) -> list:
    """Run ``scenario`` with both; assert they saw the same; return runlite's spans."""
    expected = views(sdk.run(scenario))
    seen: list = []
    scenario(runlite, seen)
    got = views(seen)
    for run in seen:
        assert len(run.tags) == len(set(run.tags)), f"duplicate tags in {run.name}: {run.tags}"
    assert [g["name"] for g in got] == [e["name"] for e in expected]
    for g, e in zip(got, expected):
        assert g == e, f"{g['name']}: runlite {g} != langsmith {e}"
    return seen


# -- scenarios shared by both


def scenario_inheritance(ls, seen):
    @ls.traceable(tags=["c", "shared"], metadata={"c": 1})
    def child():
        seen.append(ls.get_current_run_tree())
        return 1

    @ls.traceable(tags=["p", "shared"], metadata={"p": 1, "k": "parent"})
    def parent():
        seen.append(ls.get_current_run_tree())
        child(langsmith_extra={"tags": ["x"], "metadata": {"e": 1}})
        with ls.tracing_context(tags=["inner"], metadata={"i": 1}):
            child()
        return 1

    with ls.tracing_context(tags=["ctx"], metadata={"m": 1, "k": "ctx"}):
        parent(langsmith_extra={"tags": ["pe"], "metadata": {"pe": 1}})  # its children: the parent's "k"
    with ls.tracing_context(tags=["a"], metadata={"a": 1}):
        with ls.tracing_context(tags=["b"]):  # a nested block replaces the outer one's tags
            child()
    with ls.trace("block", tags=["t"], metadata={"t": 1}):
        child()


def test_tags_and_metadata_are_inherited_as_the_sdk_does(sdk, traced):
    seen = compare(sdk, scenario_inheritance, traced)
    parent, child_extra, child_inner = seen[0], seen[1], seen[2]
    assert set(child_extra.tags) == {"ctx", "pe", "p", "shared", "x", "c"}
    assert child_extra.metadata == {"m": 1, "k": "parent", "pe": 1, "p": 1, "e": 1, "c": 1}
    assert parent.metadata["k"] == "parent" and seen[2].metadata["k"] == "parent"
    assert set(child_inner.tags) == {"ctx", "pe", "p", "shared", "inner", "c"}
    assert seen[3].tags == ["b", "c", "shared"] and seen[3].metadata == {"c": 1}
    assert set(seen[4].tags) == {"t", "c", "shared"} and seen[4].metadata == {"t": 1, "c": 1}
    rec = traced.get_run(child_extra.id)  # and so they are stored
    assert set(rec.tags) == set(child_extra.tags) and rec.metadata == child_extra.metadata
    assert parent.parent_run_id is None and child_extra.parent_run_id == parent.id


def scenario_projects(ls, seen):
    def grab():
        seen.append(ls.get_current_run_tree())

    @ls.traceable(project_name="deco")
    def deco():
        grab()

    @ls.traceable
    def plain():
        grab()

    @ls.traceable(project_name="deco-parent")
    def parent():
        grab()
        deco(langsmith_extra={"project_name": "extra-child"})  # a child is in its parent's project

    deco()
    deco(langsmith_extra={"project_name": "extra"})  # call time over decoration time
    with ls.tracing_context(project_name="ctx"):
        deco(langsmith_extra={"project_name": "extra"})  # tracing_context over both
        with ls.tracing_context(tags=["t"]):
            plain()  # the nested block names no project
    parent()
    plain()
    with ls.trace("block", project_name="tp"):
        grab()
        plain()


def test_projects_resolve_as_the_sdk_does(sdk, traced):
    seen = compare(sdk, scenario_projects, traced)
    assert [s.session_name for s in seen] == ["deco", "extra", "ctx", None, "deco-parent", "deco-parent", None,
                                              "tp", "tp"]


def test_project_from_the_environment(sdk, traced, monkeypatch):
    monkeypatch.setenv("LANGSMITH_PROJECT", "env-project")
    sdk.reread_environment()
    seen = compare(sdk, scenario_projects, traced)
    assert seen[3].session_name == seen[6].session_name == "env-project"
    monkeypatch.delenv("LANGSMITH_PROJECT")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "legacy")
    runlite.tracing.context.env_project.cache_clear()
    with runlite.trace("x") as span:
        pass
    assert span.session_name == "legacy"
    with pytest.raises(runlite.ValidationError):
        runlite.trace("x", project_name="")


def test_a_project_from_the_environment_that_is_no_name(traced, monkeypatch, caplog):
    # bytes that are not UTF-8, as os.environ holds them (lone surrogates): read as U+FFFD
    monkeypatch.setenv("LANGSMITH_PROJECT", os.fsdecode(b"caf\xe9"))
    tracing_context_module.env_project.cache_clear()
    with runlite.trace("x") as span:
        pass
    traced.flush()
    assert span.session_name == "caf\ufffd" and traced.get_run(span.id).session_name == "caf\ufffd"
    # a control character: passed over with a warning, for the next variable (or none)
    monkeypatch.setenv("LANGSMITH_PROJECT", "bad\x01name")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "legacy")
    tracing_context_module.env_project.cache_clear()
    with runlite.trace("y") as span:
        pass
    assert span.session_name == "legacy" and "$LANGSMITH_PROJECT is not used as the project" in caplog.text


def scenario_generators(ls, seen):
    @ls.traceable(reduce_fn=lambda items: {"joined": "".join(items)})
    def letters():
        seen.append(ls.get_current_run_tree())
        for c in "abc":
            yield c

    @ls.traceable
    def numbers():
        seen.append(ls.get_current_run_tree())
        yield from range(3)
        return "done"

    for _ in letters():  # the consumer breaks out
        break
    gen = letters()
    next(gen)
    gen.close()
    gen = letters()
    next(gen)
    del gen  # garbage-collected
    gc.collect()
    assert list(numbers()) == [0, 1, 2]

    @ls.traceable
    async def aletters():
        seen.append(ls.get_current_run_tree())
        for c in "abc":
            yield c

    async def main():
        agen = aletters()
        await agen.__anext__()
        await agen.aclose()
        async for _ in aletters():  # closed by asyncio's finalizer hook, in a task of its own
            break
        await asyncio.sleep(0.05)
        assert [c async for c in aletters()] == ["a", "b", "c"]

    asyncio.run(main())


def test_generators_closed_early_end_as_the_sdk_ends_them(sdk, traced):
    seen = compare(sdk, scenario_generators, traced)
    early = [seen[k] for k in (0, 1, 2, 4, 5)]
    for span in early:  # GeneratorExit recorded (the SDK's error), the items so far kept, the span ended
        assert span.status == "failed" and "GeneratorExit" in span.error and span.end_us is not None
    assert seen[0].outputs == {"joined": "a"} and seen[4].outputs == {"output": ["a"]}
    assert seen[3].status == seen[6].status == "completed"
    assert seen[3].outputs == {"output": [0, 1, 2, "done"]}  # a generator's return value is its last item
    stored = {r.id: r for r in traced.runs()}
    assert stored[seen[2].id].status == "failed" and stored[seen[2].id].end_time is not None
    assert stored[seen[5].id].status == "failed" and stored[seen[6].id].outputs == {"output": ["a", "b", "c"]}


def scenario_usage(ls, seen):
    usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7, "input_token_details": {"cache_read": 1}}

    @ls.traceable(run_type="llm")
    def llm():
        seen.append(ls.get_current_run_tree())
        return {"text": "hi", "usage_metadata": usage}

    @ls.traceable(run_type="llm", reduce_fn=lambda chunks: {"text": "".join(c["t"] for c in chunks),
                                                           "usage_metadata": chunks[-1]["u"]})
    def stream():
        seen.append(ls.get_current_run_tree())
        yield {"t": "a", "u": {"input_tokens": 1}}
        yield {"t": "b", "u": {"input_tokens": 1, "output_tokens": 2, "output_cost": 0.5}}

    @ls.traceable
    def chain():
        seen.append(ls.get_current_run_tree())
        return {"usage_metadata": {"input_tokens": 5}}

    llm()
    assert len(list(stream())) == 2
    chain()


def test_usage_metadata_moves_as_the_sdk_moves_it(sdk, traced):
    seen = compare(sdk, scenario_usage, traced)
    llm, stream, chain = seen
    assert llm.metadata["usage_metadata"]["input_token_details"] == {"cache_read": 1}
    assert llm.usage == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert stream.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "completion_cost": 0.5,
                            "total_cost": 0.5}
    assert chain.usage == {} and chain.metadata["usage_metadata"] == {"input_tokens": 5}  # fields: llm runs only
    rec = traced.get_run(llm.id)
    assert (rec.prompt_tokens, rec.completion_tokens, rec.total_tokens) == (3, 4, 7)
    assert rec.metadata["usage_metadata"]["input_token_details"] == {"cache_read": 1}
    rec = traced.get_run(stream.id)
    assert rec.total_tokens == 3 and rec.total_cost == pytest.approx(0.5)


class Chunks:
    """A streamed LLM response, as ``openai.Stream``: iterable, a context manager, attributes."""

    def __init__(self, chunks):
        self.chunks, self.response, self.closed = list(chunks), "http-response", False

    def __iter__(self):
        return self

    def __next__(self):
        if not self.chunks:
            raise StopIteration
        return self.chunks.pop(0)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.chunks:
            raise StopAsyncIteration
        return self.chunks.pop(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.closed = True


def joined(chunks):
    return {"text": "".join(chunks), "usage_metadata": {"output_tokens": len(chunks)}}


def scenario_streams(ls, seen):
    @ls.traceable(run_type="llm", reduce_fn=joined)
    def call(chunks):
        seen.append(ls.get_current_run_tree())
        return Chunks(chunks)

    @ls.traceable(reduce_fn=joined)
    def scalar():
        seen.append(ls.get_current_run_tree())
        return 5

    out = call(["a", "b"])
    assert out.response == "http-response" and not ended(seen[-1])  # the response itself; still running
    assert list(out) == ["a", "b"]
    with call(["c", "d"]) as stream:
        for _ in stream:
            break  # left early: ended by leaving the with block
    assert stream.closed
    assert scalar() == 5

    @ls.traceable(run_type="llm", reduce_fn=joined)
    async def acall(chunks):  # (the SDK 0.15.1 runs this one outside its run's context)
        return Chunks(chunks)

    async def main():
        return [chunk async for chunk in await acall(["e", "f"], langsmith_extra={"on_end": seen.append})]

    assert asyncio.run(main()) == ["e", "f"]


def test_streams_returned_with_reduce_fn_as_the_sdk(sdk, traced):
    seen = compare(sdk, scenario_streams, traced)
    assert [s.outputs for s in seen] == [
        {"text": "ab", "usage_metadata": {"output_tokens": 2}}, {"text": "c", "usage_metadata": {"output_tokens": 1}},
        {"output": 5}, {"text": "ef", "usage_metadata": {"output_tokens": 2}}]
    assert seen[1].status == "failed" and "GeneratorExit" in seen[1].error  # broken out of, as a generator
    assert seen[0].usage == {"completion_tokens": 2, "total_tokens": 2}
    assert seen[0].first_token_us is not None and traced.get_run(seen[3].id).completion_tokens == 2


def scenario_processing(ls, seen):
    @ls.traceable(process_inputs=lambda inputs: {"n": len(inputs)}, process_outputs=lambda out: {"wrapped": out})
    def proc(a, b):
        seen.append(ls.get_current_run_tree())
        return a + b

    @ls.traceable(process_inputs=lambda inputs: inputs["missing"], process_outputs=lambda out: 1 / 0)
    def leaky(secret):
        seen.append(ls.get_current_run_tree())
        return secret

    assert proc(1, 2) == 3
    assert leaky("s3cret") == "s3cret"  # a failing processor never fails the call


def test_process_inputs_and_outputs_as_the_sdk(sdk, traced, caplog):
    with caplog.at_level(logging.WARNING, logger="runlite"):
        seen = compare(sdk, scenario_processing, traced)
    assert seen[0].inputs == {"n": 2} and seen[0].outputs == {"wrapped": 3}
    assert seen[1].inputs == {"ls_error": "Processing failed; inputs dropped (process_inputs: KeyError)"}
    assert seen[1].outputs == {"ls_error": "Processing failed; outputs dropped (process_outputs: ZeroDivisionError)"}
    assert "s3cret" not in repr(traced.get_run(seen[1].id).to_dict())
    assert "process_inputs failed" in caplog.text


RUN_ID = uuid.UUID("0190a6e0-0000-7000-8000-00000000abcd")


def scenario_extra(ls, seen):
    done = []

    @ls.traceable
    def plain(x):
        seen.append(ls.get_current_run_tree())
        return x

    plain(1, langsmith_extra={"name": "renamed", "run_id": RUN_ID, "metadata": {"k": 1}, "tags": ["t"],
                              "on_end": lambda run: done.append(ended(run))})
    assert done == [True]
    with ls.trace("root") as root:
        seen.append(root)
    plain(2, langsmith_extra={"parent": root})
    plain(3, langsmith_extra={"parent": root.dotted_order})
    plain(4, langsmith_extra={"parent": {"langsmith-trace": root.dotted_order}})

    @ls.traceable
    def adds():
        run = ls.get_current_run_tree()
        seen.append(run)
        run.add_outputs({"a": 1, "b": 1})
        return {"b": 2}  # merged into what add_outputs gave

    adds()


def test_langsmith_extra_as_the_sdk(sdk, traced):
    seen = compare(sdk, scenario_extra, traced)
    assert seen[0].id == str(RUN_ID) and seen[0].name == "renamed" and seen[0].inputs == {"x": 1}
    root = seen[1]
    assert seen[5].outputs == {"a": 1, "b": 2}
    for child in seen[2:5]:
        assert child.parent_run_id == root.id and child.trace_id == root.trace_id
        assert child.dotted_order.startswith(root.dotted_order + ".")
    stored = traced.trace(root.id)
    assert [c.inputs for c in stored.child_runs] == [{"x": 2}, {"x": 3}, {"x": 4}]
    assert traced.get_run(str(RUN_ID)).name == "renamed"


def scenario_disabled(ls, seen):
    @ls.traceable
    def plain():
        seen.append(ls.get_current_run_tree())

    @ls.traceable(enabled=False)
    def off():
        assert ls.get_current_run_tree() is None  # no current span inside an untraced call
        plain()  # so a traced call in it starts a trace of its own

    @ls.traceable
    def outer():
        seen.append(ls.get_current_run_tree())
        off()

    outer()


def test_enabled_false_as_the_sdk(sdk, traced):
    seen = compare(sdk, scenario_disabled, traced)
    assert seen[1].parent_run_id is None and seen[1].trace_id != seen[0].trace_id


def disabled_block(ls):
    @ls.traceable
    def plain():
        return 1

    @ls.traceable(enabled=True)
    def forced():
        return plain()

    @ls.traceable
    def root():
        with ls.tracing_context(enabled=False):
            plain()
            forced()
            with ls.tracing_context(tags=["x"]):  # enabled=None keeps the outer block's
                plain()
        return plain()

    root()


def test_tracing_context_enabled_false_records_only_forced_spans(sdk, traced):
    with sdk.ls.tracing_context(enabled=True, client=_FakeClient()):
        disabled_block(sdk.ls)
    expected = sorted(run.name for run in sdk.runs.values())
    disabled_block(runlite)
    assert sorted(r.name for r in traced.runs()) == expected == ["forced", "plain", "root"]
    plain = next(r for r in traced.runs() if r.name == "plain")
    assert plain.parent_run_id == next(r for r in traced.runs() if r.name == "root").id


def scenario_parent_context(ls, seen):
    @ls.traceable
    def plain():
        seen.append(ls.get_current_run_tree())

    with ls.trace("root", tags=["r"], metadata={"r": 1}) as root:
        seen.append(root)
    with ls.tracing_context(parent=root, tags=["c"]):
        assert ls.get_current_run_tree().id == root.id
        plain()
    plain()  # outside: a new trace


def test_tracing_context_parent_as_the_sdk(sdk, traced):
    seen = compare(sdk, scenario_parent_context, traced)
    assert seen[1].parent_run_id == seen[0].id and set(seen[1].tags) == {"r", "c"}
    assert seen[2].parent_run_id is None


def test_run_tree_parameter_receives_the_span(sdk, traced):
    def scenario(ls, seen):
        @ls.traceable
        def takes(x, run_tree=None):
            seen.append(run_tree)
            assert run_tree is ls.get_current_run_tree()
            return x

        takes(5)

    seen = compare(sdk, scenario, traced)
    assert seen[0].inputs == {"x": 5, "run_tree": None}  # bound before the SDK passes the span


def test_inputs_are_bound_as_the_sdk_binds_them(sdk, traced):
    def scenario(ls, seen):
        @ls.traceable
        def star(a, *rest, b=2, **more):
            seen.append(ls.get_current_run_tree())

        class Thing:
            @ls.traceable
            def method(self, x, y=3):
                seen.append(ls.get_current_run_tree())

        star(1, 2, 3, c=4)
        star(1)
        Thing().method(1)
        Thing().method(x=2, y=1)

    seen = compare(sdk, scenario, traced)
    assert [s.inputs for s in seen] == [{"a": 1, "rest": (2, 3), "b": 2, "c": 4}, {"a": 1, "rest": (), "b": 2},
                                        {"x": 1, "y": 3}, {"x": 2, "y": 1}]


# -- runlite alone


def test_langsmith_extra_is_accepted_by_every_kind_of_function_and_never_an_input(traced):
    @runlite.traceable
    def sync(a):
        return a

    @runlite.traceable
    async def coro(a):
        return a

    @runlite.traceable
    def gen(a):
        yield a

    @runlite.traceable
    async def agen(a):
        yield a

    extra = {"tags": ["e"], "metadata": {"m": 1}, "project_name": "p"}
    assert sync(1, langsmith_extra={**extra, "name": "s"}) == 1
    assert asyncio.run(coro(2, langsmith_extra={**extra, "name": "c"})) == 2
    assert list(gen(3, langsmith_extra={**extra, "name": "g"})) == [3]

    async def drain():
        return [x async for x in agen(4, langsmith_extra={**extra, "name": "a"})]

    assert asyncio.run(drain()) == [4]
    runs = {r.name: r for r in traced.runs()}
    assert set(runs) == {"s", "c", "g", "a"}
    for k, name in enumerate("scga", start=1):
        assert runs[name].inputs == {"a": k}
        assert runs[name].tags == ("e",) and runs[name].metadata == {"m": 1}


def test_langsmith_extra_is_checked(traced):
    calls = []

    @runlite.traceable
    def f(x):
        calls.append(x)
        return runlite.get_current_run_tree()

    for bad, match in ((["not", "a", "dict"], "langsmith_extra must be a dict"),
                       ({"metdata": {}}, "unknown keys"), ({"run_id": "nope"}, "run_id must be a UUID"),
                       ({"tags": "t"}, "tags"), ({"on_end": 3}, "on_end"),
                       ({"parent": 3}, "parent must be a Span"), ({"parent": "not-a-dotted-order"}, "dotted_order"),
                       ({"reference_example_id": 5}, "reference_example_id")):
        with pytest.raises(runlite.ValidationError, match=match):
            f(1, langsmith_extra=bad)
    assert calls == []  # refused before the function ran
    f(1, langsmith_extra={"client": object(), "replicas": None, "run_extra": {}})  # SDK keys runlite ignores
    assert f(2, langsmith_extra={"reference_example_id": RUN_ID}).reference_example_id == str(RUN_ID)
    assert calls == [1, 2]


def test_on_end_failure_is_logged_not_raised(traced, caplog):
    @runlite.traceable
    def f():
        return 1

    with caplog.at_level(logging.WARNING, logger="runlite"):
        assert f(langsmith_extra={"on_end": lambda span: 1 / 0}) == 1
    assert "on_end failed" in caplog.text


def test_traceable_options_are_checked_at_decoration():
    for kwargs, match in ((dict(reduce_fn=1), "reduce_fn must be a callable"),
                          (dict(process_inputs="x"), "process_inputs must be a callable"),
                          (dict(process_outputs=[]), "process_outputs must be a callable"),
                          (dict(enabled="yes"), "enabled must be True, False or None"),
                          (dict(project_name=3), "project_name"), (dict(project_name=""), "project_name")):
        with pytest.raises(runlite.ValidationError, match=match):
            runlite.traceable(**kwargs)
    with pytest.raises(runlite.RunliteError):
        runlite.traceable()(42)
    for kwargs in (dict(tags="t"), dict(metadata=[1]), dict(parent="x"), dict(enabled=1)):
        with pytest.raises(runlite.ValidationError):
            with runlite.tracing_context(**kwargs):
                pass


def test_enabled_false_calls_untraced_for_every_kind(traced):
    @runlite.traceable(enabled=False)
    def sync():
        return runlite.get_current_run_tree()

    @runlite.traceable(enabled=False)
    async def coro():
        return runlite.get_current_run_tree()

    @runlite.traceable(enabled=False)
    def gen():
        yield runlite.get_current_run_tree()

    @runlite.traceable(enabled=False)
    async def agen():
        yield runlite.get_current_run_tree()

    async def first():
        return [x async for x in agen()]

    with runlite.trace("outer") as outer:
        assert sync() is None and asyncio.run(coro()) is None and list(gen()) == [None]
        assert asyncio.run(first()) == [None]
        assert runlite.get_current_run_tree() is outer
    assert [r.name for r in traced.runs()] == ["outer"]


def test_disabled_context_gives_spans_that_are_never_written(traced):
    with runlite.tracing_context(enabled=False):
        with runlite.trace("ghost") as ghost:
            ghost.add_metadata({"k": 1})
            ghost.set_usage(prompt_tokens=1)
    assert ghost.status == "completed" and traced.runs() == []


def test_usage_fields():
    assert usage_fields({"input_tokens": 3, "output_tokens": 4}) == {
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert usage_fields({"input_tokens": 3, "output_tokens": 4, "total_tokens": 9}) == {
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 9}
    assert usage_fields({"output_tokens": 2.0}) == {"completion_tokens": 2, "total_tokens": 2}
    costs = usage_fields({"input_cost": 1, "output_cost": 0.25})
    assert costs == {"prompt_cost": 1.0, "completion_cost": 0.25, "total_cost": 1.25}
    assert all(type(v) is float for v in costs.values())
    assert usage_fields({"total_cost": 2, "input_token_details": {"cache_read": 1, "audio": None},
                         "output_cost_details": {"reasoning": 0.5}}) == {"total_cost": 2.0}
    assert usage_fields({}) == {}
    assert usage_fields({"input_tokens": 2 ** 63 - 1}) == {"prompt_tokens": 2 ** 63 - 1, "total_tokens": 2 ** 63 - 1}
    for bad, match in (({"input_tokens": -1}, ">= 0"), ({"input_tokens": "3"}, "number"),
                       ({"input_tokens": True}, "number"), ({"output_cost": float("nan")}, "finite"),
                       ({"input_tokens": 1.5}, "whole"), ({"prompt_tokens": 3}, "unknown keys"),
                       ({"input_token_details": [1]}, "must be a dict"),
                       ({"input_token_details": {"audio": -2}}, ">= 0"), ("tokens", "must be a dict"),
                       ({"input_tokens": 2 ** 63}, "64-bit"), ({"output_tokens": 10 ** 400}, "64-bit"),
                       ({"input_tokens": 2 ** 62, "output_tokens": 2 ** 62}, "total_tokens .* 64-bit"),
                       ({"input_cost": 10 ** 400}, "float64"),
                       ({"input_cost": 1e308, "output_cost": 1e308}, "total_cost"),
                       ({"input_tokens": float("inf")}, "finite")):
        with pytest.raises(runlite.ValidationError, match=match):
            usage_fields(bad)


def test_set_usage_uses_usage_fields(traced):
    with runlite.trace("llm", run_type="llm") as span:
        with pytest.raises(runlite.ValidationError, match="unknown keys"):
            span.set_usage(usage_metadata={"input_tokens": 1, "foo": 2})  # the SDK's RunTree.set refuses it too
        with pytest.raises(runlite.ValidationError, match="prompt_tokens"):
            span.set_usage(prompt_tokens=-1)
        with pytest.raises(runlite.ValidationError, match="64-bit"):  # more than the file's INTEGER holds
            span.set_usage(prompt_tokens=2 ** 63)
        assert span.usage == {} and "usage_metadata" not in span.metadata
        span.set_usage(usage_metadata={"input_tokens": 10, "output_tokens": 5, "output_cost": 0.5,
                                       "output_token_details": {"reasoning": 2}}, completion_tokens=6)
    rec = traced.get_run(span.id)
    assert (rec.prompt_tokens, rec.completion_tokens, rec.total_tokens) == (10, 6, 16)
    assert rec.completion_cost == rec.total_cost == pytest.approx(0.5) and rec.prompt_cost is None
    assert rec.metadata["usage_metadata"]["output_token_details"] == {"reasoning": 2}


def test_bad_returned_usage_never_fails_the_call(traced, caplog):
    @runlite.traceable(run_type="llm")
    def llm():
        return {"usage_metadata": {"input_tokens": -4}}

    with caplog.at_level(logging.WARNING, logger="runlite"):
        assert llm() == {"usage_metadata": {"input_tokens": -4}}
    (rec,) = traced.runs()
    assert rec.status == "completed" and rec.prompt_tokens is None and "usage_metadata" in caplog.text


def test_metadata_given_at_call_time_wins_over_inherited(traced):
    """runlite's rule, everywhere: a span's own keys win over its parent's. (The SDK 0.15.1 lets
    the parent's win over ``langsmith_extra`` metadata and over ``trace(metadata=...)``.)"""
    @runlite.traceable(metadata={"k": "decorator", "d": 1})
    def child():
        return runlite.get_current_run_tree()

    with runlite.trace("p", metadata={"k": "parent", "e": "parent"}):
        span = child(langsmith_extra={"metadata": {"k": "extra", "e": "extra"}})
    assert span.metadata == {"k": "decorator", "e": "extra", "d": 1}


def test_headers_parent_with_baggage(traced):
    with runlite.trace("upstream", tags=["u"], metadata={"m": 1}, project_name="up") as upstream:
        pass
    headers = {"langsmith-trace": upstream.dotted_order,
               "baggage": "langsmith-metadata=%7B%22tenant%22%3A%20%22a%22%7D,langsmith-tags=x%2Cy,"
                          "langsmith-project=remote,garbage"}
    with runlite.tracing_context(parent=headers):
        with runlite.trace("downstream") as down:
            pass
    assert down.parent_run_id == upstream.id and down.trace_id == upstream.trace_id
    assert down.metadata == {"tenant": "a"} and down.tags == ["x", "y"] and down.session_name == "remote"
    with runlite.tracing_context(parent={"other": "header"}):  # no trace header: a new trace
        with runlite.trace("fresh") as fresh:
            pass
    assert fresh.parent_run_id is None
    stored = traced.trace(upstream.id)
    assert [c.name for c in stored.child_runs] == ["downstream"]


def test_a_trace_header_in_other_digits_is_refused(traced):
    with runlite.trace("upstream") as upstream:
        pass
    order = upstream.dotted_order
    for other in ("\u0660", "\u00b9"):  # an Arabic-Indic zero, a superscript one: str.isdigit takes both
        bad = order[:16] + other + order[17:]  # a digit of the first segment's microseconds
        with pytest.raises(runlite.ValidationError, match="dotted_order segment"):
            with runlite.tracing_context(parent={"langsmith-trace": bad}):
                pass


def test_tracing_context_is_per_thread(traced):
    results = {}

    def work(tag):
        with runlite.tracing_context(tags=[tag], project_name=tag):
            with runlite.trace("t") as span:
                results[tag] = (span.tags, span.session_name)

    threads = [threading.Thread(target=work, args=(f"t{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {f"t{k}": ([f"t{k}"], f"t{k}") for k in range(4)}
    with runlite.trace("outside") as span:
        assert span.tags == [] and span.session_name is None
