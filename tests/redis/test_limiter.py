"""The limiter against the real Redis on 127.0.0.1:6379, with two clients as two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.quota.limiter import Limits, RedisLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[RedisLimiter, RedisLimiter]]:
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        yield RedisLimiter(first), RedisLimiter(second)
    finally:
        await first.aclose()
        await second.aclose()


def scope() -> str:
    return "test-" + uuid.uuid4().hex


async def test_a_burst_over_two_replicas_admits_exactly_the_limit(
    replicas: tuple[RedisLimiter, RedisLimiter],
) -> None:
    limits, name = Limits(requests_per_minute=50), scope()
    burst = [replicas[i % 2].admit(name, limits, 10, f"req-{i}") for i in range(200)]
    decisions = await asyncio.gather(*burst)
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == 50
    refused = [d for d in decisions if not d.allowed]
    assert {d.failed for d in refused} == {"requests"}
    assert all(d.retry_after_s is not None and 0 < d.retry_after_s <= 60 for d in refused)
    left = [d.requests_left for d in admitted if d.requests_left is not None]
    assert sorted(left) == list(range(50))  # each admission saw the one before it


async def test_token_bucket_is_charged_the_estimate_and_settled_to_the_truth(
    replicas: tuple[RedisLimiter, RedisLimiter],
) -> None:
    first, second = replicas
    limits, name = Limits(tokens_per_minute=1000), scope()
    for n in range(3):
        assert (await first.admit(name, limits, 300, f"t-{n}")).allowed
    refused = await second.admit(name, limits, 300, "t-3")
    assert not refused.allowed
    assert refused.failed == "tokens"
    assert refused.retry_after_s is not None
    assert 10 < refused.retry_after_s <= 12.1  # ~200 tokens at 1000/min
    # The three used 50 tokens each, not 300: 750 come back and the fourth fits.
    for n in range(3):
        assert await second.settle(name, limits, f"t-{n}", estimated=300, actual=50)
    assert (await first.admit(name, limits, 300, "t-3")).allowed


async def test_settlement_happens_once_per_request_id(
    replicas: tuple[RedisLimiter, RedisLimiter],
) -> None:
    first, second = replicas
    limits, name = Limits(tokens_per_minute=1000, monthly_tokens=10_000), scope()
    assert (await first.admit(name, limits, 100, "once")).allowed
    assert await first.settle(name, limits, "once", estimated=100, actual=400)
    assert not await second.settle(name, limits, "once", estimated=100, actual=400)
    decision = await first.admit(name, limits, 0, "probe")
    assert decision.tokens_left is not None
    assert decision.tokens_left <= 1000 - 400 + 2  # charged once (plus a little refill)


async def test_concurrency_leases(replicas: tuple[RedisLimiter, RedisLimiter]) -> None:
    first, second = replicas
    limits, name = Limits(concurrent=2), scope()
    assert (await first.admit(name, limits, 1, "c-1")).allowed
    assert (await second.admit(name, limits, 1, "c-2")).allowed
    third = await first.admit(name, limits, 1, "c-3")
    assert not third.allowed
    assert third.failed == "concurrent"
    await second.settle(name, limits, "c-1", estimated=1, actual=1)
    assert (await first.admit(name, limits, 1, "c-3")).allowed


async def test_leases_of_a_dead_replica_expire() -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        limiter = RedisLimiter(client, lease_seconds=0.2)
        limits, name = Limits(concurrent=1), scope()
        assert (await limiter.admit(name, limits, 1, "held")).allowed
        assert not (await limiter.admit(name, limits, 1, "next")).allowed
        await asyncio.sleep(0.3)  # the replica holding "held" never settled it
        assert (await limiter.admit(name, limits, 1, "next")).allowed
    finally:
        await client.aclose()


async def test_monthly_budget(replicas: tuple[RedisLimiter, RedisLimiter]) -> None:
    first, _ = replicas
    limits, name = Limits(monthly_tokens=1000), scope()
    assert (await first.admit(name, limits, 600, "m-1")).allowed
    over = await first.admit(name, limits, 600, "m-2")
    assert not over.allowed
    assert over.failed == "monthly"
    assert over.retry_after_s is None
