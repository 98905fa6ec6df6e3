"""A lean closed-loop HTTP client for the overhead benchmark: C workers, N requests in all.

Measures per request the total latency and, for streams, the time to the first event,
counting SSE events. Built on aiohttp, not httpx: httpcore's pool polls every pooled
connection on each request, which at 64 connections made the client, not the server under
test, the bottleneck (234 requests/s against a near-instant engine). The client's own cost is
the same on both sides of the comparison.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import orjson


@dataclass(frozen=True, slots=True)
class Sample:
    latency: float
    ttft: float
    events: int
    ok: bool


async def _one(session: aiohttp.ClientSession, url: str, content: bytes, stream: bool) -> Sample:
    started = time.perf_counter()
    async with session.post(url, data=content) as response:
        if not stream:
            await response.read()
            latency = time.perf_counter() - started
            return Sample(latency, latency, 0, response.status == 200)
        ttft, events = 0.0, 0
        async for chunk in response.content.iter_any():
            count = chunk.count(b"data: ")
            if count and not ttft:
                ttft = time.perf_counter() - started
            events += count
        return Sample(time.perf_counter() - started, ttft, events, response.status == 200)


async def run_closed_loop(
    base_url: str,
    key: str | None,
    payload: dict[str, object],
    concurrency: int,
    total: int,
    deadline: float | None = None,
) -> list[Sample]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    url = base_url + "/v1/chat/completions"
    content = orjson.dumps(payload)
    stream = bool(payload.get("stream"))
    samples: list[Sample] = []
    remaining = total
    stop_at = time.monotonic() + deadline if deadline else None

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0 and (stop_at is None or time.monotonic() < stop_at):
            remaining -= 1
            samples.append(await _one(session, url, content, stream))

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=timeout
    ) as session:
        # Warm the connections so the first requests do not measure TCP set-up.
        async def warm() -> None:
            async with session.get(base_url + "/v1/models") as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return samples
