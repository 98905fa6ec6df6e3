"""The orphan sweep on the real Redis at 127.0.0.1:6379: a tenant with more admissions in
flight than Redis returns in one HSCAN reply (a hash past its compact encoding) is read in
batches, and every dead replica's admission is found exactly once."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from gateway.quota.pending import PendingAdmission, heartbeat_key
from gateway.quota.redis_store import RedisQuotaStore, pending_key

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_every_admission_of_a_dead_replica_is_found_once(redis: Redis) -> None:
    tenant, dead, live = (f"sweep-{uuid.uuid4().hex[:8]}-{n}" for n in ("t", "dead", "live"))
    old = time.time() - 3600

    def entry(gateway: str) -> str:
        admission = PendingAdmission(gateway=gateway, at=old, estimate=5, key_id="k", scopes=[])
        return admission.model_dump_json()

    mapping: dict[FieldT, EncodableT] = {f"req-{i:04d}": entry(dead) for i in range(700)}
    mapping.update({f"live-{i}": entry(live) for i in range(20)})
    await redis.hset(pending_key(tenant), mapping=mapping)
    await redis.set(heartbeat_key(live), "1", px=60_000)
    store = RedisQuotaStore(redis, gateway=live)
    try:
        found = [(t, r) for t, r, _ in await store.orphans() if t == tenant]
    finally:
        await redis.delete(pending_key(tenant), heartbeat_key(live))
    assert sorted(found) == [(tenant, f"req-{i:04d}") for i in range(700)]
