"""Overhead benchmark: the same client load on the engine directly and through the gateway.

    python -m loadtest.overhead [--concurrency 16] [--requests 2000] [--profile]

One run, side by side, so a noisy shared machine affects both equally: phases alternate
(direct, gateway, direct, gateway, ...) and the percentiles of each side are compared.
The engine is the vLLM simulator (b200/llama-3.1-8b: ~50 ms for a 16-token answer), the
gateway runs with one worker in quick mode, the client is this process (httpx, asyncio).

Reports: added latency p50/p99 (non-streaming), added TTFT p50/p99 (streaming), gateway CPU
per relayed SSE event (slope of gateway CPU time over events between a short and a long
stream, so the per-request cost cancels out), and requests/s per gateway worker (gateway
saturated by a near-instant engine, normalised by the CPU share the worker got).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from loadtest.local import free_port, wait_http
from loadtest.overhead_client import Sample, run_closed_loop

KEY = "sk-overhead-benchmark"
MODEL = "llama-3.1-8b"


@dataclass
class Servers:
    engine: str
    gateway: str
    gateway_pid: int


@contextlib.contextmanager
def servers(speed: float) -> Iterator[Servers]:
    engine_port, gateway_port = free_port(), free_port()
    engine = subprocess.Popen(
        [sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
         "--model", MODEL, "--engines", "1", "--base-port", str(engine_port),
         "--speed", str(speed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    gateway = None
    try:
        engine_url = f"http://127.0.0.1:{engine_port}"
        wait_http(engine_url + "/health")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--engine", engine_url,
             "--api-key", KEY, "--port", str(gateway_port), "--workers", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_http(gateway_url + "/healthz")
        yield Servers(engine_url, gateway_url, gateway.pid)
    finally:
        for process in (gateway, engine):
            if process is not None:
                process.terminate()
                process.wait(10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Comparison:
    name: str
    direct: list[float]
    gateway: list[float]

    def added(self, q: float) -> float:
        return pct(self.gateway, q) - pct(self.direct, q)

    def row(self) -> str:
        d50, d99 = pct(self.direct, 0.5), pct(self.direct, 0.99)
        g50, g99 = pct(self.gateway, 0.5), pct(self.gateway, 0.99)
        return (
            f"| {self.name} | {d50 * 1e3:.2f} | {g50 * 1e3:.2f} | **{(g50 - d50) * 1e3:+.2f}** "
            f"| {d99 * 1e3:.2f} | {g99 * 1e3:.2f} | **{(g99 - d99) * 1e3:+.2f}** "
            f"| {len(self.gateway)} |"
        )


def body(stream: bool, max_tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Wie beantrage ich einen Anwohnerparkausweis?"}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": stream,
    }


async def alternate(
    srv: Servers, stream: bool, max_tokens: int, concurrency: int, requests: int, rounds: int
) -> tuple[list[Sample], list[Sample]]:
    direct: list[Sample] = []
    through: list[Sample] = []
    per_round = max(concurrency, requests // rounds)
    payload = body(stream, max_tokens)
    for _ in range(rounds):
        direct += await run_closed_loop(srv.engine, None, payload, concurrency, per_round)
        through += await run_closed_loop(srv.gateway, KEY, payload, concurrency, per_round)
    return direct, through


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def cpu_per_event(srv: Servers, concurrency: int) -> tuple[float, int]:
    """Gateway CPU seconds per relayed SSE event: slope between short and long streams."""
    measured: list[tuple[int, float]] = []
    for tokens in (16, 256):
        before = cpu_seconds(srv.gateway_pid)
        samples = await run_closed_loop(srv.gateway, KEY, body(True, tokens), concurrency, 160)
        used = cpu_seconds(srv.gateway_pid) - before
        measured.append((sum(s.events for s in samples), used))
    (e1, c1), (e2, c2) = measured
    return (c2 - c1) / (e2 - e1), e2


async def requests_per_worker(
    srv: Servers, concurrency: int, seconds: float
) -> tuple[float, float]:
    """Completed requests/s through the gateway and the CPU share its worker had."""
    before, started = cpu_seconds(srv.gateway_pid), time.monotonic()
    samples = await run_closed_loop(
        srv.gateway, KEY, body(False, 1), concurrency, 10**9, deadline=seconds
    )
    elapsed = time.monotonic() - started
    busy = (cpu_seconds(srv.gateway_pid) - before) / elapsed
    return len(samples) / elapsed, busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.overhead", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="per side and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/overhead.md"))
    args = parser.parse_args(argv)
    lines = asyncio.run(run(args))
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


async def run(args: argparse.Namespace) -> list[str]:
    c, n, rounds = args.concurrency, args.requests, args.rounds
    with servers(speed=1.0) as srv:
        plain_d, plain_g = await alternate(srv, False, 16, c, n, rounds)
        stream_d, stream_g = await alternate(srv, True, 64, c, n // 2, rounds)
        per_event, events = await cpu_per_event(srv, c)
    with servers(speed=0.001) as fast:
        rps, busy = await requests_per_worker(fast, 64, 10.0)
    failures = sum(not s.ok for s in plain_d + plain_g + stream_d + stream_g)
    direct_median = statistics.median(s.latency for s in plain_d)
    comparisons = [
        Comparison("non-streaming latency (16 tokens)", [s.latency for s in plain_d],
                   [s.latency for s in plain_g]),
        Comparison("streaming TTFT (64 tokens)", [s.ttft for s in stream_d],
                   [s.ttft for s in stream_g]),
        Comparison("streaming total (64 tokens)", [s.latency for s in stream_d],
                   [s.latency for s in stream_g]),
    ]  # fmt: skip
    return [
        f"Overhead benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}); "
        f"{c} concurrent clients, phases alternated {rounds}x; failures: {failures}",
        "",
        "| measure (ms) | direct p50 | gateway p50 | added p50 | direct p99 | gateway p99 "
        "| added p99 | requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[comparison.row() for comparison in comparisons],
        "",
        f"- gateway CPU per relayed SSE event: **{per_event * 1e6:.1f} µs** "
        f"(slope over {events} events of 256-token streams vs 16-token streams)",
        f"- requests/s through one gateway worker (near-instant engine, 64 clients): "
        f"**{rps:,.0f}** at {busy:.0%} of a core, i.e. **{rps / max(busy, 1e-9):,.0f}** per "
        "fully used worker core",
        f"- direct non-streaming latency, median: {direct_median * 1e3:.1f} ms (the engine's own)",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
