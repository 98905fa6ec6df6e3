"""The audit browser over the embedded file store, and the views made of its entries: what an
entry shows (never its subject or content), and an erasure as the chain recorded it."""

from __future__ import annotations

from pathlib import Path

from gateway.admin.views import AuditEntryView, ErasureEntry
from gateway.audit.browse import RecordQuery
from gateway.audit.file import FileAuditStore
from gateway.audit.service import ERASE_ACTION, AuditTrail
from tests.admin.test_insight import DAY0, record


async def test_newest_first_filtered_and_shown_without_subjects(tmp_path: Path) -> None:
    trail = AuditTrail(FileAuditStore(tmp_path / "audit.jsonl"), b"k" * 32, b"s" * 32)
    try:
        await trail.record_admin("token:a", "key.issue", tenant="acme", target={"key": "k1"})
        await trail.record_request(
            record(DAY0, request_id="r1", pii="prompt:PERSON:mask=1"),
            subject="kundin-4711",
            content={"prompt": "masked"},
        )
        await trail.record_request(record(DAY0, request_id="r2", tenant="globex"))
        receipt = await trail.erase("kundin-4711", actor="oidc:corp:dora")

        every = await trail.newest(RecordQuery())
        assert [f.entry.seq for f in every] == [4, 3, 2, 1]
        assert {f.chain for f in every} == {"main"}
        acme = await trail.newest(RecordQuery(tenants=frozenset({"acme"})))
        assert [f.entry.seq for f in acme] == [2, 1]  # the erasure is gateway-wide: not a tenant's
        requests = await trail.newest(RecordQuery(kind="request", limit=1))
        assert [f.entry.seq for f in requests] == [3]

        (erased,) = [AuditEntryView.of(f) for f in every if f.entry.seq == 2]
        assert (erased.request_id, erased.erasable, erased.pii) == (
            "r1",
            "erased",
            "prompt:PERSON:mask=1",
        )
        assert erased.actor is None
        shown = erased.model_dump()
        assert "subject_ref" not in shown
        assert "content" not in shown
        assert AuditEntryView.of(every[1]).erasable is None  # r2 named no subject
        admin = AuditEntryView.of(every[-1])
        assert (admin.actor, admin.action, admin.target) == ("token:a", "key.issue", {"key": "k1"})

        (erasure,) = await trail.newest(RecordQuery(action=ERASE_ACTION))
        entry = ErasureEntry.of(erasure)
        assert (entry.actor, entry.digest, entry.seq) == ("oidc:corp:dora", receipt.digest, 4)
        assert entry.counts == receipt.counts
        assert "kundin" not in entry.model_dump_json()
    finally:
        await trail.close()


async def test_an_empty_or_missing_file_lists_nothing(tmp_path: Path) -> None:
    store = FileAuditStore(tmp_path / "none.jsonl")
    assert await store.newest(RecordQuery()) == []
