"""The viewer's chart side: /api/chart (bucket JSON on each x axis, zoom windows, refusals),
/static/ (uPlot as shipped, its sha256 recorded here), and hostile metric names in pages."""

import hashlib
import json
import math
import re

import pytest

import runlite
from runlite.ui import api, viewer

# uPlot 1.6.32 from the npm registry (`npm pack uplot@1.6.32`, dist/ and LICENSE unchanged)
SHIPPED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
    "uPlot.LICENSE": "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}
HOSTILE = '</script><script>alert(1)</script>"\'<img src=x onerror=alert(2)>&amp;\u2028'


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("charts") / "runs.db")
    ids = {}
    with runlite.open(path) as store:
        for name, scale in (("alpha", 1.0), ("beta", 2.0)):
            with store.init(name) as run:
                for step in range(5000):
                    run.log_metrics({"train/loss": scale / (step + 1), "val/acc": step / 5000})
                run.log_metrics({HOSTILE: math.nan}, step=0)
                run.log_metrics({HOSTILE: math.inf}, step=1)
                run.log_metrics({HOSTILE: -1.0}, step=2)
            ids[name] = run.id
    store = runlite.open(path, read_only=True)
    yield viewer.Viewer(store), ids
    store.close()


def get_json(v, target):
    status, ctype, body = v.get(target)
    assert (status, ctype) == (200, "application/json"), body[:300]
    return json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_static_files_are_the_shipped_ones(view):
    v, _ = view
    for name, digest in SHIPPED.items():
        status, ctype, body = v.get(f"/static/{name}")
        assert status == 200 and ctype == api.STATIC_TYPES[name]
        assert hashlib.sha256(body).hexdigest() == digest
    assert api.UPLOT_VERSION in v.get("/static/uPlot.iife.min.js").body.decode()[:200]
    status, ctype, body = v.get("/static/charts.js")
    assert status == 200 and ctype.startswith("text/javascript") and b"IntersectionObserver" in body
    for bad in ("/static/../viewer.py", "/static/", "/static/x.js", "/static/charts.js?v=1"):
        assert v.get(bad).status in (400, 404), bad


def test_chart_json_buckets_each_axis(view):
    v, ids = view
    data = get_json(v, f"/api/chart?run={ids['alpha']}&run={ids['beta']}&metric=train/loss&buckets=100")
    assert data["xaxis"] == "step" and [r["name"] for r in data["runs"]] == ["alpha", "beta"]
    for r in data["runs"]:
        assert len(r["x"]) == 100 and sum(r["count"]) == 5000
        assert all(lo <= m <= hi for lo, m, hi in zip(r["min"], r["mean"], r["max"]))
    with runlite.open(v.store.path, read_only=True) as s:
        exact = s.metric_buckets(ids["alpha"], "train/loss", buckets=100)
    assert data["runs"][0]["mean"] == exact.mean  # the viewer's JSON is exact
    for xaxis in ("time", "timestamp"):  # ?xaxis=time was a 400 once
        got = get_json(v, f"/api/chart?run={ids['alpha']}&metric=train/loss&xaxis={xaxis}&buckets=50")
        assert got["xaxis"] == xaxis and sum(got["runs"][0]["count"]) == 5000
    ts = get_json(v, f"/api/chart?run={ids['alpha']}&metric=train/loss&xaxis=timestamp&buckets=50")["runs"][0]["x"]
    assert 1.6e9 < ts[0] <= ts[-1] < 4e9  # epoch seconds
    mid = (ts[0] + ts[-1]) / 2
    zoom = get_json(v, f"/api/chart?run={ids['alpha']}&metric=train/loss&xaxis=timestamp&start={ts[0]}&stop={mid}")
    assert 0 < sum(zoom["runs"][0]["count"]) < 5000


def test_zoom_re_buckets_the_window(view):
    v, ids = view
    whole = get_json(v, f"/api/chart?run={ids['alpha']}&metric=val/acc&buckets=50")["runs"][0]
    zoom = get_json(v, f"/api/chart?run={ids['alpha']}&metric=val/acc&start=1000&stop=1099&buckets=50")["runs"][0]
    assert sum(whole["count"]) == 5000 and sum(zoom["count"]) == 100 and len(zoom["x"]) == 50
    assert 1000 <= zoom["x"][0] and zoom["x"][-1] <= 1099
    assert zoom["mean"][0] == pytest.approx((1000 + 1001) / 2 / 5000)


def test_non_finite_values_are_null_and_names_escaped(view):
    v, ids = view
    q = api.to_json  # the same escaping as pages use
    data = get_json(v, "/api/chart?" + viewer.urllib.parse.urlencode({"run": ids["alpha"], "metric": HOSTILE}))
    r = data["runs"][0]
    assert data["metric"] == HOSTILE and r["mean"] == [None, None, -1.0] and r["count"] == [1, 1, 1]
    assert "<" not in q(data) and "\u2028" not in q(data)
    page = v.get(f"/run/{ids['alpha']}").body.decode()
    assert HOSTILE not in page and "<script>alert" not in page and "onerror=alert" not in page.replace(
        "onerror=alert(2)&gt;", "")
    figure = re.search(r'<figure class="metric" data-metric="([^"]*)"', page.split("charts <")[0] + page)
    assert figure


@pytest.mark.parametrize("target", [
    "/api/chart?metric=train/loss",
    "/api/chart?run=alpha&metric=train/loss&xaxis=epoch",
    "/api/chart?run=alpha&metric=train/loss&start=nan",
    "/api/chart?run=alpha&metric=train/loss&buckets=99999",
    "/api/chart?run=alpha&metric=train/loss&start=9&stop=3",
    "/api/chart?run=alpha&metric=train/loss&colour=red",
])
def test_bad_chart_requests_are_400(view, target):
    assert view[0].get(target).status == 400


def test_unknown_metric_is_404(view):
    v, ids = view
    assert v.get(f"/api/chart?run={ids['alpha']}&metric=nope").status == 404
