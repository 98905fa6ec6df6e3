"""The audit trail in PostgreSQL: one hash chain per writer, anchored together.

Tables in a configurable schema: ``<table>`` (one row per entry, keyed by ``(chain, seq)``)
and ``<table>_head`` (one row per chain: its last seq and hash). Each store appends to its
own chain (``chain``: the replica's id, ``gateway.stores.gateway_id``), so replicas never
wait for each other: an append is one transaction that locks *its chain's* head row
(``SELECT ... FOR UPDATE``: uncontended unless two processes were given the same chain id,
which stays correct, only serialised), links the drafts to it, inserts the entries and moves
the head. Linking (hashes and signatures) and serialising the batch run in a thread, and the
batch goes in as one JSON document (``jsonb_to_recordset``): on the event loop, the same
work took ~45 us a record. ``AuditTrail`` batches the records that arrive while a write is
in flight, so the lock is taken once per batch, not per record. Each head row doubles as a
record of where its chain ends, kept apart from the entries: deleting a chain's last entries
shows as a mismatch with it. The anchor chain that ties the chains together
(``<table>_anchor`` and ``<table>_anchor_head``) is written by ``postgres_anchor``.

A table written before chains existed (a ``seq`` key and a one-row head) is migrated in
place on start, under the creation lock: its rows and head become chain ``main``
(``LEGACY_CHAIN``) and verify as before; the head keeps its ``id = 1`` row, and the chain
column defaults to ``main``, so a replica of the previous version still appends to chain
``main`` during a rolling upgrade. The migration rebuilds the primary key (a table lock for
as long as that takes on a large table).

The ``tenant``, ``at``, ``kind`` and ``subject_ref`` columns exist for the indexes that
retention and erasure use (across every chain); verification reads the hashed values.

One connection per store, used by one operation at a time (an asyncio lock): appends are
serialised anyway, batched, and awaited after the response is sent. A broken connection is
replaced on the next operation. psycopg errors become ``AuditUnavailable``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from gateway.audit import postgres_anchor
from gateway.audit.anchor import AnchorEntry, AnchorScan
from gateway.audit.browse import Found, RecordQuery, newest_query
from gateway.audit.chain import (
    LEGACY_CHAIN,
    ChainEntry,
    ChainHead,
    Draft,
    Unreadable,
    chain_genesis,
    link_all,
)
from gateway.audit.records import AuditUnavailable
from gateway.postgres import OneConnection

MAX_CHAIN = 200

T = TypeVar("T")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_COLUMNS = (
    "seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac, subject_ref, erasable, salt"
)
# Every chain's name, by a loose index scan of the primary key (one probe per chain).
_CHAINS = """
WITH RECURSIVE found(chain) AS (
    (SELECT chain FROM {table} ORDER BY chain LIMIT 1)
    UNION ALL
    SELECT (SELECT t.chain FROM {table} t WHERE t.chain > found.chain ORDER BY t.chain LIMIT 1)
    FROM found WHERE found.chain IS NOT NULL
)
SELECT chain FROM found WHERE chain IS NOT NULL UNION SELECT chain FROM {head}
"""
_PAGE = 1000
# The entries of a batch, from one JSON array (``_document``): salt in hex, JSON null as NULL.
_INSERT = """
INSERT INTO {table} (chain, seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac,
                     subject_ref, erasable, salt)
SELECT %s, seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac,
       subject_ref, erasable, decode(salt, 'hex')
FROM jsonb_to_recordset(%s::jsonb) AS entry(
    seq bigint, at double precision, tenant text, kind text, body jsonb, body_digest text,
    prev_hash text, hash text, hmac text, subject_ref text, erasable jsonb, salt text
)
"""

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {table} (
    chain text NOT NULL,
    seq bigint NOT NULL,
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
    salt bytea,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX IF NOT EXISTS {tenant_at} ON {table} (tenant, at) WHERE body IS NOT NULL;
CREATE INDEX IF NOT EXISTS {subject} ON {table} (subject_ref) WHERE subject_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS {at} ON {table} (at) WHERE body IS NOT NULL;
CREATE TABLE IF NOT EXISTS {head} (
    chain text PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL
);
"""
# A table of the single-chain era: its rows and its one head row become chain 'main'.
_MIGRATE = """
ALTER TABLE {table} ADD COLUMN chain text NOT NULL DEFAULT 'main';
ALTER TABLE {table} DROP CONSTRAINT {table_pkey};
ALTER TABLE {table} ADD PRIMARY KEY (chain, seq);
ALTER TABLE {head} ADD COLUMN chain text NOT NULL DEFAULT 'main';
ALTER TABLE {head} DROP CONSTRAINT {head_pkey};
ALTER TABLE {head} ALTER COLUMN id DROP NOT NULL;
ALTER TABLE {head} ADD PRIMARY KEY (chain);
ALTER TABLE {head} ALTER COLUMN chain DROP DEFAULT;
"""


class PostgresAuditStore:
    anchored = True  # several chains, tied together by the anchor chain

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "public",
        table: str = "audit_log",
        chain: str = LEGACY_CHAIN,
        append_timeout: float = 5.0,
    ) -> None:
        for name in (schema, table):
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: use lower-case letters, digits and _ only")
        if not chain or len(chain) > MAX_CHAIN or not chain.isprintable():
            raise ValueError(f"the audit chain id {chain!r} must be 1-{MAX_CHAIN} printable chars")
        self.chain = chain
        self._conninfo = conninfo
        self._schema, self._table_name = schema, table
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
            "at": sql.Identifier(f"{table}_at"),
            "table_pkey": sql.Identifier(f"{table}_pkey"),
            "head_pkey": sql.Identifier(f"{table}_head_pkey"),
        }
        self.anchor_tables = postgres_anchor.AnchorTables(schema, table)
        self._insert = sql.SQL(_INSERT).format(table=self._table)
        self._db = OneConnection(partial(connect, conninfo, append_timeout), _unavailable)
        self._pinned = False  # a snapshot's reader: its one connection, never replaced

    @classmethod
    async def open(
        cls,
        conninfo: str,
        *,
        schema: str = "public",
        table: str = "audit_log",
        chain: str = LEGACY_CHAIN,
        append_timeout: float = 5.0,
    ) -> PostgresAuditStore:
        """Connect, create the tables if they are missing (or migrate a single-chain table),
        and this store's chain head if it has none."""
        store = cls(
            conninfo, schema=schema, table=table, chain=chain, append_timeout=append_timeout
        )
        await store.start()
        return store

    async def start(self) -> None:
        async def create(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                # Replicas starting together must not race on CREATE ... IF NOT EXISTS.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_id,))
                await conn.execute(sql.SQL(_SCHEMA).format(**self._names))
                if await self._single_chain(conn):
                    await conn.execute(sql.SQL(_MIGRATE).format(**self._names))
                await conn.execute(self.anchor_tables.schema)
            await conn.execute(
                sql.SQL(
                    "INSERT INTO {} (chain, seq, hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING"
                ).format(self._head),
                (self.chain, chain_genesis(self.chain)),
            )

        await self._run(create)

    async def _single_chain(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """The table was made before chains existed (it has no chain column)."""
        cur = await conn.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = 'chain'",
            (self._schema, self._table_name),
        )
        return await cur.fetchone() is None

    async def append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        async def append(conn: psycopg.AsyncConnection[Any]) -> list[ChainEntry]:
            async with conn.transaction():
                await self._set_timeouts(conn)
                cur = await conn.execute(
                    sql.SQL("SELECT seq, hash FROM {} WHERE chain = %s FOR UPDATE").format(
                        self._head
                    ),
                    (self.chain,),
                )
                row = await cur.fetchone()
                if row is None:
                    raise AuditUnavailable(
                        f"the head row of audit chain {self.chain!r} is missing: was the "
                        "table reset? Appends stop until `audit verify` has been looked into"
                    )
                head = ChainHead(seq=row[0], hash=row[1])
                entries, document = await asyncio.to_thread(_linked, drafts, head)
                await conn.execute(self._insert, (self.chain, document))
                await conn.execute(
                    sql.SQL("UPDATE {} SET seq = %s, hash = %s WHERE chain = %s").format(
                        self._head
                    ),
                    (entries[-1].seq, entries[-1].hash, self.chain),
                )
                return entries

        if not drafts:
            return []
        return await self._run(append)

    async def _set_timeouts(self, conn: psycopg.AsyncConnection[Any]) -> None:
        ms = sql.Literal(f"{int(self._timeout * 1000)}ms")
        await conn.execute(
            sql.SQL("SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms}").format(
                ms=ms
            )
        )

    async def head(self, chain: str | None = None) -> ChainHead | None:
        async def head(conn: psycopg.AsyncConnection[Any]) -> ChainHead | None:
            cur = await conn.execute(
                sql.SQL("SELECT seq, hash FROM {} WHERE chain = %s").format(self._head),
                (chain or self.chain,),
            )
            row = await cur.fetchone()
            return ChainHead(seq=row[0], hash=row[1]) if row else None

        return await self._run(head)

    async def chains(self) -> list[str]:
        """Every chain that has entries or a head row."""

        async def chains(conn: psycopg.AsyncConnection[Any]) -> list[str]:
            query = sql.SQL(_CHAINS).format(table=self._table, head=self._head)
            cur = await conn.execute(query)
            return sorted(row[0] for row in await cur.fetchall())

        return await self._run(chains)

    async def entries(
        self, after_seq: int = 0, limit: int = 1000, chain: str | None = None
    ) -> list[ChainEntry]:
        rows = await self._rows(chain or self.chain, after_seq, limit)
        return [e for e in (_entry(r) for r in rows) if isinstance(e, ChainEntry)]

    async def scan(
        self, until_seq: int | None = None, chain: str | None = None
    ) -> AsyncIterator[ChainEntry | Unreadable]:
        after, name = 0, chain or self.chain
        while True:
            rows = await self._rows(name, after, _PAGE, until_seq)
            for row in rows:
                yield _entry(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    async def newest(self, query: RecordQuery) -> list[Found]:
        """The newest matching entries of every chain (``gateway.audit.browse``)."""

        async def newest(conn: psycopg.AsyncConnection[Any]) -> list[Found]:
            statement, params = newest_query(self._table, _COLUMNS, query)
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
            found = [(row[0], _entry(row[1:])) for row in rows]
            return [Found(chain, e) for chain, e in found if isinstance(e, ChainEntry)]

        return await self._run(newest)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresAuditStore]:
        """A reader of this store that sees one moment (``postgres_anchor.snapshot``), on a
        connection of its own: what ``audit verify`` reads through."""
        async with postgres_anchor.snapshot(self._conninfo) as conn:
            reader = PostgresAuditStore(
                self._conninfo, schema=self._schema, table=self._table_name, chain=self.chain
            )
            reader._db = OneConnection(_snapshot_lost, _unavailable, conn=conn)
            reader._pinned = True
            yield reader

    @asynccontextmanager
    async def anchors(self) -> AsyncIterator[AnchorScan]:
        """The anchor chain and its head, from one snapshot (this reader's, or a new one)."""
        if self._pinned:
            async with self._db.lock:
                yield await postgres_anchor.scan(await self._db.connection(), self.anchor_tables)
            return
        async with self.snapshot() as reader, reader.anchors() as scan:
            yield scan

    async def anchor(
        self, at: float, hmac_key: bytes | None, min_gap: float = 0.0
    ) -> AnchorEntry | None:
        """Commit every chain's head in the next anchor (see ``postgres_anchor.anchor``)."""

        async def anchor(conn: psycopg.AsyncConnection[Any]) -> AnchorEntry | None:
            async with conn.transaction():
                await self._set_timeouts(conn)
                return await postgres_anchor.anchor(
                    conn, self.anchor_tables, self._head, at, hmac_key, min_gap
                )

        return await self._run(anchor)

    async def tenants(self) -> set[str]:
        async def tenants(conn: psycopg.AsyncConnection[Any]) -> set[str]:
            query = sql.SQL(
                "SELECT DISTINCT tenant FROM {} WHERE body IS NOT NULL AND tenant IS NOT NULL"
            ).format(self._table)
            cur = await conn.execute(query)
            return {row[0] for row in await cur.fetchall()}

        return await self._run(tenants)

    async def purge(self, tenant: str, before: float) -> int:
        """Across every chain: one purge record covers the tenant's entries in all of them."""
        query = sql.SQL(
            "UPDATE {} SET body = NULL, erasable = NULL, salt = NULL, subject_ref = NULL "
            "WHERE tenant = %s AND at < %s AND body IS NOT NULL"
        ).format(self._table)
        return await self._update(query, (tenant, before))

    async def erase(self, subject_ref: str) -> int:
        """Across every chain."""
        query = sql.SQL(
            "UPDATE {} SET erasable = NULL, salt = NULL, subject_ref = NULL WHERE subject_ref = %s"
        ).format(self._table)
        return await self._update(query, (subject_ref,))

    async def close(self) -> None:
        if not self._pinned:  # a snapshot's connection is its owner's to close
            await self._db.close()

    async def _rows(
        self, chain: str, after_seq: int, limit: int, until_seq: int | None = None
    ) -> list[tuple[Any, ...]]:
        async def rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            query = sql.SQL(
                "SELECT {} FROM {} WHERE chain = %s AND seq > %s AND seq <= %s "
                "ORDER BY seq LIMIT %s"
            ).format(sql.SQL(_COLUMNS), self._table)
            upper = until_seq if until_seq is not None else 2**63 - 1
            cur = await conn.execute(query, (chain, after_seq, upper, limit))
            return await cur.fetchall()

        return await self._run(rows)

    async def _update(self, query: sql.Composed, params: tuple[Any, ...]) -> int:
        async def update(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(query, params)
            return cur.rowcount

        return await self._run(update)

    async def _run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        return await self._db.run(work)


def _unavailable(exc: psycopg.Error) -> AuditUnavailable:
    return AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}")


async def _snapshot_lost() -> psycopg.AsyncConnection[Any]:
    raise AuditUnavailable("the audit store's snapshot connection was lost")


async def connect(conninfo: str, seconds: float) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, connect_timeout=max(1, round(seconds))
    )
    set_json_loads(orjson.loads, conn)
    return conn


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
