"""Compare views in headless Chromium: the parameter table's toggle (viewer and file report), and
the ``/compare`` page's parallel coordinates, metric choice, scatter hover and click.

Skipped, with the reason, without Playwright or Chromium (``tests/browsing.py``). Requests
leaving this machine are blocked and recorded: the pages must make none.
"""

import math
import random
import urllib.parse

import pytest

import runlite
from runlite.ui import report

from .browsing import serving  # skips this module without a browser

SWEEP = 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A learning-rate x batch-size x optimizer sweep in /sweep (run 3's loss ends NaN); name -> id."""
    path = str(tmp_path_factory.mktemp("browser-compare") / "runs.db")
    rng = random.Random(7)
    ids = {}
    with runlite.open(path) as store:
        for i in range(SWEEP):
            lr = (1e-4, 1e-3, 1e-2, 1e-1)[i % 4]
            batch, opt = (32, 64, 128)[i % 3], ("adam", "sgd")[i // 12]
            metadata = {"lr": lr, "batch_size": batch, "optimizer": {"name": opt, "momentum": 0.9},
                        "dataset": "cifar10", "seed": i}
            with store.init(f"run-{i:02d}", metadata=metadata, folder="/sweep") as run:
                base = abs(math.log10(lr) + 2.5) * 0.3 + (0.25 if opt == "sgd" else 0) + batch / 1000
                for step in range(40):
                    run.log_metrics({"loss": base + 1 / (step + 1) + rng.random() * 0.02,
                                     "val/acc": 1 - base / 2 + step / 400})
                if i == 3:
                    run.log_metrics({"loss": math.nan})
            ids[f"run-{i:02d}"] = run.id
    return path, ids


@pytest.fixture
def server(data):
    with serving(data[0]) as srv:
        yield srv


def visible_rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "#params tbody tr", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.cells[0].textContent)")


def test_diff_table_shows_differing_params_and_toggles_all(data, server, watched, tmp_path):
    path, ids = data
    page = watched.page
    chosen = ["run-00", "run-05", "run-13"]
    page.goto(server.url + "runs?" + urllib.parse.urlencode([("id", ids[n]) for n in chosen]))
    page.wait_for_load_state("load")
    assert visible_rows(page) == ["lr", "batch_size", "optimizer.name", "seed"]
    assert page.locator("#params-count").inner_text() == "4 of 6 parameters differ"
    colors = page.eval_on_selector_all("#params thead .swatch", "s => s.map(e => getComputedStyle(e).backgroundColor)")
    assert colors == ["rgb(37, 99, 235)", "rgb(220, 38, 38)", "rgb(5, 150, 105)"]  # the chart lines' colours
    watched.shot(tmp_path, "compare-runs.png")
    page.click("#params-all summary")
    assert visible_rows(page) == ["lr", "batch_size", "optimizer.name", "optimizer.momentum", "dataset", "seed"]
    assert page.locator("#params-all .when-open").is_visible()
    watched.shot(tmp_path, "compare-runs-all.png")
    page.click("#params-all summary")
    assert len(visible_rows(page)) == 4
    # the metrics' rows: a run's last value and its min - max
    loss = page.locator("#metric-table tbody tr", has_text="loss").inner_text()
    assert loss.startswith("loss") and "\u2013" in loss
    assert watched.errors == [] and watched.local_only()


def test_file_report_toggle_works_offline(data, watched, tmp_path):
    path, ids = data
    with runlite.open(path, read_only=True) as store:
        document = report.report_html(store, [ids["run-00"], ids["run-01"]])
    target = tmp_path / "report.html"
    target.write_text(document, encoding="utf-8")
    page = watched.page
    page.goto(target.as_uri())
    page.wait_for_load_state("load")
    assert visible_rows(page) == ["lr", "batch_size", "seed"]
    page.click("#params-all summary")
    assert len(visible_rows(page)) == 6
    watched.shot(tmp_path, "compare-report.png")
    assert watched.errors == [] and watched.local_only()


def compare_url(server, **extra) -> str:
    query = [("q", 'folder == "/sweep"')] + list(extra.items())
    return server.url + "compare?" + urllib.parse.urlencode(query)


def strokes(page) -> list[str]:
    return page.eval_on_selector_all("svg.parallel path.run", "ps => ps.map(p => p.getAttribute('stroke'))")


def test_parallel_coordinates_draw_a_line_per_run_and_the_metric_select_redraws(server, watched, tmp_path):
    page = watched.page
    page.goto(compare_url(server))
    page.wait_for_load_state("load")
    # the default metric is the first (loss), its last value; run-03's NaN is left out and listed
    assert page.locator("#metric").input_value() == "loss"
    assert page.locator("svg.parallel path.run").count() == SWEEP - 1
    assert all(width > 800 for width, _ in watched.boxes("svg.parallel path.run"))  # across every axis
    labels = page.locator("svg.parallel g.axis > text.axis-name").all_text_contents()
    assert labels == ["lr (log)", "batch_size", "optimizer.name", "seed", "loss.last"]
    assert "run-03" in page.locator("#left-out").text_content()
    watched.shot(tmp_path, "compare-sweep.png")
    before = strokes(page)

    with page.expect_navigation():
        page.select_option("#metric", "val/acc")
    page.wait_for_load_state("load")
    assert page.locator("#metric").input_value() == "val/acc"
    assert "metric=val%2Facc" in page.url
    assert page.locator("svg.parallel path.run").count() == SWEEP  # val/acc is finite everywhere
    assert page.locator("svg.parallel g.axis > text.axis-name").last.text_content() == "val/acc.last"
    after = strokes(page)
    assert after != before and len(set(after)) > 3  # coloured by the new metric

    with page.expect_navigation():
        page.select_option("#stat", "max")
    assert page.locator("svg.parallel g.axis > text.axis-name").last.text_content() == "val/acc.max"
    assert watched.errors == [] and watched.local_only()


def test_scatter_hover_shows_the_run_and_click_opens_it(server, watched, tmp_path):
    page = watched.page
    page.goto(compare_url(server, x="seed"))  # one point per seed: none hides another
    page.wait_for_load_state("load")
    points = page.locator("svg.scatter circle.run")
    assert points.count() == SWEEP - 1
    point = points.nth(5)
    index = point.get_attribute("data-run")
    tip_text = page.locator(f'svg.parallel path.run[data-run="{index}"]').get_attribute("data-tip")
    name = tip_text.split(" ")[0]
    point.hover()
    tip = page.locator("#sweep-tip")
    assert tip.is_visible()
    shown = tip.inner_text()
    assert shown.startswith(name) and "seed = " in shown and "loss.last = " in shown and "lr = " in shown
    # the same run is highlighted in both plots
    assert page.locator(f'svg.parallel path.run.hot[data-run="{index}"]').count() == 1
    assert page.locator("svg.scatter circle.run.hot").count() == 1
    watched.shot(tmp_path, "compare-scatter-hover.png")
    page.mouse.move(5, 5)
    assert not tip.is_visible()

    with page.expect_navigation():
        page.locator(f'svg.scatter circle.run[data-run="{index}"]').click()
    page.wait_for_load_state("load")
    assert "/run/" in page.url
    assert page.locator("header.top h1").inner_text() == name
    assert watched.errors == [] and watched.local_only()


def test_ticking_an_axis_redraws_with_it(server, watched):
    page = watched.page
    page.goto(compare_url(server))
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.locator('fieldset.axes input[value="seed"]').uncheck()
    labels = page.locator("svg.parallel g.axis > text.axis-name").all_text_contents()
    assert labels == ["lr (log)", "batch_size", "optimizer.name", "loss.last"]
    assert watched.errors == [] and watched.local_only()
