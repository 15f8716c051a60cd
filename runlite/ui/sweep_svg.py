"""SVG for the sweep comparison (``/compare``): parallel coordinates and a scatter, pure rendering.

Why SVG here and not uPlot (which draws the metric charts): uPlot draws series over one sorted
x axis and finds the hovered point by its x. Parallel coordinates are not such series (each
axis has its own scale, some are categories), and a sweep's scatter puts many runs at one x
(a grid of learning rates), where a cursor on x cannot tell the runs apart. With one SVG
element per run, hover and highlight are a few lines of script (``static/compare.js``), a
click is a plain link to the run (``<a href>``, no script), the text goes through ``esc`` and
the size is bounded by the page's run bound (``sweep.MAX_RUNS``): a polyline costs about 12
bytes an axis.

Values are placed on ``Axis`` scales: numbers on a linear scale, or a log scale when they are
all positive and span three decades or more; anything else (strings, booleans, lists) as
ordinal categories in sorted order. A run without a value (or a NaN/infinite one) sits in a
"none" slot below the axis.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from .charts import FONT, esc, fmt_num, fmt_tick, nice_ticks
from .compare import value_text

MISSING = object()  # a run without the parameter
VIRIDIS = ("#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725")
CATEGORY_TICKS = 12   # category labels written on one axis (the others are thinned out)
LOG_DECADES = 3       # positive numbers spanning this many decades get a log axis


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass
class Axis:
    """One scale: ``kind`` linear, log or category; ``missing`` when some run has no value."""

    label: str
    kind: str
    lo: float = 0.0
    hi: float = 1.0
    categories: tuple = ()
    missing: bool = False

    def place(self, value: object) -> float | None:
        """Where ``value`` sits, from 0 (bottom or left) to 1; None when it has no place."""
        if value is MISSING:
            return None
        if self.kind == "category":
            text = value_text(value)
            if text not in self._index:
                return None
            n = len(self.categories)
            return 0.5 if n == 1 else self._index[text] / (n - 1)
        if not _is_number(value) or not math.isfinite(value) or (self.kind == "log" and value <= 0):
            return None
        v = math.log10(value) if self.kind == "log" else float(value)
        if self.hi == self.lo:
            return 0.5
        return min(1.0, max(0.0, (v / 2 - self.lo / 2) / (self.hi / 2 - self.lo / 2)))

    def __post_init__(self) -> None:
        self._index = {text: i for i, text in enumerate(self.categories)}

    def ticks(self) -> list[tuple[float, str]]:
        """(place, label) of the axis's tick marks."""
        if self.kind == "category":
            n = len(self.categories)
            step = max(1, math.ceil(n / CATEGORY_TICKS))
            return [(0.5 if n == 1 else i / (n - 1), self.categories[i]) for i in range(0, n, step)]
        if self.hi == self.lo:
            return [(0.5, fmt_num(10 ** self.lo if self.kind == "log" else self.lo))]
        if self.kind == "log":
            decades = range(math.ceil(self.lo), math.floor(self.hi) + 1)
            step = max(1, math.ceil(len(decades) / 8))
            marks = [(d, fmt_num(10.0 ** d)) for d in decades[::step]]
            if len(marks) < 2:
                marks = [(self.lo, fmt_num(10 ** self.lo)), (self.hi, fmt_num(10 ** self.hi))]
        else:
            values, step = nice_ticks(self.lo, self.hi, 5)
            marks = [(v, fmt_tick(v, step)) for v in values if self.lo <= v <= self.hi]
        return [((v - self.lo) / (self.hi - self.lo), text) for v, text in marks]


def axis_of(label: str, values: Sequence[object], *, allow_log: bool = True) -> Axis:
    """The scale of these values (``MISSING`` where a run has none)."""
    present = [v for v in values if v is not MISSING]
    missing = len(present) < len(values)
    if present and all(_is_number(v) for v in present):
        finite = [float(v) for v in present if math.isfinite(v)]
        missing = missing or len(finite) < len(present)
        if not finite:
            return Axis(label, "linear", missing=True)
        lo, hi = min(finite), max(finite)
        if allow_log and lo > 0 and math.log10(hi) - math.log10(lo) >= LOG_DECADES:
            return Axis(label, "log", math.log10(lo), math.log10(hi), missing=missing)
        return Axis(label, "linear", lo, hi, missing=missing)
    categories = tuple(sorted({value_text(v) for v in present}))
    return Axis(label, "category", categories=categories, missing=missing)


@dataclasses.dataclass
class ColorScale:
    """A metric's values ``lo..hi`` as colours (viridis: dark low, yellow high)."""

    label: str
    lo: float
    hi: float

    def color(self, value: float) -> str:
        t = 0.5 if self.hi <= self.lo else min(1.0, max(0.0, (value - self.lo) / (self.hi - self.lo)))
        pos = t * (len(VIRIDIS) - 1)
        i = min(int(pos), len(VIRIDIS) - 2)
        a, b, f = VIRIDIS[i], VIRIDIS[i + 1], pos - i
        mix = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
        return "#" + "".join(f"{c:02x}" for c in mix)


@dataclasses.dataclass
class Mark:
    """One run as drawn: its link, hover text and colour."""

    href: str
    tip: str
    color: str


def _open(kind: str, width: int, height: int, title: str) -> list[str]:
    return [f'<svg class="sweep {kind}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" font-family="{FONT}" font-size="11" fill="#334155"><title>{esc(title)}</title>']


def _legend(scale: ColorScale | None, x: float, top: float, bottom: float, gradient_id: str) -> list[str]:
    """A vertical colour bar with the metric's name, its top (high) and bottom (low) values."""
    if scale is None:
        return []
    stops = "".join(f'<stop offset="{i / (len(VIRIDIS) - 1):.2f}" stop-color="{c}"/>'
                    for i, c in enumerate(reversed(VIRIDIS)))
    return [f'<defs><linearGradient id="{gradient_id}" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs>',
            f'<g class="legend"><text x="{x:.1f}" y="{top - 10:.1f}" font-weight="600">{esc(scale.label, 18)}</text>',
            f'<rect x="{x:.1f}" y="{top:.1f}" width="14" height="{bottom - top:.1f}" fill="url(#{gradient_id})"/>',
            f'<text x="{x + 20:.1f}" y="{top + 9:.1f}">{esc(fmt_num(scale.hi))}</text>',
            f'<text x="{x + 20:.1f}" y="{bottom:.1f}">{esc(fmt_num(scale.lo))}</text></g>']


def _link(mark: Mark, index: int, tag: str, attrs: str, *, tip: bool = True) -> str:
    """A run's element, linked to the run, with its place (``data-run``) and hover text (a
    scatter drawn beside parallel coordinates leaves it out: the script reads the line's)."""
    text = f'data-tip="{esc(mark.tip, None)}" ' if tip else ""
    return f'<a href="{esc(mark.href, None)}"><{tag} class="run" data-run="{index}" {text}{attrs}/></a>'


def parallel_svg(axes: Sequence[Axis], rows: Sequence[Sequence[object]], marks: Sequence[Mark],
                 scale: ColorScale | None, *, width: int = 1100, height: int = 420) -> str:
    """Parallel coordinates: one vertical axis per ``axes`` item, one polyline per run (``rows[i]``
    its values in axis order, ``marks[i]`` its link, hover text and colour)."""
    left, right, top, bottom = 64.0, (130.0 if scale else 50.0), 56.0, height - 52.0
    none_y = bottom + 24
    span = (width - right - left) / max(1, len(axes) - 1)
    xs = [left + i * span if len(axes) > 1 else (left + width - right) / 2 for i in range(len(axes))]

    def y_of(axis: Axis, value: object) -> float:
        place = axis.place(value)
        return none_y if place is None else bottom - place * (bottom - top)

    out = _open("parallel", width, height, "parallel coordinates: " + ", ".join(a.label for a in axes))
    # many lines fade so their density shows (0.8 opaque for a few dozen runs, 0.2 for thousands)
    opacity = min(0.8, max(0.2, 6 / math.sqrt(max(1, len(rows)))))
    out.append(f'<g class="lines" stroke-opacity="{opacity:.2f}">')
    for index, (row, mark) in enumerate(zip(rows, marks)):
        points = " L".join(f"{x:.1f} {y_of(axis, v):.1f}" for x, axis, v in zip(xs, axes, row))
        out.append(_link(mark, index, "path", f'd="M{points}" stroke="{mark.color}"'))
    out.append('</g><g class="axes" stroke-linecap="round" pointer-events="none">')  # lines under it hover
    chars = max(6, int(span / 6.5)) if len(axes) > 1 else 40
    for i, (x, axis) in enumerate(zip(xs, axes)):
        name = axis.label + (" (log)" if axis.kind == "log" else "")
        label_y = 18 if i % 2 == 0 or span > 150 else 34  # staggered when the axes are close
        out.append(f'<g class="axis" data-key="{esc(axis.label, None)}"><line x1="{x:.1f}" y1="{top:.1f}" '
                   f'x2="{x:.1f}" y2="{bottom:.1f}" stroke="#334155" stroke-width="1.2"/>'
                   f'<text class="axis-name" x="{x:.1f}" y="{label_y}" text-anchor="middle" font-weight="600">'
                   f'{esc(name, chars)}</text>')
        for place, text in axis.ticks():
            y = bottom - place * (bottom - top)
            out.append(f'<line x1="{x - 3:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#334155"/>'
                       f'<text x="{x - 5:.1f}" y="{y + 3.5:.1f}" text-anchor="end" paint-order="stroke" '
                       f'stroke="#fff" stroke-width="3">{esc(text, 14)}</text>')
        if axis.missing:
            out.append(f'<text x="{x - 5:.1f}" y="{none_y + 3.5:.1f}" text-anchor="end" class="none" '
                       'fill="#64748b">none</text>')
        out.append("</g>")
    out.append("</g>")
    out += _legend(scale, width - right + 40, top, bottom, "sweep-scale-parallel")
    out.append("</svg>")
    return "".join(out)


def scatter_svg(x_axis: Axis, y_axis: Axis, xs: Sequence[object], ys: Sequence[float], marks: Sequence[Mark],
                scale: ColorScale | None, *, width: int = 1100, height: int = 380, tips: bool = True) -> str:
    """One point per run at (its parameter ``xs[i]``, its metric ``ys[i]``); runs without an x
    value are left out (the page says how many). ``tips=False``: the points carry no hover
    text of their own (the same runs' lines on the page do, under the same ``data-run``)."""
    left, right, top, bottom = 72.0, (130.0 if scale else 30.0), 20.0, height - 46.0
    out = _open("scatter", width, height, f"{y_axis.label} against {x_axis.label}")
    out.append('<g class="grid" stroke="#e2e8f0" pointer-events="none">')
    for place, text in y_axis.ticks():
        y = bottom - (0.03 + 0.94 * place) * (bottom - top)
        out.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - right:.1f}" y2="{y:.1f}"/>'
                   f'<text x="{left - 6:.1f}" y="{y + 3.5:.1f}" text-anchor="end" stroke="none">{esc(text, 14)}</text>')
    for place, text in x_axis.ticks():
        x = left + (0.03 + 0.94 * place) * (width - right - left)
        out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}"/>'
                   f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" stroke="none">{esc(text, 14)}</text>')
    out.append("</g>")
    name = x_axis.label + (" (log)" if x_axis.kind == "log" else "")
    out.append(f'<text x="{(left + width - right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
               f'font-weight="600">{esc(name, 80)}</text><text transform="translate(14 {(top + bottom) / 2:.1f}) '
               f'rotate(-90)" text-anchor="middle" font-weight="600">{esc(y_axis.label, 60)}</text>')
    out.append('<g class="points">')
    for index, (xv, yv, mark) in enumerate(zip(xs, ys, marks)):
        px, py = x_axis.place(xv), y_axis.place(yv)
        if px is None or py is None:
            continue
        # 3% inside the frame: a point at an end of a scale is not cut by the edge
        cx, cy = left + (0.03 + 0.94 * px) * (width - right - left), bottom - (0.03 + 0.94 * py) * (bottom - top)
        out.append(_link(mark, index, "circle", f'cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{mark.color}"',
                         tip=tips))
    out.append("</g>")
    out += _legend(scale, width - right + 40, top + 14, bottom, "sweep-scale-scatter")
    out.append("</svg>")
    return "".join(out)
