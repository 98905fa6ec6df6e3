"""One chain per writer, tied by anchors, in the real PostgreSQL at 127.0.0.1:5432 (``test``).

Every test gets its own schema (``audit_test_<random>``), dropped afterwards. Replicas are
``AuditTrail``s on stores of their own (a connection each), appending to chains named after
them; tampering is plain SQL, as someone with database access would do it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from gateway.audit.anchor import anchor_hash
from gateway.audit.chain import EMPTY, GENESIS, draft, link_all
from gateway.audit.postgres import PostgresAuditStore
from gateway.audit.records import AdminAudit, AuditUnavailable
from gateway.audit.service import AuditTrail
from gateway.audit.trail_check import TrailReport, check_trail
from loadtest import audit_append as bench
from loadtest.audit_append import Job, writer_process
from tests.records import usage_record

DSN = "postgresql://postgres@127.0.0.1:5432/test"
HMAC_KEY = b"h" * 32
SUBJECT_KEY = b"s" * 32
ALICE = "alice@example.org"
T0 = 1_700_000_000.0
DAY = 86_400.0

Replicas = Callable[..., Awaitable[AuditTrail]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def db(schema: str, template: str, *params: Any) -> list[tuple[Any, ...]]:
    """SQL on the test's tables: ``{table}``, ``{head}``, ``{anchors}``, ``{anchor_head}``."""
    query = sql.SQL(template).format(
        table=sql.Identifier(schema, "audit_log"),
        head=sql.Identifier(schema, "audit_log_head"),
        anchors=sql.Identifier(schema, "audit_log_anchor"),
        anchor_head=sql.Identifier(schema, "audit_log_anchor_head"),
        schema=sql.Identifier(schema),
    )
    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        cur = await conn.execute(query, params or None)
        return await cur.fetchall() if cur.description else []


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = "audit_test_" + uuid.uuid4().hex[:12]
    yield name
    await db(name, "DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def replicas(schema: str, clock: Clock) -> AsyncIterator[Replicas]:
    """Opens a replica's trail: its own store, connection and chain."""
    opened: list[AuditTrail] = []

    async def open_replica(chain: str, key: bytes | None = HMAC_KEY) -> AuditTrail:
        store = await PostgresAuditStore.open(DSN, schema=schema, chain=chain)
        opened.append(AuditTrail(store, key, SUBJECT_KEY, clock=clock))
        return opened[-1]

    yield open_replica
    for trail in opened:
        await trail.close()


async def write(trail: AuditTrail, count: int, *, tenant: str = "acme", **fields: Any) -> None:
    for i in range(count):
        chain = trail.store.chain
        usage = usage_record(tenant, f"{chain}-{uuid.uuid4().hex[:6]}-{i}", gateway=chain)
        await trail.record_request(usage, **fields)


def found(report: TrailReport) -> set[tuple[str | None, str]]:
    return {(p.chain, p.kind) for p in report.problems}


async def three_anchored(replicas: Replicas) -> list[AuditTrail]:
    """Three replicas with five entries each, anchored, then two more each (unanchored)."""
    trails = [await replicas(name) for name in ("gw-a", "gw-b", "gw-c")]
    await asyncio.gather(*(write(t, 5) for t in trails))
    assert await trails[0].anchor() is not None
    await asyncio.gather(*(write(t, 2) for t in trails))
    return trails


# --- writers side by side --------------------------------------------------------------


async def test_replicas_append_concurrently_to_their_own_chains(
    replicas: Replicas, schema: str
) -> None:
    trails = [await replicas(f"gw-{n}") for n in range(4)]

    async def busy(trail: AuditTrail) -> None:
        for _ in range(6):
            await asyncio.gather(*(write(trail, 1) for _ in range(5)))
            await trail.anchor()  # every replica runs the anchor job too

    await asyncio.gather(*(busy(t) for t in trails))
    rows = await db(schema, "SELECT chain, count(*), max(seq) FROM {table} GROUP BY chain")
    assert sorted(rows) == [(f"gw-{n}", 30, 30) for n in range(4)]
    await trails[0].anchor()
    report = await trails[2].verify()
    assert report.ok, report.summary()
    assert sorted(report.chains) == [f"gw-{n}" for n in range(4)]
    assert report.anchors is not None
    assert report.anchors.entries >= 1
    assert {c: h.seq for c, h in report.anchors.state.items()} == {f"gw-{n}": 30 for n in range(4)}


async def test_no_lock_is_shared_between_chains_on_the_append_path(
    replicas: Replicas, schema: str
) -> None:
    """Another chain's head row held locked (a replica mid-append) does not hold this one."""
    first, second = await replicas("gw-a"), await replicas("gw-b")
    async with await psycopg.AsyncConnection.connect(DSN) as blocker:
        async with blocker.transaction():
            query = sql.SQL("SELECT seq FROM {} WHERE chain = 'gw-b' FOR UPDATE").format(
                sql.Identifier(schema, "audit_log_head")
            )
            await blocker.execute(query)
            await asyncio.wait_for(write(first, 3), timeout=2.0)
            stalled = asyncio.create_task(write(second, 1))
            await asyncio.sleep(0.3)
            assert not stalled.done()  # the same chain still waits for its head, as it must
        await asyncio.wait_for(stalled, timeout=5.0)
    assert (await first.verify()).ok


async def test_writers_in_separate_processes_and_threads_then_verify(schema: str) -> None:
    """Three writer processes (the benchmark's own) and two threads with event loops of their
    own append for a moment; the trail verifies, anchors included."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    jobs = [Job(DSN, schema, "audit_log", f"proc-{n}", 0.5, 32, 0.2) for n in range(3)]
    processes = [ctx.Process(target=writer_process, args=(j, barrier, results)) for j in jobs]
    for process in processes:
        process.start()

    def thread_writer(chain: str) -> None:
        async def run() -> None:
            store = await PostgresAuditStore.open(DSN, schema=schema, chain=chain)
            trail = AuditTrail(store, bench.HMAC_KEY, bench.SUBJECT_KEY)  # the processes' keys
            try:
                await write(trail, 20)
                await trail.anchor()
            finally:
                await trail.close()

        asyncio.run(run())

    threads = [threading.Thread(target=thread_writer, args=(f"thread-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    written = [await asyncio.to_thread(results.get, True, 120) for _ in processes]
    for thread in threads:
        await asyncio.to_thread(thread.join, 60)
    for process in processes:
        await asyncio.to_thread(process.join, 30)
        assert process.exitcode == 0
    assert all(w["records"] > 0 for w in written)
    store = PostgresAuditStore(DSN, schema=schema)
    report = await AuditTrail(store, bench.HMAC_KEY, None).verify()
    await store.close()
    assert report.ok, report.summary()
    assert len(report.chains) == 5
    assert report.anchors is not None
    assert report.anchors.entries >= 1
    assert (await bench.verify_table(DSN, schema, "audit_log")).startswith("intact: 5 chain(s)")
    rows = await db(schema, "SELECT chain, max(seq) = count(*) FROM {table} GROUP BY chain")
    assert sorted(rows) == sorted(
        [(f"proc-{n}", True) for n in range(3)] + [(f"thread-{n}", True) for n in range(2)]
    )


async def test_a_restarted_replica_with_a_configured_id_continues_its_chain(
    replicas: Replicas,
) -> None:
    first = await replicas("gw-0")
    await write(first, 3)
    await first.close()
    again = await replicas("gw-0")
    await write(again, 2)
    assert [e.seq for e in await again.store.entries()] == [1, 2, 3, 4, 5]
    assert (await again.verify()).ok


async def test_the_anchor_job_runs_once_per_interval_across_replicas(replicas: Replicas) -> None:
    trails = [await replicas(f"gw-{n}") for n in range(3)]
    await asyncio.gather(*(write(t, 2) for t in trails))
    made = await asyncio.gather(*(t.anchor(min_gap=60.0) for t in trails))
    assert sum(entry is not None for entry in made) == 1  # one anchors; the others skip
    assert await trails[0].anchor() is None  # nothing moved since: no anchor
    await write(trails[1], 1)
    entry = await trails[2].anchor()
    assert entry is not None
    assert entry.leaves == [("gw-1", 3, entry.leaves[0][2])]
    report = await trails[0].verify()
    assert report.ok, report.summary()
    assert report.anchors is not None
    assert report.anchors.entries == 2


async def test_anchor_forever_anchors_in_the_background(replicas: Replicas) -> None:
    trail = await replicas("gw-a")
    await write(trail, 2)
    job = asyncio.create_task(trail.anchor_forever(0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            report = await trail.verify()
            if report.anchors is not None and report.anchors.entries:
                break
        assert report.anchors is not None
        assert report.anchors.state["gw-a"].seq == 2
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


# --- attacks ---------------------------------------------------------------------------


async def test_a_deleted_middle_row_is_found(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-b' AND seq = 3")
    assert found(await trails[0].verify()) == {("gw-b", "missing")}


async def test_a_deleted_anchored_row_is_found_by_its_leaf(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-b' AND seq = 5")
    report = await trails[0].verify()
    assert found(report) == {("gw-b", "missing"), ("gw-b", "anchor")}
    assert "seq 5, recorded by anchor 1 ((anchors)), is missing" in report.summary()


async def test_a_chains_tail_deleted_with_its_head_row_is_found(
    replicas: Replicas, schema: str
) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-c' AND seq >= 4")
    await db(schema, "DELETE FROM {head} WHERE chain = 'gw-c'")
    report = await trails[0].verify()
    assert found(report) == {("gw-c", "no_head"), ("gw-c", "anchor")}


async def test_a_chains_tail_deleted_with_its_head_moved_back_is_found(
    replicas: Replicas, schema: str
) -> None:
    """The head row rewritten to the cut chain's new end: each chain on its own verifies;
    the anchor, which recorded seq 5, does not."""
    trails = await three_anchored(replicas)
    [(hash_3,)] = await db(schema, "SELECT hash FROM {table} WHERE chain = 'gw-c' AND seq = 3")
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-c' AND seq > 3")
    await db(schema, "UPDATE {head} SET seq = 3, hash = %s WHERE chain = 'gw-c'", hash_3)
    report = await trails[0].verify()
    assert found(report) == {("gw-c", "went_back"), ("gw-c", "anchor")}
    # The anchor job does not take the rolled-back head in: it keeps the anchored leaf.
    await write(trails[0], 1)
    assert await trails[0].anchor() is not None
    later = await trails[0].verify()
    assert found(later) == {("gw-c", "went_back"), ("gw-c", "anchor")}
    assert later.anchors is not None
    assert later.anchors.state["gw-c"].seq == 5


async def test_a_whole_chain_dropped_is_found(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-b'")
    await db(schema, "DELETE FROM {head} WHERE chain = 'gw-b'")
    report = await trails[0].verify()
    assert found(report) == {("gw-b", "vanished")}
    assert "gw-b" in report.chains
    assert "the whole chain was dropped" in report.summary()


async def test_swapped_rows_are_found(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    swap = "UPDATE {table} SET seq = %s WHERE chain = 'gw-a' AND seq = %s"
    await db(schema, swap, -2, 2)
    await db(schema, swap, 2, 3)
    await db(schema, swap, 3, -2)
    report = await trails[0].verify()
    assert ("gw-a", "changed") in found(report)
    assert ("gw-a", "broken_link") in found(report)
    assert {chain for chain, _ in found(report)} == {"gw-a"}


async def test_a_renamed_chain_and_a_row_moved_to_another_chain_are_found(
    replicas: Replicas, schema: str
) -> None:
    """Chains start from a genesis of their own name: nothing moves between chains unseen,
    even before any anchor recorded them."""
    a, b = await replicas("gw-a"), await replicas("gw-b")
    await write(a, 3)
    await write(b, 3)
    await db(schema, "UPDATE {table} SET chain = 'gw-z' WHERE chain = 'gw-b'")
    await db(schema, "UPDATE {head} SET chain = 'gw-z' WHERE chain = 'gw-b'")
    assert found(await a.verify()) == {("gw-z", "broken_link")}
    await db(schema, "UPDATE {table} SET chain = 'gw-b' WHERE chain = 'gw-a' AND seq = 1")
    assert ("gw-b", "broken_link") in found(await a.verify())


async def test_an_edited_anchor_root_is_found(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "UPDATE {anchors} SET root = %s WHERE seq = 1", "ab" * 32)
    report = await trails[0].verify()
    assert found(report) == {("(anchors)", "changed")}


async def test_an_edited_anchor_leaf_is_found_even_when_rehashed(
    replicas: Replicas, schema: str
) -> None:
    """The attacker points gw-a's leaf at seq 4 and recomputes the anchor's hash (no key):
    the root, the HMAC, and the anchor head (and the chain's leaf check) give it away."""
    trails = await three_anchored(replicas)
    [(at, root, leaves)] = await db(schema, "SELECT at, root, leaves FROM {anchors}")
    [(hash_4,)] = await db(schema, "SELECT hash FROM {table} WHERE chain = 'gw-a' AND seq = 4")
    edited = [["gw-a", 4, hash_4] if leaf[0] == "gw-a" else leaf for leaf in leaves]
    rehashed = anchor_hash(GENESIS, 1, at, root, [tuple(leaf) for leaf in edited])
    await db(
        schema, "UPDATE {anchors} SET leaves = %s, hash = %s WHERE seq = 1", Jsonb(edited), rehashed
    )
    await db(schema, "UPDATE {anchor_head} SET hash = %s", rehashed)
    report = await trails[0].verify()
    assert {("(anchors)", "changed"), ("(anchors)", "bad_hmac")} <= found(report)
    assert ("(anchors)", "bad_head") in found(report)


async def test_deleted_anchors_are_found(replicas: Replicas, schema: str) -> None:
    trails = await three_anchored(replicas)
    for n in range(2):
        await write(trails[n], 1)
        assert await trails[0].anchor() is not None
    await db(schema, "DELETE FROM {anchors} WHERE seq = 2")  # a middle one
    assert found(await trails[0].verify()) == {("(anchors)", "missing")}
    await db(schema, "DELETE FROM {anchors} WHERE seq = 3")  # and the last
    assert found(await trails[0].verify()) == {("(anchors)", "truncated")}


async def test_every_anchor_and_the_anchor_head_deleted_need_a_pinned_anchor(
    replicas: Replicas, schema: str
) -> None:
    """With the anchor chain gone whole, only an anchor recorded elsewhere shows it."""
    trails = await three_anchored(replicas)
    pinned = (await trails[0].verify()).anchors
    assert pinned is not None
    assert pinned.last is not None
    await db(schema, "DELETE FROM {anchors}")
    await db(schema, "DELETE FROM {anchor_head}")
    assert (await trails[0].verify()).ok  # nothing left to compare with
    report = await trails[0].verify(anchor=pinned.last)
    assert found(report) == {("(anchors)", "anchor")}


async def test_a_rehashed_chain_fails_its_hmacs_and_its_anchored_leaf(
    replicas: Replicas, schema: str
) -> None:
    trails = await three_anchored(replicas)
    await db(schema, "UPDATE {table} SET hash = md5(hash) || md5(hash) WHERE chain = 'gw-a'")
    kinds = {kind for chain, kind in found(await trails[0].verify()) if chain == "gw-a"}
    assert {"changed", "bad_hmac", "anchor"} <= kinds


# --- retention and erasure across chains -----------------------------------------------


async def test_verify_reads_the_whole_store_at_one_moment(replicas: Replicas, clock: Clock) -> None:
    """Appends, anchors and a purge in another chain, made while verify reads, are not
    seen half: the purge record and the bodies it pruned belong to the same moment."""
    a, b = await replicas("gw-a"), await replicas("gw-b")
    await write(a, 3)
    await write(b, 1)
    await a.anchor()
    async with a.store.snapshot() as reader:
        clock.now = T0 + 10 * DAY
        assert await b.purge_expired({"acme": 1}) == {"acme": 4}
        await write(a, 2)
        await b.anchor()
        report = await check_trail(reader, HMAC_KEY)
    assert report.ok, report.summary()
    assert (report.entries, report.pruned) == (4, 0)
    assert report.anchors is not None
    assert report.anchors.entries == 1
    after = await a.verify()
    assert after.ok, after.summary()
    assert (after.entries, after.pruned) == (7, 4)


async def test_one_purge_record_covers_the_tenants_entries_in_every_chain(
    replicas: Replicas, schema: str, clock: Clock
) -> None:
    a, b = await replicas("gw-a"), await replicas("gw-b")
    for day in range(4):
        clock.now = T0 + day * DAY
        await write(a, 1)
        await write(b, 1)
        await write(b, 1, tenant="other")
    await a.anchor()
    clock.now = T0 + 5.5 * DAY
    assert await a.purge_expired({"acme": 3}) == {"acme": 6}  # days 0-2, both chains
    rows = await db(schema, "SELECT chain, count(*) FROM {table} WHERE body IS NULL GROUP BY 1")
    assert sorted(rows) == [("gw-a", 3), ("gw-b", 3)]
    [(chain, action)] = await db(
        schema, "SELECT chain, body->>'action' FROM {table} WHERE kind = 'admin'"
    )
    assert (chain, action) == ("gw-a", "retention.purge")  # one record, in one chain
    report = await b.verify()
    assert report.ok, report.summary()
    assert report.pruned == 6
    assert report.chains["gw-b"].pruned == 3
    # A body dropped outside any purge, in the chain without the purge record, still shows.
    await db(
        schema,
        "UPDATE {table} SET body = NULL WHERE chain = 'gw-b' AND tenant = 'other' AND seq = 2",
    )
    assert found(await b.verify()) == {("gw-b", "unexplained_prune")}


async def test_erasure_reaches_every_chain_and_the_receipt_names_its_chain(
    replicas: Replicas, schema: str
) -> None:
    a, b, c = await replicas("gw-a"), await replicas("gw-b"), await replicas("gw-c")
    for trail in (a, b, c):
        await write(trail, 2, subject=ALICE, content={"prompt": "Hallo <PERSON_1>"})
        await write(trail, 1, subject="someone-else")
    await a.anchor()
    receipt = await b.erase(ALICE)
    assert receipt.counts == {"audit": 6}
    assert (receipt.audit_chain, receipt.audit_seq) == ("gw-b", 4)
    [(action, digest)] = await db(
        schema,
        "SELECT body->>'action', body->'details'->>'receipt' FROM {table} "
        "WHERE chain = %s AND seq = %s",
        receipt.audit_chain,
        receipt.audit_seq,
    )
    assert (action, digest) == ("subject.erase", receipt.digest)
    dump = " ".join(r[0] for r in await db(schema, "SELECT t::text FROM {table} t"))
    assert a.subject_ref(ALICE) not in dump
    assert "PERSON_1" not in dump
    assert a.subject_ref("someone-else") in dump
    await c.anchor()
    report = await c.verify()
    assert report.ok, report.summary()
    assert report.erased == 6


# --- migration of a single-chain table ---------------------------------------------------

_LEGACY = """
CREATE SCHEMA {schema};
CREATE TABLE {table} (
    seq bigint PRIMARY KEY, at double precision NOT NULL, tenant text, kind text NOT NULL,
    body jsonb, body_digest text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL,
    hmac text, subject_ref text, erasable jsonb, salt bytea
);
CREATE TABLE {head} (
    id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL
);
"""


async def test_a_single_chain_table_becomes_chain_main_and_still_verifies(
    replicas: Replicas, schema: str
) -> None:
    records = [
        AdminAudit(at=T0 + n, actor="admin-1", action="key.issue", target={"key": f"k{n}"})
        for n in range(4)
    ]
    entries = link_all([draft(r, bytes(16), HMAC_KEY) for r in records], EMPTY)
    await db(schema, _LEGACY)
    for e in entries:
        await db(
            schema,
            "INSERT INTO {table} (seq, at, tenant, kind, body, body_digest, prev_hash, hash, "
            "hmac) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            *(e.seq, e.at, e.tenant, e.kind, Jsonb(e.body), e.body_digest, e.prev_hash),
            *(e.hash, e.hmac),
        )
    await db(schema, "INSERT INTO {head} VALUES (1, 4, %s)", entries[-1].hash)

    trail = await replicas("gw-a")  # migrates
    await write(trail, 2)
    # A replica of the previous version, mid rolling upgrade, still appends to chain main.
    [(seq, hash_hex)] = await db(schema, "SELECT seq, hash FROM {head} WHERE id = 1")
    [old] = link_all(
        [draft(records[0], bytes(16), HMAC_KEY)],
        EMPTY.model_copy(update={"seq": seq, "hash": hash_hex}),
    )
    await db(
        schema,
        "INSERT INTO {table} (seq, at, tenant, kind, body, body_digest, prev_hash, hash, hmac) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        *(old.seq, old.at, old.tenant, old.kind, Jsonb(old.body), old.body_digest),
        *(old.prev_hash, old.hash, old.hmac),
    )
    await db(schema, "UPDATE {head} SET seq = %s, hash = %s WHERE id = 1", old.seq, old.hash)

    assert await trail.anchor() is not None
    report = await trail.verify()
    assert report.ok, report.summary()
    assert {name: r.entries for name, r in report.chains.items()} == {"main": 5, "gw-a": 2}
    assert report.anchors is not None
    assert report.anchors.state["main"].seq == 5
    await db(schema, "DELETE FROM {table} WHERE chain = 'main' AND seq = 2")
    assert found(await trail.verify()) == {("main", "missing")}


async def test_a_missing_head_row_stops_appends(replicas: Replicas, schema: str) -> None:
    trail = await replicas("gw-a")
    await write(trail, 1)
    await db(schema, "DELETE FROM {head} WHERE chain = 'gw-a'")
    with pytest.raises(AuditUnavailable, match="head row of audit chain 'gw-a' is missing"):
        await write(trail, 1)


async def test_the_cli_prints_every_chain_and_the_anchor_check(
    replicas: Replicas, schema: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import base64

    from gateway import audit_cli
    from gateway.cli import main as run_cli

    monkeypatch.setenv(audit_cli.HMAC_KEY_ENV, base64.b64encode(HMAC_KEY).decode())
    await three_anchored(replicas)
    store = ["--dsn", DSN, "--schema", schema]

    def cli(*argv: str) -> int:
        return run_cli(["audit", *argv, *store])

    assert await asyncio.to_thread(cli, "anchor") == 0
    assert "anchor 2:" in capsys.readouterr().out
    assert await asyncio.to_thread(cli, "verify") == 0
    out = capsys.readouterr().out
    assert out.startswith("intact: 4 chain(s), 21 entries")  # with the CLI's own chain
    assert "anchor chain intact: 2 anchors, last 2:" in out
    assert "chain 'gw-b': intact: 7 entries" in out
    assert "anchored to seq 7" in out
    pinned = out.split("last ", 1)[1].split(",", 1)[0]
    chain_pin = "gw-a@" + out.split("chain 'gw-a': intact: 7 entries, last ", 1)[1][:66]
    await db(schema, "DELETE FROM {anchors} WHERE seq = 2")
    await db(schema, "UPDATE {anchor_head} SET seq = 1, hash = (SELECT hash FROM {anchors})")
    await db(schema, "DELETE FROM {table} WHERE chain = 'gw-a' AND seq = 7")
    await db(schema, "UPDATE {head} SET seq = 6, hash = (SELECT hash FROM {table} "
             "WHERE chain = 'gw-a' AND seq = 6) WHERE chain = 'gw-a'")  # fmt: skip
    code = await asyncio.to_thread(cli, "verify", "--anchor", pinned, "--anchor", chain_pin)
    out = capsys.readouterr().out
    assert code == 1
    assert "TAMPERED" in out
    assert "anchor 2: anchor: the pinned anchor seq 2 is missing" in out
    assert "seq 7: anchor: the anchored entry seq 7 is missing" in out


async def test_the_gateway_appends_to_its_replicas_chain_and_the_cli_to_its_own(
    schema: str, tmp_path: Any
) -> None:
    """As configured: the replica's id names its chain (or ``telemetry.audit.chain``), in
    ``telemetry.audit.schema_name``; the CLIs that record admin changes share ``cli``."""
    from gateway.settings import Settings
    from gateway.telemetry.hub import build_observability, open_audit_trail

    sink = {"jurisdiction": "DE", "operator": "self", "dsn": DSN, "schema_name": schema}
    telemetry = {"audit": sink, "audit_dir": str(tmp_path)}
    settings = Settings(telemetry=telemetry, metering={"gateway_id": "gw-7"})
    hub = await build_observability(settings, "gw-7")
    named = await build_observability(
        Settings(telemetry={**telemetry, "audit": {**sink, "chain": "zone-a"}}), "gw-8"
    )
    cli = await open_audit_trail(settings)
    try:
        assert (hub.audit.store.chain, named.audit.store.chain, cli.store.chain) == (
            "gw-7",
            "zone-a",
            "cli",
        )
        await hub.admin_action("tenant.create", "acme", {"tenant": "acme"}, [], actor="admin-token")
        await cli.record_admin("cli", "key.issue", tenant="acme")
        assert await hub.audit.anchor() is not None
        report = await cli.verify()
        assert report.ok, report.summary()
        assert {n: r.entries for n, r in report.chains.items()} == {
            "cli": 1,
            "gw-7": 1,
            "zone-a": 0,
        }
    finally:
        await hub.close()
        await named.close()
        await cli.close()
