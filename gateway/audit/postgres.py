"""The audit chain in PostgreSQL: one chain for every replica, appended under a row lock.

Two tables in a configurable schema: ``<table>`` (one row per entry) and ``<table>_head``
(one row: the last seq and hash). An append is one transaction: lock the head row
(``SELECT ... FOR UPDATE``), link the drafts to it, insert the entries, move the head.
Linking (hashes and signatures) and serialising the batch run in a thread, and the batch
goes in as one JSON document (``jsonb_to_recordset``): on the event loop, the same work
took ~45 us a record (a batch of 250 held the loop for up to 5 ms in one go).
Replicas therefore append one batch at a time, each to the true head (``AuditTrail`` batches
the records that arrive while a write is in flight, so the lock is taken once per batch, not
per record). The head row doubles as a record of where the chain ends, kept apart from the
entries: deleting the last entries shows as a mismatch with it. The ``tenant``, ``at``,
``kind`` and ``subject_ref`` columns exist for the indexes that retention and erasure use;
verification reads the hashed values, not the index.

One connection per store, used by one operation at a time (an asyncio lock): appends are
serialised anyway, batched, and awaited after the response is sent. A broken connection is
replaced on the next operation. psycopg errors become ``AuditUnavailable``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from gateway.audit.chain import GENESIS, ChainEntry, ChainHead, Draft, Unreadable, link_all
from gateway.audit.records import AuditUnavailable

T = TypeVar("T")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_COLUMNS = (
    "seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac, subject_ref, erasable, salt"
)
_PAGE = 1000
# The entries of a batch, from one JSON array (``_document``): salt in hex, JSON null as NULL.
_INSERT = """
INSERT INTO {table} (seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac,
                     subject_ref, erasable, salt)
SELECT seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac,
       subject_ref, erasable, decode(salt, 'hex')
FROM jsonb_to_recordset(%s::jsonb) AS entry(
    seq bigint, at double precision, tenant text, kind text, body jsonb, body_digest text,
    prev_hash text, hash text, hmac text, subject_ref text, erasable jsonb, salt text
)
"""

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {table} (
    seq bigint PRIMARY KEY,
    at double precision NOT NULL,
    tenant text,
    kind text NOT NULL,
    body jsonb,
    body_digest text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    hmac text,
    subject_ref text,
    erasable jsonb,
    salt bytea
);
CREATE INDEX IF NOT EXISTS {tenant_at} ON {table} (tenant, at) WHERE body IS NOT NULL;
CREATE INDEX IF NOT EXISTS {subject} ON {table} (subject_ref) WHERE subject_ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS {head} (
    id smallint PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL
);
"""


class PostgresAuditStore:
    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "public",
        table: str = "audit_log",
        append_timeout: float = 5.0,
    ) -> None:
        for name in (schema, table):
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: use lower-case letters, digits and _ only")
        self._conninfo = conninfo
        self._lock_id = f"sovereign-audit:{schema}.{table}"
        self._timeout = append_timeout
        self._table = sql.Identifier(schema, table)
        self._head = sql.Identifier(schema, f"{table}_head")
        self._names = {
            "schema": sql.Identifier(schema),
            "table": self._table,
            "head": self._head,
            "tenant_at": sql.Identifier(f"{table}_tenant_at"),
            "subject": sql.Identifier(f"{table}_subject"),
        }
        self._insert = sql.SQL(_INSERT).format(table=self._table)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        conninfo: str,
        *,
        schema: str = "public",
        table: str = "audit_log",
        append_timeout: float = 5.0,
    ) -> PostgresAuditStore:
        """Connect and create the tables if they are missing."""
        store = cls(conninfo, schema=schema, table=table, append_timeout=append_timeout)
        await store.start()
        return store

    async def start(self) -> None:
        async def create(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                # Replicas starting together must not race on CREATE ... IF NOT EXISTS.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_id,))
                await conn.execute(sql.SQL(_SCHEMA).format(**self._names))
                await conn.execute(
                    sql.SQL("INSERT INTO {} VALUES (1, 0, %s) ON CONFLICT DO NOTHING").format(
                        self._head
                    ),
                    (GENESIS,),
                )

        await self._run(create)

    async def append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        async def append(conn: psycopg.AsyncConnection[Any]) -> list[ChainEntry]:
            async with conn.transaction():
                ms = sql.Literal(f"{int(self._timeout * 1000)}ms")
                await conn.execute(
                    sql.SQL(
                        "SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms}"
                    ).format(ms=ms)
                )
                cur = await conn.execute(
                    sql.SQL("SELECT seq, hash FROM {} WHERE id = 1 FOR UPDATE").format(self._head)
                )
                row = await cur.fetchone()
                if row is None:
                    raise AuditUnavailable("the audit head row is missing: was the table reset?")
                head = ChainHead(seq=row[0], hash=row[1])
                entries, document = await asyncio.to_thread(_linked, drafts, head)
                await conn.execute(self._insert, (document,))
                await conn.execute(
                    sql.SQL("UPDATE {} SET seq = %s, hash = %s WHERE id = 1").format(self._head),
                    (entries[-1].seq, entries[-1].hash),
                )
                return entries

        if not drafts:
            return []
        return await self._run(append)

    async def head(self) -> ChainHead | None:
        async def head(conn: psycopg.AsyncConnection[Any]) -> ChainHead | None:
            cur = await conn.execute(
                sql.SQL("SELECT seq, hash FROM {} WHERE id = 1").format(self._head)
            )
            row = await cur.fetchone()
            return ChainHead(seq=row[0], hash=row[1]) if row else None

        return await self._run(head)

    async def entries(self, after_seq: int = 0, limit: int = 1000) -> list[ChainEntry]:
        rows = await self._rows(after_seq, limit)
        return [e for e in (_entry(r) for r in rows) if isinstance(e, ChainEntry)]

    async def scan(self, until_seq: int | None = None) -> AsyncIterator[ChainEntry | Unreadable]:
        after = 0
        while True:
            rows = await self._rows(after, _PAGE, until_seq)
            for row in rows:
                yield _entry(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    async def tenants(self) -> set[str]:
        async def tenants(conn: psycopg.AsyncConnection[Any]) -> set[str]:
            query = sql.SQL(
                "SELECT DISTINCT tenant FROM {} WHERE body IS NOT NULL AND tenant IS NOT NULL"
            ).format(self._table)
            cur = await conn.execute(query)
            return {row[0] for row in await cur.fetchall()}

        return await self._run(tenants)

    async def purge(self, tenant: str, before: float) -> int:
        query = sql.SQL(
            "UPDATE {} SET body = NULL, erasable = NULL, salt = NULL, subject_ref = NULL "
            "WHERE tenant = %s AND at < %s AND body IS NOT NULL"
        ).format(self._table)
        return await self._update(query, (tenant, before))

    async def erase(self, subject_ref: str) -> int:
        query = sql.SQL(
            "UPDATE {} SET erasable = NULL, salt = NULL, subject_ref = NULL WHERE subject_ref = %s"
        ).format(self._table)
        return await self._update(query, (subject_ref,))

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def _rows(
        self, after_seq: int, limit: int, until_seq: int | None = None
    ) -> list[tuple[Any, ...]]:
        async def rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            query = sql.SQL(
                "SELECT {} FROM {} WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
            ).format(sql.SQL(_COLUMNS), self._table)
            upper = until_seq if until_seq is not None else 2**63 - 1
            cur = await conn.execute(query, (after_seq, upper, limit))
            return await cur.fetchall()

        return await self._run(rows)

    async def _update(self, query: sql.Composed, params: tuple[Any, ...]) -> int:
        async def update(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(query, params)
            return cur.rowcount

        return await self._run(update)

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async with self._lock:
            try:
                conn = await self._connection()
                return await work(conn)
            except psycopg.Error as exc:
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                raise AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}") from exc

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=max(1, round(self._timeout))
            )
            set_json_loads(orjson.loads, conn)
            self._conn = conn
        return self._conn


def _linked(drafts: Sequence[Draft], head: ChainHead) -> tuple[list[ChainEntry], str]:
    """The drafts linked onto ``head``, and their rows as one JSON array (in a thread)."""
    entries = link_all(drafts, head)
    return entries, _document(entries)


def _document(entries: Sequence[ChainEntry]) -> str:
    rows = [
        {
            "seq": entry.seq,
            "at": entry.at,
            "tenant": entry.tenant,
            "kind": entry.kind,
            "body": entry.body,
            "body_digest": entry.body_digest,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
            "hmac": entry.hmac,
            "subject_ref": entry.subject_ref,
            "erasable": entry.erasable,
            "salt": entry.salt,
        }
        for entry in entries
    ]
    return orjson.dumps(rows).decode()


def _entry(row: tuple[Any, ...]) -> ChainEntry | Unreadable:
    seq, at, tenant, kind, body, body_digest, prev_hash, hash_, hmac, _, erasable, salt = row
    try:
        return ChainEntry(
            seq=seq,
            at=at,
            tenant=tenant,
            kind=kind,
            body_digest=body_digest,
            prev_hash=prev_hash,
            hash=hash_,
            hmac=hmac,
            body=body,
            erasable=erasable,
            salt=bytes(salt).hex() if salt is not None else None,
        )
    except ValueError as exc:  # pydantic's ValidationError: a row edited into another shape
        return Unreadable(f"row seq {seq}", str(exc).splitlines()[0])
