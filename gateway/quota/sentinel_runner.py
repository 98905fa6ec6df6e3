"""The hot-path scripts on the master of a Sentinel service.

The sentinels are asked for the master's address (redis-py's ``Sentinel.discover_master``,
which also checks that the sentinel it asks sees that master up and as master), and the calls
go over a ``ScriptRunner`` to it. The address is asked again after a lost connection, a
timeout or a ``READONLY`` reply (the node was demoted to a replica by a failover): the call
that failed goes up as redis-py's ``ConnectionError`` (the caller applies the tenant's degraded
mode), except after ``READONLY``, where nothing ran (a replica writes nothing) and the call is
sent once to the new master.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any

from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from gateway.quota.resp import Script, ScriptRunner


class SentinelRunner:
    def __init__(
        self,
        sentinel: Sentinel,
        service: str,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 0.5,
        connect_timeout: float = 0.5,
    ) -> None:
        self._sentinel = sentinel
        self._service = service
        self._options: dict[str, Any] = {
            "db": db,
            "username": username,
            "password": password,
            "tls": tls,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
        }
        self._runner: ScriptRunner | None = None
        self._discovering: asyncio.Lock | None = None

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        for attempt in range(2):
            runner = self._runner or await self._discover()
            try:
                return await runner.evalsha(script, keys, args)
            except ResponseError as exc:
                if not str(exc).startswith("READONLY"):
                    raise
                self._forget(runner)
                if attempt:
                    raise RedisConnectionError(f"the master is read-only: {exc}") from exc
            except RedisError:
                self._forget(runner)
                raise
        raise AssertionError("unreachable")

    async def _discover(self) -> ScriptRunner:
        if self._discovering is None:
            self._discovering = asyncio.Lock()
        async with self._discovering:
            if self._runner is None:
                try:
                    host, port = await self._sentinel.discover_master(self._service)
                except RedisError as exc:
                    raise RedisConnectionError(
                        f"no sentinel names a master for {self._service!r}: {exc}"
                    ) from exc
                self._runner = ScriptRunner(str(host), int(port), **self._options)
            return self._runner

    def _forget(self, runner: ScriptRunner) -> None:
        runner.close()
        if self._runner is runner:
            self._runner = None

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
