"""``runlite serve``: what a client sent and the server acknowledged is what is stored,
whatever order its requests arrive in (several threads of an SDK send them at once, and a
client retries a request whose answer it did not get)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

import runlite

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from .serving import Served, request  # noqa: E402

JSON = {"Content-Type": "application/json"}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _create(run_id: str, **fields) -> dict:
    """A create as LangSmith's Python SDK sends it (``events: []`` included)."""
    now = dt.datetime.now(dt.timezone.utc)
    return {"id": run_id, "name": "step", "run_type": "chain", "start_time": now.isoformat(),
            "dotted_order": now.strftime("%Y%m%dT%H%M%S%fZ") + run_id, "trace_id": run_id,
            "session_name": "ordered", "inputs": {"q": 1}, "tags": ["first"], "events": [],
            "extra": {"metadata": {"a": 1}}, **fields}


def _update(run_id: str, created: dict, **fields) -> dict:
    """The run's update: its end, outputs, and what changed while it ran."""
    return {"id": run_id, "trace_id": created["trace_id"], "dotted_order": created["dotted_order"],
            "end_time": _now(), "outputs": {"answer": 42}, "tags": ["first", "second"],
            "extra": {"metadata": {"a": 1, "late": 2}},
            "events": [{"name": "new_token", "time": _now(), "kwargs": {"token": "hi"}}], **fields}


def _send(url: str, method: str, path: str, payload: dict) -> None:
    status, answer = request(url, method, path, json.dumps(payload).encode(), JSON)
    assert status == 202, answer


def _read(url: str, run_id: str) -> dict:
    status, got = request(url, "GET", f"/runs/{run_id}")
    assert status == 200, got
    return got


def _assert_updated(got: dict) -> None:
    assert got["name"] == "step" and got["inputs"] == {"q": 1} and got["status"] == "success"
    assert got["outputs"] == {"answer": 42} and got["tags"] == ["first", "second"]
    assert got["extra"]["metadata"] == {"a": 1, "late": 2}
    assert [e["name"] for e in got["events"]] == ["new_token"] and got["first_token_time"] is not None


@pytest.mark.parametrize("written_between", [False, True])
def test_a_create_arriving_after_its_update_replaces_nothing_the_update_set(tmp_path, written_between):
    """The update is the run's later state: a create arriving after it (waiting with it, or
    after it was written) fills in what the update did not carry, and replaces nothing."""
    with Served(str(tmp_path / "runs.db")) as server:
        run_id = str(uuid.uuid4())
        created = _create(run_id)
        _send(server.url, "PATCH", f"/runs/{run_id}", _update(run_id, created))
        if written_between:
            _read(server.url, run_id)  # a read writes what was acknowledged
        _send(server.url, "POST", "/runs", created)
        got = _read(server.url, run_id)
        _assert_updated(got)
        status, projects = request(server.url, "GET", "/sessions?name=ordered")
        assert status == 200 and [p["name"] for p in projects] == ["ordered"]


@pytest.mark.parametrize("written_between", [False, True])
def test_a_create_sent_again_after_its_update_changes_nothing(tmp_path, written_between):
    """A client retries a create whose answer it lost, after the run's update went through."""
    with Served(str(tmp_path / "runs.db")) as server:
        run_id = str(uuid.uuid4())
        created = _create(run_id)
        _send(server.url, "POST", "/runs", created)
        _read(server.url, run_id)
        _send(server.url, "PATCH", f"/runs/{run_id}", _update(run_id, created))
        if written_between:
            _read(server.url, run_id)
        _send(server.url, "POST", "/runs/batch", {"post": [created]})
        _assert_updated(_read(server.url, run_id))


def test_an_update_alone_is_completed_by_a_create_arriving_later(tmp_path):
    """An update naming nothing but its end: the create gives the rest (name, inputs, start,
    project, place in its trace) and the update's end and outputs stay."""
    with Served(str(tmp_path / "runs.db")) as server:
        parent, child = str(uuid.uuid4()), str(uuid.uuid4())
        root = _create(parent)
        kid = _create(child, name="kid", parent_run_id=parent,
                      dotted_order=root["dotted_order"] + "." + _create(child)["dotted_order"], trace_id=parent)
        _send(server.url, "PATCH", f"/runs/{child}", {"end_time": _now(), "outputs": {"o": 1}})
        _read(server.url, child)
        _send(server.url, "POST", "/runs/batch", {"post": [root, kid]})
        got = _read(server.url, child)
        assert (got["name"], got["inputs"], got["outputs"], got["status"]) == ("kid", {"q": 1}, {"o": 1}, "success")
        assert got["session_id"] == _read(server.url, parent)["session_id"]
        assert got["parent_run_id"] == parent and got["dotted_order"] == kid["dotted_order"]
        assert got["start_time"] == dt.datetime.fromisoformat(kid["start_time"]).isoformat()


@pytest.mark.parametrize("auto_batch", [True, False])
def test_attachments_of_runs_the_sdk_sends_as_json_are_kept(tmp_path, auto_batch):
    """Client.create_run and update_run send a run without a dotted order (or with batching
    off) as JSON, its attachments in it as base64: they are stored, not dropped."""
    from langsmith import Client
    from langsmith.schemas import Attachment

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k", auto_batch_tracing=auto_batch)
        run_id = uuid.uuid4()
        client.create_run("filed", inputs={"x": 1}, run_type="chain", id=run_id, project_name="files",
                          attachments={"first": Attachment(mime_type="text/plain", data=b"one")})
        client.flush()
        client.update_run(run_id, outputs={"y": 2}, end_time=dt.datetime.now(dt.timezone.utc),
                          attachments={"second": ("image/png", bytes(range(256)))})
        client.flush()
        got = client.read_run(run_id)
        assert got.outputs == {"y": 2}
        assert {name: (a["mime_type"], a["reader"].read()) for name, a in got.attachments.items()} == {
            "first": ("text/plain", b"one"), "second": ("image/png", bytes(range(256)))}


def test_attachments_in_json_that_cannot_be_read_are_refused(tmp_path):
    with Served(str(tmp_path / "runs.db")) as server:
        for files, words in (({"a": 1}, "base64 or bytes"), ({"a": ["text/plain", "not base64!"]}, "base64 or bytes"),
                             ({"a": ["text/plain", {"0": 1, "2": 3}]}, "base64 or bytes"),
                             ({"a": ["nonsense", "b25l"]}, "MIME"), ([], "must be an object")):
            run_id = str(uuid.uuid4())
            status, answer = request(server.url, "POST", "/runs", json.dumps(_create(run_id, attachments=files)).encode(),
                                     JSON)
            assert status == 422 and words in answer["detail"], (files, answer)
            assert request(server.url, "GET", f"/runs/{run_id}")[0] == 404


def test_attachments_of_runs_the_js_sdk_sends_as_json_are_kept(tmp_path):
    """LangSmith's JS SDK writes a file's bytes (a Uint8Array) as JSON writes one."""
    with Served(str(tmp_path / "runs.db")) as server:
        run_id = str(uuid.uuid4())
        files = {"a": ["text/plain", {"0": 111, "1": 110, "2": 101}], "b": {"mimeType": "image/png", "data": {}}}
        _send(server.url, "POST", "/runs", _create(run_id, attachments=files))
        got = _read(server.url, run_id)["s3_urls"]
        assert {name: file["mime_type"] for name, file in got.items()} == {"attachment.a": "text/plain",
                                                                            "attachment.b": "image/png"}
        assert request(server.url, "GET", got["attachment.a"]["presigned_url"].split(server.url, 1)[1])[1] == "one"


def _form(parts: list) -> tuple[bytes, dict]:
    """A multipart form of JSON parts ``(name, value)``, and its Content-Type header."""
    data = b"".join(f'--b\r\nContent-Disposition: form-data; name="{name}"\r\nContent-Type: application/json\r\n\r\n'
                    .encode() + json.dumps(value).encode() + b"\r\n" for name, value in parts) + b"--b--\r\n"
    return data, {"Content-Type": "multipart/form-data; boundary=b"}


def test_feedback_sent_again_is_the_record_stored_once(tmp_path):
    """A client retries a request whose answer it lost: the feedback it holds is stored once,
    and the retry is answered as the first request was. Another record under a stored id is
    refused whole (its form's runs are not kept), as is an id the SDK could not read back."""
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        client = Client(api_url=server.url, api_key="k")
        run_id, feedback_id = str(uuid.uuid4()), uuid.uuid4()
        _send(server.url, "POST", "/runs", _create(run_id))
        for _ in range(2):
            made = client.create_feedback(run_id, key="right", score=1, comment="yes", feedback_id=feedback_id)
            assert made.id == feedback_id and made.score == 1
        form_run, form_feedback = str(uuid.uuid4()), str(uuid.uuid4())
        form = _form([(f"post.{form_run}", _create(form_run)),
                      (f"feedback.{form_feedback}", {"id": form_feedback, "run_id": form_run, "key": "k", "score": 0})])
        for _ in range(2):
            status, answer = request(server.url, "POST", "/runs/multipart", *form)
            assert status == 202, answer
        assert [f.id for f in client.list_feedback(run_ids=[run_id])] == [feedback_id]
        assert [str(f.id) for f in client.list_feedback(run_ids=[form_run])] == [form_feedback]

        other = str(uuid.uuid4())
        clash = _form([(f"post.{other}", _create(other)),
                       (f"feedback.{feedback_id}", {"id": str(feedback_id), "run_id": other, "key": "k", "score": 1})])
        status, answer = request(server.url, "POST", "/runs/multipart", *clash)
        assert status == 422 and "exists already" in answer["detail"]
        status, answer = request(server.url, "POST", "/feedback", json.dumps(
            {"id": str(feedback_id), "run_id": run_id, "key": "right", "score": 0}).encode(), JSON)
        assert status == 422 and "exists already" in answer["detail"]
        status, answer = request(server.url, "POST", "/feedback", json.dumps(
            {"id": "not-a-uuid", "run_id": run_id, "key": "k"}).encode(), JSON)
        assert status == 422 and "UUID" in answer["detail"]
        assert request(server.url, "GET", f"/runs/{other}")[0] == 404
        assert [f.score for f in client.list_feedback(run_ids=[run_id])] == [1]


def test_feedback_the_sdk_could_not_read_back_is_refused(tmp_path):
    """The Python SDK's Feedback model takes a value that is an object, a str, a number or a
    bool, and a correction that is an object or a str: a record of another shape (the JS
    SDK sends what it is given) would fail every list_feedback of its run."""
    from langsmith import Client

    with Served(str(tmp_path / "runs.db")) as server:
        run_id = str(uuid.uuid4())
        _send(server.url, "POST", "/runs", _create(run_id))
        for fields, words in (({"value": [1, 2]}, "feedback value"), ({"correction": 5}, "correction"),
                              ({"correction": ["a"]}, "correction"),
                              ({"feedback_source": {"type": "model", "metadata": "x"}}, "metadata of a feedback source"),
                              ({"feedback_source": {"type": "api", "user_id": 5}}, "user_id of a feedback source")):
            status, answer = request(server.url, "POST", "/feedback", json.dumps(
                {"run_id": run_id, "key": "k", **fields}).encode(), JSON)
            assert status == 422 and words in answer["detail"], (fields, answer)
        for fields in ({"value": {"label": "ok"}, "correction": "better"},
                       {"value": 0.5, "correction": {"a": 1}, "feedback_source": {"type": "model", "metadata": {"m": 1}}}):
            status, answer = request(server.url, "POST", "/feedback", json.dumps(
                {"run_id": run_id, "key": "k", **fields}).encode(), JSON)
            assert status == 200, answer
        listed = list(Client(api_url=server.url, api_key="k").list_feedback(run_ids=[run_id]))
        assert [(f.value, f.correction) for f in listed] == [({"label": "ok"}, "better"), (0.5, {"a": 1})]


@pytest.mark.parametrize("failure", [runlite.errors.StoreFullError, runlite.errors.StoreClosedError,
                                     runlite.errors.StoreBusyError])
def test_a_store_that_cannot_write_now_answers_503_so_the_sdk_retries(tmp_path, monkeypatch, failure):
    """A full disk or a closing server is the file's state, not the request's: LangSmith's SDK
    drops a batch answered 4xx and retries one answered 503. A file runlite cannot read is the
    server's fault: 500."""
    from starlette.testclient import TestClient

    from runlite.server import make_app

    body = json.dumps(_create(str(uuid.uuid4()))).encode()
    with runlite.open(str(tmp_path / "runs.db")) as store, TestClient(make_app(store, viewer=False)) as http:
        def cannot(runs):
            raise failure("cannot write now")
        monkeypatch.setattr(store.live, "receive", cannot)
        answer = http.post("/runs", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 503 and answer.json() == {"detail": "cannot write now"}

        def damaged(runs):
            raise runlite.errors.CorruptStoreError("the file is damaged")
        monkeypatch.setattr(store.live, "receive", damaged)
        assert http.post("/runs", content=body, headers={"Content-Type": "application/json"}).status_code == 500


def test_feedback_naming_its_trace_travels_with_the_runs_and_is_stored_as_sent(tmp_path, monkeypatch):
    """At the API level ``/info`` reports, the SDK sends feedback that names its trace in the
    runs' multipart form (``feedback.<id>``), and other feedback by ``POST /feedback``: each
    record is stored with the values the client sent."""
    from langsmith import Client, traceable

    from .serving import RecordingProxy

    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    with Served(str(tmp_path / "runs.db")) as server:
        proxy = RecordingProxy(server.url)
        try:
            client = Client(api_url=proxy.url, api_key="k")
            run_id = uuid.uuid4()
            traceable(lambda x: x, name="answer", client=client, project_name="fb")(1, langsmith_extra={"run_id": run_id})
            client.flush()
            project = client.read_project(project_name="fb").id
            with_trace = client.create_feedback(run_id, key="right", score=0.5, value="mostly", comment="ok",
                                                correction={"answer": 2}, trace_id=run_id, session_id=project,
                                                feedback_source_type="model")
            alone = client.create_feedback(run_id, key="tone", score=1, session_id=project)
            client.flush()
            sent = proxy.sent_feedback()
        finally:
            proxy.close()
        assert sent[str(with_trace.id)][0] == "/runs/multipart" and sent[str(alone.id)][0] == "/feedback"
        stored = {str(f.id): f for f in client.list_feedback(run_ids=[run_id])}
        assert stored.keys() == sent.keys()
        for feedback_id, (_, record) in sent.items():
            got = stored[feedback_id]
            assert (got.key, got.score, got.value, got.comment, got.correction) == (
                record["key"], record.get("score"), record.get("value"), record.get("comment"), record.get("correction"))
            assert str(got.run_id) == str(run_id)
        assert stored[str(with_trace.id)].feedback_source.type == "model"


def test_a_full_queue_writes_without_stopping_the_server(tmp_path, monkeypatch):
    """Past ``MAX_PENDING`` waiting runs, handing a request's runs over writes them. While that
    write waits for another program's lock, the server goes on answering other requests;
    the request is answered once its runs are written, and none is lost."""
    import threading

    import apsw
    from starlette.testclient import TestClient

    from runlite.server import make_app
    from runlite.tracing import buffer

    monkeypatch.setattr(buffer, "MAX_PENDING", 5)
    db = str(tmp_path / "runs.db")
    with runlite.open(db, timeout=120) as store, TestClient(make_app(store, viewer=False)) as http:
        writing = threading.Event()
        real_write = store.database.write

        def write():
            writing.set()
            return real_write()
        monkeypatch.setattr(store.database, "write", write)
        other = apsw.Connection(db)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        runs = [_create(str(uuid.uuid4())) for _ in range(8)]
        answers = {}
        flood = threading.Thread(target=lambda: answers.setdefault(
            "batch", http.post("/runs/batch", json={"post": runs})))
        flood.start()
        assert writing.wait(60)
        info = threading.Thread(target=lambda: answers.setdefault("info", http.get("/info")))
        info.start()
        info.join(30)  # generous: the loop is free, or it answers only when the lock is let go
        served_meanwhile = "info" in answers and "batch" not in answers
        other.execute("ROLLBACK")
        other.close()
        flood.join(60)
        info.join(60)
        assert served_meanwhile and answers["info"].status_code == 200
        assert answers["batch"].status_code == 202
        store.flush()
        assert sorted(r.id for r in store.runs(limit=None)) == sorted(r["id"] for r in runs)
