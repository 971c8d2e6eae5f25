"""Charts drawn on the server as SVG (no script, no CDN; the page's Content-Security-Policy allows both
as they are): leak → contained and detected → contained latency per day, and exposures per source.

Every label is text the caller passes (days, source names); it is escaped here, since a source name can
come from a report.  Each chart carries a ``<title>`` and a ``role="img"`` with a label that says what
it shows, and the same figures are in the tables beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 28, 28, 40


@dataclass(frozen=True)
class DayLatency:
    day: str  # YYYY-MM-DD
    detect_to_contained: float | None  # median seconds, None when nothing was contained that day
    leak_to_contained: float | None


def _nice_ceiling(value: float) -> float:
    """A round upper bound for an axis (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def _duration(seconds: float) -> str:
    if seconds < 10:  # sub-second containment is the usual case: say how much below a second
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + " s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def latency_chart(days: Sequence[DayLatency]) -> str:
    """Two lines over the days: median detected → contained and leak → contained (log-free, linear)."""
    label = "Median time to containment per day: detected to contained, and leaked to contained"
    if not days:
        return (
            f'<svg class="chart" role="img" aria-label="{label}: no exposures yet" viewBox="0 0 {WIDTH} 60">'
            f'<title>{label}</title><text x="8" y="34" class="axis">No exposures yet.</text></svg>'
        )
    values = [v for d in days for v in (d.detect_to_contained, d.leak_to_contained) if v is not None]
    top = _nice_ceiling(max(values, default=1.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days) - 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts = [
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{label}</title>'
    ]
    for k in range(5):  # grid lines and their labels
        v = top * k / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_duration(v)}</text>'
        )
    # leaked first and larger, so that a day whose two medians are equal shows both dots
    for series, cls, r in (("leak_to_contained", "leaked", 4.5), ("detect_to_contained", "detected", 3)):
        points = [(x(i), y(getattr(d, series))) for i, d in enumerate(days) if getattr(d, series) is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline class="line {cls}" points="{path}"/>')
        for (px, py), d in zip(points, [d for d in days if getattr(d, series) is not None], strict=True):
            value = _duration(getattr(d, series))
            parts.append(
                f'<circle class="dot {cls}" cx="{px:.1f}" cy="{py:.1f}" r="{r}">'
                f"<title>{escape(d.day)}: {cls} → contained {value}</title></circle>"
            )
    shown = {0, len(days) - 1, *range(0, len(days), max(1, len(days) // 6))}
    for i in sorted(shown):
        parts.append(
            f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(days[i].day[5:])}</text>"
        )
    parts.append(
        f'<g class="legend"><rect class="key detected" x="{LEFT}" y="6" width="12" height="4"/>'
        f'<text x="{LEFT + 16}" y="12">detected → contained</text>'
        f'<rect class="key leaked" x="{LEFT + 170}" y="6" width="12" height="4"/>'
        f'<text x="{LEFT + 186}" y="12">leaked → contained</text></g></svg>'
    )
    return "".join(parts)


def sources_chart(counts: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars: exposures per source."""
    label = "Exposures per source"
    if not counts:
        return ""
    row, width = 22, WIDTH - 160 - 60
    top = max(n for _, n in counts) or 1
    height = TOP + row * len(counts) + 8
    parts = [f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {height}">']
    parts.append(f"<title>{label}</title>")
    for i, (source, n) in enumerate(counts):
        yy = TOP + i * row
        bar = max(2.0, width * n / top)
        parts.append(f'<text class="axis" x="150" y="{yy + 14}" text-anchor="end">{escape(source)}</text>')
        parts.append(f'<rect class="bar" x="160" y="{yy + 3}" width="{bar:.1f}" height="14"/>')
        parts.append(f'<text class="axis" x="{160 + bar + 6:.1f}" y="{yy + 14}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)
