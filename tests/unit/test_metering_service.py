"""Metering: admission and metering around each request, and the degraded modes while the
shared quota store (Redis) is unreachable."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterUnreachableError

from gateway.core.limits import Decision, Limits, Scope, scopes_for
from gateway.core.tenant import Principal
from gateway.core.usage import UsageRecord
from gateway.errors import QuotaExceeded, QuotaStoreUnavailable, RateLimited
from gateway.metering.service import Metering, rate_limit_headers, refusal
from gateway.metering.spool import DiskSpool
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.topology import Tenant
from tests.records import usage_record as make_record


class FakeSharedStore:
    """The shared store's protocol over an in-memory store, switchable to "Redis is down"."""

    def __init__(self) -> None:
        self.inner = MemoryQuotaStore()
        self.down = False
        self.admit_calls = 0
        self.meter_calls = 0
        self.metered: list[tuple[UsageRecord, tuple[Scope, ...]]] = []

    async def admit(
        self, scopes: Sequence[Scope], estimate: int, request_id: str, *, key_id: str = ""
    ) -> Decision:
        self.admit_calls += 1
        if self.down:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )
        return await self.inner.admit(scopes, estimate, request_id)

    async def meter(self, record: UsageRecord, scopes: Sequence[Scope]) -> bool:
        self.meter_calls += 1
        if self.down:
            raise RedisConnectionError("Connection closed by server.")
        first = await self.inner.meter(record, scopes)
        if first:
            self.metered.append((record, tuple(scopes)))
        return first

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        if self.down:
            raise RedisConnectionError("Connection refused.")
        return await self.inner.usage(tenant, start, end)

    async def erase_subject(self, subject_ref: str) -> int:
        if self.down:
            raise RedisConnectionError("Connection refused.")
        return await self.inner.erase_subject(subject_ref)


def principal(
    mode: str, limits: Limits, key_limits: Limits | None = None, key_id: str = "k1"
) -> Principal:
    tenant_id = "t-" + uuid.uuid4().hex  # its own metric labels in the global registry
    tenant = Tenant(tenant_id, frozenset({"DE"}), None, limits, mode)
    return Principal(tenant, key_id, scopes_for(tenant_id, limits, key_id, key_limits))


def degraded_count(who: Principal) -> float:
    value = REGISTRY.get_sample_value(
        "sovereign_quota_degraded_total",
        {"tenant": who.tenant.id, "mode": who.tenant.degraded_mode},
    )
    return value or 0.0


def usage_record(
    who: Principal,
    request_id: str,
    *,
    estimated: int = 100,
    prompt: int = 20,
    completion: int = 10,
    admitted_shared: bool = True,
) -> UsageRecord:
    return make_record(
        who.tenant.id,
        request_id,
        key_id=who.key_id,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimated_tokens=estimated,
        started_at=1_750_000_000.0,
        ttft_ms=None,
        duration_ms=800.0,
        gateway="gw-1",
        admitted_shared=admitted_shared,
    )


def build(
    tmp_path: Path, retry_after_failure: float = 60.0
) -> tuple[Metering, FakeSharedStore, MemoryQuotaStore, DiskSpool]:
    shared, local = FakeSharedStore(), MemoryQuotaStore()
    spool = DiskSpool(tmp_path / "spool", "gw-1")
    return Metering(shared, local, spool, retry_after_failure), shared, local, spool


async def test_the_shared_store_decides_while_it_is_up(tmp_path: Path) -> None:
    metering, shared, local, _ = build(tmp_path)
    who = principal("fail_closed", Limits(requests_per_minute=2))
    admission = await metering.admit(who, 10, "r-1")
    assert admission.shared
    assert admission.decision.allowed
    assert admission.headers["x-ratelimit-limit-requests"] == "2"
    assert admission.headers["x-ratelimit-remaining-requests"] == "1"
    assert admission.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert (await metering.admit(who, 10, "r-2")).shared
    with pytest.raises(RateLimited) as refused:
        await metering.admit(who, 10, "r-3")
    assert not isinstance(refused.value, QuotaExceeded)
    assert refused.value.status == 429
    assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(refused.value.headers["retry-after"]) <= 60
    assert shared.admit_calls == 3
    assert local.monthly_used(who.scopes[0], 1_750_000_000.0) == 0  # local never involved
    assert degraded_count(who) == 0


async def test_fail_closed_refuses_with_503_and_counts_it(tmp_path: Path) -> None:
    metering, shared, _, _ = build(tmp_path)
    who = principal("fail_closed", Limits(requests_per_minute=100))
    shared.down = True
    for n in range(3):
        with pytest.raises(QuotaStoreUnavailable) as unavailable:
            await metering.admit(who, 10, f"r-{n}")
        assert unavailable.value.status == 503
        assert unavailable.value.code == "quota_store_unavailable"
        assert unavailable.value.headers == {"retry-after": "1"}
        assert degraded_count(who) == n + 1
    # Asked once; within retry_after_failure the next requests do not wait on it again.
    assert shared.admit_calls == 1


class UnreachableCluster(FakeSharedStore):
    """What redis-py's cluster client raises when no node of the cluster answers (a wrong CA,
    all nodes down): ``RedisClusterUnreachableError``, which is not a ``RedisError``."""

    async def admit(
        self, scopes: Sequence[Scope], estimate: int, request_id: str, *, key_id: str = ""
    ) -> Decision:
        self.admit_calls += 1
        raise RedisClusterUnreachableError("Redis Cluster cannot be connected.")

    async def meter(self, record: UsageRecord, scopes: Sequence[Scope]) -> bool:
        self.meter_calls += 1
        raise RedisClusterUnreachableError("Redis Cluster cannot be connected.")


async def test_an_unreachable_cluster_is_the_degraded_mode_and_the_spool(tmp_path: Path) -> None:
    shared, local = UnreachableCluster(), MemoryQuotaStore()
    spool = DiskSpool(tmp_path / "spool", "gw-1")
    metering = Metering(shared, local, spool, 60.0)
    closed = principal("fail_closed", Limits(requests_per_minute=100))
    with pytest.raises(QuotaStoreUnavailable):
        await metering.admit(closed, 10, "r-1")
    opened = principal("fail_open", Limits(requests_per_minute=100))
    assert not (await metering.admit(opened, 10, "r-2")).shared
    metering = Metering(shared, local, spool, 60.0)  # not within a back-off: ask, then spool
    await metering.meter(usage_record(opened, "r-2", admitted_shared=False), opened)
    assert spool.pending() == 1


async def test_fail_open_admits_under_the_local_limits(tmp_path: Path) -> None:
    metering, shared, _local, _ = build(tmp_path)
    who = principal("fail_open", Limits(requests_per_minute=3))
    shared.down = True
    for n in range(3):
        admission = await metering.admit(who, 10, f"r-{n}")
        assert admission.decision.allowed
        assert not admission.shared
        assert admission.headers["x-ratelimit-remaining-requests"] == str(2 - n)
    with pytest.raises(RateLimited) as refused:
        await metering.admit(who, 10, "r-3")
    assert refused.value.status == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert "requests per minute" in refused.value.message
    assert degraded_count(who) == 4
    assert shared.admit_calls == 1
    assert shared.meter_calls == 0  # admission alone meters nothing


async def test_the_shared_store_is_asked_again_after_retry_after_failure(
    tmp_path: Path,
) -> None:
    metering, shared, _, _ = build(tmp_path, retry_after_failure=0.1)
    who = principal("fail_open", Limits(requests_per_minute=100))
    shared.down = True
    assert not (await metering.admit(who, 1, "r-1")).shared
    assert not (await metering.admit(who, 1, "r-2")).shared
    assert shared.admit_calls == 1
    await asyncio.sleep(0.15)
    assert not (await metering.admit(who, 1, "r-3")).shared  # asked, still down
    assert shared.admit_calls == 2
    shared.down = False
    await asyncio.sleep(0.15)
    assert (await metering.admit(who, 1, "r-4")).shared
    assert shared.admit_calls == 3
    assert degraded_count(who) == 3


async def test_metering_while_down_spools_and_replay_sends_it_once_back(tmp_path: Path) -> None:
    metering, shared, _, spool = build(tmp_path)
    who = principal("fail_closed", Limits(tokens_per_minute=5000), Limits(tokens_per_minute=900))
    assert (await metering.admit(who, 100, "r-1")).shared
    record = usage_record(who, "r-1")

    shared.down = True
    await metering.meter(record, who)
    assert shared.meter_calls == 1
    assert spool.pending() == 1
    lines = spool.path.read_bytes().splitlines()
    assert len(lines) == 1
    assert UsageRecord.model_validate(orjson.loads(lines[0])["record"]) == record

    # Still down: the replay sends nothing and keeps the line.
    assert await metering.replay() == 0
    assert spool.pending() == 1
    assert shared.metered == []

    shared.down = False
    assert await metering.replay() == 1
    assert [r for r, _ in shared.metered] == [record]
    settled = shared.metered[0][1]
    assert [(s.tenant, s.name, s.limits.tokens_per_minute) for s in settled] == [
        (who.tenant.id, "tenant", 5000),
        (who.tenant.id, "key:k1", 900),
    ]
    assert spool.pending() == 0
    assert not spool.path.exists()
    assert await metering.replay() == 0
    assert len(shared.metered) == 1
    # A successful replay ends the back-off: the next request asks the shared store at once.
    calls = shared.admit_calls
    assert (await metering.admit(who, 10, "r-2")).shared
    assert shared.admit_calls == calls + 1


async def test_within_the_back_off_metering_goes_straight_to_the_spool(tmp_path: Path) -> None:
    metering, shared, _, spool = build(tmp_path)
    who = principal("fail_open", Limits())
    shared.down = True
    await metering.meter(usage_record(who, "r-1"), who)
    await metering.meter(usage_record(who, "r-2"), who)
    await metering.meter(usage_record(who, "r-3"), who)
    assert shared.meter_calls == 1
    assert spool.pending() == 3
    shared.down = False
    assert await metering.replay() == 3
    assert [r.request_id for r, _ in shared.metered] == ["r-1", "r-2", "r-3"]
    # Replaying a record already metered is a no-op in the store.
    assert not await shared.meter(usage_record(who, "r-2"), who.scopes)
    assert len(await shared.usage(who.tenant.id, 0, 2e9)) == 3


async def test_a_locally_admitted_request_ends_its_local_lease_when_metered(
    tmp_path: Path,
) -> None:
    metering, shared, _, spool = build(tmp_path)
    who = principal("fail_open", Limits(concurrent=1, monthly_tokens=10_000))
    shared.down = True
    admission = await metering.admit(who, 100, "r-1")
    assert not admission.shared
    with pytest.raises(RateLimited) as busy:
        await metering.admit(who, 100, "r-2")
    assert "concurrent requests" in busy.value.message

    record = usage_record(who, "r-1", estimated=100, prompt=300, admitted_shared=False)
    await metering.meter(record, who)
    assert spool.pending() == 1
    assert not (await metering.admit(who, 100, "r-2")).shared  # the local lease ended

    shared.down = False
    assert await metering.replay() == 1
    # The shared store never reserved it, so its full usage is charged there.
    assert shared.inner.monthly_used(who.scopes[0], record.started_at) == 310


async def test_without_a_spool_a_record_metered_while_down_is_not_sent_later() -> None:
    shared = FakeSharedStore()
    metering = Metering(shared, MemoryQuotaStore(), None)
    who = principal("fail_open", Limits())
    shared.down = True
    await metering.meter(usage_record(who, "r-1"), who)
    shared.down = False
    assert await metering.replay() == 0
    assert shared.metered == []


async def test_embedded_mode_uses_only_the_local_store() -> None:
    local = MemoryQuotaStore()
    metering = Metering(None, local, None)
    assert metering.embedded
    who = principal("fail_closed", Limits(requests_per_minute=1, monthly_tokens=1000))
    admission = await metering.admit(who, 100, "r-1")
    assert admission.shared
    with pytest.raises(RateLimited):
        await metering.admit(who, 100, "r-2")
    record = usage_record(who, "r-1", estimated=100, prompt=40, completion=10)
    await metering.meter(record, who)
    assert await local.usage(who.tenant.id, 0, 2e9) == [record]
    assert await metering.replay() == 0
    assert degraded_count(who) == 0


REFUSED = Decision(allowed=False, failed="requests", failed_scope="tenant", retry_after_s=0.02)


def decision(**fields: Any) -> Decision:
    return dataclasses.replace(REFUSED, **fields)


def test_refusal_headers_and_reset_formats() -> None:
    refused = refusal(
        decision(
            retry_after_s=0.02,
            requests_limit=20,
            requests_left=0,
            requests_reset_s=0.02,
            tokens_limit=40_000,
            tokens_left=1234,
            tokens_reset_s=360.0,
        ),
        "t-" + uuid.uuid4().hex,
    )
    assert type(refused) is RateLimited
    assert refused.status == 429
    assert refused.headers == {
        "retry-after": "1",  # whole seconds, at least 1
        "retry-after-ms": "20",
        "x-ratelimit-limit-requests": "20",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-limit-tokens": "40000",
        "x-ratelimit-remaining-tokens": "1234",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert refused.message == (
        "Rate limit reached for your requests per minute. Please try again in 20ms."
    )


@pytest.mark.parametrize(
    ("seconds", "formatted", "retry_after", "retry_after_ms"),
    [
        (0.0004, "1ms", "1", "1"),
        (0.02, "20ms", "1", "20"),
        (1.0, "1s", "1", "1000"),
        (1.5, "1.5s", "2", "1500"),
        (12.25, "12.2s", "13", "12250"),
        (59.0, "59s", "59", "59000"),
        (60.0, "1m0s", "60", "60000"),
        (360.0, "6m0s", "360", "360000"),
        (125.5, "2m5s", "126", "125500"),
    ],
)
def test_retry_after_is_whole_seconds_and_resets_use_openai_durations(
    seconds: float, formatted: str, retry_after: str, retry_after_ms: str
) -> None:
    refused = refusal(
        decision(
            failed="tokens",
            retry_after_s=seconds,
            tokens_limit=1000,
            tokens_left=0,
            tokens_reset_s=seconds,
        ),
        "t-" + uuid.uuid4().hex,
    )
    assert refused.headers["retry-after"] == retry_after
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["retry-after-ms"] == retry_after_ms
    assert refused.headers["x-ratelimit-reset-tokens"] == formatted
    assert "x-ratelimit-limit-requests" not in refused.headers
    assert refused.message.endswith(f"tokens per minute. Please try again in {formatted}.")


def test_a_key_scope_refusal_says_so() -> None:
    refused = refusal(
        decision(failed="concurrent", failed_scope="key:k7", retry_after_s=3.0), "t-key"
    )
    assert refused.message == (
        "Rate limit reached for this key's concurrent requests. Please try again in 3s."
    )
    assert refused.headers == {"retry-after": "3", "retry-after-ms": "3000"}


def test_a_monthly_refusal_is_insufficient_quota_without_retry_after() -> None:
    refused = refusal(
        decision(
            failed="monthly",
            retry_after_s=None,
            tokens_limit=1000,
            tokens_left=500,
            tokens_reset_s=30.0,
        ),
        "t-" + uuid.uuid4().hex,
    )
    assert isinstance(refused, QuotaExceeded)
    assert refused.status == 429
    assert refused.code == "insufficient_quota"
    assert refused.error_type == "insufficient_quota"
    assert refused.body()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in refused.headers
    assert "retry-after-ms" not in refused.headers
    assert refused.headers["x-ratelimit-remaining-tokens"] == "500"
    assert "monthly token budget" in refused.message


async def test_a_monthly_budget_refusal_through_the_service(tmp_path: Path) -> None:
    metering, _, _, _ = build(tmp_path)
    who = principal("fail_closed", Limits(), Limits(monthly_tokens=500), key_id="k2")
    assert (await metering.admit(who, 400, "r-1")).shared
    with pytest.raises(QuotaExceeded) as over:
        await metering.admit(who, 200, "r-2")
    assert over.value.code == "insufficient_quota"
    assert "this key's monthly token budget" in over.value.message
    refused = REGISTRY.get_sample_value(
        "sovereign_quota_refused_total", {"tenant": who.tenant.id, "limit": "monthly"}
    )
    assert refused == 1.0


def test_headers_are_empty_without_limits() -> None:
    allowed = Decision(allowed=True, failed=None, failed_scope=None, retry_after_s=0.0)
    assert rate_limit_headers(allowed) == {}


async def test_a_tenant_without_limits_costs_no_admission_round_trip(tmp_path: Path) -> None:
    metering, shared, _local, _ = build(tmp_path)
    who = principal("fail_closed", Limits())
    shared.down = True  # nothing to enforce, so nothing to refuse even in fail_closed
    admission = await metering.admit(who, 50, "free-1")
    assert admission.decision.allowed
    assert admission.headers == {}
    assert shared.admit_calls == 0
    assert degraded_count(who) == 0
    shared.down = False
    await metering.meter(usage_record(who, "free-1"), who)
    assert shared.meter_calls == 1  # usage is still counted, in the ledger
    assert [r.request_id for r, _ in shared.metered] == ["free-1"]
