"""Tracing never changes what the traced function does: generators keep send(), throw() and
close() as they are without the decorator, and the spans record what happened."""

import asyncio
import math

import pytest

import runlite


def stored(store, name):
    store.live.flush_spans()
    (run,) = [r for r in store.runs() if r.name == name]
    return run


def test_a_traced_generator_receives_what_is_sent_and_thrown(traced):
    def echo():
        received = yield "ready"
        while True:
            try:
                received = yield received * 2
            except ValueError:
                received = yield "handled"
            if received is None:
                return "done"

    def drive(gen):
        out = [next(gen), gen.send(5), gen.throw(ValueError("x")), gen.send(7)]
        with pytest.raises(StopIteration) as stop:
            gen.send(None)
        return out, stop.value.value

    expected = drive(echo())
    assert drive(runlite.traceable(echo)()) == expected == (["ready", 10, "handled", 14], "done")
    run = stored(traced, "echo")
    assert run.status == "completed" and run.outputs == {"output": ["ready", 10, "handled", 14, "done"]}


def test_a_traced_generator_that_returns_on_a_throw_stops_as_it_would(traced):
    def gen():
        try:
            yield 1
        finally:
            return 5  # noqa: B012 - swallows what is thrown in

    @runlite.traceable(name="traced_gen")
    def traced_gen():
        return (yield from gen())

    for make in (gen, traced_gen):
        g = make()
        next(g)
        with pytest.raises(StopIteration) as stop:
            g.throw(KeyError("k"))
        assert stop.value.value == 5
    assert stored(traced, "traced_gen").outputs == {"output": [1, 5]}


def test_a_thrown_exception_the_generator_does_not_handle_fails_the_span(traced):
    @runlite.traceable
    def numbers():
        yield 1
        yield 2

    g = numbers()
    next(g)
    with pytest.raises(KeyError, match="k"):
        g.throw(KeyError("k"))
    run = stored(traced, "numbers")
    assert run.status == "failed" and "KeyError" in run.error and run.outputs == {"output": [1]}


def test_a_traced_async_generator_receives_what_is_sent_and_thrown(traced):
    async def echo():
        received = yield "ready"
        while True:
            try:
                received = yield received * 2
            except ValueError:
                received = yield "handled"

    async def drive(gen):
        out = [await gen.__anext__(), await gen.asend(5), await gen.athrow(ValueError("x")), await gen.asend(7)]
        await gen.aclose()
        return out

    expected = asyncio.run(drive(echo()))
    assert asyncio.run(drive(runlite.traceable(echo)())) == expected == ["ready", 10, "handled", 14]
    run = stored(traced, "echo")
    assert run.outputs == {"output": ["ready", 10, "handled", 14]} and "GeneratorExit" in run.error


# -- the RunTree methods LangSmith code calls on a span


def test_to_headers_carries_a_trace_to_another_process(traced):
    @runlite.traceable(tags=["a,b", "t"], metadata={"user": "é x", "n": 1}, project_name="proj")
    def caller():
        return runlite.get_current_run_tree().to_headers()

    headers = caller()
    parent = stored(traced, "caller")
    assert headers["langsmith-trace"] == parent.dotted_order
    with runlite.trace("remote", parent=dict(headers)) as child:  # as a server receiving them does
        pass
    run = stored(traced, "remote")
    assert run.parent_run_id == parent.id and run.trace_id == parent.trace_id
    assert child.session_name == "proj" and child.metadata == {"user": "é x", "n": 1}
    assert set(child.tags) >= {"t"}
    pytest.importorskip("langsmith")
    from langsmith.run_trees import RunTree

    sdk_child = RunTree.from_headers(headers)  # the SDK reads them as its own
    assert sdk_child.dotted_order.startswith(parent.dotted_order) and str(sdk_child.trace_id) == parent.trace_id
    assert sdk_child.session_name == "proj" and sdk_child.metadata["user"] == "é x"


def test_a_function_that_ends_its_own_span_keeps_both_outputs_as_the_sdk(traced):
    @runlite.traceable
    def answer(run_tree=None):
        run_tree.end(outputs={"early": 1})
        return 5

    assert answer() == 5
    assert stored(traced, "answer").outputs == {"early": 1, "output": 5}  # RunTree.end merges each time


def test_end_takes_metadata_and_events_as_run_tree_end(traced):
    with runlite.trace("block") as span:
        span.end(outputs={"a": 1}, metadata={"m": 1},
                 events=[{"name": "first", "time": "2024-01-01T00:00:00Z", "kwargs": {"k": 1}}, {"name": "second"}])
    first_end = span.end_us
    run = stored(traced, "block")
    assert run.outputs == {"a": 1} and run.metadata == {"m": 1} and run.end_time is not None
    assert span.end_us == first_end  # leaving the block keeps the end given inside, as the SDK's trace()
    assert [e[1] for e in span.events] == ["first", "second"] and span.events[0][3] == {"k": 1}


def test_add_event_takes_a_list_of_events_whole_or_not_at_all(traced):
    with runlite.trace("block") as span:
        span.add_event([{"name": "a"}, {"name": "b", "message": "hi"}])
        with pytest.raises(runlite.ValidationError):
            span.add_event([{"name": "c"}, {"name": 3}])
        with pytest.raises(runlite.ValidationError):
            span.end(outputs={"x": 1}, events=[{"name": "d"}, {"name": ""}])
    assert [e[1] for e in span.events] == ["a", "b"] and span.events[1][2] == "hi"
    assert stored(traced, "block").outputs is None


def test_inputs_given_after_the_span_was_first_written_are_written(traced):
    with runlite.trace("block", inputs={"a": 1}) as span:
        traced.live.flush_spans()  # the running span's row, with its first inputs
        span.inputs = {"b": 2}
    assert stored(traced, "block").inputs == {"b": 2}

    @runlite.traceable
    def appends(messages):
        traced.live.flush_spans()
        messages.append("later")  # an argument the call changes: its first write stays
        return len(messages)

    assert appends(["first"]) == 2
    assert stored(traced, "appends").inputs == {"messages": ["first"]}


def test_run_tree_set_add_inputs_and_children_as_the_sdk(traced):
    @runlite.traceable
    def agent(question):
        run_tree = runlite.get_current_run_tree()
        run_tree.add_inputs({"context": "doc"})
        child = run_tree.create_child("lookup", "tool", inputs={"q": question}, tags=["ct"],
                                      extra={"metadata": {"source": "wiki"}})
        child.post()
        child.end(outputs={"hits": 2})
        child.patch()
        run_tree.create_child("pending").patch()  # patch ends a child still running, as RunTree.patch
        run_tree.set(outputs={"final": "set"}, metadata={"m": 1}, tags=["only"])
        return "returned"  # set(outputs=...) is final: the return is not merged in

    assert agent("q?") == "returned"
    traced.live.flush_spans()
    runs = {r.name: r for r in traced.runs()}
    top, lookup = runs["agent"], runs["lookup"]
    assert top.inputs == {"question": "q?", "context": "doc"} and top.outputs == {"final": "set"}
    assert top.metadata == {"m": 1} and list(top.tags) == ["only"]
    assert lookup.parent_run_id == top.id and lookup.run_type == "tool" and lookup.outputs == {"hits": 2}
    assert list(lookup.tags) == ["ct"] and lookup.metadata == {"source": "wiki"} and lookup.inputs == {"q": "q?"}
    assert runs["pending"].status == "completed" and runs["pending"].parent_run_id == top.id


def test_run_tree_set_checks_everything_before_changing_anything(traced):
    with runlite.trace("block", inputs={"a": 1}) as span:
        with pytest.raises(runlite.ValidationError):
            span.set(inputs={"b": 2}, outputs="not a dict")
        with pytest.raises(runlite.ValidationError):
            span.set(tags=["ok"], metadata="not a dict")
        with pytest.raises(runlite.ValidationError):
            span.add_inputs(["not", "a", "dict"])
        for tags in ("abc", math.nan):  # a text is refused, not stored letter by letter
            with pytest.raises(runlite.ValidationError, match="tags"):
                span.set(tags=tags)
    assert span.inputs == {"a": 1} and span.tags == [] and span.outputs is None


# -- what is recorded of program values


def test_a_returned_pydantic_model_is_recorded_as_its_fields_as_the_sdk(traced):
    pydantic = pytest.importorskip("pydantic")

    class Message(pydantic.BaseModel):
        content: str
        refusal: str | None = None
        usage_metadata: dict | None = None

    @runlite.traceable(run_type="llm")
    def chat():
        return Message(content="hi", usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7})

    @runlite.traceable
    async def achat():
        return Message(content="async")

    reply = chat()
    assert isinstance(reply, Message) and asyncio.run(achat()) == Message(content="async")
    run = stored(traced, "chat")
    assert run.outputs == {"content": "hi", "usage_metadata": {"input_tokens": 3, "output_tokens": 4,
                                                               "total_tokens": 7}}  # None fields left out
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (3, 4, 7)
    assert stored(traced, "achat").outputs == {"content": "async"}
    assert runlite.traceable(lambda: Message)() is Message  # a class is a value, not a model


def test_program_values_are_recorded_as_the_sdk_writes_them(traced):
    import dataclasses
    import datetime
    import decimal
    import enum
    import pathlib
    import uuid

    pydantic = pytest.importorskip("pydantic")

    class Doc(pydantic.BaseModel):
        text: str
        score: float | None = None

    @dataclasses.dataclass
    class Hit:
        doc: Doc
        rank: int

    class Color(enum.Enum):
        RED = "red"

    @runlite.traceable
    def search(query, when):
        return {"hits": [Hit(Doc(text="a"), 1)], "id": uuid.UUID(int=5), "color": Color.RED,
                "price": decimal.Decimal("1.5"), "count": decimal.Decimal("3"), "path": pathlib.PurePosixPath("/x"),
                "problem": ValueError("v"), "day": datetime.date(2024, 1, 2)}

    search(Doc(text="q", score=0.5), datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    run = stored(traced, "search")
    assert run.inputs == {"query": {"text": "q", "score": 0.5}, "when": "2024-01-02T03:04:05+00:00"}
    assert run.outputs == {"hits": [{"doc": {"text": "a"}, "rank": 1}], "id": "00000000-0000-0000-0000-000000000005",
                           "color": "red", "price": 1.5, "count": 3, "path": "/x",
                           "problem": {"error": "ValueError", "message": "v"}, "day": "2024-01-02"}


def test_numpy_values_are_recorded_as_their_values(traced):
    np = pytest.importorskip("numpy")

    @runlite.traceable
    def stats(values):
        return {"mean": np.float32(1.5), "big": np.zeros(100_000)}

    stats(np.arange(3))
    run = stored(traced, "stats")
    assert run.inputs == {"values": [0, 1, 2]} and run.outputs["mean"] == 1.5
    assert run.outputs["big"].startswith("array(")  # a large array: numpy's summary, as before


def test_partials_and_callable_objects_are_named_as_the_sdk_names_them(traced):
    import functools

    def add(a, b):
        return a + b

    class Scorer:
        def __call__(self, x):
            return x

    assert runlite.traceable(functools.partial(add, 1))(2) == 3
    assert runlite.traceable(functools.partial(functools.partial(add, 1), 2))() == 3
    assert runlite.traceable(Scorer())(5) == 5
    traced.live.flush_spans()
    assert sorted(r.name for r in traced.runs()) == ["Scorer", "add", "add"]
