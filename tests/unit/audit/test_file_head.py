"""The file audit store's independent head (issue 12): a small signed file beside the chain
with the last entry's seq and hash, so that a cut tail, an emptied or a deleted chain no
longer verify as intact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.audit.file import FileAuditStore, head_path
from gateway.audit.records import AuditUnavailable
from gateway.audit.service import AuditTrail
from tests.unit.audit.test_file_sink import (
    ALICE,
    HMAC_KEY,
    SUBJECT_KEY,
    T0,
    Clock,
    fill,
    lines,
    run_cli,
    trail,
    write_lines,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


async def filled(path: Path) -> AuditTrail:
    clock = Clock()
    audit = trail(path, clock)
    await fill(audit, clock)  # six entries
    return audit


def read_head(path: Path) -> dict[str, Any]:
    head: dict[str, Any] = orjson.loads(head_path(path).read_bytes())
    return head


def delete(path: Path) -> None:
    path.unlink()


async def problems(path: Path, key: bytes | None = HMAC_KEY) -> list[tuple[int, str]]:
    store = FileAuditStore(path, fsync=False)
    report = await AuditTrail(store, key, None).verify()
    await store.close()
    return [(p.seq, p.kind) for p in report.problems]


async def test_each_appended_batch_moves_a_signed_head_beside_the_chain(path: Path) -> None:
    audit = await filled(path)
    last = lines(path)[-1]
    head = read_head(path)
    assert (head["seq"], head["hash"]) == (6, last["hash"])
    assert head["hmac"]
    assert head["hmac"] != last["hmac"]  # signed as a head, not as an entry
    assert await problems(path) == []
    await audit.record_admin("cli", "tenant.create", tenant="x")
    assert read_head(path)["seq"] == 7
    assert await problems(path) == []


async def test_a_cut_tail_is_found(path: Path) -> None:
    await filled(path)
    write_lines(path, lines(path)[:4])
    assert await problems(path) == [(5, "truncated")]


async def test_an_emptied_chain_is_found(path: Path) -> None:
    await filled(path)
    write_lines(path, [])
    assert await problems(path) == [(1, "truncated")]


async def test_a_deleted_chain_is_found(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await filled(path)
    delete(path)
    assert await problems(path) == [(1, "truncated")]
    assert await asyncio.to_thread(run_cli, ["audit", "verify", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out
    assert "the chain is empty" in out


async def test_a_head_rewritten_to_match_a_cut_tail_is_found_by_its_signature(
    path: Path,
) -> None:
    await filled(path)
    rows = lines(path)[:4]
    write_lines(path, rows)
    forged = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"], "hmac": "0" * 64}
    head_path(path).write_bytes(orjson.dumps(forged))
    assert await problems(path) == [(4, "bad_head")]
    # Without the key the head cannot be checked: the cut goes unseen (the key is the point).
    assert await problems(path, key=None) == []


async def test_a_changed_head_is_found(path: Path) -> None:
    await filled(path)
    head = read_head(path)
    head_path(path).write_bytes(orjson.dumps({**head, "seq": 9}))
    assert await problems(path) == [(9, "bad_head"), (7, "truncated")]


async def test_a_missing_head_fails_verification_until_the_next_append_writes_it(
    path: Path,
) -> None:
    """A chain from before heads were kept, or one whose head was deleted: reported, never
    taken as intact; the next append adopts the chain's end as its head."""
    audit = await filled(path)
    head_path(path).unlink()
    assert await problems(path) == [(6, "no_head")]
    await audit.record_admin("cli", "tenant.create", tenant="x")
    assert read_head(path)["seq"] == 7
    assert await problems(path) == []


async def test_an_empty_store_without_a_head_is_intact(path: Path) -> None:
    assert await problems(path) == []


async def test_appends_stop_while_the_chain_and_its_head_disagree(path: Path) -> None:
    """Linking new entries to a cut chain would move the head past the cut and hide it."""
    await filled(path)
    write_lines(path, lines(path)[:4])
    with pytest.raises(AuditUnavailable, match="head"):
        await trail(path).record_admin("cli", "tenant.create", tenant="x")
    assert len(lines(path)) == 4
    assert await problems(path) == [(5, "truncated")]
    delete(path)
    with pytest.raises(AuditUnavailable, match="head"):
        await trail(path).record_admin("cli", "tenant.create", tenant="x")


async def test_purge_and_erasure_keep_the_chain_and_its_head_in_step(path: Path) -> None:
    audit = await filled(path)
    await audit.erase(ALICE)
    await audit.purge_expired({"acme": 2}, now=T0 + 4.5 * 86_400)
    last = lines(path)[-1]
    assert (read_head(path)["seq"], read_head(path)["hash"]) == (last["seq"], last["hash"])
    assert await problems(path) == []
    await audit.record_admin("cli", "tenant.create", tenant="after")
    assert await problems(path) == []


async def test_two_stores_on_one_file_keep_one_head(path: Path) -> None:
    first, second = trail(path), trail(path)

    async def write(audit: AuditTrail, name: str) -> None:
        for i in range(10):
            await audit.record_admin(name, "tenant.update", tenant=f"t{i}")

    await asyncio.gather(write(first, "a"), write(second, "b"))
    assert read_head(path)["seq"] == 20
    assert await problems(path) == []


async def test_a_trail_without_key_writes_an_unsigned_head(path: Path) -> None:
    audit = AuditTrail(FileAuditStore(path, fsync=False), None, SUBJECT_KEY)
    await audit.record_admin("cli", "tenant.create", tenant="a")
    assert read_head(path)["hmac"] is None
    assert await problems(path, key=None) == []
    await audit.close()


async def test_a_head_left_behind_by_a_crash_is_caught_up_by_the_next_append(
    path: Path,
) -> None:
    """The head is written after the batch: a crash in between leaves the chain one batch
    past its head. That verifies (the head's entry is there) and the next append goes on.
    (An older head put back on purpose looks the same: only an anchor kept elsewhere shows
    a rollback.)"""
    audit = await filled(path)
    behind = head_path(path).read_bytes()
    await audit.record_admin("cli", "tenant.create", tenant="x")
    head_path(path).write_bytes(behind)
    assert await problems(path) == []
    await trail(path).record_admin("cli", "tenant.create", tenant="y")
    assert read_head(path)["seq"] == 8
    assert await problems(path) == []
