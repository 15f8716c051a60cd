"""SVG of logged histograms: one step's bars, and the distribution over steps (pure, no store).

``histogram_svg`` draws one histogram's bins as bars (at most 512 bins: the store's limit, so
the drawing is bounded whatever was logged). ``distribution_svg`` draws what TensorBoard's
"distributions" tab draws: for each step, the quantiles of its histogram (min, 7%, 16%, 31%,
median, 69%, 84%, 93%, max), as nested bands over the steps: five paths whose size is bounded
by the number of step columns the caller samples, never by the steps logged.
"""

from __future__ import annotations

import math
from typing import Sequence

from .charts import FONT, PALETTE, esc, fmt_num, fmt_tick, nice_ticks

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 10, 24
# TensorBoard's distribution bands: quantiles (in basis points) paired from the outside in.
QUANTILES = (0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000)
BAND_OPACITY = (0.18, 0.3, 0.45, 0.6)


def _open(kind: str, title: str) -> list[str]:
    return [f'<svg class="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" font-family="{FONT}" '
            f'font-size="11" fill="#334155"><title>{esc(title)}</title>']


def _scale(lo: float, hi: float, pix_lo: float, pix_hi: float):
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return lambda v: (pix_lo + pix_hi) / 2
    return lambda v: pix_lo + (v - lo) / span * (pix_hi - pix_lo)


def _axis(lo: float, hi: float, scale, *, vertical: bool, fmt=None) -> list[str]:
    ticks, step = nice_ticks(lo, hi, 5)
    out = []
    for t in ticks:
        p = scale(t)
        if not math.isfinite(p):
            continue
        label = esc(fmt(t) if fmt else fmt_tick(t, step), 20)
        if vertical:
            out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{p:.1f}" y2="{p:.1f}" stroke="#f1f5f9"/>'
                       f'<text x="{LEFT - 4}" y="{p + 4:.1f}" text-anchor="end">{label}</text>')
        else:
            out.append(f'<text x="{p:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{label}</text>')
    return out


def histogram_svg(edges: Sequence[float], counts: Sequence[int], *, title: str = "", color: int = 0) -> str:
    """One histogram as bars: x is the value (bins at their edges), y the count."""
    parts = _open("histogram", title or "histogram")
    if not counts:
        return "".join(parts) + "</svg>"
    lo, hi, top = edges[0], edges[-1], max(counts) or 1
    sx = _scale(lo, hi, LEFT, WIDTH - RIGHT)
    sy = _scale(0, top, HEIGHT - BOTTOM, TOP)
    parts += _axis(0, top, sy, vertical=True)
    fill = PALETTE[color % len(PALETTE)]
    base = HEIGHT - BOTTOM
    for i, count in enumerate(counts):
        if not count:
            continue
        x0, x1, y = sx(edges[i]), sx(edges[i + 1]), sy(count)
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{max(0.6, x1 - x0 - 0.4):.1f}" '
                     f'height="{base - y:.1f}" fill="{fill}" fill-opacity=".75"><title>'
                     f'{esc(fmt_num(edges[i]))} to {esc(fmt_num(edges[i + 1]))}: {count:,}</title></rect>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#94a3b8"/>')
    parts += _axis(lo, hi, sx, vertical=False)
    parts.append("</svg>")
    return "".join(parts)


def quantiles(edges: Sequence[float], counts: Sequence[int]) -> list[float] | None:
    """The ``QUANTILES`` of a histogram, linear within a bin (None when it counts nothing)."""
    total = sum(counts)
    if total <= 0:
        return None
    out, cumulative, i = [], 0, 0
    bounds = [j for j, c in enumerate(counts) if c]
    first, last = bounds[0], bounds[-1]
    for q in QUANTILES:
        if q == 0:
            out.append(edges[first])
            continue
        if q == 10000:
            out.append(edges[last + 1])
            continue
        target = total * q / 10000
        while i < len(counts) - 1 and cumulative + counts[i] < target:
            cumulative += counts[i]
            i += 1
        inside = (target - cumulative) / counts[i] if counts[i] else 0.0
        out.append(edges[i] + (edges[i + 1] - edges[i]) * min(1.0, max(0.0, inside)))
    return out


def distribution_svg(columns: Sequence[tuple[int, list[float]]], *, title: str = "", color: int = 0) -> str:
    """TensorBoard's distributions: ``columns`` is ``[(step, quantiles(...)), ...]`` in step order."""
    parts = _open("distribution", title or "distribution over steps")
    if not columns:
        return "".join(parts) + "</svg>"
    steps = [s for s, _ in columns]
    lo = min(q[0] for _, q in columns)
    hi = max(q[-1] for _, q in columns)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    sx = _scale(steps[0], steps[-1], LEFT, WIDTH - RIGHT)
    sy = _scale(lo, hi, HEIGHT - BOTTOM, TOP)
    parts += _axis(lo, hi, sy, vertical=True)
    fill = PALETTE[color % len(PALETTE)]
    for band, opacity in enumerate(BAND_OPACITY):  # outer band first, so inner ones draw over it
        upper = [f"{sx(s):.1f},{sy(q[-1 - band]):.1f}" for s, q in columns]
        lower = [f"{sx(s):.1f},{sy(q[band]):.1f}" for s, q in reversed(columns)]
        if len(columns) == 1:  # one step: a thin vertical band
            x = sx(steps[0])
            upper = [f"{x - 2:.1f},{sy(columns[0][1][-1 - band]):.1f}", f"{x + 2:.1f},{sy(columns[0][1][-1 - band]):.1f}"]
            lower = [f"{x + 2:.1f},{sy(columns[0][1][band]):.1f}", f"{x - 2:.1f},{sy(columns[0][1][band]):.1f}"]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{fill}" '
                     f'fill-opacity="{opacity}"/>')
    median = " ".join(f"{sx(s):.1f},{sy(q[4]):.1f}" for s, q in columns)
    parts.append(f'<polyline class="median" points="{median}" fill="none" stroke="{fill}" stroke-width="1.5"/>')
    parts.append(f'<line class="cursor" x1="0" x2="0" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#0f172a" '
                 f'stroke-dasharray="3 3" visibility="hidden" data-x0="{steps[0]}" data-x1="{steps[-1]}" '
                 f'data-left="{LEFT}" data-right="{WIDTH - RIGHT}"/>')
    parts += _axis(steps[0], steps[-1], sx, vertical=False, fmt=lambda v: fmt_num(int(v)) if v == int(v) else f"{v:g}")
    parts.append("</svg>")
    return "".join(parts)
