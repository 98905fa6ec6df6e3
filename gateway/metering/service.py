"""Admission and metering around each request, and what happens while Redis is away.

Admission: one call to the quota store before the request is forwarded. If the shared store
is unreachable, the tenant's degraded mode decides, never silently (a metric and a log event
each time): ``fail_closed`` refuses with 503, ``fail_open`` admits under this replica's local
limits. After a failure the shared store is not asked again for ``retry_after_failure``
seconds, so an outage costs no timeouts on the request path.

Metering: one call per request with the engine's usage, exactly once per request id; the
shared store hands the record on to the durable ledger (``gateway/ledger``). If the shared
store is unreachable, or its hand-off to the ledger is full (the ledger's database down for a
while), the record goes to the disk spool (fsynced) and a background task replays it when
both are back, skipping the ids the durable ledger already holds.

Replicas that die: every replica keeps a heartbeat in the shared store and sweeps the pending
admissions of replicas whose heartbeat expired, settling each exactly once with no usage
(``gateway/quota/pending.py``), so a crash frees the leases and refunds the charges it held.
"""

from __future__ import annotations

import asyncio
import math
import time

import structlog
from redis.exceptions import RedisClusterException, RedisError

from gateway.core.limits import Decision
from gateway.core.tenant import Principal
from gateway.core.usage import UsageRecord
from gateway.errors import LedgerUnavailable, QuotaExceeded, QuotaStoreUnavailable, RateLimited
from gateway.ledger.durable import DurableLedger
from gateway.metering.spool import DiskSpool, SpoolEntry
from gateway.metrics import (
    LEDGER_REPLAYED,
    LEDGER_SPOOL_PENDING,
    LEDGER_SPOOLED,
    ORPHANS_SETTLED,
    QUOTA_DEGRADED,
    QUOTA_REFUSED,
)
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.pending import PendingAdmission, heartbeat_every
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.store import HandoffFull, QuotaStore

log = structlog.get_logger("gateway.metering")

# Anything Redis says instead of an answer means the store cannot be used now: connection
# failures and timeouts, LOADING (a restarted Redis reading its append-only file), READONLY
# (a replica answering during a failover), OOM, or a script error. All of them are the
# degraded mode on admission and the disk spool on metering, never a 500.
# redis-py's cluster client raises ``RedisClusterUnreachableError`` (no node answers: all
# down, or a certificate that fails) outside the ``RedisError`` tree.
STORE_DOWN = (RedisError, RedisClusterException, OSError)


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return f"{int(minutes)}m{int(rest)}s"
    return f"{rest:.3g}s"


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers OpenAI clients read, for the tightest scope."""
    headers: dict[str, str] = {}
    if decision.requests_limit is not None:
        headers["x-ratelimit-limit-requests"] = str(decision.requests_limit)
        headers["x-ratelimit-remaining-requests"] = str(decision.requests_left or 0)
        headers["x-ratelimit-reset-requests"] = _duration(decision.requests_reset_s or 0)
    if decision.tokens_limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(decision.tokens_limit)
        headers["x-ratelimit-remaining-tokens"] = str(decision.tokens_left or 0)
        headers["x-ratelimit-reset-tokens"] = _duration(decision.tokens_reset_s or 0)
    return headers


def refusal(decision: Decision, tenant: str) -> RateLimited:
    QUOTA_REFUSED.labels(tenant, decision.failed or "unknown").inc()
    headers = rate_limit_headers(decision)
    scope = "this key's" if (decision.failed_scope or "").startswith("key:") else "your"
    if decision.retry_after_s is None:
        return QuotaExceeded(
            f"You exceeded {scope} monthly token budget; it renews at the start of next month.",
            headers=headers,
        )
    retry = decision.retry_after_s
    headers["retry-after"] = str(max(1, math.ceil(retry)))
    headers["retry-after-ms"] = str(max(1, math.ceil(retry * 1000)))
    what = {
        "requests": "requests per minute",
        "tokens": "tokens per minute",
        "concurrent": "concurrent requests",
    }.get(decision.failed or "", "rate")
    return RateLimited(
        f"Rate limit reached for {scope} {what}. Please try again in {_duration(retry)}.",
        headers=headers,
    )


class Admission:
    __slots__ = ("decision", "headers", "shared")

    def __init__(self, decision: Decision, shared: bool) -> None:
        self.decision = decision
        self.shared = shared
        self.headers = rate_limit_headers(decision)


UNLIMITED_ADMISSION = Admission(Decision(True, None, None, None), shared=True)


class Metering:
    def __init__(
        self,
        shared: QuotaStore | None,
        local: MemoryQuotaStore,
        spool: DiskSpool | None,
        retry_after_failure: float = 1.0,
        ledger: DurableLedger | None = None,
    ) -> None:
        """``shared`` None: the embedded mode, where ``local`` is the only store (and holds
        the ledger); else ``ledger`` is where the shared store's records land."""
        self._shared = shared
        self._local = local
        self._spool = spool
        self._ledger = ledger
        self._retry_after_failure = retry_after_failure
        self._down_until = 0.0

    @property
    def embedded(self) -> bool:
        return self._shared is None

    @property
    def ledger(self) -> DurableLedger | None:
        return self._ledger

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        """The tenant's records that ended in [start, end): from the durable ledger, or the
        in-process one when embedded."""
        if self._ledger is not None:
            return await self._ledger.usage(tenant, start, end)
        return await self._local.usage(tenant, start, end)

    def _mark_down(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("quota_store.unreachable", error=type(exc).__name__)
        self._down_until = time.monotonic() + self._retry_after_failure

    async def admit(self, principal: Principal, estimate: int, request_id: str) -> Admission:
        scopes = principal.scopes
        if not any(scope.limits.any() for scope in scopes):
            # Nothing to check and nothing to reserve (usage is counted when metered): no
            # round trip on the request's path.
            return UNLIMITED_ADMISSION
        if self._shared is None:
            decision = await self._local.admit(scopes, estimate, request_id)
            shared = True
        else:
            decision_or_none: Decision | None = None
            if time.monotonic() >= self._down_until:
                try:
                    decision_or_none = await self._shared.admit(
                        scopes, estimate, request_id, key_id=principal.key_id
                    )
                except STORE_DOWN as exc:
                    self._mark_down(exc)
            if decision_or_none is None:
                decision = await self._degraded(principal, estimate, request_id)
                shared = False
            else:
                decision, shared = decision_or_none, True
        if not decision.allowed:
            raise refusal(decision, principal.tenant.id)
        return Admission(decision, shared)

    async def _degraded(self, principal: Principal, estimate: int, request_id: str) -> Decision:
        tenant = principal.tenant
        QUOTA_DEGRADED.labels(tenant.id, tenant.degraded_mode).inc()
        log.warning(
            "quota.degraded", tenant=tenant.id, mode=tenant.degraded_mode, request_id=request_id
        )
        if tenant.degraded_mode != "fail_open":
            raise QuotaStoreUnavailable(
                "The quota store is unreachable and this tenant's policy is to refuse "
                "rather than serve unmetered limits. Please retry shortly.",
                headers={"retry-after": "1"},
            )
        return await self._local.admit(principal.scopes, estimate, request_id)

    async def meter(self, record: UsageRecord, principal: Principal) -> None:
        scopes = principal.scopes
        if self._shared is None:
            await self._local.meter(record, scopes)
            return
        if not record.admitted_shared:
            await self._local.meter(record, scopes)  # ends the local lease and bucket charge
        if time.monotonic() >= self._down_until:
            try:
                await self._shared.meter(record, scopes)
                return
            except HandoffFull:
                # Redis is up (admissions go on); only the way to the ledger is full.
                log.warning("ledger.handoff_full", tenant=record.tenant)
            except STORE_DOWN as exc:
                self._mark_down(exc)
        await self._spool_entry(SpoolEntry.of(record, scopes))

    async def _spool_entry(self, entry: SpoolEntry) -> None:
        if self._spool is None:
            log.error("ledger.record_lost", request_id=entry.record.request_id)
            return
        await asyncio.to_thread(self._spool.append, entry)
        LEDGER_SPOOLED.inc()
        LEDGER_SPOOL_PENDING.inc()
        log.warning("ledger.spooled", request_id=entry.record.request_id)

    async def erase_subject(self, subject_ref: str) -> int:
        """GDPR Art. 17 in the ledger: the subject's reference is removed from its records
        (shared store, this replica's local store and its disk spool); the records and their
        counts stay, as billing records. Raises if the shared store is unreachable: an
        erasure must not report success it did not achieve."""
        erased = await self._local.erase_subject(subject_ref)
        # The spool first: its erasure waits for a replay in progress, whose records are
        # then in the shared store before that is erased, not after.
        if self._spool is not None:
            erased += await asyncio.to_thread(self._spool.erase_subject, subject_ref)
        if self._ledger is not None:
            erased += await self._ledger.erase_subject(subject_ref)
        return erased

    async def replay(self) -> int:
        """Send spooled records to the shared store; 0 if there are none or it is still down."""
        if self._shared is None or self._spool is None:
            return 0
        shared, ledger = self._shared, self._ledger

        async def send(entry: SpoolEntry) -> bool:
            return await shared.meter(entry.record, entry.settle_scopes())

        async def held(entries: list[SpoolEntry]) -> set[tuple[str, str]]:
            # Past its Redis marker, only the durable ledger knows an id was metered.
            if ledger is None:
                return set()
            return await ledger.held([(e.record.tenant, e.record.request_id) for e in entries])

        try:
            sent = await self._spool.replay(send, held)
        except (*STORE_DOWN, HandoffFull, LedgerUnavailable):
            return 0
        if sent:
            LEDGER_REPLAYED.inc(sent)
            LEDGER_SPOOL_PENDING.set(await asyncio.to_thread(self._spool.pending))
            log.info("ledger.replayed", records=sent)
            self._down_until = 0.0
        return sent

    async def sweep_orphans(self) -> int:
        """Settle the pending admissions of dead replicas; how many were settled here."""
        shared = self._shared
        if not isinstance(shared, RedisQuotaStore):
            return 0
        settled = 0
        for tenant, request_id, entry in await shared.orphans():
            record = orphan_record(tenant, request_id, entry)
            try:
                metered = await shared.meter(record, entry.settle_scopes(tenant))
            except HandoffFull:
                continue  # the admission waits in Redis for the next sweep
            if metered:
                settled += 1
                ORPHANS_SETTLED.inc()
                log.warning(
                    "metering.orphan_settled",
                    request_id=request_id,
                    tenant=tenant,
                    gateway=entry.gateway,
                )
        return settled

    async def heartbeat(self) -> None:
        """Tell the other replicas this one is alive (at start-up, then periodically)."""
        if isinstance(self._shared, RedisQuotaStore):
            await self._shared.heartbeat()

    async def keep_alive_forever(self, sweep_interval: float, heartbeat_ttl: float) -> None:
        """Heartbeat this replica and sweep dead replicas' admissions, until cancelled."""
        shared = self._shared
        if not isinstance(shared, RedisQuotaStore):
            return
        last_sweep = 0.0
        while True:
            await asyncio.sleep(min(heartbeat_every(heartbeat_ttl), sweep_interval))
            try:
                await shared.heartbeat()
                if time.monotonic() - last_sweep >= sweep_interval:
                    last_sweep = time.monotonic()
                    await self.sweep_orphans()
            except STORE_DOWN:
                pass  # the admissions wait in Redis for the next round
            except Exception:
                log.exception("metering.sweep_failed")

    async def replay_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.replay()
            except Exception:  # a corrupt line must not stop the loop; it is logged
                log.exception("ledger.replay_failed")


def orphan_record(tenant: str, request_id: str, entry: PendingAdmission) -> UsageRecord:
    """The settlement of a dead replica's admission: no usage (none was seen), the estimate
    refunded, the lease ended."""
    return UsageRecord(
        request_id=request_id,
        tenant=tenant,
        key_id=entry.key_id,
        endpoint="",
        model="",
        pool="",
        site="",
        jurisdiction="",
        engine="",
        stream=False,
        status="orphaned",
        http_status=0,
        prompt_tokens=0,
        completion_tokens=0,
        usage_source="estimate",
        estimated_tokens=entry.estimate,
        started_at=entry.at,
        ttft_ms=None,
        duration_ms=0.0,
        gateway=entry.gateway,
    )
