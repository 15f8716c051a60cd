"""The HTML report and its SVG charts: structure, escaping, edge values, size, and the CLI."""

from __future__ import annotations

import json
import math
import random
import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

import runlite
from runlite.ui import api, charts, report
from runlite import cli, errors
from runlite._ids import dotted_segment

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")
HOSTILE = "\"'><script>alert(1)</script>&amp; \u202e\u00e9\u4e2d\U0001f600"


class Tree(HTMLParser):
    """Every element as (tag, attrs dict, path of ancestor tags), texts by enclosing element."""

    VOID = {"meta", "img", "br", "hr", "input", "link"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, tuple]] = []
        self.texts: list[tuple[str, tuple]] = []
        self.stack: list[tuple[str, dict]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs, tuple(t for t, _ in self.stack)))
        if tag not in self.VOID:
            self.stack.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), tuple(t for t, _ in self.stack)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.texts.append((data, tuple(self.stack)))

    def find(self, tag: str, cls: str | None = None) -> list[dict]:
        return [a for t, a, _ in self.elements if t == tag and (cls is None or cls in (a.get("class") or "").split())]

    def text(self) -> str:
        return "".join(t for t, _ in self.texts)


def _charts(html: str) -> list[dict]:
    """The chart data blocks of a document (what charts.js draws), parsed as strict JSON."""
    blocks = re.findall(r'<script type="application/json" class="chart-data">(.*?)</script>',
                        _without_shipped_scripts(html), re.S)
    return [json.loads(b, parse_constant=lambda c: pytest.fail(f"{c} in chart JSON")) for b in blocks]


def _without_shipped_scripts(html: str) -> str:
    """The document without its inlined uPlot and charts.js (checked byte for byte against the
    package's files, so nothing else can hide there)."""
    for name in api.SCRIPTS:
        text = api.static_file(name).decode()
        assert html.count(f"<script>{text}</script>") <= 1
        html = html.replace(f"<script>{text}</script>", "")
    return html


@pytest.fixture
def full(store, tmp_path):
    """Two experiment runs with metrics, events, an alert, files and feedback."""
    with store.init("alpha", metadata={"lr": 0.01, "model": {"layers": 4}}, tags=["sweep", "baseline"],
                    description="first", folder="/exp") as a:
        a.create_metric_threshold_alert("loss-high", "loss", 1.5, "is above", window=1, frequency=1)
        a.create_user_alert("operator")
        a.log_alert(name="operator", state="critical")
        time.sleep(0.01)
        a.log_alert(name="operator", state="ok")
        for i in range(300):
            a.log_metrics({"loss": 2.0 - i / 200, "acc": i / 300})
        at = time.time()  # one instant: the three events share a timeline column however slow the machine
        a.log_event("started training", timestamp=at)
        a.log_event("disk almost full", level="warning", timestamp=at)
        a.log_event("nan loss", level="error", timestamp=at)
        a.attach("plot.png", PNG, "image/png")
        a.attach("config.json", b'{"lr": 0.01}', "application/json")
        a.attach("fake.png", b"<svg onload=alert(1)>", "image/png")
    with store.init("beta", tags=["sweep"]) as b:
        for i in range(50):
            b.log_metrics({"loss": 1.0 + i / 100})
    store.create_feedback(a.id, "quality", score=0.8, comment="looks right")
    return a.id, b.id


def test_sections_charts_legends(store, full):
    a, b = full
    html = report.report_html(store, [a, "beta"])
    tree = Tree(html)
    headings = [t.strip() for t, path in tree.texts if path and path[-1][0] == "h2"]
    for section in ("Runs", "Metrics", "Events and alerts", "Attachments", "Feedback"):
        assert section in headings
    assert [s.get("id") for s in tree.find("section", "run")] == [f"run-{a}", f"run-{b}"]
    figures = tree.find("figure", "metric")
    assert sorted(f["data-metric"] for f in figures) == ["acc", "loss"]
    for data in _charts(html):
        having = 2 if data["metric"] == "loss" else 1
        assert [r["name"] for r in data["runs"]] == ["alpha", "beta"][:having]
        for r in data["runs"]:  # buckets, never one entry per point; the mean inside the band
            assert 0 < len(r["x"]) <= report.REPORT_COLUMNS
            assert all(lo <= m <= hi for lo, m, hi in zip(r["min"], r["mean"], r["max"]))
        assert sum(data["runs"][0]["count"]) == (300 if data["metric"] == "loss" else 300)
    text = tree.text()
    for fact in ("0.01", "layers", "sweep", "baseline", "/exp", "first", "completed", "loss-high", "operator",
                 "quality", "looks right", "config.json", "application/json"):
        assert fact in text, fact
    assert len(tree.find("svg", "timeline")) == 1  # beta has neither events nor alerts
    marks = re.findall(r'<rect class="mark ([^"]*)".*?<title>([^<]*)</title>', html)
    assert marks == [("level-error", "started training (+2 more)")]  # one column: its worst level, counted
    assert tree.find("rect", "state-critical") and tree.find("rect", "state-ok")
    images = tree.find("img", "attachment")
    assert [i["alt"] for i in images] == ["plot.png"]  # the fake PNG is listed, not shown
    assert images[0]["src"].startswith("data:image/png;base64,")
    assert "not the image type it claims" in text
    # the only scripts: uPlot and charts.js inlined, allowed by their hashes in the page's CSP
    scripts = [a for a in tree.find("script") if a.get("type") != "application/json"]
    assert len(scripts) == len(api.SCRIPTS) and not tree.find("button")
    policy = [m["content"] for m in tree.find("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "script-src " + " ".join(api.script_hash(n) for n in api.SCRIPTS) in policy[0]
    assert "'unsafe-inline'" not in policy[0].split("script-src")[1]
    assert _without_shipped_scripts(html).count("<script>") == 0


def test_no_external_urls(store, full):
    html = _without_shipped_scripts(report.report_html(store, list(full)))
    tree = Tree(html)
    for tag, attrs, _ in tree.elements:
        for key in ("src", "href", "action", "xlink:href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value[:40])
    for url in re.findall(r"url\(([^)]*)\)", html):
        assert not re.match(r"\s*['\"]?(https?:)?//", url)
    assert "http://" not in html and "https://" not in html and "//" not in re.sub(r"data:[^\"']*", "", html)


def test_hostile_text_is_escaped(store):
    huge = "x" * 100_000 + "<script>"
    with store.init(HOSTILE, metadata={HOSTILE: HOSTILE, "huge": huge}, tags=[HOSTILE],
                    description=HOSTILE + "\x01\x1b[31m") as run:
        run.log_metrics({HOSTILE: 1.0})
        run.log_metrics({HOSTILE: 2.0})
        run.log_event(HOSTILE + "</svg></title>\x00")
        run.attach("a\"b<c>.txt", b"x", "text/plain")
    html = report.report_html(store, [run.id], title=HOSTILE)
    tree = Tree(html)
    assert [a.get("type") for a in Tree(_without_shipped_scripts(html)).find("script")] == ["application/json"]
    assert _charts(html)[0]["metric"] == HOSTILE and _charts(html)[0]["runs"][0]["name"] == HOSTILE
    assert "</script>" not in html.split('class="chart-data">')[1].split("</script>")[0]
    assert {t for t, _, _ in tree.elements} <= {"script", "output", "input", "label", "figure",
        "html", "head", "meta", "title", "style", "body", "header", "h1", "main", "p", "h2", "div", "section", "h3",
        "span", "dl", "dt", "dd", "details", "summary", "table", "tr", "th", "td", "figure", "svg", "g", "rect",
        "text", "line", "path", "img", "b"}
    text = tree.text()
    assert text.count(HOSTILE) >= 5  # shown as text: title, header, tag, metadata, chart title, event...
    assert "100,008 characters" in text and huge not in html  # cut for display, full length noted
    assert len(html) < 200_000
    assert "\x00" not in html and "\x01" not in html and "\x1b" not in html
    svg = report.chart_svg(store, [run.id], HOSTILE)
    root = ET.fromstring(svg)  # a standalone chart is well-formed XML
    assert root.get("data-metric") == HOSTILE


@pytest.mark.parametrize("ys", [
    [math.nan, math.inf, -math.inf, 1.0, math.nan, 2.0, -math.inf],
    [1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308],
    [1e-300, 2e-300, 5e-324, 0.0],
    [3.0] * 7,
    [math.nan] * 3,
])
def test_nan_inf_and_extremes_render_finite_coordinates(mem, ys):
    with mem.init("r") as run:
        for i, y in enumerate(ys):
            run.log_metrics({"m": y}, step=i * 1000)
    html = report.report_html(mem, [run.id])
    tree = Tree(html)
    numbers = re.compile(r"^[Mlhz0-9 .\-]*$")
    for p in tree.find("path"):
        assert numbers.match(p["d"]), p["d"][:80]
    for tag, attrs, _ in tree.elements:
        for key in ("x", "y", "x1", "x2", "y1", "y2", "width", "height"):
            if key in attrs and tag != "svg":
                assert math.isfinite(float(attrs[key])), (tag, key, attrs[key])
    for data in _charts(html):  # strict JSON (parsed above): NaN and infinities are gaps (null)
        finite = [y for y in ys if math.isfinite(y)]
        means = [m for r in data["runs"] for m in r["mean"] if m is not None]
        assert all(math.isfinite(m) for m in means) and bool(means) == bool(finite) or not finite

@pytest.mark.parametrize("xs,ys", [
    ([], []), ([5], [1.0]), ([1, 2, 3], [7.0, 7.0, 7.0]), ([-10, -5, 0], [1e300, -1e300, 0.0]),
    ([3, 1, 2], [1.0, 2.0, math.nan]), ([1e15, 1e15 + 1], [1e-320, 2e-320]),
])
def test_line_chart_edge_cases_are_valid_svg(xs, ys):
    svg = charts.line_chart([charts.Line("s\x01\ud800", xs, ys)], title="t", xmlns=True, columns=50)
    root = ET.fromstring(svg)
    assert root.get("data-metric") == "t"
    for p in root.iter(f"{{{charts.SVG_NS}}}path"):
        assert re.match(r"^[Mlhz0-9 .\-]*$", p.get("d"))
    assert "nan" not in svg.lower() and "inf" not in svg.lower()


def test_one_point_draws_a_dot_and_gaps_split_the_line():
    svg = charts.line_chart([charts.Line("a", [0, 1, 2, 3], [1.0, math.nan, 2.0, 3.0])], columns=4)
    d = re.search(r'class="line"[^>]*d="([^"]*)"', svg).group(1)
    assert d.count("M") == 2 and "h0" in d  # the NaN splits; the lone first point is a dot


def test_empty_run_renders(mem):
    run = mem.init("empty", running=False)
    html = report.report_html(mem, [run.id])
    tree = Tree(html)
    assert "No metrics." in tree.text() and not tree.find("svg")
    assert tree.find("span", "status-created")


def _span(n: int, name: str, start_ms: float, end_ms: float, parent: dict | None = None, **fields) -> dict:
    run_id = f"0190a000-0000-7000-8000-00000000000{n}"
    segment = dotted_segment(int(start_ms * 1000), run_id)
    return {"id": run_id, "name": name, "status": "failed" if fields.get("error") else "completed",
            "start_time": start_ms, "end_time": end_ms, "trace_id": parent["trace_id"] if parent else run_id,
            "dotted_order": f"{parent['dotted_order']}.{segment}" if parent else segment,
            "parent_run_id": parent["id"] if parent else None, "child_runs": [], **fields}


def test_trace_waterfall(mem):
    t0 = 1_700_000_000_000.0  # epoch ms
    tree = _span(1, "agent", t0, t0 + 3000, run_type="chain", total_tokens=1500)
    llm = _span(2, "llm-call", t0 + 100, t0 + 1200, tree, run_type="llm", prompt_tokens=1000,
                completion_tokens=500, total_tokens=1500)
    tool = _span(3, "tool<x>", t0 + 1300, t0 + 2900, tree, run_type="tool", error="Timeout: <b>")
    tool["child_runs"] = [_span(4, "retry", t0 + 1400, t0 + 1500, tool, run_type="tool")]
    tree["child_runs"] = [llm, tool]
    mem.import_runs([tree])
    html = report.report_html(mem, ["agent"])
    doc = Tree(html)
    assert len(doc.find("svg", "waterfall")) == 1
    bars = doc.find("rect", "bar")
    assert len(bars) == 4
    assert len(doc.find("rect", "error")) == 1
    text = doc.text()
    assert "1,500 tok" in text and "Timeout: <b>" in text and "4 spans" in text and "1 with errors" in text
    xs = [float(b["x"]) for b in bars]
    assert xs[0] < xs[1] < xs[2] < xs[3]  # offsets follow start times, in execution order
    assert float(bars[2]["width"]) > float(bars[3]["width"])


def test_recipe_run_table(mem):
    data = {"_count": 12, "_count_muted": 1, "_duration_seconds": 600.0, "_earliest": "2024-01-01T00:00:00+00:00",
            "_latest": "2024-01-01T00:10:00+00:00", "_score": 0.75, "constraint_group_id": "3",
            "constraints": ["[340,6000]"], "cookbook": "book-1", "filters": [],
            "i_vals": [{"asset": "SHARED", "name": "group", "value": "3"},
                       {"asset": "SHARED", "name": "sequence", "value": 0}],
            "levers": [{"asset": "press-1", "d_pos": 1, "name": "temp",
                        "value": {"avg": 201.5, "count": 12.0, "max": 204.25, "min": 198.5, "var_pop": 1.0}}],
            "outcomes": [{"asset": "press-1", "d_pos": 0, "kpi": None, "name": "quality",
                          "value": {"avg": 97.5, "count": 12.0, "max": 99.0, "min": 95.0, "var_pop": 0.5}}]}
    second = dict(data, _earliest="2024-01-01T01:00:00+00:00", _latest="2024-01-01T01:10:00+00:00", _score=0.5,
                  levers=[dict(data["levers"][0], value={"avg": 210.0, "count": 3.0, "max": 215.0, "min": 190.0,
                                                          "var_pop": 2.0})])
    runs = mem.import_recipe_runs([data, second])
    html = report.report_html(mem, [r.run_id for r in runs])
    doc = Tree(html)
    assert len(doc.find("table", "recipe")) == 1
    text = doc.text()
    assert "press-1 / temp" in text and "press-1 / quality" in text
    assert "198.5 \u2013 204.25" in text and "190 \u2013 215" in text  # each run's range, then over all runs
    assert "lever ranges over these runs" in text and "97.5" in text and "0.75" in text


def test_chart_svg_zoom_window(store, full):
    a, b = full
    svg = report.chart_svg(store, [a, b, a], "loss", start=10, stop=20, buckets=50)
    root = ET.fromstring(svg)
    assert root.tag == f"{{{charts.SVG_NS}}}svg"
    assert (float(root.get("data-x0")), float(root.get("data-x1"))) == (10.0, 20.0)
    assert root.get("data-runs") == f"{a} {b}" and root.get("data-xaxis") == "step"
    assert len(list(root.iter(f"{{{charts.SVG_NS}}}path"))) >= 2
    acc = ET.fromstring(report.chart_svg(store, [a, b], "acc", xaxis="timestamp"))
    assert len([p for p in acc.iter(f"{{{charts.SVG_NS}}}path") if p.get("class") == "line"]) == 1
    with pytest.raises(errors.NotFoundError):
        report.chart_svg(store, [b], "acc")
    with pytest.raises(errors.ValidationError):
        report.chart_svg(store, [a], "loss", start=5, stop=1)
    with pytest.raises(errors.ValidationError):
        report.chart_svg(store, [a], "loss", xaxis="bogus")
    with pytest.raises(errors.NotFoundError):
        report.runs_body(store, [a, "no-such-run"])


def test_served_page_has_zoom_and_refresh(store, full):
    body = report.runs_body(store, list(full), served=True)
    html = report.page("live", body, served=True, refresh_url="/fragment/run/x?a=1&b=2")
    doc = Tree(html)
    # scripts from the viewer's /static/ only (its CSP allows no inline script); no data inline:
    # each chart fetches its own when it scrolls into view
    assert [s.get("src") for s in doc.find("script")] == [f"/static/{n}" for n in api.SCRIPTS]
    assert "<script>" not in html and not _charts(html)
    assert [f["data-metric"] for f in doc.find("figure", "metric")] == ["acc", "loss"]
    assert doc.find("select")[0]["id"] == "xaxis" and doc.find("input", None)
    assert doc.find("body")[0]["data-refresh"] == "/fragment/run/x?a=1&b=2"
    assert "<main>" + body + "</main>" in html


def test_cli_report(store, full, tmp_path, capsys):
    store.close()
    out = tmp_path / "r.html"
    assert cli.main(["report", "--db", store.path, "alpha", full[1], "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "KiB" in printed
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert cli.main(["report", "--db", store.path, "no-such-run", "-o", str(tmp_path / "x.html")]) == 1
    assert "no run with id or name 'no-such-run'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def _log_runs(store, n_points: int, n_runs: int = 10, n_metrics: int = 20) -> list:
    names = [f"metric/{k:02d}" for k in range(n_metrics)]
    ids = []
    for r in range(n_runs):
        rnd = random.Random(r)
        with store.init(f"run-{r}") as run:
            log = run.log_metrics
            for i in range(n_points):  # noise over a wave: every pixel column holds a band
                log({name: math.sin(i / 300 + k) + rnd.random() for k, name in enumerate(names)})
        ids.append(run.id)
    return ids


def test_report_size_does_not_grow_with_points(tmp_path):
    sizes = {}
    for n in (2_000, 20_000):
        with runlite.open(str(tmp_path / f"{n}.db")) as store:
            ids = _log_runs(store, n)
            html = report.report_html(store, ids)
            assert len(_charts(html)) == 20
            sizes[n] = len(html.encode("utf-8"))
    assert sizes[20_000] < 2_000_000
    assert abs(sizes[20_000] - sizes[2_000]) < 0.05 * sizes[2_000], sizes


def test_malformed_recipe_run_still_renders(mem, monkeypatch):
    """A recipe run of other types than the seed's (import refuses one now; a file written
    before it did may hold one) still renders."""
    from runlite.storage import recipes as stored_recipes

    monkeypatch.setattr(stored_recipes, "check_seed", lambda data: None)
    data = {"_count": "many", "_count_muted": None, "_duration_seconds": "<long>", "_earliest": "2024-01-01T00:00:00Z",
            "_latest": "2024-01-01T00:10:00Z", "_score": None, "constraint_group_id": "<g>", "constraints": {"a": 1},
            "cookbook": "book-2", "filters": [], "i_vals": [],
            "levers": {"not": "a list"}, "outcomes": [{"name": "q"}, "junk", {"asset": "a", "name": "r", "value": 3}]}
    runs = mem.import_recipe_runs([data])
    doc = Tree(report.report_html(mem, [runs[0].run_id]))
    assert len(doc.find("table", "recipe")) == 1 and not doc.find("script")  # no charts: no script
    assert "<long>" in doc.text() and "<g>" in doc.text() and "None / q" in doc.text()


def test_metric_charts_are_capped(mem, monkeypatch):
    monkeypatch.setattr(report, "METRIC_LIMIT", 2)
    with mem.init("many") as run:
        run.log_metrics({"a": 1.0, "b": 2.0, "c<x>": 3.0})
    html = report.report_html(mem, [run.id])
    assert len(_charts(html)) == 2 and "1 more metrics not charted: c&lt;x&gt;" in html
