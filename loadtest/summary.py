"""The per-workload table printed after a run, read from Locust's ``*_stats.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from loadtest.metrics import ITL, REQUEST, TOKENS_PER_S, TTFT
from loadtest.workloads import WORKLOADS

Row = dict[str, str]


@dataclass(frozen=True)
class WorkloadSummary:
    name: str
    requests: int
    failures: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    tokens_per_s_p50: float | None
    prompt_tokens_mean: float | None
    output_tokens_mean: float | None
    ttft_p95_slo_ms: float | None

    @property
    def slo_verdict(self) -> str:
        if self.ttft_p95_slo_ms is None:
            return "-"
        if self.ttft_p95_ms is None:
            return "no data"
        met = self.ttft_p95_ms <= self.ttft_p95_slo_ms
        return f"TTFT p95 <= {self.ttft_p95_slo_ms:g} ms: {'met' if met else 'MISSED'}"


def read_stats(path: Path) -> dict[tuple[str, str], Row]:
    """Rows of a Locust stats CSV keyed by (Type, Name)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}


def summarise(rows: dict[tuple[str, str], Row]) -> list[WorkloadSummary]:
    """One summary per workload that appears in ``rows``, in the order of ``WORKLOADS``."""
    summaries = []
    for name, workload in WORKLOADS.items():
        if not any(key[1] == name for key in rows):
            continue
        request, ttft = rows.get((REQUEST, name), {}), rows.get((TTFT, name), {})
        itl, rate = rows.get((ITL, name), {}), rows.get((TOKENS_PER_S, name), {})
        summaries.append(
            WorkloadSummary(
                name=name,
                requests=int(_number(request, "Request Count") or 0),
                failures=int(_number(request, "Failure Count") or 0),
                ttft_p50_ms=_number(ttft, "50%"),
                ttft_p95_ms=_number(ttft, "95%"),
                itl_p50_ms=_number(itl, "50%"),
                itl_p95_ms=_number(itl, "95%"),
                tokens_per_s_p50=_number(rate, "50%"),
                prompt_tokens_mean=_number(ttft, "Average Content Size"),
                output_tokens_mean=_number(request, "Average Content Size"),
                ttft_p95_slo_ms=workload.ttft_p95_slo_ms,
            )
        )
    return summaries


def _number(row: Row, column: str) -> float | None:
    """The column as a number; None when absent or N/A (an entry without requests)."""
    try:
        return float(row[column])
    except (KeyError, ValueError):
        return None


COLUMNS = (
    "workload",
    "reqs",
    "fails",
    "TTFT p50",
    "TTFT p95",
    "ITL p50",
    "ITL p95",
    "tok/s p50",
    "prompt tok",
    "out tok",
    "SLO",
)


def format_table(summaries: list[WorkloadSummary]) -> str:
    """A plain-text table; times in ms, token figures are means per request."""
    lines = [COLUMNS] + [
        (
            s.name,
            str(s.requests),
            str(s.failures),
            _show(s.ttft_p50_ms),
            _show(s.ttft_p95_ms),
            _show(s.itl_p50_ms),
            _show(s.itl_p95_ms),
            _show(s.tokens_per_s_p50),
            _show(s.prompt_tokens_mean),
            _show(s.output_tokens_mean),
            s.slo_verdict,
        )
        for s in summaries
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(_line(line, widths) for line in lines)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    """Names and verdicts left-aligned, numbers right-aligned."""
    last = len(cells) - 1
    padded = [
        cell.ljust(width) if i in (0, last) else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded).rstrip()


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
