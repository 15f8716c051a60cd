"""The trace pages in headless Chromium: the span tree, span details, a 10,000-span trace, the
trace list, and the file report's inline tree (no server)."""

import time

import pytest

import runlite
from runlite.ui import report

from .browsing import serving  # skips this module without a browser
from .trace_data import HOSTILE, agent_trace, big_trace, handle_trace


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("traces") / "traces.db")
    with runlite.open(path) as store:
        ids = {"agent": agent_trace(store), "big": big_trace(store)}
        for i in range(3):
            ids[f"h{i}"] = handle_trace(store, f"handled-{i}", 100 * (i + 1), 0.01 * (i + 1), fail=i == 1)
    return path, ids


@pytest.fixture(scope="module")
def server(data):
    with serving(data[0]) as srv:
        yield srv


def rows(page):
    return page.locator(".trace-rows .span-row")


def test_span_tree_details_conversation_and_traceback(server, data, watched, tmp_path):
    page = watched.page
    page.goto(f"{server.url.rstrip('/')}/trace/{data[1]['agent']}")
    page.wait_for_selector(".span-row")
    assert rows(page).count() == 5
    assert "200 tok" in rows(page).first.locator(".span-meta").inner_text()  # the subtree's tokens
    facts = page.locator(".trace-facts").inner_text()
    assert "200" in facts and "$0.0018" in facts  # tokens and cost of the child llm spans
    # the hostile name is text, not markup
    assert page.locator(".span-row .label", has_text="<script>").count() == 1
    assert page.locator(".trace-rows img").count() == 0
    # clicking a span opens its inputs
    rows(page).filter(has_text="chat-model").click()
    page.wait_for_selector(".span-detail .span-chat")
    panel = page.locator(".span-detail")
    assert "Inputs" in panel.inner_text() and "Answer briefly." in panel.locator(".span-inputs").inner_text()
    roles = page.locator(".span-chat .msg .role").all_inner_texts()
    assert [r.lower() for r in roles] == ["system", "user", "assistant"]
    assert "Paris is the capital" in page.locator(".span-chat .msg.role-assistant").inner_text()
    assert "150" in page.locator('.span-detail [data-fact="tokens"]').inner_text()
    assert page.locator('.span-detail [data-fact="first token"]').count() == 1
    watched.shot(tmp_path, "trace-chat.png")
    # an error's traceback, line by line
    rows(page).filter(has_text="lookup").click()
    page.wait_for_selector(".span-error .tb-line")
    lines = page.locator(".span-error .tb-line").all_inner_texts()
    assert lines[0].startswith("Traceback (most recent call last)") and len(lines) >= 5
    assert any("ValueError: no data for Paris <b>bold</b>" in line for line in lines)
    assert page.locator(".span-error b").count() == 0
    watched.shot(tmp_path, "trace-error.png")
    # the attachment image inline; the long document cut with its length noted
    rows(page).filter(has_text="<script>").click()
    page.wait_for_selector(".span-attachments img")
    assert page.eval_on_selector(".span-attachments img", "e => e.naturalWidth") == 24
    assert "cut: 10,000 characters" in page.locator(".span-outputs").inner_text()
    events = page.locator(".span-events").inner_text()
    assert "</script><img src=x onerror=alert(1)>" in events  # event text shown as text
    assert page.locator(".span-detail img").count() == 1 and page.locator(".span-detail script").count() == 0
    assert watched.errors == [] and watched.local_only()


def test_collapsing_a_subtree_hides_its_rows(server, data, watched, tmp_path):
    page = watched.page
    page.goto(f"{server.url.rstrip('/')}/trace/{data[1]['agent']}")
    page.wait_for_selector(".span-row")
    assert rows(page).count() == 5
    rows(page).first.locator(".toggle").click()
    assert rows(page).count() == 1
    assert rows(page).first.get_attribute("aria-expanded") == "false"
    rows(page).first.locator(".toggle").click()
    assert rows(page).count() == 5
    assert watched.errors == []


def test_ten_thousand_spans_open_fast_and_a_deep_span_opens(server, data, watched, tmp_path):
    page = watched.page
    started = time.perf_counter()
    page.goto(f"{server.url.rstrip('/')}/trace/{data[1]['big']}")
    page.wait_for_selector(".span-row")
    elapsed = time.perf_counter() - started
    assert elapsed < 8, f"a 10k-span trace page took {elapsed:.1f} s"
    assert "10,060" in page.locator(".trace-facts").inner_text()
    drawn = rows(page).count()
    assert 50 < drawn <= 400  # collapsed beyond a depth and a row budget, not 10,060 rows
    # expand the deep chain level by level down to its last span, then open it
    for _ in range(70):
        closed = page.locator('.span-row[aria-expanded="false"]').filter(has_text="level").last
        if page.locator(".span-row", has_text="deepest").count():
            break
        closed.locator(".toggle").click()
    target = page.locator(".span-row", has_text="deepest")
    assert target.count() == 1
    assert target.get_attribute("aria-level") == "61"
    target.click()
    page.wait_for_selector(".span-detail .span-inputs")
    assert '"level"' in page.locator(".span-detail .span-inputs").inner_text() or \
        "level" in page.locator(".span-detail .span-inputs").inner_text()
    # a step collapsed at first opens its 100 llm calls
    step = page.locator('.span-row[aria-expanded="false"]', has_text="step 5").first
    before = rows(page).count()
    step.locator(".toggle").click()
    assert rows(page).count() == before + 100
    page.evaluate("window.scrollTo(0, 0)")
    watched.shot(tmp_path, "trace-big.png")
    # the find box opens the subtree of a span hidden in a collapsed step
    assert page.locator(".span-row", has_text="llm 77.42").count() == 0
    page.fill(".trace-find input", "llm 77.42")
    page.wait_for_selector(".span-row.match")
    assert page.locator(".span-row.match").all_inner_texts()[0].split("\n")[1].startswith("llm 77.42")
    assert page.locator(".trace-find output").inner_text() == "1 match"
    watched.shot(tmp_path, "trace-find.png")
    assert watched.errors == [] and watched.local_only()


def test_trace_list_filters_and_sorts(server, data, watched, tmp_path):
    page = watched.page
    page.goto(f"{server.url.rstrip('/')}/traces")
    names = page.locator("#traces tbody td.name").all_inner_texts()
    assert {"agent", "big", "handled-0", "handled-1", "handled-2"} <= set(names)
    page.fill("#q", 'like(name, "handled%")')
    page.click("form.search button")
    page.wait_for_load_state("load")
    assert sorted(page.locator("#traces tbody td.name").all_inner_texts()) == ["handled-0", "handled-1", "handled-2"]
    page.click('a[data-sort="tokens"]')
    page.wait_for_load_state("load")
    assert page.locator("#traces tbody td.name").all_inner_texts() == ["handled-2", "handled-1", "handled-0"]
    assert page.locator("#traces tbody tr", has_text="handled-1").locator("td.err").count() == 1
    watched.shot(tmp_path, "trace-list.png")
    page.locator("#traces tbody a", has_text="handled-2").click()
    page.wait_for_selector(".span-row")
    assert rows(page).count() == 2
    page.goto(f"{server.url.rstrip('/')}/traces?q=and(")
    assert page.locator("#filter-error").count() == 1
    assert watched.errors == [] or all("400" in e for e in watched.errors)
    assert watched.local_only()


def test_file_report_has_the_tree_with_details(data, watched, tmp_path):
    path, ids = data
    with runlite.open(path, read_only=True) as store:
        document = report.report_html(store, [ids["agent"]])
    target = tmp_path / "trace-report.html"
    target.write_text(document, encoding="utf-8")
    page = watched.page
    page.goto(target.as_uri())
    page.wait_for_selector(".span-row")
    rows(page).filter(has_text="lookup").click()
    assert page.locator(".span-error .tb-line").count() >= 5
    rows(page).filter(has_text="chat-model").click()
    assert page.locator(".span-chat .msg").count() == 3
    assert HOSTILE not in page.content().split("<main>")[1].split("trace-tree-data")[0]
    watched.shot(tmp_path, "trace-report.png")
    assert watched.errors == [] and watched.local_only()
