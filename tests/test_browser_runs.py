"""The viewer's run table in headless Chromium: sorting by clicking headings, choosing columns
(remembered after a reload), paging, collapsing groups, selecting runs to compare; no request
leaves the machine. Screenshots are saved in each test's tmp_path."""

import urllib.parse

import pytest

import runlite

from .browsing import serving

N = 70  # more than a page of 50


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("browser_runs") / "runs.db")
    ids = {}
    with runlite.open(path) as store:
        for i in range(N):
            meta = {"lr": round(0.001 * ((i * 7) % 23), 4), "opt": ["adam", "sgd"][i % 2], "layers": 2 + i % 3}
            with store.init(f"run-{i:02d}", metadata=meta, folder=f"/sweep{i % 3}",
                            tags=["best"] if i % 10 == 0 else []) as run:
                for step in range(5):
                    run.log_metrics({"loss": (i + 1) / (step + 1), "acc": step / 5})
            ids[run.name] = run.id
    return path, ids


@pytest.fixture(scope="module")
def server(data):
    with serving(data[0]) as srv:
        yield srv


def names(page) -> list[str]:
    return page.eval_on_selector_all("#runs tbody tr[data-run-id] td:nth-child(2) a", "els => els.map(e => e.textContent)")


def query(page) -> dict:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)


def test_sort_by_clicking_headings(data, server, watched, tmp_path):
    page = watched.page
    page.goto(server.url)
    newest = names(page)
    assert len(newest) == 50 and newest[0] == f"run-{N - 1:02d}"  # newest first by default
    with page.expect_navigation():
        page.click('#runs th[data-col="name"] a')
    assert query(page)["sort"] == ["name"]
    assert names(page) == [f"run-{i:02d}" for i in range(50)]
    assert page.get_attribute('#runs th[data-col="name"]', "aria-sort") == "ascending"
    with page.expect_navigation():
        page.click('#runs th[data-col="name"] a')
    assert query(page)["sort"] == ["-name"]
    assert names(page) == [f"run-{i:02d}" for i in range(N - 1, N - 51, -1)]
    assert watched.errors == [] and watched.local_only(), watched.requested


def test_chosen_columns_are_remembered_and_sortable(data, server, watched, tmp_path):
    page = watched.page
    page.goto(server.url)
    page.click("#columns summary")
    page.check('#column-form input[value="metadata.lr"]')
    page.check('#column-form input[value="metric.loss.min"]')
    watched.shot(tmp_path, "viewer-runs-columns.png")
    with page.expect_navigation():
        page.click('#column-form button[type="submit"]')
    assert query(page)["col"] == ["metadata.lr", "metric.loss.min"]
    heads = page.eval_on_selector_all("#runs th[data-col]", "els => els.map(e => e.dataset.col)")
    assert heads[-2:] == ["metadata.lr", "metric.loss.min"]
    # sort by the metric column: the smallest loss minimum first (run i's minimum is (i+1)/5)
    with page.expect_navigation():
        page.click('#runs th[data-col="metric.loss.min"] a')
    assert names(page)[:3] == ["run-00", "run-01", "run-02"]
    cells = page.eval_on_selector_all("#runs tbody tr[data-run-id]:first-child td:nth-last-child(-n+2)",
                                      "els => els.map(e => e.textContent)")
    assert cells == ["0", "0.2"]  # lr of run-00, its loss minimum 1/5
    # a plain address re-applies the remembered columns
    page.goto(server.url)
    page.wait_for_url(lambda url: "col=" in url)
    assert query(page)["col"] == ["metadata.lr", "metric.loss.min"]
    assert page.locator('#runs th[data-col="metadata.lr"]').count() == 1
    watched.shot(tmp_path, "viewer-runs.png")
    # reset forgets them
    page.click("#columns summary")
    with page.expect_navigation():
        page.click("#columns-reset")
    page.goto(server.url)
    assert "col" not in query(page) and page.locator('#runs th[data-col="metadata.lr"]').count() == 0
    assert watched.errors == [] and watched.local_only(), watched.requested


def test_paging(data, server, watched, tmp_path):
    page = watched.page
    page.goto(server.url + "?sort=name")
    assert page.inner_text("#count").startswith(f"runs 1\u201350 of {N}")
    first = names(page)
    with page.expect_navigation():
        page.click("#page-next")
    assert page.inner_text("#count").startswith(f"runs 51\u2013{N} of {N}")
    second = names(page)
    assert len(second) == N - 50 and not set(first) & set(second)
    assert page.locator("#page-next").count() == 0
    with page.expect_navigation():
        page.click("#page-prev")
    assert names(page) == first
    with page.expect_navigation():
        page.click("a.per >> text=100")
    assert len(names(page)) == N and query(page)["per"] == ["100"]
    assert watched.errors == [] and watched.local_only(), watched.requested


def test_groups_collapse(data, server, watched, tmp_path):
    page = watched.page
    page.goto(server.url)
    page.select_option("#group", "folder")
    with page.expect_navigation():
        page.click("form.grouping button")
    assert query(page)["group"] == ["folder"]
    groups = page.eval_on_selector_all("tr.group-row .group-value", "els => els.map(e => e.textContent)")
    counts = page.eval_on_selector_all("tr.group-row .group-count", "els => els.map(e => e.textContent)")
    # page 1 holds 50 of the 70: all of /sweep0 and /sweep1, 3 of /sweep2 (counts are the whole group's)
    assert groups == ["/sweep0", "/sweep1", "/sweep2"] and counts == ["24 runs", "23 runs", "23 runs"]
    assert page.locator('tr[data-run-id][data-group="2"]').count() == 3
    visible = 'tr[data-run-id][data-group="0"]:visible'
    assert page.locator(visible).count() == 24
    page.click('button.group-toggle[data-group="0"]')
    assert page.locator(visible).count() == 0
    assert page.locator('tr[data-run-id][data-group="1"]:visible').count() == 23
    assert page.get_attribute('button.group-toggle[data-group="0"]', "aria-expanded") == "false"
    watched.shot(tmp_path, "viewer-runs-grouped.png")
    page.click('button.group-toggle[data-group="0"]')
    assert page.locator(visible).count() == 24
    assert watched.errors == [] and watched.local_only(), watched.requested


def test_select_two_runs_and_compare(data, server, watched, tmp_path):
    _, ids = data
    page = watched.page
    page.goto(server.url + "?sort=name")
    assert page.is_disabled("#compare")  # nothing checked yet
    page.check("#select-all")
    assert page.locator('#runs tbody input[name="id"]:checked').count() == 50
    assert page.is_disabled("#compare") and "at most 20" in page.inner_text("#selected")
    page.uncheck("#select-all")
    page.check(f'tr[data-run-id="{ids["run-03"]}"] input[name="id"]')
    page.check(f'tr[data-run-id="{ids["run-07"]}"] input[name="id"]')
    assert page.is_enabled("#compare") and "2 checked" in page.inner_text("#selected")
    watched.shot(tmp_path, "viewer-runs-selected.png")
    with page.expect_navigation():
        page.click("#compare")
    parts = urllib.parse.urlsplit(page.url)
    assert parts.path == "/runs" and urllib.parse.parse_qs(parts.query)["id"] == [ids["run-03"], ids["run-07"]]
    text = page.inner_text("main")
    assert "run-03" in text and "run-07" in text
    assert watched.errors == [] and watched.local_only(), watched.requested
