"""HTML reports of runs, built from the public read API of ``Store`` only.

``report_html`` gives one self-contained document (inline CSS, charts as inline SVG, small
images as ``data:`` URIs, no external URL); the viewer serves the same pieces: ``page`` wraps a
body, ``runs_body`` renders runs, ``chart_svg`` re-buckets one chart for a zoom window.
Sizes are bounded whatever the data: charts by pixel columns, events and spans by row caps,
images by a byte budget; every text is escaped and long text is cut with its length noted.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import numbers
from typing import Any

from . import api, assets, charts, compare, media_view, trace_page
from .. import errors
from .charts import esc, fmt_num
from .._validation import shown, to_us

REPORT_COLUMNS = 200        # pixel columns of report charts: ~4 KB per series whatever the points
REPORT_DIGITS = 6           # significant digits of a report chart's values (the tables keep them exact)
METRIC_LIMIT = 200          # charts per report
EVENT_LIMIT = 5000          # events read per run for the timeline
EVENT_ROWS = 50             # events listed per run
METADATA_ROWS = 100
IMAGE_MAX = 256 * 1024      # an image attachment larger than this is listed, not shown
IMAGE_BUDGET = 1024 * 1024  # inline image bytes per report
REFRESH_SECONDS = 5          # the served pages of live runs refresh this often
IMAGE_TYPES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}



# ---------------------------------------------------------------- the fixed interface


def report_html(store: Any, run_ids: list[str], *, title: str | None = None) -> str:
    """The complete, self-contained report of these runs (ids or unique names) as one HTML document:
    inline CSS and SVG, small images as data: URIs, no external URL and no script."""
    records = _records(store, run_ids)
    if title is None:
        title = "runlite report: " + ", ".join(charts.clip(r.name, 40) for r in records[:5]) + (
            f" and {len(records) - 5} more" if len(records) > 5 else "")
    body = _body(store, records, served=False)
    return page(title, body, scripts=("trace.js",) if 'class="trace-view"' in body else ())


def page(title: str, body: str, *, served: bool = False, refresh_url: str | None = None,
         scripts: tuple[str, ...] = ()) -> str:
    """A full HTML document around ``body`` (placed inside ``<main>``).

    Charts (``figure.metric``) are drawn by uPlot and ``charts.js``: a ``served`` page loads
    them from ``/static/`` (the viewer's CSP allows scripts from its own origin only) and
    fetches each chart's data from ``/api/chart`` when it scrolls into view; a file report
    inlines both scripts, allowed by their sha256 in the page's own CSP, and carries each
    chart's data in the page. ``scripts``: more shipped scripts (``api.STATIC_TYPES``) the page
    runs after those, loaded or inlined the same way. ``refresh_url`` is fetched every few
    seconds and its text replaces the content of ``<main>`` (paused while a chart is zoomed)."""
    attrs = f' data-served="1" data-refresh-ms="{REFRESH_SECONDS * 1000}"' if served else ""
    if refresh_url:
        attrs += f' data-refresh="{esc(refresh_url, 2000)}"'
    names = tuple(dict.fromkeys((api.SCRIPTS if served or 'class="metric"' in body else ()) + tuple(scripts)))
    head, tags = "", ""
    if served:
        head = '<link rel="stylesheet" href="/static/uPlot.min.css">'
        tags = "".join(f'<script src="/static/{name}"></script>' for name in names)
    elif names:  # a file: everything inline, allowed by hash
        sources = " ".join(api.script_hash(name) for name in names)
        head = (f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
                f'style-src \'unsafe-inline\'; script-src {sources}">'
                f'<style>{api.static_file("uPlot.min.css").decode()}</style>')
        tags = "".join(f"<script>{api.static_file(name).decode()}</script>" for name in names)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{esc(title, 200)}</title><style>{assets.CSS}</style>{head}</head>"
            f"<body{attrs}><header class=\"top\"><h1>{esc(title, 200)}</h1></header>"
            f"<main>{body}</main>{tags}</body></html>\n")


def runs_body(store: Any, run_ids: list[str], *, served: bool = False) -> str:
    """The body fragment for these runs (goes inside ``<main>``): run headers, one chart per metric
    with every run overlaid, events and alert timelines, attachments, trace waterfalls, recipe-run
    tables and feedback. ``served`` adds zoom buttons to the charts."""
    return _body(store, _records(store, run_ids), served=served)


def chart_svg(store: Any, run_ids: list[str], metric: str, *, start: Any = None, stop: Any = None,
              xaxis: str = "step", buckets: int = 400, asset: str | None = None) -> str:
    """One standalone SVG chart (``image/svg+xml``) of ``metric`` with these runs overlaid over
    ``start <= x <= stop`` on ``xaxis`` (``timestamp`` bounds are epoch seconds, an ISO-8601
    string or a datetime), re-bucketed into ``buckets`` pixel columns. Runs without the metric
    are left out; NotFoundError when none has it."""
    if xaxis not in ("step", "time", "timestamp"):
        raise errors.ValidationError(f"xaxis must be 'step', 'time' or 'timestamp', got {shown(xaxis)}")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 10 <= buckets <= 4000:
        raise errors.ValidationError(f"buckets must be an int from 10 to 4000, got {shown(buckets)}")
    lo, hi = _bound(start, xaxis, "start"), _bound(stop, xaxis, "stop")
    if lo is not None and hi is not None and lo > hi:
        raise errors.ValidationError(f"start ({shown(start)}) is after stop ({shown(stop)})")
    records = _records(store, run_ids)
    svg = _chart(store, records, metric, asset, xaxis=xaxis, columns=buckets, start=lo, stop=hi, xmlns=True)
    if svg is None:
        raise errors.NotFoundError(f"none of these runs has a metric {shown(metric)}"
                                   + (f" of asset {shown(asset)}" if asset is not None else ""))
    return svg


# ---------------------------------------------------------------- helpers


def _records(store: Any, run_ids: Any) -> list:
    if isinstance(run_ids, str) or not isinstance(run_ids, (list, tuple)):
        raise errors.ValidationError(f"run_ids must be a list of run ids or names, got {shown(run_ids)}")
    if not run_ids:
        raise errors.ValidationError("name at least one run")
    out, seen = [], set()
    for ref in run_ids:
        rec = store.get_run(ref)
        if rec.id not in seen:
            seen.add(rec.id)
            out.append(rec)
    return out


def _bound(value: Any, xaxis: str, what: str) -> float | None:
    """A window bound as a plain number (epoch seconds on the timestamp axis)."""
    if value is None:
        return None
    if xaxis == "timestamp":
        return to_us(value, what) / 1e6
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise errors.ValidationError(f"{what} must be a finite number on the {xaxis} axis, got {shown(value, 60)}")
    return float(value)


def _when(value: _dt.datetime | None) -> str:
    return "\u2013" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ts(value: _dt.datetime) -> float:
    return value.timestamp()


def _duration(seconds: Any) -> str:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "\u2013" if seconds is None else esc(seconds, 40)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (f"{h}h {m}m {s}s" if h else f"{m}m {s}s" if m else f"{s} s")


def _json_text(value: Any, limit: int = 200) -> str:
    """A value as escaped JSON text of at most about ``limit`` characters, whatever it holds."""
    if isinstance(value, str):
        return esc(value, limit)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):  # NaN from an import, odd keys, deep nesting
        text = shown(value, limit + 1)
    return esc(text, limit)


def _label(rec: Any, names: dict) -> str:
    """The run's name, with the end of its id when another run in the report has the same name."""
    return rec.name if names.get(rec.name, 0) < 2 else f"{rec.name} \u2026{rec.id[-6:]}"


def _swatch(index: int) -> str:
    return f'<span class="swatch c{index % len(charts.PALETTE)}"></span>'


def _anchor(rec: Any) -> str:
    return "run-" + "".join(c for c in rec.id if c.isalnum() or c == "-")[:64]


# ---------------------------------------------------------------- sections


def _body(store: Any, records: list, *, served: bool) -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    names: dict = {}
    for rec in records:
        names[rec.name] = names.get(rec.name, 0) + 1
    labels = {rec.id: _label(rec, names) for rec in records}
    out = [f'<p class="muted small">{len(records)} run{"s" if len(records) != 1 else ""} \u00b7 '
           f'rendered {esc(_when(now))}</p>', compare.params_section(store, records, labels), "<h2>Runs</h2>"]
    out += ['<div class="runs">'] + [_run_header(store, rec, i, labels[rec.id], now)
                                     for i, rec in enumerate(records)] + ["</div>"]
    out.append(_metrics_section(store, records, labels, served))
    out.append(media_view.media_section(store, records, labels, served=served, budget=IMAGE_BUDGET))
    out.append(_timeline_section(store, records, labels, now))
    out.append(_attachments_section(store, records, labels))
    out.append(trace_page.report_section(store, records, labels, served=served))
    out.append(_recipe_section(store, records))
    out.append(_feedback_section(store, records, labels))
    return "".join(part for part in out if part)


def _run_header(store: Any, rec: Any, index: int, label: str, now: _dt.datetime) -> str:
    start = rec.start_time
    end = rec.ended or (now if rec.status == "running" else None)
    duration = _duration((end - start).total_seconds()) if start and end else "\u2013"
    if rec.ended is None and rec.status == "running":
        duration += " (running)"
    facts = [("id", esc(rec.id)), ("kind", esc(rec.run_type or rec.kind)), ("folder", esc(rec.folder)),
             ("created", _when(rec.created)), ("started", _when(rec.started)), ("ended", _when(rec.ended)),
             ("duration", esc(duration))]
    if rec.host:
        facts.append(("host", esc(rec.host)))
    if rec.description:
        facts.append(("description", esc(rec.description, 1000)))
    if rec.total_tokens:
        facts.append(("tokens", fmt_num(rec.total_tokens)))
    if rec.error:
        facts.append(("error", f'<span class="err">{esc(rec.error, 500)}</span>'))
    tags = "".join(f'<span class="tag">{esc(t, 60)}</span>' for t in rec.tags[:50])
    if len(rec.tags) > 50:
        tags += f'<span class="muted small">+{len(rec.tags) - 50} more</span>'
    parts = [f'<section class="card run" id="{_anchor(rec)}"><h3>{_swatch(index)}{esc(label, 120)} '
             f'<span class="status status-{esc(rec.status, 20)}">{esc(rec.status, 20)}</span></h3>',
             '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]
    if tags:
        parts.append(f"<div>{tags}</div>")
    if rec.metadata:
        items = list(rec.metadata.items())
        rows = "".join(f"<tr><th>{esc(k, 80)}</th><td>{_json_text(v)}</td></tr>" for k, v in items[:METADATA_ROWS])
        more = (f'<p class="note">{len(items) - METADATA_ROWS} more keys not shown</p>'
                if len(items) > METADATA_ROWS else "")
        parts.append(f'<details open><summary>metadata ({len(items)})</summary>'
                     f'<table class="grid metadata">{rows}</table>{more}</details>')
    parts.append("</section>")
    return "".join(parts)


def _chart(store: Any, records: list, metric: str, asset: str | None, *, xaxis: str, columns: int,
           start: float | None = None, stop: float | None = None, xmlns: bool = False,
           labels: dict | None = None, only: set | None = None) -> str | None:
    """One chart of ``metric`` with ``records`` overlaid (colour = place in ``records``, so a zoomed
    chart keeps the report's colours), or None when no run has the series. ``only``: the ids of
    the runs known to have it (the others are not asked)."""
    lines = []
    for index, rec in enumerate(records):
        if only is not None and rec.id not in only:
            continue
        try:
            series = store.metric_values(rec.id, metric, xaxis=xaxis, start=start, stop=stop, asset=asset,
                                         max_points=max(4, 3 * columns))
        except errors.NotFoundError:
            continue
        if xaxis == "step":
            xs = series.steps
        elif xaxis == "time":
            xs = series.times
        else:
            xs = [t / 1e6 for t in series.timestamps]
        lines.append(charts.Line((labels or {}).get(rec.id, rec.name), xs, series.values, color=index, key=rec.id))
    if not lines:
        return None
    domain = None
    if start is not None or stop is not None:
        xs_all = [x for line in lines for x in (min(line.xs, default=None), max(line.xs, default=None))
                  if x is not None]
        lo = start if start is not None else min(xs_all, default=stop)
        hi = stop if stop is not None else max(xs_all, default=start)
        domain = (lo, hi)
    title = metric if asset is None else f"{metric} @ {asset}"
    data = {"metric": metric, "runs": " ".join(rec.id for rec in records)}
    if asset is not None:
        data["asset"] = asset
    return charts.line_chart(lines, title=title, xaxis=xaxis, columns=columns, x_domain=domain, data=data,
                             xmlns=xmlns)


def _group(name: str) -> str:
    """A metric's group: the part of its name before the first ``/`` (``train/loss``: ``train``)."""
    head, slash, _ = name.partition("/")
    return head if slash and head else ""


def _chart_tools(served: bool) -> str:
    xaxis = ('<label>x axis <select id="xaxis"><option value="step">step</option>'
             '<option value="time">relative time (s)</option><option value="timestamp">wall time</option>'
             "</select></label>") if served else ""
    return ('<div class="chart-tools"><input type="search" id="metric-filter" placeholder="filter metrics"'
            f' aria-label="filter metrics">{xaxis}<label><input type="checkbox" id="ylog"> log y</label>'
            '<label>smoothing <input type="range" id="smooth" min="0" max="0.99" step="0.01" value="0">'
            '<output id="smooth-value">0</output></label></div>')


def _metrics_section(store: Any, records: list, labels: dict, served: bool) -> str:
    keys: dict = {}
    for index, rec in enumerate(records):
        for name, asset, _count in store.metric_series(rec.id):
            keys.setdefault((name, asset or ""), []).append((index, rec))
    if not keys:
        return '<h2>Metrics</h2><p class="muted">No metrics.</p>'
    out = [f'<h2>Metrics <span class="muted small">({len(keys)})</span></h2>', _chart_tools(served)]
    ordered = sorted(keys.items(), key=lambda item: (_group(item[0][0]), item[0]))
    group = None
    for (name, asset_key), having in ordered[:METRIC_LIMIT]:
        if _group(name) != group:
            if group is not None:
                out.append("</section>")
            group = _group(name)
            size = sum(1 for (n, _), _h in ordered[:METRIC_LIMIT] if _group(n) == group)
            out.append(f'<section class="metric-group" data-group="{esc(group, 80)}"><h3>{esc(group or "charts", 80)}'
                       f' <span class="muted small">({size})</span></h3>')
        asset = asset_key or None
        rows = []
        for index, rec in having:
            s = store.metric_summary(rec.id, name, asset=asset)
            nan = f' <span class="muted">({s.nan_count:,} NaN)</span>' if s.nan_count else ""
            rows.append(f'<tr><td>{_swatch(index)}{esc(labels[rec.id], 40)}</td><td class="num">{fmt_num(s.last)}'
                        f'</td><td class="num">{fmt_num(s.min)}</td><td class="num">{fmt_num(s.max)}</td>'
                        f'<td class="num">{fmt_num(s.count)}{nan}</td></tr>')
        data = ""
        if not served:  # a file carries its charts' data; the viewer's are fetched when seen
            data = api.inline_json(api.chart_data(store, [rec for _, rec in having], name, asset=asset,
                                                  buckets=REPORT_COLUMNS, labels=labels, digits=REPORT_DIGITS),
                                   "chart-data")
        runs = " ".join(rec.id for _, rec in having)
        colors = " ".join(str(index) for index, _ in having)
        title = name if asset is None else f"{name} @ {asset}"
        out.append(f'<figure class="metric" data-metric="{esc(name, None)}" data-asset="{esc(asset_key, None)}" '
                   f'data-runs="{esc(runs, None)}" data-colors="{colors}"><div class="chart-box">'
                   f'<div class="chart-title">{esc(title, 200)}</div><div class="chart-host"></div>'
                   '<div class="chart-legend"></div><p class="chart-note note"></p></div>'
                   '<table class="summary grid"><tr><th>run</th><th class="num">last</th><th class="num">min</th>'
                   f'<th class="num">max</th><th class="num">count</th></tr>{"".join(rows)}</table>{data}</figure>')
    out.append("</section>")
    if len(ordered) > METRIC_LIMIT:
        rest = ", ".join(esc(n if not a else f"{n} @ {a}", 80) for (n, a), _ in ordered[METRIC_LIMIT:METRIC_LIMIT + 100])
        out.append(f'<p class="note">{len(ordered) - METRIC_LIMIT:,} more metrics not charted: {rest}</p>')
    return "".join(out)


def _event_text(event: Any) -> str:
    if event.message is not None:
        return event.message
    kwargs = json.dumps(event.kwargs, ensure_ascii=False, default=str) if event.kwargs else ""
    return f"{event.name or 'event'} {kwargs}".strip()


def _alert_spans(changes: list, lo: float, hi: float) -> list[tuple[float, float, str]]:
    """State spans over [lo, hi]: ``ok`` (an alert's first state) until the first change, and so on."""
    spans, state, since = [], "ok", lo
    for change in changes:
        t = _ts(change.time)
        if t > since:
            spans.append((since, min(t, hi), state))
        state, since = change.state, max(since, t)
    if hi > since:
        spans.append((since, hi, state))
    return spans


def _timeline_section(store: Any, records: list, labels: dict, now: _dt.datetime) -> str:
    out = []
    for index, rec in enumerate(records):
        events = store.events(rec.id, limit=EVENT_LIMIT + 1)
        capped = len(events) > EVENT_LIMIT
        events = events[:EVENT_LIMIT]
        states = store.alerts(rec.id)
        if not events and not states:
            continue
        histories = [(a, store.alert_history(rec.id, a.name)) for a in states]
        start = rec.start_time or rec.created
        end = rec.ended or (now if rec.status in ("running", "lost") else None)
        times = [_ts(e.time) for e in events] + [_ts(c.time) for _, h in histories for c in h]
        lo = min([_ts(start)] + times) if start else min(times, default=0.0)
        hi = max([lo] + times + ([_ts(end)] if end else []))
        lanes = []
        if events:
            lanes.append(charts.Lane("events", marks=[(_ts(e.time), e.level, _event_text(e)) for e in events]))
        for alert, changes in histories:
            spans = _alert_spans(changes, lo, hi)
            if rec.status == "lost" and rec.heartbeat is not None:  # nothing known after the last heartbeat
                cut = _ts(rec.heartbeat)
                spans = [(a, min(b, cut), s) for a, b, s in spans if a < cut] + [(max(lo, cut), hi, "no data")]
            lanes.append(charts.Lane(f"alert: {alert.name}", spans=spans))
        parts = [f'<section class="card"><h3>{_swatch(index)}{esc(labels[rec.id], 120)}</h3>',
                 charts.timeline_svg(lanes, lo, hi)]
        if capped:
            parts.append(f'<p class="note">the first {EVENT_LIMIT:,} events are drawn; there are more</p>')
        if states:
            rows = "".join(
                f'<tr><td>{esc(a.name, 80)}</td><td>{esc(a.source, 20)}</td>'
                f'<td><span class="status status-{"failed" if a.state == "critical" else "completed"}">'
                f'{esc(a.state, 20)}</span></td><td>{_when(a.changed)}</td><td class="num">{len(h)}</td></tr>'
                for a, h in histories)
            parts.append('<table class="grid alerts"><tr><th>alert</th><th>source</th><th>state</th>'
                         f'<th>changed</th><th class="num">changes</th></tr>{rows}</table>')
        if events:
            rows = "".join(
                f'<tr><td class="small">{_when(e.time)}</td><td class="lvl-{esc(e.level or "none", 20)}">'
                f'{esc(e.level or e.name or "", 40)}</td><td>{esc(_event_text(e), 300)}</td></tr>'
                for e in events[:EVENT_ROWS])
            shown = f"first {EVENT_ROWS} of " if len(events) > EVENT_ROWS else ""
            total = f"{len(events):,}{'+' if capped else ''}"
            parts.append(f'<details id="events-{_anchor(rec)}"><summary>events ({shown}{total})</summary>'
                         f'<table class="grid events">{rows}</table></details>')
        parts.append("</section>")
        out.append("".join(parts))
    return ("<h2>Events and alerts</h2>" + "".join(out)) if out else ""


def _image(store: Any, rec: Any, item: Any, budget: list) -> str:
    """An inline ``<img>`` of a small raster image attachment whose bytes match its type."""
    magic = IMAGE_TYPES.get(item.mime_type)
    if magic is None:
        return ""
    if item.size > IMAGE_MAX:
        return f'<p class="note">image not shown: over {IMAGE_MAX // 1024} KiB</p>'
    if item.size > budget[0]:
        return '<p class="note">image not shown: the report\'s image budget is used up</p>'
    data = store.read_attachment(rec.id, item.name, max_size=IMAGE_MAX)
    if not data.startswith(magic) or (item.mime_type == "image/webp" and data[8:12] != b"WEBP"):
        return '<p class="note">not shown: the content is not the image type it claims</p>'
    budget[0] -= len(data)
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="attachment" alt="{esc(item.name, 200)}" src="data:{item.mime_type};base64,{encoded}">'


def _attachments_section(store: Any, records: list, labels: dict) -> str:
    out, budget = [], [IMAGE_BUDGET]
    for index, rec in enumerate(records):
        items = store.attachments(rec.id)
        if not items:
            continue
        rows = []
        for item in items:
            rows.append(f'<tr><td>{esc(item.name, 200)}{_image(store, rec, item, budget)}</td>'
                        f'<td class="num">{fmt_num(item.size)}</td><td>{esc(item.category or "", 20)}</td>'
                        f'<td>{esc(item.mime_type, 100)}</td><td class="small muted">{esc(item.sha256[:12])}</td></tr>')
        out.append(f'<section class="card"><h3>{_swatch(index)}{esc(labels[rec.id], 120)}</h3>'
                   '<table class="grid attachments"><tr><th>name</th><th class="num">bytes</th><th>category</th>'
                   f'<th>type</th><th>sha256</th></tr>{"".join(rows)}</table></section>')
    return ("<h2>Attachments</h2>" + "".join(out)) if out else ""


def _range(stats: Any) -> str:
    if not isinstance(stats, dict) or stats.get("min") is None:
        return "\u2013"
    return (f'{fmt_num(stats.get("min"))} \u2013 {fmt_num(stats.get("max"))}'
            f' <span class="muted small">avg {fmt_num(stats.get("avg"))}</span>')


def _fields(data: dict, key: str) -> list[tuple[tuple[str, str], Any]]:
    """((asset, name), value) of a recipe run's levers or outcomes (malformed items skipped)."""
    items = data.get(key)
    return [((str(x.get("asset")), str(x.get("name"))), x.get("value"))
            for x in (items if isinstance(items, list) else ()) if isinstance(x, dict)]


def _recipe_section(store: Any, records: list) -> str:
    by_book: dict = {}
    for rec in records:
        if rec.kind == "recipe" and isinstance(rec.metadata.get("cookbook"), str):
            by_book.setdefault(rec.metadata["cookbook"], []).append(rec)
    out = []
    for book_id, recs in by_book.items():
        wanted = {rec.id for rec in recs}
        found = [r for r in store.recipe_runs(book_id) if r.run_id in wanted]
        if not found:
            continue
        try:
            title = store.cookbook(book_id).name
        except errors.RunliteError:
            title = book_id
        data = [r.data for r in found]
        levers = list(dict.fromkeys(k for d in data for k, _ in _fields(d, "levers")))
        outcomes = list(dict.fromkeys(k for d in data for k, _ in _fields(d, "outcomes")))
        head = "".join(f"<th>{esc(a, 40)} / {esc(n, 60)}</th>" for a, n in levers + outcomes)
        rows = []
        for d in data:
            lv, oc = dict(_fields(d, "levers")), dict(_fields(d, "outcomes"))
            cells = "".join(f"<td>{_range(lv.get(k))}</td>" for k in levers)
            cells += "".join(f'<td class="num">{fmt_num(oc[k].get("avg") if isinstance(oc.get(k), dict) else None)}'
                             '</td>' for k in outcomes)
            rows.append(f'<tr><td>{esc(d.get("constraint_group_id"), 40)}</td><td>{_json_text(d.get("constraints"), 120)}'
                        f'</td><td class="small">{esc(d.get("_earliest"), 40)}</td>'
                        f'<td class="num">{_duration(d.get("_duration_seconds"))}</td>'
                        f'<td class="num">{fmt_num(d.get("_count"))}</td><td class="num">{fmt_num(d.get("_score"))}</td>'
                        f"{cells}</tr>")
        spans = []  # each lever's range over these runs
        for k in levers:
            values = [v for d in data for key, v in _fields(d, "levers") if key == k and isinstance(v, dict)]
            mins = [v["min"] for v in values if isinstance(v.get("min"), (int, float))]
            maxs = [v["max"] for v in values if isinstance(v.get("max"), (int, float))]
            spans.append(f"<td><b>{fmt_num(min(mins)) if mins else chr(8211)} \u2013 "
                         f"{fmt_num(max(maxs)) if maxs else chr(8211)}</b></td>")
        total = ('<tr><th colspan="6">lever ranges over these runs</th>' + "".join(spans)
                 + "<td></td>" * len(outcomes) + "</tr>")
        out.append(f'<section class="card recipes"><h3>cookbook {esc(title, 120)}</h3><div class="scroll">'
                   '<table class="grid recipe"><tr><th>group</th><th>constraints</th><th>earliest</th>'
                   f'<th class="num">duration</th><th class="num">records</th><th class="num">score</th>{head}</tr>'
                   f'{"".join(rows)}{total}</table></div></section>')
    return ("<h2>Recipe runs</h2>" + "".join(out)) if out else ""


def _feedback_section(store: Any, records: list, labels: dict) -> str:
    out = []
    for index, rec in enumerate(records):
        items = store.feedback(rec.id)
        if not items:
            continue
        rows = "".join(
            f'<tr><td>{esc(f["key"], 80)}</td><td class="num">{fmt_num(f["score"])}</td>'
            f'<td>{_json_text(f["value"], 120) if f["value"] is not None else ""}</td>'
            f'<td>{esc(f["comment"] or "", 300)}</td>'
            f'<td>{esc((f["feedback_source"] or {}).get("type", "") if isinstance(f["feedback_source"], dict) else "", 20)}</td>'
            f'<td class="small">{_when(f["created_at"])}</td></tr>' for f in items[:200])
        out.append(f'<section class="card"><h3>{_swatch(index)}{esc(labels[rec.id], 120)}</h3>'
                   '<table class="grid feedback"><tr><th>key</th><th class="num">score</th><th>value</th>'
                   f'<th>comment</th><th>source</th><th>created</th></tr>{rows}</table></section>')
    return ("<h2>Feedback</h2>" + "".join(out)) if out else ""
