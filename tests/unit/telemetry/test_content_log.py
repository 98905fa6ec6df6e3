"""The content log file: commitments, reading per tenant, retention, erasure per subject,
rewrites seen by open handles, two writers on one file, and damaged lines."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from gateway.telemetry.content_log import ContentEntry, ContentLogUnavailable, FileContentLog

T0 = 1_700_000_000.0
DAY = 86_400.0
ALICE, BOB = "a1" * 32, "b2" * 32  # keyed HMACs of two data subjects


def entry(
    tenant: str = "acme", n: int = 0, *, at: float = T0, subject: str | None = None
) -> ContentEntry:
    return ContentEntry(
        at=at,
        tenant=tenant,
        request_id=f"req-{tenant}-{n}",
        subject_ref=subject,
        policy="gdpr-default@1",
        prompt=["You are helpful.", f"Hallo, ich bin <PERSON_{n}>, IBAN <IBAN>."],
        answer=[f"Hallo <PERSON_{n}>!"],
    )


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[FileContentLog]:
    content = FileContentLog(tmp_path / "sink" / FileContentLog.FILE_NAME)
    yield content
    await content.close()


async def test_append_returns_the_sha256_of_the_stored_line(log: FileContentLog) -> None:
    first, second = entry(n=1, subject=ALICE), entry("other", 2)
    digests = [await log.append(first), await log.append(second)]
    lines = log.path.read_bytes().splitlines()
    assert digests == [hashlib.sha256(line).hexdigest() for line in lines]
    assert [ContentEntry.model_validate(orjson.loads(line)) for line in lines] == [first, second]
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600


async def test_entries_of_one_tenant_or_all(log: FileContentLog) -> None:
    assert await log.entries() == []  # no file yet
    stored = [entry("acme", 1), entry("other", 2), entry("acme", 3)]
    for item in stored:
        await log.append(item)
    assert await log.entries() == stored
    assert await log.entries("acme") == [stored[0], stored[2]]
    assert await log.entries("nobody") == []


async def test_purge_applies_each_tenants_retention_else_the_default(
    log: FileContentLog,
) -> None:
    now = T0 + 100 * DAY
    for tenant in ("short", "long", "plain"):
        for age in (60, 20, 1):
            await log.append(entry(tenant, age, at=now - age * DAY))
    removed = await log.purge({"short": 10, "long": 90, "idle": 30}, 30, now=now)
    assert removed == {"short": 2, "long": 0, "idle": 0, "plain": 1}
    kept = [(e.tenant, e.request_id) for e in await log.entries()]
    assert kept == [
        ("short", "req-short-1"),
        ("long", "req-long-60"),
        ("long", "req-long-20"),
        ("long", "req-long-1"),
        ("plain", "req-plain-20"),
        ("plain", "req-plain-1"),
    ]
    # Without a default, tenants outside the mapping keep everything.
    assert await log.purge({"long": 10}, None, now=now) == {"long": 2}
    assert {e.tenant for e in await log.entries()} == {"short", "long", "plain"}


async def test_erase_removes_one_subjects_entries_and_leaves_the_others(
    log: FileContentLog,
) -> None:
    stored = [
        entry("acme", 1, subject=ALICE),
        entry("acme", 2, subject=BOB),
        entry("other", 3, subject=ALICE),
        entry("acme", 4),
    ]
    for item in stored:
        await log.append(item)
    assert await log.erase(ALICE) == 2
    assert await log.entries() == [stored[1], stored[3]]
    assert await log.erase(ALICE) == 0
    assert b"a1a1" not in log.path.read_bytes()


async def test_an_append_after_a_rewrite_goes_into_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / FileContentLog.FILE_NAME
    writer, eraser = FileContentLog(path), FileContentLog(path)
    try:
        await writer.append(entry(n=1, subject=ALICE))
        await writer.append(entry(n=2))
        old = path.stat().st_ino
        assert await eraser.erase(ALICE) == 1  # another process renames a new file over it
        assert path.stat().st_ino != old
        await writer.append(entry(n=3))  # the writer's open handle is on the replaced inode
        assert [e.request_id for e in await eraser.entries()] == ["req-acme-2", "req-acme-3"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        await writer.close()
        await eraser.close()


async def test_two_writers_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / FileContentLog.FILE_NAME
    first, second = FileContentLog(path), FileContentLog(path)  # two processes' worth
    try:
        digests = await asyncio.gather(
            *(first.append(entry("one", n)) for n in range(50)),
            *(second.append(entry("two", n)) for n in range(50)),
        )
        lines = path.read_bytes().splitlines()
        assert len(lines) == 100
        assert sorted(digests) == sorted(hashlib.sha256(line).hexdigest() for line in lines)
        assert len(await first.entries("one")) == len(await second.entries("two")) == 50
    finally:
        await first.close()
        await second.close()


async def test_a_damaged_line_survives_rewrites_and_is_skipped(log: FileContentLog) -> None:
    await log.append(entry(n=1, subject=ALICE))
    damaged = b'{"at": 1, "tenant": "acme", "prompt": ["<PERSON_1>'  # a torn write
    with log.path.open("ab") as handle:
        handle.write(damaged)  # no newline: the next append must not glue onto it
    await log.append(entry(n=2, subject=BOB))
    assert [e.request_id for e in await log.entries()] == ["req-acme-1", "req-acme-2"]
    assert await log.erase(ALICE) == 1
    assert await log.purge({}, 1, now=T0 + 10 * DAY) == {"acme": 1}
    assert log.path.read_bytes() == damaged + b"\n"
    assert await log.entries() == []


async def test_an_unwritable_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    content = FileContentLog(blocker / FileContentLog.FILE_NAME)
    with pytest.raises(ContentLogUnavailable, match="content log failed"):
        await content.append(entry())
    await content.close()
