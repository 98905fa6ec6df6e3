"""Content logging (opt-in per policy, masked) and GDPR Art. 17 erasure across every store.

The gateway runs with the real analyzer in front of an engine that echoes the prompt. Each
test runs twice: embedded (in-process ledger and vault) and with the shared stores on the
real Redis at 127.0.0.1:6379 (the ledger and the vault that replicas share); the audit trail
and the content log are files in a temporary folder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from anyio.from_thread import BlockingPortal
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.service import AuditTrail
from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from gateway.resources import Resources
from gateway.tenancy.store import KEYS, TENANTS
from tests.ledger_db import metering_section
from tests.unit.conftest import make_settings
from tests.unit.test_privacy_gateway import EchoEngine, _streamed_text

REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN = "sg-admin-erasure-test-token"
NAME, IBAN, PHONE = "Erika Musterfrau", "DE89 3704 0044 0532 0130 00", "+49 30 12345678"
ALICE, BOB = "kundin-4711", "kunde-0815"
SUBJECT_HEADER = "x-sovereign-subject"


@dataclass
class Gateway:
    client: TestClient
    audit_dir: Path
    logged: str  # tenant ids
    quiet: str
    logged_key: str  # their API keys
    quiet_key: str

    @property
    def resources(self) -> Resources:
        resources: Resources = self.client.app_state["resources"]
        return resources

    def chat(self, key: str, text: str, subject: str | None, **extra: Any) -> Any:
        body = {"model": "smollm2", "messages": [{"role": "user", "content": text}], **extra}
        headers = {"authorization": f"Bearer {key}"}
        if subject is not None:
            headers[SUBJECT_HEADER] = subject
        return self.client.post("/v1/chat/completions", json=body, headers=headers)

    def content_lines(self) -> list[bytes]:
        path = self.audit_dir / "content.jsonl"
        return path.read_bytes().splitlines() if path.exists() else []

    @property
    def portal(self) -> BlockingPortal:
        assert self.client.portal is not None  # inside the TestClient's context
        return self.client.portal

    def ledger(self, tenant: str, at_least: int = 1) -> list[UsageRecord]:
        """The tenant's records, once ``at_least`` are there (metered after the answer, then
        shipped from Redis to PostgreSQL by the gateway's shipper)."""
        self.flush()
        metering = self.resources.metering
        deadline = time.monotonic() + 15
        while True:
            found = self.portal.call(metering.usage, tenant, 0.0, time.time() + 60)
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def flush(self) -> None:
        """Until the queued audit records are written (they are, after each response)."""
        self.portal.call(self.resources.observability.flush)

    def ref(self, subject: str) -> str:
        return self.resources.observability.audit.subject_ref(subject)


def _policy(tmp_path: Path) -> str:
    path = tmp_path / "logged.yaml"
    # PERSON pseudonymised; identifiers and contacts only flagged: they reach the engine,
    # so only the content log's own masking keeps them out of the log.
    path.write_text(
        "id: logged\nlog_content: true\nentities:\n  PERSON: {prompt: pseudonymize}\n"
        "  identifier: {prompt: flag}\n  contact: {prompt: flag}\n"
    )
    return str(path)


@pytest.fixture(params=["embedded", "redis"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    suffix = uuid.uuid4().hex[:8]
    logged, quiet = f"logged-{suffix}", f"quiet-{suffix}"
    logged_key, quiet_key = f"sk-test-logged-{suffix}", f"sk-test-quiet-{suffix}"
    audit_dir = tmp_path / "audit"
    extra: dict[str, Any] = {}
    if request.param == "redis":
        extra["store"] = {"redis_url": REDIS_URL, "jurisdiction": "DE", "operator": "self"}
        extra["security"] = {"pseudonym_key": base64.b64encode(os.urandom(32)).decode()}
        # On the shared Redis: the shared test ledger (tests/ledger_db.py says why).
        extra["metering"] = metering_section(spool_dir=str(tmp_path / "spool"))
    settings = make_settings(
        tenants=[
            {
                "id": logged,
                "api_keys": [{"id": f"l-{suffix}", "hash": hash_key(logged_key)}],
                "policy": "logged",
            },
            {"id": quiet, "api_keys": [{"id": f"q-{suffix}", "hash": hash_key(quiet_key)}]},
        ],
        privacy={"policy_files": [_policy(tmp_path)]},
        telemetry={"allowed_jurisdictions": ["DE", "AT"], "audit_dir": str(audit_dir)},
        admin={"token_hash": hash_key(ADMIN)},
        **extra,
    )
    app = create_app(settings, upstream_transport=httpx.MockTransport(EchoEngine()))
    try:
        with TestClient(app) as client:
            yield Gateway(client, audit_dir, logged, quiet, logged_key, quiet_key)
    finally:
        if request.param == "redis":
            connection = redis.Redis.from_url(REDIS_URL)
            for tenant in (logged, quiet):
                for key in connection.scan_iter(match=f"sg:{{{tenant}}}:*"):
                    connection.delete(key)
                connection.hdel(TENANTS, tenant)
            connection.hdel(KEYS, f"l-{suffix}", f"q-{suffix}")
            connection.close()


def _text(who: str) -> str:
    return f"Frau {who} (Tel. {PHONE}) möchte die IBAN {IBAN} hinterlegen."


def test_content_is_logged_masked_only_for_a_policy_that_asks(gateway: Gateway) -> None:
    assert gateway.chat(gateway.logged_key, _text(NAME), ALICE).status_code == 200
    streamed = gateway.chat(gateway.logged_key, _text(NAME), ALICE, stream=True)
    assert streamed.status_code == 200
    assert NAME in _streamed_text(streamed)  # the client gets its values back
    assert gateway.chat(gateway.quiet_key, _text(NAME), ALICE).status_code == 200
    gateway.flush()
    lines = gateway.content_lines()
    assert len(lines) == 2  # the quiet tenant's request is not logged
    raw = b"\n".join(lines).decode()
    for value in (NAME, "Musterfrau", IBAN, "3704", PHONE, "12345678", ALICE):
        assert value not in raw
    for line in lines:
        entry = orjson.loads(line)
        assert entry["tenant"] == gateway.logged
        assert entry["subject_ref"] == gateway.ref(ALICE)
        assert entry["policy"].startswith("logged@")
        expected = "Frau <PERSON_1> (Tel. <PHONE_NUMBER>) möchte die IBAN <IBAN> hinterlegen."
        assert entry["prompt"] == [expected]
        assert entry["answer"] == ["Antwort: " + expected]  # as the engine wrote it, masked
    # The audit record of each logged request commits to its content line.
    digests = {hashlib.sha256(line).hexdigest() for line in lines}
    committed = {
        e["erasable"]["content"]["content_log_sha256"]
        for e in _audit_entries(gateway)
        if (e.get("erasable") or {}).get("content") is not None
    }
    assert committed == digests


def test_erasure_reaches_audit_ledger_vault_and_content_log(gateway: Gateway) -> None:
    for subject in (ALICE, ALICE, BOB):
        assert gateway.chat(gateway.logged_key, _text(NAME), subject).status_code == 200
    assert gateway.chat(gateway.logged_key, _text("Vera Beispiel"), ALICE).status_code == 200
    alice, bob = gateway.ref(ALICE), gateway.ref(BOB)
    ledger = gateway.ledger(gateway.logged, at_least=4)
    assert [r.subject_ref for r in ledger] == [alice, alice, bob, alice]
    vault = gateway.resources.privacy.prompts.vault

    response = gateway.client.post(
        "/admin/v1/subjects/erase",
        json={"subject": ALICE},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 200, response.text
    receipt = response.json()
    # Alice's two conversations. Bob's identical first message derived the same conversation
    # id as hers, so that map goes too (his next turn simply gets new placeholders).
    assert receipt["counts"] == {
        "audit": 3, "ledger": 3, "pseudonym_vault": 2, "content_log": 3,
    }  # fmt: skip
    assert receipt["subject_ref"] == alice
    assert gateway.resources.observability.audit.receipt_valid(_receipt(receipt))
    # Ledger: the records stay (billing), Alice's reference is gone, Bob's is not.
    after = gateway.ledger(gateway.logged)
    assert [r.subject_ref for r in after] == [None, None, bob, None]
    assert sum(r.total_tokens for r in after) == 4 * 18
    # Content log: only Bob's line is left.
    assert [orjson.loads(x)["subject_ref"] for x in gateway.content_lines()] == [bob]
    # Vault: nothing left under Alice; erasing again finds nothing anywhere.
    assert gateway.portal.call(vault.erase_subject, alice) == 0
    again = gateway.client.post(
        "/admin/v1/subjects/erase",
        json={"subject": ALICE},
        headers={"authorization": f"Bearer {ADMIN}"},
    ).json()
    assert again["counts"] == {"audit": 0, "ledger": 0, "pseudonym_vault": 0, "content_log": 0}
    # The audit trail: no entry names Alice any more, and the chain still verifies.
    gateway.flush()
    assert all(
        (e.get("erasable") or {}).get("subject_ref") != alice for e in _audit_entries(gateway)
    )
    report = _verify(gateway)
    assert report.ok, report.problems
    assert report.erased == 3


def test_erasure_needs_the_admin_token_and_a_subject(gateway: Gateway) -> None:
    url = "/admin/v1/subjects/erase"
    assert gateway.client.post(url, json={"subject": ALICE}).status_code == 401
    bad = gateway.client.post(url, json={}, headers={"authorization": f"Bearer {ADMIN}"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "subject"


def _receipt(body: dict[str, Any]) -> Any:
    from gateway.audit.service import ErasureReceipt

    return ErasureReceipt.model_validate(body)


def _audit_entries(gateway: Gateway) -> list[dict[str, Any]]:
    gateway.flush()
    path = gateway.audit_dir / FILE_NAME
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _verify(gateway: Gateway) -> Any:
    trail = AuditTrail(FileAuditStore(gateway.audit_dir / FILE_NAME), None, None)
    return gateway.portal.call(trail.verify)
