"""``runlite push --langsmith`` / ``runlite.langsmith.push.push`` against real servers: the real
``langsmith`` SDK sends stored traces to a ``runlite serve`` over another file, and that file
is then compared with the source field by field. A second push sends nothing; filters,
projects, refusals, bad arguments and a missing SDK are checked, and the command line too."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("langsmith")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import runlite  # noqa: E402
from runlite import current_span, trace, traceable  # noqa: E402
from runlite._ids import dotted_segment, uuid7  # noqa: E402
from runlite.langsmith.push import PushError, push  # noqa: E402

from .serving import RecordingProxy, Served  # noqa: E402

BASE = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost")


def _iso(us: int) -> str:
    return (dt.datetime.fromtimestamp(us // 1_000_000, dt.timezone.utc)
            .replace(microsecond=us % 1_000_000).isoformat())


def _run(name: str, run_type: str, start: int, end: int | None = None, parent: dict | None = None, **fields) -> dict:
    """A LangSmith-style run dict for ``Store.import_runs``, times to the microsecond."""
    run_id = uuid7()
    order = (parent["dotted_order"] + "." if parent else "") + dotted_segment(start, run_id)
    run = {"id": run_id, "name": name, "run_type": run_type, "kind": "trace", "dotted_order": order,
           "trace_id": parent["trace_id"] if parent else run_id, "parent_run_id": parent["id"] if parent else None,
           "created": _iso(start), "started": _iso(start),
           "status": "pending" if end is None else ("error" if fields.get("error") else "success"), **fields}
    if end is not None:
        run["endtime"] = _iso(end)
    return run


def imported_trace(store, project: str = "beta") -> list[dict]:
    """A trace with every field set: odd microseconds (on millisecond halves too), tokens
    and costs, a first token, events with kwargs, an error, a run still pending, extra."""
    usage = {"input_tokens": 7, "output_tokens": 4, "total_tokens": 11, "input_cost": 0.25, "output_cost": 0.5,
             "total_cost": 0.75, "input_token_details": {"cache_read": 2}}
    root = _run("agent", "chain", BASE + 1, BASE + 900_501, session_name=project, inputs={"q": "why?", "n": [1, 2.5]},
                outputs={"a": "because", "nested": {"x": None}}, tags=["imported", "t2"],
                metadata={"user": "bob", "n": 3},
                extra={"runtime": {"sdk": "test"}, "metadata": {"user": "bob", "n": 3}},
                reference_example_id=str(uuid7()),
                events=[{"name": "start", "time": _iso(BASE + 1)},
                        {"name": "checkpoint", "time": _iso(BASE + 10), "kwargs": {"step": 2, "why": "x"}}])
    llm = _run("model", "llm", BASE + 499, BASE + 500_500, parent=root, session_name=project,
               inputs={"messages": [{"role": "user", "content": "why?"}]}, outputs={"text": "ok"},
               metadata={"usage_metadata": usage, "ls_model_name": "m"}, first_token_time=(BASE + 1_234) / 1000,
               prompt_tokens=7, completion_tokens=4, total_tokens=11, prompt_cost=0.25, completion_cost=0.5,
               total_cost=0.75, events=[{"name": "new_token", "time": _iso(BASE + 1_234)}])
    tool = _run("search", "tool", BASE + 600_000, BASE + 700_001, parent=root, session_name=project,
                inputs={"k": "x"}, error="ValueError: nope\nTraceback ...")
    waiting = _run("waiting", "chain", BASE + 800_000, None, parent=root, session_name=project, inputs={})
    deeper = _run("deeper", "parser", BASE + 800_001, BASE + 800_002, parent=waiting, session_name=project,
                  outputs={"parsed": True})
    runs = [root, llm, tool, waiting, deeper]
    store.import_runs(runs)
    return runs


def traced_trace(store) -> str:
    """A trace made by runlite's own ``traceable``: nesting, a streamed llm, a failure,
    events, attachments (one whose name the SDK refuses), usage."""

    @traceable(run_type="llm", store=store)
    def chat(prompt: str) -> dict:
        current_span().set_usage(usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})
        return {"text": prompt[::-1]}

    @traceable(run_type="llm", store=store)
    def stream(prompt: str):
        yield from prompt.split()

    @traceable(run_type="tool", store=store)
    def fails(x: int):
        raise ValueError(f"bad value {x}")

    @traceable(name="pipeline", tags=["prod", "v2"], metadata={"user": "ada"}, project_name="alpha", store=store)
    def pipeline(question: str) -> dict:
        span = current_span()
        span.add_event("checkpoint", step=1)
        span.attach("doc", bytes(range(256)) * 40, "application/octet-stream")
        span.attach("notes.txt", b"the SDK refuses names with a dot", "text/plain")
        answer = chat(question)
        words = list(stream("many small words"))
        try:
            fails(3)
        except ValueError:
            pass
        return {"answer": answer["text"], "words": words}

    pipeline("what is the answer")
    store.flush()
    return [r for r in store.list_runs() if r.name == "pipeline"][0].trace_id


def make_source(path) -> str:
    db = str(path)
    with runlite.open(db) as store:
        imported_trace(store)
        traced_trace(store)
        with store.init("training", metadata={"lr": 0.1}) as run:  # an experiment: never pushed
            run.log_metrics({"loss": 1.0})
    return db


def _us(when: dt.datetime | None) -> int | None:
    return None if when is None else round(when.timestamp() * 1_000_000)


def _files(store, rec) -> dict:
    out = {}
    for name in rec.attachments:
        with store.open_attachment(rec.id, name) as f:
            out[name] = (rec.attachments[name][0], f.read())
    return out


def assert_same_runs(src, dst, *, project: str | None = None, only_traces: set | None = None) -> int:
    """Every trace-kind run of ``src`` (of ``only_traces``) is in ``dst`` as it is here, field
    by field; ``dst`` holds nothing else. Returns how many runs were compared."""
    mine = [r for r in src.list_runs() if (r.kind == "trace" or r.run_type)
            and (only_traces is None or r.trace_id in only_traces)]
    theirs = {r.id: r for r in dst.list_runs()}
    assert set(theirs) == {r.id for r in mine}
    for a in mine:
        b = theirs[a.id]
        where = f"run {a.name} {a.id}"
        for field in ("name", "trace_id", "parent_run_id", "dotted_order", "inputs", "outputs", "error", "tags",
                      "metadata", "events", "reference_example_id", "direct_child_run_ids", "child_run_ids",
                      *TOKEN_FIELDS):
            assert getattr(b, field) == getattr(a, field), f"{where}: {field}"
        assert b.run_type == (a.run_type or "chain"), where
        for field in ("start_time", "ended", "first_token_time"):  # to the microsecond
            assert _us(getattr(b, field)) == _us(getattr(a, field)), f"{where}: {field}"
        assert b.to_dict()["status"] == a.to_dict()["status"], where
        assert b.session_name == (project or a.session_name or "default"), where
        assert {k: v for k, v in (b.extra or {}).items() if k != "metadata"} == \
               {k: v for k, v in (a.extra or {}).items() if k != "metadata"}, where
        sent = {name: v for name, v in _files(src, a).items() if "." not in name}
        assert _files(dst, b) == sent, where
    return len(mine)


def test_push_sends_every_trace_whole_and_exactly_and_a_second_push_sends_nothing(tmp_path):
    source = make_source(tmp_path / "src.db")
    dest = str(tmp_path / "dst.db")
    with Served(dest) as server, runlite.open(source, read_only=True) as store:
        proxy = RecordingProxy(server.url)
        try:
            first = push(store, endpoint=proxy.url)
            seen = len(proxy.requests)
            second = push(store, endpoint=proxy.url)
        finally:
            proxy.close()
        order = list(proxy.sent_runs())
        assert server.stop() == 0
    runs = 5 + 4  # the imported trace and the traced one; the experiment is not a trace
    assert first["traces"] == 2 and first["runs"] == runs
    assert (first["sent"], first["created"], first["updated"], first["skipped"]) == (runs, runs, 0, 0)
    assert (first["attachments"], first["attachments_skipped"]) == (1, 1)
    assert (second["sent"], second["skipped"], second["attachments"]) == (0, runs, 0)
    assert [r[1] for r in proxy.requests[seen:] if r[0] != "GET" and "/runs/query" not in r[1]] == []  # no upload
    # Parents were sent before their children.
    with runlite.open(source, read_only=True) as store:
        parent_of = {r.id: r.parent_run_id for r in store.list_runs()}
        for i, run_id in enumerate(order):
            parent = parent_of[run_id]
            assert parent is None or order.index(parent) < i
        with runlite.open(dest, read_only=True) as dst:
            assert assert_same_runs(store, dst) == runs
            projects = {r.session_name or "default" for r in store.list_runs(filter='eq(kind, "trace")')}
            assert {p["name"] for p in dst.projects()} == projects >= {"beta"}


def test_a_run_finished_after_a_push_is_updated_by_the_next(tmp_path):
    source, dest = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    store = runlite.open(source)
    try:
        slow = trace("slow", "chain", {"x": 1}, store=store, project_name="live")
        slow.__enter__()
        with trace("kid", "tool", {"y": 2}, store=store):
            pass
        store.flush()
        with Served(dest) as server:
            first = push(store, endpoint=server.url)
            assert (first["created"], first["updated"]) == (2, 0)
            slow.end(outputs={"done": True})
            slow.__exit__(None, None, None)
            store.flush()
            second = push(store, endpoint=server.url)
            assert (second["sent"], second["updated"], second["skipped"]) == (1, 1, 1)
            assert push(store, endpoint=server.url)["sent"] == 0
            assert server.stop() == 0
        with runlite.open(dest, read_only=True) as dst:
            assert assert_same_runs(store, dst) == 2
            assert dst.read_run(slow.id).outputs == {"done": True}
    finally:
        store.close()


def test_a_filter_sends_the_whole_traces_of_its_runs_and_project_overrides(tmp_path):
    source = make_source(tmp_path / "src.db")
    dest = str(tmp_path / "dst.db")
    with runlite.open(source, read_only=True) as store:
        chosen = {r.trace_id for r in store.list_runs(filter='eq(name, "search")')}  # a child of the imported trace
        assert len(chosen) == 1
        with Served(dest) as server:
            done = push(store, filter='eq(name, "search")', project="elsewhere", endpoint=server.url)
            assert (done["traces"], done["sent"]) == (1, 5)
            assert push(store, filter='eq(run_type, "retriever")', endpoint=server.url)["traces"] == 0
            assert server.stop() == 0
        with runlite.open(dest, read_only=True) as dst:
            assert assert_same_runs(store, dst, project="elsewhere", only_traces=chosen) == 5
            assert [p["name"] for p in dst.projects()] == ["elsewhere"]


def test_many_traces_go_in_several_uploads_and_id_queries(tmp_path):
    source, dest = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    with runlite.open(source) as store:
        for t in range(30):
            with trace("root", "chain", {"t": t}, store=store, tags=["bulk"]) as root:
                for k in range(9):
                    with trace("step", "llm", {"k": k, "text": "x" * 300}, store=store) as step:
                        step.add_event("tick", n=k)
                        step.end(outputs={"y": "z" * 300})
                root.end(outputs={"t": t})
    with runlite.open(source, read_only=True) as store:
        with Served(dest) as server:
            proxy = RecordingProxy(server.url, info={"batch_ingest_config": {"size_limit": 40}})
            try:
                steps = []
                done = push(store, endpoint=proxy.url, progress=lambda *step: steps.append(step))
                assert steps[-1] == (30, 30)
                assert push(store, endpoint=proxy.url)["skipped"] == 300
            finally:
                proxy.close()
            assert server.stop() == 0
        uploads = [r for r in proxy.requests if r[0] == "POST" and "/runs/multipart" in r[1]]
        assert (done["traces"], done["sent"]) == (30, 300)
        assert len(uploads) == 8  # at most 40 runs each, as the server's /info asked
        with runlite.open(dest, read_only=True) as dst:
            assert assert_same_runs(store, dst) == 300


def test_runs_traced_by_the_sdk_into_one_server_are_pushed_into_another(tmp_path):
    program = textwrap.dedent('''
        from langsmith import Client, traceable, get_current_run_tree
        from langsmith.schemas import Attachment

        @traceable(run_type="llm", metadata={"ls_model_name": "tiny"})
        def chat(prompt: str):
            usage = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
            return {"text": prompt[::-1], "usage_metadata": usage}

        @traceable(run_type="llm")
        def stream(prompt: str):
            yield from prompt.split()

        @traceable
        def fails(x: int):
            raise ValueError(f"bad value {x}")

        @traceable(name="with-file")
        def with_file(doc: Attachment):
            return {"size": len(doc.data)}

        @traceable(name="pipeline", tags=["prod"], metadata={"user": "ada"})
        def pipeline(question: str):
            get_current_run_tree().add_event({"name": "checkpoint", "time": "2026-01-02T03:04:05.000006+00:00",
                                              "kwargs": {"step": 1}})
            answer = chat(question)
            words = list(stream("many small words"))
            try:
                fails(3)
            except ValueError:
                pass
            with_file(Attachment(mime_type="image/png", data=bytes(range(256)) * 4))
            return {"answer": answer["text"], "words": words}

        pipeline("what is the answer")
        Client().flush()
    ''')
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    script = tmp_path / "app.py"
    script.write_text(program)
    with Served(first) as a:
        env = {**os.environ, "LANGSMITH_ENDPOINT": a.url, "LANGSMITH_API_KEY": "any-key", "LANGSMITH_TRACING": "true",
               "LANGSMITH_PROJECT": "sdk-project"}
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert a.stop() == 0
    with runlite.open(first, read_only=True) as store, Served(second) as b:
        result = push(store, endpoint=b.url)
        assert (result["sent"], result["attachments"]) == (5, 1)
        assert b.stop() == 0
        with runlite.open(second, read_only=True) as dst:
            assert assert_same_runs(store, dst) == 5
            assert {r.session_name for r in dst.list_runs()} == {"sdk-project"}


def test_a_server_refusing_runs_raises_push_error(tmp_path):
    source, dest = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    with runlite.open(source) as store:
        store.import_runs([_run("small", "chain", BASE, BASE + 5, inputs={"x": 1})])
        store.import_runs([_run("large", "chain", BASE + 10, BASE + 20, inputs={"blob": "x" * 20_000})])
    from langsmith import Client

    with runlite.open(source, read_only=True) as store, Served(dest, "--max-body", "8192") as server:
        with pytest.raises(PushError, match=r"refused 1 runs .*413") as refused:
            push(store, endpoint=server.url)
        assert (refused.value.result["sent"], refused.value.result["runs"]) == (1, 2)  # the small one went first
        # With a client of the caller's (the SDK only logs what the server refused), the runs
        # the server does not hold after the push are named.
        client = Client(api_url=server.url, api_key="any-key", auto_batch_tracing=False)
        with pytest.raises(PushError, match=r"does not hold 1 of the runs sent"):
            push(store, client=client, confirm_within=0.5)
        assert server.stop() == 0
    with runlite.open(dest, read_only=True) as dst:
        assert [r.name for r in dst.list_runs()] == ["small"]


def test_a_wrong_api_key_or_no_server_raises_push_error(tmp_path):
    source = make_source(tmp_path / "src.db")
    with runlite.open(source, read_only=True) as store, \
            Served(str(tmp_path / "dst.db"), "--api-key", "right-key-1") as server:
        with pytest.raises(PushError, match=f"server at {server.url} failed.*401"):
            push(store, endpoint=server.url, api_key="wrong-key-2")
        assert push(store, endpoint=server.url, api_key="right-key-1")["sent"] == 9


@pytest.mark.parametrize("kwargs, message", [
    ({"project": ""}, "project"),
    ({"project": 3}, "project"),
    ({"filter": 3}, "filter"),
    ({"filter": "eq(nosuchfield, 1)"}, "nosuchfield"),
    ({"endpoint": "ftp://example.com"}, "endpoint"),
    ({"endpoint": "http://[::1"}, "endpoint"),  # (urllib: "Invalid IPv6 URL", a ValueError)
    ({"endpoint": "http://host:99999"}, "endpoint"),
    ({"store": None}, "store must be a runlite Store"),
    ({"endpoint": "http://127.0.0.1:9", "client": object()}, "not both"),
    ({"client": object()}, "langsmith.Client"),
    ({"api_key": ""}, "api_key"),
    ({"confirm_within": -1}, "confirm_within"),
])
def test_bad_arguments_raise_validation_error_before_anything_is_sent(tmp_path, kwargs, message):
    with runlite.open(str(tmp_path / "src.db")) as store:
        if "client" not in kwargs:
            kwargs.setdefault("endpoint", "http://127.0.0.1:9")  # nothing listens: nothing may be sent
        with pytest.raises(runlite.ValidationError, match=message):
            push(**{"store": store, **kwargs})


def test_without_the_sdk_the_error_names_the_extra(tmp_path, monkeypatch):
    with runlite.open(str(tmp_path / "src.db")) as store:
        monkeypatch.setitem(sys.modules, "langsmith", None)
        with pytest.raises(ImportError, match=r"pip install 'runlite\[langsmith\]'"):
            push(store, endpoint="http://127.0.0.1:9")
    argv = ["push", "--langsmith", "--endpoint", "http://127.0.0.1:9", "--db", str(tmp_path / "src.db")]
    code = f"import sys; sys.modules['langsmith'] = None; from runlite.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "runlite: error:" in done.stderr and "runlite[langsmith]" in done.stderr


def test_the_command_pushes_once_and_reports_errors(tmp_path):
    source = make_source(tmp_path / "src.db")
    dest = str(tmp_path / "dst.db")

    def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runlite", "push", *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ, **(env or {})})

    with Served(dest, "--api-key", "the-key-123") as server:
        done = cli("--langsmith", "--endpoint", server.url, "--api-key", "the-key-123", "--db", source)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"pushed 9 runs (9 new, 0 updated) of 2 traces to {server.url}; "
                                      "0 already there")
        # The SDK's variables give the endpoint and key; --json for programs; nothing new to send.
        again = cli("--langsmith", "--json", "--db", source,
                    env={"LANGSMITH_ENDPOINT": server.url, "LANGSMITH_API_KEY": "the-key-123"})
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["sent"] == 0 and json.loads(again.stdout)["skipped"] == 9
        refused = cli("--langsmith", "--endpoint", server.url, "--api-key", "not-the-key", "--db", source)
        assert refused.returncode == 1
        last = refused.stderr.splitlines()[-1]
        assert last.startswith(f"runlite: error: the LangSmith server at {server.url} failed")
        bad = cli("--langsmith", "eq(nosuchfield, 1)", "--endpoint", server.url, "--db", source)
        assert bad.returncode == 1 and "runlite: error:" in bad.stderr
        assert cli("--endpoint", server.url, "--db", source).returncode == 2  # --langsmith is required
        assert server.stop() == 0
    with runlite.open(source, read_only=True) as store, runlite.open(dest, read_only=True) as dst:
        assert assert_same_runs(store, dst) == 9


def test_tokens_set_apart_from_usage_metadata_arrive_as_stored(tmp_path):
    source, dest = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    with runlite.open(source) as store:

        @traceable(run_type="llm", store=store)
        def chat(prompt: str) -> dict:
            return {"text": prompt, "usage_metadata": {"input_tokens": 5, "output_tokens": 3}}

        @traceable(store=store)
        def pipeline(question: str) -> dict:  # a chain returning the llm's usage_metadata
            with trace("counted", "tool", {}, store=store) as span:
                span.set_usage(prompt_tokens=10, completion_tokens=2)
            return chat(question)

        pipeline("q")
    with runlite.open(source, read_only=True) as store, Served(dest) as server:
        push(store, endpoint=server.url)
        assert server.stop() == 0
        with runlite.open(dest, read_only=True) as dst:
            assert_same_runs(store, dst)


def test_placeholders_are_not_sent_and_never_rename_the_run_they_stand_for(tmp_path):
    """A span served under another process's headers hangs under placeholders of its parents in
    this file. Pushing both files to one server: the real runs arrive from their own file, the
    span from this one, and the placeholders are never sent (they would rename the real runs)."""
    upstream, here = str(tmp_path / "upstream.db"), str(tmp_path / "here.db")
    with runlite.open(upstream) as s:
        with trace("root", store=s, inputs={"q": 1}) as root:
            with trace("call", store=s) as call:
                headers = {"langsmith-trace": call.dotted_order}
    with runlite.open(here) as s:
        with trace("served", store=s, parent=headers) as served:
            pass
    dest = str(tmp_path / "dst.db")
    with Served(dest) as server:
        for path in (upstream, here, upstream):
            with runlite.open(path, read_only=True) as store:
                done = push(store, endpoint=server.url)
        here_done = done
        with runlite.open(here, read_only=True) as store:
            here_done = push(store, endpoint=server.url)
        assert server.stop() == 0
    assert (here_done["runs"], here_done["placeholders"], here_done["sent"], here_done["skipped"]) == (1, 2, 0, 1)
    with runlite.open(dest, read_only=True) as dst:
        tree = dst.trace(root.id)
        assert (tree.name, tree.inputs) == ("root", {"q": 1})
        assert [c.name for c in tree.child_runs] == ["call"]
        assert [g.id for g in tree.child_runs[0].child_runs] == [served.id]
