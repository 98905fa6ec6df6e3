"""The usage ledger in PostgreSQL: batches in, usage and erasure out, retention.

Tables and partitions: ``schema.py``. One connection per ``PostgresLedger``, used by one
operation at a time (an asyncio lock, ``gateway/postgres.py``), replaced after a failure; the
shipper and the readers (admin API, erasure, spool replay) each get their own. psycopg errors
become ``LedgerUnavailable`` (a 503 on the admin API; the shipper and the replay wait and
retry).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gateway.core.usage import UsageRecord
from gateway.errors import LedgerUnavailable
from gateway.ledger import schema
from gateway.postgres import OneConnection, autocommit

T = TypeVar("T")
Key = tuple[str, str]  # (tenant, request id)
DAY_S = 86_400.0
# Erasure tombstones strip records that arrive after their subject's erasure (from a stream
# or a spool); longer than any spool waits for its replay.
TOMBSTONE_DAYS = 30
PARTITIONS_AHEAD = 2


def _unavailable(exc: psycopg.Error) -> LedgerUnavailable:
    return LedgerUnavailable("The usage ledger (PostgreSQL) is unreachable. Please retry shortly.")


def row_of(record: UsageRecord) -> dict[str, Any]:
    return {
        "tenant": record.tenant,
        "request_id": record.request_id,
        "finished_at": record.finished_at,
        "status": record.status,
        "subject_ref": record.subject_ref,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "record": record.model_dump(mode="json"),
    }


def unique(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """One record per id (an id twice in a batch would hit its row twice): a real record
    wins over an orphan settlement, else the first."""
    chosen: dict[Key, UsageRecord] = {}
    for record in records:
        key = (record.tenant, record.request_id)
        held = chosen.get(key)
        if held is None or (held.status == "orphaned" and record.status != "orphaned"):
            chosen[key] = record
    return list(chosen.values())


class PostgresLedger:
    def __init__(self, conninfo: str, schema_name: str = "sovereign_ledger") -> None:
        if not schema.NAME.match(schema_name):
            raise ValueError(f"{schema_name!r}: use lower-case letters, digits and _ only")
        self._conninfo = conninfo
        self._schema = schema_name
        self._names = {
            "schema": sql.Identifier(schema_name),
            "records": sql.Identifier(schema_name, "usage_ledger"),
            "ids": sql.Identifier(schema_name, "ledger_ids"),
            "erased": sql.Identifier(schema_name, "ledger_erased"),
        }
        self._insert = sql.SQL(schema.INSERT).format(**self._names)
        self._db = OneConnection(autocommit(conninfo), _unavailable, close_on_error=True)
        self._ready = False
        self._months: set[str] = set()

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def identity(self) -> str:
        """Which ledger this is: database name and schema (not host and port: one database
        may be reached through several addresses, a pooler or a failover name)."""
        return f"{conninfo_to_dict(self._conninfo).get('dbname', '')}#{self._schema}"

    def reader(self) -> PostgresLedger:
        """Another handle on the same ledger, with a connection of its own."""
        return PostgresLedger(self._conninfo, self._schema)

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async def ready(conn: psycopg.AsyncConnection[Any]) -> T:
            if not self._ready:
                await self._create(conn)
            return await work(conn)

        return await self._db.run(ready)

    async def _create(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            # Replicas starting together must not race on CREATE ... IF NOT EXISTS.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
            await conn.execute(sql.SQL(schema.DDL).format(**self._names))
        self._ready = True
        await self._partitions(conn, schema.months_around(time.time(), PARTITIONS_AHEAD))

    @property
    def _lock_key(self) -> str:
        return f"sovereign-ledger:{self._schema}"

    async def _partitions(self, conn: psycopg.AsyncConnection[Any], months: Iterable[Any]) -> None:
        missing = [m for m in months if schema.partition_name(m) not in self._months]
        if not missing:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
            for month in missing:
                low, high = schema.partition_bounds(month)
                await conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(self._schema, schema.partition_name(month)),
                        self._names["records"],
                        sql.Literal(low),
                        sql.Literal(high),
                    )
                )
        self._months.update(schema.partition_name(m) for m in missing)

    async def start(self) -> None:
        """Create the schema, the tables and the partitions of this month and the next."""
        await self._run(lambda conn: asyncio.sleep(0))

    async def insert(self, records: Sequence[UsageRecord]) -> int:
        """Store a batch in one transaction; how many were new. Ids held before are skipped
        (an ``orphaned`` settlement is replaced by the real record)."""
        batch = unique(records)
        if not batch:
            return 0
        document = orjson.dumps([row_of(r) for r in batch]).decode()
        months = {schema.month_start(r.finished_at) for r in batch}

        async def insert(conn: psycopg.AsyncConnection[Any]) -> int:
            await self._partitions(conn, sorted(months))
            async with conn.transaction():
                cursor = await conn.execute(self._insert, (document,))
                return max(0, cursor.rowcount)

        return await self._run(insert)

    async def held(self, keys: Sequence[Key]) -> set[Key]:
        """Which of these ids the ledger holds with a real record (not an orphan's)."""
        if not keys:
            return set()

        async def held(conn: psycopg.AsyncConnection[Any]) -> set[Key]:
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT i.tenant, i.request_id FROM {} i JOIN unnest(%s::text[], %s::text[])"
                    " AS k(tenant, request_id) USING (tenant, request_id) WHERE NOT i.orphaned"
                ).format(self._names["ids"]),
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
            return {(str(t), str(r)) for t, r in await cursor.fetchall()}

        return await self._run(held)

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        async def usage(conn: psycopg.AsyncConnection[Any]) -> list[UsageRecord]:
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT record FROM {} WHERE tenant = %s AND finished_at >= %s"
                    " AND finished_at < %s ORDER BY finished_at, request_id"
                ).format(self._names["records"]),
                (tenant, start, end),
            )
            return [UsageRecord.model_validate(row[0]) for row in await cursor.fetchall()]

        return await self._run(usage)

    async def erase_subject(self, subject_ref: str, at: float | None = None) -> set[Key]:
        """Strip the subject's reference from every record that has it, and leave a tombstone
        that strips its records ended before ``at`` that arrive later; the ids stripped now."""
        when = time.time() if at is None else at

        async def erase(conn: psycopg.AsyncConnection[Any]) -> set[Key]:
            async with conn.transaction():
                await conn.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(self._names["erased"]),
                    (subject_ref, when),
                )
                cursor = await conn.execute(
                    sql.SQL(
                        "UPDATE {} SET subject_ref = NULL, record = record - 'subject_ref'"
                        " WHERE subject_ref = %s RETURNING tenant, request_id"
                    ).format(self._names["records"]),
                    (subject_ref,),
                )
                return {(str(t), str(r)) for t, r in await cursor.fetchall()}

        return await self._run(erase)

    async def purge(
        self,
        retention_days: Mapping[str, float],
        default_days: float,
        billing_days: float,
        now: float | None = None,
    ) -> tuple[int, int]:
        """Retention: the subject reference of records past their tenant's retention is
        removed; month partitions wholly past the billing retention are dropped (and their
        ids). Returns (records stripped, partitions dropped)."""
        at = time.time() if now is None else now
        tenants = dict(retention_days)
        records, ids, erased = self._names["records"], self._names["ids"], self._names["erased"]
        strip = sql.SQL(
            "UPDATE {} SET subject_ref = NULL, record = record - 'subject_ref'"
            " WHERE subject_ref IS NOT NULL AND finished_at < %s AND "
        ).format(records)

        async def purge(conn: psycopg.AsyncConnection[Any]) -> tuple[int, int]:
            stripped = 0
            for tenant, days in tenants.items():
                cursor = await conn.execute(
                    strip + sql.SQL("tenant = %s"), (at - days * DAY_S, tenant)
                )
                stripped += max(0, cursor.rowcount)
            cursor = await conn.execute(
                strip + sql.SQL("NOT (tenant = ANY(%s))"),
                (at - default_days * DAY_S, list(tenants)),
            )
            stripped += max(0, cursor.rowcount)
            cutoff = at - billing_days * DAY_S
            cursor = await conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n"
                " ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = 'usage_ledger'",
                (self._schema,),
            )
            dropped = 0
            for (name,) in await cursor.fetchall():
                end = schema.partition_end(str(name))
                if end is not None and end <= cutoff:
                    await conn.execute(
                        sql.SQL("DROP TABLE {}").format(sql.Identifier(self._schema, str(name)))
                    )
                    self._months.discard(str(name))
                    dropped += 1
            await conn.execute(
                sql.SQL("DELETE FROM {} WHERE finished_at < %s").format(ids),
                (schema.month_start(cutoff).timestamp(),),
            )
            await conn.execute(
                sql.SQL("DELETE FROM {} WHERE erased_at < %s").format(erased),
                (at - TOMBSTONE_DAYS * DAY_S,),
            )
            await self._partitions(conn, schema.months_around(at, PARTITIONS_AHEAD))
            return stripped, dropped

        return await self._run(purge)

    async def totals(self) -> dict[str, tuple[int, int, int]]:
        """Per tenant: (records, prompt tokens, completion tokens): for checks and benchmarks."""

        async def totals(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[int, int, int]]:
            cursor = await conn.execute(
                sql.SQL(
                    "SELECT tenant, count(*), coalesce(sum(prompt_tokens), 0),"
                    " coalesce(sum(completion_tokens), 0) FROM {} GROUP BY tenant"
                ).format(self._names["records"])
            )
            return {str(t): (int(n), int(p), int(c)) for t, n, p, c in await cursor.fetchall()}

        return await self._run(totals)

    async def close(self) -> None:
        await self._db.close()
