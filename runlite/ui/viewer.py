"""The local read-only viewer behind ``runlite ui``.

``Viewer`` maps a GET target (path and query) to a ``Response(status, content_type, body)``
and does no I/O of its own, so a desktop tool can embed the same pages. ``serve`` puts it
behind a standard-library HTTP server that listens on 127.0.0.1 only and opens the store
read-only, so a job can keep writing while people look. Pages come from ``report`` and
``run_table``; this module adds routing, parameter checks and the HTTP details.

Routes (GET and HEAD only; anything else is 405):

- ``/``: the run table (``run_table``): search with either filter grammar (``q``, ``grammar``),
  columns (``col=metadata.<key>``, ``col=metric.<name>.last|min|max``), ``sort=[-]<column>``,
  ``group=folder|metadata.<key>``, ``per=50|100|200``, ``page=<n>``.
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

import html
import logging
import math
import urllib.parse

from .. import errors
from . import api, cookbook_view, media_view, report, run_table, sweep, trace_page
from ..store import Store
from .http_server import CSP, HTML, JSON, LOCAL_HOSTS, SECURITY_HEADERS, SVG, TEXT, WORKERS, Response, ViewerServer

__all__ = ["CSP", "SECURITY_HEADERS", "WORKERS", "Response", "Viewer", "ViewerServer", "serve"]

log = logging.getLogger(__name__)

MAX_TARGET = 8192        # characters of path + query
MAX_FILTER = 4096        # characters of a search
MAX_RUNS = 20            # runs on one page or chart
MAX_ID = 256             # characters of a run id or name (names are at most 256)
BUCKETS = (16, 4000)     # allowed range of chart buckets
MEDIA_API = {"/api/media/image": media_view.image_json, "/api/media/histogram": media_view.histogram_json,
             "/api/media/table": media_view.table_json}


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
        try:  # (an absolute target naming no host urllib can read, "http://[::1/", raises ValueError too)
            parts = urllib.parse.urlsplit(target)
            params = urllib.parse.parse_qs(parts.query, keep_blank_values=True, errors="strict",
                                           max_num_fields=2 * MAX_RUNS + run_table.MAX_COLUMNS + 10)
            path = urllib.parse.unquote(parts.path, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the address cannot be read: not valid UTF-8, too many parameters or a malformed "
                                "host") from None
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

    def _run_list(self, params: dict) -> Response:
        body = run_table.body(self.store, self._table_view(params))
        return Response(body[0], HTML, report.page(self.title, body[1], served=True,
                                                   scripts=("run_table.js",)).encode())

    def _table_view(self, params: dict) -> run_table.TableView:
        """The run table's view from its parameters, each checked (400 with what is wrong)."""
        _check_params(params, ("q", "grammar", "col", "sort", "group", "per", "page"))
        text = (_one(params, "q", "") or "").strip()
        if len(text) > MAX_FILTER:
            raise _Refused(400, f"the search is longer than {MAX_FILTER} characters")
        grammar = _one(params, "grammar", "auto")
        if grammar not in run_table.GRAMMARS:
            raise _Refused(400, f"grammar must be one of {', '.join(run_table.GRAMMARS)}, got {grammar[:40]!r}")
        columns = [c for c in params.get("col", []) if c]  # the chooser's empty "no column" is none
        if len(columns) > run_table.MAX_COLUMNS:
            raise _Refused(400, f"choose at most {run_table.MAX_COLUMNS} columns (col=...)")
        per, page = _number(params, "per"), _number(params, "page")
        if per is not None and per not in run_table.PAGE_SIZES:
            raise _Refused(400, f"per must be one of {', '.join(map(str, run_table.PAGE_SIZES))}")
        if page is not None and (not isinstance(page, int) or not 1 <= page <= 10**9):
            raise _Refused(400, "page must be a whole number from 1")
        sort, group = _one(params, "sort"), _one(params, "group")
        try:
            return run_table.TableView(
                q=text, grammar=grammar, columns=tuple(dict.fromkeys(run_table.check_column(c) for c in columns)),
                sort=run_table.check_sort(sort) if sort else run_table.DEFAULT_SORT,
                group=run_table.check_group(group) if group else None,
                per=per or run_table.PAGE_SIZES[0], page=page or 1)
        except ValueError as exc:
            raise _Refused(400, str(exc)) from None


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
