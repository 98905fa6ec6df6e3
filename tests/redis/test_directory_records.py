"""A directory record this replica cannot read (written by a newer release during a rolling
upgrade, or damaged) costs that tenant alone, never every tenant: start-up and the watcher
go on with the others, and later changes (a revocation) still reach every replica."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.errors import AuthenticationFailed
from gateway.tenancy.directory import Directory
from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import KEYS, TENANTS, RedisDirectoryStore

# A database of this test's own: the directory is one hash per table, shared by everything
# on database 0, and this test writes records nobody else should have to read.
REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def _key(key_id: str, tenant: str, secret: str) -> KeyRecord:
    digest = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    return KeyRecord(id=key_id, tenant=tenant, hash=digest, created_at=time.time())


async def test_an_unreadable_tenant_record_costs_that_tenant_alone(redis: Redis) -> None:
    store = RedisDirectoryStore(redis)
    now = time.time()
    good = TenantRecord(id="good", created_at=now, updated_at=now)
    await store.put_tenant(good)
    good_secret, newer_secret = "sk-" + secrets.token_hex(8), "sk-" + secrets.token_hex(8)
    await store.put_key(_key("good-1", "good", good_secret))
    # A newer release's record: a field this release does not know.
    newer = {**json.loads(TenantRecord(id="newer", created_at=now, updated_at=now)
                          .model_dump_json()), "field_from_the_future": "x"}  # fmt: skip
    await redis.hset(TENANTS, "newer", json.dumps(newer))
    await redis.hset(TENANTS, "broken", b"{not json")
    await store.put_key(_key("newer-1", "newer", newer_secret))
    await redis.hset(KEYS, "broken-1", b"[]")

    snapshot = await store.snapshot()
    assert set(snapshot.tenants) == {"good"}
    assert set(snapshot.keys) == {"good-1", "newer-1"}
    assert set(snapshot.unreadable) == {"tenant newer", "tenant broken", "key broken-1"}
    assert "field_from_the_future" in snapshot.unreadable["tenant newer"]

    directory = Directory(store, pepper=None)
    assert await directory.refresh()
    assert directory.authenticate(f"Bearer {good_secret}").tenant.id == "good"
    with pytest.raises(AuthenticationFailed) as unknown:
        directory.authenticate(f"Bearer {newer_secret}")
    assert unknown.value.reason == "unknown_key"

    # A revocation made after that still reaches this replica.
    revoked = _key("good-1", "good", good_secret).model_copy(update={"revoked_at": now - 1})
    await store.put_key(revoked)
    assert await directory.refresh()
    with pytest.raises(AuthenticationFailed) as expired:
        directory.authenticate(f"Bearer {good_secret}")
    assert expired.value.reason == "unknown_key"  # revoked keys leave the ring


async def test_records_leave_out_fields_at_their_defaults(redis: Redis) -> None:
    """What a release before this one can read: nothing it does not know unless it is used."""
    store = RedisDirectoryStore(redis)
    now = time.time()
    plain = TenantRecord(id="plain", created_at=now, updated_at=now)
    chosen = plain.model_copy(update={"id": "chosen", "on_client_disconnect": "finish"})
    await store.put_tenant(plain)
    await store.put_tenant(chosen)
    raw = await redis.hgetall(TENANTS)
    stored = {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in raw.items()}
    assert stored["plain"] == {"id": "plain", "created_at": now, "updated_at": now}
    assert stored["chosen"]["on_client_disconnect"] == "finish"
    snapshot = await store.snapshot()
    assert snapshot.tenants == {"plain": plain, "chosen": chosen}
