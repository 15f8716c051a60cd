"""``runlite serve`` answers the SDK's read calls with what was written: every filter a run
query carries is applied (one ignored would answer with runs it excludes)."""

from __future__ import annotations

import json
import uuid
import warnings

import pytest

pytest.importorskip("langsmith")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from .serving import Served, request  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _tree(client, project: str, reference_example_id=None):
    """A root with a child and a grandchild, sent as the SDK's RunTree sends them."""
    from langsmith.run_trees import RunTree

    root = RunTree(name="root", inputs={"q": "where"}, client=client, project_name=project,
                   reference_example_id=reference_example_id)
    root.post()
    child = root.create_child(name="child", inputs={"say": 'a "quoted" back\\slash'})
    child.post()
    grandchild = child.create_child(name="grandchild", inputs={"deep": 1})
    grandchild.post()
    for run in (grandchild, child, root):
        run.end(outputs={"done": run.name})
        run.patch()
    return root


def test_read_run_loads_child_runs(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        root = _tree(client, "tree")
        _tree(client, "tree")  # another trace of the project: not children of the first
        client.flush()
        got = client.read_run(root.id, load_child_runs=True)
        assert [r.name for r in got.child_runs] == ["child"]
        assert [r.name for r in got.child_runs[0].child_runs] == ["grandchild"]


def test_list_runs_applies_query_and_reference_example(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        example = uuid.uuid4()
        evaluated = _tree(client, "searched", reference_example_id=example)
        _tree(client, "searched")
        client.flush()
        assert [r.name for r in client.list_runs(project_name="searched", query="grandchild")] == ["grandchild"] * 2
        found = client.list_runs(project_name="searched", query='a "quoted" back\\slash')
        assert sorted(r.name for r in found) == ["child", "child"]
        assert [r.id for r in client.list_runs(project_name="searched", reference_example_id=example)] == [evaluated.id]
        assert list(client.list_runs(project_name="searched", reference_example_id=uuid.uuid4())) == []
        both = client.list_runs(project_name="searched", query="child", filter='eq(name, "grandchild")')
        assert [r.name for r in both] == ["grandchild"] * 2
        status, answer = request(server.url, "POST", "/runs/query", b'{"reference_example": ["not-an-id"]}',
                                 {"Content-Type": "application/json"})
        assert status == 422 and "UUID" in answer["detail"]


def test_calls_of_langsmith_api_this_server_does_not_serve_say_so(tmp_path):
    """An SDK call this server does not implement gets a JSON answer saying so (501, or 405
    when the path is served by another method), not a viewer page or a bare "not allowed"."""
    from langsmith import Client
    from langsmith.utils import LangSmithError

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        run_id = uuid.uuid4()
        for call in (lambda: client.read_feedback(uuid.uuid4()), lambda: client.run_is_shared(run_id),
                     lambda: client.share_run(run_id), lambda: list(client.list_datasets()),
                     lambda: client.create_project("made")):
            with pytest.raises(LangSmithError, match="runlite serve does not implement"):
                call()
        for method, path, status in (("GET", "/api/v2/runs/x/share", 501), ("GET", "/api/v1/datasets", 501),
                                     ("DELETE", "/feedback/x", 501), ("POST", "/sessions", 405),
                                     ("GET", "/v1/traces", 405)):
            got, answer = request(server.url, method, path)
            assert got == status and "does not implement" in answer["detail"], (method, path, got, answer)
        assert request(server.url, "GET", "/")[0] == 200  # the viewer's pages are still there
        assert request(server.url, "GET", "/nope")[0] == 404


def test_list_projects_applies_its_filters(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        for name in ("alpha", "beta", "Gamma"):
            client.create_run("r", inputs={}, run_type="chain", project_name=name, id=uuid.uuid4())
        client.flush()
        ids = {p.name: p.id for p in client.list_projects()}
        assert sorted(ids) == ["Gamma", "alpha", "beta"]
        assert [p.name for p in client.list_projects(project_ids=[ids["beta"]])] == ["beta"]
        assert sorted(p.name for p in client.list_projects(project_ids=[ids["beta"], ids["alpha"]])) == ["alpha", "beta"]
        assert [p.name for p in client.list_projects(name_contains="gam")] == ["Gamma"]
        # A project of the file has no dataset and no metadata.
        assert len(list(client.list_projects(reference_free=True))) == 3
        assert list(client.list_projects(reference_free=False)) == []
        assert list(client.list_projects(reference_dataset_id=uuid.uuid4())) == []
        assert list(client.list_projects(metadata={"team": "x"})) == []
        status, answer = request(server.url, "GET", "/sessions?id=nope")
        assert status == 422 and "UUID" in answer["detail"]


def test_list_feedback_applies_its_source_filter(tmp_path):
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        run_id = uuid.uuid4()
        client.create_run("r", inputs={}, run_type="chain", project_name="fb", id=run_id)
        client.flush()
        client.create_feedback(run_id, key="by-api", score=1)
        client.create_feedback(run_id, key="by-model", score=0, feedback_source_type="model")
        assert sorted(f.key for f in client.list_feedback(run_ids=[run_id])) == ["by-api", "by-model"]
        assert [f.key for f in client.list_feedback(run_ids=[run_id], feedback_source_type=["model"])] == ["by-model"]
        assert [f.key for f in client.list_feedback(run_ids=[run_id], feedback_source_type=["api"])] == ["by-api"]


def test_list_feedback_needs_no_run(tmp_path):
    """LangSmith's own examples list feedback by key alone, or all of it: the SDK pages
    through it with limit and offset."""
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        runs = [uuid.uuid4() for _ in range(3)]
        for run_id in runs:
            client.create_run("r", inputs={}, run_type="chain", project_name="fb", id=run_id)
        client.flush()
        for i in range(150):  # more than one of the SDK's pages (100)
            client.create_feedback(runs[i % 3], key="correctness" if i % 2 else "helpfulness", score=i % 2,
                                   feedback_source_type="model" if i % 5 == 0 else "api")
        everything = list(client.list_feedback())
        assert len(everything) == 150 and len({f.id for f in everything}) == 150
        assert [f.score for f in everything] == [i % 2 for i in range(150)]  # oldest first
        assert {f.trace_id for f in everything} == set(runs)
        assert len(list(client.list_feedback(feedback_key=["correctness"]))) == 75
        assert len(list(client.list_feedback(feedback_source_type=["model"]))) == 30
        assert len(list(client.list_feedback(feedback_key=["correctness"], limit=7))) == 7
        status, answer = request(server.url, "GET", "/feedback?source=robot")
        assert status == 422 and "feedback_source_type" in answer["detail"]


def test_every_run_the_server_takes_the_sdk_reads_back(tmp_path):
    """A run the SDK could not read back (its Run model refusing a field) would fail every
    listing of its project: such a run is refused whole, or kept in the form the SDK reads."""
    import datetime as dt
    import json

    from langsmith import Client

    def run(**fields) -> dict:
        run_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.timezone.utc)
        return {"id": run_id, "name": "odd", "run_type": "llm", "start_time": now.isoformat(), "trace_id": run_id,
                "dotted_order": now.strftime("%Y%m%dT%H%M%S%fZ") + run_id, "session_name": "odd", **fields}

    headers = {"Content-Type": "application/json"}
    with Served(str(tmp_path / "runs.db")) as server:
        kept = {"inputs": 5, "outputs": [1, 2], "extra": {"metadata": {"usage_metadata": {
                    "output_tokens": 2, "output_token_details": {"reasoning": None, "audio": 1}}}}}
        taken = run(**kept)
        assert request(server.url, "POST", "/runs", json.dumps(taken).encode(), headers)[0] == 202
        for fields in ({"serialized": "text"}, {"app_path": 5}, {"in_dataset": "maybe"}, {"manifest_id": 5},
                       {"inputs_s3_urls": "x"}):
            status, answer = request(server.url, "POST", "/runs", json.dumps(run(**fields)).encode(), headers)
            assert status == 422 and next(iter(fields)) in answer["detail"], (fields, answer)
        client = Client(api_url=server.url, api_key="k")
        (got,) = client.list_runs(project_name="odd")
        assert got.inputs == {"input": 5} and got.outputs == {"output": [1, 2]}
        assert got.completion_token_details == {"audio": 1}
        assert client.read_run(taken["id"]).inputs == {"input": 5}


def test_a_run_query_naming_too_many_ids_is_refused_clearly(tmp_path):
    """Each id is a value SQLite binds, and it binds at most 32,766: past the limit, a 413
    saying so (it was the database's "too many SQL variables")."""
    import json

    with Served(str(tmp_path / "runs.db")) as server:
        for field in ("session", "id"):
            body = json.dumps({field: [str(uuid.uuid4()) for _ in range(40_000)]}).encode()
            status, answer = request(server.url, "POST", "/runs/query", body, {"Content-Type": "application/json"})
            assert status == 413 and "at most 10,000" in answer["detail"], answer
        body = json.dumps({"id": [str(uuid.uuid4()) for _ in range(10_000)]}).encode()
        assert request(server.url, "POST", "/runs/query", body, {"Content-Type": "application/json"})[0] == 200


def test_list_feedback_of_a_run_the_file_does_not_hold_is_empty(tmp_path):
    """A listing filter naming an unknown run finds nothing, as list_runs(run_ids=...) does,
    rather than failing the whole listing with a 404."""
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        run_id = uuid.uuid4()
        client.create_run("r", inputs={}, run_type="chain", project_name="fb", id=run_id)
        client.flush()
        client.create_feedback(run_id, key="k", score=1)
        assert list(client.list_feedback(run_ids=[uuid.uuid4()])) == []
        assert [f.key for f in client.list_feedback(run_ids=[uuid.uuid4(), run_id])] == ["k"]


def test_a_bad_limit_or_offset_of_a_listing_is_named_in_its_refusal(tmp_path):
    with Served(str(tmp_path / "runs.db")) as server:
        for path, word in (("/sessions?limit=-1", "limit"), ("/sessions?offset=1e5", "offset"),
                           (f"/feedback?run={uuid.uuid4()}&limit=x", "limit")):
            status, answer = request(server.url, "GET", path)
            assert status == 422 and answer["detail"].startswith(f"{word} must be a whole number"), (path, answer)


def test_a_run_whose_create_has_not_come_is_read_by_the_sdk(tmp_path):
    """A run known by its update alone has no run type yet: the SDK's Run needs one, and
    without it read_run and every list_runs holding the run failed."""
    import datetime as dt
    import json

    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        updated, filed = str(uuid.uuid4()), str(uuid.uuid4())
        body = json.dumps({"end_time": dt.datetime.now(dt.timezone.utc).isoformat(), "outputs": {"a": 1}}).encode()
        assert request(server.url, "PATCH", f"/runs/{updated}", body, {"Content-Type": "application/json"})[0] == 202
        form = (f'--b\r\nContent-Disposition: form-data; name="attachment.{filed}.f"\r\nContent-Type: text/plain'
                f'\r\n\r\nhello\r\n--b--\r\n').encode()
        status, _ = request(server.url, "POST", "/runs/multipart", form, {"Content-Type": "multipart/form-data; boundary=b"})
        assert status == 202
        got = client.read_run(updated)
        assert (got.run_type, got.outputs) == ("chain", {"a": 1})
        assert client.read_run(filed).attachments["f"]["reader"].read() == b"hello"
        assert sorted(str(r.id) for r in client.list_runs(run_ids=[updated, filed])) == sorted([updated, filed])


def _chain(path: str, depth: int) -> str:
    """A trace of ``depth`` runs, each the parent of the next; its id."""
    import runlite

    with runlite.open(path) as store:
        spans = [store.init("top", run_type="chain")]
        for i in range(depth - 1):
            spans.append(spans[-1].child(f"level-{i}", run_type="chain"))
        for span in reversed(spans):
            span.end(outputs={"ok": True}) if span is not spans[0] else span.close()
    return spans[0].trace_id


def test_the_run_query_reads_the_fields_the_sdk_selects(tmp_path):
    """``Client.list_runs`` sends the fields it reads (``select``): the query reads only those. It
    made every listed run's ``child_run_ids`` too, which no SDK asks for by default: reading back a
    chain of 1,000 runs, each the parent of the next, took 71 s through the SDK."""
    import runlite
    from langsmith import Client
    from runlite.server.reads import query_runs

    from .plans import read_steps
    from .serving import RecordingProxy

    paths = {depth: str(tmp_path / f"chain{depth}.db") for depth in (50, 200)}
    traces = {depth: _chain(path, depth) for depth, path in paths.items()}
    with Served(paths[50]) as server:
        proxy = RecordingProxy(server.url)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = Client(api_url=proxy.url, api_key="x")
                runs = list(client.list_runs(trace_id=traces[50]))
        finally:
            proxy.close()
    assert len(runs) == 50 and len({r.id for r in runs}) == 50
    assert {r.parent_run_id for r in runs} - {r.id for r in runs} == {None}
    sent = [json.loads(data) for method, route, _, data in proxy.requests if route.endswith("/runs/query")]
    select = sent[0]["select"]  # what the SDK reads of a run
    assert "child_run_ids" not in select and {"id", "inputs", "outputs", "start_time", "dotted_order"} <= set(select)
    steps = {}
    for depth, path in paths.items():
        with runlite.open(path, read_only=True) as store:
            query = {"trace": traces[depth], "select": select, "limit": 100}
            steps[depth] = read_steps(store, lambda: query_runs(store, query))
            page = query_runs(store, query)["runs"]
            assert len(page) == min(depth, 100) and all(run["child_run_ids"] == [] for run in page)
    assert steps[200] <= 6 * max(1, steps[50]), steps
    with runlite.open(paths[50], read_only=True) as store:  # asked for (no select), each run's descendants
        whole = query_runs(store, {"trace": traces[50], "limit": 100})["runs"]
    by_depth = sorted(whole, key=lambda run: len(run["dotted_order"]))
    for level, run in enumerate(by_depth):
        assert run["child_run_ids"] == [below["id"] for below in by_depth[level + 1:]]
        assert run["direct_child_run_ids"] == [below["id"] for below in by_depth[level + 1:level + 2]]
