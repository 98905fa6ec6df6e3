"""A lean pipelined Redis connection for the two calls on every request's path.

redis-py's asyncio client cost ~250 µs of CPU per call here (connection pool checkout,
per-argument encoding, timeouts, retries, observability hooks: profiled in BENCHMARKS.md),
which alone broke the 0.5 ms budget for limits and metering. This sends each command on one
shared connection as soon as it is issued and matches replies in order (requests in flight
at the same time are pipelined for free); hiredis, the C parser redis-py itself uses when
installed, reads the replies. Only EVALSHA (with EVAL/SCRIPT LOAD on NOSCRIPT) goes through
here; everything else (directory, admin, usage reads) uses redis-py.

Failures raise redis-py's own ``ConnectionError``/``TimeoutError``, so callers handle one
set of exceptions. A timeout or a lost connection fails every call in flight on it (their
replies could no longer be matched) and the next call reconnects.

``ScriptRunner`` talks to one node. ``HotRunner`` is what the quota store needs of it; a Redis
Cluster (``cluster_runner.py``: one ScriptRunner per primary, by hash slot) and a Sentinel
service (``sentinel_runner.py``) have runners of their own behind it (``clients.runner_for``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, cast

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(args: tuple[object, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        # Commands issued in one event-loop turn leave in one write (one system call).
        self._outgoing: list[bytes] = []

    def send(self, command: bytes) -> None:
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(command)

    def _flush(self) -> None:
        data, self._outgoing = b"".join(self._outgoing), []
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.fail(RedisConnectionError("connection to Redis lost"))

    def fail(self, error: Exception) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class ScriptRunner:
    """EVALSHA over one pipelined connection; scripts are loaded on first NOSCRIPT."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 0.5,
        connect_timeout: float = 0.5,
    ) -> None:
        self._address = (host, port)
        self._db = db
        self._auth = (username, password)
        self._tls = tls
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.lost:
                return self._protocol
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self._connect_timeout):
                    _, protocol = await loop.create_connection(
                        _Protocol, *self._address, ssl=self._tls
                    )
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            username, password = self._auth
            if password is not None:
                auth = ("AUTH", password) if username is None else ("AUTH", username, password)
                await self._call(protocol, auth)
            if self._db:
                await self._call(protocol, ("SELECT", self._db))
            self._protocol = protocol
            return protocol

    async def _call(self, protocol: _Protocol, args: tuple[object, ...]) -> Any:
        return await self._wait(protocol, self._send(protocol, args))

    def _send(self, protocol: _Protocol, args: tuple[object, ...]) -> asyncio.Future[Any]:
        assert protocol.transport is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.waiting.append(future)
        protocol.send(pack(args))
        return future

    async def _wait(self, protocol: _Protocol, future: asyncio.Future[Any]) -> Any:
        assert protocol.transport is not None
        try:
            async with asyncio.timeout(self._timeout):
                reply = await future
        except TimeoutError as exc:
            # Later replies could no longer be matched to their calls: drop the connection.
            protocol.transport.abort()
            raise RedisTimeoutError("Redis did not answer in time") from exc
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    async def _evalsha(self, protocol: _Protocol, command: tuple[object, ...], asking: bool) -> Any:
        if not asking:
            return await self._call(protocol, command)
        # ASKING holds for the next command on this connection: both leave in one write.
        flag = self._send(protocol, ("ASKING",))
        reply = self._send(protocol, command)
        await self._wait(protocol, flag)
        return await self._wait(protocol, reply)

    async def evalsha(
        self, script: Script, keys: Sequence[str], args: Sequence[object], *, asking: bool = False
    ) -> Any:
        """``asking``: preceded by ASKING (a cluster slot being imported by this node)."""
        protocol = await self._connection()
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._evalsha(protocol, command, asking)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self._call(protocol, ("SCRIPT", "LOAD", script.source))
        return await self._evalsha(protocol, command, asking)

    async def command(self, *args: object) -> Any:
        """Any other command on the same connection (the cluster's slot map, a PING)."""
        return await self._call(await self._connection(), args)

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


class HotRunner(Protocol):
    """What the quota store calls on a request's path: one node, a cluster or Sentinel."""

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run ``script`` (loading it on NOSCRIPT); redis-py's exceptions on failure."""
        ...

    def close(self) -> None: ...


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id
