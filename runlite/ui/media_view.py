"""Media on run pages: images, histograms and tables logged over steps (docs/MEDIA.md).

``media_section`` renders a run page's media (``report.runs_body`` calls it): per run, per
image name a panel with the image at the last step and a step slider; per histogram name the
last step's bars, a step slider and the distribution over steps (``media_charts``); per table
name the first rows at the last step, a step slider and pages. A file report (``served`` false)
shows the last step only, images inline within the report's byte budget, and no slider.

The served page's script (``static/media.js``) moves the sliders and pages: it asks the
``*_json`` answers below (the viewer's ``/api/media/image``, ``/api/media/histogram``,
``/api/media/table``). An image comes back as a ``data:`` URI, so the viewer's CSP
(``img-src data:``) needs no change; ``image_file`` serves one image's bytes at
``/media/image`` for opening or saving it. Whatever the file holds, an image is shown or served
only when its bytes start with the magic of PNG, JPEG, GIF or WebP (``sniff``), with that
type, and only up to ``SERVE_MAX`` bytes: SVG, HTML or anything else is refused, never served.

Work is bounded by pixels and page sizes: a slider has at most ``STOPS`` stops (sampled evenly
over the steps; a slider cannot show more), the distribution at most ``DIST_STEPS`` columns,
a table page at most ``PAGE_MAX`` rows of ``COLUMNS`` columns with cells cut at ``CELL_CHARS``.
"""

from __future__ import annotations

import base64
import math
import urllib.parse
from typing import Any

from . import api, media_charts
from .. import errors
from .charts import PALETTE, esc, fmt_num

NAMES = 24                 # names of one kind shown per run (the rest listed)
STOPS = 1000               # slider stops: more than a slider's pixels could tell apart
DIST_STEPS = 120           # step columns of a distribution
SERVE_MAX = 16 << 20       # bytes of one image the viewer serves or inlines on request
PAGE_INLINE_MAX = 512 << 10  # an image larger than this is fetched by the script, not put in the page
PAGE_ROWS = 20             # table rows per page (default)
PAGE_MAX = 200             # table rows per page (most a request may ask)
COLUMNS = 100              # table columns shown
CELL_CHARS = 300           # characters of a table cell shown
REPORT_ROWS = 10           # table rows in a file report
MAX_REF = 256              # characters of a run or media name in a request
SCRIPT = "media.js"
KINDS = ("image", "histogram", "table")

# Magic bytes of the image types a page may show; WebP's "WEBP" is at byte 8 (after RIFF + size).
_MAGIC = (("image/png", 0, b"\x89PNG\r\n\x1a\n"), ("image/jpeg", 0, b"\xff\xd8\xff"),
          ("image/gif", 0, b"GIF87a"), ("image/gif", 0, b"GIF89a"), ("image/webp", 8, b"WEBP"))


def sniff(data: bytes) -> str | None:
    """The content type of raster image bytes by their magic (PNG, JPEG, GIF, WebP), else None:
    SVG, HTML and anything else are never shown as images."""
    for content_type, at, magic in _MAGIC:
        if data[at:at + len(magic)] == magic and (at == 0 or data[:4] == b"RIFF"):
            return content_type
    return None


def checked_image(data: bytes) -> tuple[str, bytes]:
    """``(content type, data)`` of bytes a page may show; ValidationError (a 400) otherwise."""
    if len(data) > SERVE_MAX:
        raise errors.LimitError(f"the image is {len(data):,} bytes; the viewer shows at most {SERVE_MAX:,}")
    content_type = sniff(data)
    if content_type is None:
        raise errors.ValidationError("the stored bytes are not a PNG, JPEG, GIF or WebP image; not shown")
    return content_type, data


def stops(steps: list[int], limit: int = STOPS) -> list[int]:
    """At most ``limit`` of ``steps``, evenly spread, the first and last always kept."""
    if len(steps) <= limit:
        return list(steps)
    last = len(steps) - 1
    return [steps[round(i * last / (limit - 1))] for i in range(limit)]


# ---------------------------------------------------------------- the answers of the media API


def _param(params: dict, name: str, required: bool = True) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise errors.ValidationError(f"give the parameter {name!r} once")
    if not values or values[0] == "":
        if required:
            raise errors.ValidationError(f"give {name}=...")
        return None
    value = values[0]
    if len(value) > MAX_REF or not value.isprintable():
        raise errors.ValidationError(f"{name} must be 1 to {MAX_REF} printable characters")
    return value


def _whole(params: dict, name: str, default: int | None = None, low: int = 0, high: int = 2**63 - 1) -> int:
    text = _param(params, name, required=default is None)
    if text is None:
        return default
    try:
        value = int(text, 10)
    except ValueError:
        raise errors.ValidationError(f"{name} must be a whole number, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise errors.ValidationError(f"{name} must be from {low:,} to {high:,}, got {value:,}")
    return value


def _target(store: Any, params: dict, allowed: tuple[str, ...]) -> tuple[str, str, int]:
    """The run id, media name and step a media request names, checked."""
    for name in params:
        if name not in allowed:
            raise errors.ValidationError(f"unknown parameter {name[:40]!r}; this address takes {', '.join(allowed)}")
    run_id = store.get_run(_param(params, "run")).id  # NotFoundError: a 404
    return run_id, _param(params, "name"), _whole(params, "step", low=-(2**63))


def _image_record(store: Any, run_id: str, name: str, step: int) -> Any:
    found = store.images(run_id, name, step=step, data=False)
    if not found:
        raise errors.NotFoundError(f"this run has no image {name[:80]!r} at step {step}")
    if found[0].size > SERVE_MAX:
        raise errors.LimitError(f"the image is {found[0].size:,} bytes; the viewer shows at most {SERVE_MAX:,}")
    return found[0]


def image_file(store: Any, params: dict) -> tuple[str, bytes]:
    """``/media/image?run=..&name=..&step=..``: one image's ``(content type, bytes)``, checked."""
    run_id, name, step = _target(store, params, ("run", "name", "step"))
    _image_record(store, run_id, name, step)
    return checked_image(store.image_bytes(run_id, name, step))


def image_json(store: Any, params: dict) -> dict:
    """``/api/media/image``: one image as a ``data:`` URI with its step, size and caption."""
    run_id, name, step = _target(store, params, ("run", "name", "step"))
    rec = _image_record(store, run_id, name, step)
    content_type, data = checked_image(store.image_bytes(run_id, name, step))
    return {"name": name, "step": step, "width": rec.width, "height": rec.height, "size": len(data),
            "caption": rec.caption, "type": content_type,
            "src": f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"}


def histogram_json(store: Any, params: dict) -> dict:
    """``/api/media/histogram``: one step's bins (at most 512) and their bars as SVG."""
    run_id, name, step = _target(store, params, ("run", "name", "step", "color"))
    color = _whole(params, "color", 0, 0, len(PALETTE) - 1)
    found = store.histograms(run_id, name, step=step)
    if not found:
        raise errors.NotFoundError(f"this run has no histogram {name[:80]!r} at step {step}")
    h = found[0]
    return {"name": name, "step": step, "edges": [_finite(e) for e in h.edges], "counts": list(h.counts),
            "nan_count": h.nan_count, "posinf_count": h.posinf_count, "neginf_count": h.neginf_count,
            "html": _histogram_body(h, color)}


def table_json(store: Any, params: dict) -> dict:
    """``/api/media/table``: one page of a table at a step (``offset``, ``limit`` rows) as HTML."""
    run_id, name, step = _target(store, params, ("run", "name", "step", "offset", "limit"))
    offset = _whole(params, "offset", 0)
    limit = _whole(params, "limit", PAGE_ROWS, 1, PAGE_MAX)
    found = store.tables(run_id, name, step=step)
    if not found:
        raise errors.NotFoundError(f"this run has no table {name[:80]!r} at step {step}")
    table = found[0]
    if offset and offset >= len(table.rows):
        raise errors.ValidationError(f"offset {offset:,} is past the table's {len(table.rows):,} rows")
    return {"name": name, "step": step, "offset": offset, "limit": limit, "total": len(table.rows),
            "columns": len(table.columns), "html": _table_body(table, offset, limit)}


# ---------------------------------------------------------------- the section of a run page


def _swatch(index: int) -> str:
    return f'<span class="swatch c{index % len(PALETTE)}"></span>'


def _slider(steps: list[int], what: str) -> str:
    """A step slider over ``steps`` (sampled to ``STOPS``), at the last step."""
    shown = stops(steps)
    if len(shown) == 1:  # nothing to slide over
        return f'<div class="step-tools small muted">one step logged</div>{api.inline_json(shown, "media-steps")}'
    note = f' <span class="muted small">({len(shown):,} of {len(steps):,} steps)</span>' if len(shown) < len(steps) else ""
    return (f'<div class="step-tools"><label>step <input type="range" class="step-slider" min="0" '
            f'max="{len(shown) - 1}" value="{len(shown) - 1}" aria-label="{esc(what)} step"></label> '
            f'<output class="step-value">{shown[-1]}</output>{note}</div>'
            + api.inline_json(shown, "media-steps"))


def _figure(kind: str, rec: Any, name: str, title: str, inner: str, served: bool, color: int = 0) -> str:
    attrs = (f' data-run="{esc(rec.id, None)}" data-name="{esc(name, None)}" data-color="{color}"' if served else "")
    return (f'<figure class="media media-{kind}"{attrs}><div class="chart-title">{esc(title, 200)}</div>'
            f"{inner}</figure>")


def _image_panel(store: Any, rec: Any, name: str, served: bool, budget: list) -> str:
    steps = store.media_steps(rec.id, "image", name)
    last = store.images(rec.id, name, step=steps[-1], data=False)[0]
    img, note = "", ""
    fits = last.size <= PAGE_INLINE_MAX and (served or last.size <= budget[0])
    if fits:
        try:
            content_type, data = checked_image(store.image_bytes(rec.id, name, last.step))
            img = (f'<img class="media-image" alt="{esc(name, 200)} at step {last.step}" '
                   f'src="data:{content_type};base64,{base64.b64encode(data).decode("ascii")}">')
            if not served:
                budget[0] -= len(data)
        except errors.ValidationError as exc:
            note = f'<p class="note media-note">not shown: {esc(exc, 200)}</p>'
    elif served:  # the script fetches it (it may be too large even then: it says so)
        img = f'<img class="media-image" alt="{esc(name, 200)} at step {last.step}" hidden>'
        note = f'<p class="note media-note">over {PAGE_INLINE_MAX // 1024} KiB: fetched by the page\'s script</p>'
    else:
        note = '<p class="note">image not shown: the report\'s image budget is used up</p>'
    caption = f'<figcaption class="small muted">{esc(last.caption or "", 500)}</figcaption>'
    facts = (f'<p class="note media-facts">step <b class="shown-step">{last.step}</b> \u00b7 <span class="media-size">'
             f'{last.width} x {last.height} \u00b7 {fmt_num(last.size)} bytes</span>'
             + ("" if served else f' \u00b7 {len(steps):,} step{"s" if len(steps) != 1 else ""} logged') + "</p>")
    link = ""
    if served:
        query = urllib.parse.urlencode({"run": rec.id, "name": name, "step": last.step})
        link = f' <a class="open-image" href="/media/image?{esc(query, None)}">open</a>'
    inner = ((_slider(steps, name) if served else "") + facts.replace("</p>", link + "</p>") + img + note
             + (caption if last.caption or served else ""))
    return _figure("image", rec, name, name, inner, served)


def _histogram_body(h: Any, color: int) -> str:
    out = [media_charts.histogram_svg(h.edges, h.counts, title=f"{h.name} at step {h.step}", color=color)]
    apart = [(n, what) for n, what in ((h.nan_count, "NaN"), (h.posinf_count, "+inf"), (h.neginf_count, "-inf")) if n]
    total = sum(h.counts)
    out.append(f'<p class="note">step <b class="shown-step">{h.step}</b> \u00b7 {fmt_num(total)} values in '
               f'{len(h.counts)} bins from {fmt_num(h.edges[0])} to {fmt_num(h.edges[-1])}'
               + "".join(f' \u00b7 <span class="err">{n:,} {what}</span>' for n, what in apart) + "</p>")
    return "".join(out)


def _histogram_panel(store: Any, rec: Any, name: str, served: bool, color: int) -> str:
    steps = store.media_steps(rec.id, "histogram", name)
    columns = []
    for step in stops(steps, DIST_STEPS):
        h = store.histograms(rec.id, name, step=step)[0]
        q = media_charts.quantiles(h.edges, h.counts)
        if q is not None:
            columns.append((step, q))
    last = store.histograms(rec.id, name, step=steps[-1])[0]
    dist = ""
    if len(steps) > 1:
        dist = ('<div class="distribution-box"><div class="small muted">distribution over steps (min, 7%, 16%, '
                f'31%, median, 69%, 84%, 93%, max; {len(columns)} of {len(steps):,} steps)</div>'
                f'{media_charts.distribution_svg(columns, title=f"{name} over steps", color=color)}</div>')
    inner = ((_slider(steps, name) if served else "") + '<div class="media-boxes"><div class="histogram-box">'
             f'{_histogram_body(last, color)}</div>{dist}</div>')
    return _figure("histogram", rec, name, name, inner, served, color)


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="muted">\u2013</td>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{fmt_num(value)}</td>'
    return f"<td>{esc(value, CELL_CHARS)}</td>"


def _table_body(table: Any, offset: int, limit: int) -> str:
    columns = table.columns[:COLUMNS]
    rows = table.rows[offset:offset + limit]
    firsts = [next((row[i] for row in rows if row[i] is not None), None) for i in range(len(columns))]
    numeric = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in firsts]  # heads align with numbers
    head = "".join(('<th class="num">' if numeric[i] else "<th>") + f"{esc(c, 80)}</th>" for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(_cell(v) for v in row[:COLUMNS]) + "</tr>" for row in rows)
    more = f" \u00b7 the first {COLUMNS} of {len(table.columns):,} columns" if len(table.columns) > COLUMNS else ""
    end = offset + len(rows)
    return (f'<div class="scroll"><table class="grid media-table"><thead><tr>{head}</tr></thead><tbody>{body}'
            f'</tbody></table></div><p class="note table-rows">step <b class="shown-step">{table.step}</b> \u00b7 '
            f'rows {offset + 1 if rows else 0:,}\u2013{end:,} of {len(table.rows):,}{more}</p>')


def _table_panel(store: Any, rec: Any, name: str, served: bool) -> str:
    steps = store.media_steps(rec.id, "table", name)
    table = store.tables(rec.id, name, step=steps[-1])[0]
    limit = PAGE_ROWS if served else REPORT_ROWS
    pager = ('<div class="pager"><button type="button" class="page-prev">previous rows</button> '
             '<button type="button" class="page-next">next rows</button></div>') if served else ""
    inner = ((_slider(steps, name) if served else "") + pager
             + f'<div class="table-box" data-limit="{limit}">{_table_body(table, 0, limit)}</div>')
    return _figure("table", rec, name, name, inner, served)


def media_section(store: Any, records: list, labels: dict, *, served: bool, budget: int) -> str:
    """The "Media" section of a run page (empty when no run has media); ``budget``: the bytes of
    images a file report may inline (shared by its runs)."""
    out, left = [], [budget]
    for index, rec in enumerate(records):
        names = store.media_names(rec.id)
        if not names:
            continue
        parts = [f'<section class="card media-run"><h3>{_swatch(index)}{esc(labels.get(rec.id, rec.name), 120)}</h3>']
        for kind in KINDS:
            of_kind = [n for n in names if n.kind == kind]
            if not of_kind:
                continue
            panels = []
            for item in of_kind[:NAMES]:
                if kind == "image":
                    panels.append(_image_panel(store, rec, item.name, served, left))
                elif kind == "histogram":
                    panels.append(_histogram_panel(store, rec, item.name, served, index))
                else:
                    panels.append(_table_panel(store, rec, item.name, served))
            parts.append(f'<h4>{kind}s <span class="muted small">({len(of_kind)})</span></h4>'
                         f'<div class="media-grid media-{kind}s">{"".join(panels)}</div>')
            if len(of_kind) > NAMES:
                rest = ", ".join(esc(n.name, 80) for n in of_kind[NAMES:NAMES + 100])
                parts.append(f'<p class="note">{len(of_kind) - NAMES:,} more {kind}s not shown: {rest}</p>')
        parts.append("</section>")
        out.append("".join(parts))
    return ('<h2 id="media">Media</h2>' + "".join(out)) if out else ""


def has_media(body: str) -> bool:
    """Whether a rendered body holds a media panel (its page then loads ``SCRIPT``)."""
    return '<figure class="media ' in body


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
