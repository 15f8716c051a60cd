"""``runlite serve`` answers LangSmith's v2 run reads, the SDK's generated ``runs`` resource
(``Langsmith().runs``; ``Client().runs`` and ``AsyncClient().runs``, which are async): runs
written with the SDK come back through ``query_v2`` (filters, pages, selects) and
``retrieve_v2`` with their values, and bad requests are 4xx JSON answers that change nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.request
import uuid
import warnings

import pytest

pytest.importorskip("langsmith")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from .serving import Served, request, request_raw  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

EVERY = ["ID", "NAME", "RUN_TYPE", "STATUS", "START_TIME", "END_TIME", "LATENCY_SECONDS", "ERROR", "ERROR_PREVIEW",
         "EXTRA", "METADATA", "EVENTS", "INPUTS", "INPUTS_PREVIEW", "OUTPUTS", "PARENT_RUN_IDS", "PROJECT_ID",
         "TRACE_ID", "THREAD_ID", "DOTTED_ORDER", "IS_ROOT", "REFERENCE_EXAMPLE_ID", "TOTAL_TOKENS", "PROMPT_TOKENS",
         "COMPLETION_TOKENS", "PROMPT_TOKEN_DETAILS", "TAGS", "ATTACHMENTS", "FEEDBACK_STATS", "SHARE_URL"]


def _trace(client, project: str, n: int, *, fail: bool = False, example=None):
    """A root with an llm child and a tool child (failing when ``fail``), as the SDK's RunTree
    sends them; returns ``(root, llm, tool)``."""
    from langsmith.run_trees import RunTree

    root = RunTree(name=f"root-{n}", inputs={"n": n}, client=client, project_name=project, tags=[f"t{n}"],
                   extra={"metadata": {"thread_id": f"thread-{n}"}}, reference_example_id=example)
    root.post()
    usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7, "input_token_details": {"cache_read": 1}}
    llm = root.create_child(name="chat", run_type="llm", inputs={"prompt": f"p{n}"},
                            extra={"metadata": {"usage_metadata": usage}})  # where traceable puts it
    llm.post()
    llm.end(outputs={"text": "hi", "usage_metadata": usage})
    llm.patch()
    tool = root.create_child(name="lookup", run_type="tool", inputs={"key": n})
    tool.post()
    tool.end(error="lookup failed") if fail else tool.end(outputs={"value": n})
    tool.patch()
    root.end(outputs={"answer": n})
    root.patch()
    return root, llm, tool


def _api(server):
    from langsmith import Langsmith

    return Langsmith(base_url=server.url, api_key="k", max_retries=0)


def _project_id(client, name: str) -> str:
    return str(client.read_project(project_name=name).id)


def test_query_v2_answers_the_stored_values_of_selected_fields(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        root, llm, tool = _trace(client, "v2", 1, fail=True)
        client.flush()
        pid = _project_id(client, "v2")
        got = {r.name: r for r in _api(server).runs.query_v2(project_ids=[pid], selects=EVERY)}
        assert set(got) == {"root-1", "chat", "lookup"}
        top, chat, lookup = got["root-1"], got["chat"], got["lookup"]
        assert (top.id, top.run_type, top.status, top.is_root, top.parent_run_ids) == (
            str(root.id), "CHAIN", "SUCCESS", True, [])
        assert (top.inputs, top.outputs, top.tags, top.thread_id) == ({"n": 1}, {"answer": 1}, ["t1"], "thread-1")
        assert top.metadata["thread_id"] == "thread-1" and top.extra["metadata"]["thread_id"] == "thread-1"
        assert top.project_id == pid and top.trace_id == str(root.id) and top.dotted_order == root.dotted_order
        assert top.start_time == root.start_time and top.end_time == root.end_time
        assert top.latency_seconds == pytest.approx((root.end_time - root.start_time).total_seconds())
        assert top.inputs_preview == '{"n": 1}' and top.share_url is None and top.error is None
        assert (chat.run_type, chat.is_root, chat.parent_run_ids) == ("LLM", False, [str(root.id)])
        assert (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (5, 2, 7)
        assert chat.prompt_token_details.raw == {"cache_read": 1}
        assert (lookup.status, lookup.error, lookup.error_preview) == ("ERROR", "lookup failed", "lookup failed")
        # Without selects, only the id: as LangSmith answers.
        bare = list(_api(server).runs.query(project_ids=[pid]))
        assert sorted(r.id for r in bare) == sorted(str(r.id) for r in (root, llm, tool))
        assert all(r.name is None and r.inputs is None for r in bare)
        status, answer = request(server.url, "POST", "/api/v2/runs/query",
                                 json.dumps({"project_ids": [pid], "selects": ["NAME"]}).encode(),
                                 {"Content-Type": "application/json"})
        assert status == 200 and all(set(item) == {"name"} for item in answer["items"])


def test_query_v2_applies_every_filter(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        example = uuid.uuid4()
        first = _trace(client, "filtered", 1, example=example)
        second = _trace(client, "filtered", 2, fail=True)
        _trace(client, "elsewhere", 3)
        client.flush()
        pid = _project_id(client, "filtered")
        runs = _api(server).runs

        def names(**kwargs):
            return sorted(r.name for r in runs.query_v2(project_ids=[pid], selects=["NAME"], **kwargs))

        assert names() == ["chat", "chat", "lookup", "lookup", "root-1", "root-2"]  # not the other project's
        assert names(is_root=True) == ["root-1", "root-2"]
        assert names(is_root=False) == ["chat", "chat", "lookup", "lookup"]
        assert names(run_type="LLM") == ["chat", "chat"]
        assert names(filter='eq(run_type, "tool")') == ["lookup", "lookup"]
        assert names(has_error=True) == ["lookup"]
        assert len(names(has_error=False)) == 5
        assert names(trace_id=str(second[0].id)) == ["chat", "lookup", "root-2"]
        assert names(trace_filter='eq(name, "root-1")', run_type="TOOL") == ["lookup"]
        assert names(tree_filter='eq(error, "lookup failed")', is_root=True) == ["root-2"]
        assert names(ids=[str(first[1].id), str(second[0].id)]) == ["chat", "root-2"]
        assert names(ids=[str(first[1].id)], is_root=True) == []  # ids narrows, it does not replace
        assert names(reference_examples=[str(example)]) == ["root-1"]
        assert names(filter='has(tags, "t2")') == ["root-2"]
        other = _project_id(client, "elsewhere")
        both = runs.query_v2(project_ids=[pid, other], is_root=True, selects=["NAME"])
        assert sorted(r.name for r in both) == ["root-1", "root-2", "root-3"]


def test_query_v2_start_time_window_defaults_to_the_last_day(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        now = dt.datetime.now(dt.timezone.utc)
        for name, age in (("old", dt.timedelta(days=3)), ("new", dt.timedelta(hours=1))):
            client.create_run(name, inputs={}, run_type="chain", project_name="window", id=uuid.uuid4(),
                              start_time=now - age, end_time=now - age + dt.timedelta(seconds=1), outputs={})
        client.flush()
        pid = _project_id(client, "window")
        runs = _api(server).runs

        def names(**kwargs):
            return [r.name for r in runs.query_v2(project_ids=[pid], selects=["NAME"], **kwargs)]

        assert names() == ["new"]  # as LangSmith: min_start_time defaults to a day ago
        assert names(min_start_time=now - dt.timedelta(days=4)) == ["new", "old"]
        assert names(min_start_time=now - dt.timedelta(days=4), max_start_time=now - dt.timedelta(days=2)) == ["old"]


def test_query_v2_pages_follow_the_cursor(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        for n in range(4):
            _trace(client, "paged", n)
        client.flush()
        pid = _project_id(client, "paged")
        runs = _api(server).runs
        whole = [r.id for r in runs.query_v2(project_ids=[pid], page_size=1000)]
        assert len(whole) == 12 == len(set(whole))
        first = runs.query_v2(project_ids=[pid], page_size=5, selects=["ID", "START_TIME"])
        assert len(first.items) == 5 and first.next_cursor and first.has_next_page()
        pages = list(first.iter_pages())
        assert [len(p.items) for p in pages] == [5, 5, 2] and pages[-1].next_cursor is None
        assert [r.id for p in pages for r in p.items] == whole  # each run once, newest first
        starts = [r.start_time for p in pages for r in p.items]
        assert starts == sorted(starts, reverse=True)
        # A run written between two pages does not move the later pages: the cursor keeps the window.
        later = list(runs.query_v2(project_ids=[pid], page_size=5, cursor=first.next_cursor))
        _trace(client, "paged", 9)
        client.flush()
        assert [r.id for r in runs.query_v2(project_ids=[pid], page_size=5, cursor=first.next_cursor)] == [
            r.id for r in later] == whole[5:]
        assert len(list(runs.query_v2(project_ids=[pid]))) == 15


def test_client_runs_and_async_client_runs_and_the_streamed_query(tmp_path):
    """``Client().runs`` and ``AsyncClient().runs`` are the SDK's async resource; the streamed
    query (``Accept: text/event-stream``) answers the same pages as JSON Patch events."""
    from langsmith import AsyncClient, Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        for n in range(3):
            _trace(client, "async", n)
        client.flush()
        pid = _project_id(client, "async")

        async def read():
            pager = client.runs.query_v2(project_ids=[pid], is_root=True, page_size=2, selects=["NAME", "INPUTS"])
            got = [(r.name, r.inputs) async for r in pager]
            root_id = (await client.runs.query(project_ids=[pid], filter='eq(name, "root-0")')).items[0].id
            one = await client.runs.retrieve_v2(root_id, project_id=pid, selects=["NAME", "OUTPUTS"])
            async_client = AsyncClient(api_url=server.url, api_key="k")
            other = [r.name async for r in async_client.runs.query_v2(project_ids=[pid], run_type="LLM",
                                                                      selects=["NAME"], page_size=1)]
            return got, one, other

        got, one, other = asyncio.run(read())
        assert got == [("root-2", {"n": 2}), ("root-1", {"n": 1}), ("root-0", {"n": 0})]
        assert (one.name, one.outputs) == ("root-0", {"answer": 0})
        assert other == ["chat"] * 3
        streamed = _api(server).runs.streaming.query_v2_items(project_ids=[pid], page_size=4, selects=["NAME"])
        assert sorted(r.name for r in streamed) == sorted(["root-0", "root-1", "root-2"] + ["chat", "lookup"] * 3)


def test_the_sdk_finds_the_api_level_of_what_is_served(tmp_path, caplog):
    """``/info`` reports the LangSmith API level runlite serves, so ``Client.runs`` does not
    warn that the server is too old; a resource of a later level it does not serve still does.
    runlite's own version is there too."""
    import runlite
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        with caplog.at_level("WARNING", logger="langsmith"):
            client.runs  # noqa: B018
        assert not [r for r in caplog.records if "Backend version" in r.getMessage()]
        with caplog.at_level("WARNING", logger="langsmith"):
            client.sessions  # noqa: B018
        assert [r for r in caplog.records if "Backend version" in r.getMessage()]
        status, answer = request(server.url, "GET", "/info")
        assert status == 200 and answer["runlite_version"] == runlite.__version__


def test_retrieve_v2_and_get_url(tmp_path):
    from langsmith import Client, NotFoundError
    from langsmith.schemas import Attachment

    with Served(str(tmp_path / "runs.db"), "--api-key", "secret-key") as server:
        client = Client(api_url=server.url, api_key="secret-key")
        root, llm, _ = _trace(client, "one", 1)
        llm.add_event({"name": "token", "time": "2026-01-02T03:04:05.000006+00:00", "kwargs": {"t": "hi"}})
        llm.patch()
        client.create_run("filed", inputs={}, run_type="chain", project_name="one", id=(filed_id := uuid.uuid4()),
                                  attachments={"note": Attachment(mime_type="text/plain", data=b"a note")})
        client.flush()
        client.create_feedback(llm.id, key="score", score=0.5)
        client.create_feedback(llm.id, key="score", score=1.0)
        pid = _project_id(client, "one")
        from langsmith import Langsmith

        runs = Langsmith(base_url=server.url, api_key="secret-key", max_retries=0).runs
        got = runs.retrieve_v2(str(llm.id), project_id=pid, selects=EVERY)
        assert (got.id, got.name, got.run_type, got.trace_id, got.parent_run_ids) == (
            str(llm.id), "chat", "LLM", str(root.id), [str(root.id)])
        assert got.outputs["text"] == "hi" and got.inputs == {"prompt": "p1"} and got.total_tokens == 7
        assert [(e.name, e.kwargs) for e in got.events] == [("token", {"t": "hi"})]
        assert got.feedback_stats["score"].n == 2 and got.feedback_stats["score"].avg == pytest.approx(0.75)
        attached = runs.retrieve(str(filed_id), project_id=pid, selects=["ATTACHMENTS"]).attachments
        with urllib.request.urlopen(attached["note"]) as answer:  # signed: fetched without the key
            assert answer.read() == b"a note"
        with pytest.raises(NotFoundError):
            runs.retrieve_v2(str(uuid.uuid4()), project_id=pid)
        with pytest.raises(NotFoundError, match="not|no run"):
            runs.retrieve_v2(str(llm.id), project_id=str(uuid.uuid4()))
        hinted = runs.retrieve_v2(str(llm.id), project_id=pid, start_time=llm.start_time, selects=["START_TIME"])
        assert hinted.start_time == llm.start_time
        url = runs.get_url(str(llm.id), project_id=pid, trace_id=str(root.id),
                           start_time=llm.start_time.isoformat()).url
        assert url == f"{server.url}/trace/{llm.id}"
        with urllib.request.urlopen(url + "?api_key=secret-key") as page:
            assert page.status == 200 and b"chat" in page.read()
        with pytest.raises(NotFoundError):
            runs.get_url(str(llm.id), project_id=pid, trace_id=str(uuid.uuid4()))
        status, answer = request(server.url, "GET", f"/api/v2/runs/{llm.id}?project_id={pid}")
        assert status == 401  # the key guards the v2 routes too


def _post(server, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(server.url, "POST", "/api/v2/runs/query", data, {"Content-Type": "application/json"})


def test_bad_v2_requests_are_4xx_answers_that_change_nothing(tmp_path):
    from langsmith import APIStatusError, Client, Langsmith, UnprocessableEntityError

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        root, _, _ = _trace(client, "bad", 1)
        client.flush()
        pid = _project_id(client, "bad")
        runs = _api(server).runs
        before = sorted(r.id for r in runs.query_v2(project_ids=[pid]))
        ok = {"project_ids": [pid]}
        for body, status, said in (
            (b"{not json", 422, "not JSON"),
            (b"[1, 2]", 422, "JSON object"),
            (b"[" * 100_000, 422, "nested too deeply"),
            ({**ok, "nope": 1}, 422, "unknown run query fields"),
            ({**ok, "selects": ["NAME", "BOGUS"]}, 422, "'BOGUS' is not a RunSelectField"),
            ({**ok, "selects": "NAME"}, 422, "selects must be a list"),
            ({**ok, "selects": [1]}, 422, "not a RunSelectField"),
            ({**ok, "cursor": "abc"}, 422, "not one this server gave"),
            ({**ok, "cursor": "1." + "9" * 40}, 422, "not one this server gave"),
            ({**ok, "cursor": "1." + "9" * 18}, 422, "not one this server gave"),
            ({**ok, "cursor": "-1.5"}, 422, "not one this server gave"),
            ({**ok, "filter": 'eq(nmae, "x")'}, 422, "nmae"),
            ({**ok, "filter": 'and(eq(name, "x"))), or(eq(name, "y")'}, 422, ""),
            ({**ok, "trace_filter": "eq("}, 422, ""),
            ({**ok, "page_size": 0}, 422, "page_size must be from 1 to 1000"),
            ({**ok, "page_size": 1001}, 422, "page_size"),
            ({**ok, "page_size": True}, 422, "page_size must be an int"),
            ({**ok, "is_root": "yes"}, 422, "is_root must be true or false"),
            ({**ok, "run_type": "robot"}, 422, "run_type must be one of"),
            ({**ok, "trace_id": "x'; DROP TABLE runs; --"}, 422, "trace_id must be a UUID"),
            ({**ok, "ids": ['"]), eq(name, "x']}, 422, "ids must be a UUID"),
            ({**ok, "ids": [str(uuid.uuid4())] * 10_001}, 413, "at most 10,000"),
            ({**ok, "min_start_time": "yesterday"}, 422, "not ISO-8601"),
            ({**ok, "min_start_time": "2026-01-02T00:00:00Z", "max_start_time": "2026-01-01T00:00:00Z"}, 422, "after"),
            ({}, 422, "give project_ids"),
            ({"project_ids": []}, 422, "give project_ids"),
            ({**ok, "reference_dataset_id": str(uuid.uuid4())}, 422, "give project_ids"),
            ({"reference_dataset_id": str(uuid.uuid4())}, 404, "holds no datasets"),
            ({"project_ids": ["not-a-project"]}, 422, "project_ids must be a UUID"),
            ({**ok, "ai_search": "slow runs"}, 501, "does not do natural-language search"),
            ({**ok, "sem_filter": "polite"}, 501, "semantic"),
            ({**ok, "include_subtree_usage": True}, 501, "subtree"),
        ):
            got, answer = _post(server, body)
            shown = body if isinstance(body, dict) else body[:40]
            assert got == status and said in answer["detail"], (shown, got, answer)
        status, answer = request(server.url, "POST", "/api/v2/runs/query", b"x" * 100, {"Content-Encoding": "br"})
        assert status == 422 and "Content-Encoding" in answer["detail"]
        for path, status, said in (
            (f"/api/v2/runs/{root.id}", 422, "project_id is required"),
            (f"/api/v2/runs/not-an-id?project_id={pid}", 422, "run_id must be a UUID"),
            (f"/api/v2/runs/{root.id}?project_id={pid}&selects=NAMES", 422, "'NAMES' is not a RunSelectField"),
            (f"/api/v2/runs/{root.id}?project_id={pid}&limit=3", 422, "unknown query parameters"),
            (f"/api/v2/runs/{root.id}?project_id={pid}&start_time=soon", 422, "not ISO-8601"),
            (f"/api/v2/runs/{root.id}/url?project_id={pid}", 422, "trace_id is required"),
            (f"/api/v2/runs/{root.id}/share", 501, "does not implement"),
            ("/api/v2/datasets", 501, "does not implement"),
        ):
            got, answer = request(server.url, "GET", path)
            assert got == status and said in answer["detail"], (path, got, answer)
        status, answer = request(server.url, "POST", f"/api/v2/runs/{root.id}/share", b"{}",
                                 {"Content-Type": "application/json"})
        assert status == 501 and "does not implement" in answer["detail"]
        with pytest.raises(UnprocessableEntityError, match="RunSelectField"):
            list(runs.query_v2(project_ids=[pid], selects=["NOT_A_FIELD"]))
        # A 501 tells the SDK's generated client not to retry it (it retries any other 5xx).
        status, headers, _ = request_raw(server.url, "POST", "/api/v2/runs/query",
                                         json.dumps({**ok, "ai_search": "x"}).encode())
        assert status == 501 and headers["x-should-retry"] == "false"
        with pytest.raises(APIStatusError, match="natural-language search") as refused:
            list(Langsmith(base_url=server.url, api_key="k").runs.query_v2(project_ids=[pid], ai_search="slow runs"))
        assert refused.value.status_code == 501
        with pytest.raises(APIStatusError, match="does not implement") as refused:  # sharing is not served
            runs.share.create(str(root.id), session_id=pid, trace_id=str(root.id))
        assert refused.value.status_code == 501
        # Nothing was lost or changed, and the server still answers.
        assert sorted(r.id for r in runs.query_v2(project_ids=[pid])) == before
        assert len(list(client.list_runs(project_name="bad"))) == 3


def test_get_url_without_viewer_pages_says_so(tmp_path):
    """An application made without the viewer (``make_app(viewer=False)``) has no page to
    point at: ``get_url`` answers 501 saying so."""
    from langsmith import APIStatusError, Langsmith
    from starlette.testclient import TestClient

    import runlite
    from runlite.server import make_app

    with runlite.open(str(tmp_path / "runs.db")) as store, TestClient(make_app(store, viewer=False)) as http:
        run_id = str(uuid.uuid4())
        started = dt.datetime.now(dt.timezone.utc).isoformat()
        sent = {"id": run_id, "name": "r", "run_type": "chain", "inputs": {}, "session_name": "p",
                "start_time": started}
        assert http.post("/runs", json=sent).status_code == 202
        pid = http.get("/sessions", params={"name": "p"}).json()[0]["id"]
        runs = Langsmith(base_url=str(http.base_url), api_key="k", max_retries=0, http_client=http).runs
        assert runs.retrieve(run_id, project_id=pid, selects=["NAME"]).name == "r"
        with pytest.raises(APIStatusError, match="serves no viewer pages") as refused:
            runs.get_url(run_id, project_id=pid, trace_id=run_id)
        assert refused.value.status_code == 501
