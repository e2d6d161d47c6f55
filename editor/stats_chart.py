"""The chart of ``borgerdialog stats``: subscribers and events over the last 12 months, as an
SVG written by hand (no plotting library for one chart).

Two panels on one month axis, so the subscribers (hundreds) do not flatten the events (tens):
above, the subscribers at each month's end as a line; below, each month's events as grouped
bars. Danish title, axis titles and legend; Okabe-Ito colours, which colour-blind readers tell
apart; every point and bar has a ``<title>`` with its number. docs/operations.md#figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

MONTHS_DA = ("jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec.")
TITLE = "Nyhedsbrevet: abonnenter og hændelser de seneste 12 måneder"
LINE = ("Abonnenter ved månedens udgang", "#0072B2")
# Bar series: label, colour, the counters it adds up.
BARS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Tilmeldinger", "#E69F00", ("requested",)),
    ("Bekræftede", "#009E73", ("confirmed",)),
    ("Afmeldinger", "#CC79A7", ("unsubscribed",)),
    ("Bounces og klager", "#D55E00", ("bounced", "complained")),
)
WIDTH, HEIGHT = 960, 620
LEFT, RIGHT = 90, 30
TOP_PANEL = (120, 290)  # y of the top and bottom of the subscribers' plot area
BOTTOM_PANEL = (360, 530)
FONT = "font-family=\"system-ui, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif\""


def month_label(month: str) -> str:
    """``2026-11`` -> ``nov. 2026``."""
    return f"{MONTHS_DA[int(month[5:7]) - 1]} {month[:4]}"


def ticks(highest: float) -> list[int]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to at least ``highest``: 3-6 ticks."""
    if highest <= 0:
        return [0, 1]
    rough = highest / 4
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= rough)
    step = max(1, int(step))
    return list(range(0, math.ceil(highest / step) * step + 1, step))


def _y(value: float, panel: tuple[int, int], top: int) -> float:
    low, high = panel[1], panel[0]
    return low - (low - high) * (value / top if top else 0)


def _axis(parts: list[str], panel: tuple[int, int], scale: list[int], title: str) -> None:
    for value in scale:
        y = _y(value, panel, scale[-1])
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="13" '
                     f'fill="#333">{value}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{panel[0]}" x2="{LEFT}" y2="{panel[1]}" stroke="#333"/>')
    parts.append(f'<line x1="{LEFT}" y1="{panel[1]}" x2="{WIDTH - RIGHT}" y2="{panel[1]}" stroke="#333"/>')
    middle = (panel[0] + panel[1]) / 2
    parts.append(f'<text class="akse" x="22" y="{middle:.1f}" transform="rotate(-90 22 {middle:.1f})" '
                 f'text-anchor="middle" font-size="14" fill="#333">{escape(title)}</text>')


def _legend(parts: list[str], entries: list[tuple[str, str, str]], y: int) -> None:
    x = float(LEFT)
    parts.append('<g class="forklaring">')
    for label, colour, kind in entries:
        if kind == "line":
            parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{colour}" '
                         f'stroke-width="3"/>'
                         f'<circle cx="{x + 11}" cy="{y}" r="4" fill="{colour}"/>')
        else:
            parts.append(f'<rect x="{x + 3}" y="{y - 7}" width="14" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 28}" y="{y + 5}" font-size="14" fill="#111">{escape(label)}</text>')
        x += 28 + 8.5 * len(label) + 24
    parts.append("</g>")


def render(series: Sequence[tuple[str, Mapping[str, int], int]]) -> str:
    """``series``: (month id, that month's event counters, subscribers at its end), oldest first."""
    months = [month for month, _, _ in series]
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(months))
    centre = [LEFT + slot * (n + 0.5) for n in range(len(months))]
    bars = [[sum(events.get(name, 0) for name in names) for _, events, _ in series]
            for _, _, names in BARS]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="titel" lang="da" {FONT}>',
             f'<title id="titel">{escape(TITLE)}</title>',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
             f'<text class="titel" x="{WIDTH / 2}" y="34" text-anchor="middle" font-size="20" '
             f'font-weight="600" fill="#111">{escape(TITLE)}</text>']
    # Each panel's legend just above it, so the eye finds the series where it is drawn.
    _legend(parts, [(LINE[0], LINE[1], "line")], TOP_PANEL[0] - 26)
    _legend(parts, [(label, colour, "bar") for label, colour, _ in BARS], BOTTOM_PANEL[0] - 26)
    # Above: the subscribers.
    subscribers = [count for _, _, count in series]
    scale = ticks(max(subscribers, default=0))
    _axis(parts, TOP_PANEL, scale, "Abonnenter")
    points = [(centre[n], _y(count, TOP_PANEL, scale[-1])) for n, count in enumerate(subscribers)]
    parts.append(f'<polyline class="abonnenter" fill="none" stroke="{LINE[1]}" stroke-width="3" points="'
                 + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
    for (px, py), month, count in zip(points, months, subscribers, strict=True):
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{LINE[1]}">'
                     f'<title>{escape(month_label(month))}: {count} abonnenter</title></circle>')
    # Below: the events, grouped per month.
    scale = ticks(max((value for row in bars for value in row), default=0))
    _axis(parts, BOTTOM_PANEL, scale, "Hændelser pr. måned")
    width = slot * 0.8 / len(BARS)
    for index, (label, colour, _) in enumerate(BARS):
        for n, value in enumerate(bars[index]):
            left = centre[n] - slot * 0.4 + index * width
            y = _y(value, BOTTOM_PANEL, scale[-1])
            parts.append(f'<rect class="søjle" x="{left:.1f}" y="{y:.1f}" width="{width - 1:.1f}" '
                         f'height="{BOTTOM_PANEL[1] - y:.1f}" fill="{colour}"><title>'
                         f'{escape(month_label(months[n]))}: {value} {escape(label.lower())}</title></rect>')
    # The month axis, under the lower panel.
    for n, month in enumerate(months):
        name = MONTHS_DA[int(month[5:]) - 1]
        parts.append(f'<text class="maaned" x="{centre[n]:.1f}" y="{BOTTOM_PANEL[1] + 22}" '
                     f'text-anchor="middle" font-size="13" fill="#333">{name}</text>')
        if n == 0 or month.endswith("-01"):  # the year under its first month, not under all twelve
            parts.append(f'<text class="aar" x="{centre[n]:.1f}" y="{BOTTOM_PANEL[1] + 40}" '
                         f'text-anchor="middle" font-size="13" fill="#333">{month[:4]}</text>')
    parts.append(f'<text class="akse" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 16}" '
                 f'text-anchor="middle" font-size="14" fill="#333">Måned (UTC)</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
