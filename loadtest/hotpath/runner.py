"""The run: every measure for every variant, variants alternated within each round.

Measures (non-streamed bodies are ``bodies.request``: one 50-character message):
- CPU per request: relay CPU slope between a small and a large phase of non-streamed
  requests at 16 connections;
- CPU per event: slope between phases of 16-token and 256-token streams at 16 connections
  (the engine's clock releases one event per stream per tick); the intercept is the fixed
  CPU of a streamed request;
- latency p50/p99 of non-streamed requests at 1 and 16 connections, and time to the first
  event of 4-token streams at 1 connection, for the relays and the engine directly.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest.hotpath.bodies import request
from loadtest.hotpath.fleet import DIRECT, Fleet
from loadtest.hotpath.measure import Phase, slope
from loadtest.hotpath.variants import COMPONENTS, MAIN, Variant, rotated


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int = 4
    small: int = 300  # non-streamed requests, small phase
    large: int = 1500
    streams: int = 128  # streams per phase of the per-event slope
    short: int = 16  # content events of the short and long streams
    long: int = 256
    latency_1: int = 1000
    latency_16: int = 2000
    ttft: int = 300

    @classmethod
    def quick(cls) -> Sizes:
        return cls(2, 150, 600, 48, 16, 256, 300, 600, 100)


@dataclass
class Results:
    per_request: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    per_event: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    per_stream: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    busy: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    per_write: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latency_1: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latency_16: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ttft: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _phase(
    fleet: Fleet, name: str, body: bytes, requests: int, units: int
) -> tuple[Phase, dict[str, Any]]:
    meter = fleet.relays[name].cpu
    before, started = meter.seconds(), time.perf_counter()
    result: dict[str, Any] = fleet.client.run(fleet.port(name), body, 16, requests)
    wall = time.perf_counter() - started
    done = len(result["latencies"])
    return Phase(done * units, meter.seconds() - before, wall), result


def cpu_per_request(fleet: Fleet, name: str, sizes: Sizes, results: Results) -> None:
    body = request(stream=False, max_tokens=16)
    small, first = _phase(fleet, name, body, sizes.small, 1)
    large, second = _phase(fleet, name, body, sizes.large, 1)
    results.per_request[name].append(slope(small, large))
    results.failures[name] += first["failures"] + second["failures"]


def cpu_per_event(fleet: Fleet, name: str, sizes: Sizes, results: Results) -> None:
    short, first = _phase(fleet, name, request(True, sizes.short), sizes.streams, sizes.short)
    long, second = _phase(fleet, name, request(True, sizes.long), sizes.streams, sizes.long)
    per_event = slope(short, long)
    results.per_event[name].append(per_event)
    streams = short.units / sizes.short
    results.per_stream[name].append((short.cpu - short.units * per_event) / max(streams, 1))
    results.busy[name].append(long.cpu / long.wall)
    # Events per body chunk the client got: above 1, the relay read (and wrote) several
    # events at once because it fell behind, which makes its per-event CPU look smaller.
    results.per_write[name].append(second["events"] / max(second.get("bodies", 0), 1))
    results.failures[name] += first["failures"] + second["failures"]


def latencies(fleet: Fleet, name: str, sizes: Sizes, results: Results) -> None:
    plain = request(stream=False, max_tokens=16)
    for concurrency, count, into in (
        (1, sizes.latency_1, results.latency_1),
        (16, sizes.latency_16, results.latency_16),
    ):
        result = fleet.client.run(fleet.port(name), plain, concurrency, count)
        into[name].extend(result["latencies"])
        results.failures[name] += int(result["failures"])
    result = fleet.client.run(fleet.port(name), request(True, 4), 1, sizes.ttft)
    results.ttft[name].extend(result["ttfts"])
    results.failures[name] += int(result["failures"])


Measure = Callable[[Fleet, str, Sizes, Results], None]


def run_rounds(fleet: Fleet, sizes: Sizes, progress: Callable[[str], None] = print) -> Results:
    results = Results()
    main = tuple(v for v in MAIN if v.name in fleet.relays)
    components = tuple(v for v in COMPONENTS if v.name in fleet.relays)
    plan: list[tuple[str, Measure, list[str]]] = []
    for turn in range(sizes.rounds):
        names = [v.name for v in rotated(main, turn)]
        plan += [
            ("CPU per request", cpu_per_request, names),
            ("CPU per event", cpu_per_event, names + [v.name for v in rotated(components, turn)]),
            ("latency", latencies, [*names, DIRECT] if turn % 2 else [DIRECT, *names]),
        ]
    for index, (label, measure, names) in enumerate(plan):
        started = time.perf_counter()
        for name in names:
            measure(fleet, name, sizes, results)
        took = time.perf_counter() - started
        progress(f"  round {index // 3 + 1}/{sizes.rounds}: {label} ({took:.0f} s)")
    return results


def variants_of(names: list[str] | None) -> list[Variant]:
    if names:
        return [Variant.parse(name) for name in names]
    return [*MAIN, *COMPONENTS]
