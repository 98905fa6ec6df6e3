"""The quota stores' shared semantics, run against both implementations.

``RedisQuotaStore`` on the real Redis at 127.0.0.1:6379, with two separate clients standing for
two gateway replicas (the tests alternate between them), and ``MemoryQuotaStore``, where both
"replicas" are the one in-process store. Every test uses its own tenant ids, and the Redis keys
of those tenants are deleted afterwards. With Redis, the ledger is the durable one
(PostgreSQL, the shared test schema: tests/ledger_db.py), read once the records are shipped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.core.limits import Decision, Limits, Scope, scopes_for
from gateway.core.usage import UsageRecord
from gateway.ledger.durable import DurableLedger
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.redis_store import RedisQuotaStore, handoff_key, scope_keys, tenant_base
from gateway.quota.store import QuotaStore
from tests.ledger_db import PG_DSN, RUN_SCHEMA
from tests.records import usage_record as make_record

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Backend:
    """Two replicas of one quota store, and a way to read a scope's month counter."""

    kind: str
    first: QuotaStore
    second: QuotaStore
    redis: Redis | None = None
    memory: MemoryQuotaStore | None = None
    tenants: list[str] = field(default_factory=list)
    ledger: DurableLedger | None = None

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        """The tenant's ledger: in memory, or in PostgreSQL once Redis's hand-off is shipped
        (by this shipper or another replica's: an empty stream means committed)."""
        if self.memory is not None:
            return await self.memory.usage(tenant, start, end)
        assert self.ledger is not None
        assert self.redis is not None
        while await self.redis.xlen(handoff_key(tenant)):
            await self.ledger.shipper.ship_once()
            await asyncio.sleep(0.02)
        return await self.ledger.usage(tenant, start, end)

    async def erase_subject(self, subject_ref: str) -> int:
        if self.memory is not None:
            return await self.memory.erase_subject(subject_ref)
        assert self.ledger is not None
        return await self.ledger.erase_subject(subject_ref)

    @property
    def replicas(self) -> tuple[QuotaStore, QuotaStore]:
        return self.first, self.second

    def new_tenant(self) -> str:
        tenant = "test-" + uuid.uuid4().hex
        self.tenants.append(tenant)
        return tenant

    async def month_used(self, scope: Scope) -> int:
        """Tokens counted against the scope this month (reserved at admission, settled)."""
        now = time.time()
        if self.memory is not None:
            return self.memory.monthly_used(scope, now)
        assert self.redis is not None
        value = await self.redis.get(scope_keys(scope, now)[3])
        return 0 if value is None else int(value)

    async def requests_logged(self, scope: Scope) -> int | None:
        """Admissions in the scope's request log (Redis only: None for the memory store)."""
        if self.redis is None:
            return None
        return int(await self.redis.zcard(scope_keys(scope, time.time())[0]))


@pytest.fixture(params=["redis", "memory"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        store = MemoryQuotaStore()
        yield Backend("memory", store, store, memory=store)
        return
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    made = Backend("redis", RedisQuotaStore(first), RedisQuotaStore(second), redis=first)
    made.ledger = DurableLedger(first, PG_DSN, "quota-tests", schema_name=RUN_SCHEMA)
    try:
        yield made
    finally:
        for tenant in made.tenants:
            keys = [k async for k in first.scan_iter(match=f"{tenant_base(tenant)}:*")]
            if keys:
                await first.delete(*keys)
        await made.ledger.close()
        await first.aclose()
        await second.aclose()


def usage_record(
    tenant: str,
    request_id: str,
    *,
    estimated: int,
    prompt: int,
    completion: int,
    **fields: Any,
) -> UsageRecord:
    return make_record(
        tenant,
        request_id,
        estimated_tokens=estimated,
        prompt_tokens=prompt,
        completion_tokens=completion,
        **fields,
    )


def tenant_only(tenant: str, limits: Limits) -> tuple[Scope, ...]:
    return scopes_for(tenant, limits, "k1", None)


async def test_a_burst_over_two_replicas_admits_exactly_the_limit(backend: Backend) -> None:
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(requests_per_minute=50))
    burst = [backend.replicas[i % 2].admit(scopes, 10, f"req-{i}") for i in range(200)]
    decisions: list[Decision] = await asyncio.gather(*burst)
    admitted = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(admitted) == 50
    assert len(refused) == 150
    assert {d.failed for d in refused} == {"requests"}
    assert {d.failed_scope for d in refused} == {"tenant"}
    for d in refused:
        assert d.retry_after_s is not None
        assert 0 < d.retry_after_s <= 60
        assert d.requests_left == 0
        assert d.requests_limit == 50
    # Each admission saw every one before it: the remaining counts are 49, 48, ..., 0, once each.
    assert sorted(d.requests_left for d in admitted if d.requests_left is not None) == list(
        range(50)
    )
    assert all(d.requests_limit == 50 and d.failed is None for d in admitted)
    if backend.redis is not None:
        assert await backend.requests_logged(scopes[0]) == 50


async def test_token_bucket_is_charged_the_estimate_and_refunded_by_metering(
    backend: Backend,
) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(tokens_per_minute=1000))
    lefts: list[int | None] = []
    for n in range(3):
        decision = await backend.replicas[n % 2].admit(scopes, 300, f"t-{n}")
        assert decision.allowed
        assert decision.tokens_limit == 1000
        lefts.append(decision.tokens_left)
    # Charged the estimate each time (a few ms of refill at 1000/min is below one token).
    assert lefts == [700, 400, 100]

    refused = await second.admit(scopes, 300, "t-3")
    assert not refused.allowed
    assert refused.failed == "tokens"
    assert refused.failed_scope == "tenant"
    assert refused.retry_after_s is not None
    # 200 tokens missing at 1000 per minute: about 12 s (less whatever refilled meanwhile).
    assert 11.5 < refused.retry_after_s <= 12.0
    assert refused.tokens_left == 100

    # The three really used 50 tokens each, not 300: 750 come back and the fourth fits.
    for n in range(3):
        record = usage_record(tenant, f"t-{n}", estimated=300, prompt=30, completion=20)
        assert await backend.replicas[(n + 1) % 2].meter(record, scopes)
    fourth = await first.admit(scopes, 300, "t-3")
    assert fourth.allowed
    assert fourth.tokens_left is not None
    assert 550 <= fourth.tokens_left <= 552  # 1000 - 3*50 - 300, plus a little refill


async def test_a_request_larger_than_the_bucket_is_admitted_on_a_full_bucket(
    backend: Backend,
) -> None:
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(tokens_per_minute=100))
    assert (await backend.first.admit(scopes, 500, "huge")).allowed
    after = await backend.second.admit(scopes, 1, "next")
    assert not after.allowed
    assert after.failed == "tokens"  # the bucket is in debt: 100 - 500


async def test_concurrency_leases(backend: Backend) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(concurrent=2))
    assert (await first.admit(scopes, 1, "c-1")).allowed
    assert (await second.admit(scopes, 1, "c-2")).allowed
    third = await first.admit(scopes, 1, "c-3")
    assert not third.allowed
    assert third.failed == "concurrent"
    assert third.failed_scope == "tenant"
    assert third.retry_after_s is not None
    assert 0 < third.retry_after_s <= 900  # until the oldest lease expires
    assert not (await second.admit(scopes, 1, "c-3")).allowed

    assert await second.meter(
        usage_record(tenant, "c-1", estimated=1, prompt=1, completion=0), scopes
    )
    assert (await first.admit(scopes, 1, "c-3")).allowed
    assert not (await second.admit(scopes, 1, "c-4")).allowed


async def test_leases_of_a_replica_that_never_meters_expire(backend: Backend) -> None:
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(concurrent=1))
    store: QuotaStore
    if backend.redis is not None:
        store = RedisQuotaStore(backend.redis, lease_seconds=0.2)
    else:
        store = MemoryQuotaStore(lease_seconds=0.2)
    assert (await store.admit(scopes, 1, "held")).allowed
    assert not (await store.admit(scopes, 1, "next")).allowed
    await asyncio.sleep(0.3)
    assert (await store.admit(scopes, 1, "next")).allowed


async def test_monthly_budget(backend: Backend) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(monthly_tokens=1000))
    assert (await first.admit(scopes, 600, "m-1")).allowed
    over = await second.admit(scopes, 600, "m-2")
    assert not over.allowed
    assert over.failed == "monthly"
    assert over.failed_scope == "tenant"
    assert over.retry_after_s is None
    assert (await second.admit(scopes, 400, "m-3")).allowed  # exactly the budget
    assert not (await first.admit(scopes, 1, "m-4")).allowed
    assert await backend.month_used(scopes[0]) == 1000


async def test_the_key_scope_refuses_and_the_tenant_scope_records_nothing(
    backend: Backend,
) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    tenant_limits = Limits(requests_per_minute=3, tokens_per_minute=1000, monthly_tokens=1000)
    key_limits = Limits(requests_per_minute=1)
    with_key = scopes_for(tenant, tenant_limits, "k1", key_limits)
    assert [s.name for s in with_key] == ["tenant", "key:k1"]
    other_key = scopes_for(tenant, tenant_limits, "k2", None)
    assert [s.name for s in other_key] == ["tenant"]

    admitted = await first.admit(with_key, 100, "a-1")
    assert admitted.allowed
    assert admitted.requests_limit == 1  # the tightest scope's limit is what headers report
    assert admitted.requests_left == 0
    assert await backend.month_used(with_key[0]) == 100  # reserved: the tenant has a budget
    assert await backend.month_used(with_key[1]) == 0  # the key has none: counted at metering

    for n in range(5):
        refused = await backend.replicas[n % 2].admit(with_key, 400, f"refused-{n}")
        assert not refused.allowed
        assert refused.failed == "requests"
        assert refused.failed_scope == "key:k1"
        assert refused.retry_after_s is not None
        assert 0 < refused.retry_after_s <= 60

    # Nothing of the five refusals reached the tenant's counters.
    assert await backend.month_used(with_key[0]) == 100
    assert await backend.month_used(with_key[1]) == 0
    if backend.redis is not None:
        assert await backend.requests_logged(with_key[0]) == 1
        assert await backend.requests_logged(with_key[1]) == 1
    # So the tenant still has 2 of 3 requests, 900 of 1000 tokens and 900 of its month.
    other = await second.admit(other_key, 900, "b-1")
    assert other.allowed
    assert other.requests_left == 1
    assert other.tokens_left is not None
    assert other.tokens_left <= 2
    assert (await first.admit(other_key, 0, "b-2")).allowed
    last = await second.admit(other_key, 0, "b-3")
    assert not last.allowed
    assert last.failed == "requests"
    assert last.failed_scope == "tenant"


async def test_a_tenant_refusal_names_the_tenant_scope(backend: Backend) -> None:
    tenant = backend.new_tenant()
    scopes = scopes_for(
        tenant, Limits(monthly_tokens=100), "k9", Limits(requests_per_minute=10, monthly_tokens=500)
    )
    refused = await backend.first.admit(scopes, 200, "big")
    assert not refused.allowed
    assert (refused.failed, refused.failed_scope) == ("monthly", "tenant")
    assert await backend.month_used(scopes[1]) == 0
    assert (await backend.second.admit(scopes, 100, "fits")).allowed


async def test_meter_counts_once_per_request_id(backend: Backend) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(tokens_per_minute=1000, monthly_tokens=10_000))
    started = time.time()
    assert (await first.admit(scopes, 100, "once")).allowed
    record = usage_record(
        tenant, "once", estimated=100, prompt=300, completion=100, started_at=started
    )
    assert await first.meter(record, scopes)
    assert not await second.meter(record, scopes)
    assert not await first.meter(record, scopes)

    # The bucket first: reading the durable ledger waits for the shipper, and the bucket
    # refills meanwhile (on a loaded machine, seconds).
    probe = await second.admit(scopes, 0, "probe")
    assert probe.tokens_left is not None
    assert 600 <= probe.tokens_left <= 602  # 1000 - 400 once, plus a little refill
    assert await backend.month_used(scopes[0]) == 400  # charged once: 100 + (400 - 100)
    ledger = await backend.usage(tenant, started - 1, started + 10)
    assert ledger == [record]


async def test_usage_returns_records_by_end_time_in_a_half_open_range(backend: Backend) -> None:
    tenant, neighbour = backend.new_tenant(), backend.new_tenant()
    scopes = tenant_only(tenant, Limits())
    base = 1_700_000_000.0
    # Start times out of end-time order: a long request that began first ends last.
    ends = {"r-early": 10.0, "r-start": 100.0, "r-mid": 150.0, "r-end": 200.0, "r-late": 300.0}
    durations = {"r-early": 1_000.0, "r-start": 90_000.0, "r-mid": 500.0, "r-end": 2_000.0}
    records = {}
    for request_id, end in ends.items():
        duration = durations.get(request_id, 0.0)
        record = usage_record(
            tenant,
            request_id,
            estimated=10,
            prompt=5,
            completion=5,
            started_at=base + end - duration / 1000,
            duration_ms=duration,
        )
        assert record.finished_at == base + end
        records[request_id] = record
    for n, request_id in enumerate(["r-late", "r-mid", "r-early", "r-end", "r-start"]):
        assert await backend.replicas[n % 2].meter(records[request_id], scopes)
    foreign = usage_record(
        neighbour,
        "r-mid",
        estimated=1,
        prompt=1,
        completion=1,
        started_at=base + 150.0,
        duration_ms=0.0,
    )
    assert await backend.first.meter(foreign, tenant_only(neighbour, Limits()))

    got = await backend.usage(tenant, base + 100.0, base + 200.0)
    assert got == [records["r-start"], records["r-mid"]]  # [start, end): r-end is out
    everything = await backend.usage(tenant, base, base + 1000.0)
    assert [r.request_id for r in everything] == ["r-early", "r-start", "r-mid", "r-end", "r-late"]
    assert await backend.usage(tenant, base + 400.0, base + 500.0) == []
    assert await backend.usage(neighbour, base, base + 1000.0) == [foreign]


async def test_metering_a_request_not_admitted_here_charges_the_full_usage(
    backend: Backend,
) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(monthly_tokens=1000))
    # Admitted on a fail-open replica's local limits: the shared store never reserved it.
    record = usage_record(
        tenant, "local-1", estimated=100, prompt=500, completion=200, admitted_shared=False
    )
    assert await first.meter(record, scopes)
    assert await backend.month_used(scopes[0]) == 700  # the whole 700, not 700 - 100

    over = await second.admit(scopes, 301, "next-1")
    assert not over.allowed
    assert over.failed == "monthly"
    assert over.retry_after_s is None
    assert (await first.admit(scopes, 300, "next-2")).allowed


async def test_metering_an_admitted_request_replaces_the_estimate(backend: Backend) -> None:
    first, second = backend.replicas
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(monthly_tokens=1000))
    assert (await first.admit(scopes, 600, "shared-1")).allowed
    record = usage_record(tenant, "shared-1", estimated=600, prompt=150, completion=50)
    assert await second.meter(record, scopes)
    assert await backend.month_used(scopes[0]) == 200
    assert (await first.admit(scopes, 800, "shared-2")).allowed


@pytest.mark.parametrize("estimates", [[0], [250, 250, 250, 250]])
async def test_admission_with_no_limits_reserves_nothing_and_metering_counts_usage(
    backend: Backend, estimates: Sequence[int]
) -> None:
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits())
    for n, estimate in enumerate(estimates):
        decision = await backend.replicas[n % 2].admit(scopes, estimate, f"u-{n}")
        assert decision.allowed
        assert decision.requests_limit is None
        assert decision.tokens_limit is None
    assert await backend.month_used(scopes[0]) == 0  # no budget: nothing to reserve
    for n, estimate in enumerate(estimates):
        record = usage_record(tenant, f"u-{n}", estimated=estimate, prompt=10, completion=5)
        assert await backend.replicas[n % 2].meter(record, scopes)
    assert await backend.month_used(scopes[0]) == 15 * len(estimates)  # the real usage


async def test_a_requests_refusal_never_reports_false_token_figures(backend: Backend) -> None:
    tenant = backend.new_tenant()
    scopes = tenant_only(tenant, Limits(requests_per_minute=1, tokens_per_minute=1000))
    assert (await backend.first.admit(scopes, 10, "a")).allowed
    refused = await backend.second.admit(scopes, 10, "b")
    assert refused.failed == "requests"
    # The bucket was not read: its figures are absent rather than a false "0 left".
    assert refused.tokens_left is None
    assert refused.tokens_reset_s is None


async def test_erasing_a_subject_removes_its_reference_and_keeps_the_records(
    backend: Backend,
) -> None:
    # Random references: the Redis erasure scans every tenant's ledger on the shared server.
    subject_a, subject_b = uuid.uuid4().hex, uuid.uuid4().hex
    base = time.time() - 100
    tenants = [backend.new_tenant(), backend.new_tenant()]
    subjects = [subject_a, subject_b, None, subject_a, subject_a, None, subject_b]
    for tenant in tenants:
        scopes = tenant_only(tenant, Limits())
        for n, subject in enumerate(subjects):
            record = usage_record(
                tenant,
                f"e-{n}",
                estimated=100,
                prompt=10 + n,
                completion=2 * n,
                started_at=base + n,
                subject_ref=subject,
            )
            assert await backend.replicas[n % 2].meter(record, scopes)
        # Two records ending in the same millisecond, the subject's one first: still first after.
        for request_id, subject in [("tie-1", subject_a), ("tie-2", None)]:
            record = usage_record(
                tenant,
                request_id,
                estimated=1,
                prompt=1,
                completion=1,
                started_at=base + 50,
                subject_ref=subject,
            )
            assert await backend.first.meter(record, scopes)
    before = {t: await backend.usage(t, base, base + 100) for t in tenants}
    assert [r.request_id for r in before[tenants[0]]][-2:] == ["tie-1", "tie-2"]

    assert await backend.erase_subject(subject_a) == 2 * 4

    for tenant in tenants:
        after = await backend.usage(tenant, base, base + 100)
        expected = [
            r.model_copy(update={"subject_ref": None}) if r.subject_ref == subject_a else r
            for r in before[tenant]
        ]
        assert after == expected  # same records, same order, same counts; only A's ref gone
        assert [r.subject_ref for r in after] == [
            None if s == subject_a else s for s in [*subjects, subject_a, None]
        ]
        assert sum(r.total_tokens for r in after) == sum(r.total_tokens for r in before[tenant])

    assert await backend.erase_subject(subject_a) == 0
    assert await backend.erase_subject(subject_b) == 2 * 2
    for ref in ["ABCDEF", "", "*", 'ab"cd', "0123-4567", "xyz"]:
        with pytest.raises(ValueError, match="lowercase hex"):
            await backend.erase_subject(ref)
