"""Small inline SVG charts for the HTML report: no library, no script, nothing fetched.

Each function returns one ``<svg>`` element as text, sized by ``viewBox`` so it scales with
the page. Every label is passed through :func:`html.escape`; numbers are formatted here.
Charts with no data say so in text instead of drawing empty axes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 16, 40
_X_ANCHORS: Final = ("start", "middle", "end")
"""Anchors of the three x-axis labels, so the first and last stay inside the chart."""


@dataclass(frozen=True, slots=True)
class Series:
    """One named series of ``(x, y)`` points, drawn in ``color`` (a CSS color)."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _empty(message: str, css_class: str) -> str:
    return (
        f'<svg class="chart {_e(css_class)} empty" viewBox="0 0 {WIDTH} 60" role="img" '
        f'aria-label="{_e(message)}"><text x="{WIDTH / 2}" y="34" text-anchor="middle" '
        f'class="muted">{_e(message)}</text></svg>'
    )


def _scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    span = (high - low) or 1.0

    def scale(value: float) -> float:
        return out_low + (value - low) / span * (out_high - out_low)

    return scale


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    css_class: str,
    y_range: tuple[float, float],
    x_label: Callable[[float], str],
    y_label: Callable[[float], str],
    step: bool = False,
    threshold: tuple[float, str] | None = None,
    empty_message: str = "no data",
) -> str:
    """Lines (or steps) with dots at each point, axes, and an optional dashed threshold."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(empty_message, css_class)
    xs = [x for x, _ in points]
    x_low, x_high = min(xs), max(xs)
    if x_low == x_high:
        x_low, x_high = x_low - 1.0, x_high + 1.0
    y_low, y_high = y_range
    sx = _scale(x_low, x_high, _LEFT, WIDTH - _RIGHT)
    sy = _scale(y_low, y_high, HEIGHT - _BOTTOM, _TOP)
    parts = [
        f'<svg class="chart {_e(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<line class="axis" x1="{_LEFT}" y1="{HEIGHT - _BOTTOM}" x2="{WIDTH - _RIGHT}" '
        f'y2="{HEIGHT - _BOTTOM}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{HEIGHT - _BOTTOM}"/>',
    ]
    for value in _ticks(y_low, y_high):
        y = sy(value)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_e(y_label(value))}</text>"
        )
    for value, anchor in zip(_ticks(x_low, x_high, 3), _X_ANCHORS, strict=False):
        parts.append(
            f'<text class="tick" x="{sx(value):.1f}" y="{HEIGHT - _BOTTOM + 16}" '
            f'text-anchor="{anchor}">{_e(x_label(value))}</text>'
        )
    if threshold is not None:
        value, label = threshold
        y = sy(min(max(value, y_low), y_high))
        parts.append(
            f'<line class="threshold" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" '
            f'y2="{y:.1f}"/><text class="threshold-label" x="{WIDTH - _RIGHT}" '
            f'y="{y - 4:.1f}" text-anchor="end">{_e(label)}</text>'
        )
    for one in series:
        ordered = sorted(one.points)
        coords: list[str] = []
        for index, (x, y) in enumerate(ordered):
            if step and index:
                coords.append(f"{sx(x):.1f},{sy(ordered[index - 1][1]):.1f}")
            coords.append(f"{sx(x):.1f},{sy(y):.1f}")
        color = _e(one.color)
        parts.append(
            f'<polyline class="series" data-series="{_e(one.name)}" fill="none" '
            f'stroke="{color}" stroke-width="2" points="{" ".join(coords)}"/>'
        )
        parts += [
            f'<circle class="point" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}">'
            f"<title>{_e(x_label(x))}: {_e(y_label(y))}</title></circle>"
            for x, y in ordered
        ]
    parts.append(_legend([(s.name, s.color) for s in series]))
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    out = []
    x = _LEFT
    for name, color in entries:
        out.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{_e(color)}"/>'
            f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{_e(name)}</text>'
        )
        x += 14 + 8 * len(name) + 24
    return "".join(out)


def log_edges(values: Sequence[float], bins: int = 20) -> list[float]:
    """``bins + 1`` edges spaced evenly on a log scale over ``values`` (all above 0)."""
    positive = [v for v in values if v > 0]
    if not positive:
        return [0.0, 1.0]
    low, high = min(positive), max(positive)
    if low == high:
        low, high = low / 1.5, high * 1.5
    a, b = math.log10(low), math.log10(high)
    return [10 ** (a + (b - a) * i / bins) for i in range(bins + 1)]


def histogram_chart(
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    css_class: str,
    value_label: Callable[[float], str],
    bins: int = 20,
    empty_message: str = "no data",
) -> str:
    """Side-by-side bars of each ``(name, values, color)`` over shared log-spaced bins."""
    everything = [v for _, values, _ in series for v in values]
    if not everything:
        return _empty(empty_message, css_class)
    edges = log_edges(everything, bins)
    counts: list[list[int]] = []
    for _, values, _ in series:
        row = [0] * bins
        for value in values:
            index = bins - 1
            for i in range(bins):
                if value <= edges[i + 1]:
                    index = i
                    break
            row[index] += 1
        counts.append(row)
    top = max(max(row) for row in counts) or 1
    plot_w = WIDTH - _LEFT - _RIGHT
    slot = plot_w / bins
    bar_w = max((slot - 2) / max(len(series), 1), 1.0)
    sy = _scale(0, top, HEIGHT - _BOTTOM, _TOP)
    parts = [
        f'<svg class="chart {_e(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<line class="axis" x1="{_LEFT}" y1="{HEIGHT - _BOTTOM}" x2="{WIDTH - _RIGHT}" '
        f'y2="{HEIGHT - _BOTTOM}"/>',
    ]
    for value in _ticks(0, top, 3):
        y = sy(value)
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{value:.0f}</text>"
        )
    for s_index, (name, _, color) in enumerate(series):
        for b_index, amount in enumerate(counts[s_index]):
            if not amount:
                continue
            x = _LEFT + b_index * slot + 1 + s_index * bar_w
            y = sy(amount)
            parts.append(
                f'<rect class="bar" data-series="{_e(name)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{HEIGHT - _BOTTOM - y:.1f}" fill="{_e(color)}">'
                f"<title>{_e(name)}: {amount} in {_e(value_label(edges[b_index]))} - "
                f"{_e(value_label(edges[b_index + 1]))}</title></rect>"
            )
    for index, anchor in zip((0, bins // 2, bins), _X_ANCHORS, strict=True):
        x = _LEFT + index * slot
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="{anchor}">'
            f"{_e(value_label(edges[index]))}</text>"
        )
    parts.append(_legend([(name, color) for name, _, color in series]))
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["HEIGHT", "WIDTH", "Series", "histogram_chart", "line_chart", "log_edges"]
