"""Clients for the deployment ``store.redis_url`` names: redis-py for everything, and the lean
runner (``resp.py``) for the two hot-path scripts, built to match the redis-py client.

::

    connect(target, ...)        Redis (one node), RedisCluster, or Sentinel.master_for(...)
    runner_for(client, ...)     ScriptRunner / ClusterRunner / SentinelRunner to the same place
    close_client(client)        the client, and a Sentinel client's sentinel connections

No client-side retries by default: an unreachable Redis must become the degraded mode at once.
(redis-py's cluster client still follows MOVED/ASK: a redirection is an answer, not a retry.)
"""

from __future__ import annotations

import ssl
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from gateway.core.redis_url import RedisUrl
from gateway.quota.cluster_runner import ClusterRunner
from gateway.quota.keyspace import RedisClient
from gateway.quota.resp import HotRunner, ScriptRunner
from gateway.quota.sentinel_runner import SentinelRunner


def connect(
    target: RedisUrl, *, socket_timeout: float, connect_timeout: float, retries: int = 0
) -> RedisClient:
    """A redis-py client to ``target`` (nothing is connected until the first command)."""
    retry = Retry(NoBackoff(), retries)
    timeouts: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
    }
    if target.kind == "single":
        # The configured URL as it always went to redis-py (its query options included).
        return Redis.from_url(target.url, retry=retry, **timeouts)
    options: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        **timeouts,
        **_tls(target),
    }
    if target.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in target.hosts]
        return RedisCluster(startup_nodes=nodes, retry=retry, **options)
    assert target.service is not None
    sentinel_kwargs: dict[str, Any] = {
        **timeouts,
        **_tls(target),
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        "retry": Retry(NoBackoff(), 0),
    }
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs)
    client: Redis = sentinel.master_for(target.service, db=target.db, retry=retry, **options)
    return client


def _tls(target: RedisUrl) -> dict[str, Any]:
    if not target.tls:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": target.ca_certs,
        "ssl_cert_reqs": "required" if target.verify else "none",
        "ssl_check_hostname": target.verify,
    }


async def close_client(client: RedisClient) -> None:
    await client.aclose()
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, SentinelConnectionPool):
        for sentinel in pool.sentinel_manager.sentinels:
            await sentinel.aclose()


def runner_for(client: RedisClient, timeout: float, connect_timeout: float) -> HotRunner:
    """A hot-path runner to the same deployment, database and credentials as ``client``."""
    options: dict[str, Any] = {"timeout": timeout, "connect_timeout": connect_timeout}
    if isinstance(client, RedisCluster):
        kwargs = client.connection_kwargs
        seeds = [(node.host, int(node.port)) for node in client.startup_nodes]
        tls = _is_tls(kwargs.get("connection_class"))
        return ClusterRunner(seeds, **_credentials(kwargs, tls), **options)
    pool = client.connection_pool
    kwargs, tls = pool.connection_kwargs, _is_tls(pool.connection_class)
    if isinstance(pool, SentinelConnectionPool):
        return SentinelRunner(
            pool.sentinel_manager,
            pool.service_name,
            db=int(kwargs.get("db", 0) or 0),
            **_credentials(kwargs, tls),
            **options,
        )
    return ScriptRunner(
        kwargs.get("host", "127.0.0.1"),
        int(kwargs.get("port", 6379)),
        db=int(kwargs.get("db", 0) or 0),
        **_credentials(kwargs, tls),
        **options,
    )


def _is_tls(connection_class: object) -> bool:
    return "ssl" in getattr(connection_class, "__name__", "").lower()


def _credentials(kwargs: dict[str, Any], tls: bool) -> dict[str, Any]:
    """The runner's credentials and TLS context, as the redis-py connections use them."""
    context = None
    if tls:
        context = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
        reqs = kwargs.get("ssl_cert_reqs", "required")
        unverified = reqs in ("none", ssl.CERT_NONE)
        if unverified or not kwargs.get("ssl_check_hostname", True):
            context.check_hostname = False
        if unverified:
            context.verify_mode = ssl.CERT_NONE
    return {"username": kwargs.get("username"), "password": kwargs.get("password"), "tls": context}
