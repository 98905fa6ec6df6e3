"""The shared store behind Redis Sentinel (a master, a replica, three sentinels, started here):
admission through the Sentinel runner, the master killed, calls failing cleanly until the
sentinels promote the replica, then working again on it; the redis-py client too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.core.limits import Limits, Scope
from gateway.core.redis_url import parse_redis_url
from gateway.quota.clients import close_client, connect, runner_for
from gateway.quota.redis_store import RedisQuotaStore, scope_keys
from gateway.quota.sentinel_runner import SentinelRunner
from gateway.tenancy.store import RedisDirectoryStore
from tests.redis_topology import Sentinels, redis_sentinel


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sentinels]:
    with redis_sentinel(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


@pytest.fixture
async def client(sentinels: Sentinels) -> AsyncIterator[Redis]:
    redis = connect(parse_redis_url(sentinels.url), socket_timeout=2.0, connect_timeout=1.0)
    assert isinstance(redis, Redis)
    yield redis
    await close_client(redis)


def scopes(tenant: str) -> tuple[Scope, ...]:
    return (Scope(tenant, "tenant", Limits(requests_per_minute=3)),)


async def test_admission_on_the_master_the_sentinels_name(
    sentinels: Sentinels, client: Redis
) -> None:
    tenant = "sn-" + uuid.uuid4().hex[:8]
    store = RedisQuotaStore(client, gateway="gw")
    decisions = [(await store.admit(scopes(tenant), 1, f"r-{n}")).allowed for n in range(4)]
    assert decisions == [True, True, True, False]
    master = sentinels.client(sentinels.master_port())
    assert master.zcard(scope_keys(scopes(tenant)[0], time.time())[0]) == 3


async def test_the_master_killed_fails_calls_cleanly_until_a_replica_is_promoted(
    sentinels: Sentinels, client: Redis
) -> None:
    tenant = "sf-" + uuid.uuid4().hex[:8]
    runner = runner_for(client, timeout=1.0, connect_timeout=0.5)
    assert isinstance(runner, SentinelRunner)
    store = RedisQuotaStore(client, runner=runner, gateway="gw")
    directory = RedisDirectoryStore(client)
    assert (await store.admit(scopes(tenant), 1, "before")).allowed
    old = sentinels.kill_master()
    failures: list[Exception] = []
    deadline = time.monotonic() + 30
    while True:
        try:
            decision = await store.admit(scopes(tenant), 1, f"r-{len(failures)}")
            break
        except (RedisConnectionError, RedisTimeoutError) as exc:
            failures.append(exc)  # any other error fails the test
        assert time.monotonic() < deadline, "the sentinels promoted no replica within 30 s"
        await asyncio.sleep(0.05)
    assert decision.allowed
    assert failures, "the dead master should have failed at least the first call"
    assert sentinels.master_port() != old
    # redis-py's Sentinel client follows the new master too.
    assert await directory.version() >= 0
    runner.close()
