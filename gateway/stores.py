"""The stores behind tenants, limits and the ledger: Redis when configured, else in-process."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.metering.service import Metering
from gateway.metering.spool import DiskSpool
from gateway.quota.memory_store import MemoryQuotaStore
from gateway.quota.redis_store import RedisQuotaStore
from gateway.quota.store import QuotaStore
from gateway.settings import Settings
from gateway.tenancy.store import DirectoryStore, MemoryDirectoryStore, RedisDirectoryStore


def gateway_id(settings: Settings) -> str:
    return settings.metering.gateway_id or f"{socket.gethostname()}-{os.getpid()}"


def redis_client(url: str, settings: Settings) -> Redis:
    store = settings.store
    # No client-side retries: an unreachable Redis must become the degraded mode at once.
    return Redis.from_url(
        url,
        socket_timeout=store.socket_timeout,
        socket_connect_timeout=store.connect_timeout,
        retry=Retry(NoBackoff(), 0),
    )


@dataclass(frozen=True, slots=True)
class Stores:
    redis: Redis | None
    directory: DirectoryStore
    quota: QuotaStore  # the shared one (or the local one, embedded): admin usage reads it
    metering: Metering

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def build_stores(settings: Settings, replica: str) -> Stores:
    local = MemoryQuotaStore(settings.store.lease_seconds)
    url = settings.store.redis_url
    if url is None:
        metering = Metering(None, local, None)
        return Stores(None, MemoryDirectoryStore(), local, metering)
    redis = redis_client(url, settings)
    shared = RedisQuotaStore(
        redis,
        settings.store.lease_seconds,
        gateway=replica,
        heartbeat_ttl=settings.store.replica_heartbeat_ttl,
    )
    spool = DiskSpool(settings.metering.spool_dir, replica)
    metering = Metering(shared, local, spool, settings.store.retry_after_failure)
    return Stores(redis, RedisDirectoryStore(redis), shared, metering)
