"""Which replica ships which hand-off stream: rendezvous ownership among the live shippers, so
that each replica polls only its share, and every record still lands exactly once. Real Redis
(db 11, flushed per test) and PostgreSQL (a schema per test)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.ledger.durable import DurableLedger
from gateway.ledger.shipper import OWNERS, owners
from gateway.quota.redis_store import RedisQuotaStore, handoff_key
from tests.ledger_db import PG_DSN, drop_schema, new_schema
from tests.postgres.test_ledger import record, scopes_of

REDIS_URL = "redis://127.0.0.1:6379/11"


def test_each_stream_has_two_owners_and_a_departure_moves_only_its_own() -> None:
    live = [f"gw{i}" for i in range(8)]
    streams = [handoff_key(f"t{i}") for i in range(400)]
    before = {s: owners(s, live) for s in streams}
    assert all(len(o) == OWNERS == len(set(o)) for o in before.values())
    load = Counter(c for o in before.values() for c in o)
    assert set(load) == set(live)
    assert max(load.values()) < 2 * min(load.values())  # spread, not piled on one
    after = {s: owners(s, [c for c in live if c != "gw3"]) for s in streams}
    moved = [s for s in streams if before[s] != after[s]]
    assert moved
    assert all("gw3" in before[s] for s in moved)  # only the leaver's streams changed
    assert owners(streams[0], ["solo"]) == ["solo"]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_four_replicas_ship_only_their_share_and_every_record_lands_once(
    redis: Redis,
) -> None:
    schema = new_schema()
    tenants = [f"t-{uuid.uuid4().hex[:6]}" for _ in range(12)]

    async def known() -> set[str]:
        return set(tenants)

    store = RedisQuotaStore(redis)
    records = [record(t, n) for t in tenants for n in range(5)]
    for r in records:
        assert await store.meter(r, scopes_of(r.tenant))
    ledgers = [
        DurableLedger(redis, PG_DSN, f"gw{i}", schema_name=schema, tenants=known) for i in range(4)
    ]
    try:
        for ledger in ledgers:
            await ledger.start()
            await ledger.shipper.live_shippers()  # all four registered before any ships
        owned = [await ledger.shipper.discover() for ledger in ledgers]
        every = {handoff_key(t) for t in tenants}
        assert set().union(*owned) == every  # no stream without a shipper
        assert all(len(mine) < len(every) for mine in owned)  # each only its share
        assert Counter(k for mine in owned for k in mine) == dict.fromkeys(every, OWNERS)
        shipped = [await ledger.shipper.ship_once() for ledger in ledgers]
        assert sum(shipped) == len(records)  # two owners per stream, each record once
        for t in tenants:
            assert await redis.xlen(handoff_key(t)) == 0
            got = await ledgers[0].usage(t, 0, 2e9)
            assert sorted(r.request_id for r in got) == sorted(
                r.request_id for r in records if r.tenant == t
            )
    finally:
        for ledger in ledgers:
            await ledger.close()
        drop_schema(schema)


async def test_the_shipper_stops_at_shutdown_when_a_library_swallows_its_cancellation(
    redis: Redis,
) -> None:
    """Seen with redis-py: a cancellation thrown into a call inside a pass was swallowed, and
    the shipper slept on; the gateway's shutdown then waited 5 s and left the task running."""
    schema = new_schema()
    ledger = DurableLedger(redis, PG_DSN, "gw", schema_name=schema)
    passes = 0
    in_a_pass = asyncio.Event()

    async def swallowing_pass() -> int:
        nonlocal passes
        passes += 1
        in_a_pass.set()
        # What the library did: the pass ends as if nothing happened.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        return 0

    ledger.shipper.ship_once = swallowing_pass  # type: ignore[method-assign]
    try:
        shipping = asyncio.create_task(ledger.ship_forever(0.05))
        await in_a_pass.wait()
        shipping.cancel()
        done, _ = await asyncio.wait({shipping}, timeout=2.0)
        assert done, "the shipper did not stop within 2 s of the shutdown"
        assert shipping.cancelled()
        assert passes == 1  # stopped, not shipping on
    finally:
        await ledger.close()
        drop_schema(schema)
