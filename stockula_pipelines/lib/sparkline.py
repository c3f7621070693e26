"""Text plots for asset metadata: Unicode sparklines inside Markdown tables.

Dagster 1.13's metadata has no chart type (tables, JSON, Markdown, URLs, paths); the UI renders
Markdown, and a row of block characters is a plot it shows as is, in the asset page and in the event
log, with no image to store or serve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
MAX_POINTS = 60  # wider than this wraps in the UI's metadata column


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value scaled between the series' min and max; a gap (space) for a missing value."""
    points = list(values)
    if len(points) > MAX_POINTS:  # keep the shape: take evenly spaced points, always the last one
        step = len(points) / MAX_POINTS
        points = [points[min(len(points) - 1, round(i * step))] for i in range(MAX_POINTS - 1)] + [points[-1]]
    finite = [v for v in points if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in points:
        if v is None or not math.isfinite(v):
            out.append(" ")
        else:
            out.append(BLOCKS[0 if span == 0 else min(len(BLOCKS) - 1, int((v - lo) / span * len(BLOCKS)))])
    return "".join(out)


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def markdown_table(title: tuple[str, ...], rows: Sequence[tuple[str, Sequence[float | None], ...]]) -> str:
    """``rows`` of (label, series, series, ...): each series as first → last value and its sparkline."""
    header = "| " + " | ".join(title) + " |\n|" + "---|" * len(title) + "\n"
    lines = []
    for label, *series in rows:
        cells = [label]
        for values in series:
            finite = [v for v in values if v is not None and math.isfinite(v)]
            ends = f"{_fmt(finite[0])} → {_fmt(finite[-1])}" if finite else ""
            cells.append(f"`{sparkline(values)}` {ends}".strip())
        lines.append("| " + " | ".join(cells) + " |")
    return header + "\n".join(lines)
