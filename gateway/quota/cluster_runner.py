"""The hot-path scripts on a Redis Cluster: routed by hash slot, one pipelined runner per primary.

Every key of one admission or metering call carries the tenant's hash tag ``{T}``, so a call
has one slot (CRC16 of the tag, ``redis.crc.key_slot``) and goes to the primary serving it,
on that primary's ``ScriptRunner`` (one connection, calls pipelined, as on a single node).

The slot map comes from ``CLUSTER SLOTS`` of any node that answers (the known primaries
first, then the configured seeds). What the cluster answers instead of a result:

- ``MOVED <slot> <host:port>``: the slot lives elsewhere now (a resharding, a failover seen
  late). The slot is pointed at the named node, a full refresh of the map is due, and the call
  is sent there (at most ``_REDIRECTS`` times).
- ``ASK <slot> <host:port>``: the slot is being migrated and this key already moved. The
  call goes once to the named node, preceded by ``ASKING`` on the same connection in the same
  write; the map is left as it is (the slot still belongs to its old owner).
- ``TRYAGAIN`` (a migration has split the call's keys), ``CLUSTERDOWN``, a lost connection or
  a timeout: the map is refreshed on the next call and redis-py's ``ConnectionError`` (or
  ``TimeoutError``) goes up, so the caller applies the tenant's degraded mode, as for a single
  Redis that is away. During a failover calls fail until a replica is promoted, then succeed.

A script that ran was never sent twice: a redirection means the node did not run it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from typing import Any

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from gateway.quota.resp import Script, ScriptRunner

Address = tuple[str, int]
_REDIRECTS = 3
_REFRESH_EVERY_S = 0.1  # at most this often while the cluster is unreachable or changing


class ClusterRunner:
    def __init__(
        self,
        seeds: Sequence[Address],
        *,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 0.5,
        connect_timeout: float = 0.5,
    ) -> None:
        if not seeds:
            raise ValueError("a cluster runner needs at least one seed node")
        self._seeds = tuple(seeds)
        self._options: dict[str, Any] = {
            "username": username,
            "password": password,
            "tls": tls,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
        }
        self._slots: list[Address | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        self._runners: dict[Address, ScriptRunner] = {}
        self._stale = True
        self._refreshed_at = 0.0
        self._refreshing: asyncio.Lock | None = None
        # Why the last refresh found no node (a refused connection, a certificate not trusted).
        self._unreachable: RedisError | None = None

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        slot = key_slot(keys[0].encode())
        if self._stale:
            await self._refresh()
        address = self._slots[slot]
        if address is None:
            raise RedisConnectionError(
                f"no Redis Cluster node serves slot {slot} now"
                + (f" ({self._unreachable})" if self._unreachable is not None else "")
            ) from self._unreachable
        asking = False
        for _ in range(_REDIRECTS + 1):
            runner = self._runner(address)
            try:
                return await runner.evalsha(script, keys, args, asking=asking)
            except ResponseError as exc:
                address, asking = self._redirected(exc, slot)
            except RedisError:
                self._stale = True  # a primary gone: its replica may be promoted by now
                raise
        raise RedisConnectionError(f"slot {slot}: redirected more than {_REDIRECTS} times")

    def _redirected(self, exc: ResponseError, slot: int) -> tuple[Address, bool]:
        """Where to send the call again, and whether with ASKING; else the error goes up."""
        kind, _, rest = str(exc).partition(" ")
        if kind in ("MOVED", "ASK"):
            target = _address(rest.split(" ")[-1])
            if kind == "MOVED":
                self._slots[slot] = target
                self._stale = True
            return target, kind == "ASK"
        if kind in ("TRYAGAIN", "CLUSTERDOWN"):
            self._stale = True
            raise RedisConnectionError(f"Redis Cluster cannot serve the call now: {exc}") from exc
        raise exc

    def _runner(self, address: Address) -> ScriptRunner:
        runner = self._runners.get(address)
        if runner is None:
            runner = self._runners[address] = ScriptRunner(*address, **self._options)
        return runner

    async def _refresh(self) -> None:
        """The slot map from the first node that answers; at most every ``_REFRESH_EVERY_S``."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            if not self._stale or time.monotonic() - self._refreshed_at < _REFRESH_EVERY_S:
                return
            self._refreshed_at = time.monotonic()
            known = [a for a in dict.fromkeys(self._slots) if a is not None]
            for address in dict.fromkeys([*known, *self._seeds]):
                try:
                    reply = await self._runner(address).command("CLUSTER", "SLOTS")
                except RedisError as exc:
                    self._unreachable = exc
                    continue
                self._install(reply, address)
                self._stale = False
                self._unreachable = None
                return

    def _install(self, reply: Any, asked: Address) -> None:
        slots: list[Address | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
        for first, last, primary, *_ in reply:
            host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
            # An empty or "?" endpoint means: the address this node was reached at.
            address = (host if host not in ("", "?") else asked[0], int(primary[1]))
            slots[int(first) : int(last) + 1] = [address] * (int(last) - int(first) + 1)
        self._slots = slots
        for address in set(self._runners) - set(slots) - set(self._seeds):
            self._runners.pop(address).close()

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()
        self._stale = True


def _address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
