"""One PostgreSQL connection of a store (the ledger, the audit trail, the batch store), used
by one operation at a time (an asyncio lock): opened on first use, opened again once it is
closed or broken, and a psycopg error becomes the store's own error (``failed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]


def autocommit(conninfo: str, timeout_s: int = 5) -> Callable[[], Awaitable[Connection]]:
    """Opens a connection in autocommit mode, given up after ``timeout_s``."""
    return partial(
        psycopg.AsyncConnection.connect, conninfo, autocommit=True, connect_timeout=timeout_s
    )


class OneConnection:
    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        failed: Callable[[psycopg.Error], Exception],
        *,
        close_on_error: bool = False,  # any error, not only a broken connection, replaces it
        conn: Connection | None = None,  # one already open (a snapshot's)
    ) -> None:
        self.lock = asyncio.Lock()
        self._connect = connect
        self._failed = failed
        self._close_on_error = close_on_error
        self._conn = conn

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async with self.lock:
            try:
                return await work(await self.connection())
            except psycopg.Error as exc:
                if self._close_on_error:
                    await self._close()
                elif self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                raise self._failed(exc) from exc

    async def connection(self) -> Connection:
        """The connection, opened if need be; the caller holds ``lock``."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await self._connect()
        return self._conn

    async def close(self) -> None:
        async with self.lock:
            await self._close()

    async def _close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()
        self._conn = None
