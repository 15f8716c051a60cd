"""Traces for the trace-page tests, made with runlite's real tracing API (``traceable``,
``trace``, ``store.init(..., run_type=...)`` and ``.child(...)``)."""

from __future__ import annotations

import struct
import zlib

import runlite

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LONG = "z" * 10_000


def agent_trace(store) -> str:
    """A chat agent: tokens only on its child llm spans (one through ``usage_metadata``, one
    only in an OpenAI-shaped output), a failing tool (a real traceback), a span with a hostile
    name, a new_token event, an image attachment, feedback. Returns the root's id."""
    @runlite.traceable(run_type="llm", name="chat-model", store=store)
    def chat(messages):
        runlite.current_span().add_event("new_token", token="Paris")
        return {"choices": [{"message": {"role": "assistant", "content": "Paris is the capital of France."}}],
                "usage_metadata": {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150,
                                   "input_cost": 0.0012, "output_cost": 0.0006}}

    @runlite.traceable(run_type="llm", name="openai-raw", store=store)
    def raw(messages):  # usage left in the OpenAI response: never derived into the token columns
        return {"choices": [{"message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}}

    @runlite.traceable(run_type="tool", name="lookup", store=store)
    def lookup(city):
        def inner():
            raise ValueError(f"no data for {city} <b>bold</b>")
        inner()

    @runlite.traceable(run_type="retriever", name=HOSTILE, store=store)
    def retrieve(query):
        runlite.current_span().attach("map.png", png(), "image/png")
        runlite.current_span().add_event("note", text=HOSTILE)
        return {"documents": [LONG]}

    @runlite.traceable(run_type="chain", name="agent", store=store)
    def agent(question):
        retrieve(question)
        chat([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}])
        raw([{"role": "user", "content": "again"}])
        try:
            lookup("Paris")
        except ValueError:
            pass
        return {"answer": "Paris"}

    agent("What is the capital of France?")
    root = store.list_runs(filter='eq(name, "agent")', is_root=True)[0]
    store.create_feedback(root.id, "correct", score=1)
    store.create_feedback(root.id, "correct", score=0, comment="second opinion")
    store.create_feedback(root.id, "helpful", score=0.5)
    return root.id


def png(width: int = 24, height: int = 16) -> bytes:
    """A small valid PNG (a colour gradient), made with the standard library."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 10, y * 15, 128)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def handle_trace(store, name: str, tokens: int, cost: float, *, fail: bool = False) -> str:
    """A trace made with ``store.init(run_type=...)`` and ``.child``: tokens on one llm child, in
    the ``usage_metadata`` of its outputs only (a handle's ``end`` fills no token column)."""
    with store.init(name, run_type="chain", inputs={"q": name}) as root:
        llm = root.child("llm", run_type="llm", inputs={"messages": [{"role": "user", "content": name}]})
        llm.end(outputs={"usage_metadata": {"input_tokens": tokens - tokens // 4,
                                            "output_tokens": tokens // 4, "total_cost": cost}})
        if fail:
            tool = root.child("tool", run_type="tool")
            tool.end(error="Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom")
        root.end(outputs={"done": True})
    return root.id


def big_trace(store, width: int = 99, fanout: int = 100, deep: int = 60) -> str:
    """About width * (fanout + 1) + deep spans: a root, ``width`` steps of ``fanout`` llm calls,
    and a chain ``deep`` levels deep at the end (its last span is named ``deepest``)."""
    with runlite.trace("big", store=store, inputs={"q": "many"}) as root:
        for i in range(width):
            with runlite.trace(f"step {i}", store=store):
                for j in range(fanout):
                    with runlite.trace(f"llm {i}.{j}", run_type="llm", store=store,
                                       inputs={"messages": [{"role": "user", "content": f"q{j}"}]}) as call:
                        call.set_usage(prompt_tokens=2, completion_tokens=1)
                        call.end(outputs={"choices": [{"message": {"role": "assistant", "content": f"a{j}"}}]})

        def down(n):
            with runlite.trace("deepest" if n == deep - 1 else f"level {n}", store=store,
                               inputs={"level": n}):
                if n < deep - 1:
                    down(n + 1)
        down(0)
    return root.id


def roots_among_spans(store, *, experiments: int, traces: int, spans: int, interleaved: bool = False) -> list[str]:
    """``experiments`` experiment runs, then ``traces`` traces of a root and ``spans`` leaves
    (with ``interleaved``, one of each in turn), written; the top-level runs' ids, newest
    created first (the order of ``Store.runs`` and the run table)."""
    def trace(t: int) -> None:
        with runlite.trace(f"root-{t}", store=store):
            for _ in range(spans):
                runlite.trace("leaf", run_type="tool", store=store).end()

    for i in range(max(experiments, traces)):
        if i < experiments:
            store.init(f"exp-{i}").close()
        if interleaved and i < traces:
            trace(i)
    for t in range(0 if interleaved else traces):
        trace(t)
    store.live.flush_spans()
    roots = sorted((r for r in store.runs() if r.parent_run_id is None), key=lambda r: (r.created, r.id), reverse=True)
    return [r.id for r in roots]
