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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STALL_S = 0.001

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
    return any(start <= at < end for start, end in windows)


def _overlap(a: float, a_len: float, b: float, b_len: float) -> float:
    return max(0.0, min(a + a_len, b + b_len) - max(a, b))


def analyse(record: dict[str, Any], windows: Sequence[Window]) -> Findings:
    """The probe's ``record`` (``StallProbe.result()``) within ``windows`` (unix seconds)."""
    found = Findings(seconds=sum(end - start for start, end in windows))
    inside = [hold for hold in record["holds"] if _inside(hold[0], windows)]
    runs = [run for run in record["gc"] if _inside(run[0], windows)]
    for _start, wall, cpu, name in inside:
        found.holds[source_of(name)].append((wall, cpu))
    for _start, wall, cpu, generation, _thread in runs:
        found.gc[generation].append((wall, cpu))
    holds = [(start, wall, name) for start, wall, _, name in inside]
    collections = [(start, wall, generation) for start, wall, _, generation, _ in runs]
    lateness = [(due, late) for due, late in record["lateness"] if _inside(due, windows)]
    for due, late in lateness:
        if late >= STALL_S:
            found.stalls.append((late, _blame(due, late, holds, collections)))
    return found


def _blame(
    due: float,
    late: float,
    holds: Iterable[tuple[float, float, str]],
    collections: Iterable[tuple[float, float, int]],
) -> str:
    """The source overlapping the stall most; gc first, as it runs inside someone's step."""
    by_gc: dict[int, float] = defaultdict(float)
    for start, duration, generation in collections:
        by_gc[generation] += _overlap(due, late, start, duration)
    gc_total = sum(by_gc.values())
    if gc_total >= late / 2:
        return f"gc gen{max(g for g, t in by_gc.items() if t > 0)}"
    by_task: dict[str, float] = defaultdict(float)
    for start, duration, name in holds:
        by_task[source_of(name)] += _overlap(due, late, start, duration)
    if by_task:
        source, covered = max(by_task.items(), key=lambda item: item[1])
        if covered >= late / 2:
            return source
    if gc_total > 0:
        return f"gc gen{max(g for g, t in by_gc.items() if t > 0)}"
    return OUTSIDE
