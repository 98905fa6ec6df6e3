"""The stores behind tenants, limits and the ledger: Redis when configured, else in-process."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from gateway.ledger.durable import DurableLedger
from gateway.metering.service import Metering
from gateway.metering.spool import DiskSpool
from gateway.quota.clients import close_client, connect
from gateway.quota.keyspace import RedisClient
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.store import QuotaStore
from gateway.settings import Settings
from gateway.tenancy.store import DirectoryStore, MemoryDirectoryStore, RedisDirectoryStore


def gateway_id(settings: Settings) -> str:
    return settings.metering.gateway_id or f"{socket.gethostname()}-{os.getpid()}"


def redis_client(settings: Settings) -> RedisClient:
    """One node, a cluster or a Sentinel service's master, as ``store.redis_url`` says."""
    store = settings.store
    assert store.redis is not None
    # No client-side retries: an unreachable Redis must become the degraded mode at once.
    return connect(
        store.redis, socket_timeout=store.socket_timeout, connect_timeout=store.connect_timeout
    )


@dataclass(frozen=True, slots=True)
class Stores:
    redis: RedisClient | None
    directory: DirectoryStore
    quota: QuotaStore  # the shared one (or the local one, embedded): admin usage reads it
    metering: Metering

    async def aclose(self) -> None:
        if self.metering.ledger is not None:
            await self.metering.ledger.close()
        if self.redis is not None:
            await close_client(self.redis)


NO_LEDGER = (
    "store.redis_url is set but metering.ledger_dsn is not: Redis keeps only what admission "
    "needs, and usage records go on to a durable ledger in PostgreSQL (metering.ledger_dsn, "
    "with ledger_jurisdiction and ledger_operator). Set it, or drop redis_url for the "
    "embedded single-process store."
)


def check_stores(settings: Settings) -> None:
    """A shared store needs the durable ledger: refuse to start without it."""
    if settings.store.redis_url is not None and settings.metering.ledger_dsn is None:
        raise ValueError(NO_LEDGER)


def build_stores(settings: Settings, replica: str) -> Stores:
    local = MemoryQuotaStore(settings.store.lease_seconds)
    url = settings.store.redis_url
    if url is None:
        metering = Metering(None, local, None)
        return Stores(None, MemoryDirectoryStore(), local, metering)
    redis = redis_client(settings)
    shared = RedisQuotaStore(
        redis,
        settings.store.lease_seconds,
        gateway=replica,
        heartbeat_ttl=settings.store.replica_heartbeat_ttl,
        marker_ttl_s=round(settings.store.marker_ttl_minutes * 60),
        handoff_max=settings.metering.handoff_max,
    )
    spool = DiskSpool(settings.metering.spool_dir, replica)
    directory = RedisDirectoryStore(redis)
    m = settings.metering
    ledger = None
    if m.ledger_dsn is not None:
        dsn = m.ledger_dsn.get_secret_value()
        configured = {t.id for t in settings.tenants}

        async def tenants() -> set[str]:
            return configured | await directory.tenant_ids()

        ledger = DurableLedger(
            redis, dsn, replica, schema_name=m.ledger_schema, batch=m.ship_batch,
            claim_after=m.ship_claim_after, tenants=tenants,
        )  # fmt: skip
    metering = Metering(shared, local, spool, settings.store.retry_after_failure, ledger)
    return Stores(redis, directory, shared, metering)
