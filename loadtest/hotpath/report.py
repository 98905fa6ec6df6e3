"""The run's tables, in Markdown, and its JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtest.hotpath.fleet import DIRECT
from loadtest.hotpath.measure import Spread, percentile
from loadtest.hotpath.runner import Results
from loadtest.hotpath.variants import TODAY, Variant


def us(spread: Spread) -> str:
    """Median and range over the rounds, in microseconds."""
    if not spread.n:
        return "-"
    if spread.n == 1:
        return f"{spread.median * 1e6:.1f}"
    return f"{spread.median * 1e6:.1f} ({spread.low * 1e6:.1f}-{spread.high * 1e6:.1f})"


def changed(variant: Variant, base: Variant = TODAY) -> str:
    """What differs from today's stack, in words."""
    parts = [
        f"{field} {getattr(variant, field)}"
        for field in ("server", "routing", "validation", "client")
        if getattr(variant, field) != getattr(base, field)
    ]
    return ", ".join(parts) or "today's stack"


def cpu_table(results: Results, names: Sequence[str]) -> list[str]:
    lines = [
        "| variant | changed from today | CPU/request (µs) | CPU/event (µs) "
        "| fixed CPU/stream (µs) | relay busy, 256-token phase | events per write |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        busy = Spread.of(results.busy[name])
        lines.append(
            f"| `{name}` | {changed(Variant.parse(name))} "
            f"| {us(Spread.of(results.per_request[name]))} "
            f"| {us(Spread.of(results.per_event[name]))} "
            f"| {us(Spread.of(results.per_stream[name]))} | {busy.median:.0%} "
            f"| {Spread.of(results.per_write[name]).median:.2f} |"
        )
    return lines


def _ms(values: Sequence[float], q: float) -> float:
    return percentile(values, q) * 1e3


def latency_table(results: Results, names: Sequence[str]) -> list[str]:
    lines = [
        "| variant | c1 p50 | added | c1 p99 | added | c16 p50 | added | c16 p99 | added "
        "| TTFT c1 p50 | added | TTFT c1 p99 | added |",
        "| --- |" + " ---: |" * 12,
    ]
    series = (results.latency_1, results.latency_16, results.ttft)
    for name in [DIRECT, *names]:
        cells = []
        for values in series:
            for q in (0.5, 0.99):
                mine, direct = _ms(values[name], q), _ms(values[DIRECT], q)
                cells += [f"{mine:.2f}", "-" if name == DIRECT else f"**{mine - direct:+.2f}**"]
        label = name if name == DIRECT else f"`{name}`"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def component_table(results: Results) -> list[str]:
    lines = [
        "| server (bare/msgspec/aiohttp) | read one event | + tap | + write to client "
        "| whole relay, per event |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for server in ("uvicorn", "granian-asgi", "granian-rsgi"):
        base = f"{server}/bare/msgspec/aiohttp"
        read, tap, full = (
            Spread.of(results.per_event.get(name, [])).median
            for name in (f"{base}:read", f"{base}:tap", base)
        )
        if read != read:  # NaN: not measured in this run
            continue
        lines.append(
            f"| {server} | {read * 1e6:.1f} | {(tap - read) * 1e6:+.1f} "
            f"| {(full - tap) * 1e6:+.1f} | {full * 1e6:.1f} |"
        )
    return lines


def as_json(results: Results) -> dict[str, Any]:
    def summary(values: Sequence[float]) -> dict[str, float]:
        return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "n": len(values)}

    return {
        "per_request_s": dict(results.per_request),
        "per_event_s": dict(results.per_event),
        "per_stream_fixed_s": dict(results.per_stream),
        "busy": dict(results.busy),
        "events_per_write": dict(results.per_write),
        "latency_c1_s": {k: summary(v) for k, v in results.latency_1.items()},
        "latency_c16_s": {k: summary(v) for k, v in results.latency_16.items()},
        "ttft_c1_s": {k: summary(v) for k, v in results.ttft.items()},
        "failures": dict(results.failures),
    }
