"""The media panels of a run page and the cookbook pages in headless Chromium (served viewer).

Skipped, with the reason, when Playwright or Chromium is missing (``tests/browsing.py``). Every
request leaving this machine is blocked and recorded: the pages must make none.
"""

import base64
import urllib.parse

import pytest

import runlite

from .browsing import serving  # skips this module without a browser
from .test_recipe_runs import _machine
from .test_viewer_media import NASTY, STEPS, press_book, write_media

SLIDE = """(el, index) => { el.value = String(index); el.dispatchEvent(new Event("input", {bubbles: true})); }"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("browser-media") / "runs.db")
    ids = write_media(path)
    with runlite.open(path) as store:
        book = press_book(store)
        sources = [_machine(store, name=f"line-{i}", minutes=40 + 7 * i, start=f"2024-03-0{i + 1}T08:00:00+00:00")
                   for i in range(3)]
        ids["computed"] = [r.run_id for r in store.compute_recipe_runs(book, sources=sources)]
        ids["book"] = book.id
    return path, ids


@pytest.fixture
def server(data):
    with serving(data[0]) as srv:
        yield srv


def figure(page, kind: str, name: str):
    return page.locator(f'figure.media-{kind}[data-name="{name}"]')


def settled(page, fig) -> None:
    page.wait_for_function("f => !f.hasAttribute('data-loading')", arg=fig.element_handle())


def test_image_slider_shows_each_step(server, data, watched, tmp_path):
    path, ids = data
    page = watched.page
    page.goto(f"{server.url}/run/{ids['pictures']}#media")
    fig = figure(page, "image", "samples")
    fig.scroll_into_view_if_needed()
    img = fig.locator("img.media-image")
    with runlite.open(path, read_only=True) as store:
        stored = {s: store.image_bytes(ids["pictures"], "samples", s) for s in range(STEPS)}
    def shown() -> bytes:
        return base64.b64decode(img.get_attribute("src").split(",", 1)[1])
    assert shown() == stored[STEPS - 1]
    watched.shot(tmp_path, "media-last-step.png")
    slider = fig.locator("input.step-slider")
    for index in (1, 0, 3):
        slider.evaluate(SLIDE, index)
        page.wait_for_function("([f, s]) => f.querySelector('.shown-step').textContent === String(s)",
                               arg=[fig.element_handle(), index])
        settled(page, fig)
        assert shown() == stored[index]
        assert fig.locator("output.step-value").inner_text() == str(index)
        assert fig.locator("figcaption").inner_text() == f"epoch {index} {NASTY}"  # as text, not markup
        href = fig.locator("a.open-image").get_attribute("href")
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["step"] == [str(index)]
    box = img.bounding_box()
    assert box["width"] > 0 and box["height"] > 0
    assert page.locator("img[src=x]").count() == 0  # the hostile name never became an element
    watched.shot(tmp_path, "media-step-3.png")
    assert watched.errors == [] and watched.local_only()


def test_histogram_slider_redraws_the_bars(server, data, watched, tmp_path):
    path, ids = data
    page = watched.page
    page.goto(f"{server.url}/run/{ids['pictures']}")
    fig = figure(page, "histogram", "weights")
    fig.scroll_into_view_if_needed()
    def bars() -> list:
        return fig.locator(".histogram-box rect.bar").evaluate_all(
            "rs => rs.map(r => [r.getAttribute('x'), r.getAttribute('height')])")
    last = bars()
    assert last and fig.locator("svg.distribution polygon.band").count() == 4
    fig.locator("input.step-slider").evaluate(SLIDE, 0)
    page.wait_for_function("f => f.querySelector('.histogram-box .shown-step').textContent === '0'",
                           arg=fig.element_handle())
    first = bars()
    assert first and first != last
    with runlite.open(path, read_only=True) as store:
        h = store.histograms(ids["pictures"], "weights", step=0)[0]
    assert len(first) == sum(1 for c in h.counts if c)
    cursor = fig.locator("svg.distribution line.cursor")
    assert cursor.get_attribute("visibility") == "visible"
    assert float(cursor.get_attribute("x1")) == pytest.approx(float(cursor.get_attribute("data-left")), abs=0.1)
    fig.screenshot(path=str(tmp_path / "media-histogram.png"))
    assert watched.errors == [] and watched.local_only()


def test_table_pages_and_steps(server, data, watched, tmp_path):
    path, ids = data
    page = watched.page
    page.goto(f"{server.url}/run/{ids['pictures']}")
    fig = figure(page, "table", "predictions")
    fig.scroll_into_view_if_needed()
    prev, nxt = fig.locator("button.page-prev"), fig.locator("button.page-next")
    first_cells = "f => f.querySelector('table.media-table tbody td').textContent"
    assert prev.is_disabled() and not nxt.is_disabled()
    assert fig.locator("table.media-table tbody tr").count() == 20
    nxt.click()
    page.wait_for_function(f"f => ({first_cells})(f) === '20'", arg=fig.element_handle())
    assert "rows 21\u201340 of 49" in fig.locator("p.table-rows").inner_text()
    nxt.click()
    page.wait_for_function(f"f => ({first_cells})(f) === '40'", arg=fig.element_handle())
    settled(page, fig)
    assert fig.locator("table.media-table tbody tr").count() == 9 and nxt.is_disabled()
    assert fig.locator("table.media-table tbody tr").first.locator("td").nth(1).inner_text() == f"{NASTY} 40"
    fig.locator("input.step-slider").evaluate(SLIDE, 0)  # another step starts at its first row
    page.wait_for_function("f => f.querySelector('.table-box .shown-step').textContent === '0'",
                           arg=fig.element_handle())
    assert "rows 1\u201320 of 45" in fig.locator("p.table-rows").inner_text() and prev.is_disabled()
    watched.shot(tmp_path, "media-table.png")
    assert watched.errors == [] and watched.local_only()


def test_cookbook_pages_render_groups_and_link_to_runs(server, data, watched, tmp_path):
    path, ids = data
    page = watched.page
    page.goto(f"{server.url}/cookbooks")
    link = page.locator(f'#cookbooks a[href="/cookbook/{ids["book"]}"]')
    assert link.count() == 1
    watched.shot(tmp_path, "cookbooks.png")
    link.click()
    page.wait_for_load_state()
    groups = page.locator("section.constraint-group")
    assert groups.count() == 2
    assert page.locator("tr.top-run").count() == len(ids["computed"])
    assert page.locator("table.levers tr.lever").count() == 4
    watched.shot(tmp_path, "cookbook.png")
    page.locator("section.constraint-group").first.locator("tr.top-run a").first.click()
    page.wait_for_load_state()
    assert "/run/" in page.url and page.locator("h2", has_text="Recipe runs").count() == 1
    page.locator('a[href="/cookbooks"]').click()
    page.wait_for_load_state()
    assert page.url.endswith("/cookbooks")
    assert watched.errors == [] and watched.local_only()


def test_live_page_keeps_the_chosen_step_and_loads_large_images(tmp_path, watched, monkeypatch):
    from runlite.ui import media_view, report
    monkeypatch.setattr(report, "REFRESH_SECONDS", 1)  # the server runs in this process
    monkeypatch.setattr(media_view, "PAGE_INLINE_MAX", 100)  # every image "too large" for the page
    path = str(tmp_path / "live.db")
    with runlite.open(path) as writer:
        live = writer.init("live")
        from .test_viewer_media import frame
        for step in range(3):
            live.log_image("samples", frame(step), step=step)
        live.log_metrics({"loss": 1.0})
        live.flush()
        stored = {s: writer.image_bytes(live.id, "samples", s) for s in range(3)}
        with serving(path) as srv:
            page = watched.page
            page.goto(f"{srv.url}/run/{live.id}")
            fig = figure(page, "image", "samples")
            img = fig.locator("img.media-image")
            # not put in the page: the script fetched the last step at once
            page.wait_for_function("f => !f.querySelector('img.media-image').hidden", arg=fig.element_handle())
            assert base64.b64decode(img.get_attribute("src").split(",", 1)[1]) == stored[2]
            fig.locator("input.step-slider").evaluate(SLIDE, 1)
            page.wait_for_function("f => f.querySelector('.shown-step').textContent === '1'", arg=fig.element_handle())
            page.evaluate("() => { document.querySelector('figure.media').dataset.old = '1'; }")
            page.wait_for_function("() => !document.querySelector('figure.media').dataset.old")  # <main> replaced
            fig = figure(page, "image", "samples")
            page.wait_for_function("f => f.querySelector('.shown-step').textContent === '1' && "
                                   "!f.querySelector('img.media-image').hidden && !f.hasAttribute('data-loading')",
                                   arg=fig.element_handle())
            assert fig.locator("input.step-slider").input_value() == "1"
            assert base64.b64decode(fig.locator("img.media-image").get_attribute("src").split(",", 1)[1]) == stored[1]
        live.close()
    assert watched.errors == [] and watched.local_only()
