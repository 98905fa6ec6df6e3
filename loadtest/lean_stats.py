"""Pure helpers of the lean-path benchmarks: slopes, percentiles, gaps, wrk output, tables.

No I/O, no clock: ``lean_overhead`` and ``mass_streams`` measure, this module computes and
renders, and ``tests/unit/loadtest/test_lean_stats.py`` checks it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100.0 * len(ordered))
    return ordered[min(len(ordered) - 1, max(0, rank - 1))]


def slope(points: Iterable[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (with two points: their difference quotient).

    The slope method: CPU time over requests (or over events per stream) for runs of
    different sizes; what every run pays once (start-up, the last flush) cancels out."""
    pairs = list(points)
    if len(pairs) < 2:
        raise ValueError("a slope needs at least two points")
    mean_x = sum(x for x, _ in pairs) / len(pairs)
    mean_y = sum(y for _, y in pairs) / len(pairs)
    spread = sum((x - mean_x) ** 2 for x, _ in pairs)
    if spread == 0:
        raise ValueError("a slope needs points at different x")
    return sum((x - mean_x) * (y - mean_y) for x, y in pairs) / spread


def busy_cpu(cpu_s: float, wall_s: float, idle_rate: float) -> float:
    """CPU seconds of a phase less what the process spends idle (scrapes, polls, flushes)
    over the same wall time; ``idle_rate`` is CPU seconds per second measured at rest."""
    return cpu_s - idle_rate * wall_s


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """One stream as a client saw it. ``arrivals``: times (from the request's start) of the
    reads that carried at least one event."""

    ok: bool
    arrivals: tuple[float, ...]
    events: int

    @property
    def ttft(self) -> float | None:
        """The first read with an event: the role and the first token come together."""
        return self.arrivals[0] if self.arrivals else None

    def gaps(self) -> list[float]:
        """Waits between reads that carried events, after the first: what a reader of the
        stream sees as the pause between tokens (events that came together count once)."""
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


def gap_summary(ttfts: Sequence[float], gaps: Sequence[float]) -> dict[str, float]:
    """TTFT and inter-token gap percentiles (seconds), over streams pooled from clients."""
    return {
        "ttft_p50": percentile(ttfts, 50),
        "ttft_p99": percentile(ttfts, 99),
        "gap_p50": percentile(gaps, 50),
        "gap_p99": percentile(gaps, 99),
        "gap_max": max(gaps) if gaps else math.nan,
    }


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What ``loadtest/wrk/chat.lua`` prints at the end of a wrk run (times in seconds)."""

    requests: int
    duration: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    errors: int  # socket errors, timeouts, statuses > 399
    bad: int  # streams without the expected events or [DONE], or with another status
    events: int
    bad_statuses: str = ""
    error_kinds: str = ""  # e.g. "read 3, status 2"
    bad_sample: str = ""  # the start of the first bad answer

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    @property
    def failures(self) -> int:
        """Socket errors and timeouts, plus bad answers (which include every status > 399)."""
        statuses = sum(int(n) for k, n in _kinds(self.error_kinds) if k == "status")
        return self.errors - statuses + self.bad


_WRK_ERRORS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
_WRK_LINE = re.compile(r"^WRK_RESULT (\{.*\})\s*$", re.MULTILINE)


def _kinds(text: str) -> list[tuple[str, str]]:
    pairs = (part.strip().rsplit(" ", 1) for part in text.split(",") if part.strip())
    return [(kind, count) for kind, count in pairs]


def parse_wrk(output: str) -> WrkResult:
    """The JSON line ``chat.lua``'s ``done`` writes; ``ValueError`` when it is missing."""
    found = _WRK_LINE.search(output)
    if found is None:
        raise ValueError("wrk printed no WRK_RESULT line:\n" + output[-2000:])
    data = orjson.loads(found.group(1))
    kinds = {k.removesuffix("_errors"): int(data[k]) for k in _WRK_ERRORS}
    errors = sum(kinds.values())
    return WrkResult(
        requests=int(data["requests"]),
        duration=data["duration_us"] / 1e6,
        p50=data["p50_us"] / 1e6,
        p90=data["p90_us"] / 1e6,
        p99=data["p99_us"] / 1e6,
        p999=data["p999_us"] / 1e6,
        max=data["max_us"] / 1e6,
        errors=errors,
        bad=int(data["bad"]),
        events=int(data["events"]),
        bad_statuses=str(data.get("bad_statuses", "")).strip(),
        error_kinds=", ".join(f"{k} {n}" for k, n in kinds.items() if n),
        bad_sample=str(data.get("bad_sample", "")).strip(),
    )


def table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> list[str]:
    """A markdown table; the first ``left`` columns are left-aligned, the rest right."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def ms(seconds: float | None, digits: int = 2) -> str:
    """Seconds as milliseconds for a table cell; '-' for nothing measured."""
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1e3:,.{digits}f}"


def us(seconds: float | None, digits: int = 1) -> str:
    """Seconds as microseconds for a table cell; '-' for nothing measured."""
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1e6:,.{digits}f}"


def signed_ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1e3:+,.2f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    """``12.3x``; '-' when either side is missing or the denominator is zero."""
    if not numerator or not denominator or math.isnan(numerator) or math.isnan(denominator):
        return "-"
    return f"{numerator / denominator:,.1f}x"


def verdict(value: float | None, limit: float) -> str:
    """'met' or 'missed' against an upper limit; '-' when not measured."""
    if value is None or math.isnan(value):
        return "-"
    return "met" if value <= limit else "**missed**"
