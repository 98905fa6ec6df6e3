"""What held the event loop: a stall probe's record (``stall_probe``) cut to the benchmark's
phases and put down to its sources. Pure: no processes, no clock.

A *stall* is a probe tick that woke ``STALL_S`` or more late. It is put down to whatever
overlaps it most: a gc collection (by generation), or the steps of one task, named by the
periodic job that task runs (``SOURCES``) or else by its coroutine; what neither covers is
loop work outside tasks (protocol callbacks, timers) or the process not being scheduled.
A *hold* is one task step (one go on the loop); the periodic jobs' longest holds are the
figure the issue sets a bound on ("a fraction of a millisecond at a time").
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

STALL_S = 0.001
T = TypeVar("T")

# Task coroutines (their qualified names) of the periodic jobs, and what to call them.
SOURCES = {
    "Observability._drain": "telemetry flush",
    "Observability.flush": "telemetry flush",
    "Recorder.run": "telemetry flush",
    "_GroupCommit._drain": "audit write",
    "AuditWriter.run": "audit write",
    "EngineMonitor.run": "monitor scrape",
    "EngineMonitor._scrape": "monitor scrape",
    "EngineMonitor._read_cards": "monitor scrape",
    "Directory.watch": "directory poll",
    "Metering.keep_alive_forever": "heartbeat, orphan sweep",
    "Metering.replay_forever": "spool replay",
    "Observability.retention_forever": "retention purge",
    "settle": "process settling",
}
PERIODIC = tuple(dict.fromkeys(SOURCES.values()))
OUTSIDE = "outside tasks"

Window = tuple[float, float]


def source_of(task: str) -> str:
    """The periodic job a task runs, or ``task <name>`` for any other (requests...)."""
    qualname = task.split(":", 1)[-1]
    return SOURCES.get(qualname, f"task {task}")


@dataclass
class Findings:
    """One gateway's stalls and holds inside the benchmark's windows."""

    seconds: float = 0.0  # time under load
    stalls: list[tuple[float, str]] = field(default_factory=list)  # (lateness, source)
    # source -> (wall, cpu) of each task step of 0.2 ms or more
    holds: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    gc: dict[int, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))

    def stalls_per_second(self) -> float:
        return len(self.stalls) / self.seconds if self.seconds else 0.0

    def worst(self) -> float:
        return max((late for late, _ in self.stalls), default=0.0)

    def by_source(self) -> list[tuple[str, int, float]]:
        """(source, stalls, longest), the most stalling time first."""
        grouped: dict[str, list[float]] = defaultdict(list)
        for late, source in self.stalls:
            grouped[source].append(late)
        ranked = sorted(grouped.items(), key=lambda item: -sum(item[1]))
        return [(source, len(lates), max(lates)) for source, lates in ranked]

    def longest_hold(self, source: str) -> tuple[float, float]:
        """(wall, cpu) of the source's longest step by CPU: wall time alone also counts the
        process waiting for a core (on a shared machine) or for the GIL."""
        return max(self.holds.get(source, ()), key=lambda hold: hold[1], default=(0.0, 0.0))

    def longest_gc(self, generation: int) -> tuple[float, float]:
        return max(self.gc.get(generation, ()), key=lambda run: run[1], default=(0.0, 0.0))


def _inside(at: float, windows: Sequence[Window]) -> bool:
    """``windows`` sorted by start and not overlapping."""
    index = bisect.bisect_right(windows, (at, math.inf)) - 1
    return index >= 0 and windows[index][0] <= at < windows[index][1]


def _overlap(a: float, a_len: float, b: float, b_len: float) -> float:
    return max(0.0, min(a + a_len, b + b_len) - max(a, b))


class _Timeline(Generic[T]):
    """Intervals (start, duration, label) sorted by start, for the ones overlapping a span."""

    def __init__(self, intervals: Iterable[tuple[float, float, T]]) -> None:
        self._items = sorted(intervals, key=lambda item: item[0])
        self._starts = [start for start, _, _ in self._items]
        self._longest = max((d for _, d, _ in self._items), default=0.0)

    def overlapping(self, at: float, length: float) -> Iterator[tuple[float, float, T]]:
        low = bisect.bisect_left(self._starts, at - self._longest)
        high = bisect.bisect_right(self._starts, at + length)
        for item in self._items[low:high]:
            if _overlap(at, length, item[0], item[1]) > 0:
                yield item


def analyse(record: dict[str, Any], windows: Sequence[Window]) -> Findings:
    """The probe's ``record`` (``StallProbe.result()``) within ``windows`` (unix seconds)."""
    windows = sorted(windows)
    found = Findings(seconds=sum(end - start for start, end in windows))
    inside = [hold for hold in record["holds"] if _inside(hold[0], windows)]
    runs = [run for run in record["gc"] if _inside(run[0], windows)]
    for _start, wall, cpu, name in inside:
        found.holds[source_of(name)].append((wall, cpu))
    for _start, wall, cpu, generation, *_ in runs:
        found.gc[generation].append((wall, cpu))
    holds = _Timeline((start, wall, name) for start, wall, _, name in inside)
    collections = _Timeline((start, wall, generation) for start, wall, _, generation, *_ in runs)
    lateness = [(due, late) for due, late in record["lateness"] if _inside(due, windows)]
    for due, late in lateness:
        if late >= STALL_S:
            found.stalls.append((late, _blame(due, late, holds, collections)))
    return found


def _blame(
    due: float,
    late: float,
    holds: _Timeline[str],
    collections: _Timeline[int],
) -> str:
    """The source overlapping the stall most; gc first, as it runs inside someone's step."""
    by_gc: dict[int, float] = defaultdict(float)
    for start, duration, generation in collections.overlapping(due, late):
        by_gc[generation] += _overlap(due, late, start, duration)
    gc_total = sum(by_gc.values())
    if gc_total >= late / 2:
        return f"gc gen{max(g for g, t in by_gc.items() if t > 0)}"
    by_task: dict[str, float] = defaultdict(float)
    for start, duration, name in holds.overlapping(due, late):
        by_task[source_of(name)] += _overlap(due, late, start, duration)
    if by_task:
        source, covered = max(by_task.items(), key=lambda item: item[1])
        if covered >= late / 2:
            return source
    if gc_total > 0:
        return f"gc gen{max(g for g, t in by_gc.items() if t > 0)}"
    return OUTSIDE


@dataclass
class Side:
    """One gateway of a run: what its client measured and what its probe found."""

    name: str
    latency: list[float] = field(default_factory=list)  # seconds, non-streaming
    ttft: list[float] = field(default_factory=list)  # seconds, short streams
    windows: list[Window] = field(default_factory=list)  # when it was under load
    failures: int = 0
    findings: Findings = field(default_factory=Findings)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else math.nan


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def percentile_ms(values: Sequence[float], q: float) -> str:
    """The ``q`` quantile of ``values`` (seconds) in ms, as the tables print it."""
    return _ms(_pct(values, q))


def _hold(wall: float, cpu: float) -> str:
    return f"{_ms(cpu)} ({_ms(wall)})" if wall else "-"


def render(sides: Sequence[Side], title: str) -> list[str]:
    """The latency table, each side's stall sources, and the longest holds by source."""
    lines = [
        f"{title}; failures: {sum(s.failures for s in sides)}; times in ms",
        "",
        "| gateway | p50 | p99 | p99.9 | max | p99/p50 | TTFT p50 | TTFT p99 | TTFT p99.9 "
        "| stalls/s | worst stall |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side in sides:
        p50, p99 = _pct(side.latency, 0.5), _pct(side.latency, 0.99)
        cells = [_ms(p50), _ms(p99), _ms(_pct(side.latency, 0.999)), _ms(max(side.latency))]
        cells.append(f"{p99 / p50:.1f}x")
        cells += [_ms(_pct(side.ttft, q)) for q in (0.5, 0.99, 0.999)]
        found = side.findings
        cells += [f"{found.stalls_per_second():.1f}", _ms(found.worst())]
        lines.append(f"| {side.name} | " + " | ".join(cells) + " |")
    lines += ["", "Stall sources (stalls >= 1 ms: count, longest; most time first):", ""]
    for side in sides:
        ranked = side.findings.by_source()[:6]
        named = "; ".join(f"{s} {n}x, max {_ms(worst)}" for s, n, worst in ranked) or "none"
        lines.append(f"- {side.name}: {named}")
    lines += [
        "",
        "Longest single hold of the loop by each periodic job (one task step) and by gc "
        "(one collection): ms of CPU (wall); gc: collections under load",
        "",
    ]
    sources = [s for s in PERIODIC if any(side.findings.holds.get(s) for side in sides)]
    lines.append("| gateway | " + " | ".join(sources) + " | gc gen0 | gc gen1 | gc gen2 |")
    lines.append("| --- |" + " ---: |" * (len(sources) + 3))
    for side in sides:
        cells = [_hold(*side.findings.longest_hold(source)) for source in sources]
        for generation in (0, 1, 2):
            count = len(side.findings.gc.get(generation, []))
            cells.append(f"{_hold(*side.findings.longest_gc(generation))}, {count}x")
        lines.append(f"| {side.name} | " + " | ".join(cells) + " |")
    return lines
