"""The local viewer (runlite/viewer.py): routes, search, refusals, headers, read-only serving.

Driven directly (``Viewer.get``) and through a real server on port 0; no browser here
(tests/test_browser.py opens the pages in Chromium).
"""

import contextlib
import http.client
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import runlite
from runlite import errors
from runlite.ui import report, viewer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NASTY = '<img src=x onerror="alert(1)"> & co'  # a run name that must come out escaped


def write_runs(path: str) -> dict:
    """A small store: two sweep runs, a run with an awkward name, a trace; returns name -> id."""
    ids = {}
    with runlite.open(path) as store:
        for name, lr, tags in (("alpha", 0.1, ["best"]), ("beta", 0.01, [])):
            with store.init(name, metadata={"lr": lr}, tags=tags, folder="/sweeps") as run:
                run.create_metric_threshold_alert("loss-high", "loss", 0.5, "is above", window=1)
                for step in range(300):
                    run.log_metrics({"loss": lr * 10 / (step + 1), "acc": step / 300})
                run.log_event("training started")
            ids[name] = run.id
        with store.init(NASTY, metadata={"lr": 0.5}) as run:
            run.log_metrics({"loss": 1.0})
        ids["nasty"] = run.id
        with store.init("answer", run_type="chain", inputs={"q": "why"}) as root:
            llm = root.child("chat-model", run_type="llm", inputs={"prompt": "p"})
            llm.end(outputs={"answer": "because"})
            root.end(outputs={"answer": "because"})
        ids["answer"], ids["chat-model"] = root.id, llm.id
    return ids


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("viewer") / "runs.db")
    return path, write_runs(path)


@pytest.fixture(scope="module")
def view(db):
    store = runlite.open(db[0], read_only=True)
    yield viewer.Viewer(store), db[1]
    store.close()


def listed(body: bytes) -> set:
    """The run ids in a run list page."""
    return set(re.findall(r'<tr data-run-id="([0-9a-f-]+)"', body.decode()))


@contextlib.contextmanager
def serving(path: str):
    server = viewer.serve(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def request(server, method: str, target: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        conn.request(method, target, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- pages through Viewer.get


def test_pages_answer_with_their_types(view):
    v, ids = view
    status, ctype, body = v.get("/")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert body.startswith(b"<!DOCTYPE html>") or body.lower().startswith(b"<!doctype html>")
    # top-level runs only: the trace's child span stays out of the unfiltered list
    assert listed(body) == {ids["alpha"], ids["beta"], ids["nasty"], ids["answer"]}

    status, ctype, body = v.get(f"/run/{ids['alpha']}")
    assert (status, ctype) == (200, "text/html; charset=utf-8") and b"alpha" in body
    status, _, by_name = v.get("/run/beta")  # a unique name works as well as an id
    assert status == 200 and ids["beta"].encode() in by_name

    status, _, body = v.get(f"/runs?id={ids['alpha']}&id={ids['beta']}")
    assert status == 200 and b"alpha" in body and b"beta" in body

    status, ctype, fragment = v.get(f"/fragment/run/{ids['alpha']}")
    assert (status, ctype) == (200, "text/html; charset=utf-8")
    assert b"alpha" in fragment and b"<html" not in fragment.lower()
    status, _, fragment = v.get(f"/fragment/runs?id={ids['alpha']}&id={ids['beta']}")
    assert status == 200 and b"beta" in fragment and b"<html" not in fragment.lower()

    status, ctype, svg = v.get(f"/chart?run={ids['alpha']}&run={ids['beta']}&metric=loss&start=10&stop=200"
                               "&xaxis=step&buckets=50")
    assert (status, ctype) == (200, "image/svg+xml; charset=utf-8")
    assert svg.lstrip().startswith(b"<svg") and svg.rstrip().endswith(b"</svg>")


def test_chart_zoom_matches_report_chart(view):
    v, ids = view
    _, _, svg = v.get(f"/chart?run={ids['alpha']}&metric=loss&start=5&stop=50&buckets=40")
    expected = report.chart_svg(v.store, [ids["alpha"]], "loss", start=5, stop=50, xaxis="step", buckets=40)
    assert svg.decode() == expected
    whole = report.chart_svg(v.store, [ids["alpha"]], "loss", xaxis="step", buckets=40)
    assert expected != whole  # the window really changed what was drawn


def test_unknown_pages_and_runs_are_404(view):
    v, _ = view
    for target in ("/nope", "/run", "/runs/x", "/chart/x", "/static/app.js", "/run/no-such-run",
                   "/fragment/run/0190d8a0-0000-7000-8000-000000000000", "/chart?run=no-such-run&metric=loss"):
        status, ctype, body = v.get(target)
        assert status == 404, target
        assert b"Traceback" not in body


@pytest.mark.parametrize("q, grammar, expected", [
    ("metadata.lr > 0.05", "simvue", {"alpha", "nasty"}),
    ("metadata.lr > 0.05", "auto", {"alpha", "nasty"}),
    ("has tag.best", "simvue", {"alpha"}),
    ("folder.path == /sweeps", "simvue", {"alpha", "beta"}),
    ('has(tags, "best")', "langsmith", {"alpha"}),
    ('and(eq(folder, "/sweeps"), lt(metadata_value, 0.05))', "langsmith", {"beta"}),
    ('eq(run_type, "llm")', "auto", {"chat-model"}),  # a search reaches spans too
    ('eq(name, "nobody")', "langsmith", set()),
])
def test_search_with_both_grammars(view, q, grammar, expected):
    v, ids = view
    status, _, body = v.get("/?" + viewer.urllib.parse.urlencode({"q": q, "grammar": grammar}))
    assert status == 200
    assert listed(body) == {ids[name] for name in expected}
    assert viewer.html.escape(q).encode() in body  # the search box keeps what was typed


@pytest.mark.parametrize("q, grammar", [
    ("metadata.lr >", "simvue"),
    ("metric.loss.median < 1", "simvue"),
    ("created < 2 fortnights", "auto"),
    ('eq(name, "x")', "simvue"),
    ('and(eq(name, "x"', "langsmith"),
    ('frobnicate(name, "x")', "langsmith"),
    ("eq(colour, 1)", "auto"),
])
def test_bad_filter_shows_its_message_with_400(view, q, grammar):
    v, _ = view
    status, ctype, body = v.get("/?" + viewer.urllib.parse.urlencode({"q": q, "grammar": grammar}))
    assert (status, ctype) == (400, "text/html; charset=utf-8")
    with pytest.raises(errors.FilterError) as caught:  # the message the store gives for it
        if grammar == "langsmith" or "(" in q and grammar == "auto":
            v.store.list_runs(filter=q)
        else:
            v.store.get_runs([q])
    first_line = str(caught.value).splitlines()[0]
    assert viewer.html.escape(first_line).encode() in body
    assert b'id="filter-error"' in body and b"Traceback" not in body


@pytest.mark.parametrize("target", [
    "/chart?metric=loss",                                   # no run
    "/chart?run=alpha",                                     # no metric
    "/chart?run=alpha&metric=loss&metric=acc",              # a parameter twice
    "/chart?run=alpha&metric=loss&xaxis=epoch",
    "/chart?run=alpha&metric=loss&start=abc",
    "/chart?run=alpha&metric=loss&start=nan",
    "/chart?run=alpha&metric=loss&stop=inf",
    "/chart?run=alpha&metric=loss&start=9&stop=3",
    "/chart?run=alpha&metric=loss&buckets=3",
    "/chart?run=alpha&metric=loss&buckets=2.5",
    "/chart?run=alpha&metric=loss&buckets=1e12",
    "/chart?run=alpha&metric=loss&colour=red",              # unknown parameter
    "/chart?" + "&".join(["run=alpha"] * (viewer.MAX_RUNS + 1)) + "&metric=loss",
    "/chart?run=alpha&metric=" + "m" * 300,
    "/runs",
    "/runs?id=alpha&sort=name",
    "/run/alpha?x=1",
    "/run/",
    "/run/%ff",                                             # not UTF-8
    "/run/a%00b",
    "http://[::1/run/alpha",                                # an absolute target whose host urllib cannot read
    "/?grammar=sql",
    "/?q=" + "x" * (viewer.MAX_FILTER + 1),
    "/?q=a&q=b",
])
def test_bad_parameters_are_400(view, target):
    v, _ = view
    status, ctype, body = v.get(target)
    assert status == 400, (target, body[:300])
    assert ctype == "text/html; charset=utf-8" and b"Traceback" not in body


def test_overlong_address_is_414(view):
    v, _ = view
    assert v.get("/?q=" + "x" * viewer.MAX_TARGET).status == 414


def test_user_text_is_escaped(view):
    v, ids = view
    for target in ("/", f"/run/{ids['nasty']}", "/?q=" + viewer.urllib.parse.quote(NASTY)):
        body = v.get(target).body
        assert NASTY.encode() not in body and b"<img src=x" not in body, target
    assert viewer.html.escape(NASTY).encode() in v.get("/").body


def test_unexpected_error_is_500_without_traceback(view, monkeypatch, caplog):
    v, ids = view

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(report, "runs_body", broken)
    with caplog.at_level(logging.ERROR, logger="runlite.ui.viewer"):
        status, ctype, body = v.get(f"/run/{ids['alpha']}")
    assert (status, ctype) == (500, "text/plain; charset=utf-8")
    assert b"secret" not in body and b"Traceback" not in body
    assert "secret internals" in caplog.text  # the viewer's log keeps the details


def test_running_run_page_refreshes_and_finished_one_does_not(tmp_path):
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as writer:
        live = writer.init("live")
        live.log_metrics({"loss": 1.0})
        live.flush()
        done = writer.init("done")
        done.close()
        store = runlite.open(path, read_only=True)
        try:
            v = viewer.Viewer(store)
            live_page = v.get(f"/run/{live.id}").body.decode()
            done_page = v.get(f"/run/{done.id}").body.decode()
            both = v.get(f"/runs?id={live.id}&id={done.id}").body.decode()
            assert f"/fragment/run/{live.id}" in live_page
            assert "/fragment/" not in done_page
            assert f"/fragment/runs?id={live.id}&amp;id={done.id}" in both or \
                f"/fragment/runs?id={live.id}&id={done.id}" in both
            live.log_metrics({"loss": 0.5, "acc": 0.9})
            live.flush()
            assert b"acc" in v.get(f"/fragment/run/{live.id}").body  # each fetch reads afresh
        finally:
            store.close()
        live.close()


# ---------------------------------------------------------------- the HTTP server


def test_server_headers_head_and_methods(db):
    path, ids = db
    with serving(path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, headers, body = request(server, "GET", "/")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Content-Security-Policy"] == viewer.CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert int(headers["Content-Length"]) == len(body) > 0
        assert "Python" not in headers.get("Server", "")

        status, head_headers, head_body = request(server, "HEAD", "/")
        assert status == 200 and head_body == b""
        assert head_headers["Content-Length"] == headers["Content-Length"]

        status, headers, svg = request(server, "GET", f"/chart?run={ids['alpha']}&metric=acc")
        assert status == 200 and headers["Content-Type"] == "image/svg+xml; charset=utf-8"
        assert headers["Content-Security-Policy"] == viewer.CSP and svg.lstrip().startswith(b"<svg")

        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"):
            status, headers, body = request(server, method, "/")
            assert status == 405, method
            assert headers["Allow"] == "GET, HEAD"
            assert headers["X-Content-Type-Options"] == "nosniff"

        status, headers, body = request(server, "GET", "/nope")
        assert status == 404 and headers["Content-Security-Policy"] == viewer.CSP
        status, _, body = request(server, "GET", "/?q=metadata.lr+%3E&grammar=simvue")
        assert status == 400 and b"Traceback" not in body


def test_server_answers_only_local_host_names(db):
    with serving(db[0]) as server:
        port = server.server_address[1]
        for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST"):
            assert request(server, "GET", "/", {"Host": host})[0] == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "[::1]:80", ""):
            status, headers, body = request(server, "GET", "/", {"Host": host})
            assert status == 403, host
            assert b"alpha" not in body


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", ""])
def test_serve_refuses_other_hosts(db, host):
    with pytest.raises(errors.ValidationError, match="127.0.0.1 only"):
        viewer.serve(db[0], port=0, host=host)


def test_serve_refuses_a_missing_file(tmp_path):
    with pytest.raises(errors.NotFoundError):
        viewer.serve(str(tmp_path / "absent.db"), port=0)
    assert not (tmp_path / "absent.db").exists()


def test_serving_leaves_the_file_unchanged(tmp_path):
    path = str(tmp_path / "runs.db")
    ids = write_runs(path)
    before = (open(path, "rb").read(), os.stat(path).st_mtime_ns)
    with serving(path) as server:
        for target in ("/", f"/run/{ids['alpha']}", f"/runs?id={ids['alpha']}&id={ids['beta']}",
                       f"/chart?run={ids['alpha']}&metric=loss&start=1&stop=9", "/?q=has+tag.best",
                       f"/run/{ids['answer']}"):
            assert request(server, "GET", target)[0] == 200, target
        for method in ("POST", "PUT", "DELETE"):
            assert request(server, method, f"/run/{ids['alpha']}")[0] == 405
    assert (open(path, "rb").read(), os.stat(path).st_mtime_ns) == before


def test_requests_reuse_a_bounded_set_of_reader_connections(db):
    # Requests share a fixed pool of threads, each with its reader connection: many requests
    # (a refreshing page) never open more than WORKERS connections.
    with serving(db[0]) as server:
        for _ in range(3 * viewer.WORKERS):
            assert request(server, "GET", "/")[0] == 200
        assert 1 <= len(server.viewer.store.database._state.readers) <= viewer.WORKERS


WRITER = textwrap.dedent("""
    import sys, runlite
    path, rounds = sys.argv[1], int(sys.argv[2])
    with runlite.open(path) as store:
        run = store.init("writer-live")
        print(run.id, flush=True)
        for i in range(rounds):
            run.log_metrics({"loss": 1.0 / (i + 1)})
            if i % 50 == 0:
                run.flush()
                with store.init(f"writer-new-{i}") as extra:
                    extra.log_metrics({"loss": float(i)})
        run.close()
""")


def test_viewing_while_another_process_writes(tmp_path):
    path = str(tmp_path / "runs.db")
    write_runs(path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    rounds = 3000
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path, str(rounds)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        live_id = writer.stdout.readline().strip()
        assert live_id, "the writer did not start"
        pages = 0
        with serving(path) as server:
            while writer.poll() is None or pages < 3:
                for target in ("/", f"/fragment/run/{live_id}", f"/chart?run={live_id}&metric=loss"):
                    status, _, body = request(server, "GET", target)
                    # the live run may not have flushed "loss" yet: 404 names it; never 5xx
                    assert status in (200, 404) and b"Traceback" not in body, (target, body[:300])
                    assert status == 200 or target.startswith("/chart")
                pages += 1
            assert writer.wait(60) == 0
            status, _, body = request(server, "GET", "/?per=100")  # new runs show on the next load
            assert status == 200
            names = set(re.findall(r">(writer-new-\d+)<", body.decode()))
            assert names == {f"writer-new-{i}" for i in range(0, rounds, 50)}
            status, _, svg = request(server, "GET", f"/chart?run={live_id}&metric=loss")
            assert status == 200 and svg.lstrip().startswith(b"<svg")
        print(f"viewer answered {pages} rounds of 3 requests while the writer logged {rounds} points")
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
        writer.stdout.close()


def test_cli_ui_prints_its_url_and_stops_on_ctrl_c(db):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "runlite", "ui", db[0], "--port", "0", "--no-browser"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        conn = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=30)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200 and b"alpha" in response.read()
        conn.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_ui_refuses_a_missing_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "runlite", "ui", str(tmp_path / "absent.db"), "--no-browser"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no runlite file" in done.stderr and "Traceback" not in done.stderr
