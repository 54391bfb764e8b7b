"""Line charts as inline SVG text, so a report is one self-contained HTML file with no plotting library.

Example:
    >>> svg = line_chart({"model": ([0, 1, 2], [0.0, 0.5, 1.0])}, "threshold", "fraction")
    >>> svg.startswith("<svg") and "model" in svg
    True
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

# Distinct colors for the rows of a report; the references get their own.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
REFERENCE_STYLES = {"gray": ("#999999", "4 3"), "truth": ("#000000", "")}

Series = tuple[Sequence[float], Sequence[float]]


def series_style(label: str, index: int) -> tuple[str, str]:
    """(stroke color, dash pattern) of a row: fixed for the references, the palette for the rest."""
    return REFERENCE_STYLES.get(label, (PALETTE[index % len(PALETTE)], ""))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    return [float(x) for x in np.linspace(low, high, count)]


def _format(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(
    series: dict[str, Series],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = 520,
    height: int = 320,
) -> str:
    """One polyline per series over shared axes, with a legend; returns ``<svg>...</svg>``.

    Args:
        series: label -> (x values, y values).
        x_range, y_range: axis limits; by default the data's extent.
    """
    left, right, top, bottom = 56, 150, 14, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()]) if series else np.zeros(1)
    x0, x1 = x_range or (float(np.nanmin(xs)), float(np.nanmax(xs)))
    y0, y1 = y_range or (float(min(0.0, np.nanmin(ys))), float(np.nanmax(ys)))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>',
    ]
    for x in _ticks(x0, x1):
        parts.append(
            f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{top + plot_h}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{px(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_format(x)}</text>'
        )
    for y in _ticks(y0, y1):
        parts.append(
            f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + plot_w}" y2="{py(y):.1f}" stroke="#eee"/>'
        )
        parts.append(f'<text x="{left - 4}" y="{py(y) + 4:.1f}" text-anchor="end">{_format(y)}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{html.escape(y_label)}</text>'
    )
    for index, (label, (x, y)) in enumerate(series.items()):
        color, dash = series_style(label, index)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(
            f"{px(min(max(a, x0), x1)):.1f},{py(min(max(b, y0), y1)):.1f}"
            for a, b in zip(x, y, strict=True)
            if np.isfinite(a) and np.isfinite(b)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.6"{dash_attr}/>'
        )
        ly = top + 12 + 16 * index
        lx = left + plot_w + 10
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{color}"{dash_attr}/>'
        )
        parts.append(f'<text x="{lx + 22}" y="{ly}">{html.escape(_short(label))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]


def histogram_chart(
    values: dict[str, Sequence[float]], x_label: str, bins: int = 30, width: int = 520, height: int = 320
) -> str:
    """Histograms of several value sets on shared bins from 0 (or below), drawn as step outlines (share of
    photos per bin)."""
    finite = [np.asarray(v, float)[np.isfinite(v)] for v in values.values()]
    everything = np.concatenate(finite) if finite else np.zeros(1)
    low, high = min(0.0, float(everything.min())), float(everything.max())
    edges = np.linspace(low, high if high > low else low + 1, bins + 1)
    series: dict[str, Series] = {}
    for label, data in zip(values, finite, strict=True):
        counts, _ = np.histogram(data, bins=edges)
        share = counts / max(len(data), 1)
        xs = np.repeat(edges, 2)[1:-1]
        ys = np.repeat(share, 2)
        series[label] = (np.concatenate(([edges[0]], xs, [edges[-1]])), np.concatenate(([0], ys, [0])))
    return line_chart(series, x_label, "share of photos", (edges[0], edges[-1]), None, width, height)
