"""SVG charts for reports and the viewer: pure rendering, no store access, standard library only.

- ``line_chart``: named series overlaid; points are re-bucketed into pixel columns and each
  series is drawn as one band path (per-column min/max) and one line path (per-column last
  value). Size is bounded by the column count, never by the point count.
- ``timeline_svg``: lanes of coloured state spans (alert states) and level-coloured marks
  (events, re-bucketed into columns too).
- ``waterfall_svg``: a trace as rows of offset/duration bars, errors marked, tokens shown.

Every text goes through ``esc`` (escaped, characters XML cannot hold replaced, long text cut).
NaN and infinite values are gaps; every coordinate written is finite, rounded to 0.1 px, and
paths use relative moves so one point costs ~7 bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import math
import re
from typing import Sequence

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
           "#475569", "#ea580c")
STATE_COLORS = {"ok": "#86efac", "critical": "#f87171", "no data": "#e5e7eb"}
LEVEL_COLORS = {"debug": "#94a3b8", "info": "#3b82f6", "warning": "#f59e0b", "error": "#ef4444",
                "critical": "#991b1b", None: "#64748b"}
LEVEL_RANK = {"critical": 5, "error": 4, "warning": 3, "info": 2, "debug": 1}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
SVG_NS = "http://www.w3.org/2000/svg"  # a namespace name, never fetched
_FLOAT_MAX = 1.7976931348623157e308

# Characters XML 1.0 cannot hold (C0 controls but tab/newline/return, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clip(text: object, limit: int = 200) -> str:
    """``text`` as str, cut to ``limit`` characters with the full length noted."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\u2026 ({len(text):,} characters)"


def esc(text: object, limit: int | None = 200) -> str:
    """Text made safe for HTML and XML (text or quoted attribute), cut to ``limit`` characters."""
    text = text if isinstance(text, str) else str(text)
    if limit is not None:
        text = clip(text, limit)
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def fmt_num(value: object) -> str:
    """A number for people: ints with separators, floats to 6 significant digits."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "\u221e" if value > 0 else "\u2212\u221e"
        return f"{value:.6g}"
    return esc(value, 60)


def fmt_time(seconds: float, span: float = 0.0) -> str:
    """Epoch seconds as a UTC clock time (with the date when ``span`` is over a day)."""
    try:
        moment = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return fmt_num(float(seconds))
    if span > 2 * 86_400:
        return moment.strftime("%m-%d %H:%M")
    if span < 10:  # ticks closer than a second apart
        return moment.strftime("%H:%M:%S") + f".{moment.microsecond // 1000:03d}"
    return moment.strftime("%H:%M:%S" if span < 600 else "%H:%M")


def nice_ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], float]:
    """Round tick values covering [lo, hi], and their step (0 when none could be chosen)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return ([lo] if lo == hi else [lo, hi]), 0.0
    raw = span / count
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    if not (step > 0 and math.isfinite(step)):
        return [lo, hi], 0.0
    first = math.ceil(lo / step) * step
    ticks: list[float] = []
    for i in range(count * 3):
        t = first + i * step
        if t > hi + step * 1e-9:
            break
        if ticks and t == ticks[-1]:  # step below the float resolution at this magnitude
            return [lo, hi], 0.0
        ticks.append(t)
    return ticks or [lo, hi], step


def fmt_tick(value: float, step: float) -> str:
    """A tick label as short as the tick step allows."""
    if step and abs(value) < step * 1e-6:
        return "0"
    big = max(abs(value), step)
    if big >= 1e6 or (big < 1e-3 and big > 0):
        digits = 2 if not step else min(6, max(2, math.ceil(math.log10(big / step)) + 1))
        return f"{value:.{digits}g}"
    decimals = 0 if not step or step >= 1 else min(6, math.ceil(-math.log10(step) - 1e-9))
    return f"{value:,.{decimals}f}"


def _n(tenths: int) -> str:
    """An integer count of tenths as the shortest SVG number ("-1.2", ".5", "3")."""
    sign = "-" if tenths < 0 else ""
    whole, frac = divmod(abs(tenths), 10)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac}" if whole else f"{sign}.{frac}"


def _path(points: Sequence[tuple[int, int]], close: bool = False) -> str:
    """Points in tenths of a pixel as one subpath: an absolute move, then relative lines."""
    x, y = points[0]
    out = [f"M{_n(x)} {_n(y)}"]
    if len(points) == 1:
        out.append("h0")  # zero-length: drawn as a dot by a round line cap
    else:
        rel = []
        for px, py in points[1:]:
            dy = py - y
            rel.append(f"{_n(px - x)}{' ' if dy >= 0 else ''}{_n(dy)}")  # "-" separates by itself
            x, y = px, py
        out.append("l" + " ".join(rel))
    if close:
        out.append("z")
    return "".join(out)


def _scale(lo: float, hi: float, pix_lo: float, pix_hi: float):
    """value -> pixel (as float), safe for spans that overflow (halves are subtracted)."""
    half_span = hi / 2 - lo / 2
    k = (pix_hi - pix_lo) / half_span if half_span > 0 and math.isfinite(half_span) else math.inf
    if not math.isfinite(k):  # no range, or one below float resolution (subnormals)
        mid = (pix_lo + pix_hi) / 2
        return lambda v: mid
    return lambda v: pix_lo + (v / 2 - lo / 2) * k


def _pad(lo: float, hi: float) -> tuple[float, float]:
    """A degenerate range widened so a constant series sits mid-chart."""
    if lo < hi:
        return lo, hi
    d = abs(lo) * 0.05 or 1.0
    return max(lo - d, -_FLOAT_MAX), min(hi + d, _FLOAT_MAX)


@dataclasses.dataclass(frozen=True)
class Line:
    """One series of a line chart: its points (any order) and a palette index."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: int = 0
    key: str = ""  # e.g. the run id, written as data-key


def _columns(xs: Sequence[float], ys: Sequence[float], x0: float, x1: float, n: int) -> list[list]:
    """Segments of pixel columns ``[col, min, max, last]``; a NaN/inf point breaks the line
    when the next finite point falls in a later column."""
    width = x1 / 2 - x0 / 2
    scale = n / width if width > 0 and math.isfinite(width) else 0.0
    order = sorted(range(len(xs)), key=xs.__getitem__) if any(
        xs[i] > xs[i + 1] for i in range(len(xs) - 1)) else range(len(xs))
    segments: list[list] = []
    current: list = []
    gap = False
    isfinite = math.isfinite
    for i in order:
        x = xs[i]
        if not (x0 <= x <= x1):
            continue
        y = ys[i]
        if not isfinite(y):
            gap = True
            continue
        col = min(n - 1, int((x / 2 - x0 / 2) * scale)) if scale else n // 2
        if current and current[-1][0] == col:
            cell = current[-1]
            if y < cell[1]:
                cell[1] = y
            elif y > cell[2]:
                cell[2] = y
            cell[3] = y
        else:
            if gap and current:
                segments.append(current)
                current = []
            current.append([col, y, y, y])
        gap = False
    if current:
        segments.append(current)
    return segments


def _x_axis(x0: float, x1: float, xaxis: str, left: float, right: float, y: float, scale_x) -> list[str]:
    parts = [f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="#cbd5e1"/>']
    ticks, step = nice_ticks(x0, x1, 6)
    for t in ticks:
        px = scale_x(t)
        label = fmt_time(t, x1 - x0) if xaxis == "timestamp" else fmt_tick(t, step)
        anchor = "end" if px > right - 30 else "middle"  # the last label stays inside the picture
        parts.append(f'<line x1="{px:.1f}" y1="{y:.1f}" x2="{px:.1f}" y2="{y + 4:.1f}" stroke="#94a3b8"/>'
                     f'<text x="{px:.1f}" y="{y + 16:.1f}" text-anchor="{anchor}">{esc(label)}</text>')
    return parts


def _legend(lines: Sequence[Line], width: float, left: float, y: float) -> tuple[list[str], float]:
    """The legend laid out in rows from ``y`` down; returns its elements and its bottom."""
    parts = ['<g class="legend">']
    x = left
    for line in lines:
        label = clip(line.name, 32)
        w = 22 + 6.5 * len(label)
        if x + w > width - 8 and x > left:
            x, y = left, y + 16
        color = PALETTE[line.color % len(PALETTE)]
        parts.append(f'<g class="legend-item" data-key="{esc(line.key, 100)}"><title>{esc(line.name)}</title>'
                     f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="12" height="4" rx="1" fill="{color}"/>'
                     f'<text x="{x + 16:.1f}" y="{y:.1f}">{esc(label, None)}</text></g>')
        x += w + 10
    parts.append("</g>")
    return parts, (y + 8 if lines else y - 8)


def line_chart(lines: Sequence[Line], *, title: str = "", xaxis: str = "step", columns: int = 400,
               x_domain: tuple[float, float] | None = None, width: int = 720, height: int = 260,
               data: dict | None = None, xmlns: bool = False) -> str:
    """Series overlaid in one SVG chart.

    Args:
        lines: the series; ``xs`` are steps, seconds, or epoch seconds for ``xaxis="timestamp"``
            (tick labels are then UTC clock times).
        columns: pixel columns the points are bucketed into (band and line have one point each).
        x_domain: the x range to draw (a zoom window); by default the points' range.
        data: extra ``data-*`` attributes of the ``<svg>`` (values escaped).
        xmlns: declare the SVG namespace (a standalone ``image/svg+xml`` document needs it).

    The ``<svg>`` carries ``data-x0``/``data-x1`` (the domain) and ``data-plot-x``/``data-plot-w``
    (the plot area in viewBox units) so a script can turn a drag into an x range.
    """
    columns = max(2, min(int(columns), 4000))
    if x_domain is None:
        finite = [x for line in lines for x in (min(line.xs, default=None), max(line.xs, default=None))
                  if x is not None and math.isfinite(x)]
        x0, x1 = (min(finite), max(finite)) if finite else (0.0, 1.0)
    else:
        x0, x1 = x_domain
    x0, x1 = _pad(float(x0), float(x1))
    segments = [(line, _columns(line.xs, line.ys, x0, x1, columns)) for line in lines]
    lows = [c[1] for _, segs in segments for seg in segs for c in seg]
    highs = [c[2] for _, segs in segments for seg in segs for c in seg]
    y0, y1 = _pad(min(lows), max(highs)) if lows else (0.0, 1.0)
    left, right = 64.0, width - 12.0
    col_t = int((right - left) * 10) // columns  # a column's width in tenths of a pixel
    if col_t * columns >= (right - left) * 9.7:  # whole tenths: every x step is the same short number
        right = left + col_t * columns / 10
    else:
        col_t = 0
    legend, legend_h = _legend(lines, width, left, 34.0 if title else 14.0)
    top = legend_h + 8
    bottom = height - 30.0
    if bottom - top < 60:
        bottom = top + 60
        height = int(bottom + 30)
    scale_x = _scale(x0, x1, left, right)
    scale_y = _scale(y0, y1, bottom - 4, top + 4)
    col_w = (right - left) / columns
    attrs = {"metric": title, "xaxis": xaxis, "x0": repr(x0), "x1": repr(x1), "plot-x": f"{left:.0f}",
             "plot-w": f"{right - left:.0f}", "width": str(width), **(data or {})}
    ns = f' xmlns="{SVG_NS}"' if xmlns else ""
    head = (f'<svg{ns} class="chart" viewBox="0 0 {width} '
            f'{height}" width="100%" preserveAspectRatio="xMinYMin meet" role="img" font-family="{FONT}" '
            f'font-size="11" fill="#334155" '
            + " ".join(f'data-{k}="{esc(v, 10_000)}"' for k, v in attrs.items()) + ">")
    parts = [head, f"<title>{esc(title or 'chart')}</title>"]
    if title:
        parts.append(f'<text class="chart-title" x="{left:.0f}" y="16" font-size="13" '
                     f'font-weight="600">{esc(title, 80)}</text>')
    parts.extend(legend)
    ticks, step = nice_ticks(y0, y1, 5)
    for t in ticks:
        py = scale_y(t)
        parts.append(f'<line x1="{left:.1f}" y1="{py:.1f}" x2="{right:.1f}" y2="{py:.1f}" stroke="#eef2f7"/>'
                     f'<text x="{left - 6:.1f}" y="{py + 4:.1f}" text-anchor="end">{esc(fmt_tick(t, step))}</text>')
    parts.extend(_x_axis(x0, x1, xaxis, left, right, bottom, scale_x))
    parts.append(f'<text x="{right:.1f}" y="{height - 2:.1f}" text-anchor="end" fill="#64748b">{esc(xaxis)}</text>')
    for line, segs in segments:
        color = PALETTE[line.color % len(PALETTE)]
        band, path = [], []
        for seg in segs:
            xs_px = ([int(left * 10) + col_t * c[0] + col_t // 2 for c in seg] if col_t
                     else [round((left + (c[0] + 0.5) * col_w) * 10) for c in seg])
            hi = [(x, round(scale_y(c[2]) * 10)) for x, c in zip(xs_px, seg)]
            lo = [(x, round(scale_y(c[1]) * 10)) for x, c in zip(xs_px, seg)]
            if any(a[1] != b[1] for a, b in zip(hi, lo)):
                band.append(_path(hi + lo[::-1], close=True))
            path.append(_path([(x, round(scale_y(c[3]) * 10)) for x, c in zip(xs_px, seg)]))
        key = esc(line.key, 100)
        if band:
            parts.append(f'<path class="band" data-key="{key}" d="{"".join(band)}" fill="{color}" '
                         f'fill-opacity=".18" stroke="{color}" stroke-opacity=".3" stroke-width=".8"/>')
        parts.append(f'<path class="line" data-key="{key}" d="{"".join(path)}" fill="none" stroke="{color}" '
                     f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>')
    if not lows:
        parts.append(f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
                     f'fill="#94a3b8">no finite values</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- timelines


@dataclasses.dataclass(frozen=True)
class Lane:
    """One row of a timeline: state spans ``(start, end, state)`` and marks ``(time, level, text)``,
    times in epoch seconds."""

    label: str
    spans: Sequence[tuple[float, float, str]] = ()
    marks: Sequence[tuple[float, str | None, str]] = ()


def _open_svg(kind: str, width: int, height: int, title: str, attrs: str = "", *, tooltip: str = "") -> list[str]:
    """The opening of a timeline or waterfall: the element, its tooltip, its heading."""
    parts = [f'<svg class="{kind}" viewBox="0 0 {width} {height}" width="100%" role="img" font-family="{FONT}" '
             f'font-size="11" fill="#334155"{attrs}><title>{esc(title or tooltip or kind)}</title>']
    if title:
        parts.append(f'<text x="4" y="16" font-size="13" font-weight="600">{esc(title, 80)}</text>')
    return parts


def timeline_svg(lanes: Sequence[Lane], t0: float, t1: float, *, width: int = 1000, columns: int = 240,
                 title: str = "") -> str:
    """Lanes over [t0, t1] (epoch seconds): state spans as coloured bars (``STATE_COLORS``),
    marks as ticks coloured by level. Marks are bucketed into ``columns``: each column keeps its
    most severe level, its count and its first text, so size does not grow with the events."""
    t0, t1 = _pad(float(t0), float(t1))
    label_w, right = 150.0, width - 12.0
    row_h, top = 22.0, (26.0 if title else 8.0)
    height = int(top + row_h * max(1, len(lanes)) + 34)
    scale = _scale(t0, t1, label_w, right)
    parts = _open_svg("timeline", width, height, title, f' data-t0="{t0!r}" data-t1="{t1!r}"')
    col_w = (right - label_w) / columns
    for row, lane in enumerate(lanes):
        y = top + row * row_h
        parts.append(f'<g class="lane"><text x="4" y="{y + 15:.1f}"><title>{esc(lane.label)}</title>'
                     f'{esc(lane.label, 22)}</text>'
                     f'<rect x="{label_w:.1f}" y="{y + 3:.1f}" width="{right - label_w:.1f}" height="{row_h - 6:.1f}" '
                     f'fill="#f8fafc"/>')
        for start, end, state in lane.spans:
            if not (math.isfinite(start) and math.isfinite(end)):
                continue
            a, b = scale(max(t0, min(t1, start))), scale(max(t0, min(t1, end)))
            color = STATE_COLORS.get(state, "#cbd5e1")
            parts.append(f'<rect class="state state-{esc(state, 20)}" x="{a:.1f}" y="{y + 4:.1f}" '
                         f'width="{max(b - a, 1.0):.1f}" height="{row_h - 8:.1f}" fill="{color}">'
                         f'<title>{esc(state, 20)}: {esc(fmt_time(start, 1e9))} \u2013 '
                         f'{esc(fmt_time(end, 1e9))}</title></rect>')
        cells: dict[int, list] = {}
        for t, level, text in lane.marks:
            if not (math.isfinite(t) and t0 <= t <= t1):
                continue
            col = min(columns - 1, int((scale(t) - label_w) / col_w))
            cell = cells.get(col)
            if cell is None:
                cells[col] = [level, 1, text]
            else:
                cell[1] += 1
                if LEVEL_RANK.get(level, 0) > LEVEL_RANK.get(cell[0], 0):
                    cell[0] = level
        for col in sorted(cells):
            level, count, text = cells[col]
            x = label_w + (col + 0.5) * col_w
            more = f" (+{count - 1} more)" if count > 1 else ""
            parts.append(f'<rect class="mark level-{esc(level or "none", 20)}" x="{x - 1:.1f}" y="{y + 3:.1f}" '
                         f'width="2" height="{row_h - 6:.1f}" fill="{LEVEL_COLORS.get(level, "#64748b")}">'
                         f'<title>{esc(text, 120)}{more}</title></rect>')
        parts.append("</g>")
    axis_y = top + row_h * max(1, len(lanes)) + 4
    parts.extend(_x_axis(t0, t1, "timestamp", label_w, right, axis_y, scale))
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- trace waterfall


@dataclasses.dataclass(frozen=True)
class Bar:
    """One span of a waterfall: times in epoch seconds (``end`` None while running)."""

    label: str
    depth: int
    start: float
    end: float | None
    kind: str = ""
    error: str | None = None
    tokens: int | None = None
    key: str = ""


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def waterfall_svg(bars: Sequence[Bar], *, width: int = 1000, title: str = "") -> str:
    """A trace as one row per span (in the order given, indented by depth): a bar from the span's
    offset for its duration, red with a cross for errors, token counts at the right."""
    finite = [t for b in bars for t in (b.start, b.end) if t is not None and math.isfinite(t)]
    t0, t1 = _pad(min(finite), max(finite)) if finite else (0.0, 1.0)
    label_w, info_w = 260.0, 130.0
    right = width - info_w
    row_h, top = 20.0, (24.0 if title else 4.0)
    height = int(top + row_h * max(1, len(bars)) + 8)
    scale = _scale(t0, t1, label_w, right)
    parts = _open_svg("waterfall", width, height, title, tooltip="trace")
    for row, bar in enumerate(bars):
        y = top + row * row_h
        indent = 4 + 12 * min(bar.depth, 10)
        start = bar.start if math.isfinite(bar.start) else t0
        end = bar.end if bar.end is not None and math.isfinite(bar.end) else t1
        a, b = scale(max(t0, start)), scale(min(t1, max(start, end)))
        cls = "bar error" if bar.error else ("bar running" if bar.end is None else "bar")
        color = "#ef4444" if bar.error else ("#93c5fd" if bar.end is None else "#3b82f6")
        label = clip(bar.label, max(8, 30 - bar.depth * 2))
        tip = f"{bar.label} [{bar.kind}] {_duration(max(0.0, end - start))}"
        if bar.error:
            tip += f"\nerror: {bar.error}"
        info = _duration(max(0.0, end - start)) + ("" if bar.end is not None else " \u2026")
        if bar.tokens:
            info += f" \u00b7 {bar.tokens:,} tok"
        mark, fill = ("\u2715 ", ' fill="#b91c1c"') if bar.error else ("", "")
        parts.append(
            f'<g class="span" data-key="{esc(bar.key, 100)}"><title>{esc(tip, 400)}</title>'
            f'<text x="{indent}" y="{y + 14:.1f}"{fill}>{mark}{esc(label, None)}</text>'
            f'<rect class="{cls}" x="{a:.1f}" y="{y + 4:.1f}" width="{max(b - a, 1.5):.1f}" height="{row_h - 8:.1f}" '
            f'rx="2" fill="{color}"/>'
            f'<text class="info" x="{right + 6:.1f}" y="{y + 14:.1f}" fill="#64748b">{esc(info)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
