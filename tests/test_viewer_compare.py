"""Compare views without a browser: the parameter table of several runs (viewer and file report),
the ``/compare`` sweep page (parallel coordinates, scatter, choices, bounds, refusals), and the
batched reads behind them (``Store.metric_summaries``, ``Store.metric_name_counts``).

tests/test_browser_compare.py drives the same pages in Chromium.
"""

import html
import math
import re
import urllib.parse

import pytest

import runlite
from runlite import errors
from runlite.ui import report, sweep, sweep_svg, viewer

HOSTILE_KEY = '<img src=x onerror="alert(1)">'
HOSTILE_VALUE = "</td><script>alert(2)</script>"


def write_sweep(path: str) -> dict:
    """Runs a, b, c, d (a to c differ in lr, opt.name and the hostile key; all share ``shared``),
    metric loss (c's last value NaN, d's infinite), and e with text metadata only; name -> id."""
    ids = {}
    specs = {
        "a": ({"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "shared": "x", HOSTILE_KEY: HOSTILE_VALUE}, 0.5),
        "b": ({"lr": 0.001, "opt": {"name": "adam", "beta": 0.9}, "shared": "x", HOSTILE_KEY: "plain"}, 0.2),
        "c": ({"lr": 0.01, "opt": {"name": "sgd", "beta": 0.9}, "shared": "x"}, math.nan),
        "d": ({"lr": 0.0001, "opt": {"name": "sgd", "beta": 0.9}, "shared": "x"}, math.inf),
    }
    with runlite.open(path) as store:
        for name, (metadata, last) in specs.items():
            with store.init(name, metadata=metadata, folder="/sweep") as run:
                for step in range(10):
                    run.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10})
                run.log_metrics({"loss": last})
            ids[name] = run.id
        with store.init("e", metadata={"note": "text only"}, folder="/other") as run:
            run.log_metrics({"system/cpu": 1.0})
        ids["e"] = run.id
    return ids


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("compare") / "runs.db")
    return path, write_sweep(path)


@pytest.fixture(scope="module")
def view(db):
    store = runlite.open(db[0], read_only=True)
    yield viewer.Viewer(store), db[1]
    store.close()


def body(response) -> str:
    return response.body.decode()


def rows_of(text: str, css: str) -> list[str]:
    """The header cell (the key) of each ``<tr class=css>`` of the parameter table."""
    table = re.search(r'<table class="grid params-table" id="params">(.*?)</table>', text, re.S).group(1)
    return [html.unescape(k) for k in re.findall(rf'<tr class="{css}"><th>(.*?)</th>', table)]


def runs_url(ids: dict, *names: str) -> str:
    return "/runs?" + urllib.parse.urlencode([("id", ids[n]) for n in names])


def error_of(response) -> str:
    return html.unescape(re.search(r'<pre class="error"[^>]*>(.*?)</pre>', body(response), re.S).group(1))


# ---------------------------------------------------------------- the parameter table


def test_runs_page_lists_only_differing_keys_with_a_toggle_for_all(view):
    v, ids = view
    r = v.get(runs_url(ids, "a", "b", "c"))
    assert r.status == 200
    text = body(r)
    # nested keys are dotted; a key missing in one run (the hostile key in c) differs
    assert rows_of(text, "differs") == ["lr", "opt.name", HOSTILE_KEY]
    assert rows_of(text, "same") == ["opt.beta", "shared"]
    assert re.search(r'id="params-count">3 of 5 parameters differ<', text)
    # the toggle is a <details> (no script) placed right before the table; CSS hides the same rows
    assert re.search(r'<details class="params-toggle" id="params-all">.*?</details><div class="scroll">'
                     r'<table class="grid params-table" id="params">', text, re.S)
    assert ".params-toggle:not([open])+.scroll tr.same{display:none}" in text
    # one column per run, coloured like its chart lines (colour = place in the list)
    head = re.search(r'id="params"><thead>(.*?)</thead>', text).group(1)
    assert re.findall(r'<span class="swatch (c\d)"></span>(\w)<', head) == [("c0", "a"), ("c1", "b"), ("c2", "c")]
    assert text.index('id="params"') < text.index("<h2>Runs</h2>")  # at the top


def test_the_table_comes_after_the_nav_and_keeps_the_run_order(view):
    v, ids = view
    text = body(v.get(runs_url(ids, "c", "a")))
    head = re.search(r'id="params"><thead>(.*?)</thead>', text).group(1)
    assert re.findall(r'</span>(\w)</th>', head) == ["c", "a"]
    # c's missing hostile key shows as a dash, a's value as escaped text
    row = re.search(r'<tr class="differs"><th>&lt;img.*?</tr>', text).group(0)
    assert '<td class="muted">\u2013</td>' in row and html.escape(HOSTILE_VALUE) in row


def test_hostile_keys_and_values_are_text(view):
    v, ids = view
    text = body(v.get(runs_url(ids, "a", "b")))
    assert HOSTILE_KEY not in text and "<script>alert(2)" not in text
    assert html.escape(HOSTILE_KEY) in text and html.escape(HOSTILE_VALUE) in text


def test_one_run_has_no_comparison_and_no_compare_links(view):
    v, ids = view
    text = body(v.get("/run/" + ids["a"]))
    assert 'id="params"' not in text and "<h2>Compare</h2>" not in text and "/compare?" not in text


def test_same_parameters_everywhere_says_none_differ(tmp_path):
    with runlite.open(str(tmp_path / "same.db")) as store:
        ids = [store.init(n, metadata={"lr": 0.1}, running=False).id for n in ("x", "y")]
        text = report.runs_body(store, ids)
        assert rows_of(text, "differs") == [] and rows_of(text, "same") == ["lr"]
        assert "0 of 1 parameter differ" in text
        ids.append(store.init("z", running=False).id)  # no metadata at all: every key differs
        assert rows_of(report.runs_body(store, ids), "differs") == ["lr"]
        bare = [store.init(n, running=False).id for n in ("p", "q")]
        assert 'id="params-none"' in report.runs_body(store, bare)


def test_metric_rows_show_last_min_max_and_nan_inf_as_such(view):
    v, ids = view
    text = body(v.get(runs_url(ids, "a", "c", "d")))
    table = re.search(r'id="metric-table">(.*?)</table>', text, re.S).group(1)
    loss = re.search(r"<tr><th>loss</th>(.*?)</tr>", table).group(1)
    cells = re.findall(r'<td class="num">(.*?)<br><span class="muted small">(.*?)</span></td>', loss)
    assert cells == [("0.5", "0.1 \u2013 1"), ("NaN", "0.1 \u2013 1"), ("\u221e", "0.1 \u2013 \u221e")]
    assert re.findall(r"<tr><th>(.*?)</th>", table.split("<tbody>")[1]) == ["acc", "loss"]


def test_report_file_has_the_same_table_without_any_server(db):
    path, ids = db
    with runlite.open(path, read_only=True) as store:
        document = report.report_html(store, [ids["a"], ids["b"], ids["c"]])
    assert rows_of(document, "differs") == ["lr", "opt.name", HOSTILE_KEY]
    assert rows_of(document, "same") == ["opt.beta", "shared"]
    assert '<details class="params-toggle" id="params-all">' in document
    assert "/compare" not in document and "compare.js" not in document  # nothing that needs the viewer
    assert "<script>alert(2)" not in document


def test_runs_page_links_to_compare_these_runs_and_their_folder(view):
    v, ids = view
    text = body(v.get(runs_url(ids, "a", "b")))
    these = html.unescape(re.search(r'<a href="([^"]+)" id="compare-these">', text).group(1))
    folder = html.unescape(re.search(r'<a href="([^"]+)" id="compare-folder">', text).group(1))
    page = body(v.get(these))
    assert 'id="count">2 runs matching (LangSmith filter)' in page
    assert page.count('<path class="run"') == 2
    page = body(v.get(folder))
    assert 'id="count">4 runs matching' in page  # a, b, c, d: e is in another folder
    assert "compare-folder" not in body(v.get(runs_url(ids, "a", "e")))  # no shared folder


# ---------------------------------------------------------------- /compare


def axes_of(text: str) -> list[str]:
    return [html.unescape(k) for k in re.findall(r'<g class="axis" data-key="(.*?)">', text)]


def tips_of(text: str, shape: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(rf'<{shape} class="run" data-run="\d+" data-tip="([^"]*)"', text)]


def test_compare_defaults_varying_keys_first_metric_last(view):
    v, ids = view
    r = v.get("/compare?q=" + urllib.parse.quote('folder == "/sweep"'))
    assert r.status == 200, body(r)
    text = body(r)
    assert 'id="count">4 runs matching (Simvue filter)' in text
    # the varying keys (not opt.beta, not shared) and the first metric (acc), its last value
    assert axes_of(text) == ["lr", "opt.name", HOSTILE_KEY, "acc.last"]
    assert re.search(r'<select name="metric" id="metric">.*?<option value="acc" selected>', text, re.S)
    assert re.search(r'<option value="last" selected>', text)
    checked = re.findall(r'<input type="checkbox" name="axis" value="([^"]*)" checked>', text)
    assert [html.unescape(k) for k in checked] == ["lr", "opt.name", HOSTILE_KEY]
    assert "opt.beta (same)" in text
    assert text.count('<path class="run"') == 4 and text.count('<circle class="run"') == 4


def test_compare_axis_metric_stat_and_x_choices(view):
    v, ids = view
    q = urllib.parse.urlencode([("q", 'folder == "/sweep"'), ("axis", "opt.name"), ("axis", "lr"),
                                ("metric", "loss"), ("stat", "min"), ("x", "opt.name")])
    text = body(v.get("/compare?" + q))
    assert axes_of(text) == ["opt.name", "lr", "loss.min"]
    assert "<h2>loss.min against opt.name</h2>" in text
    # lr spans three decades: a log axis; opt.name is ordinal (its categories as ticks)
    assert ">lr (log)</text>" in text
    axis = re.search(r'<g class="axis" data-key="opt.name">(.*?)</g>', text).group(1)
    assert re.findall(r'stroke-width="3">(\w+)</text>', axis) == ["adam", "sgd"]
    # min is finite for every run (c's NaN and d's inf came last): all four drawn
    assert len(tips_of(text, "path")) == 4
    assert tips_of(text, "circle") == []  # the points show their run's line's text (one copy a run)
    tip = next(t for t in tips_of(text, "path") if t.startswith("a "))
    assert tip.splitlines()[1:] == ["opt.name = adam", "lr = 0.1", "loss.min = 0.1"]


def test_compare_leaves_nan_and_inf_summaries_out_and_lists_them(view):
    v, ids = view
    text = body(v.get("/compare?metric=loss&q=" + urllib.parse.quote('folder == "/sweep"')))
    drawn = {t.split(" ")[0] for t in tips_of(text, "path")}
    assert drawn == {"a", "b"}
    left = re.search(r'<details id="left-out">(.*?)</details>', text, re.S).group(1)
    assert "2 runs not drawn: loss.last is NaN, infinite or missing" in left
    assert re.findall(r'>(\w)</a></td><td class="num">(.*?)</td>', left) == [("d", "\u221e"), ("c", "NaN")]
    # colours by the metric: the two drawn runs at the ends of the scale
    colors = set(re.findall(r'<path class="run"[^>]* stroke="(#[0-9a-f]{6})"', text))
    assert colors == {sweep_svg.VIRIDIS[0], sweep_svg.VIRIDIS[-1]}


def test_compare_links_each_run(view):
    v, ids = view
    text = body(v.get("/compare?q=" + urllib.parse.quote('folder == "/sweep"')))
    links = re.findall(r'<a href="/run/([^"]+)"><circle class="run"', text)
    assert sorted(links) == sorted(ids[n] for n in "abcd")


def test_compare_search_and_bounds(view, monkeypatch):
    v, ids = view
    text = body(v.get("/compare?q=" + urllib.parse.quote("metadata.lr > 0.005")))
    assert 'id="count">2 runs matching' in text
    text = body(v.get("/compare?limit=2"))
    assert "the newest 2 runs (the search matches more" in text and text.count('<path class="run"') <= 2
    monkeypatch.setattr(sweep, "MAX_RUNS", 3)
    text = body(v.get("/compare"))
    assert "the newest 3 runs" in text
    r = v.get("/compare?limit=4")
    assert r.status == 400 and "too many runs: this page compares at most 3" in error_of(r)


def test_compare_with_no_matching_runs_or_no_parameters(view):
    v, ids = view
    r = v.get("/compare?q=" + urllib.parse.quote('name == "nobody"'))
    assert r.status == 200 and 'id="count">0 runs matching' in body(r) and "<svg" not in body(r)
    text = body(v.get("/compare?q=" + urllib.parse.quote('folder == "/other"')))
    # e has one key with one value and only a system metric: that metric is still the default
    assert axes_of(text) == ["note", "system/cpu.last"]


@pytest.mark.parametrize("query, message", [
    ("metric=nope", "none of these runs has a metric 'nope'"),
    ("stat=median", "stat must be one of last, min, max, mean"),
    ("limit=abc", "limit must be a whole number of runs"),
    ("limit=%C2%B2", "limit must be a whole number of runs"),  # a superscript two: isdigit, not int
    ("limit=0", "limit must be a whole number of runs from 1 to 2000, got '0'"),
    ("limit=999999", "too many runs: this page compares at most 2,000"),
    ("axis=zzz", "no run here has the parameter 'zzz' (axis=)"),
    ("x=zzz", "no run here has the parameter 'zzz' (x=)"),
    ("&".join(f"axis={k}" for k in range(17)), "choose at most 16 axes"),
    ("foo=1", "unknown parameter 'foo'"),
    ("metric=loss&metric=acc", "give the parameter 'metric' once"),
    ("grammar=sql", "grammar must be one of auto, langsmith, simvue"),
    ("q=" + "x" * 4100, "the search is longer than 4096 characters"),
])
def test_compare_refuses_bad_parameters_with_400(view, query, message):
    v, _ = view
    r = v.get("/compare?" + query)
    assert r.status == 400
    assert message in error_of(r)


def test_compare_bad_filter_keeps_the_form(view):
    v, _ = view
    r = v.get("/compare?q=" + urllib.parse.quote("and(") + "&grammar=langsmith")
    assert r.status == 400
    assert 'id="filter-error"' in body(r) and 'id="sweep-form"' in body(r)


def test_compare_hostile_axis_key_is_text(view):
    v, _ = view
    q = urllib.parse.urlencode([("q", 'folder == "/sweep"'), ("axis", HOSTILE_KEY), ("x", HOSTILE_KEY)])
    text = body(v.get("/compare?" + q))
    assert HOSTILE_KEY not in text and "<script>alert(2)" not in text
    assert axes_of(text) == [HOSTILE_KEY, "acc.last"]


def test_compare_script_is_served(view):
    v, _ = view
    r = v.get("/static/compare.js")
    assert r.status == 200 and r.content_type.startswith("text/javascript")
    assert '<script src="/static/compare.js"></script>' in body(v.get("/compare"))


# ---------------------------------------------------------------- the reads and the scales


def test_metric_summaries_and_name_counts_of_many_runs(db):
    path, ids = db
    with runlite.open(path, read_only=True) as store:
        wanted = [ids[n] for n in "abcde"] + ["no-such-run"]
        assert store.metric_name_counts(wanted) == {"acc": 4, "loss": 4, "system/cpu": 1}
        found = store.metric_summaries(wanted, "loss")
        assert set(found) == {ids[n] for n in "abcd"}
        assert found[ids["a"]]["loss"] == store.metric_summary(ids["a"], "loss")
        assert math.isnan(found[ids["c"]]["loss"].last) and found[ids["d"]]["loss"].last == math.inf
        every = store.metric_summaries([ids["a"], ids["e"]])
        assert set(every[ids["a"]]) == {"acc", "loss"} and set(every[ids["e"]]) == {"system/cpu"}
        assert store.metric_summaries([]) == {} and store.metric_name_counts([]) == {}
        with pytest.raises(errors.ValidationError):
            store.metric_summaries(ids["a"])  # one id is not a list of them
        with pytest.raises(errors.ValidationError):
            store.metric_name_counts([1, 2])


def test_axis_scales():
    missing = sweep_svg.MISSING
    log = sweep_svg.axis_of("lr", [1e-4, 1e-1, missing, math.nan])
    assert log.kind == "log" and log.missing
    assert log.place(1e-4) == 0 and log.place(1e-1) == 1 and log.place(1e-3) == pytest.approx(1 / 3)
    assert log.place(missing) is None and log.place(math.nan) is None
    assert [t for _, t in log.ticks()] == ["0.0001", "0.001", "0.01", "0.1"]
    linear = sweep_svg.axis_of("bs", [16, 32, 64], allow_log=False)
    assert linear.kind == "linear" and not linear.missing and linear.place(32) == pytest.approx(16 / 48)
    cats = sweep_svg.axis_of("opt", ["sgd", "adam", True, [1, 2]])
    assert cats.kind == "category" and cats.categories == ("[1, 2]", "adam", "sgd", "true")
    assert cats.place("adam") == pytest.approx(1 / 3) and cats.place("other") is None
    one = sweep_svg.axis_of("k", [5, 5])
    assert one.place(5) == 0.5 and one.ticks() == [(0.5, "5")]
    scale = sweep_svg.ColorScale("m", 0.0, 2.0)
    assert scale.color(0.0) == sweep_svg.VIRIDIS[0] and scale.color(2.0) == sweep_svg.VIRIDIS[-1]
    assert scale.color(-5.0) == sweep_svg.VIRIDIS[0] and sweep_svg.ColorScale("m", 1, 1).color(1) != ""
