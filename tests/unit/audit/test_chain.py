"""The hash chain, pure: sealing, and every kind of tampering ``verify`` must find."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import orjson

from gateway.audit.chain import EMPTY as GENESIS_HEAD
from gateway.audit.chain import (
    PURGE_ACTION,
    ChainEntry,
    Unreadable,
    canonical,
    digest,
    draft,
    entry_hash,
    verify,
)
from gateway.audit.records import AdminAudit, AuditRecord, RequestAudit

KEY = b"audit-hmac-key-for-tests-000000"
SUBJECT = "f" * 64  # a subject_ref: an HMAC, never the raw identifier
DAY = 86_400.0


def request(
    n: int, *, tenant: str = "acme", subject: str | None = None, **over: Any
) -> RequestAudit:
    fields: dict[str, Any] = {
        "at": 1_700_000_000.0 + n,
        "tenant": tenant,
        "request_id": f"req-{n}",
        "key_id": "k1",
        "gateway": "gw-1",
        "endpoint": "chat.completions",
        "model": "smollm2",
        "pool": "de-muc-b200",
        "site": "de-muc-1",
        "jurisdiction": "DE",
        "engine": "http://de-1.engine:8000",
        "status": "ok",
        "http_status": 200,
        "policy": "gdpr-default@1",
        "policy_mode": "enforce",
        "pii": "prompt:PERSON:pseudonymize=1",
        "started_at": 1_700_000_000.25 + n,
        "duration_ms": 123.456,
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "subject_ref": subject,
        "content": {"prompt": "Hallo <PERSON_1>"} if subject else None,
    }
    return RequestAudit(**{**fields, **over})


def seal(records: list[AuditRecord], key: bytes | None = None) -> list[ChainEntry]:
    salts = (i.to_bytes(16, "big") for i in itertools.count(1))
    head, entries = GENESIS_HEAD, []
    for record in records:
        entry = draft(record, next(salts), key).link(head)
        entries.append(entry)
        head = entry.head
    return entries


def chain(n: int = 5, key: bytes | None = None) -> list[ChainEntry]:
    return seal([request(i, subject=SUBJECT if i % 2 else None) for i in range(1, n + 1)], key)


def replace(entries: list[ChainEntry], seq: int, **update: Any) -> list[ChainEntry]:
    return [e.model_copy(update=update) if e.seq == seq else e for e in entries]


def kinds(entries: list[Any], key: bytes | None = None) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in verify(entries, key).problems]


def test_a_sealed_chain_links_every_entry_and_verifies() -> None:
    entries = chain(5, KEY)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HEAD.hash
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    report = verify(entries, KEY)
    assert report.ok
    assert report.entries == 5
    assert report.hmac_checked
    assert report.last == entries[-1].head
    assert "intact: 5 entries" in report.summary()


def test_entries_give_back_the_records_and_keep_the_erasable_part_out_of_the_hash() -> None:
    record = request(1, subject=SUBJECT)
    entry = seal([record])[0]
    assert entry.record() == record
    assert entry.body is not None
    assert "subject_ref" not in entry.body
    assert "content" not in entry.body
    assert SUBJECT not in orjson.dumps(entry.body).decode()
    assert entry.subject_ref == SUBJECT


def test_a_changed_body_field_is_found_at_its_seq() -> None:
    entries = chain()
    body = dict(entries[2].body or {}, jurisdiction="US")
    report = verify(replace(entries, 3, body=body))
    assert not report.ok
    assert report.first_bad_seq == 3
    assert kinds(replace(entries, 3, body=body)) == [(3, "changed")]
    assert "TAMPERED" in report.summary()
    assert "seq 3" in report.summary()


def test_a_changed_header_is_found() -> None:
    entries = chain()
    assert kinds(replace(entries, 2, tenant="other")) == [(2, "changed")]
    assert kinds(replace(entries, 4, at=1.0)) == [(4, "changed")]


def test_changed_erasable_fields_are_found() -> None:
    entries = chain()
    forged = {"subject_ref": "0" * 64, "content": {"prompt": "something else"}}
    assert kinds(replace(entries, 3, erasable=forged)) == [(3, "changed")]


def test_a_removed_record_is_found() -> None:
    entries = chain()
    report = verify(entries[:2] + entries[3:])
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "missing")]
    assert "seq 3..3 absent" in report.problems[0].message


def test_swapped_records_are_found() -> None:
    entries = chain()
    swapped = [entries[0], entries[2], entries[1], *entries[3:]]
    assert kinds(swapped) == [(3, "missing"), (2, "reordered")]


def test_swapped_seq_numbers_are_found() -> None:
    """What swapping two rows' seq in a table looks like, read back in seq order."""
    entries = chain()
    two, three = entries[1], entries[2]
    relabelled = [
        entries[0],
        three.model_copy(update={"seq": 2}),
        two.model_copy(update={"seq": 3}),
    ]
    problems = kinds(relabelled + entries[3:])
    assert (2, "changed") in problems
    assert (3, "changed") in problems
    assert (2, "broken_link") in problems
    assert (4, "broken_link") in problems


def rehashed(entries: list[ChainEntry], seq: int, body: dict[str, Any]) -> list[ChainEntry]:
    """An attacker without the key rewrites a body and recomputes every hash after it."""
    out, prev = [], GENESIS_HEAD.hash
    for e in entries:
        new_body = body if e.seq == seq else e.body
        body_digest = digest(canonical(new_body))
        hash_hex = entry_hash(prev, e.seq, e.at, e.tenant, e.kind, body_digest)
        out.append(
            e.model_copy(
                update={
                    "body": new_body,
                    "body_digest": body_digest,
                    "prev_hash": prev,
                    "hash": hash_hex,
                }
            )
        )
        prev = hash_hex
    return out


def test_a_rehashed_chain_passes_without_the_key_and_fails_with_it() -> None:
    entries = chain(4, KEY)
    forged = rehashed(entries, 2, dict(entries[1].body or {}, model="gpt-4"))
    assert verify(forged).ok  # why the HMAC key matters
    assert kinds(forged, KEY) == [(2, "bad_hmac"), (3, "bad_hmac"), (4, "bad_hmac")]


def test_a_forged_or_missing_hmac_is_found() -> None:
    entries = chain(3, KEY)
    assert kinds(replace(entries, 2, hmac="0" * 64), KEY) == [(2, "bad_hmac")]
    assert kinds(replace(entries, 3, hmac=None), KEY) == [(3, "unsigned")]
    assert kinds(chain(2), KEY) == [(1, "unsigned"), (2, "unsigned")]


def test_erasure_keeps_the_chain_verifying_and_leaves_nothing_to_guess_from() -> None:
    entries = chain(5, KEY)
    erased = [e.without_erasable() if e.subject_ref == SUBJECT else e for e in entries]
    report = verify(erased, KEY)
    assert report.ok
    assert report.erased == 3
    assert [e.seq for e in erased if e.erased] == [1, 3, 5]
    for entry in erased:
        assert entry.salt is None
        dumped = orjson.dumps(entry.model_dump(mode="json")).decode()
        assert SUBJECT not in dumped
        assert "PERSON_1" not in dumped
        record = entry.record()
        assert record is not None
        assert record.subject_ref is None
        assert record.content is None
    # The commitment stays, but without the salt it no longer matches any guess.
    body = erased[0].body or {}
    guess = canonical({"subject_ref": SUBJECT, "content": {"prompt": "Hallo <PERSON_1>"}})
    assert body["erasable_digest"] != hashlib.sha256(guess).hexdigest()


def purge_record(tenant: str, before: float, at: float) -> AdminAudit:
    return AdminAudit(
        at=at,
        actor="purge",
        action=PURGE_ACTION,
        target={"tenant": tenant},
        details={"before": before},
    )


def test_pruned_entries_verify_when_a_purge_covers_them() -> None:
    records: list[AuditRecord] = [
        request(i, tenant="acme" if i < 4 else "other") for i in range(1, 6)
    ]
    cutoff = 1_700_000_000.0 + 3.5
    entries = seal([*records, purge_record("acme", cutoff, at=cutoff + 30 * DAY)], KEY)
    pruned = [e.without_body() if e.tenant == "acme" and e.at < cutoff else e for e in entries]
    report = verify(pruned, KEY)
    assert report.ok
    assert report.pruned == 3
    assert all(e.record() is None for e in pruned[:3])


def test_a_prune_outside_any_purge_is_found() -> None:
    entries = seal([request(1), request(2), purge_record("acme", 1_700_000_001.5, at=1e9 * 2)])
    assert kinds([entries[0].without_body(), *entries[1:]]) == []
    assert kinds([entries[0], entries[1].without_body(), entries[2]]) == [(2, "unexplained_prune")]
    other = seal([request(1, tenant="other"), purge_record("acme", 2e9, at=2e9)])
    assert kinds([other[0].without_body(), other[1]]) == [(1, "unexplained_prune")]


def test_a_removed_tail_is_found_against_the_head_or_an_anchor() -> None:
    entries = chain(5)
    head = entries[-1].head
    assert verify(entries, head=head).ok
    truncated = verify(entries[:3], head=head)
    assert [(p.seq, p.kind) for p in truncated.problems] == [(4, "truncated")]
    assert verify(entries, anchor=entries[3].head).ok
    assert [p.kind for p in verify(entries[:3], anchor=entries[3].head).problems] == ["anchor"]
    assert verify([], head=GENESIS_HEAD).ok


def test_an_unreadable_line_is_reported_where_it_sits() -> None:
    entries = chain(3)
    report = verify([entries[0], Unreadable("line 2", "not JSON"), *entries[1:]])
    assert [(p.seq, p.kind) for p in report.problems] == [(2, "unreadable")]


def test_canonical_json_is_stable_across_jsonb_number_forms() -> None:
    assert canonical({"b": 1, "a": 1e16}) == canonical({"a": 10**16, "b": 1.0})
    assert canonical({"x": 0.1}) == b'{"x":0.1}'


def test_nul_characters_are_replaced_before_anything_is_hashed() -> None:
    record = request(1, model="smol\x00lm", subject=SUBJECT)
    assert record.model == "smol\ufffdlm"
    assert seal([record])[0].record() == record
