"""A lean closed-loop HTTP client for the overhead benchmark: C workers, N requests in all.

Measures per request the total latency and, for streams, the time to the first content
event, counting SSE events. Kept minimal so the client's own cost stays the same on both
sides of the comparison.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import orjson


@dataclass(frozen=True, slots=True)
class Sample:
    latency: float
    ttft: float
    events: int
    ok: bool


async def _one(client: httpx.AsyncClient, url: str, content: bytes, stream: bool) -> Sample:
    started = time.perf_counter()
    if not stream:
        response = await client.post(url, content=content)
        latency = time.perf_counter() - started
        return Sample(latency, latency, 0, response.status_code == 200)
    ttft, events = 0.0, 0
    async with client.stream("POST", url, content=content) as response:
        async for chunk in response.aiter_bytes():
            count = chunk.count(b"data: ")
            if count and not ttft:
                ttft = time.perf_counter() - started
            events += count
        ok = response.status_code == 200
    return Sample(time.perf_counter() - started, ttft, events, ok)


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
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    url = base_url + "/v1/chat/completions"
    content = orjson.dumps(payload)
    stream = bool(payload.get("stream"))
    samples: list[Sample] = []
    remaining = total
    stop_at = time.monotonic() + deadline if deadline else None

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0 and (stop_at is None or time.monotonic() < stop_at):
            remaining -= 1
            samples.append(await _one(client, url, content, stream))

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        # Warm the connections so the first requests do not measure TCP set-up.
        await asyncio.gather(*(client.get(base_url + "/v1/models") for _ in range(concurrency)))
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return samples
