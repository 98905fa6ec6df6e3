"""The durable usage ledger with real Redis (db 11 on 127.0.0.1:6379, flushed per test) and
real PostgreSQL (a schema per test): exactly once by request id across crashes, a bounded
hand-off, usage that survives a Redis flushed empty, erasure counts, retention."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from gateway.core.limits import Limits, Scope
from gateway.core.tenant import Principal, Tenant
from gateway.core.usage import UsageRecord
from gateway.errors import LedgerUnavailable
from gateway.ledger.durable import DurableLedger
from gateway.ledger.postgres import PostgresLedger
from gateway.ledger.shipper import GROUP, WrongLedger
from gateway.metering.service import Metering, orphan_record
from gateway.metering.spool import DiskSpool, SpoolEntry
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.pending import PendingAdmission
from gateway.quota.redis_store import RedisQuotaStore, handoff_key, pending_key, scope_keys
from gateway.quota.store import HandoffFull
from tests.ledger_db import PG_DSN, drop_schema, new_schema

REDIS_URL = "redis://127.0.0.1:6379/11"
DEAD_REDIS = "redis://127.0.0.1:1/11"  # nothing listens on port 1
DEAD_PG = "postgresql://postgres@127.0.0.1:1/test"


@dataclass
class Rig:
    redis: Redis
    schema: str
    tmp: Path

    def store(self, **options: int) -> RedisQuotaStore:
        return RedisQuotaStore(self.redis, **options)  # type: ignore[arg-type]

    def durable(self, dsn: str = PG_DSN, consumer: str = "a", **options: float) -> DurableLedger:
        return DurableLedger(self.redis, dsn, consumer, schema_name=self.schema, **options)  # type: ignore[arg-type]

    def pg(self) -> PostgresLedger:
        return PostgresLedger(PG_DSN, self.schema)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    schema = new_schema()
    try:
        yield Rig(redis, schema, tmp_path)
    finally:
        await redis.flushdb()
        await redis.aclose()
        drop_schema(schema)


def record(tenant: str, n: int = 0, *, subject: str | None = None, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "tenant": tenant,
        "key_id": "k1",
        "endpoint": "chat.completions",
        "model": "m",
        "pool": "p",
        "site": "s",
        "jurisdiction": "DE",
        "engine": "e",
        "stream": False,
        "status": "ok",
        "http_status": 200,
        "prompt_tokens": 10 + n,
        "completion_tokens": 5,
        "usage_source": "engine",
        "estimated_tokens": 20,
        "started_at": time.time() - 1 + n / 1000,
        "ttft_ms": 1.0,
        "duration_ms": 10.0,
        "gateway": "g",
        "subject_ref": subject,
    }
    values.update(fields)
    return UsageRecord.model_validate(values)


def scopes_of(tenant: str, limits: Limits | None = None) -> tuple[Scope, ...]:
    return (Scope(tenant, "tenant", limits or Limits(tokens_per_minute=0, monthly_tokens=0)),)


async def test_records_land_once_and_survive_a_redis_flushed_empty(rig: Rig) -> None:
    store, durable = rig.store(), rig.durable()
    tenant = "t-" + uuid.uuid4().hex[:6]
    records = [record(tenant, n) for n in range(20)]
    for r in records:
        assert await store.meter(r, scopes_of(tenant))
    assert not await store.meter(records[3], scopes_of(tenant))  # a retry: metered once
    assert await rig.redis.xlen(handoff_key(tenant)) == 20
    assert await durable.shipper.ship_once() == 20
    assert await rig.redis.xlen(handoff_key(tenant)) == 0  # shipped records leave Redis
    assert not await rig.redis.keys(f"sg:{{{tenant}}}:ledger")
    await rig.redis.flushdb()
    got = await durable.usage(tenant, 0, 2e9)
    assert got == sorted(records, key=lambda r: (r.finished_at, r.request_id))
    await durable.close()


async def test_a_crash_between_commit_and_ack_is_shipped_once_by_another_replica(rig: Rig) -> None:
    store, tenant = rig.store(), "t-" + uuid.uuid4().hex[:6]
    records = [record(tenant, n) for n in range(5)]
    for r in records:
        await store.meter(r, scopes_of(tenant))
    dead = rig.durable(consumer="dead")
    await dead.shipper.discover()
    await rig.redis.xgroup_create(handoff_key(tenant), GROUP, id="0")
    # The dead replica read the batch and committed it, then died before XACK.
    read: Any = await rig.redis.xreadgroup(GROUP, "dead", {handoff_key(tenant): ">"}, count=100)
    assert len(read[0][1]) == 5
    assert await dead.writer.insert(records) == 5
    alive = rig.durable(consumer="alive", claim_after=0.2)
    assert await alive.shipper.ship_once() == 0  # too early to claim: nothing new
    await asyncio.sleep(0.3)
    alive.shipper._claimed_at.clear()
    assert await alive.shipper.ship_once() == 0  # claimed, inserted as a no-op, acked
    assert await rig.redis.xlen(handoff_key(tenant)) == 0
    assert (await rig.redis.xpending(handoff_key(tenant), GROUP))["pending"] == 0
    assert len(await alive.usage(tenant, 0, 2e9)) == 5
    await dead.close()
    await alive.close()


async def test_a_full_hand_off_refuses_without_settling_anything(rig: Rig) -> None:
    store, tenant = rig.store(handoff_max=2), "t-" + uuid.uuid4().hex[:6]
    limits = Limits(tokens_per_minute=1000, concurrent=5, monthly_tokens=10**6)
    scopes = scopes_of(tenant, limits)
    pending: list[UsageRecord] = []
    for n in range(3):
        r = record(tenant, n)
        assert (await store.admit(scopes, 20, r.request_id)).allowed
        pending.append(r)
    _, tokens, leases, month = scope_keys(scopes[0], time.time())
    for r in pending[:2]:
        assert await store.meter(r, scopes)
    before = (await rig.redis.hget(tokens, "level"), await rig.redis.get(month))
    with pytest.raises(HandoffFull):
        await store.meter(pending[2], scopes)
    after = (await rig.redis.hget(tokens, "level"), await rig.redis.get(month))
    assert after == before  # no charge settled
    assert await rig.redis.zscore(leases, pending[2].request_id) is not None  # lease held
    assert await rig.redis.hexists(pending_key(tenant), pending[2].request_id)
    assert not await rig.redis.exists(f"sg:{{{tenant}}}:metered:{pending[2].request_id}")
    assert await rig.redis.xlen(handoff_key(tenant)) == 2


async def test_the_marker_lives_as_long_as_configured(rig: Rig) -> None:
    store, tenant = rig.store(marker_ttl_s=90), "t-" + uuid.uuid4().hex[:6]
    r = record(tenant)
    await store.meter(r, scopes_of(tenant))
    ttl = await rig.redis.ttl(f"sg:{{{tenant}}}:metered:{r.request_id}")
    assert 80 < ttl <= 90


async def test_pg_down_fills_the_stream_then_the_spool_redis_down_spools_and_all_land_once(
    rig: Rig,
) -> None:
    tenant = "t-" + uuid.uuid4().hex[:6]
    spool_dir = rig.tmp / "spool"
    limits = Limits(tokens_per_minute=10**6, monthly_tokens=10**9)
    scopes = scopes_of(tenant, limits)
    local = MemoryQuotaStore()
    # PostgreSQL down: the stream buffers up to its cap, then records go to the spool.
    down_pg = rig.durable(DEAD_PG)
    metering = Metering(rig.store(handoff_max=3), local, DiskSpool(spool_dir, "a"), 0.0, down_pg)
    first = [record(tenant, n) for n in range(5)]
    for r in first:
        await metering.meter(r, _principal(tenant, limits))
    assert await rig.redis.xlen(handoff_key(tenant)) == 3
    assert DiskSpool(spool_dir, "a").pending() == 2
    with pytest.raises(LedgerUnavailable):
        await down_pg.shipper.ship_once()
    assert await metering.replay() == 0  # the ledger cannot say what it holds: wait
    # Redis down too (another replica, same spool folder): everything spools.
    dead = Redis.from_url(DEAD_REDIS, socket_connect_timeout=0.2)
    offline = Metering(RedisQuotaStore(dead), MemoryQuotaStore(), DiskSpool(spool_dir, "b"))
    second = [record(tenant, 10 + n) for n in range(3)]
    for r in second:
        await offline.meter(r, _principal(tenant, limits))
    assert DiskSpool(spool_dir, "b").pending() == 5  # pending() counts the whole folder
    # A record whose reply was lost: metered in Redis (and shipped later) *and* spooled.
    lost = first[0]
    DiskSpool(spool_dir, "b").append(SpoolEntry.of(lost, scopes))
    # Both back.
    up = rig.durable()
    back = Metering(rig.store(handoff_max=3), local, DiskSpool(spool_dir, "a"), 0.0, up)
    landed = 0
    for _ in range(20):
        landed += await up.shipper.ship_once()
        await back.replay()
        if DiskSpool(spool_dir, "a").pending() == 0 and landed >= 8:
            break
    landed += await up.shipper.ship_once()
    got = await up.usage(tenant, 0, 2e9)
    assert sorted(r.request_id for r in got) == sorted(r.request_id for r in first + second)
    assert landed == 8
    month = await rig.redis.get(scope_keys(scopes[0], time.time())[3])
    # Settled once each (the month counter holds what admission reserved, corrected).
    assert int(cast(bytes, month)) == sum(
        r.total_tokens - r.estimated_tokens for r in first + second
    )
    await dead.aclose()
    for d in (down_pg, up):
        await d.close()


async def test_a_spool_replay_past_the_marker_skips_what_the_ledger_holds(rig: Rig) -> None:
    tenant = "t-" + uuid.uuid4().hex[:6]
    limits = Limits(monthly_tokens=10**9)
    store, durable = rig.store(), rig.durable()
    metering = Metering(store, MemoryQuotaStore(), DiskSpool(rig.tmp / "s", "a"), 0.0, durable)
    r = record(tenant)
    await metering.meter(r, _principal(tenant, limits))
    await durable.shipper.ship_once()
    await rig.redis.delete(f"sg:{{{tenant}}}:metered:{r.request_id}")  # the marker expired
    DiskSpool(rig.tmp / "s", "a").append(SpoolEntry.of(r, scopes_of(tenant, limits)))
    assert await metering.replay() == 0  # skipped: the ledger holds it
    assert await rig.redis.xlen(handoff_key(tenant)) == 0
    month = scope_keys(scopes_of(tenant, limits)[0], time.time())[3]
    assert int(cast(bytes, await rig.redis.get(month))) == r.total_tokens - r.estimated_tokens
    await durable.close()


async def test_a_real_record_supersedes_its_orphan_settlement(rig: Rig) -> None:
    tenant = "t-" + uuid.uuid4().hex[:6]
    store, durable = rig.store(), rig.durable()
    real = record(tenant, completion_tokens=7)
    entry = PendingAdmission.of("dead", time.time() - 30, 20, "k1", scopes_of(tenant))
    orphan = orphan_record(tenant, real.request_id, entry)
    assert await store.meter(orphan, scopes_of(tenant))
    await durable.shipper.ship_once()
    assert [r.status for r in await durable.usage(tenant, 0, 2e9)] == ["orphaned"]
    assert not await store.meter(orphan, scopes_of(tenant))  # the sweep again: a repeat
    assert await store.meter(real, scopes_of(tenant))  # the real one replaces it
    assert not await store.meter(real, scopes_of(tenant))
    await durable.shipper.ship_once()
    assert await durable.usage(tenant, 0, 2e9) == [real]
    # And in PostgreSQL alone (its marker long gone): an orphan never replaces a real record.
    assert await durable.writer.insert([orphan]) == 0
    assert await durable.usage(tenant, 0, 2e9) == [real]
    await durable.close()


async def test_erasure_counts_records_in_postgres_in_streams_and_strips_late_arrivals(
    rig: Rig,
) -> None:
    tenant = "t-" + uuid.uuid4().hex[:6]
    alice, bob = "a1" * 8, "b2" * 8
    store, durable = rig.store(), rig.durable()
    spool = DiskSpool(rig.tmp / "s", "a")
    metering = Metering(store, MemoryQuotaStore(), spool, 0.0, durable)
    shipped = [record(tenant, n, subject=alice) for n in range(3)] + [
        record(tenant, 9, subject=bob)
    ]
    for r in shipped:
        await store.meter(r, scopes_of(tenant))
    await durable.shipper.ship_once()
    waiting = [record(tenant, 20 + n, subject=alice) for n in range(2)]
    for r in waiting:
        await store.meter(r, scopes_of(tenant))
    spooled = record(tenant, 30, subject=alice)
    spool.append(SpoolEntry.of(spooled, scopes_of(tenant)))
    assert await metering.erase_subject(alice) == 3 + 2 + 1
    await durable.shipper.ship_once()
    await metering.replay()
    await durable.shipper.ship_once()
    got = await durable.usage(tenant, 0, 2e9)
    assert len(got) == 7
    assert [r.subject_ref for r in got if r.subject_ref] == [bob]
    assert await metering.erase_subject(alice) == 0
    # Metered after the erasure: new processing, kept.
    later = record(tenant, 0, subject=alice, started_at=time.time() + 5)
    await store.meter(later, scopes_of(tenant))
    await durable.shipper.ship_once()
    assert (await durable.usage(tenant, 0, 2e9))[-1].subject_ref == alice
    await durable.close()


async def test_retention_strips_the_subject_and_drops_months_past_billing(rig: Rig) -> None:
    ledger = rig.pg()
    now = time.time()
    old = record("ten", subject="c3" * 8, started_at=now - 400 * 86_400)
    recent = record("ten", 1, subject="c3" * 8, started_at=now - 40 * 86_400)
    fresh = record("ten", 2, subject="c3" * 8, started_at=now - 60)
    other = record("other", 3, subject="c3" * 8, started_at=now - 40 * 86_400)
    assert await ledger.insert([old, recent, fresh, other]) == 4
    stripped, dropped = await ledger.purge({"ten": 30.0}, 90.0, 365.0, now=now)
    assert dropped >= 1
    got = await ledger.usage("ten", 0, 2e9)
    assert [r.request_id for r in got] == [recent.request_id, fresh.request_id]
    assert [r.subject_ref for r in got] == [None, fresh.subject_ref]
    assert (await ledger.usage("other", 0, 2e9))[0].subject_ref == other.subject_ref  # 90 days
    assert stripped == 2  # the 400-day-old record too, before its month was dropped
    assert await ledger.held([("ten", old.request_id)]) == set()  # its id went with it
    await ledger.close()


def _principal(tenant: str, limits: Limits) -> Principal:
    return Principal(
        Tenant(tenant, frozenset({"DE"}), None, limits), "k1", scopes_of(tenant, limits)
    )


async def test_a_redis_hands_off_to_one_ledger_only(rig: Rig) -> None:
    tenant = "t-" + uuid.uuid4().hex[:6]
    first, other = rig.durable(), rig.durable()
    other.shipper._ledger = PostgresLedger(PG_DSN, new_schema())  # another ledger
    await rig.store().meter(record(tenant), scopes_of(tenant))
    assert await first.shipper.ship_once() == 1
    await rig.store().meter(record(tenant, 1), scopes_of(tenant))
    with pytest.raises(WrongLedger):
        await other.shipper.ship_once()
    assert await rig.redis.xlen(handoff_key(tenant)) == 1  # left for the right ledger
    assert await first.shipper.ship_once() == 1
    await first.close()
    await other.close()
