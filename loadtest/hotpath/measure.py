"""CPU time of a process tree, slopes and percentiles: the run's arithmetic."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import psutil


class CpuMeter:
    """User + system CPU seconds of a process and its descendants (granian serves from a
    worker child, and its Rust threads count with the process)."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self._tree: list[psutil.Process] = []
        self.refresh()

    def refresh(self) -> None:
        """Re-read the tree (after the server spawned its workers)."""
        self._tree = [self._root, *self._root.children(recursive=True)]

    def seconds(self) -> float:
        total = 0.0
        for process in self._tree:
            times = process.cpu_times()
            total += times.user + times.system
        return total

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._tree]


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured phase: how much work the relay did and what it cost."""

    units: float  # requests, or events
    cpu: float  # seconds
    wall: float  # seconds


def slope(small: Phase, large: Phase) -> float:
    """CPU seconds per unit between two phases of different size: whatever a phase costs
    regardless of its size (connecting, idle wake-ups, the phase's start) cancels out."""
    if large.units == small.units:
        raise ValueError("the two phases must differ in size")
    return (large.cpu - small.cpu) / (large.units - small.units)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1), as the other overhead benchmarks compute it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(values), min(values), max(values), len(values))
