"""The local read-only viewer behind ``runlite ui``.

``Viewer`` maps a GET target (path and query) to a ``Response(status, content_type, body)``
and does no I/O of its own, so a desktop tool can embed the same pages. ``serve`` puts it
behind a standard-library HTTP server that listens on 127.0.0.1 only and opens the store
read-only, so a job can keep writing while people look. Pages come from ``report``; this
module adds the run list, routing, parameter checks and the HTTP details.

Routes (GET and HEAD only; anything else is 405):

- ``/``: the run list, searchable with either filter grammar (``q``, ``grammar``).
- ``/run/<id or name>`` and ``/runs?id=a&id=b``: run pages (runs overlaid when several).
- ``/fragment/run/<id>`` and ``/fragment/runs?id=..``: the same body without the document,
  re-fetched by the page script while a run is running.
- ``/api/chart?run=..&metric=..&asset=..&start=..&stop=..&xaxis=..&buckets=..``: one chart's
  data as JSON (``api.chart_data``: each bucket's mean, min and max), what ``charts.js``
  fetches when a chart scrolls into view or is zoomed; ``xaxis`` is step, time or timestamp
  (``start``/``stop`` in epoch seconds then).
- ``/compare?q=..&grammar=..&axis=..&metric=..&stat=..&x=..&limit=..``: a sweep's runs (a
  search, at most ``sweep.MAX_RUNS``) as parallel coordinates and a parameter/metric scatter.
- ``/chart?...`` (the same parameters): one re-bucketed SVG chart, for tools that embed one.
- ``/traces?q=..&sort=..&dir=..&page=..``, ``/trace/<id>``, ``/api/trace/<id>``,
  ``/api/span/<id>``: the trace list, a trace's span tree and a span's details
  (``trace_page``).
- ``/api/media/image|histogram|table?run=..&name=..&step=..`` (tables also ``offset``,
  ``limit``): one step of a media panel as JSON (``media_view``), what ``media.js`` fetches
  when a step slider moves; ``/media/image?run=..&name=..&step=..``: one image's bytes, served
  only as PNG, JPEG, GIF or WebP (by their magic bytes), anything else refused.
- ``/cookbooks`` and ``/cookbook/<id or name>?offset=..``: cookbooks of recipe runs, their
  constraint groups, best runs and lever ranges (``cookbook_view``).
- ``/static/<name>``: uPlot and runlite's page scripts (``api.STATIC_TYPES``).
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import math
import urllib.parse
from typing import Any

from .. import errors
from . import api, cookbook_view, media_view, report, sweep, trace_page
from ..store import Store
from .http_server import CSP, HTML, JSON, LOCAL_HOSTS, SECURITY_HEADERS, SVG, TEXT, WORKERS, Response, ViewerServer

__all__ = ["CSP", "SECURITY_HEADERS", "WORKERS", "Response", "Viewer", "ViewerServer", "serve"]

log = logging.getLogger(__name__)

MAX_TARGET = 8192        # characters of path + query
MAX_FILTER = 4096        # characters of a search
MAX_RUNS = 20            # runs on one page or chart
MAX_ID = 256             # characters of a run id or name (names are at most 256)
LIST_LIMIT = 500         # rows of the run list
BUCKETS = (16, 4000)     # allowed range of chart buckets
MEDIA_API = {"/api/media/image": media_view.image_json, "/api/media/histogram": media_view.histogram_json,
             "/api/media/table": media_view.table_json}
GRAMMARS = {"auto": "either grammar", "langsmith": "LangSmith filter", "simvue": "Simvue filter"}


class _Refused(Exception):
    """A request refused with ``status`` and a message safe to show."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error_page(status: int, message: str) -> Response:
    title = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 414: "Address too long",
             503: "Busy"}.get(status, "Error")
    body = f'<p><a href="/">all runs</a></p><h1>{title}</h1><pre class="error">{html.escape(message)}</pre>'
    return Response(status, HTML, report.page(f"runlite: {title}", body).encode())


def _one(params: dict, name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise _Refused(400, f"give the parameter {name!r} once")
    return values[0]


def _check_params(params: dict, allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed:
            raise _Refused(400, f"unknown parameter {name[:40]!r}; this page takes {', '.join(allowed) or 'none'}")


def _run_ref(text: str) -> str:
    if not text or len(text) > MAX_ID or not text.isprintable():
        raise _Refused(400, f"a run is given by its id or name (1 to {MAX_ID} printable characters)")
    return text


def _number(params: dict, name: str) -> float | None:
    text = _one(params, name)
    if text is None or text == "":
        return None
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _Refused(400, f"{name} must be a finite number, got {text[:40]!r}")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _fmt_time(value: _dt.datetime | None) -> str:
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _fmt_duration(run: Any) -> str:
    if run.started is None:
        return "-"
    end = run.ended or (_dt.datetime.now(_dt.timezone.utc) if run.status == "running" else None)
    if end is None:
        return "-"
    seconds = max(0.0, (end - run.started).total_seconds())
    if seconds < 1:
        text = f"{seconds * 1000:.0f} ms"
    elif seconds < 60:
        text = f"{seconds:.1f} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min {int(seconds % 60)} s"
    else:
        text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return text + (" so far" if run.ended is None else "")


class Viewer:
    """The viewer's pages over an open store (read-only is best: nothing here writes).

    ``get(target)`` answers one GET; it never raises and never shows a traceback: unexpected
    errors are logged on the ``runlite.ui.viewer`` logger and answered with a plain 500.
    """

    def __init__(self, store: Store, *, title: str | None = None):
        self.store = store
        self.title = title or f"runlite: {store.path}"

    def get(self, target: str) -> Response:
        """The response to ``GET target`` (``/path?query``)."""
        try:
            return self._answer(target)
        except Exception:
            log.exception("viewer: unexpected error answering %s", target[:200])
            return Response(500, TEXT, b"internal error (details are in the viewer's log)\n")

    def _answer(self, target: str) -> Response:
        try:
            return self._route(target)
        except _Refused as exc:
            return _error_page(exc.status, str(exc))
        except errors.NotFoundError as exc:
            return _error_page(404, str(exc))
        except (errors.ValidationError, errors.AmbiguousNameError) as exc:
            return _error_page(400, str(exc))
        except (errors.StoreBusyError, errors.StoreClosedError) as exc:
            return _error_page(503, str(exc))
        except errors.RunliteError as exc:  # a damaged or unreadable file: say what runlite says
            log.warning("viewer: %s: %s", target[:200], exc)
            return _error_page(500, str(exc))

    def _route(self, target: str) -> Response:
        if len(target) > MAX_TARGET:
            raise _Refused(414, f"the address is longer than {MAX_TARGET} characters")
        parts = urllib.parse.urlsplit(target)
        try:
            params = urllib.parse.parse_qs(parts.query, keep_blank_values=True, errors="strict",
                                           max_num_fields=2 * MAX_RUNS + 10)
            path = urllib.parse.unquote(parts.path, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the address is not valid UTF-8 or has too many parameters") from None
        if path == "/":
            return self._run_list(params)
        if path == "/compare":
            status, body = sweep.compare_page(self.store, params)
            document = report.page("runlite: compare runs", body, served=True, scripts=("compare.js",))
            return Response(status, HTML, document.encode())
        if path == "/chart":
            return self._chart(params)
        if path == "/api/chart":
            return self._chart_json(params)
        if path in MEDIA_API:
            data = MEDIA_API[path](self.store, params)  # ValidationError -> 400, NotFoundError -> 404
            return Response(200, JSON, api.to_json(data).encode())
        if path == "/media/image":
            content_type, data = media_view.image_file(self.store, params)
            return Response(200, content_type, data)
        if path == "/cookbooks":
            return self._page("runlite: cookbooks", cookbook_view.cookbooks_body(self.store, params))
        if path.startswith("/cookbook/"):
            ref = path[len("/cookbook/"):]
            return self._page(f"runlite: cookbook {ref[:80]}", cookbook_view.cookbook_body(self.store, ref, params))
        if path.startswith("/static/"):
            _check_params(params, ())
            name = path[len("/static/"):]
            return Response(200, api.STATIC_TYPES.get(name, TEXT), api.static_file(name))  # NotFound -> 404
        if path == "/traces" or path.startswith(("/trace/", "/api/trace/", "/api/span/")):
            return self._traces(path, params)
        for prefix, fragment in (("/run/", False), ("/fragment/run/", True)):
            if path.startswith(prefix):
                _check_params(params, ())
                return self._runs_page([_run_ref(path[len(prefix):])], fragment=fragment)
        if path in ("/runs", "/fragment/runs"):
            _check_params(params, ("id",))
            refs = params.get("id", [])
            if not 1 <= len(refs) <= MAX_RUNS:
                raise _Refused(400, f"give 1 to {MAX_RUNS} runs as id=...")
            return self._runs_page([_run_ref(r) for r in refs], fragment=path.startswith("/fragment/"))
        raise _Refused(404, f"no page at {path[:200]!r}")

    # -- pages

    def _page(self, title: str, body: str) -> Response:
        return Response(200, HTML, report.page(title, body, served=True).encode())

    def _runs_page(self, refs: list[str], *, fragment: bool) -> Response:
        records = []
        for ref in refs:
            record = self.store.get_run(ref)  # an id or a unique name; NotFoundError -> 404
            if all(r.id != record.id for r in records):
                records.append(record)
        ids = [r.id for r in records]
        nav = '<a href="/">all runs</a>' + (" \u00b7 " + sweep.links_for(records) if len(records) > 1 else "")
        if any(r.kind == "recipe" for r in records):
            nav += ' \u00b7 <a href="/cookbooks">cookbooks</a>'
        body = f'<p class="nav">{nav}</p>' + report.runs_body(self.store, ids, served=True)
        if fragment:
            return Response(200, HTML, body.encode())
        if len(ids) == 1:
            refresh = "/fragment/run/" + urllib.parse.quote(ids[0], safe="")
        else:
            refresh = "/fragment/runs?" + urllib.parse.urlencode([("id", i) for i in ids])
        running = any(r.status == "running" for r in records)  # its media may come with a refresh
        title = ", ".join(r.name for r in records[:5]) + (" ..." if len(records) > 5 else "")
        document = report.page(title, body, served=True, refresh_url=refresh if running else None,
                               scripts=(media_view.SCRIPT,) if running or media_view.has_media(body) else ())
        return Response(200, HTML, document.encode())

    def _traces(self, path: str, params: dict) -> Response:
        """The trace pages (``trace_page``): the list, one trace, its tree JSON, a span's details."""
        if path == "/traces":
            _check_params(params, ("q", "sort", "dir", "page"))
            text = (_one(params, "q", "") or "").strip()
            if len(text) > MAX_FILTER:
                raise _Refused(400, f"the filter is longer than {MAX_FILTER} characters")
            order = _one(params, "sort", "start")
            if order not in trace_page.SORTS:
                raise _Refused(400, f"sort must be one of {', '.join(trace_page.SORTS)}, got {order[:40]!r}")
            direction = _one(params, "dir", "desc")
            if direction not in ("asc", "desc"):
                raise _Refused(400, f"dir must be asc or desc, got {direction[:40]!r}")
            page = _number(params, "page")
            page = 1 if page is None else page
            if not isinstance(page, int) or not 1 <= page <= trace_page.MAX_PAGE:
                raise _Refused(400, f"page must be a whole number from 1 to {trace_page.MAX_PAGE}")
            problem, body = trace_page.list_body(self.store, text, order, direction == "desc", page)
            document = report.page("runlite: traces", '<p class="nav"><a href="/">all runs</a></p>' + body, served=True)
            return Response(400 if problem else 200, HTML, document.encode())
        _check_params(params, ())
        for prefix in ("/trace/", "/api/trace/", "/api/span/"):
            if path.startswith(prefix):
                ref = _run_ref(path[len(prefix):])
                break
        if prefix == "/api/span/":
            return Response(200, JSON, api.to_json(trace_page.span_detail(self.store, ref)).encode())
        if prefix == "/api/trace/":
            data = trace_page.tree_data(self.store, self.store.get_run(ref).id)
            return Response(200, JSON, api.to_json(data).encode())
        title, body = trace_page.trace_body(self.store, ref)
        document = report.page(title, body, served=True, scripts=("trace.js",))
        return Response(200, HTML, document.encode())

    def _chart(self, params: dict) -> Response:
        ids, metric, asset, xaxis, start, stop, buckets = self._chart_params(params)
        svg = report.chart_svg(self.store, ids, metric, start=start, stop=stop, xaxis=xaxis, buckets=buckets,
                               asset=asset)
        return Response(200, SVG, svg.encode())

    def _chart_json(self, params: dict) -> Response:
        ids, metric, asset, xaxis, start, stop, buckets = self._chart_params(params)
        records = [self.store.get_run(i) for i in ids]
        data = api.chart_data(self.store, records, metric, asset=asset, xaxis=xaxis, start=start, stop=stop,
                              buckets=buckets)
        return Response(200, JSON, api.to_json(data).encode())

    def _chart_params(self, params: dict) -> tuple:
        """A chart's runs (ids), metric, asset, x axis, window and bucket count, checked."""
        _check_params(params, ("run", "metric", "asset", "start", "stop", "xaxis", "buckets"))
        refs = params.get("run", [])
        if not 1 <= len(refs) <= MAX_RUNS:
            raise _Refused(400, f"give 1 to {MAX_RUNS} runs as run=...")
        metric = _one(params, "metric")
        if not metric or len(metric) > MAX_ID:
            raise _Refused(400, f"give a metric name of 1 to {MAX_ID} characters as metric=...")
        asset = _one(params, "asset") or None
        if asset is not None and len(asset) > MAX_ID:
            raise _Refused(400, f"an asset name has at most {MAX_ID} characters")
        xaxis = _one(params, "xaxis", "step")
        if xaxis not in ("step", "time", "timestamp"):
            raise _Refused(400, f"xaxis must be step, time or timestamp, got {xaxis[:40]!r}")
        start, stop = _number(params, "start"), _number(params, "stop")
        if start is not None and stop is not None and start > stop:
            raise _Refused(400, f"start ({start}) is after stop ({stop})")
        buckets = _number(params, "buckets")
        if buckets is None:
            buckets = 400
        elif not isinstance(buckets, int) or not BUCKETS[0] <= buckets <= BUCKETS[1]:
            raise _Refused(400, f"buckets must be a whole number from {BUCKETS[0]} to {BUCKETS[1]}")
        ids = list(dict.fromkeys(self.store.get_run(_run_ref(r)).id for r in refs))
        return ids, metric, asset, xaxis, start, stop, buckets

    def _search(self, text: str, grammar: str) -> tuple[list, str]:
        """Runs matching ``text`` (newest first) and the grammar used."""
        if not text:  # top-level runs only: a trace's spans would crowd the list
            return self.store.list_runs(is_root=True, limit=LIST_LIMIT + 1), ""
        if grammar == "auto":  # as metric_values_many reads a filter: prefix functions have "("
            grammar = "langsmith" if "(" in text else "simvue"
        if grammar == "langsmith":
            return self.store.list_runs(filter=text, limit=LIST_LIMIT + 1), grammar
        return self.store.get_runs([text], limit=LIST_LIMIT + 1), grammar

    def _run_list(self, params: dict) -> Response:
        _check_params(params, ("q", "grammar"))
        text = (_one(params, "q", "") or "").strip()
        grammar = _one(params, "grammar", "auto")
        if grammar not in GRAMMARS:
            raise _Refused(400, f"grammar must be one of {', '.join(GRAMMARS)}, got {grammar[:40]!r}")
        if len(text) > MAX_FILTER:
            raise _Refused(400, f"the search is longer than {MAX_FILTER} characters")
        status, problem, runs, used = 200, "", [], ""
        try:
            runs, used = self._search(text, grammar)
        except errors.FilterError as exc:
            status, problem = 400, str(exc)
        body = self._list_html(text, grammar, runs, used, problem)
        return Response(status, HTML, report.page(self.title, body, served=True).encode())

    def _list_html(self, text: str, grammar: str, runs: list, used: str, problem: str) -> str:
        options = "".join(f'<option value="{k}"{" selected" if k == grammar else ""}>{html.escape(v)}</option>'
                          for k, v in GRAMMARS.items())
        out = [
            '<form class="search" method="get" action="/" role="search">',
            f'<input type="search" name="q" id="q" size="60" maxlength="{MAX_FILTER}" '
            f'value="{html.escape(text)}" aria-label="filter" '
            "placeholder='metadata.lr &gt; 0.01   or   and(eq(status, \"completed\"), has(tags, \"best\"))'>",
            f'<select name="grammar" id="grammar" aria-label="filter grammar">{options}</select>',
            '<button type="submit">Search</button></form>',
        ]
        if problem:
            out.append(f'<pre class="error" id="filter-error">{html.escape(problem)}</pre>')
            return "\n".join(out)
        shown = runs[:LIST_LIMIT]
        what = f"{len(shown)} run{'s' if len(shown) != 1 else ''}"
        if len(runs) > LIST_LIMIT:
            what = f"the newest {LIST_LIMIT} runs (narrow the search to see others)"
        elif not text:
            what += " (top-level; search to include trace spans)"
        else:
            what += f" matching ({GRAMMARS[used]})"
        out.append(f'<p class="count" id="count">{html.escape(what)}</p>')
        out.append('<form method="get" action="/runs"><table class="grid run-list" id="runs"><thead><tr><th></th>'
                   "<th>name</th><th>status</th><th>type</th><th>folder</th><th>tags</th><th>created</th>"
                   "<th>duration</th></tr></thead><tbody>")
        for run in shown:
            rid = html.escape(run.id)
            link = "/run/" + urllib.parse.quote(run.id, safe="")
            cells = [
                f'<input type="checkbox" name="id" value="{rid}" aria-label="compare">',
                f'<a href="{html.escape(link)}">{html.escape(run.name)}</a>',
                f'<span class="status status-{html.escape(run.status)}">{html.escape(run.status)}</span>',
                html.escape(run.run_type or run.kind),
                html.escape(run.folder),
                "".join(f'<span class="tag">{html.escape(t)}</span>' for t in run.tags[:20]),
                _fmt_time(run.created),
                _fmt_duration(run),
            ]
            out.append(f'<tr data-run-id="{rid}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table>")
        if shown:
            out.append(f'<p><button type="submit">Compare checked runs</button> (up to {MAX_RUNS})</p>')
        out.append("</form>")
        return "\n".join(out)


def serve(db_path: str, *, port: int = 0, host: str = "127.0.0.1", untrusted: bool = False,
          log_requests: bool = False) -> ViewerServer:
    """A viewer server for the runlite file at ``db_path``, listening but not yet serving.

    The store is opened ``read_only`` (``untrusted`` for a file from someone else), so jobs
    keep writing it. The server listens on 127.0.0.1 only: it has no authentication, so any
    other ``host`` is refused. ``port=0`` picks a free port; ``server.url`` says which.
    Call ``serve_forever()`` (e.g. in a thread), then ``shutdown()`` and ``server_close()``.
    """
    if host not in LOCAL_HOSTS:
        raise errors.ValidationError(
            f"the viewer listens on 127.0.0.1 only (it has no authentication), got host {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise errors.ValidationError(f"port must be an int from 0 to 65535, got {port!r}")
    store = Store(db_path, read_only=True, untrusted=untrusted)
    try:
        return ViewerServer(("127.0.0.1", port), Viewer(store), log_requests=log_requests)
    except BaseException:
        store.close()
        raise
