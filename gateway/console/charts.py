"""Charts as geometry: bars and lines in a fixed viewBox, drawn as inline SVG by a template
macro (templates/charts.html). Pure: no I/O, no chart library, nothing for the browser to run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 480.0, 240.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 8.0, 10.0, 28.0  # margins: axis labels live there
MAX_X_LABELS = 6


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the bucket, e.g. "2026-12-07"
    value: float


@dataclass(frozen=True, slots=True)
class Line:
    name: str  # a CSS class suffix and legend key: "p50", "p95"
    path: str  # an SVG path: "M x,y L x,y ...", a new "M" after a bucket without a value
    dots: tuple[tuple[float, float, str, float], ...]  # (x, y, label, value): hover titles


@dataclass(frozen=True, slots=True)
class Chart:
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT  # the plot area's left and right edges
    right: float = WIDTH - RIGHT
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    y_ticks: tuple[tuple[float, str], ...] = ()  # (y, label)
    x_labels: tuple[tuple[float, str], ...] = ()  # (x, label)
    empty: bool = True


def nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _short(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _frame(count: int, top: float) -> tuple[float, tuple[tuple[float, str], ...]]:
    plot_h = HEIGHT - TOP - BOTTOM
    steps = 4 if f"{top:g}".lstrip("0.").startswith("2") else 5  # round numbers on the axis
    ticks = tuple(
        (round(TOP + plot_h * (1 - i / steps), 2), _short(top * i / steps))
        for i in range(steps + 1)
    )
    return (WIDTH - LEFT - RIGHT) / max(count, 1), ticks


def _x_labels(labels: Sequence[str], slot: float) -> tuple[tuple[float, str], ...]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return tuple(
        (LEFT + slot * (i + 0.5), label) for i, label in enumerate(labels) if i % every == 0
    )


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h * (1 - value / top)


def bar_chart(values: Sequence[tuple[str, float]]) -> Chart:
    """One bar per (label, value), in order."""
    top = nice_max(max((v for _, v in values), default=0.0))
    slot, ticks = _frame(len(values), top)
    bars = []
    for i, (label, value) in enumerate(values):
        y = _y(value, top)
        x = LEFT + slot * (i + 0.1)
        height = HEIGHT - BOTTOM - y
        bars.append(
            Bar(round(x, 2), round(y, 2), round(slot * 0.8, 2), round(height, 2), label, value)
        )
    return Chart(
        bars=tuple(bars),
        y_ticks=ticks,
        x_labels=_x_labels([label for label, _ in values], slot),
        empty=not any(v for _, v in values),
    )


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float | None]]) -> Chart:
    """One line per series over the same labels; None leaves a gap."""
    found = [v for values in series.values() for v in values if v is not None]
    top = nice_max(max(found, default=0.0))
    slot, ticks = _frame(len(labels), top)
    lines = []
    for name, values in series.items():
        pieces: list[list[str]] = [[]]
        dots = []
        for i, value in enumerate(values):
            if value is None:
                pieces.append([])
                continue
            x, y = round(LEFT + slot * (i + 0.5), 2), round(_y(value, top), 2)
            pieces[-1].append(f"{x},{y}")
            dots.append((x, y, labels[i], value))
        path = " ".join("M " + " L ".join(p) for p in pieces if p)
        lines.append(Line(name, path, tuple(dots)))
    return Chart(
        lines=tuple(lines), y_ticks=ticks, x_labels=_x_labels(labels, slot), empty=not found
    )
