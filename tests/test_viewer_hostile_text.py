"""A file from someone else, its every text a piece of markup, opened in the viewer and a report.

Every text a run can hold (names, metadata keys and values, tags, descriptions, folders, metric
and media names, captions, table cells, event messages, files, attachments, alerts, spans'
inputs, outputs and errors, feedback, recipe runs) is written as a marker that breaks out of
an attribute and a script and opens a tag of its own. The viewer is then crawled: every page
linked from its entry points, each run's pages, its charts and its media answers. No answer may
be a 5xx, no HTML, SVG or HTML fragment sent as JSON may hold a marker's tag unescaped (a
``<script>`` there would run in the browser of whoever opens the file), and no link may be a
``javascript:`` one. Each marker the viewer shows must have been found escaped in what was
crawled, so a page that stopped being reached fails the test rather than passing it.
"""

import html
import itertools
import json
import re
import urllib.parse

import numpy as np
import pytest

import runlite
from runlite.ui import report, viewer

from .test_recipe_runs import _seed_dict

TAG = re.compile(r"<xp(\d+)>")
JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)
# Texts the viewer does not show at all (so none is looked for): an alert's description and
# the metric it watches, an event alert's pattern, a folder's own details, a recipe's
# inline values.
NOT_SHOWN = {"alert description", "alert metric", "event alert pattern", "event alert description",
             "user alert description", "folder description", "folder metadata key", "folder metadata value",
             "folder tag", "recipe i_vals"}
# A recipe run's KPI (formula, aggregates, dependencies) must stay as it is for the run to be accepted.
RECIPE_KEPT = {"kpi"}


class Markers:
    """Marker texts, each naming the field it was written to."""

    def __init__(self):
        self.fields: dict[int, str] = {}
        self._count = itertools.count()

    def __call__(self, field: str, *, bare: bool = False) -> str:
        k = next(self._count)
        self.fields[k] = field
        # A quote of each kind, the end of an attribute and of a script, then a tag of its own.
        return f"<xp{k}>" if bare else f"\"'></script><xp{k}>javascript:"


def _poisoned(value, m: Markers, where: str):
    """The seed recipe run with a marker after each of its texts (times and KPI terms kept)."""
    if isinstance(value, dict):
        return {k: v if k in RECIPE_KEPT else _poisoned(v, m, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_poisoned(v, m, where) for v in value]
    if isinstance(value, str) and len(value) < 100 and not re.match(r"\d{4}-\d\d-\d\dT", value):
        field = "recipe i_vals" if where.startswith("recipe.i_vals") else "recipe " + where.split(".")[1]
        return value + m(field, bare=True)
    return value


def _write(path: str, m: Markers) -> None:
    with runlite.open(path) as store:
        for _ in range(2):
            run = store.init(
                m("run name"), description=m("description"), tags=[m("tag")],
                folder="/" + m("folder").replace("/", "_"),
                metadata={m("metadata key"): m("metadata value"), "link": "javascript:alert(1)",
                          "nested": {m("nested key"): [m("nested value")]}})
            with run:
                run.set_folder_details(metadata={m("folder metadata key"): m("folder metadata value")},
                                       tags=[m("folder tag")], description=m("folder description"))
                run.create_metric_threshold_alert(m("alert name"), m("alert metric"), 0.5, "is above", window=1,
                                                  description=m("alert description"))
                run.create_user_alert(m("user alert name"), description=m("user alert description"))
                run.create_event_alert(m("event alert name"), m("event alert pattern"),
                                       description=m("event alert description"))
                metric = m("metric name")
                for step in range(50):
                    run.log_metrics({metric: step * 0.1, "plain": 1.0})
                run.log_event(m("event message"))
                run.log_event(m("error event message"), level="error")
                run.save_bytes(m("file name").replace("/", "_"), b"<xpfile>", "output", mime_type="text/html")
                run.attach(m("attachment name").replace("/", "_"), b"<xpattachment>", mime_type="text/html")
                run.log_table(m("table name"), [[m("table cell"), 1], ["b", 2]], columns=[m("table column"), "n"])
                run.log_histogram(m("histogram name"), [1.0, 2.0, 3.0])
                run.log_image(m("image name"), np.zeros((4, 4, 3), dtype=np.uint8), caption=m("image caption"))
                span = run.child(m("span name"), run_type="llm", inputs={m("input key"): m("input value")})
                span.end(outputs={m("output key"): m("output value")})
                failed = run.child("failing", run_type="tool", inputs={"q": 1})
                failed.end(error=m("span error"))
                store.create_feedback(span.id, m("feedback key"), score=1, comment=m("feedback comment"))
        with runlite.trace(m("trace name"), store=store, inputs={"q": m("trace input")}):
            messages = [{"role": "user", "content": m("message content")}]
            with runlite.trace(m("traced llm name"), store=store, run_type="llm", inputs={"messages": messages}) as llm:
                llm.end(outputs={"generations": [{"text": m("generation text")}]})
        store.import_recipe_runs([_poisoned(_seed_dict(), m, "recipe")])


def _answers(v: viewer.Viewer, store, m: Markers) -> dict[str, object]:
    """Every answer of the crawl, by address: the entry points, each run's pages, charts and
    media, and every same-origin link or source found in what came back."""
    runs = store.list_runs(limit=1000)
    ids = [r.id for r in runs]
    todo = ["/", "/traces", "/cookbooks", "/?q=" + urllib.parse.quote(m("run search")),
            "/traces?q=" + urllib.parse.quote(m("trace search")),
            "/runs?" + urllib.parse.urlencode([("id", i) for i in ids[:8]]),
            "/compare?" + urllib.parse.urlencode([("id", i) for i in ids[:8]])]
    for run_id in ids:
        todo += [f"/{kind}/{run_id}" for kind in ("run", "fragment/run", "trace", "api/trace", "api/span")]
        for metric in store.metric_names(run_id):
            query = urllib.parse.urlencode({"run": run_id, "metric": metric})
            todo += ["/api/chart?" + query, "/chart?" + query]
        for media in store.media_names(run_id):
            query = urllib.parse.urlencode({"run": run_id, "name": media.name, "step": media.last_step})
            todo.append(f"/api/media/{media.kind}?" + query)
    answers = {}
    while todo:
        target = todo.pop()
        if target in answers:
            continue
        answers[target] = response = v.get(target)
        body = response.body.decode("utf-8", "replace")
        for link in re.findall(r'(?:href|src)="([^"]+)"', body):
            link = html.unescape(link)
            if link.startswith("/") and not link.startswith("//"):
                todo.append(link)
    return answers


def _unescaped(body: str, m: Markers) -> set:
    return {m.fields[int(k)] for k in TAG.findall(body)}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("hostile") / "shared.db")
    m = Markers()
    _write(path, m)
    with runlite.open(path, read_only=True) as store:
        answers = _answers(viewer.Viewer(store), store, m)
        document = report.report_html(store, [r.id for r in store.list_runs(limit=1000)])
    return m, answers, document


def test_no_answer_fails_and_every_page_kind_is_reached(crawled):
    m, answers, _ = crawled
    failed = {t: r.status for t, r in answers.items() if r.status >= 500}
    assert not failed
    kinds = {re.sub(r"/[0-9a-f-]{36}$", "/ID", t.split("?")[0]) for t, r in answers.items() if r.status == 200}
    assert {"/", "/traces", "/cookbooks", "/run/ID", "/fragment/run/ID", "/trace/ID", "/api/trace/ID",
            "/api/span/ID", "/api/chart", "/chart", "/runs", "/compare", "/api/media/image",
            "/api/media/table", "/api/media/histogram"} <= kinds
    assert any(k.startswith("/cookbook/") for k in kinds)


def test_no_marker_is_markup_and_no_link_runs_script(crawled):
    m, answers, document = crawled
    leaks = {}
    for target, response in answers.items():
        body = response.body.decode("utf-8", "replace")
        if "json" in response.content_type:
            data = json.loads(body)  # every JSON answer parses
            # the HTML and SVG fragments the viewer's scripts put into the page as markup
            found = {field for fragment in _strings(data, "html") for field in _unescaped(fragment, m)}
        else:
            found = _unescaped(body, m)
            assert not JS_URL.search(body), target
        if found:
            leaks[target] = found
    assert not leaks
    assert not _unescaped(document, m) and not JS_URL.search(document)


def _strings(data, key: str):
    """The strings held under ``key`` anywhere in decoded JSON."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key and isinstance(v, str):
                yield v
            else:
                yield from _strings(v, key)
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v, key)


def test_every_shown_text_was_found_escaped(crawled):
    m, answers, document = crawled
    text = "\n".join([document, *(r.body.decode("utf-8", "replace") for r in answers.values())])
    shown = {field for k, field in m.fields.items()
             if f"&lt;xp{k}&gt;" in text or f"<xp{k}>" in text or f"\\u003cxp{k}\\u003e" in text}
    assert set(m.fields.values()) - shown == NOT_SHOWN
