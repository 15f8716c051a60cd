"""The viewer's run table (``/``, runlite/ui/run_table.py) through ``Viewer.get``, and the Store
reads behind it (``run_page``, ``run_columns``, ``metric_summaries``): columns, sorting each way
with NULLs last, paging, groups and their counts, refusals, escaping, filter errors."""

import html
import re
import urllib.parse

import pytest

import runlite
from runlite import errors
from runlite.ui import run_table, viewer

from .plans import read_plans, read_steps
from .trace_data import roots_among_spans

HOSTILE_KEY = '<script>alert("k")</script>'
HOSTILE_VALUE = '<img src=x onerror="alert(1)"> & "co"'
N_SWEEP = 120


def build(path: str) -> dict:
    """120 sweep runs over 3 folders (lr missing on every 10th, loss on every 7th), a run with
    hostile metadata, a trace with a child span. Returns name -> id."""
    ids = {}
    with runlite.open(path) as store:
        for i in range(N_SWEEP):
            meta = {"lr": round(0.001 * (i % 13), 4), "opt": ["adam", "sgd", "lion"][i % 3], "batch": 2 ** (i % 4)}
            if i % 10 == 0:
                del meta["lr"]
            with store.init(f"sweep-{i:03d}", metadata=meta, folder=f"/f{i % 3}", tags=["t"] if i % 2 else []) as run:
                if i % 7:
                    run.log_metrics({"loss": 1.0 / (i + 1), "acc": (i % 17) / 17})
                    run.log_metrics({"loss": 2.0 / (i + 1), "acc": 0.5})
            ids[run.name] = run.id
        with store.init("hostile", metadata={HOSTILE_KEY: HOSTILE_VALUE, "lr": 0.5, "opt": {"nested": [1]}}) as run:
            run.log_metrics({"loss": 9.0})
        ids["hostile"] = run.id
        with store.init("answer", run_type="chain") as root:
            root.child("chat-model", run_type="llm").end(outputs={"a": 1})
            root.end(outputs={"a": 1})
        ids["answer"] = root.id
    return ids


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("run_table") / "runs.db")
    ids = build(path)
    store = runlite.open(path, read_only=True)
    yield viewer.Viewer(store), ids
    store.close()


def get(v, **params) -> tuple[int, str]:
    pairs = [(k, x) for k, vs in params.items() for x in (vs if isinstance(vs, list) else [vs])]
    response = v.get("/?" + urllib.parse.urlencode(pairs))
    assert response.content_type == "text/html; charset=utf-8"
    return response.status, response.body.decode()


def rows(body: str) -> list[str]:
    """Run ids of the table's rows, in order."""
    return re.findall(r'<tr data-run-id="([^"]+)"', body)


def names(v, body: str) -> list[str]:
    by_id = {r.id: r.name for r in v.store.runs()}
    return [by_id[i] for i in rows(body)]


def headings(body: str) -> list[str]:
    return re.findall(r'<th[^>]*data-col="([^"]*)"', body)


def expected_order(v, key, descending: bool) -> list[str]:
    """Names of every top-level run sorted by ``key(record)`` that way, None last, id tie-break."""
    runs = v.store.runs(is_root=True)
    have = [r for r in runs if key(r) is not None]
    missing = [r for r in runs if key(r) is None]
    have.sort(key=lambda r: (key(r), r.id), reverse=descending)
    missing.sort(key=lambda r: r.id, reverse=descending)
    return [r.name for r in have + missing]


def every_page(v, **params) -> list[str]:
    out, page = [], 1
    while True:
        status, body = get(v, per=200, page=page, **params)
        assert status == 200
        out += names(v, body)
        if 'id="page-next"' not in body:
            return out
        page += 1


# ---------------------------------------------------------------- columns


def test_default_columns_top_level_runs_newest_first(table):
    v, ids = table
    status, body = get(v)
    assert status == 200
    assert headings(body) == [f for _, f in run_table.BASE_COLUMNS] == ["name", "status", "run_type", "folder", "tags",
                                                                         "created", "duration"]
    got = rows(body)
    assert len(got) == 50 and len(set(got)) == 50
    top = [r.id for r in v.store.runs(is_root=True)]  # newest first
    assert got == top[:50]
    assert "chat-model" not in body  # the span of the trace: only a search lists it
    assert "runs 1\u201350 of 122 (top-level" in html.unescape(body)


def test_chosen_columns_show_metadata_and_metric_summaries(table):
    v, ids = table
    status, body = get(v, col=["metadata.lr", "metric.loss.min", "metric.loss.last", "metric.acc.max"],
                       sort="name")
    assert status == 200
    assert headings(body)[-4:] == ["metadata.lr", "metric.loss.min", "metric.loss.last", "metric.acc.max"]
    first = body.split('<tr data-run-id="')[1].split("</tr>")[0]  # answer (no metadata, no metrics)
    assert first.count("\u2013") == 4
    row = body.split(f'<tr data-run-id="{ids["sweep-001"]}"')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[-4:] == ["0.001", "0.5", "1", "0.5"]  # lr; loss min/last of 1/2, 2/2; acc max


def test_metric_cells_are_one_query_per_page(table, monkeypatch):
    v, _ = table
    calls = []
    real = v.store.metric_summaries
    monkeypatch.setattr(v.store, "metric_summaries", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(v.store, "metric_summary", lambda *a, **k: pytest.fail("a per-cell read"))
    status, _ = get(v, col=["metric.loss.min", "metric.acc.last", "metric.loss.max"], per=100)
    assert status == 200 and len(calls) == 1
    assert len(calls[0][0]) == 100 and sorted(calls[0][1]) == ["acc", "loss"]


def test_column_chooser_lists_keys_and_metrics_present(table):
    v, _ = table
    _, body = get(v)
    chooser = body.split('id="columns"')[1].split("</details>")[0]
    for col in ("metadata.lr", "metadata.opt", "metadata.batch", "metric.loss.min", "metric.acc.last",
                "metric.acc.max"):
        assert f'value="{col}"' in chooser
    assert html.escape("metadata." + HOSTILE_KEY) in chooser
    keys, metrics = v.store.run_columns(cap=2)
    assert len(keys) == 2 and len(metrics) == 2  # capped, the most common first
    assert set(keys) <= {"lr", "opt", "batch"}


def test_column_chooser_looks_up_the_series_of_its_sample_runs_only(table):
    """The metric names come from the sampled runs' own series (an index seek a run), not a
    pass over every series of the file: plans do not see the bound sample size, so the join
    order is written out (CROSS JOIN)."""
    v, _ = table
    plan, = read_plans(v.store, lambda: v.store.run_columns(sample=5), "series AS s")
    assert "SEARCH s USING COVERING INDEX sqlite_autoindex_series_1 (run_id=?)" in plan, plan
    assert "SCAN s" not in plan, plan


# ---------------------------------------------------------------- sorting


@pytest.mark.parametrize("field, key", [
    ("name", lambda r: r.name),
    ("created", lambda r: r.created),
    ("status", lambda r: r.status),
    ("folder", lambda r: r.folder),
    ("metadata.lr", lambda r: r.metadata.get("lr")),
    ("metadata.batch", lambda r: r.metadata.get("batch")),
    ("run_type", lambda r: r.run_type),
    ("duration", lambda r: None if r.ended is None else round((r.ended - (r.started or r.created)).total_seconds(), 6)),
])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_each_way_nulls_last(table, field, key, descending):
    v, _ = table
    got = every_page(v, sort=("-" if descending else "") + field)
    assert got == expected_order(v, key, descending)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("stat", ["min", "max", "last"])
def test_sort_by_metric_summary_nulls_last(table, stat, descending):
    v, _ = table
    kept = {}
    for r in v.store.runs(is_root=True):
        if "loss" in v.store.metric_names(r.id):
            kept[r.id] = getattr(v.store.metric_summary(r.id, "loss"), stat)
    got = every_page(v, sort=("-" if descending else "") + f"metric.loss.{stat}")
    assert got == expected_order(v, lambda r: kept.get(r.id), descending)
    by_name = {r.name: r.id for r in v.store.runs(is_root=True)}
    missing = [name for name in got if by_name[name] not in kept]
    assert len(missing) > 10 and got[-len(missing):] == missing  # runs without the metric: last


def test_heading_links_sort_and_toggle(table):
    v, _ = table
    _, body = get(v, col="metadata.lr")
    link = re.search(r'data-col="metadata.lr"><a class="sort" href="([^"]+)"', body).group(1)
    assert "sort=metadata.lr" in html.unescape(link) and "col=metadata.lr" in html.unescape(link)
    _, body = get(v, col="metadata.lr", sort="metadata.lr")
    assert 'aria-sort="ascending" data-col="metadata.lr"' in body
    link = re.search(r'data-col="metadata.lr"><a class="sort" href="([^"]+)"', body).group(1)
    assert "sort=-metadata.lr" in html.unescape(link)


# ---------------------------------------------------------------- paging


def test_paging_covers_every_run_once(table):
    v, _ = table
    seen = []
    for page in (1, 2, 3):
        status, body = get(v, page=page, sort="metadata.opt")
        assert status == 200
        seen += rows(body)
    assert len(seen) == len(set(seen)) == 122
    assert "runs 101\u2013122 of 122" in html.unescape(body) and 'id="page-next"' not in body
    _, body = get(v, per=100)
    assert len(rows(body)) == 100 and "runs 1\u2013100 of 122" in html.unescape(body)
    _, past = get(v, page=99)  # past the end: the last page
    assert rows(past) == rows(get(v, page=3)[1]) and "runs 101\u2013122" in html.unescape(past)


def test_search_keeps_its_grammars_and_counts_matches(table):
    v, ids = table
    status, body = get(v, q="metadata.lr > 0.01", grammar="simvue", per=200)
    want = {i for name, i in ids.items() if name.startswith("sweep")
            and (int(name[6:]) % 10) and 0.001 * (int(name[6:]) % 13) > 0.01} | {ids["hostile"]}
    assert status == 200 and set(rows(body)) == want
    assert f"of {len(want)} matching (Simvue filter)" in body
    status, body = get(v, q='eq(run_type, "llm")')  # a search reaches a trace's spans
    assert status == 200 and re.findall(r'<a href="/run/[^"]+">([^<]+)</a>', body) == ["chat-model"]
    status, body = get(v, q='and(eq(folder, "/f1"), gt(metadata_value, 0.01))', grammar="langsmith", per=200)
    assert status == 200 and rows(body) and all(r.startswith("sweep") for r in names(v, body))


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    """A trace of 30 llm spans with inputs and outputs (each its own metadata key) and a tool span."""
    path = str(tmp_path_factory.mktemp("spans") / "spans.db")
    with runlite.open(path) as store:
        with store.init("session", run_type="chain") as root:
            for k in range(30):
                root.child(f"llm-{k}", run_type="llm", inputs={"prompt": "p" * 500},
                           metadata={f"k{k:02d}": k}).end(outputs={"text": "a" * 500})
            root.child("search", run_type="tool").end(outputs={"hits": []})
    store = runlite.open(path, read_only=True)
    yield store
    store.close()


def test_a_searched_list_sorts_rowids_then_reads_its_pages_rows(spans):
    """A filter is looked up by its own index (the run type's), not in the list's order: the
    sort sees rowids only and the page's rows are read after it, not every match's whole row
    (inputs and outputs) fed to the sorter."""
    store, search = spans, 'eq(run_type, "llm")'
    newest = sorted(store.list_runs(run_type="llm"), key=lambda r: (r.created, r.id), reverse=True)
    pages = [store.run_page(search, limit=7, offset=at) for at in range(0, 35, 7)]
    assert [p.total for p in pages] == [30] * 5
    assert [r.id for p in pages for r in p.runs] == [r.id for r in newest]
    plan, = read_plans(store, lambda: store.run_page(search, limit=7, offset=14), "SELECT runs.id, runs.name")
    assert plan.startswith("SEARCH runs USING INTEGER PRIMARY KEY (rowid=?) | LIST SUBQUERY 1 | "), plan


def test_the_unfiltered_list_among_many_spans_reads_its_top_level_runs_not_the_spans(tmp_path):
    """Few top-level runs among many spans: the page and the total come from the index of
    parents (the work the same for 10 and 200 spans a trace), in the same order as the walk
    of creation times a file of experiments takes."""
    def work(spans: int) -> tuple[int, list]:
        with runlite.open(str(tmp_path / f"s{spans}.db")) as store:
            newest = roots_among_spans(store, experiments=20, traces=20, spans=spans)
            pages = [store.run_page(limit=7, offset=at) for at in range(0, 42, 7)]
            assert [p.total for p in pages] == [40] * 6
            assert [r.id for p in pages for r in p.runs] == newest
            return read_steps(store, lambda: store.run_page(limit=7, offset=7)), [r.id for r in pages[1].runs]
    few, many = work(10), work(200)
    assert many[0] <= few[0] + 2


def test_column_chooser_samples_a_search_along_its_index(spans):
    """The chooser's sample is the newest matches by start time, the order of the run types'
    index: a walk that stops when the sample is full, not every match read and sorted."""
    store, search = spans, 'eq(run_type, "llm")'
    newest = sorted(store.list_runs(run_type="llm"), key=lambda r: (r.started or r.created, r.id), reverse=True)
    keys, metrics = store.run_columns(search, sample=5)
    assert keys == sorted(key for r in newest[:5] for key in r.metadata) and metrics == []
    assert len(keys) == 5
    plans = read_plans(store, lambda: store.run_columns(search, sample=5), "FROM runs")
    assert len(plans) == 2, plans
    for plan in plans:
        assert "SEARCH runs USING COVERING INDEX runs_type (run_type=?)" in plan, plan
        assert plan.count("USE TEMP B-TREE FOR ORDER BY") == 1, plan  # the keys' (names') order only


@pytest.mark.parametrize("q, grammar", [("metadata.lr >", "simvue"), ('and(eq(name, "x"', "langsmith"),
                                        ("eq(colour, 1)", "auto")])
def test_filter_error_is_shown_next_to_the_box(table, q, grammar):
    v, _ = table
    status, body = get(v, q=q, grammar=grammar, col="metadata.lr")
    assert status == 400 and 'id="filter-error"' in body and "Traceback" not in body
    with pytest.raises(errors.FilterError) as caught:
        v.store.run_page(q, grammar=grammar)
    assert html.escape(str(caught.value).splitlines()[0]) in body
    assert f'value="{html.escape(q)}"' in body  # the box keeps what was typed


# ---------------------------------------------------------------- groups


@pytest.mark.parametrize("group, value", [("folder", lambda r: r.folder),
                                          ("metadata.opt", lambda r: r.metadata.get("opt"))])
def test_groups_with_counts_and_runs_in_group_order(table, group, value):
    v, _ = table
    status, body = get(v, group=group, sort="name", per=200)
    assert status == 200
    runs = v.store.runs(is_root=True)
    scalar = [value(r) if isinstance(value(r), str) else None for r in runs]
    truth = {}
    for s in scalar:
        truth[s] = truth.get(s, 0) + 1
    headers = re.findall(r'class="group-value">(.*?)</span> <span class="muted group-count">([\d,]+) runs?<', body)
    shown = {html.unescape(label): int(n.replace(",", "")) for label, n in headers}
    expect = {(k if k is not None else f"no {group.split('.')[-1]}"): n for k, n in truth.items()}
    assert shown == expect
    # runs come by group (ascending, missing last), then by name
    order = sorted(runs, key=lambda r: (value(r) is None or not isinstance(value(r), str),
                                        value(r) if isinstance(value(r), str) else "", r.name))
    assert names(v, body) == [r.name for r in order]
    page = v.store.run_page(group_by=group, limit=5)
    assert sum(n for _, n in page.groups) == page.total == 122


def test_group_rows_mark_their_runs(table):
    v, _ = table
    _, body = get(v, group="folder", per=50)
    for index in set(re.findall(r'<tr class="group-row" data-group="(\d+)"', body)):
        assert re.search(rf'<tr data-run-id="[^"]+" data-group="{index}"', body)


# ---------------------------------------------------------------- refusals and escaping


@pytest.mark.parametrize("params, says", [
    ({"col": "name"}, "a column is metadata.<key>"),
    ({"col": "metric.loss.median"}, "a column is metadata.<key>"),
    ({"col": "metadata."}, "a metadata key must be 1 to 256"),
    ({"col": ["metadata.k%d" % i for i in range(21)]}, "at most 20 columns"),
    ({"sort": "colour"}, "sort by one of"),
    ({"sort": "metric.loss.median"}, "sort by one of"),
    ({"sort": ["name", "status"]}, "give the parameter 'sort' once"),
    ({"group": "status"}, "group by folder or metadata.<key>"),
    ({"per": "13"}, "per must be one of 50, 100, 200"),
    ({"per": "abc"}, "per must be a finite number"),
    ({"page": "0"}, "page must be a whole number"),
    ({"page": "1.5"}, "page must be a whole number"),
    ({"page": "nan"}, "page must be a finite number"),
    ({"grammar": "sql"}, "grammar must be one of"),
    ({"colour": "red"}, "unknown parameter"),
])
def test_bad_parameters_are_400_with_their_message(table, params, says):
    v, _ = table
    status, body = get(v, **params)
    assert status == 400 and html.escape(says) in body and "Traceback" not in body


def test_hostile_metadata_keys_and_values_render_as_text(table):
    v, ids = table
    status, body = get(v, col=["metadata." + HOSTILE_KEY, "metadata.opt"], sort="-metadata." + HOSTILE_KEY,
                       group="metadata." + HOSTILE_KEY)
    assert status == 200
    assert "<script>alert" not in body and "<img src=x" not in body
    assert html.escape(HOSTILE_VALUE) in body and html.escape(HOSTILE_KEY) in body
    assert rows(body)[0] == ids["hostile"]  # the only run with the key sorts first
    row = body.split(f'<tr data-run-id="{ids["hostile"]}"')[1].split("</tr>")[0]
    assert html.escape('{"nested": [1]}') in row  # an object value shown as JSON text


def test_compare_form_posts_ids_to_runs(table):
    v, ids = table
    _, body = get(v)
    assert '<form method="get" action="/runs" id="compare-form" data-max="20">' in body
    assert f'name="id" value="{ids["sweep-119"]}"' in body
    response = v.get(f"/runs?id={ids['sweep-001']}&id={ids['sweep-002']}")
    assert response.status == 200 and b"sweep-001" in response.body and b"sweep-002" in response.body


def test_run_page_api_checks_its_arguments(table):
    v, _ = table
    store = v.store
    for kwargs in ({"limit": 0}, {"limit": 5000}, {"offset": -1}, {"limit": True}):
        with pytest.raises(errors.ValidationError):
            store.run_page(**kwargs)
    with pytest.raises(errors.FilterError):
        store.run_page(group_by="status")
    with pytest.raises(errors.FilterError):
        store.run_page(sort_by="colour")
    page = store.run_page(sort_by=["-metadata.lr", "name"], limit=3, offset=0)
    assert [r.metadata["lr"] for r in page.runs] == [0.5, 0.012, 0.012] and page.total == 122
    summaries = store.metric_summaries([r.id for r in page.runs], ["loss"])
    assert set(summaries) <= {r.id for r in page.runs} and all(set(s) == {"loss"} for s in summaries.values())


@pytest.mark.parametrize("key", ["lr", "a.b", "a[0]", "sp ace", "x\\y", 'q"uote', "ünï", "$", "", "*"])
def test_sort_by_awkward_metadata_keys(tmp_path, key):
    """Sorting reads a key as a quoted JSON path label, or by json_each when a label cannot
    spell it: either way the values of exactly that key, scalars only, missing ones last."""
    if key == "":
        pytest.skip("an empty key is not a column (metadata. alone is refused)")
    with runlite.open(str(tmp_path / "k.db")) as store:
        values = [3, "b", None, 1.5, {"obj": 1}, True, "a"]
        for i, value in enumerate(values):
            meta = {"other": -i, "a": {"b": 99}} if value is None else {key: value, "other": -i, "a": {"b": 99}}
            store.init(f"r{i}", metadata=meta, running=False)
        got = [r.name for r in store.run_page(sort_by="metadata." + key, limit=20).runs]
        # numbers before text (SQLite's order), then runs whose value is missing or not a scalar
        assert got[:4] == ["r3", "r0", "r6", "r1"] and sorted(got[4:]) == ["r2", "r4", "r5"]
        assert [r.name for r in store.get_runs(sort_by="-metadata." + key)][:4] == ["r1", "r6", "r0", "r3"]


def test_the_table_links_to_traces_cookbooks_and_the_sweep_of_its_search(table):
    """The links above the search lead to pages that answer, the sweep view with this search."""
    v, _ids = table
    status, body = get(v, q="metadata.lr > 0.01")
    assert status == 200
    links = re.findall(r'<p class="nav" id="views">(.*?)</p>', body)[0]
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', links)]
    assert hrefs[0] == "/traces" and hrefs[2] == "/cookbooks"
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(hrefs[1]).query)["q"] == ["metadata.lr > 0.01"]
    assert all(v.get(h).status == 200 for h in hrefs)
