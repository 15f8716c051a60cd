"""Media panels on run pages and the cookbook pages of the viewer (``Viewer.get``, no browser),
and the media of the file report. Media are logged with the real API (``log_image``,
``log_histogram``, ``log_table``); expected values are computed here from what was logged."""

import ast
import base64
import html
import io
import json
import math
import re
import urllib.parse

import numpy as np
import pytest

import runlite
from runlite import errors
from runlite.ui import cookbook_view, media_charts, media_view, report, viewer

from .test_recipe_runs import SEED, SPEED, _machine

NASTY = '<img src=x onerror="alert(1)">'
STEPS = 5


def frame(step: int) -> np.ndarray:
    """A distinct picture per step: a colour and a bar whose place moves with the step."""
    pixels = np.zeros((32, 48, 3), dtype=np.uint8)
    pixels[:, :] = (40 * step, 120, 200 - 30 * step)
    pixels[8:24, 4 + 8 * step:10 + 8 * step] = 255
    return pixels


def jpeg_bytes() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def write_media(path: str) -> dict:
    ids = {}
    with runlite.open(path) as store:
        with store.init("pictures", folder="/media") as run:
            for step in range(STEPS):
                run.log_image("samples", frame(step), step=step, caption=f"epoch {step} {NASTY}")
                values = np.random.default_rng(step).normal(step, 1 + step, 1000)
                if step == 2:
                    values[:3] = np.nan
                run.log_histogram("weights", values, step=step, bins=32)
                rows = [{"i": i, "label": f"{NASTY} {i}", "p": i / 7} for i in range(45 + step)]
                run.log_table("predictions", rows, step=step)
                run.log_metrics({"loss": 1 / (step + 1)})
            run.log_image("photo", jpeg_bytes(), step=0)
            run.log_image(NASTY, frame(3), step=0)
        ids["pictures"] = run.id
        with store.init("long") as run:
            for step in range(1500):
                run.log_histogram("h", ([0.0, 1.0, 2.0, 3.0], [step % 5, 1, 2]), step=step)
        ids["long"] = run.id
        with store.init("plain") as run:
            run.log_metrics({"loss": 1.0})
        ids["plain"] = run.id
    return ids


@pytest.fixture(scope="module")
def media_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("media") / "runs.db")
    return path, write_media(path)


@pytest.fixture(scope="module")
def view(media_db):
    store = runlite.open(media_db[0], read_only=True)
    yield viewer.Viewer(store), store, media_db[1]
    store.close()


def q(**params) -> str:
    return urllib.parse.urlencode(params)


def figures(body: str, kind: str) -> list[str]:
    return re.findall(rf'<figure class="media media-{kind}".*?</figure>', body, re.S)


def steps_of(fig: str) -> list:
    return json.loads(re.search(r'<script type="application/json" class="media-steps">(.*?)</script>', fig).group(1))


# ---------------------------------------------------------------- the run page


def test_run_page_lists_media_names_and_loads_the_media_script(view):
    v, store, ids = view
    r = v.get("/run/" + ids["pictures"])
    body = r.body.decode()
    assert r.status == 200 and '<h2 id="media">Media</h2>' in body
    names = {m.name for m in store.media_names(ids["pictures"], "image")}
    assert names == {"samples", "photo", NASTY}
    assert len(figures(body, "image")) == 3 and len(figures(body, "histogram")) == 1 and len(figures(body, "table")) == 1
    assert f'data-name="{html.escape(NASTY)}"' in body and NASTY not in body  # the name as text only
    assert '<script src="/static/media.js"></script>' in body
    plain = v.get("/run/" + ids["plain"]).body.decode()
    assert "media.js" not in plain and 'id="media"' not in plain


def test_step_slider_data_is_the_logged_steps_bounded(view):
    v, store, ids = view
    body = v.get("/run/" + ids["pictures"]).body.decode()
    fig = next(f for f in figures(body, "image") if 'data-name="samples"' in f)
    assert steps_of(fig) == store.media_steps(ids["pictures"], "image", "samples") == list(range(STEPS))
    assert f'max="{STEPS - 1}" value="{STEPS - 1}"' in fig
    # the last step is shown at first, as a data: URI of its stored bytes
    last = base64.b64encode(store.image_bytes(ids["pictures"], "samples", STEPS - 1)).decode()
    assert f'src="data:image/png;base64,{last}"' in fig
    assert html.escape(f"epoch {STEPS - 1} {NASTY}") in fig
    # 1,500 steps: the slider gets at most STOPS of them, evenly spread, first and last kept
    long_fig = figures(v.get("/run/" + ids["long"]).body.decode(), "histogram")[0]
    stops = steps_of(long_fig)
    assert len(stops) == media_view.STOPS and stops[0] == 0 and stops[-1] == 1499
    assert stops == sorted(set(stops))
    gaps = {b - a for a, b in zip(stops, stops[1:])}
    assert gaps <= {1, 2}


def test_image_endpoints_serve_checked_types(view):
    v, store, ids = view
    for step in (0, 3):
        r = v.get("/media/image?" + q(run=ids["pictures"], name="samples", step=step))
        assert r.status == 200 and r.content_type == "image/png"
        assert r.body == store.image_bytes(ids["pictures"], "samples", step)
    r = v.get("/media/image?" + q(run="pictures", name="photo", step=0))  # a run by name; a JPEG stays a JPEG
    assert r.status == 200 and r.content_type == "image/jpeg" and r.body[:3] == b"\xff\xd8\xff"
    one = json.loads(v.get("/api/media/image?" + q(run=ids["pictures"], name="samples", step=1)).body)
    two = json.loads(v.get("/api/media/image?" + q(run=ids["pictures"], name="samples", step=2)).body)
    assert one["src"].startswith("data:image/png;base64,") and one["src"] != two["src"]
    assert base64.b64decode(one["src"].split(",", 1)[1]) == store.image_bytes(ids["pictures"], "samples", 1)
    assert (one["step"], one["width"], one["height"], one["caption"]) == (1, 48, 32, f"epoch 1 {NASTY}")
    assert "<" not in v.get("/api/media/image?" + q(run=ids["pictures"], name="samples", step=1)).body.decode()


def test_sniffing_refuses_what_is_not_a_raster_image():
    assert media_view.sniff(b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert media_view.sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert media_view.sniff(b"GIF89a...") == media_view.sniff(b"GIF87a...") == "image/gif"
    assert media_view.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    for bad in (b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"<!doctype html><script>", b"RIFF\0\0\0\0AVI ",
                b"", b"\x89PNG", b"BM6\x00"):
        assert media_view.sniff(bad) is None
        with pytest.raises(errors.ValidationError):
            media_view.checked_image(bad)
    with pytest.raises(errors.LimitError):
        media_view.checked_image(b"\x89PNG\r\n\x1a\n" + bytes(media_view.SERVE_MAX))


class Hostile:
    """The real store, but its image bytes replaced (as a damaged or hostile file could hold)."""

    def __init__(self, store, data=None, size=None):
        self.store, self.data, self.size = store, data, size

    def __getattr__(self, name):
        return getattr(self.store, name)

    def image_bytes(self, run, name, step):
        return self.data

    def images(self, run, name=None, *, step=None, data=True):
        found = self.store.images(run, name, step=step, data=data)
        if self.size is not None:
            found = [type(f)(**{**{k: getattr(f, k) for k in ("name", "step", "timestamp", "format", "width",
                                                              "height", "sha256", "caption", "data")},
                                "size": self.size}) for f in found]
        return found


@pytest.mark.parametrize("data", [b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
                                  b"<!doctype html><script>alert(1)</script>", b"\x00\x01 not an image"])
def test_hostile_image_bytes_are_refused_never_served(view, data):
    v, store, ids = view
    hostile = viewer.Viewer(Hostile(store, data))
    for path in ("/media/image?", "/api/media/image?"):
        r = hostile.get(path + q(run=ids["pictures"], name="samples", step=1))
        assert r.status == 400 and r.content_type.startswith("text/html")
        assert b"not a PNG, JPEG, GIF or WebP" in r.body and data not in r.body


def test_huge_images_are_refused_before_they_are_read(view):
    v, store, ids = view
    huge = viewer.Viewer(Hostile(store, b"never read", size=media_view.SERVE_MAX + 1))
    r = huge.get("/media/image?" + q(run=ids["pictures"], name="samples", step=1))
    assert r.status == 400 and b"at most" in r.body


@pytest.mark.parametrize("target,status", [
    ("/media/image?run={run}&name=samples", 400),                       # no step
    ("/media/image?run={run}&step=1", 400),                             # no name
    ("/media/image?name=samples&step=1", 400),                          # no run
    ("/media/image?run={run}&name=samples&step=one", 400),
    ("/media/image?run={run}&name=samples&step=1.5", 400),
    ("/media/image?run={run}&name=samples&step=1&step=2", 400),
    ("/media/image?run={run}&name=samples&step=1&x=1", 400),
    ("/api/media/table?run={run}&name=predictions&step=1&limit=0", 400),
    ("/api/media/table?run={run}&name=predictions&step=1&limit=5000", 400),
    ("/api/media/table?run={run}&name=predictions&step=1&offset=-1", 400),
    ("/api/media/table?run={run}&name=predictions&step=1&offset=999", 400),
    ("/api/media/histogram?run={run}&name=weights&step=1&color=99", 400),
    ("/media/image?run=no-such-run&name=samples&step=1", 404),
    ("/media/image?run={run}&name=nope&step=1", 404),
    ("/media/image?run={run}&name=samples&step=77", 404),
    ("/api/media/histogram?run={run}&name=samples&step=1", 404),        # names are per kind
    ("/api/media/table?run={run}&name=weights&step=1", 404),
])
def test_bad_media_requests_say_why(view, target, status):
    v, store, ids = view
    r = v.get(target.format(run=ids["pictures"]))
    assert r.status == status and b'<pre class="error">' in r.body and b"Traceback" not in r.body


def test_histogram_data_is_the_logged_bins_and_bounded(view):
    v, store, ids = view
    h = store.histograms(ids["pictures"], "weights", step=2)[0]
    data = json.loads(v.get("/api/media/histogram?" + q(run=ids["pictures"], name="weights", step=2)).body)
    assert data["edges"] == list(h.edges) and data["counts"] == list(h.counts) and data["nan_count"] == 3
    bars = re.findall(r'<rect class="bar"', data["html"])
    assert len(bars) == sum(1 for c in h.counts if c) <= 32
    assert "3 NaN" in data["html"] and '<b class="shown-step">2</b>' in data["html"]
    other = json.loads(v.get("/api/media/histogram?" + q(run=ids["pictures"], name="weights", step=4)).body)
    assert other["html"] != data["html"]
    # the distribution over 1,500 steps is drawn from at most DIST_STEPS columns
    fig = figures(v.get("/run/" + ids["long"]).body.decode(), "histogram")[0]
    median = re.search(r'<polyline class="median" points="([^"]*)"', fig).group(1)
    assert len(median.split()) == media_view.DIST_STEPS
    assert len(fig) < 60_000


def test_quantiles_of_a_histogram():
    edges, counts = [0.0, 2.5, 5.0, 7.5, 10.0], [10, 10, 10, 10]
    q = media_charts.quantiles(edges, counts)
    assert q[0] == 0 and q[-1] == 10 and q[4] == pytest.approx(5.0)
    assert q[2] == pytest.approx(1.587) and q[6] == pytest.approx(8.413)
    assert media_charts.quantiles([0, 1, 2], [0, 0]) is None
    assert media_charts.quantiles([0, 1, 2, 3], [0, 4, 0]) == [1, 1.0668, 1.1587, 1.3085, 1.5, 1.6915, 1.8413,
                                                              pytest.approx(1.9332), 2]


def test_table_pages_are_escaped_and_bounded(view):
    v, store, ids = view
    table = store.tables(ids["pictures"], "predictions", step=3)[0]
    data = json.loads(v.get("/api/media/table?" + q(run=ids["pictures"], name="predictions", step=3, offset=20,
                                                    limit=5)).body)
    assert (data["total"], data["offset"], data["limit"]) == (len(table.rows), 20, 5) == (48, 20, 5)
    rows = re.findall(r"<tr><td.*?</tr>", data["html"])
    assert len(rows) == 5 and ">20<" in rows[0] and ">24<" in rows[-1]
    assert "rows 21\u201325 of 48" in data["html"] and NASTY not in data["html"]
    assert html.escape(f"{NASTY} 22") in data["html"]
    # the page shows the first PAGE_ROWS rows of the last step
    fig = figures(v.get("/run/" + ids["pictures"]).body.decode(), "table")[0]
    assert len(re.findall(r"<tr><td", fig)) == media_view.PAGE_ROWS
    assert f"of {45 + STEPS - 1}" in fig and 'class="page-next"' in fig


def test_file_report_shows_the_last_step_without_a_server(view, monkeypatch):
    v, store, ids = view
    doc = report.report_html(store, [ids["pictures"]])
    last = base64.b64encode(store.image_bytes(ids["pictures"], "samples", STEPS - 1)).decode()
    first = base64.b64encode(store.image_bytes(ids["pictures"], "samples", 0)).decode()
    assert last in doc and first not in doc
    assert "step-slider" not in doc and "/api/media" not in doc and "media.js" not in doc
    assert len(re.findall(r'<svg class="histogram"', doc)) == 1 and '<svg class="distribution"' in doc
    assert len(re.findall(re.escape(html.escape(NASTY)) + r" \d+</td>", doc)) == media_view.REPORT_ROWS
    monkeypatch.setattr(report, "IMAGE_BUDGET", 10)
    small = report.report_html(store, [ids["pictures"]])
    assert last not in small and "image budget is used up" in small


# ---------------------------------------------------------------- cookbook pages


def press_book(store):
    """The press cookbook of test_recipe_runs, with speed (a constraint) as a lever too."""
    return store.create_cookbook(
        "press-book", levers=[("press", "temp"), ("press", "speed")],
        outcomes=[{"asset": "press", "name": "temp", "optimize": "minimize"},
                  {"asset": "press", "name": "quality", "formula": "good / (good + scrap) * 100",
                   "aggregates": {"good": "sum", "scrap": "sum"}, "weight": 2}],
        constraints=[SPEED])


def seed_run() -> dict:
    text = open(SEED).read()
    return ast.literal_eval(text[text.index("{"):text.index("```", text.index("{"))])


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("recipes") / "runs.db")
    with runlite.open(path) as store:
        book = press_book(store)
        sources = [_machine(store, name=f"line-{i}", minutes=40 + 7 * i,
                            start=f"2024-03-0{i + 1}T08:00:00+00:00") for i in range(3)]
        computed = store.compute_recipe_runs(book, sources=sources)
        hostile = seed_run()
        hostile.update(cookbook=NASTY, constraint_group_id=NASTY)
        hostile["levers"][0]["name"] = NASTY
        store.import_recipe_runs([seed_run(), hostile])
    store = runlite.open(path, read_only=True)
    yield viewer.Viewer(store), store, book, computed
    store.close()


def sections(body: str) -> list[str]:
    return re.findall(r'<section class="card constraint-group".*?</section>', body, re.S)


def test_cookbooks_page_lists_every_cookbook(recipes):
    v, store, book, computed = recipes
    r = v.get("/cookbooks")
    body = r.body.decode()
    assert r.status == 200
    rows = re.findall(r"<tr><td><a href=\"(/cookbook/[^\"]*)\">(.*?)</a></td><td>(.*?)</td>"
                      r"<td class=\"num\">(.*?)</td><td class=\"num\">(.*?)</td>", body)
    assert {urllib.parse.unquote(h[len("/cookbook/"):]) for h, *_ in rows} == {book.id, "63ab6b263fa4880c06334b03",
                                                                                NASTY}
    mine = next(r for r in rows if book.id in r[0])
    groups = {r.constraint_group_id for r in computed}
    assert mine[2] == "press-book" and mine[3] == str(len(computed)) and mine[4] == str(len(groups))
    assert NASTY not in body and html.escape(NASTY) in body
    for href, *_ in rows:
        assert v.get(href).status == 200


def test_cookbook_page_groups_top_runs_levers_and_outcomes(recipes):
    v, store, book, computed = recipes
    body = v.get("/cookbook/" + urllib.parse.quote(book.id)).body.decode()
    runs = [r.to_dict() | {"id": r.run_id} for r in computed]
    by_group: dict = {}
    for run in runs:
        by_group.setdefault(run["constraint_group_id"], []).append(run)
    best_first = sorted(by_group, key=lambda g: (-max(r["_score"] for r in by_group[g]), g))
    found = sections(body)
    assert [re.search(r'data-group="([^"]*)"', s).group(1) for s in found] == best_first
    assert "speed in [340,6000]" in body and "speed in (None,340)" in body  # the groups' bins
    for section in found:
        group = re.search(r'data-group="([^"]*)"', section).group(1)
        expected = sorted(by_group[group], key=lambda r: (-r["_score"], r["id"]))[:book.top_runs]
        shown = re.findall(r'<tr class="top-run" data-run-id="([^"]*)"><td class="num">(\d+)</td>', section)
        assert [rid for rid, _ in shown] == [r["id"] for r in expected]
        assert [int(rank) for _, rank in shown] == list(range(1, len(expected) + 1))
        scores = re.findall(r'<td class="num score">([^<]*)</td>', section)
        assert scores == [f"{r['_score']:.6g}" for r in expected]
        for run in expected:  # each run's links and its outcome statistics as stored
            assert f'href="/run/{run["id"]}"' in section
            row = re.search(rf'<tr class="top-run" data-run-id="{run["id"]}">.*?</tr>', section).group(0)
            temp, quality = (o["value"] for o in run["outcomes"])
            cells = "".join(f'<td class="num">{x}</td>' for x in (
                f"{temp['avg']:.6g}", f"{temp['min']:.6g}", f"{temp['max']:.6g}", f"{math.sqrt(temp['var_pop']):.6g}",
                f"{quality['avg']:.6g}", f"{quality['min']:.6g}", f"{quality['max']:.6g}"))
            assert cells in row and row.endswith('<span title="a KPI: one value per run">\u2013</span></td></tr>')
        # each lever's range over all the group's runs: computed here from the stored dicts
        ranged = re.findall(r'<td class="num range-all">([^<]*)</td>', section)
        for k, shown_range in enumerate(ranged):
            lows = [r["levers"][k]["value"]["min"] for r in by_group[group]]
            highs = [r["levers"][k]["value"]["max"] for r in by_group[group]]
            assert shown_range == f"{min(lows):.6g} \u2013 {max(highs):.6g}"
        assert len(ranged) == 2
        tops = re.findall(r'<td class="num range-top">([^<]*)</td>', section)  # over the top runs only
        assert tops == [f"{min(r['levers'][k]['value']['min'] for r in expected):.6g} \u2013 "
                        f"{max(r['levers'][k]['value']['max'] for r in expected):.6g}" for k in range(2)]
        # the recipe's own range: speed is a constraint, so its bin is the group's range for it
        bins = re.findall(r'<td class="range-recipe">([^<]*)</td>', section)
        assert bins == ["\u2013", expected[0]["constraints"][0]]
        if len(expected) > 1:
            assert '<tr class="pooled">' in section
    assert all(v.get(f"/run/{r['id']}").status == 200 for r in runs)


def test_cookbook_groups_are_paged(recipes, monkeypatch):
    v, store, book, computed = recipes
    monkeypatch.setattr(cookbook_view, "GROUP_PAGE", 1)
    path = "/cookbook/" + urllib.parse.quote(book.id)
    first, second = v.get(path).body.decode(), v.get(path + "?offset=1").body.decode()
    assert len(sections(first)) == len(sections(second)) == 1 and sections(first) != sections(second)
    assert f'href="{path}?offset=1">next</a>' in first and f'href="{path}?offset=0">previous</a>' in second
    groups = {r.constraint_group_id for r in computed}
    assert v.get(f"{path}?offset={len(groups)}").status == 404


def test_imported_runs_and_hostile_text_on_cookbook_pages(recipes):
    v, store, book, computed = recipes
    seed = seed_run()
    body = v.get("/cookbook/63ab6b263fa4880c06334b03").body.decode()
    assert len(sections(body)) == 1 and "no constraints" in body
    dietemp = next(x["value"] for x in seed["levers"] if x["name"] == "stats__DieTemp__val")
    assert f"{dietemp['min']:.6g} \u2013 {dietemp['max']:.6g}" in body
    hostile = v.get("/cookbook/" + urllib.parse.quote(NASTY, safe=""))
    assert hostile.status == 200 and NASTY not in hostile.body.decode()
    assert html.escape(NASTY) in hostile.body.decode()


@pytest.mark.parametrize("target,status", [
    ("/cookbook/no-such-book", 404), ("/cookbook/", 400), ("/cookbooks?offset=x", 400), ("/cookbooks?offset=%C2%B2", 400),
    ("/cookbooks?page=2", 400), ("/cookbook/press-book?offset=-1", 400), ("/cookbook/press-book?offset=1&offset=2", 400),
    ("/cookbooks?offset=500", 404),
])
def test_cookbook_page_errors(recipes, target, status):
    v, *_ = recipes
    r = v.get(target)
    assert r.status == status and b'<pre class="error">' in r.body


def test_recipe_run_pages_link_to_the_cookbooks(recipes):
    v, store, book, computed = recipes
    assert '<a href="/cookbooks">cookbooks</a>' in v.get("/run/" + computed[0].run_id).body.decode()


def test_large_images_are_left_for_the_script_to_fetch(view, monkeypatch):
    v, store, ids = view
    monkeypatch.setattr(media_view, "PAGE_INLINE_MAX", 100)
    fig = next(f for f in figures(v.get("/run/" + ids["pictures"]).body.decode(), "image")
               if 'data-name="samples"' in f)
    assert "data:image" not in fig and '<img class="media-image" alt="samples at step 4" hidden>' in fig
    assert "fetched by the page" in fig
    r = v.get("/api/media/image?" + q(run=ids["pictures"], name="samples", step=4))  # what the script asks
    assert r.status == 200 and json.loads(r.body)["size"] > 100
