"""The keyspace as a whole, whichever Redis deployment holds it (one node, Sentinel, Cluster).

A Sentinel deployment's client is a plain ``Redis`` (to whichever node the sentinels name
master), so two client types cover the three deployments. A cluster's keyspace is split over
its primaries: a SCAN must visit each of them (redis-py's cluster ``scan_iter`` does too, but
keeps going across a failover with a cursor of a node that is gone; here a node that fails
fails the scan, and the caller, a background job, runs it again later).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

RedisClient = Redis | RedisCluster

_SCAN_COUNT = 1000


async def scan_keys(
    client: RedisClient, match: str, type_: str | None = None, *, count: int = _SCAN_COUNT
) -> AsyncIterator[str]:
    """Every key matching the glob ``match`` (of Redis type ``type_``), on every primary.

    As SCAN guarantees: a key present for the whole scan is returned at least once (a
    cluster's slot moving between primaries mid-scan may return it twice, or miss it: run
    again); keys are decoded as UTF-8."""
    if isinstance(client, RedisCluster):
        await client.initialize()
        for node in client.get_primaries():
            async for key in _scan_node(node, match, type_, count):
                yield key
    else:
        async for key in _scan_node(client, match, type_, count):
            yield key


async def _scan_node(
    node: Redis | ClusterNode, match: str, type_: str | None, count: int
) -> AsyncIterator[str]:
    cursor: int = 0
    extra: tuple[str, ...] = ("TYPE", type_) if type_ else ()
    while True:
        if isinstance(node, ClusterNode):
            reply = await node.execute_command(
                "SCAN", cursor, "MATCH", match, "COUNT", count, *extra
            )
            cursor, keys = int(reply[0]), reply[1]
        else:
            cursor, keys = await node.scan(cursor, match=match, count=count, _type=type_)
        for key in keys:
            yield key.decode() if isinstance(key, bytes) else str(key)
        if cursor == 0:
            return
