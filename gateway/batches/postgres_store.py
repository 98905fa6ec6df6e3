"""The batch store in PostgreSQL: every replica shares it.

Three tables in a configurable schema: ``files`` (record and content), ``batches`` (record,
cancellation, lease) and ``results`` (one row per line, replaced if a line runs again).
Each operation is one statement or one transaction on one connection per store, used by one
operation at a time (an asyncio lock, ``gateway/postgres.py``), as the audit trail's; a broken
connection is replaced on the next operation. A lease is taken with one conditional
``UPDATE`` (free, ended, or already ours), so two replicas never both hold it.
psycopg errors become ``BatchStoreUnavailable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from gateway.batches.models import UNFINISHED, LineResult, StoredBatch, StoredFile
from gateway.batches.store import with_cancel
from gateway.errors import BatchStoreUnavailable
from gateway.postgres import OneConnection, autocommit

T = TypeVar("T")

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {files} (
    tenant text NOT NULL, id text NOT NULL, record jsonb NOT NULL, content bytea NOT NULL,
    subject_refs text[] NOT NULL, delete_after double precision NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS {batches} (
    tenant text NOT NULL, id text NOT NULL, record jsonb NOT NULL, status text NOT NULL,
    subject_refs text[] NOT NULL, delete_after double precision NOT NULL,
    cancelling_at bigint, lease_owner text, lease_until double precision,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS batches_by_status ON {batches} (status);
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_id ON {batches} (id);
CREATE TABLE IF NOT EXISTS {results} (
    tenant text NOT NULL, batch_id text NOT NULL, idx integer NOT NULL, record jsonb NOT NULL,
    PRIMARY KEY (tenant, batch_id, idx)
);
"""

# What retention and erasure delete, in files and batches alike.
_WHERE = {
    "expired": "delete_after <= %s",
    "tenant": "tenant = %s",
    "subject": "%s = ANY(subject_refs)",
}


def _unavailable(exc: psycopg.Error) -> BatchStoreUnavailable:
    return BatchStoreUnavailable("The batch store is unavailable; try again shortly.")


class PostgresBatchStore:
    def __init__(self, conninfo: str, schema: str = "sovereign_batches") -> None:
        self._names = {
            "schema": sql.Identifier(schema),
            "files": sql.Identifier(schema, "files"),
            "batches": sql.Identifier(schema, "batches"),
            "results": sql.Identifier(schema, "results"),
        }
        self._lock_id = f"sovereign-batches:{schema}"
        self._db = OneConnection(autocommit(conninfo), _unavailable)

    @classmethod
    async def open(cls, conninfo: str, schema: str = "sovereign_batches") -> PostgresBatchStore:
        store = cls(conninfo, schema)

        async def create(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():  # replicas starting together must not race
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (store._lock_id,))
                await conn.execute(sql.SQL(_SCHEMA).format(**store._names))

        await store._run(create)
        return store

    def _q(self, template: str) -> sql.Composed:
        return sql.SQL(template).format(**self._names)

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        return await self._db.run(work)

    async def _rows(self, template: str, *params: Any) -> list[tuple[Any, ...]]:
        async def rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(self._q(template), params or None)
            return await cur.fetchall() if cur.description else []

        return await self._run(rows)

    async def _count(self, template: str, *params: Any) -> int:
        async def count(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(self._q(template), params or None)
            return max(cur.rowcount, 0)

        return await self._run(count)

    # files

    async def put_file(self, file: StoredFile, content: bytes) -> None:
        await self._count(
            "INSERT INTO {files} VALUES (%s, %s, %s, %s, %s, %s)",
            file.tenant, file.id, Jsonb(file.model_dump()), content, file.subject_refs,
            file.delete_after,
        )  # fmt: skip

    async def file(self, tenant: str, file_id: str) -> StoredFile | None:
        rows = await self._rows(
            "SELECT record FROM {files} WHERE tenant = %s AND id = %s", tenant, file_id
        )
        return StoredFile.model_validate(rows[0][0]) if rows else None

    async def files(self, tenant: str) -> list[StoredFile]:
        rows = await self._rows("SELECT record FROM {files} WHERE tenant = %s", tenant)
        return [StoredFile.model_validate(r[0]) for r in rows]

    async def content(self, tenant: str, file_id: str) -> bytes | None:
        rows = await self._rows(
            "SELECT content FROM {files} WHERE tenant = %s AND id = %s", tenant, file_id
        )
        return bytes(rows[0][0]) if rows else None

    async def delete_file(self, tenant: str, file_id: str) -> bool:
        deleted = await self._count(
            "DELETE FROM {files} WHERE tenant = %s AND id = %s", tenant, file_id
        )
        return deleted > 0

    # batches

    async def put_batch(self, batch: StoredBatch) -> None:
        record = batch.model_dump(exclude={"cancelling_at"})
        if batch.status == "cancelling":  # the cancellation lives in its own column
            record["status"] = "in_progress"
        await self._count(
            "INSERT INTO {batches} (tenant, id, record, status, subject_refs, delete_after)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, id) DO UPDATE SET"
            " record = EXCLUDED.record, status = EXCLUDED.status,"
            " subject_refs = EXCLUDED.subject_refs, delete_after = EXCLUDED.delete_after",
            batch.tenant, batch.id, Jsonb(record), record["status"], batch.subject_refs,
            batch.delete_after,
        )  # fmt: skip

    async def update_batch(self, batch: StoredBatch) -> bool:
        record = batch.model_dump(exclude={"cancelling_at"})
        if batch.status == "cancelling":
            record["status"] = "in_progress"
        updated = await self._count(
            "UPDATE {batches} SET record = %s, status = %s WHERE tenant = %s AND id = %s",
            Jsonb(record), record["status"], batch.tenant, batch.id,
        )  # fmt: skip
        return updated > 0

    @staticmethod
    def _batch(row: tuple[Any, ...]) -> StoredBatch:
        return with_cancel(StoredBatch.model_validate(row[0]), row[1])

    async def batch(self, tenant: str, batch_id: str) -> StoredBatch | None:
        rows = await self._rows(
            "SELECT record, cancelling_at FROM {batches} WHERE tenant = %s AND id = %s",
            tenant, batch_id,
        )  # fmt: skip
        return self._batch(rows[0]) if rows else None

    async def batches(self, tenant: str) -> list[StoredBatch]:
        rows = await self._rows(
            "SELECT record, cancelling_at FROM {batches} WHERE tenant = %s", tenant
        )
        return [self._batch(r) for r in rows]

    async def unfinished(self) -> list[StoredBatch]:
        rows = await self._rows(
            "SELECT record, cancelling_at FROM {batches} WHERE status = ANY(%s)",
            sorted(UNFINISHED),
        )
        return [self._batch(r) for r in rows]

    async def request_cancel(self, tenant: str, batch_id: str, at: int) -> bool:
        rows = await self._rows(
            "UPDATE {batches} SET cancelling_at = COALESCE(cancelling_at, %s)"
            " WHERE tenant = %s AND id = %s RETURNING id",
            at, tenant, batch_id,
        )  # fmt: skip
        return bool(rows)

    async def add_result(self, tenant: str, batch_id: str, result: LineResult) -> None:
        # Only while the batch exists: an erased batch gets nothing written back.
        await self._count(
            "INSERT INTO {results} SELECT %s, %s, %s, %s WHERE EXISTS"
            " (SELECT 1 FROM {batches} WHERE tenant = %s AND id = %s)"
            " ON CONFLICT (tenant, batch_id, idx) DO UPDATE SET record = EXCLUDED.record",
            tenant, batch_id, result.index, Jsonb(result.model_dump()), tenant, batch_id,
        )  # fmt: skip

    async def results(self, tenant: str, batch_id: str) -> list[LineResult]:
        rows = await self._rows(
            "SELECT record FROM {results} WHERE tenant = %s AND batch_id = %s ORDER BY idx",
            tenant, batch_id,
        )  # fmt: skip
        return [LineResult.model_validate(r[0]) for r in rows]

    # leases

    async def claim(self, batch_id: str, owner: str, now: float, until: float) -> bool:
        rows = await self._rows(
            "UPDATE {batches} SET lease_owner = %s, lease_until = %s WHERE id = %s AND"
            " (lease_owner IS NULL OR lease_owner = %s OR lease_until <= %s) RETURNING id",
            owner, until, batch_id, owner, now,
        )  # fmt: skip
        return bool(rows)

    async def release(self, batch_id: str, owner: str) -> None:
        await self._count(
            "UPDATE {batches} SET lease_owner = NULL, lease_until = NULL"
            " WHERE id = %s AND lease_owner = %s",
            batch_id, owner,
        )  # fmt: skip

    # retention and erasure

    async def _delete(self, where: Literal["expired", "tenant", "subject"], param: Any) -> int:
        condition = sql.SQL(_WHERE[where])

        async def delete(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction():
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {} RETURNING tenant, id").format(
                        self._names["batches"], condition
                    ),
                    (param,),
                )
                gone = await cur.fetchall()
                for tenant, batch_id in gone:
                    await conn.execute(
                        self._q("DELETE FROM {results} WHERE tenant = %s AND batch_id = %s"),
                        (tenant, batch_id),
                    )
                cur = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {}").format(self._names["files"], condition),
                    (param,),
                )
                return len(gone) + max(cur.rowcount, 0)

        return await self._run(delete)

    async def delete_expired(self, now: float) -> int:
        return await self._delete("expired", now)

    async def erase_tenant(self, tenant: str) -> int:
        return await self._delete("tenant", tenant)

    async def erase_subject(self, subject_ref: str) -> int:
        return await self._delete("subject", subject_ref)

    async def close(self) -> None:
        await self._db.close()
