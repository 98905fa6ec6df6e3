"""The durable ledger as the rest of the gateway sees it: reads, erasure, and its two loops
(shipping from Redis, retention), built once per process (``gateway/stores.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

from gateway.core.usage import UsageRecord
from gateway.errors import LedgerUnavailable
from gateway.ledger.postgres import Key, PostgresLedger
from gateway.ledger.shipper import Shipper, TenantIds
from gateway.quota.keyspace import RedisClient
from gateway.quota.store import check_subject_ref

log = structlog.get_logger("gateway.ledger")


class DurableLedger:
    def __init__(
        self,
        redis: RedisClient,
        conninfo: str,
        consumer: str,
        *,
        schema_name: str = "sovereign_ledger",
        batch: int = 500,
        claim_after: float = 30.0,
        tenants: TenantIds | None = None,
    ) -> None:
        """``tenants``: the ids of the tenants known now, whose streams the shipper looks for
        without scanning the keyspace (``gateway/ledger/shipper.py``)."""
        self.writer = PostgresLedger(conninfo, schema_name)  # the shipper's connection
        self.reader = self.writer.reader()  # admin reads, erasure, spool replay checks
        self.shipper = Shipper(
            redis, self.writer, consumer, batch=batch, claim_after=claim_after, tenants=tenants
        )

    async def start(self) -> None:
        """Create the tables and this month's partitions; an unreachable database is logged,
        not fatal: records wait in the streams (then the spool) until it is back."""
        try:
            await self.writer.start()
        except LedgerUnavailable:
            log.warning("ledger.unreachable_at_start")

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        return await self.reader.usage(tenant, start, end)

    async def held(self, keys: Sequence[Key]) -> set[Key]:
        return await self.reader.held(keys)

    async def erase_subject(self, subject_ref: str) -> int:
        """The subject's records in the streams (counted now, stripped when they land) and in
        PostgreSQL (stripped now), each counted once."""
        check_subject_ref(subject_ref)
        waiting = await self.shipper.with_subject(subject_ref)
        stripped = await self.reader.erase_subject(subject_ref)
        return len(waiting | stripped)

    async def ship_forever(self, interval: float) -> None:
        """The shipper, until cancelled. A cancellation thrown into a pass can be swallowed
        by a library call (seen: redis-py, inside ``XGROUP CREATE``), and the shipper would
        sleep on: so it is also told to stop, and cancelled again every 0.1 s, for up to 5 s."""
        task = asyncio.create_task(self.shipper.run_forever(interval))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.shipper.stop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while not task.done() and loop.time() < deadline:
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            if not task.done():
                log.error("ledger.shipper_stuck_at_shutdown")
            raise

    async def retention_forever(
        self,
        retention_days: Mapping[str, float],
        default_days: float,
        billing_days: float,
        interval_s: float,
    ) -> None:
        """Each tenant's retention on the personal field, the billing retention on whole
        records; once per ``interval_s`` in every replica (idempotent)."""
        await asyncio.sleep(min(interval_s, 60.0))  # not in the way of the start-up
        while True:
            try:
                await self.reader.purge(retention_days, default_days, billing_days)
            except Exception:
                log.exception("ledger.purge_failed")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()
