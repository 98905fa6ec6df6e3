"""Limits in Redis, and the hand-off of usage records to the durable ledger: one limit for all
gateway replicas. Redis keeps only what admission needs; records go on to PostgreSQL
(``gateway/ledger``) through a bounded stream per tenant.

Key layout (every key of a tenant shares the hash slot ``{tenant}``, for Redis Cluster)::

    sg:{T}:q:<scope>:req | tok | lease | month:YYYYMM   limits of scope "tenant" or "key:<id>"
    sg:{T}:handoff                                     stream of records not yet shipped
    sg:{T}:metered:<request id>                        exactly-once marker (minutes)
    sg:{T}:pending                                     hash: request id -> reservation
    sg:replica:<gateway id>:alive                      a replica's heartbeat (pending.py)

Admission is one Lua call (``admit.lua``), metering another (``meter.lua``): one round trip
each per request. Redis errors (``redis.exceptions.ConnectionError``/``TimeoutError``) go up
to the caller, which applies the tenant's degraded mode. A full hand-off stream (the ledger's
database down for a while) raises ``HandoffFull``: the caller spools the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from importlib import resources

from gateway.core.limits import Decision, Scope
from gateway.core.usage import UsageRecord
from gateway.quota.clients import runner_for
from gateway.quota.keyspace import RedisClient, scan_keys
from gateway.quota.pending import HEARTBEAT_TTL_S, PendingAdmission, heartbeat_key
from gateway.quota.resp import HotRunner, Script
from gateway.quota.store import MARKER_TTL_S, HandoffFull, summarise

_MONTH_TTL_S = 40 * 24 * 3600
# The orphan sweep runs on the event loop between requests: keys per SCAN and fields per
# HSCAN reply (hints to Redis), and pending entries read between two yields to the loop
# (~5 us each: a tenant with thousands in flight must not hold the loop for milliseconds).
_SCAN_COUNT = 1000
_HSCAN_COUNT = 256
_PARSE_SLICE = 32


def _script(name: str) -> str:
    return resources.files("gateway.quota").joinpath(name).read_text()


def tenant_base(tenant: str) -> str:
    return f"sg:{{{tenant}}}"


def month_of(unix_s: float) -> str:
    """The UTC calendar month, ``YYYYMM`` (the monthly budget's key)."""
    when = time.gmtime(unix_s)
    return f"{when.tm_year}{when.tm_mon:02d}"


def scope_keys(scope: Scope, unix_s: float) -> tuple[str, str, str, str]:
    base = f"{tenant_base(scope.tenant)}:q:{scope.name}"
    return f"{base}:req", f"{base}:tok", f"{base}:lease", f"{base}:month:{month_of(unix_s)}"


def handoff_key(tenant: str) -> str:
    """The tenant's stream of usage records on their way to the durable ledger."""
    return f"{tenant_base(tenant)}:handoff"


def pending_key(tenant: str) -> str:
    return f"{tenant_base(tenant)}:pending"


# Every tenant's hand-off and pending admissions, for SCAN (Redis globs treat braces literally).
HANDOFF_PATTERN = handoff_key("*")
# Unshipped records a tenant's stream may hold (metering.handoff_max): ~1 KB each in Redis.
HANDOFF_MAX = 100_000
PENDING_PATTERN = pending_key("*")


class RedisQuotaStore:
    def __init__(
        self,
        redis: RedisClient,
        lease_seconds: float = 900.0,
        runner: HotRunner | None = None,
        *,
        gateway: str = "",
        heartbeat_ttl: float = HEARTBEAT_TTL_S,
        marker_ttl_s: int = MARKER_TTL_S,
        handoff_max: int = HANDOFF_MAX,
    ) -> None:
        """``runner``: the hot-path connection (default: one to ``redis``'s server);
        ``gateway``: this replica's id, on the reservations it must settle; a replica whose
        heartbeat is older than ``heartbeat_ttl`` seconds is dead to the sweeper."""
        self._redis = redis
        self._gateway = gateway
        self._heartbeat_ttl = heartbeat_ttl
        self._marker_ttl_s = max(1, marker_ttl_s)
        self._handoff_max = handoff_max
        self._lease_ms = int(lease_seconds * 1000)
        self._runner = runner or runner_for(redis, 0.5, 0.5)
        # Metering gets a connection of its own, so that an admission never waits behind
        # the previous request's ledger write (replies come back in order per connection).
        self._meter_runner = runner_for(redis, 0.5, 0.5) if runner is None else runner
        self._admit = Script(_script("admit.lua"))
        self._meter = Script(_script("meter.lua"))

    async def admit(
        self, scopes: Sequence[Scope], estimate: int, request_id: str, *, key_id: str = ""
    ) -> Decision:
        now = time.time()
        keys: list[str] = []
        args: list[int | str] = [len(scopes), estimate, request_id, self._lease_ms, _MONTH_TTL_S]
        for scope in scopes:
            keys.extend(scope_keys(scope, now))
            limits = scope.limits
            args += [
                limits.requests_per_minute,
                limits.tokens_per_minute,
                limits.concurrent,
                limits.monthly_tokens,
            ]
        keys.append(pending_key(scopes[0].tenant))
        pending = PendingAdmission.of(self._gateway, now, estimate, key_id, tuple(scopes))
        args.append(pending.model_dump_json())
        result = await self._runner.evalsha(self._admit, keys, args)
        allowed, failed, failed_index, retry_ms = result[:4]
        name = failed.decode() if isinstance(failed, bytes) else str(failed)
        rest = [int(v) for v in result[4:]]
        per_scope = [
            (rest[i], _seconds(rest[i + 1]), rest[i + 2], _seconds(rest[i + 3]))
            for i in range(0, len(rest), 4)
        ]
        return summarise(
            scopes,
            bool(allowed),
            name or None,
            int(failed_index),
            None if int(retry_ms) < 0 else int(retry_ms) / 1000,
            per_scope,
        )

    async def meter(self, record: UsageRecord, scopes: Sequence[Scope]) -> bool:
        base = tenant_base(record.tenant)
        keys = [
            f"{base}:metered:{record.request_id}",
            handoff_key(record.tenant),
            pending_key(record.tenant),
        ]
        per_scope: list[int] = []
        for scope in scopes:
            _, tokens, leases, month = scope_keys(scope, record.started_at)
            keys += [tokens, leases, month]
            limits = scope.limits
            per_scope += [limits.tokens_per_minute, limits.concurrent, limits.monthly_tokens]
        done = await self._meter_runner.evalsha(
            self._meter,
            keys,
            [
                self._marker_ttl_s,
                record.model_dump_json(),
                self._handoff_max,
                record.estimated_tokens,
                record.total_tokens,
                record.request_id,
                1 if record.admitted_shared else 0,
                1 if record.status == "orphaned" else 0,
                *per_scope,
            ],
        )
        if int(done) < 0:
            raise HandoffFull(record.tenant)
        return bool(done)

    async def heartbeat(self) -> None:
        """This replica is alive: its pending admissions are its own to settle."""
        ttl_ms = max(1, int(self._heartbeat_ttl * 1000))
        await self._redis.set(heartbeat_key(self._gateway), "1", px=ttl_ms)

    async def orphans(self) -> list[tuple[str, str, PendingAdmission]]:
        """(tenant, request id, reservation) of every pending admission whose replica's
        heartbeat has expired. Scans the keyspace: a background job, never a request's path,
        and in batches (SCAN, then HSCAN per tenant), with the event loop free between them:
        the keyspace holds a marker per request metered in the last week."""
        sweep = _Sweep(self._redis, time.time() - self._heartbeat_ttl)
        # Every primary of a cluster (keyspace.py); a reply already read does not yield.
        async for key in scan_keys(self._redis, PENDING_PATTERN, "hash", count=_SCAN_COUNT):
            await sweep.tenant(key)
            await asyncio.sleep(0)
        return sweep.found


def _seconds(ms: int) -> float:
    return -1.0 if ms < 0 else ms / 1000


class _Sweep:
    """One run of the orphan sweep: the dead replicas' pending admissions found so far."""

    _PREFIX, _SUFFIX = "sg:{", "}:pending"

    def __init__(self, redis: RedisClient, settled_before: float) -> None:
        self._redis = redis
        # Younger than one heartbeat period: its replica may not have beaten yet.
        self._settled_before = settled_before
        self._alive: dict[str, bool] = {}
        self._seen: set[tuple[str, str]] = set()  # HSCAN may return a field twice
        self.found: list[tuple[str, str, PendingAdmission]] = []

    async def tenant(self, raw_key: bytes | str) -> None:
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if not (key.startswith(self._PREFIX) and key.endswith(self._SUFFIX)):
            return
        tenant = key[len(self._PREFIX) : -len(self._SUFFIX)]
        cursor = 0
        while True:
            cursor, entries = await self._redis.hscan(key, cursor, count=_HSCAN_COUNT)
            assert isinstance(entries, dict)  # a list only with no_values=True
            items = list(entries.items())
            for start in range(0, len(items), _PARSE_SLICE):
                for raw_id, raw_entry in items[start : start + _PARSE_SLICE]:
                    await self._entry(tenant, raw_id, raw_entry)
                await asyncio.sleep(0)
            if cursor == 0:
                return

    async def _entry(self, tenant: str, raw_id: bytes | str, raw_entry: bytes | str) -> None:
        request_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if (tenant, request_id) in self._seen:
            return
        self._seen.add((tenant, request_id))
        try:
            entry = PendingAdmission.model_validate_json(raw_entry)
        except ValueError:
            return  # not ours to interpret; left for an operator
        if entry.at > self._settled_before:
            return
        if entry.gateway not in self._alive:
            alive = await self._redis.exists(heartbeat_key(entry.gateway))
            self._alive[entry.gateway] = bool(alive)
        if not self._alive[entry.gateway]:
            self.found.append((tenant, request_id, entry))
