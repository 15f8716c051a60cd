"""End to end in headless Chromium: the report file and the viewer as a person sees them.

Skipped, with the reason, when Playwright or Chromium is missing (``tests/browsing.py``). Every
request that does not go to this machine is blocked and recorded: the pages must make none.
Screenshots land in the test's tmp dir (and in $RUNLITE_SCREENSHOT_DIR when set).
"""

import urllib.parse

import pytest

import runlite
from runlite.ui import report

from .browsing import Watched, drawn, png, serving  # skips this module without a browser


def llm_trace() -> dict:
    """A trace (chain -> retriever, llm with tokens, a failing tool) as a to_dict() tree."""
    with runlite.open(":memory:") as scratch:
        with scratch.init("answer-question", run_type="chain", inputs={"q": "what is runlite?"}) as root:
            docs = root.child("retrieve", run_type="retriever", inputs={"query": "runlite"})
            docs.end(outputs={"documents": ["one SQLite file"]})
            llm = root.child("chat-model", run_type="llm", inputs={"prompt": "answer"})
            llm.end(outputs={"answer": "a library"})
            tool = root.child("lookup", run_type="tool", inputs={"x": 1})
            tool.end(error="lookup failed: timeout")
            root.end(outputs={"answer": "a library"})
        tree = scratch.read_run(root.id, load_child_runs=True).to_dict()
    for child in tree["child_runs"]:
        if child["name"] == "chat-model":
            child.update(prompt_tokens=120, completion_tokens=30, total_tokens=150)
    return tree


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A store with two sweep runs (metrics, events, an alert, an image), a trace; name -> id."""
    path = str(tmp_path_factory.mktemp("browser") / "runs.db")
    ids = {}
    with runlite.open(path) as store:
        for name, lr, tags in (("alpha", 0.1, ["best"]), ("beta", 0.01, [])):
            with store.init(name, metadata={"lr": lr}, tags=tags, folder="/sweeps") as run:
                run.create_metric_threshold_alert("loss-high", "loss", 0.5, "is above", window=1)
                for step in range(2000):
                    run.log_metrics({"loss": lr * 10 / (step + 1) + 0.01 * (step % 7), "acc": step / 2000})
                    if step % 500 == 0:
                        run.log_event(f"epoch {step // 500} started", level="warning" if step else "info")
                run.attach("curve.png", png(), "image/png")
            ids[name] = run.id
        ids["trace"] = store.import_runs([llm_trace()])[0]
    return path, ids


@pytest.fixture
def server(data):
    with serving(data[0]) as srv:
        yield srv


def test_report_file_opens_offline_with_charts(data, watched, tmp_path):
    path, ids = data
    with runlite.open(path, read_only=True) as store:
        document = report.report_html(store, [ids["alpha"], ids["beta"], ids["trace"]])
    target = tmp_path / "report.html"
    target.write_text(document, encoding="utf-8")
    page = watched.page
    page.goto(target.as_uri())
    page.wait_for_load_state("load")

    # one uPlot chart per metric from the data in the file, both runs overlaid (legend entries)
    assert page.locator("figure.metric[data-loaded='1'] canvas").count() == 2
    assert page.locator('figure[data-metric="loss"] .legend-item').all_inner_texts() == ["alpha", "beta"]
    assert drawn(watched.boxes("section.card.trace svg rect"))  # the waterfall's bars
    waterfall = page.locator("section.card.trace").inner_text()
    assert "chat-model" in waterfall and "lookup" in waterfall and "150" in waterfall  # spans, tokens
    widths = page.eval_on_selector_all("img.attachment", "els => els.map(e => e.naturalWidth)")
    assert widths and all(w == 24 for w in widths)  # the PNG decoded from its data: URI
    watched.shot(tmp_path, "report.png")
    assert watched.errors == []
    assert watched.local_only(), watched.requested


def row_ids(page) -> set:
    return set(page.eval_on_selector_all("#runs tbody tr", "els => els.map(e => e.dataset.runId)"))


def search(watched, text: str, grammar: str):
    page = watched.page
    page.fill("#q", text)
    page.select_option("#grammar", grammar)
    with page.expect_navigation() as nav:
        page.press("#q", "Enter")
    return nav.value


def test_viewer_search_run_page_and_zoom(data, server, watched, tmp_path):
    _, ids = data
    page = watched.page
    page.goto(server.url)
    assert row_ids(page) == {ids["alpha"], ids["beta"], ids["trace"]}
    # laid out as a table: each heading sits above its column
    heads = page.eval_on_selector_all("#runs th", "els => els.map(e => Math.round(e.getBoundingClientRect().x))")
    cells = page.eval_on_selector_all("#runs tbody tr:first-child td",
                                      "els => els.map(e => Math.round(e.getBoundingClientRect().x))")
    assert len(heads) == 8 and heads == cells
    watched.shot(tmp_path, "viewer-list.png")

    assert search(watched, "metadata.lr > 0.05", "simvue").status == 200
    assert row_ids(page) == {ids["alpha"]}
    assert page.input_value("#q") == "metadata.lr > 0.05"
    assert search(watched, 'eq(folder, "/sweeps")', "langsmith").status == 200
    assert row_ids(page) == {ids["alpha"], ids["beta"]}
    assert search(watched, 'eq(run_type, "llm")', "auto").status == 200
    assert len(row_ids(page)) == 1 and ids["trace"] not in row_ids(page)  # a span, found by search
    assert watched.errors == []

    response = search(watched, "metadata.lr >", "simvue")
    assert response.status == 400
    assert "needs a value" in page.inner_text("#filter-error")
    watched.errors.clear()  # Chromium logs the 400 document load itself as a console error

    # compare two runs: check both, submit
    search(watched, 'eq(folder, "/sweeps")', "langsmith")
    page.check(f'tr[data-run-id="{ids["alpha"]}"] input[type=checkbox]')
    page.check(f'tr[data-run-id="{ids["beta"]}"] input[type=checkbox]')
    with page.expect_navigation():
        page.click("text=Compare checked runs")
    page.locator('figure[data-metric="loss"]').scroll_into_view_if_needed()
    page.wait_for_selector('figure[data-metric="loss"][data-loaded="1"]')
    assert page.locator('figure[data-metric="loss"] .legend-item').count() == 2
    watched.shot(tmp_path, "viewer-compare.png")

    # one run's page, then zoom with the + button and by dragging across the chart
    page.goto(server.url)
    with page.expect_navigation():
        page.click("text=alpha")
    assert page.url.endswith(f"/run/{ids['alpha']}")
    chart = 'figure[data-metric="loss"]'
    page.locator(chart).scroll_into_view_if_needed()
    page.wait_for_selector(f'{chart}[data-loaded="1"]')
    box = page.locator(f"{chart} .u-over").bounding_box()
    with page.expect_response(lambda r: "/api/chart?" in r.url and "start=" in r.url) as drag:
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
        page.mouse.up()
    assert drag.value.status == 200
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(drag.value.url).query)
    z0, z1 = float(query["start"][0]), float(query["stop"][0])
    assert 0 < z0 < z1 < 2000 and 200 < z1 - z0 < 800  # the dragged fifth of 2,000 steps
    page.wait_for_function(f"""() => document.querySelector('{chart}').dataset.window !== ''""")
    xs = page.evaluate("() => window.runliteCharts.find(s => s.fig.dataset.metric === 'loss').data.runs[0].x")
    assert z0 <= xs[0] and xs[-1] <= z1 and len(xs) > 100  # re-bucketed by the server: exact zoom
    with page.expect_response(lambda r: "/api/chart?" in r.url and "start=" not in r.url):
        page.locator(f"{chart} .u-over").dblclick()
    watched.shot(tmp_path, "viewer-run.png")
    assert watched.errors == []
    assert watched.local_only(), watched.requested


def test_running_run_page_refreshes_itself(tmp_path, browser):
    path = str(tmp_path / "runs.db")
    with runlite.open(path) as writer:
        live = writer.init("live")
        live.log_metrics({"loss": 1.0})
        live.flush()
        with serving(path) as srv:
            watched = Watched(browser)
            try:
                page = watched.page
                page.goto(srv.url + "run/" + live.id)
                assert page.locator('figure.metric[data-metric="late"]').count() == 0
                for step in range(50):
                    live.log_metrics({"late": step * 0.5})
                live.flush()
                # the page fetches its fragment every few seconds and swaps it in: no reload
                page.wait_for_selector('figure.metric[data-metric="late"][data-loaded="1"]',
                                       timeout=(report.REFRESH_SECONDS * 4) * 1000)
                assert watched.errors == [] and watched.local_only()
            finally:
                watched.context.close()
                live.close()


def chart_state(page, metric: str, expr: str):
    return page.evaluate(f"() => {{ const s = window.runliteCharts.find(s => s.fig.dataset.metric === {metric!r});"
                         f" return {expr}; }}")


def test_chart_interactions(data, server, watched, tmp_path):
    """Hover values, legend toggles, log y, smoothing, x axis choice and the metric filter."""
    _, ids = data
    page = watched.page
    page.goto(server.url + f"runs?id={ids['alpha']}&id={ids['beta']}")
    chart = 'figure[data-metric="loss"]'
    page.locator(chart).scroll_into_view_if_needed()
    page.wait_for_selector(f'{chart}[data-loaded="1"]')

    # hover: every visible run's value at that x, in the legend
    box = page.locator(f"{chart} .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    values = page.locator(f"{chart} .legend-value").all_inner_texts()
    assert len(values) == 2 and all("@ step" in v for v in values), values
    step = float(values[0].split("@ step")[1].replace(",", ""))
    assert 800 < step < 1200
    # legend click hides a run (its line, raw line and band), a second click shows it again
    page.locator(f"{chart} .legend-item").nth(1).click()
    assert chart_state(page, "loss", "s.u.series.slice(5, 9).map(x => x.show)") == [False, False, False, False]
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    assert page.locator(f"{chart} .legend-value").nth(1).inner_text() == ""
    page.locator(f"{chart} .legend-item").nth(1).click()
    assert chart_state(page, "loss", "s.u.series[5].show") is True

    # log y: uPlot's y scale becomes logarithmic (distr 3)
    assert page.get_attribute(chart, "data-distr") == "1"
    page.check("#ylog")
    assert page.get_attribute(chart, "data-distr") == "3"
    assert chart_state(page, "loss", "s.u.scales.y.distr") == 3
    page.uncheck("#ylog")

    # smoothing: the drawn line changes, the raw mean is kept (faint) beside it
    raw = chart_state(page, "loss", "s.u.data[1].filter(v => v !== null)")
    page.fill("#smooth", "0.9")
    page.dispatch_event("#smooth", "input")
    smooth = chart_state(page, "loss", "s.u.data[1].filter(v => v !== null)")
    assert smooth != raw and chart_state(page, "loss", "s.u.data[2].filter(v => v !== null)") == raw
    assert chart_state(page, "loss", "s.u.series[2].show") is True
    assert max(smooth) - min(smooth) < max(raw) - min(raw)  # the EMA is smoother than the noisy mean
    watched.shot(tmp_path, "viewer-smoothing.png")

    # x axis: wall time re-fetches every chart on that axis
    with page.expect_response(lambda r: "/api/chart?" in r.url and "xaxis=timestamp" in r.url) as got:
        page.select_option("#xaxis", "timestamp")
    assert got.value.status == 200
    page.wait_for_function(f"() => document.querySelector('{chart}').dataset.xaxis === 'timestamp'")
    assert chart_state(page, "loss", "s.u.scales.x.time") is True
    over = page.locator(f"{chart} .u-over")
    over.hover(position={"x": 100, "y": 50})
    over.hover(position={"x": 300, "y": 60})
    assert " UTC" in page.locator(f"{chart} .legend-value").first.inner_text()

    # the filter box hides charts whose names do not match
    page.fill("#metric-filter", "acc")
    assert page.locator('figure[data-metric="loss"]').is_hidden()
    assert page.locator('figure[data-metric="acc"]').is_visible()
    assert watched.errors == []
    assert watched.local_only(), watched.requested
