"""Inline SVG charts (no JavaScript library, nothing fetched): a line chart, a sparkline, range bars."""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

from markupsafe import Markup


def _clean(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]


def line_chart(labels: Sequence[str], values: Sequence[float | None], title: str, fmt: str = "{:.1f}", width: int = 460, height: int = 160) -> Markup:
    """A titled line chart with points, first/last labels and min/max on the axis."""
    vals = _clean(values)
    known = [v for v in vals if v is not None]
    pad, top = 36, 22
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="14" class="title">{escape(title)}</text>']
    if not known:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">no data</text></svg>')
        return Markup("".join(parts))
    lo, hi = min(known), max(known)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    n = len(vals)
    x = lambda i: pad + (width - pad - 8) * (i / (n - 1) if n > 1 else 0.5)  # noqa: E731
    y = lambda v: top + (height - top - 22) * (1 - (v - lo) / (hi - lo))  # noqa: E731
    points = [(x(i), y(v), i, v) for i, v in enumerate(vals) if v is not None]
    parts.append(f'<text x="2" y="{y(hi) + 4:.1f}" class="axis">{escape(fmt.format(hi))}</text>')
    parts.append(f'<text x="2" y="{y(lo) + 4:.1f}" class="axis">{escape(fmt.format(lo))}</text>')
    parts.append('<polyline class="line" points="' + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points) + '"/>')
    for px, py, i, v in points:
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5"><title>{escape(str(labels[i]))}: {escape(fmt.format(v))}</title></circle>')
    parts.append(f'<text x="{pad}" y="{height - 4}" class="axis">{escape(str(labels[0]))}</text>')
    parts.append(f'<text x="{width - 8}" y="{height - 4}" text-anchor="end" class="axis">{escape(str(labels[-1]))}</text></svg>')
    return Markup("".join(parts))


def sparkline(values: Sequence[float | None], width: int = 90, height: int = 22) -> Markup:
    """A small trend line (e.g. weekly mean score)."""
    known = [v for v in _clean(values) if v is not None]
    if len(known) < 2:
        return Markup('<span class="muted">–</span>')
    lo, hi = min(known), max(known)
    span = (hi - lo) or 1.0
    pts = " ".join(f"{2 + (width - 4) * i / (len(known) - 1):.1f},{2 + (height - 4) * (1 - (v - lo) / span):.1f}" for i, v in enumerate(known))
    return Markup(f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><polyline points="{pts}"/></svg>')


def range_bar(q1: float | None, median: float | None, q3: float | None, outlier: str = "", width: int = 160, height: int = 16) -> Markup:
    """The interquartile range and median of a group's scores on a 0-100 axis."""
    vals = _clean([q1, median, q3])
    if any(v is None for v in vals):
        return Markup('<span class="muted">–</span>')
    a, m, b = (4 + (width - 8) * max(0.0, min(100.0, v)) / 100 for v in vals)  # type: ignore[operator]
    cls = f"range {outlier}".strip()
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
        f'<line x1="4" x2="{width - 4}" y1="{height / 2}" y2="{height / 2}" class="axisline"/>'
        f'<rect x="{a:.1f}" y="3" width="{max(b - a, 1):.1f}" height="{height - 6}"/>'
        f'<line x1="{m:.1f}" x2="{m:.1f}" y1="1" y2="{height - 1}" class="median"/></svg>'
    )
