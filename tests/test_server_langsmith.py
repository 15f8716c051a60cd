"""``runlite serve`` against the real ``langsmith`` SDK: an unchanged traced program writes
into the file, what the SDK sent is what is stored (recorded on the way), and the SDK's
``Client`` reads it back. Bad requests get a 4xx and change nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import pytest

pytest.importorskip("langsmith")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import runlite  # noqa: E402
from runlite.server import serve  # noqa: E402

from .serving import RecordingProxy, Served, request  # noqa: E402

# A LangSmith user's program, unchanged: nested, async, generator, streaming llm, failing,
# attachments, usage metadata, custom events.
PROGRAM = textwrap.dedent('''
    import asyncio
    from langsmith import Client, traceable, get_current_run_tree
    from langsmith.schemas import Attachment

    @traceable(run_type="llm", metadata={"ls_model_name": "tiny"})
    def chat(prompt: str):
        return {"choices": [{"text": prompt[::-1]}],
                "usage_metadata": {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18,
                                   "input_token_details": {"cache_read": 3}}}

    @traceable(run_type="llm")
    def stream(prompt: str):
        for word in prompt.split():
            yield word

    @traceable(run_type="tool")
    async def lookup(key: str) -> str:
        await asyncio.sleep(0.01)
        return key.upper()

    @traceable
    def fails(x: int):
        raise ValueError(f"bad value {x}")

    @traceable(name="with-file")
    def with_file(doc: Attachment):
        return {"size": len(doc.data)}

    @traceable(name="pipeline", tags=["prod", "v2"], metadata={"user": "ada"})
    def pipeline(question: str):
        get_current_run_tree().add_event({"name": "checkpoint", "time": "2026-01-02T03:04:05.000006+00:00",
                                          "kwargs": {"step": 1}})
        answer = chat(question)
        words = list(stream("many small words"))
        found = asyncio.run(lookup("key"))
        try:
            fails(3)
        except ValueError:
            pass
        with_file(Attachment(mime_type="image/png", data=bytes(range(256)) * 4))
        return {"answer": answer["choices"][0]["text"], "words": words, "found": found}

    pipeline("what is the answer")
    Client().flush()
''')


def _run_program(tmp_path, endpoint: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(PROGRAM)
    env = {**os.environ, "LANGSMITH_ENDPOINT": endpoint, "LANGSMITH_API_KEY": "any-key", "LANGSMITH_TRACING": "true",
           "LANGSMITH_PROJECT": "sdk-project"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _iso_us(text: str) -> int:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return round(when.timestamp() * 1_000_000)


def _us(when: dt.datetime | None) -> int | None:
    return None if when is None else round(when.timestamp() * 1_000_000)


# Each ingestion path of the SDK: multipart with zstd bodies (what /info offers), plain
# multipart, and the JSON batch endpoint.
PATHS = {
    "multipart+zstd": None,
    "multipart": {"instance_flags": {"zstd_compression_enabled": False}},
    "batch": {"batch_ingest_config": {"use_multipart_endpoint": False},
              "instance_flags": {"zstd_compression_enabled": False}},
}


@pytest.mark.parametrize("path", list(PATHS))
def test_an_unchanged_sdk_program_is_stored_as_the_sdk_sent_it(tmp_path, path):
    db = str(tmp_path / "runs.db")
    with Served(db) as server:
        proxy = RecordingProxy(server.url, info=PATHS[path])
        try:
            _run_program(tmp_path, proxy.url)
        finally:
            proxy.close()
        assert server.stop() == 0
    sent = proxy.sent_runs()
    routes = {r[1].split("?")[0] for r in proxy.requests if r[0] != "GET"}
    assert routes == ({"/runs/batch"} if path == "batch" else {"/runs/multipart"}), routes
    if path == "multipart+zstd":
        assert any(h.get("Content-Encoding") == "zstd" for _, _, h, _ in proxy.requests)
    assert len(sent) == 6, sorted(r.get("name") for r in sent.values())
    with runlite.open(db, read_only=True) as store:
        for run_id, want in sent.items():
            _same_run(store, run_id, want)
        by_name = {r.name: r for r in store.list_runs(project_name="sdk-project")}
        assert set(by_name) == {"pipeline", "chat", "stream", "lookup", "fails", "with-file"}
        chat = by_name["chat"]
        assert (chat.prompt_tokens, chat.completion_tokens, chat.total_tokens) == (11, 7, 18)
        assert chat.to_dict()["prompt_token_details"] == {"cache_read": 3}
        assert by_name["stream"].first_token_time is not None
        assert by_name["fails"].to_dict()["status"] == "error" and "bad value 3" in by_name["fails"].error
        assert by_name["pipeline"].to_dict()["status"] == "success"
        assert by_name["pipeline"].outputs["words"] == ["many", "small", "words"]
        assert set(by_name["pipeline"].to_dict()["child_run_ids"]) == {by_name[n].id for n in by_name if n != "pipeline"}


def _same_run(store, run_id: str, want: dict) -> None:
    """The stored run holds every field the SDK sent, as it sent it."""
    rec = store.get_run(run_id)
    got = rec.to_dict()
    extra = dict(want.get("extra") or {})
    assert rec.metadata == extra.pop("metadata", {}), run_id
    assert (rec.extra or {}) == extra
    for key in ("name", "run_type", "dotted_order", "trace_id", "parent_run_id", "error", "session_name"):
        assert getattr(rec, key) == want.get(key), (key, getattr(rec, key), want.get(key))
    assert rec.inputs == want.get("inputs"), (rec.inputs, want.get("inputs"))
    assert rec.outputs == want.get("outputs")
    assert list(rec.tags) == (want.get("tags") or [])
    assert _us(rec.start_time) == _iso_us(want["start_time"])
    assert _us(rec.end_time) == _iso_us(want["end_time"])
    assert got["status"] == ("error" if want.get("error") else "success")
    assert rec.session_id == store.project(name=want["session_name"])["id"]
    # An event's keys beyond name, time, kwargs and a text message are kept in its kwargs.
    sent_events = [(e["name"], _iso_us(e["time"]), e.get("message") if isinstance(e.get("message"), str) else None,
                    {**(e.get("kwargs") or {}), **{k: v for k, v in e.items() if k not in ("name", "time", "kwargs")
                                                   and not (k == "message" and isinstance(v, str))}} or None)
                   for e in want.get("events") or []]
    stored_events = [(e["name"], _iso_us(e["time"]), e.get("message"), e.get("kwargs") or None) for e in got["events"]]
    assert stored_events == sent_events
    for name, (mime, data) in (want.get("_attachments") or {}).items():
        assert store.read_attachment(run_id, name) == data
        assert got["attachments"][name][0] == mime


def test_the_sdk_client_reads_the_file_back(tmp_path):
    from langsmith import Client

    db = str(tmp_path / "runs.db")
    with Served(db) as server:
        _run_program(tmp_path, server.url)
        client = Client(api_url=server.url, api_key="any-key")
        runs = list(client.list_runs(project_name="sdk-project"))
        assert sorted(r.name for r in runs) == sorted(["pipeline", "chat", "stream", "lookup", "fails", "with-file"])
        root = next(r for r in runs if r.name == "pipeline")
        assert root.status == "success" and root.tags == ["prod", "v2"] and root.metadata["user"] == "ada"
        errored = list(client.list_runs(project_name="sdk-project", error=True))
        assert [r.name for r in errored] == ["fails"]
        llm = list(client.list_runs(project_name="sdk-project", filter='and(eq(run_type, "llm"), gt(total_tokens, 10))'))
        assert [r.name for r in llm] == ["chat"]
        assert [r.name for r in client.list_runs(project_name="sdk-project", is_root=True)] == ["pipeline"]
        tool = list(client.list_runs(project_name="sdk-project", trace_filter='has(tags, "prod")', run_type="tool"))
        assert [r.name for r in tool] == ["lookup"]
        one = client.read_run(root.id)
        assert one.id == root.id and one.outputs == root.outputs and one.start_time == root.start_time
        assert one.trace_id == root.id and one.dotted_order == root.dotted_order
        project = client.read_project(project_name="sdk-project")
        assert project.name == "sdk-project" and str(project.id) == str(root.session_id)
        assert "sdk-project" in [p.name for p in client.list_projects()]
        assert client.read_project(project_id=project.id).name == "sdk-project"
        # read_project asks without stats (they walk the project's runs); with them, they are there
        assert project.run_count is None and project.start_time is not None
        counted = client.read_project(project_name="sdk-project", include_stats=True)
        assert counted.run_count == len(list(client.list_runs(project_name="sdk-project")))
        assert client.read_project(project_id=project.id, include_stats=True).run_count == counted.run_count
        made = client.create_feedback(root.id, key="correctness", score=1.0, comment="right")
        client.create_feedback(root.id, key="correctness", score=0.0)
        listed = list(client.list_feedback(run_ids=[root.id]))
        assert sorted(f.score for f in listed) == [0.0, 1.0] and str(made.id) in {str(f.id) for f in listed}
        stats = client.read_run(root.id).feedback_stats
        assert stats["correctness"]["n"] == 2 and stats["correctness"]["avg"] == 0.5
        with_file = client.read_run(next(r.id for r in runs if r.name == "with-file"))
        assert with_file.attachments["doc"]["mime_type"] == "image/png"
        assert with_file.attachments["doc"]["reader"].read() == bytes(range(256)) * 4
        many = list(client.list_runs(id=[str(r.id) for r in runs[:3]]))
        assert sorted(str(r.id) for r in many) == sorted(str(r.id) for r in runs[:3])
        with pytest.raises(Exception, match="404|not found|Not Found"):
            client.read_run(uuid.uuid4())
        with pytest.raises(Exception, match="not found|404"):
            client.read_project(project_name="no-such-project")


def test_list_runs_pages_with_the_cursor(tmp_path):
    from langsmith import Client

    db = str(tmp_path / "runs.db")
    with Served(db) as server:
        client = Client(api_url=server.url, api_key="k", auto_batch_tracing=False)
        for i in range(230):
            client.create_run(f"run-{i}", inputs={"i": i}, run_type="chain", project_name="paged",
                              id=uuid.uuid4(), start_time=dt.datetime.now(dt.timezone.utc))
        client.flush()
        names = [r.name for r in client.list_runs(project_name="paged")]
        assert len(names) == 230 and len(set(names)) == 230
        assert len(list(client.list_runs(project_name="paged", limit=150))) == 150
        # The cursor says where a page ended, not how many runs came before: runs written while a
        # program reads page by page do not push a run of one page onto the next (nor cost a walk
        # past every earlier run: the SDK's read of 160,000 runs took 121 s).
        listing = client.list_runs(project_name="paged")
        first = [next(listing).name for _ in range(100)]
        for i in range(5):
            client.create_run(f"later-{i}", inputs={}, run_type="chain", project_name="paged", id=uuid.uuid4(),
                              start_time=dt.datetime.now(dt.timezone.utc))
        client.flush()
        rest = [r.name for r in listing]
        assert first + rest == names
        # The SDK's documented select: the fields its Run requires come whatever is selected.
        selected = list(client.list_runs(project_name="paged", select=["inputs", "outputs"], limit=3))
        assert [r.inputs for r in selected] == [{}, {}, {}] and all(r.trace_id and r.start_time for r in selected)
        assert selected[0].name == "later-4"


def _count(db: str) -> int:
    with runlite.open(db, read_only=True) as store:
        return len(store.runs())


def _run(run_id: str, **fields) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    return {"id": run_id, "name": "r", "run_type": "chain", "start_time": now.isoformat(),
            "dotted_order": f"{stamp}{run_id}", "trace_id": run_id, "inputs": {"x": 1}, **fields}


def test_bad_requests_get_a_4xx_with_a_message_and_change_nothing(tmp_path):
    db = str(tmp_path / "runs.db")
    good, other = str(uuid.uuid4()), str(uuid.uuid4())
    json_headers = {"Content-Type": "application/json"}
    with Served(db, "--max-body", "100000") as server:
        assert request(server.url, "POST", "/runs", json.dumps(_run(good)).encode(), json_headers)[0] == 202
        cases = [
            ("POST", "/runs", b"{not json", json_headers, 422, "not JSON"),
            ("POST", "/runs", b"[" * 100_001, json_headers, 413, "bytes"),
            ("POST", "/runs", b"[" * 50_000, json_headers, 422, "nested"),
            ("POST", "/runs", json.dumps({"id": "not-a-uuid", "name": "x"}).encode(), json_headers, 422, "UUID"),
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "start_time": "yesterday"}).encode(),
             json_headers, 422, "ISO-8601"),
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "tags": "one"}).encode(), json_headers, 422, "tags"),
            ("POST", "/runs/batch", json.dumps({"post": [_run(str(uuid.uuid4())), {"id": 5}]}).encode(),
             json_headers, 422, "UUID"),
            ("POST", "/runs/batch", json.dumps({"posts": []}).encode(), json_headers, 422, "batch"),
            # A token count SQLite's INTEGER cannot hold is refused, not left to fail the write.
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "run_type": "llm", "extra": {
                "metadata": {"usage_metadata": {"input_tokens": 2 ** 63}}}}).encode(), json_headers, 422, "64-bit"),
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "prompt_tokens": 10 ** 400}).encode(),
             json_headers, 422, "64-bit"),
            # Epoch milliseconds before 0001-01-01 (the JS SDK's form): no read could make them a time.
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "end_time": -1e14}).encode(), json_headers,
             422, "epoch milliseconds"),
            ("POST", "/runs", json.dumps({**_run(str(uuid.uuid4())), "end_time": "9999-12-31T23:59:59-14:00"}).encode(),
             json_headers, 422, "in UTC"),
            ("PATCH", f"/runs/{good}", json.dumps({"id": str(uuid.uuid4())}).encode(), json_headers, 422, "path"),
            ("POST", "/runs/multipart", b"--b\r\nContent-Disposition: form-data; name=\"post.x\"\r\n\r\n{}",
             {"Content-Type": "multipart/form-data; boundary=b"}, 422, "closing boundary"),
            ("POST", "/runs/multipart", b"garbage", {"Content-Type": "multipart/form-data; boundary=b"}, 422,
             "malformed"),
            ("POST", "/runs/multipart", b"--b\r\nContent-Disposition: form-data; name=\"post.x\"\r\n\r\n{nope\r\n--b--\r\n",
             {"Content-Type": "multipart/form-data; boundary=b"}, 422, "form part 'post.x' is not JSON"),
            ("POST", "/runs/multipart", b"x", {"Content-Type": "text/plain"}, 422, "multipart/form-data"),
            ("POST", "/runs/multipart", b"x", {"Content-Type": "multipart/form-data; boundary=" + "a" * 10_000}, 422,
             "at most 256 are accepted"),
            ("POST", "/runs", b"\x28\xb5\x2f\xfd" + b"junk", {**json_headers, "Content-Encoding": "zstd"}, 422, "zstd"),
            ("POST", "/runs", __import__("zstandard").ZstdCompressor().compress(b" " * 10_000_000),
             {**json_headers, "Content-Encoding": "zstd"}, 413, "decompresses"),
            ("POST", "/runs", b"{}", {**json_headers, "Content-Encoding": "br"}, 422, "Content-Encoding"),
            ("POST", "/runs/query", json.dumps({"filter": "and(eq(name"}).encode(), json_headers, 422, ""),
            ("POST", "/runs/query", json.dumps({"nonsense": 1}).encode(), json_headers, 422, "unknown"),
            ("POST", "/runs/query", json.dumps({"cursor": "x'; DROP TABLE runs"}).encode(), json_headers, 422, "cursor"),
            # str.isdigit() takes a superscript two, which int() refuses
            ("POST", "/runs/query", json.dumps({"cursor": "\u00b2"}).encode(), json_headers, 422, "cursor"),
            ("GET", f"/runs/{uuid.uuid4()}", None, {}, 404, "no run"),
            ("GET", "/sessions/" + str(uuid.uuid4()), None, {}, 404, ""),
            ("DELETE", "/runs/" + good, None, {}, 405, "not allowed"),
            ("POST", "/feedback", json.dumps({"run_id": str(uuid.uuid4()), "key": "k", "score": 1}).encode(),
             json_headers, 404, ""),
            ("POST", "/feedback", json.dumps({"run_id": good, "key": "k", "score": "high"}).encode(),
             json_headers, 422, "score"),
            # A form is checked whole, its feedback too, before any of its runs is kept.
            ("POST", "/runs/multipart", *_form([(f"post.{other}", _run(other)), (f"feedback.{uuid.uuid4()}",
                                                {"run_id": str(uuid.uuid4()), "key": "k", "score": 1})]), 404, "no run"),
            ("POST", "/runs/multipart", *_form([(f"post.{other}", _run(other)), (f"feedback.{uuid.uuid4()}",
                                                {"run_id": other, "key": "k", "score": "high"})]), 422, "score"),
            # A dotted order naming a run twice was acknowledged, then failed every later write.
            ("POST", "/runs", json.dumps({**_run(other), "dotted_order": ".".join(
                _run(run_id)["dotted_order"] for run_id in (good, str(uuid.uuid4()), good, other))}).encode(),
             json_headers, 422, "different run"),
        ]
        for method, path, data, headers, status, words in cases:
            got, answer = request(server.url, method, path, data, headers)
            assert got == status, (method, path, got, answer)
            assert isinstance(answer, dict) and words in answer["detail"], (path, answer)
        # A batch with one bad run stores none of it; the store holds just the good run.
        assert _count_via(server.url) == 1
    assert _count(db) == 1


def _form(parts: list) -> tuple[bytes, dict]:
    """A multipart form of JSON parts ``(name, value)``, and its Content-Type header."""
    data = b"".join(f'--b\r\nContent-Disposition: form-data; name="{name}"\r\nContent-Type: application/json\r\n\r\n'
                    .encode() + json.dumps(value).encode() + b"\r\n" for name, value in parts) + b"--b--\r\n"
    return data, {"Content-Type": "multipart/form-data; boundary=b"}


def _count_via(url: str) -> int:
    status, answer = request(url, "POST", "/runs/query", b"{}", {"Content-Type": "application/json"})
    assert status == 200
    return len(answer["runs"])


def test_a_run_whose_parent_never_arrives_hangs_under_a_placeholder(tmp_path):
    db = str(tmp_path / "runs.db")
    parent, child = str(uuid.uuid4()), str(uuid.uuid4())
    root = _run(parent, name="parent")
    kid = _run(child, name="child", parent_run_id=parent, trace_id=parent,
               dotted_order=root["dotted_order"] + "." + _run(child)["dotted_order"])
    headers = {"Content-Type": "application/json"}
    with Served(db) as server:
        assert request(server.url, "POST", "/runs", json.dumps(kid).encode(), headers)[0] == 202
        status, got = request(server.url, "GET", f"/runs/{parent}")
        assert status == 200 and got["name"] == "(parent not received)" and got["status"] == "pending"
        assert got["child_run_ids"] == [child]
        # The parent's own create arrives late: it fills the placeholder in.
        done = {**root, "end_time": dt.datetime.now(dt.timezone.utc).isoformat(), "outputs": {"y": 2}}
        assert request(server.url, "POST", "/runs", json.dumps(done).encode(), headers)[0] == 202
        status, got = request(server.url, "GET", f"/runs/{parent}")
        assert got["name"] == "parent" and got["status"] == "success" and got["outputs"] == {"y": 2}
        # An update before its create: the run is complete once both arrived, in either order.
        late = str(uuid.uuid4())
        assert request(server.url, "PATCH", f"/runs/{late}", json.dumps(
            {"end_time": dt.datetime.now(dt.timezone.utc).isoformat(), "outputs": {"o": 1}}).encode(), headers)[0] == 202
        assert request(server.url, "POST", "/runs", json.dumps(_run(late, name="late")).encode(), headers)[0] == 202
        status, got = request(server.url, "GET", f"/runs/{late}")
        assert (got["name"], got["status"], got["outputs"], got["inputs"]) == ("late", "success", {"o": 1}, {"x": 1})


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the server's sockets from /proc/self/fd (Linux)")
def test_each_connection_sends_without_waiting_for_acks(tmp_path):
    """The SDK reuses its connection: each response went out as two writes, and with Nagle's
    algorithm on, the second waited for the client's delayed ACK (~40 ms a request). The server
    (here in this process) sets TCP_NODELAY on every connection it accepts."""
    import http.client
    import socket
    import threading

    server = serve(str(tmp_path / "runs.db"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
        for _ in range(2):  # one connection, kept alive
            conn.request("GET", "/info")
            assert conn.getresponse().read() and conn.sock is not None
        client = conn.sock.getsockname()
        accepted = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                sock = socket.socket(fileno=os.dup(int(fd)))
            except OSError:  # not a socket, or gone
                continue
            with sock:
                try:
                    if sock.type == socket.SOCK_STREAM and sock.getpeername() == client:
                        accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                except OSError:  # not connected
                    pass
        conn.close()
        assert accepted == [1]
    finally:
        server.stop()
        thread.join(30)


def test_an_api_key_is_required_when_given_and_off_loopback(tmp_path):
    db = str(tmp_path / "runs.db")
    with pytest.raises(runlite.ValidationError, match="API key"):
        serve(db, host="0.0.0.0")
    with Served(db, "--api-key", "s3cret-key-123") as server:
        status, answer = request(server.url, "GET", "/info")
        assert status == 401 and "API key" in answer["detail"]
        assert request(server.url, "GET", "/", None, {"x-api-key": "wrong-key-123"})[0] == 401
        assert request(server.url, "GET", "/info", None, {"x-api-key": "s3cret-key-123"})[0] == 200
        assert request(server.url, "GET", "/info", None, {"Authorization": "Bearer s3cret-key-123"})[0] == 200
        run_id = str(uuid.uuid4())
        body = json.dumps(_run(run_id)).encode()
        assert request(server.url, "POST", "/runs", body, {"Content-Type": "application/json"})[0] == 401
        # A browser gives the key once in the address and then carries the cookie set in answer.
        status, page = request(server.url, "GET", "/?api_key=s3cret-key-123")
        assert status == 200 and "<html" in page.lower()
        assert request(server.url, "GET", "/", None, {"Cookie": "runlite_api_key=s3cret-key-123"})[0] == 200
        assert request(server.url, "GET", "/", None, {"Cookie": "runlite_api_key=nope-nope-nope"})[0] == 401
        assert request(server.url, "GET", "/?api_key=wrong-key-1234")[0] == 401
    assert _count(db) == 0


def test_attachment_urls_are_signed_when_the_server_has_a_key(tmp_path):
    db = str(tmp_path / "runs.db")
    key = {"x-api-key": "s3cret-key-123"}
    run_id = str(uuid.uuid4())
    boundary = "b0undary"
    form = (f'--{boundary}\r\nContent-Disposition: form-data; name="post.{run_id}"\r\n'
            f'Content-Type: application/json\r\n\r\n{json.dumps(_run(run_id))}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachment.{run_id}.page"\r\n'
            f'Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n--{boundary}--\r\n').encode()
    with Served(db, "--api-key", "s3cret-key-123") as server:
        status, _ = request(server.url, "POST", "/runs/multipart", form,
                            {**key, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 202
        status, got = request(server.url, "GET", f"/runs/{run_id}", None, key)
        url = got["s3_urls"]["attachment.page"]["presigned_url"]
        assert got["s3_urls"]["attachment.page"]["mime_type"] == "text/html" and "signature=" in url
        path = url.split(server.url, 1)[1]
        status, body = request(server.url, "GET", path)  # no key: the signature is the permission
        assert status == 200 and body == "<script>alert(1)</script>"
        assert request(server.url, "GET", path[:-4] + "0000")[0] == 401
        assert request(server.url, "GET", path.replace("/page?", "/other?"))[0] == 401


def test_the_viewer_pages_are_served_on_the_same_port(tmp_path):
    db = str(tmp_path / "runs.db")
    run_id = str(uuid.uuid4())
    with Served(db) as server:
        request(server.url, "POST", "/runs", json.dumps(_run(run_id, name="shown-in-viewer")).encode(),
                {"Content-Type": "application/json"})
        status, page = request(server.url, "GET", "/")
        assert status == 200 and "shown-in-viewer" in page
        status, page = request(server.url, "GET", f"/run/{run_id}")
        assert status == 200 and run_id in page


def test_every_acknowledged_run_is_written_when_the_server_is_stopped(tmp_path):
    db = str(tmp_path / "runs.db")
    with Served(db) as server:
        ids = [str(uuid.uuid4()) for _ in range(500)]
        body = json.dumps({"post": [_run(i) for i in ids]}).encode()
        assert request(server.url, "POST", "/runs/batch", body, {"Content-Type": "application/json"})[0] == 202
        assert server.stop(signal.SIGTERM) == 0  # at once: the runs may still wait in memory
    with runlite.open(db, read_only=True) as store:
        assert {r.id for r in store.runs()} == set(ids)
