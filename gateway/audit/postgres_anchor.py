"""The anchor chain in PostgreSQL: ``<table>_anchor`` (one row per anchor) and
``<table>_anchor_head`` (one row: the last anchor's seq, hash and signature, when it was
made, and the anchored state: every chain's latest anchored head).

Every replica runs the anchor job (``AuditTrail.anchor_forever``); they are serialised by the
anchor head's row lock, taken once per interval, never on the append path. ``FOR UPDATE SKIP
LOCKED``: a replica that finds another one anchoring, or an anchor younger than ``min_gap``,
does nothing. Chain heads are read without a lock: each head is committed with its entries,
so every leaf an anchor records exists when it is recorded.

``scan`` reads the head and the anchors through a ``snapshot`` (one read-only ``REPEATABLE
READ`` transaction on a connection of its own, a server-side cursor), in which ``audit
verify`` reads everything: the anchor head and the anchor chain's end must agree, and a
purge made meanwhile must not show a pruned entry without its purge record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_loads
from pydantic import ValidationError

from gateway.audit.anchor import AnchorEntry, AnchorScan, advance, seal_anchor, sign_anchor_head
from gateway.audit.chain import GENESIS, ChainHead, Unreadable
from gateway.audit.records import AuditUnavailable

log = structlog.get_logger("gateway.audit")
_COLUMNS = "seq, at, root, prev_hash, leaves, hash, hmac"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {anchors} (
    seq bigint PRIMARY KEY,
    at double precision NOT NULL,
    root text NOT NULL,
    prev_hash text NOT NULL,
    leaves jsonb NOT NULL,
    hash text NOT NULL,
    hmac text
);
CREATE TABLE IF NOT EXISTS {head} (
    id smallint PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL,
    hmac text,
    at double precision NOT NULL,
    state jsonb NOT NULL
);
INSERT INTO {head} VALUES (1, 0, {genesis}, NULL, 0, '{{}}') ON CONFLICT DO NOTHING;
"""


class AnchorTables:
    def __init__(self, schema: str, table: str) -> None:
        self.anchors = sql.Identifier(schema, f"{table}_anchor")
        self.head = sql.Identifier(schema, f"{table}_anchor_head")
        self.schema = sql.SQL(_SCHEMA).format(
            anchors=self.anchors, head=self.head, genesis=sql.Literal(GENESIS)
        )


async def anchor(
    conn: psycopg.AsyncConnection[Any],
    tables: AnchorTables,
    chain_heads: sql.Identifier,
    at: float,
    hmac_key: bytes | None,
    min_gap: float,
) -> AnchorEntry | None:
    """Append the next anchor, in the caller's transaction; None when another replica holds
    the anchor head, anchored less than ``min_gap`` seconds ago, or no head moved."""
    cur = await conn.execute(
        sql.SQL("SELECT seq, hash, at, state FROM {} WHERE id = 1 FOR UPDATE SKIP LOCKED").format(
            tables.head
        )
    )
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(tables.head))
        if (await cur.fetchone() or (0,))[0] == 0:
            raise AuditUnavailable("the audit anchor head row is missing: run `audit verify`")
        return None  # another replica is anchoring right now
    prev, last_at = ChainHead(seq=row[0], hash=row[1]), row[2]
    if at - last_at < min_gap:
        return None
    state = {chain: ChainHead(seq=seq, hash=h) for chain, (seq, h) in dict(row[3]).items()}
    cur = await conn.execute(sql.SQL("SELECT chain, seq, hash FROM {}").format(chain_heads))
    heads = {chain: ChainHead(seq=seq, hash=h) for chain, seq, h in await cur.fetchall()}
    step = advance(state, heads)
    if step.behind:  # never anchored backwards; verify reports these chains
        log.error("audit.anchor_chain_behind", chains=step.behind)
    if not step.moved:
        return None
    entry = seal_anchor(prev, at, step, hmac_key)
    await conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
            tables.anchors, sql.SQL(_COLUMNS)
        ),
        (
            entry.seq,
            entry.at,
            entry.root,
            entry.prev_hash,
            Jsonb([list(leaf) for leaf in entry.leaves]),
            entry.hash,
            entry.hmac,
        ),
    )
    signed = sign_anchor_head(hmac_key, entry.head) if hmac_key is not None else None
    await conn.execute(
        sql.SQL(
            "UPDATE {} SET seq = %s, hash = %s, hmac = %s, at = %s, state = %s WHERE id = 1"
        ).format(tables.head),
        (
            entry.seq,
            entry.hash,
            signed,
            at,
            Jsonb({chain: [h.seq, h.hash] for chain, h in step.state.items()}),
        ),
    )
    return entry


@asynccontextmanager
async def snapshot(conninfo: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of its own inside one read-only ``REPEATABLE READ`` transaction: every
    read through it sees the same moment, whatever is appended, anchored, purged or erased
    meanwhile."""
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10)
    except psycopg.Error as exc:
        raise AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}") from exc
    try:
        set_json_loads(orjson.loads, conn)
        await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)
        async with conn.transaction():
            await conn.execute("SELECT 1")  # the snapshot is taken here, not at the first read
            yield conn
    except psycopg.Error as exc:
        raise AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}") from exc
    finally:
        await conn.close()


async def scan(conn: psycopg.AsyncConnection[Any], tables: AnchorTables) -> AnchorScan:
    """The anchor head and the anchors, read through ``conn`` (a ``snapshot``'s)."""
    try:
        cur = await conn.execute(
            sql.SQL("SELECT seq, hash, hmac FROM {} WHERE id = 1").format(tables.head)
        )
        row = await cur.fetchone()
    except psycopg.Error as exc:
        raise AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}") from exc
    head = ChainHead(seq=row[0], hash=row[1]) if row else None
    return AnchorScan(head, row[2] if row else None, _entries(conn, tables))


async def _entries(
    conn: psycopg.AsyncConnection[Any], tables: AnchorTables
) -> AsyncIterator[AnchorEntry | Unreadable]:
    query = sql.SQL("SELECT {} FROM {} ORDER BY seq").format(sql.SQL(_COLUMNS), tables.anchors)
    try:
        async with conn.cursor(name="sovereign_anchors") as cur:
            await cur.execute(query)
            async for row in cur:
                yield _anchor(row)
    except psycopg.Error as exc:
        raise AuditUnavailable(f"the audit store (PostgreSQL) failed: {exc}") from exc


def _anchor(row: tuple[Any, ...]) -> AnchorEntry | Unreadable:
    seq, at, root, prev_hash, leaves, hash_hex, hmac = row
    try:
        return AnchorEntry(
            seq=seq, at=at, root=root, prev_hash=prev_hash, leaves=leaves, hash=hash_hex, hmac=hmac
        )
    except ValidationError as exc:
        return Unreadable(f"anchor row seq {seq}", str(exc).splitlines()[0])
