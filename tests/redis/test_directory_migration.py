"""The directory's keys gained a hash tag (``sg:{dir}:...``, one cluster slot): a single Redis
that a release before it filled is copied to the new names once, on first use, and never again
(a later copy would undo changes made since). Redis db 12 at 127.0.0.1:6379, flushed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import KEYS, OLD_KEYS, TENANTS, VERSION, RedisDirectoryStore

REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.delete(*OLD_KEYS, TENANTS, KEYS, VERSION)
    yield client
    await client.delete(*OLD_KEYS, TENANTS, KEYS, VERSION)
    await client.aclose()


def records(tenant: str) -> tuple[TenantRecord, KeyRecord]:
    now = time.time()
    key = KeyRecord(id=f"{tenant}-1", tenant=tenant, hash="sha256:" + "1" * 64, created_at=now)
    return TenantRecord(id=tenant, created_at=now, updated_at=now), key


async def test_the_old_directory_is_copied_once(redis: Redis) -> None:
    tenant, key = records("acme")
    old_tenants, old_keys, old_version = OLD_KEYS
    await redis.hset(old_tenants, tenant.id, tenant.model_dump_json())
    await redis.hset(old_keys, key.id, key.model_dump_json())
    await redis.set(old_version, 41)

    first = RedisDirectoryStore(redis)
    snapshot = await first.snapshot()
    assert set(snapshot.tenants) == {"acme"}
    assert set(snapshot.keys) == {"acme-1"}
    assert snapshot.version == 42  # past the old one: every replica reloads
    revoked = key.model_copy(update={"revoked_at": time.time()})
    await first.put_key(revoked)

    # A second replica of the new release starts: the old keys (left for a rollback) must not
    # bring the revoked key back.
    second = RedisDirectoryStore(redis)
    assert await second.migrate() == -1
    assert (await second.snapshot()).keys["acme-1"].revoked_at is not None
    assert await redis.exists(*OLD_KEYS) == 3


async def test_a_write_before_any_read_still_copies_first(redis: Redis) -> None:
    tenant, _ = records("old")
    await redis.hset(OLD_KEYS[0], tenant.id, tenant.model_dump_json())
    await redis.set(OLD_KEYS[2], 7)
    store = RedisDirectoryStore(redis)  # e.g. the admin CLI adding a tenant
    await store.put_tenant(records("new")[0])
    assert set((await store.snapshot()).tenants) == {"old", "new"}


async def test_nothing_old_nothing_copied(redis: Redis) -> None:
    store = RedisDirectoryStore(redis)
    assert await store.migrate() == -1
    assert await store.version() == 0
