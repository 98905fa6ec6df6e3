"""The shared store on a real Redis Cluster (3 primaries, a replica each, started here once for
the module): admission and metering through the cluster runner (exact under concurrency,
across a slot moved between primaries (MOVED), during a migration (ASK), across a primary's
failover), and the redis-py parts (directory, orphan sweep, pseudonym vault) on the cluster.

The failover test kills a primary: it runs last in the module.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.core.limits import Limits, Scope
from gateway.core.redis_url import parse_redis_url
from gateway.quota.clients import close_client, connect, runner_for
from gateway.quota.cluster_runner import ClusterRunner
from gateway.quota.keyspace import scan_keys
from gateway.quota.pending import PendingAdmission, heartbeat_key
from gateway.quota.redis_store import RedisQuotaStore, pending_key, scope_keys, tenant_base
from gateway.settings import Settings
from gateway.stores import redis_client
from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import RedisDirectoryStore
from policies.pseudonym.redis_vault import RedisPseudonymVault
from tests.records import usage_record
from tests.redis_topology import Cluster, redis_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[RedisCluster]:
    redis = connect(parse_redis_url(cluster.url), socket_timeout=3.0, connect_timeout=1.0)
    assert isinstance(redis, RedisCluster)
    yield redis
    await close_client(redis)


def tenants_on_every_primary(cluster: Cluster, per_primary: int = 2) -> list[str]:
    found: dict[int, list[str]] = {port: [] for port in cluster.primaries()}
    while any(len(names) < per_primary for names in found.values()):
        tenant = "cl-" + uuid.uuid4().hex[:10]
        names = found[cluster.primary_for_key(tenant_base(tenant))]
        if len(names) < per_primary:
            names.append(tenant)
    return [tenant for names in found.values() for tenant in names]


def limited(tenant: str, requests: int) -> tuple[Scope, ...]:
    return (Scope(tenant, "tenant", Limits(requests_per_minute=requests)),)


async def test_admissions_are_exact_under_concurrency_on_every_primary(
    cluster: Cluster, client: RedisCluster
) -> None:
    tenants = tenants_on_every_primary(cluster)
    # A loaded CI machine can keep 720 concurrent calls past the hot path's 0.5 s: the
    # runners get the load tests' 3 s, since exactness, not latency, is under test here.
    stores = [
        RedisQuotaStore(client, gateway=name, runner=runner_for(client, 3.0, 1.0))
        for name in ("gw-a", "gw-b")
    ]

    async def admit(tenant: str, n: int) -> tuple[str, str, bool]:
        request_id = f"r-{n}"
        decision = await stores[n % 2].admit(limited(tenant, 25), 10, request_id)
        return tenant, request_id, decision.allowed

    results = await asyncio.gather(*(admit(t, n) for t in tenants for n in range(60)))
    for tenant in tenants:
        assert sum(allowed for t, _, allowed in results if t == tenant) == 25
    # Every admitted request is metered once, whichever replica settles it.
    admitted = [(t, r) for t, r, allowed in results if allowed]
    first = await asyncio.gather(
        *(stores[1].meter(usage_record(t, r), limited(t, 25)) for t, r in admitted)
    )
    again = await asyncio.gather(
        *(stores[0].meter(usage_record(t, r), limited(t, 25)) for t, r in admitted)
    )
    assert all(first)
    assert not any(again)
    for tenant in tenants:
        assert await client.hlen(pending_key(tenant)) == 0


async def test_the_gateway_builds_a_cluster_client_from_its_settings(cluster: Cluster) -> None:
    settings = Settings(store={"redis_url": cluster.url, "socket_timeout": 3.0})
    redis = redis_client(settings)
    try:
        assert isinstance(redis, RedisCluster)
        assert isinstance(runner_for(redis, 1.0, 1.0), ClusterRunner)
        tenant = "cfg-" + uuid.uuid4().hex[:8]
        store = RedisQuotaStore(redis, gateway="gw")
        assert (await store.admit(limited(tenant, 1), 1, "r-1")).allowed
        assert not (await store.admit(limited(tenant, 1), 1, "r-2")).allowed
    finally:
        await close_client(redis)


async def test_a_slot_moved_to_another_primary_is_followed(
    cluster: Cluster, client: RedisCluster
) -> None:
    tenant = "moved-" + uuid.uuid4().hex[:8]
    store = RedisQuotaStore(client, gateway="gw")
    for n in range(3):
        assert (await store.admit(limited(tenant, 5), 1, f"r-{n}")).allowed
    source = cluster.primary_for_key(tenant_base(tenant))
    target = next(p for p in cluster.primaries() if p != source)
    slot = key_slot(tenant_base(tenant).encode())
    move_slot(cluster, slot, source, target, finish=True)
    # The runner still maps the slot to the old primary: MOVED, then the new one answers,
    # with the counts that moved along with the keys.
    decisions = [(await store.admit(limited(tenant, 5), 1, f"s-{n}")).allowed for n in range(3)]
    assert decisions == [True, True, False]
    assert cluster.primary_for_key(tenant_base(tenant)) == target


async def test_a_key_already_migrated_is_asked_for_on_the_importing_node(
    cluster: Cluster, client: RedisCluster
) -> None:
    tenant = "ask-" + uuid.uuid4().hex[:8]
    store = RedisQuotaStore(client, gateway="gw")
    # Every limit set: an admission then touches keys that all exist (a request with keys
    # on both nodes of a migration gets TRYAGAIN, also on the importing node).
    every = Limits(
        requests_per_minute=4, tokens_per_minute=10**6, concurrent=100, monthly_tokens=10**9
    )
    scopes = (Scope(tenant, "tenant", every),)
    for n in range(2):
        assert (await store.admit(scopes, 1, f"r-{n}")).allowed
    source = cluster.primary_for_key(tenant_base(tenant))
    target = next(p for p in cluster.primaries() if p != source)
    slot = key_slot(tenant_base(tenant).encode())
    requests_key = scope_keys(scopes[0], time.time())[0]
    # MIGRATING / IMPORTING, one key moved: the call's keys are split between two nodes.
    start_migration(cluster, slot, source, target, keys=[requests_key])
    try:
        with pytest.raises(RedisConnectionError, match="TRYAGAIN"):
            await store.admit(scopes, 1, "split")
        # Every key moved, the slot still the source's: it answers ASK, the target runs it.
        move_slot(cluster, slot, source, target, finish=False)
        decisions = [(await store.admit(scopes, 1, f"s-{n}")).allowed for n in range(3)]
        assert decisions == [True, True, False]
    finally:
        others = [p for p in cluster.primaries() if p not in (source, target)]
        for port in (target, source, *others):
            cluster.command(port, "CLUSTER", "SETSLOT", slot, "NODE", cluster.node_id(target))
    assert not (await store.admit(scopes, 1, "after")).allowed
    assert cluster.command(source, "CLUSTER", "COUNTKEYSINSLOT", slot) == 0
    assert await client.zcard(requests_key) == 4  # the two before, the two asked for


async def test_the_directory_keeps_one_slot_and_its_transactions(client: RedisCluster) -> None:
    store = RedisDirectoryStore(client)
    tenant_id = "dir-" + uuid.uuid4().hex[:8]
    before = await store.version()
    now = time.time()
    await store.put_tenant(TenantRecord(id=tenant_id, created_at=now, updated_at=now))
    key = KeyRecord(
        id=f"{tenant_id}-k", tenant=tenant_id, hash="sha256:" + "0" * 64, created_at=now
    )
    assert await store.add_key(key)
    assert not await store.add_key(key)
    snapshot = await store.snapshot()
    assert snapshot.version == before + 2
    assert tenant_id in snapshot.tenants
    assert key.id in snapshot.keys


async def test_the_orphan_sweep_scans_every_primary(cluster: Cluster, client: RedisCluster) -> None:
    tenants = tenants_on_every_primary(cluster)
    dead, live = "dead-" + uuid.uuid4().hex[:6], "live-" + uuid.uuid4().hex[:6]
    old = time.time() - 3600
    for tenant in tenants:
        for gateway in (dead, live):
            entry = PendingAdmission(gateway=gateway, at=old, estimate=5, key_id="k", scopes=[])
            await client.hset(pending_key(tenant), f"{gateway}-req", entry.model_dump_json())
    await client.set(heartbeat_key(live), "1", px=60_000)
    store = RedisQuotaStore(client, gateway=live)
    found = {(t, r) for t, r, _ in await store.orphans() if t in tenants}
    assert found == {(t, f"{dead}-req") for t in tenants}
    listed = {k async for k in scan_keys(client, pending_key("cl-*"), "hash")}
    assert {pending_key(t) for t in tenants} <= listed
    await client.delete(*(pending_key(t) for t in tenants))


async def test_the_pseudonym_vault_on_a_cluster(cluster: Cluster, client: RedisCluster) -> None:
    vault = RedisPseudonymVault(client, bytes(range(32)), ttl_seconds=60)
    subject = "subject-" + uuid.uuid4().hex[:8]
    tenants = tenants_on_every_primary(cluster, per_primary=1)
    for tenant in tenants:
        names = await vault.assign(tenant, "conv", [("PERSON", "Erika Mustermann")], subject)
        assert names == ["<PERSON_1>"]
        assert await vault.mapping(tenant, "conv") == {"<PERSON_1>": "Erika Mustermann"}
    assert await vault.erase_subject(subject) == len(tenants)
    assert all([await vault.mapping(t, "conv") == {} for t in tenants])


async def test_a_failed_primary_fails_calls_cleanly_until_its_replica_takes_over(
    cluster: Cluster, client: RedisCluster
) -> None:
    tenant = "fo-" + uuid.uuid4().hex[:8]
    runner = runner_for(client, timeout=1.0, connect_timeout=0.5)
    assert isinstance(runner, ClusterRunner)
    store = RedisQuotaStore(client, runner=runner, gateway="gw")
    assert (await store.admit(limited(tenant, 1000), 1, "before")).allowed
    cluster.kill(cluster.primary_for_key(tenant_base(tenant)))
    failures: list[Exception] = []
    deadline = time.monotonic() + 30
    while True:
        try:
            decision = await store.admit(limited(tenant, 1000), 1, f"r-{len(failures)}")
            break
        except (RedisConnectionError, RedisTimeoutError) as exc:
            failures.append(exc)  # any other error fails the test
        assert time.monotonic() < deadline, "no replica took over within 30 s"
        await asyncio.sleep(0.05)
    assert decision.allowed
    assert failures, "the dead primary should have failed at least the first call"
    runner.close()


# --- helpers ---


def start_migration(
    cluster: Cluster, slot: int, source: int, target: int, keys: list[str] | None = None
) -> None:
    """``slot`` MIGRATING on ``source``, IMPORTING on ``target``; ``keys`` (default: all of the
    slot's) moved (redis-cli's steps)."""
    cluster.command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", cluster.node_id(source))
    cluster.command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", cluster.node_id(target))
    if keys is None:
        keys = cluster.command(source, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
    if keys:
        cluster.command(source, "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)


def move_slot(cluster: Cluster, slot: int, source: int, target: int, *, finish: bool) -> None:
    """Migrate ``slot``'s keys from ``source`` to ``target``; with ``finish``, every primary
    then assigns the slot to ``target``."""
    start_migration(cluster, slot, source, target)
    target_id = cluster.node_id(target)
    if finish:
        others = [p for p in cluster.primaries() if p not in (source, target)]
        for port in (target, source, *others):
            cluster.command(port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
