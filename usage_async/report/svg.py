"""Charts as inline SVG strings: stacked columns and horizontal bars. Pure; no script.

Every chart is ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (its text
alternative, named by ``aria-labelledby``), a ``viewBox`` so that it scales to any width,
and one ``<rect class="bar">`` per non-zero value, carrying ``data-series``, ``data-key``
and ``data-value`` (the exact figure) and a ``<title>`` tooltip. Geometry is computed in
floats; figures are never shown from a float (``fmt`` formats the Decimal).
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

__all__ = ["PALETTE", "Bar", "Series", "horizontal_bars", "no_data", "stacked_columns"]

# Okabe-Ito's colour-blind-safe palette, then two greys.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
    "#999999",
    "#666666",
)
_ids = itertools.count(1)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


@attrs.frozen
class Series:
    """One stacked series of :func:`stacked_columns`: a name, a colour and one value per
    category (``None`` or zero: no bar)."""

    name: str
    color: str
    values: Sequence[Decimal]


@attrs.frozen
class Bar:
    """One bar of :func:`horizontal_bars`: the series it belongs to, its colour and value."""

    series: str
    color: str
    value: Decimal


def _head(title: str, desc: str, width: int, height: int, kind: str) -> tuple[str, str]:
    n = next(_ids)
    head = (
        f'<svg class="chart" data-kind="{kind}" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="svg-t{n} svg-d{n}" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="svg-t{n}">{_e(title)}</title><desc id="svg-d{n}">{_e(desc)}</desc>'
    )
    return head, "</svg>"


def no_data(title: str, message: str) -> str:
    """A chart that says there is nothing to draw (``message``, e.g. "No data for ...")."""
    head, tail = _head(title, message, 600, 80, "empty")
    return (
        f'{head}<rect x="0" y="0" width="600" height="80" class="frame"/>'
        f'<text class="no-data" x="300" y="46" text-anchor="middle">{_e(message)}</text>{tail}'
    )


def _ticks(top: float) -> list[float]:
    """About four round gridline values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / 4
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    out, value = [], 0.0
    while value < top + step / 2:
        out.append(value)
        value += step
    return out


def _tick_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:,.2f}"


def stacked_columns(
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[Decimal], str],
    *,
    category_label: Callable[[str], str] = str,
) -> str:
    """Vertical columns, one per category (a day), each a stack of ``series`` (projects).

    Each category gets a ``<text class="label" data-key=...>`` under its column (every
    category is labelled); the legend names each series.
    """
    totals = [
        sum((s.values[i] or Decimal(0) for s in series), Decimal(0)) for i in range(len(categories))
    ]
    top = float(max(totals, default=Decimal(0)))
    ticks = _ticks(top)
    scale_top = ticks[-1] or 1.0
    left, right, top_pad, plot_h = 64, 16, 16, 240
    n = max(1, len(categories))
    slot = max(14.0, 640 / n)  # a week still fills the width: the legend needs it
    width = int(left + right + slot * n)
    legend_rows = -(-len(series) // 3)
    height = top_pad + plot_h + 70 + 22 * legend_rows
    head, tail = _head(title, desc, width, height, "stacked-columns")
    out = [head]
    base = top_pad + plot_h
    for tick in ticks:
        y = base - plot_h * tick / scale_top
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_tick_text(tick)}</text>"
        )
    bar_w = min(slot * 0.72, 48.0)
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        y = float(base)
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = plot_h * float(value) / scale_top
            y -= h
            out.append(
                f'<rect class="bar" data-series="{_e(s.name)}" data-key="{_e(category)}" '
                f'data-value="{_e(value)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{max(h, 0.5):.1f}" fill="{s.color}"><title>{_e(category)}, '
                f"{_e(s.name)}: {_e(fmt(value))}</title></rect>"
            )
        cx = x + bar_w / 2
        out.append(
            f'<text class="label" data-key="{_e(category)}" x="{cx:.1f}" y="{base + 12}" '
            f'text-anchor="end" transform="rotate(-60 {cx:.1f} {base + 12})">'
            f"{_e(category_label(category))}</text>"
        )
    legend_y = base + 62
    for i, s in enumerate(series):
        lx = left + (i % 3) * 220
        ly = legend_y + 22 * (i // 3)
        out.append(
            f'<rect class="swatch" x="{lx}" y="{ly - 10}" width="12" height="12" fill="{s.color}"/>'
            f'<text class="legend" x="{lx + 18}" y="{ly}">{_e(_clip(s.name, 30))}</text>'
        )
    out.append(tail)
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def horizontal_bars(
    title: str,
    desc: str,
    rows: Sequence[tuple[str, Sequence[Bar]]],
    fmt: Callable[[Decimal], str],
    *,
    stacked: bool = False,
    mark: Decimal | None = None,
    mark_label: str = "",
) -> str:
    """One row per ``(label, bars)``: bars side by side (grouped) or end to end (``stacked``).

    Each row's label is a ``<text class="label" data-key=...>`` on its left and its value (the
    total, when stacked) on the bar's right. ``mark`` draws a vertical line at that value
    (a budget's 100 %), labelled ``mark_label``.
    """
    per_row = 1 if stacked else max((len(bars) for _, bars in rows), default=1)
    bar_h, gap = 16, 12
    row_h = bar_h * per_row + gap
    label_w, plot_w, value_w = 230, 360, 130
    width = label_w + plot_w + value_w
    sums = [sum((b.value for b in bars), Decimal(0)) for _, bars in rows]
    peaks = [
        float(total) if stacked else float(max((b.value for b in bars), default=0))
        for total, (_, bars) in zip(sums, rows, strict=True)
    ]
    top = max([*peaks, float(mark or 0)], default=0.0) or 1.0
    series_names: list[tuple[str, str]] = []
    for _, bars in rows:
        for b in bars:
            if (b.series, b.color) not in series_names:
                series_names.append((b.series, b.color))
    legend_h = 24 if len(series_names) > 1 else 0
    height = 8 + row_h * len(rows) + legend_h + (18 if mark is not None else 0)
    head, tail = _head(title, desc, width, height, "horizontal-bars")
    out = [head]
    y0 = 8 + (18 if mark is not None else 0)
    for r, (label, bars) in enumerate(rows):
        y = y0 + r * row_h
        out.append(
            f'<text class="label" data-key="{_e(label)}" x="{label_w - 8}" '
            f'y="{y + (bar_h * per_row) / 2 + 4:.1f}" text-anchor="end">{_e(_clip(label, 34))}'
            "</text>"
        )
        x = float(label_w)
        for j, b in enumerate(bars):
            w = plot_w * float(b.value) / top
            by = y if stacked else y + j * bar_h
            if b.value:
                out.append(
                    f'<rect class="bar" data-series="{_e(b.series)}" data-key="{_e(label)}" '
                    f'data-value="{_e(b.value)}" x="{x:.1f}" y="{by}" width="{max(w, 0.5):.1f}" '
                    f'height="{bar_h - 2}" fill="{b.color}"><title>{_e(label)}, {_e(b.series)}: '
                    f"{_e(fmt(b.value))}</title></rect>"
                )
            if stacked:
                x += w
            else:
                out.append(
                    f'<text class="value" x="{label_w + max(w, 0) + 6:.1f}" y="{by + bar_h - 5}">'
                    f"{_e(fmt(b.value))}</text>"
                )
        if stacked:
            out.append(
                f'<text class="value" x="{x + 6:.1f}" y="{y + bar_h - 5}">{_e(fmt(sums[r]))}</text>'
            )
    if mark is not None:
        mx = label_w + plot_w * float(mark) / top
        out.append(
            f'<line class="mark" x1="{mx:.1f}" x2="{mx:.1f}" y1="14" '
            f'y2="{y0 + row_h * len(rows)}"/>'
            f'<text class="mark-label" x="{mx:.1f}" y="11" text-anchor="middle">'
            f"{_e(mark_label)}</text>"
        )
    if legend_h:
        ly = y0 + row_h * len(rows) + 14
        for i, (name, color) in enumerate(series_names):
            lx = label_w + i * 170
            out.append(
                f'<rect class="swatch" x="{lx}" y="{ly - 10}" width="12" height="12" '
                f'fill="{color}"/><text class="legend" x="{lx + 18}" y="{ly}">{_e(name)}</text>'
            )
    out.append(tail)
    return "".join(out)
