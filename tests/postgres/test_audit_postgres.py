"""The audit chain in the real PostgreSQL at 127.0.0.1:5432 (database ``test``).

Every test gets its own schema, dropped afterwards. Tampering is done the way someone with
database access would do it: plain SQL on the table, then ``verify`` through the store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from gateway.audit.chain import GENESIS, canonical, digest, entry_hash
from gateway.audit.postgres import PostgresAuditStore
from gateway.audit.service import AuditTrail
from tests.records import usage_record

DSN = "postgresql://postgres@127.0.0.1:5432/test"
HMAC_KEY = b"h" * 32
SUBJECT_KEY = b"s" * 32
ALICE, BOB = "alice@example.org", "user-4711"
T0 = 1_700_000_000.0
DAY = 86_400.0

Trails = Callable[[], Awaitable[AuditTrail]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def db(schema: str, template: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL on the test's table, named ``{table}`` in ``template``, on its own connection."""
    query = sql.SQL(template).format(
        table=sql.Identifier(schema, "audit_log"),
        head=sql.Identifier(schema, "audit_log_head"),
        schema=sql.Identifier(schema),
    )
    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        cur = await conn.execute(query, params or None)
        return await cur.fetchall() if cur.description else []


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = "audit_" + uuid.uuid4().hex[:12]
    yield name
    await db(name, "DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def trails(schema: str) -> AsyncIterator[Trails]:
    """Opens AuditTrails on their own connections (one per gateway replica)."""
    opened: list[AuditTrail] = []
    clock = Clock()

    async def open_trail() -> AuditTrail:
        store = await PostgresAuditStore.open(DSN, schema=schema)
        opened.append(AuditTrail(store, HMAC_KEY, SUBJECT_KEY, clock=clock))
        return opened[-1]

    yield open_trail
    for trail in opened:
        await trail.close()


async def fill(audit: AuditTrail, clock: Clock | None = None) -> None:
    """Six entries: Alice twice with content, Bob once, two without subject, an admin action."""
    people = [ALICE, BOB, None, ALICE, None]
    for n, subject in enumerate(people):
        if clock is not None:
            clock.now = T0 + n * DAY
        tenant = "other" if n == 2 else "acme"
        content = {"prompt": f"Hallo <PERSON_{n}>", "completion": "Guten Tag"} if subject else None
        usage = usage_record(tenant, f"req-{n}", started_at=T0 + n * DAY + 0.125)
        await audit.record_request(usage, subject=subject, content=content)
    await audit.record_admin("admin-1", "key.issue", tenant="acme", target={"key": "k2"})


def problems(report: Any) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in report.problems]


async def test_two_concurrent_writers_build_one_valid_chain(trails: Trails, schema: str) -> None:
    first, second = await trails(), await trails()

    async def write(audit: AuditTrail, replica: str) -> None:
        for i in range(25):
            await audit.record_request(
                usage_record("acme", f"{replica}-{i}", gateway=replica), subject=ALICE
            )

    await asyncio.gather(write(first, "gw-a"), write(second, "gw-b"))
    rows = await db(schema, "SELECT seq, body->>'gateway' FROM {table} ORDER BY seq")
    assert [r[0] for r in rows] == list(range(1, 51))
    assert {r[1] for r in rows} == {"gw-a", "gw-b"}
    report = await first.verify()
    assert report.ok, report.summary()
    assert report.entries == 50
    assert report.hmac_checked


async def test_records_read_back_as_written(trails: Trails) -> None:
    audit = await trails()
    usage = usage_record("acme", "req-x", started_at=T0 + 0.1, duration_ms=1e16)
    entry = await audit.record_request(usage, subject=ALICE, content={"prompt": "Hi <PERSON_1>"})
    [stored] = await audit.store.entries()
    assert stored == entry
    assert (await audit.verify()).ok


async def test_an_updated_body_is_found(trails: Trails, schema: str) -> None:
    audit = await trails()
    await fill(audit)
    await db(
        schema,
        "UPDATE {table} SET body = jsonb_set(body, ARRAY['jurisdiction'], '\"US\"') WHERE seq = 3",
    )
    report = await audit.verify()
    assert problems(report) == [(3, "changed")]
    assert report.first_bad_seq == 3


async def test_a_deleted_middle_row_is_found(trails: Trails, schema: str) -> None:
    audit = await trails()
    await fill(audit)
    await db(schema, "DELETE FROM {table} WHERE seq = 3")
    assert problems(await audit.verify()) == [(4, "missing")]


async def test_a_deleted_last_row_is_found_against_the_head(trails: Trails, schema: str) -> None:
    audit = await trails()
    await fill(audit)
    await db(schema, "DELETE FROM {table} WHERE seq = 6")
    assert problems(await audit.verify()) == [(6, "truncated")]


async def test_swapped_seq_numbers_are_found(trails: Trails, schema: str) -> None:
    audit = await trails()
    await fill(audit)
    await db(schema, "UPDATE {table} SET seq = -3 WHERE seq = 3")
    await db(schema, "UPDATE {table} SET seq = 3 WHERE seq = 4")
    await db(schema, "UPDATE {table} SET seq = 4 WHERE seq = -3")
    found = problems(await audit.verify())
    assert (3, "changed") in found
    assert (4, "changed") in found
    assert (3, "broken_link") in found


async def test_a_rewritten_and_rehashed_chain_fails_only_the_hmac(
    trails: Trails, schema: str
) -> None:
    """Someone with write access but not the key rewrites a body and recomputes every
    digest and hash after it: the links hold, the HMACs do not."""
    audit = await trails()
    await fill(audit)
    prev = GENESIS
    for entry in await audit.store.entries():
        body = dict(entry.body or {}, model="gpt-4") if entry.seq == 2 else entry.body
        body_digest = digest(canonical(body))
        hash_hex = entry_hash(prev, entry.seq, entry.at, entry.tenant, entry.kind, body_digest)
        await db(
            schema,
            "UPDATE {table} SET body = %s, body_digest = %s, prev_hash = %s, hash = %s "
            "WHERE seq = %s",
            Jsonb(body),
            body_digest,
            prev,
            hash_hex,
            entry.seq,
        )
        prev = hash_hex
    await db(schema, "UPDATE {head} SET hash = %s", prev)
    plain = AuditTrail(audit.store, None, None)
    assert (await plain.verify()).ok  # why the chain wants an HMAC key
    assert problems(await audit.verify()) == [(n, "bad_hmac") for n in range(2, 7)]


async def test_erasure_removes_the_subject_and_the_chain_still_verifies(
    trails: Trails, schema: str
) -> None:
    audit = await trails()
    await fill(audit)
    alice, bob = audit.subject_ref(ALICE), audit.subject_ref(BOB)
    receipt = await audit.erase(ALICE)

    assert receipt.counts == {"audit": 2}
    assert receipt.subject_ref == alice
    assert audit.receipt_valid(receipt)
    rows = await db(schema, "SELECT seq, subject_ref, erasable, salt FROM {table} ORDER BY seq")
    erased = {1, 4}
    for seq, subject_ref, erasable, salt in rows:
        if seq in erased:
            assert (subject_ref, erasable, salt) == (None, None, None)
    assert rows[1][1] == bob
    assert rows[1][2]["content"]["prompt"] == "Hallo <PERSON_1>"
    everything = await db(schema, "SELECT t::text FROM {table} t")
    dump = " ".join(r[0] for r in everything)
    assert alice not in dump
    assert "PERSON_0" not in dump
    assert ALICE not in dump
    [(action, digest)] = await db(
        schema,
        "SELECT body->>'action', body->'details'->>'receipt' FROM {table} WHERE seq = %s",
        receipt.audit_seq,
    )
    assert (action, digest) == ("subject.erase", receipt.digest)
    report = await audit.verify()
    assert report.ok, report.summary()
    assert report.erased == 2


async def test_purge_keeps_the_chain_verifying(trails: Trails, schema: str) -> None:
    clock = Clock()
    audit = AuditTrail(
        await PostgresAuditStore.open(DSN, schema=schema), HMAC_KEY, SUBJECT_KEY, clock=clock
    )
    try:
        await fill(audit, clock)
        clock.now = T0 + 10.5 * DAY
        # acme keeps 7 days: its entries of days 0, 1 and 3 go; day 4's stay.
        assert await audit.purge_expired({"acme": 7}) == {"acme": 3}
        rows = await db(
            schema, "SELECT seq, tenant, body IS NULL, erasable IS NULL FROM {table} ORDER BY seq"
        )
        assert [r[0] for r in rows if r[2]] == [1, 2, 4]
        assert all(r[3] for r in rows if r[2])
        report = await audit.verify()
        assert report.ok, report.summary()
        assert report.pruned == 3
        # The job's default retention reaches the tenants the mapping does not name.
        assert await audit.store.tenants() == {"acme", "other"}
        assert await audit.purge_expired({"acme": 7}, default_days=5) == {"acme": 0, "other": 1}
        assert (await audit.verify()).ok
        # A pruned row's time moved to dodge a later purge is still a change.
        await db(schema, "UPDATE {table} SET at = at + 1 WHERE seq = 2")
        assert problems(await audit.verify()) == [(2, "changed")]
    finally:
        await audit.close()
