"""The viewer's trace pages without a browser (``Viewer.get``): the compact tree JSON and its
bounds, span details, token and cost totals, tracebacks, the trace list (filter, sort, pages)
and refusals. tests/test_browser_traces.py opens the same pages in Chromium."""

import json
import re
import time

import apsw
import pytest

import runlite
from runlite._ids import dotted_segment
from runlite.ui import report, trace_page, viewer

from .plans import read_plans, read_steps
from .trace_data import HOSTILE, LONG, agent_trace, big_trace, handle_trace


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("traces") / "traces.db")
    ids = {}
    with runlite.open(path) as store:
        ids["agent"] = agent_trace(store)
        for i in range(57):  # more than one page of traces
            ids[f"h{i}"] = handle_trace(store, f"handled-{i:02d}", 10 * (i + 1) if i != 7 else 5000, 0.001 * (i % 5),
                                        fail=i % 10 == 3)
        with store.init("plain", run_type="chain") as run:  # a trace of one span, no tokens anywhere
            run.end(outputs={"x": 1})
        ids["plain"] = run.id
    store = runlite.open(path, read_only=True)
    yield viewer.Viewer(store), ids, store
    store.close()


def get_json(v, target):
    response = v.get(target)
    assert response.status == 200, response.body[:500]
    assert response.content_type.startswith("application/json")
    return json.loads(response.body)


def test_tree_json_shape(view):
    v, ids, _ = view
    data = get_json(v, f"/api/trace/{ids['agent']}")
    assert data["fields"] == list(trace_page.FIELDS)
    assert data["root"] == ids["agent"] and data["count"] == data["shown"] == 5
    f = {name: i for i, name in enumerate(data["fields"])}
    spans = data["spans"]
    assert spans[0][f["parent"]] == -1 and spans[0][f["depth"]] == 0
    for i, row in enumerate(spans[1:], 1):
        assert 0 <= row[f["parent"]] < i and row[f["depth"]] == spans[row[f["parent"]]][f["depth"]] + 1
        assert row[f["start"]] >= 0 and row[f["end"]] >= row[f["start"]]
    by_name = {row[f["name"]]: row for row in spans}
    assert set(by_name) == {"agent", HOSTILE, "chat-model", "openai-raw", "lookup"}
    assert by_name["chat-model"][f["tokens"]] == 150 and by_name["chat-model"][f["type"]] == "llm"
    assert by_name["openai-raw"][f["prompt"]] == 40 and by_name["openai-raw"][f["tokens"]] == 50  # from its outputs
    assert by_name["lookup"][f["error"]] == 1 and by_name["lookup"][f["status"]] == "failed"
    assert by_name["chat-model"][f["ttft"]] is not None  # from its new_token event


def test_tokens_on_child_llm_spans_are_totalled(view):
    v, ids, store = view
    assert store.get_run(ids["agent"]).total_tokens is None  # the root has none of its own
    totals = get_json(v, f"/api/trace/{ids['agent']}")["totals"]
    assert totals["total_tokens"] == 200 and totals["prompt_tokens"] == 160 and totals["completion_tokens"] == 40
    assert totals["total_cost"] == pytest.approx(0.0018) and totals["errors"] == 1 and totals["spans"] == 5
    assert totals["latency"] > 0
    page = v.get(f"/trace/{ids['agent']}").body.decode()
    facts = dict(re.findall(r'<dd data-fact="(\w+)">(.*?)</dd>', page))
    assert facts["spans"] == "5" and facts["tokens"].startswith("200 ") and facts["cost"] == "$0.0018"
    assert ">1<" in facts["errors"]
    # a handle's llm child ended with usage_metadata in its outputs only: still counted
    assert get_json(v, f"/api/trace/{ids['h0']}")["totals"]["total_tokens"] == 10
    assert store.trace_totals([ids["h0"]])[ids["h0"]]["total_tokens"] == 10
    plain = get_json(v, f"/api/trace/{ids['plain']}")["totals"]
    assert plain["total_tokens"] is None and plain["spans"] == 1


def test_rolled_up_tokens_are_not_counted_twice(tmp_path):
    """A LangSmith export gives a chain its children's tokens: the trace counts its llm spans."""
    with runlite.open(str(tmp_path / "t.db")) as store:
        with store.init("chain", run_type="chain") as root:
            llm = root.child("llm", run_type="llm")
            llm.end(outputs={"usage_metadata": {"input_tokens": 7, "output_tokens": 3}})
            root.end(outputs={"usage_metadata": {"input_tokens": 7, "output_tokens": 3}})
        assert store.trace_totals([root.id])[root.id]["total_tokens"] == 10
        assert trace_page.tree_data(store, root.id)["totals"]["total_tokens"] == 10


def test_outputs_are_parsed_for_usage_only_when_they_may_name_one(tmp_path):
    """An llm span without token columns has its outputs read for a usage (a key holding "usage",
    spelled out or with an escaped letter) only when their text may name one: outputs that name
    none cost fewer steps than outputs that do, not more (every path looked up and missed)."""
    path = str(tmp_path / "usage.db")
    roots = {}
    with runlite.open(path) as store:
        for kind in ("none", "usage", "escaped"):
            with store.init(kind, run_type="chain") as root:
                for k in range(200 if kind != "escaped" else 1):
                    usage = {"usage": {"prompt_tokens": 2, "completion_tokens": 1}} if kind == "usage" else {}
                    root.child(f"llm-{k}", run_type="llm").end(outputs={"text": "an answer " * 20, **usage})
            roots[kind] = root.id
        escaped = store.list_runs(trace_id=roots["escaped"], run_type="llm")[0].id
    raw = apsw.Connection(path)  # JSON text another writer may store: the key's letters escaped
    raw.execute("UPDATE runs SET outputs = ? WHERE id = ?", ('{"\\u0075sage": {"total_tokens": 7}}', escaped))
    raw.close()
    with runlite.open(path, read_only=True) as store:
        totals = store.trace_totals(list(roots.values()))
        assert [totals[roots[kind]]["total_tokens"] for kind in ("none", "usage", "escaped")] == [None, 600, 7]
        assert [r.name for r in store.trace_page(order="tokens")] == ["usage", "escaped", "none"]
        steps = {kind: read_steps(store, lambda rid=rid: store.trace_totals([rid])) for kind, rid in roots.items()}
        assert steps["none"] < steps["usage"], steps


def _token_traces(store, count: int) -> None:
    """``count`` traces, each a chain and an llm span whose tokens are in its outputs (every
    seventh has none)."""
    for i in range(count):
        with store.init(f"t{i:04d}", run_type="chain") as root:
            usage = {} if i % 7 == 0 else {"usage": {"total_tokens": (i * 37) % 101}}
            root.child("llm", run_type="llm").end(outputs={"text": "a", **usage})


def test_a_file_unchanged_pages_traces_sorted_by_tokens_from_one_sort(tmp_path):
    """Sorted by tokens every trace's spans are summed, whatever the page: the order is kept
    while the file is unchanged, so the next page does not grow with the traces (4x the traces:
    the same steps); a change to the file sorts again."""
    steps = []
    for count in (60, 240):
        path = str(tmp_path / f"tokens-{count}.db")
        with runlite.open(path) as store:
            _token_traces(store, count)
        with runlite.open(path, read_only=True) as store:
            totals = store.trace_totals([r.id for r in store.trace_page(limit=count)])
            for descending in (True, False):
                have = sorted((r for r in totals if totals[r]["total_tokens"] is not None),
                              key=lambda r: (totals[r]["total_tokens"], r), reverse=descending)
                missing = sorted((r for r in totals if totals[r]["total_tokens"] is None), reverse=descending)
                pages = [r.id for at in range(0, count, 25)
                         for r in store.trace_page(order="tokens", descending=descending, limit=25, offset=at)]
                assert pages == have + missing
            store.trace_page(order="tokens", limit=10)
            steps.append(read_steps(store, lambda: store.trace_page(order="tokens", limit=10, offset=10)))
            with runlite.open(path) as writer:  # the file changes: its order is sorted again
                with writer.init("most", run_type="chain") as root:
                    root.child("llm", run_type="llm").end(outputs={"usage": {"total_tokens": 10_000}})
            assert store.trace_page(order="tokens", limit=1)[0].name == "most"
            assert store.trace_page(order="tokens", filter='eq(name, "t0001")')[0].name == "t0001"
    assert steps[1] <= steps[0] + 1, steps


def test_span_detail_fields(view):
    v, ids, store = view
    rows = get_json(v, f"/api/trace/{ids['agent']}")["spans"]
    id_of = {row[3]: row[0] for row in rows}
    chat = get_json(v, f"/api/span/{id_of['chat-model']}")
    assert chat["messages"]["input"] == [{"role": "system", "content": "Answer briefly."},
                                         {"role": "user", "content": "What is the capital of France?"}]
    assert chat["messages"]["output"] == [{"role": "assistant", "content": "Paris is the capital of France."}]
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["total_tokens"]) == (120, 30, 150)
    assert chat["total_cost"] == pytest.approx(0.0018) and chat["prompt_cost"] == pytest.approx(0.0012)
    assert chat["events"][0]["name"] == "new_token" and chat["events_total"] == 1
    assert 0 <= chat["time_to_first_token"] <= chat["latency"]
    assert chat["metadata"]["usage_metadata"]["total_tokens"] == 150
    root = get_json(v, f"/api/span/{ids['agent']}")
    assert [f["key"] for f in root["feedback"]] == ["correct", "correct", "helpful"]
    assert root["inputs"] == {"question": "What is the capital of France?"} and root["error"] is None
    retriever = get_json(v, f"/api/span/{id_of[HOSTILE]}")
    assert retriever["name"] == HOSTILE
    document = retriever["outputs"]["documents"][0]
    assert len(document) < len(LONG) and document.endswith("[cut: 10,000 characters]")
    (image,) = retriever["attachments"]
    assert image["name"] == "map.png" and image["data_uri"].startswith("data:image/png;base64,iVBOR")


def test_traceback_lines(view):
    v, ids, _ = view
    rows = get_json(v, f"/api/trace/{ids['agent']}")["spans"]
    lookup = get_json(v, f"/api/span/{[r[0] for r in rows if r[3] == 'lookup'][0]}")
    lines = lookup["error_lines"]
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: no data for Paris <b>bold</b>"
    assert len(lines) >= 5 and "\n".join(lines) == lookup["error"].rstrip("\n")
    assert lookup["status"] == "failed"


def test_bounded_values():
    assert trace_page.bounded("a" * 5000, 100) == "a" * 100 + "\u2026 [cut: 5,000 characters]"
    many = trace_page.bounded(list(range(500)))
    assert len(many) == trace_page.ITEMS_MAX + 1 and many[-1] == "\u2026 300 more items"
    keys = trace_page.bounded({f"k{i}": i for i in range(300)})
    assert len(keys) == trace_page.ITEMS_MAX + 1 and keys["\u2026"] == "100 more keys"
    deep = {}
    node = deep
    for _ in range(50):
        node["x"] = {}
        node = node["x"]
    text = json.dumps(trace_page.bounded(deep))
    assert "nested deeper" in text and text.count("{") <= trace_page.DEPTH_MAX + 1
    assert trace_page.bounded(float("nan")) == "nan"


def test_page_escapes_hostile_text(view):
    v, ids, _ = view
    body = v.get(f"/trace/{ids['agent']}").body.decode()
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "\\u003cscript\\u003e" in body  # the name is in the tree JSON, escaped
    assert '<script src="/static/trace.js"></script>' in body


def test_trace_list_sorts_filters_and_pages(view):
    v, ids, _ = view

    def names(target):
        response = v.get(target)
        assert response.status == 200, response.body[-800:]
        return re.findall(r'<td class="name"><a href="/trace/[^"]+">([^<]*)</a>', response.body.decode())

    first = names("/traces")
    assert len(first) == trace_page.PAGE_SIZE and first[0] == "plain"  # newest first
    second = names("/traces?page=2")
    assert len(second) == 59 - trace_page.PAGE_SIZE and not set(first) & set(second)
    assert names("/traces?page=3") == []
    assert names("/traces?sort=tokens")[:2] == ["handled-07", "handled-56"]
    assert names("/traces?sort=tokens&dir=asc")[:2] == ["handled-00", "handled-01"]
    assert names('/traces?q=eq(name%2C%20%22handled-03%22)') == ["handled-03"]
    costly = names("/traces?sort=cost&q=like(name%2C%20%22handled-1%25%22)")
    assert costly[0] in {"handled-14", "handled-19"} and len(costly) == 10
    body = v.get("/traces?q=like(name%2C%20%22handled-1%25%22)").body.decode()
    assert body.count('class="err"') == 1  # handled-13's failed tool
    agent_row = re.search(r'<tr data-trace="%s">.*?</tr>' % ids["agent"], v.get("/traces?sort=tokens&page=1")
                          .body.decode() + v.get("/traces?sort=tokens&page=2").body.decode()).group(0)
    assert ">200<" in agent_row and "$0.0018" in agent_row
    assert "correct</span>0.5" in agent_row and "helpful</span>0.5" in agent_row  # averages per key
    assert 'href="/traces?q=like%28name%2C+%22handled-1%25%22%29&amp;sort=latency&amp;dir=desc&amp;page=1"' in body


def test_trace_list_reads_the_feedback_stats_alone(view):
    """The list's feedback cell needs its traces' feedback stats, not every span id of each trace
    (what a record's first loaded field reads with the rest, for its whole listing)."""
    v, ids, store = view
    listed = [v.get(f"/traces?page={page}") for page in (1, 2)]
    assert read_plans(store, lambda: v.get("/traces?page=2"), "parent_run_id FROM runs") == []
    rows = dict(re.findall(r'<tr data-trace="([^"]+)">(.*?)</tr>', "".join(r.body.decode() for r in listed)))
    assert len(rows) == 59 and "correct</span>0.5" in rows[ids["agent"]] and "helpful</span>0.5" in rows[ids["agent"]]
    for name, cells in rows.items():
        stats = store.get_run(name).feedback_stats
        assert cells.endswith(f"<td>{trace_page._feedback_cell(stats)}</td>") and bool(stats) == (name == ids["agent"])
    agent, = [r for r in store.trace_page(limit=100) if r.id == ids["agent"]]  # its records give every field
    assert len(agent.child_run_ids) == 4 and agent.feedback_stats == store.get_run(ids["agent"]).feedback_stats


@pytest.mark.parametrize("target, status, words", [
    ("/traces?sort=size", 400, "sort must be one of"),
    ("/traces?dir=up", 400, "dir must be asc or desc"),
    ("/traces?page=0", 400, "page must be a whole number"),
    ("/traces?page=1.5", 400, "page must be a whole number"),
    ("/traces?page=x", 400, "page must be a finite number"),
    ("/traces?bogus=1", 400, "unknown parameter"),
    ("/traces?q=and(", 400, ""),
    ("/traces?q=eq(nosuchfield%2C%201)", 400, "nosuchfield"),
    ("/trace/no-such-run", 404, "no-such-run"),
    ("/api/span/no-such-run", 404, "no-such-run"),
    ("/api/trace/no-such-run", 404, "no-such-run"),
    ("/trace/", 400, "a run is given by its id or name"),
    ("/api/span/" + "x" * 300, 400, "a run is given by its id or name"),
    ("/trace/abc?x=1", 400, "unknown parameter"),
])
def test_refusals(view, target, status, words):
    v, _, _ = view
    response = v.get(target)
    assert response.status == status
    assert words in response.body.decode()
    assert "Traceback" not in response.body.decode()


def test_filter_error_keeps_the_form(view):
    v, _, _ = view
    body = v.get("/traces?q=eq(name").body.decode()
    assert 'id="filter-error"' in body and 'value="eq(name"' in body


def test_selected_span_and_run_page_link(view):
    v, ids, _ = view
    rows = get_json(v, f"/api/trace/{ids['agent']}")["spans"]
    chat_id = [r[0] for r in rows if r[3] == "chat-model"][0]
    body = v.get(f"/trace/{chat_id}").body.decode()  # a span's address shows its whole trace
    assert f'data-root="{ids["agent"]}"' in body and f'data-select="{chat_id}"' in body
    run_page = v.get(f"/run/{ids['agent']}").body.decode()
    assert f'href="/trace/{ids["agent"]}"' in run_page and 'class="waterfall' in run_page


def test_file_report_carries_the_tree_and_details(view):
    _, ids, store = view
    html = report.report_html(store, [ids["agent"]])
    assert 'class="trace-view"' in html and 'class="trace-span-data"' in html
    assert "<script>alert" not in html
    details = json.loads(re.search(r'<script type="application/json" class="trace-span-data">(.*?)</script>',
                                   html).group(1))
    assert len(details) == 5 and all("inputs" in d for d in details.values())
    assert "script-src 'sha256-" in html and "/static/" not in html


def test_ten_thousand_spans_tree_is_quick_and_bounded(tmp_path):
    path = str(tmp_path / "big.db")
    with runlite.open(path) as store:
        root = big_trace(store)
    with runlite.open(path, read_only=True) as store:
        v = viewer.Viewer(store)
        v.get(f"/trace/{root}")  # warm
        started = time.perf_counter()
        page = v.get(f"/trace/{root}")
        elapsed = time.perf_counter() - started
        assert page.status == 200 and elapsed < 3, f"{elapsed:.2f} s"
        data = get_json(v, f"/api/trace/{root}")
        assert data["count"] == data["shown"] == 10_060
        assert data["totals"]["total_tokens"] == 3 * 9_900
        deepest = [row for row in data["spans"] if row[3] == "deepest"][0]
        assert deepest[2] == 60
        # a tree read is bounded: past its limit the first spans come, totals still over all
        small = trace_page.tree_data(store, root, limit=1000)
        assert small["shown"] == 1000 and small["count"] == 10_060
        assert small["totals"]["total_tokens"] == 3 * 9_900 and small["totals"]["spans"] == 10_060
        assert len(page.body) < 3_000_000


def test_langchain_shaped_llm_run_tokens_and_conversation(tmp_path):
    """A LangChain chat-model run as LangSmith stores it: serialized messages in, generations and
    llm_output.token_usage out, no token fields; its tokens count and it reads as a chat."""
    t0 = 1_700_000_000_000.0
    root_id, llm_id = "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"
    seg = lambda ms, rid: dotted_segment(int(ms * 1000), rid)  # noqa: E731
    llm = {"id": llm_id, "name": "ChatOpenAI", "run_type": "llm", "status": "completed",
           "start_time": t0 + 10, "end_time": t0 + 900, "trace_id": root_id, "parent_run_id": root_id,
           "dotted_order": f"{seg(t0, root_id)}.{seg(t0 + 10, llm_id)}", "child_runs": [],
           "inputs": {"messages": [[
               {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "SystemMessage"],
                "kwargs": {"content": "be terse", "type": "system"}},
               {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"],
                "kwargs": {"content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": "x"}],
                           "type": "human"}}]]},
           "outputs": {"generations": [[{"text": "hello", "message": {
               "lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessage"],
               "kwargs": {"content": "hello", "type": "ai", "tool_calls": [{"name": "search", "args": {"q": 1}}]}}}]],
               "llm_output": {"token_usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}}}
    root = {"id": root_id, "name": "RunnableSequence", "run_type": "chain", "status": "completed",
            "start_time": t0, "end_time": t0 + 1000, "trace_id": root_id, "parent_run_id": None,
            "dotted_order": seg(t0, root_id), "child_runs": [llm], "inputs": {"q": "hi"}, "outputs": {"a": "hello"}}
    with runlite.open(str(tmp_path / "lc.db")) as store:
        store.import_runs([root])
        v = viewer.Viewer(store)
        totals = get_json(v, f"/api/trace/{root_id}")["totals"]
        assert (totals["prompt_tokens"], totals["completion_tokens"], totals["total_tokens"]) == (11, 2, 13)
        detail = get_json(v, f"/api/span/{llm_id}")
        assert detail["messages"]["input"] == [{"role": "system", "content": "be terse"},
                                               {"role": "user", "content": "hi\n[image_url]"}]
        (answer,) = detail["messages"]["output"]
        assert answer["role"] == "assistant" and answer["content"] == "hello"
        assert answer["tool_calls"] == [{"name": "search", "args": {"q": 1}}]
        assert detail["total_tokens"] == 13
        page = v.get("/traces?sort=tokens").body.decode()
        assert ">13<" in page


def test_a_running_trace(tmp_path):
    with runlite.open(str(tmp_path / "live.db")) as store:
        root = store.init("live", run_type="chain")
        child = root.child("done", run_type="tool")
        child.end(outputs={"ok": True})
        v = viewer.Viewer(store)
        data = get_json(v, f"/api/trace/{root.id}")
        assert [row[5] for row in data["spans"]] == ["running", "completed"]
        assert data["spans"][0][7] is None and data["totals"]["latency"] is None
        assert v.get(f"/trace/{root.id}").status == 200
        assert ">running<" in v.get("/traces").body.decode()
        root.end(outputs={})
