"""The orphan sweep runs on the event loop beside requests: it reads the keyspace and each
tenant's pending admissions in batches, and gives the loop a turn between them even when
Redis answers at once (an awaited reply that is already there does not yield)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from redis.asyncio import Redis

from gateway.quota.pending import PendingAdmission
from gateway.quota.redis_store import RedisQuotaStore, pending_key
from gateway.quota.resp import ScriptRunner


class InstantRedis:
    """SCAN, HSCAN and EXISTS answered from dicts, in pages, without a turn of the loop."""

    def __init__(self, pending: dict[str, dict[bytes, bytes]], alive: set[str]) -> None:
        self.pending = pending
        self.alive = alive
        self.calls: list[str] = []

    def register_script(self, script: str) -> None:
        return None

    async def scan(self, cursor: int, **options: Any) -> tuple[int, list[bytes]]:
        self.calls.append("scan")
        keys = sorted(self.pending)
        page = keys[cursor : cursor + 2]  # two keys a reply
        return (cursor + 2 if cursor + 2 < len(keys) else 0), [k.encode() for k in page]

    async def hscan(self, key: str, cursor: int, count: int) -> tuple[int, dict[bytes, bytes]]:
        self.calls.append("hscan")
        fields = sorted(self.pending[key].items())
        page = dict(fields[cursor : cursor + count])
        return (cursor + count if cursor + count < len(fields) else 0), page

    async def exists(self, key: str) -> int:
        return int(any(key == f"sg:replica:{gateway}:alive" for gateway in self.alive))


def _pending(gateway: str, count: int, at: float) -> dict[bytes, bytes]:
    entry = PendingAdmission(gateway=gateway, at=at, estimate=10, key_id="k1", scopes=[])
    return {
        f"{gateway}-req-{i:04d}".encode(): entry.model_dump_json().encode() for i in range(count)
    }


async def test_the_sweep_finds_dead_replicas_admissions_and_yields_between_batches() -> None:
    old = time.time() - 3600
    redis = InstantRedis(
        {
            pending_key("acme"): {**_pending("dead", 600, old), **_pending("live", 50, old)},
            pending_key("beta"): _pending("dead", 3, old),
            pending_key("gamma"): _pending("dead", 5, time.time()),  # not one beat old yet
        },
        alive={"live"},
    )
    store = RedisQuotaStore(cast(Redis, redis), runner=cast(ScriptRunner, object()))
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    before = turns
    found = await store.orphans()
    counting.cancel()

    assert sorted((t, r) for t, r, _ in found) == sorted(
        [("acme", f"dead-req-{i:04d}") for i in range(600)]
        + [("beta", f"dead-req-{i:04d}") for i in range(3)]
    )
    assert redis.calls.count("scan") == 2  # three tenants, two keys a reply
    assert redis.calls.count("hscan") > 2  # acme's 650 admissions in several replies
    # A turn after each 32 admissions read and after each reply of keys, at least.
    assert turns - before >= 650 // 32 + 2
