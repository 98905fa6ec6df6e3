"""The JSON Lines sink behind ``AuditTrail``: round trip, tampering with the file, erasure,
retention, two writers on one file, and the ``audit`` commands."""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from gateway import audit_cli
from gateway.audit.chain import ChainEntry, Draft
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.records import AdminAudit, AuditUnavailable, RequestAudit
from gateway.audit.service import AuditTrail
from tests.records import usage_record

HMAC_KEY = b"h" * 32
SUBJECT_KEY = b"s" * 32
ALICE, BOB = "alice@example.org", "user-4711"
T0 = 1_700_000_000.0
DAY = 86_400.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trail(path: Path, clock: Clock | None = None, **options: Any) -> AuditTrail:
    return AuditTrail(
        FileAuditStore(path, fsync=False), HMAC_KEY, SUBJECT_KEY, clock=clock or Clock(), **options
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


async def fill(audit: AuditTrail, clock: Clock) -> None:
    """Requests of Alice (with content), of Bob, without a subject, and one admin action."""
    for n, (tenant, subject) in enumerate(
        [("acme", ALICE), ("acme", BOB), ("acme", None), ("other", ALICE), ("acme", ALICE)]
    ):
        clock.now = T0 + n * DAY
        content = {"prompt": f"Hallo <PERSON_{n}>"} if subject else None
        await audit.record_request(
            usage_record(tenant, f"req-{n}"), subject=subject, content=content
        )
    await audit.record_admin("admin-1", "key.issue", tenant="acme", target={"key": "k2"})


async def test_records_round_trip_one_line_each_without_raw_subjects(tmp_path: Path) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    audit = trail(path, clock)
    usage = usage_record("acme", "req-1", policy="gdpr-default@1", pii="prompt:PERSON:mask=1")
    entry = await audit.record_request(usage, subject=ALICE, content={"prompt": "Hi <PERSON_1>"})
    admin = await audit.record_admin(
        "admin-1", "key.revoke", tenant="acme", target={"key": "k1"}, fields=["revoked_at"]
    )
    assert [entry.seq, admin.seq] == [1, 2]
    stored = await audit.store.entries()
    assert stored == [entry, admin]
    request = stored[0].record()
    assert isinstance(request, RequestAudit)
    assert (request.request_id, request.pool, request.jurisdiction) == (
        "req-1",
        "de-muc-b200",
        "DE",
    )
    assert request.pii == "prompt:PERSON:mask=1"
    assert request.subject_ref == audit.subject_ref(ALICE) != ALICE
    assert request.at == T0
    assert isinstance(stored[1].record(), AdminAudit)
    assert len(lines(path)) == 2
    assert ALICE not in path.read_text()
    assert (await audit.verify()).ok
    assert await audit.store.entries(after_seq=1) == [admin]


async def test_an_edited_line_is_found(tmp_path: Path) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    await fill(trail(path, clock), clock)
    rows = lines(path)
    rows[2]["body"]["jurisdiction"] = "US"
    write_lines(path, rows)
    report = await trail(path).verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "changed")]


async def test_removed_and_swapped_lines_are_found(tmp_path: Path) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    await fill(trail(path, clock), clock)
    rows = lines(path)
    write_lines(path, rows[:1] + rows[2:])
    assert [p.kind for p in (await trail(path).verify()).problems] == ["missing"]
    write_lines(path, [rows[0], rows[2], rows[1], *rows[3:]])
    kinds = [p.kind for p in (await trail(path).verify()).problems]
    assert kinds == ["missing", "reordered"]


async def test_erasure_removes_the_subjects_data_and_the_chain_still_verifies(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    seen: list[tuple[str, str]] = []

    async def ledger_eraser(raw: str, ref: str) -> int:
        seen.append((raw, ref))
        return 7

    audit = trail(path, clock, erasers={"ledger": ledger_eraser})
    await fill(audit, clock)
    alice = audit.subject_ref(ALICE)
    receipt = await audit.erase(ALICE)

    assert receipt.counts == {"audit": 3, "ledger": 7}
    assert receipt.subject_ref == alice
    assert seen == [(ALICE, alice)]
    assert audit.receipt_valid(receipt)
    assert not audit.receipt_valid(receipt.model_copy(update={"counts": {"audit": 0}}))
    text = path.read_text()
    assert alice not in text
    assert "PERSON_0" not in text
    assert "PERSON_3" not in text
    assert "PERSON_1" in text  # Bob's content stays
    entries = await audit.store.entries()
    assert [e.seq for e in entries if e.erased] == [1, 4, 5]
    record = entries[1].record()
    assert record is not None
    assert record.subject_ref == audit.subject_ref(BOB)
    erase_entry = entries[receipt.audit_seq - 1]
    assert erase_entry.body is not None
    assert erase_entry.body["action"] == "subject.erase"
    assert erase_entry.body["details"]["receipt"] == receipt.digest
    report = await audit.verify()
    assert report.ok
    assert report.erased == 3


async def test_purge_prunes_old_entries_of_one_tenant_and_the_chain_still_verifies(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    audit = trail(path, clock)
    await fill(audit, clock)
    # Entries at T0 + 0..4 days; acme keeps 2 days, seen on day 4.5: days 0, 1, 2 go.
    pruned = await audit.purge_expired({"acme": 2}, now=T0 + 4.5 * DAY)
    assert pruned == {"acme": 3}
    entries = await audit.store.entries()
    assert [e.seq for e in entries if e.pruned] == [1, 2, 3]
    assert all(e.tenant == "acme" for e in entries if e.pruned)
    assert entries[3].record() is not None  # the other tenant's old entry stays
    assert audit.subject_ref(ALICE) in {e.subject_ref for e in entries}  # acme's day 4
    report = await audit.verify()
    assert report.ok
    assert report.pruned == 3
    # Pruned a second time by hand, outside a purge: found.
    rows = lines(path)
    rows[4]["body"] = rows[4]["erasable"] = rows[4]["salt"] = None
    write_lines(path, rows)
    report = await audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(5, "unexplained_prune")]


async def test_two_stores_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """Two processes' stores (here two instances) interleave appends on the same file."""
    path = tmp_path / "audit.jsonl"
    first, second = trail(path), trail(path)

    async def write(audit: AuditTrail, name: str) -> list[ChainEntry]:
        return [await audit.record_admin(name, "tenant.update", tenant=f"t{i}") for i in range(20)]

    a, b = await asyncio.gather(write(first, "a"), write(second, "b"))
    assert sorted(e.seq for e in a + b) == list(range(1, 41))
    report = await first.verify()
    assert report.ok
    assert report.entries == 40


class CountingStore(FileAuditStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, fsync=False)
        self.batches: list[int] = []

    async def append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        self.batches.append(len(drafts))
        return await super().append(drafts)


async def test_records_arriving_together_are_written_in_one_batch(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "audit.jsonl")
    audit = AuditTrail(store, HMAC_KEY, None)
    entries = await asyncio.gather(
        *(audit.record_admin("cli", "tenant.create", tenant=f"t{i}") for i in range(50))
    )
    assert [e.seq for e in entries] == list(range(1, 51))
    assert [e.tenant for e in entries] == [f"t{i}" for i in range(50)]
    assert sum(store.batches) == 50
    assert len(store.batches) < 50
    assert (await audit.verify()).ok


async def test_a_queued_group_is_written_together_and_settles_one_future(
    tmp_path: Path,
) -> None:
    """A telemetry flush queues its batch as one group: one write, one future for the event
    loop to settle (not one per record), never split across writes."""
    store = CountingStore(tmp_path / "audit.jsonl")
    audit = AuditTrail(store, HMAC_KEY, SUBJECT_KEY, max_batch=3)
    flush = [audit.seal_request(usage_record("acme", f"req-{i}")) for i in range(5)]
    later = [audit.seal_request(usage_record("acme", f"req-{i}")) for i in (5, 6)]

    first, second = audit.enqueue(flush), audit.enqueue(later)  # in the same loop turn

    entries = await first
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]  # in order, larger than max_batch
    assert [e.seq for e in await second] == [6, 7]
    assert store.batches == [5, 2]  # the second group did not fit beside the first
    assert (await audit.enqueue([])) == []
    assert (await audit.verify()).ok


async def test_the_open_file_follows_a_rewrite_by_another_process(tmp_path: Path) -> None:
    """Appends keep the file open; a purge elsewhere renames a new file over it, and the
    next append must go into that new file and link to its last entry."""
    path = tmp_path / "audit.jsonl"
    mine, theirs = AuditTrail(FileAuditStore(path), HMAC_KEY, None), trail(path)
    await mine.record_admin("cli", "tenant.create", tenant="a")
    await theirs.purge_expired({"a": 1.0}, now=10**10)  # rewrites the file (prunes "a")
    await mine.record_admin("cli", "tenant.create", tenant="b")
    seqs = [e["seq"] for e in lines(path)]
    assert seqs == [1, 2, 3]
    assert (await mine.verify()).ok
    await mine.close()


async def test_a_failing_store_fails_every_record_of_its_batch(tmp_path: Path) -> None:
    audit = AuditTrail(FileAuditStore(tmp_path), HMAC_KEY, None)  # a folder: cannot append
    results = await asyncio.gather(
        *(audit.record_admin("cli", "key.issue") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, AuditUnavailable) for r in results)


async def test_a_damaged_last_line_stops_appends_and_shows_in_verify(tmp_path: Path) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock()
    audit = trail(path, clock)
    await fill(audit, clock)
    with path.open("ab") as out:
        out.write(b'{"seq": 7, "at": ')  # a torn write
    with pytest.raises(AuditUnavailable, match="damaged line"):
        await trail(path).record_admin("cli", "tenant.create", tenant="x")
    report = await trail(path).verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(7, "unreadable")]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sovereign-gateway")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(audit_cli.HMAC_KEY_ENV, base64.b64encode(HMAC_KEY).decode())
    monkeypatch.setenv(audit_cli.SUBJECT_KEY_ENV, base64.b64encode(SUBJECT_KEY).decode())


async def test_cli_verify_purge_and_erase(
    tmp_path: Path, keys_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path, clock = tmp_path / "audit.jsonl", Clock(T0)
    await fill(trail(path, clock), clock)
    file_args = ["--file", str(path)]

    def cli(*argv: str) -> int:
        # The commands run their own event loop, as they do from a shell.
        return run_cli([*argv[:2], *file_args, *argv[2:]])

    assert await asyncio.to_thread(cli, "audit", "verify") == 0
    out = capsys.readouterr().out
    assert "intact: 6 entries" in out
    anchor = out.split("last ", 1)[1].split(";", 1)[0]  # SEQ:HASH, kept elsewhere

    assert await asyncio.to_thread(cli, "audit", "erase", "--subject", ALICE) == 0
    receipt = orjson.loads(capsys.readouterr().out)
    assert receipt["counts"] == {"audit": 3}
    assert receipt["subject_ref"] == trail(path).subject_ref(ALICE)

    assert (
        await asyncio.to_thread(cli, "audit", "purge", "--tenant", "acme", "--older-than-days", "1")
        == 0
    )
    assert "tenant acme: pruned 5 entries" in capsys.readouterr().out
    assert await asyncio.to_thread(cli, "audit", "verify") == 0
    capsys.readouterr()

    rows = lines(path)
    rows[3]["body"]["model"] = "gpt-4"
    write_lines(path, rows[:5])  # one line changed, and the tail cut off
    assert await asyncio.to_thread(cli, "audit", "verify", "--anchor", anchor) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out
    assert "seq 4: changed" in out
    assert "seq 6: anchor: the anchored entry seq 6 is missing" in out


async def test_cli_purge_with_a_configuration_applies_every_tenants_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """acme keeps 3 days, other tenants the default of telemetry.retention_days."""
    monkeypatch.delenv(audit_cli.HMAC_KEY_ENV, raising=False)
    path, clock = tmp_path / "audit" / FILE_NAME, Clock(T0)
    path.parent.mkdir()
    await fill(trail(path, clock), clock)
    sink = {"jurisdiction": "DE", "operator": "self", "path": str(path)}
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telemetry": {
                    "audit": {**sink, "hmac_key": base64.b64encode(HMAC_KEY).decode()},
                    "retention_days": 100_000,
                },
                "tenants": [{"id": "acme", "retention_days": 3}],
            }
        )
    )
    assert await asyncio.to_thread(run_cli, ["audit", "purge", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "tenant acme: pruned 5 entries past its retention",
        "tenant other: pruned 0 entries past its retention",
    ]
    assert await asyncio.to_thread(run_cli, ["audit", "verify", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "HMAC checked" in out
    assert "5 pruned" in out
    # Without the sink declared, the embedded file under telemetry.audit_dir is the store.
    config.write_text(yaml.safe_dump({"telemetry": {"audit_dir": str(path.parent)}}))
    assert await asyncio.to_thread(run_cli, ["audit", "verify", "--config", str(config)]) == 0
    assert "intact: 8 entries" in capsys.readouterr().out


def test_cli_refuses_without_a_store_or_a_subject_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["audit", "verify"]) == 2
    assert "one of --config, --dsn or --file" in capsys.readouterr().err
    monkeypatch.delenv(audit_cli.SUBJECT_KEY_ENV, raising=False)
    path = str(tmp_path / "audit.jsonl")
    assert run_cli(["audit", "erase", "--file", path, "--subject", ALICE]) == 2
    assert audit_cli.SUBJECT_KEY_ENV in capsys.readouterr().err
