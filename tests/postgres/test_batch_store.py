"""The batch store's contract, one test body against both stores: a directory and the real
PostgreSQL at 127.0.0.1:5432 (database ``test``, a schema per test, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gateway.batches.directory_store import DirectoryBatchStore
from gateway.batches.models import (
    LineResult,
    RequestCounts,
    StoredBatch,
    StoredFile,
    new_batch_id,
    new_file_id,
)
from gateway.batches.postgres_store import PostgresBatchStore
from gateway.batches.store import BatchStore

DSN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = 1_700_000_000.0


@pytest.fixture(params=["directory", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BatchStore]:
    if request.param == "directory":
        yield DirectoryBatchStore(tmp_path / "batches")
        return
    schema = "batches_" + uuid.uuid4().hex[:12]
    opened = await PostgresBatchStore.open(DSN, schema)
    try:
        yield opened
    finally:
        await opened.close()
        async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


def a_file(
    tenant: str = "acme", refs: list[str] | None = None, until: float = T0 + 100
) -> StoredFile:
    return StoredFile(
        id=new_file_id(), tenant=tenant, subject_refs=refs or [], delete_after=until,
        bytes=3, created_at=int(T0), filename="r.jsonl", purpose="batch", lines=1,
    )  # fmt: skip


def a_batch(
    tenant: str = "acme", refs: list[str] | None = None, until: float = T0 + 100
) -> StoredBatch:
    return StoredBatch(
        id=new_batch_id(), tenant=tenant, key_id="k1", subject_refs=refs or [],
        delete_after=until, endpoint="/v1/chat/completions", input_file_id=new_file_id(),
        completion_window="24h", status="in_progress", created_at=int(T0),
        expires_at=int(T0) + 86_400,
    )  # fmt: skip


def result(index: int, ok: bool = True) -> LineResult:
    return LineResult(index=index, ok=ok, line={"custom_id": str(index)})


async def test_files_are_kept_per_tenant(store: BatchStore) -> None:
    file = a_file()
    await store.put_file(file, b"{}\n")
    assert await store.file("acme", file.id) == file
    assert await store.content("acme", file.id) == b"{}\n"
    assert [f.id for f in await store.files("acme")] == [file.id]
    # Another tenant's id is not there; nor is anything that is not an id of ours.
    assert await store.file("other", file.id) is None
    assert await store.content("other", file.id) is None
    assert await store.delete_file("other", file.id) is False
    assert await store.files("other") == []
    assert await store.file("acme", "../acme/files/" + file.id) is None
    assert await store.delete_file("acme", file.id) is True
    assert await store.file("acme", file.id) is None
    assert await store.delete_file("acme", file.id) is False


async def test_a_cancel_survives_the_runner_saving_its_progress(store: BatchStore) -> None:
    batch = a_batch()
    await store.put_batch(batch)
    assert await store.batch("acme", batch.id) == batch
    assert await store.batch("other", batch.id) is None
    assert await store.request_cancel("other", batch.id, 5) is False
    assert await store.request_cancel("acme", batch.id, 5) is True
    assert await store.request_cancel("acme", batch.id, 9) is True  # the first one is kept
    # The runner, unaware, saves its progress over the record.
    await store.put_batch(batch.model_copy(update={"request_counts": RequestCounts(total=3)}))
    seen = await store.batch("acme", batch.id)
    assert seen is not None
    assert (seen.status, seen.cancelling_at, seen.request_counts.total) == ("cancelling", 5, 3)
    assert [b.id for b in await store.unfinished()] == [batch.id]
    assert await store.update_batch(batch.model_copy(update={"status": "cancelled"}))
    ended = await store.batch("acme", batch.id)
    assert ended is not None
    assert ended.status == "cancelled"
    assert await store.unfinished() == []
    assert [b.id for b in await store.batches("acme")] == [batch.id]


async def test_results_keep_the_last_one_per_line(store: BatchStore) -> None:
    batch = a_batch()
    await store.put_batch(batch)
    for r in (result(2), result(0, ok=False), result(0)):
        await store.add_result("acme", batch.id, r)
    assert [(r.index, r.ok) for r in await store.results("acme", batch.id)] == [
        (0, True),
        (2, True),
    ]
    assert await store.results("other", batch.id) == []
    # A batch that is gone gets nothing written back.
    await store.erase_tenant("acme")
    await store.add_result("acme", batch.id, result(1))
    assert await store.results("acme", batch.id) == []
    assert await store.update_batch(batch) is False
    assert await store.batch("acme", batch.id) is None


async def test_one_lease_at_a_time_and_taken_over_once_it_ends(store: BatchStore) -> None:
    batch = a_batch()
    await store.put_batch(batch)
    assert await store.claim(batch.id, "w1", T0, T0 + 30)
    assert not await store.claim(batch.id, "w2", T0 + 1, T0 + 31)
    assert await store.claim(batch.id, "w1", T0 + 10, T0 + 40)  # renewed
    assert not await store.claim(batch.id, "w2", T0 + 35, T0 + 65)
    assert await store.claim(batch.id, "w2", T0 + 40, T0 + 70)  # w1's ended
    await store.release(batch.id, "w1")  # not w1's any more: nothing happens
    assert not await store.claim(batch.id, "w1", T0 + 41, T0 + 71)
    await store.release(batch.id, "w2")
    assert await store.claim(batch.id, "w1", T0 + 42, T0 + 72)


async def test_retention_and_erasure_delete_files_and_batches_whole(store: BatchStore) -> None:
    old, kept = a_file(until=T0 + 10), a_file(until=T0 + 1000)
    old_batch = a_batch(until=T0 + 10)
    for f in (old, kept):
        await store.put_file(f, b"x")
    await store.put_batch(old_batch)
    await store.add_result("acme", old_batch.id, result(0))
    assert await store.delete_expired(T0 + 20) == 2
    assert await store.file("acme", old.id) is None
    assert await store.batch("acme", old_batch.id) is None
    assert await store.results("acme", old_batch.id) == []
    assert await store.file("acme", kept.id) is not None

    about_alice = a_file(refs=["ref-alice"])
    alice_batch = a_batch(refs=["ref-alice", "ref-bob"])
    bob_file = a_file(refs=["ref-bob"])
    for f in (about_alice, bob_file):
        await store.put_file(f, b"x")
    await store.put_batch(alice_batch)
    assert await store.erase_subject("ref-alice") == 2
    assert await store.file("acme", about_alice.id) is None
    assert await store.batch("acme", alice_batch.id) is None
    assert await store.file("acme", bob_file.id) is not None

    theirs = a_file(tenant="other")
    await store.put_file(theirs, b"x")
    await store.put_batch(a_batch())
    assert await store.erase_tenant(":") == 0  # no tenant's id: nothing, and no error
    assert await store.erase_tenant("acme") == 3  # kept, bob_file, the batch
    assert await store.files("acme") == []
    assert await store.batches("acme") == []
    assert await store.file("other", theirs.id) is not None
