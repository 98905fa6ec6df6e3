"""``sovereign-gateway audit erase --config``: one command clears a data subject from every
store the gateway shares through Redis (ledger, pseudonym vault), from the content log and
from the audit trail, and prints a receipt; the chain still verifies afterwards.

A gateway with the real Redis at 127.0.0.1:6379 serves the subject first (an echoing fake
engine); it is closed before the CLI runs, as an operator would run it beside live replicas.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from redis import Redis

from gateway.app import create_app
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.service import AuditTrail
from gateway.auth import hash_key
from gateway.cli import main
from gateway.settings import load_settings
from gateway.tenancy.store import KEYS, TENANTS
from tests.ledger_db import ledger_records, metering_section
from tests.unit.test_privacy_gateway import EchoEngine

REDIS_URL = "redis://127.0.0.1:6379/0"
SUBJECT, OTHER = "buerger-123", "buergerin-456"
TEXT = "Herr Jonas Beispiel, IBAN DE89 3704 0044 0532 0130 00, bittet um Rückruf."


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    suffix = uuid.uuid4().hex[:8]
    tenant, key = f"erase-{suffix}", f"sk-test-erase-{suffix}"
    policy = tmp_path / "logged.yaml"
    policy.write_text(
        "id: logged\nlog_content: true\nentities:\n  PERSON: {prompt: pseudonymize}\n"
    )
    settings = {
        "store": {"redis_url": REDIS_URL, "jurisdiction": "DE", "operator": "self"},
        "security": {"pseudonym_key": base64.b64encode(os.urandom(32)).decode()},
        "metering": metering_section(spool_dir=str(tmp_path / "spool")),
        "telemetry": {"audit_dir": str(tmp_path / "audit")},
        "privacy": {"policy_files": [str(policy)]},
        "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1",
                   "engines": ["http://de-1.engine:8000"], "models": ["smollm2"]}],
        "tenants": [{"id": tenant, "policy": "logged",
                     "api_keys": [{"id": f"k-{suffix}", "hash": hash_key(key)}]}],
    }  # fmt: skip
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(settings))
    (tmp_path / "key").write_text(key)
    yield path
    with Redis.from_url(REDIS_URL) as redis:
        for found in redis.scan_iter(match=f"sg:{{{tenant}}}:*"):
            redis.delete(found)
        redis.hdel(TENANTS, tenant)
        redis.hdel(KEYS, f"k-{suffix}")


def _serve(config: Path) -> tuple[str, str]:
    """Three requests of the subject (two conversations) and one of another; the refs."""
    settings = load_settings(config)
    key = (config.parent / "key").read_text()
    app = create_app(settings, upstream_transport=httpx.MockTransport(EchoEngine()))
    with TestClient(app) as client:
        for subject, text in [(SUBJECT, TEXT), (SUBJECT, TEXT), (SUBJECT, "Frau Ida Test ruft an."),
                              (OTHER, "Herr Paul Anders ruft an.")]:  # fmt: skip
            response = client.post(
                "/v1/chat/completions",
                json={"model": "smollm2", "messages": [{"role": "user", "content": text}]},
                headers={"authorization": f"Bearer {key}", "x-sovereign-subject": subject},
            )
            assert response.status_code == 200
        # Metered, then shipped from Redis to PostgreSQL by the running gateway's shipper.
        ledger_records(settings.tenants[0].id, at_least=4)
        audit = client.app_state["resources"].observability.audit
        return audit.subject_ref(SUBJECT), audit.subject_ref(OTHER)


def test_audit_erase_with_the_configuration_reaches_every_store(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, other = _serve(config)
    tenant = load_settings(config).tenants[0].id
    ledger = ledger_records(tenant, at_least=4)  # shipped to PostgreSQL by the gateway
    assert sum(r.subject_ref == ref for r in ledger) == 3
    with Redis.from_url(REDIS_URL) as redis:
        subject_sets = list(redis.scan_iter(match=f"sg:{{{tenant}}}:pseudonym-subject:*"))
        assert len(subject_sets) == 2  # one per subject

    capsys.readouterr()  # the gateway's own log lines
    monkeypatch.setattr("sys.stdin", io.StringIO(SUBJECT + "\n"))
    code = main(["audit", "erase", "--config", str(config), "--subject", "-"])
    out = capsys.readouterr().out
    assert code == 0
    receipt = orjson.loads(out)
    assert receipt["subject_ref"] == ref
    assert receipt["counts"] == {
        "audit": 3, "content_log": 3, "ledger": 3, "pseudonym_vault": 2,
    }  # fmt: skip

    ledger = ledger_records(tenant, at_least=4)
    assert len(ledger) == 4  # the billing records stay ...
    assert not any(r.subject_ref == ref for r in ledger)  # ... without the subject
    assert sum(r.subject_ref == other for r in ledger) == 1
    with Redis.from_url(REDIS_URL) as redis:
        assert len(list(redis.scan_iter(match=f"sg:{{{tenant}}}:pseudonym-subject:*"))) == 1
    content = (config.parent / "audit" / "content.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["subject_ref"] for line in content] == [other]
    audit_text = (config.parent / "audit" / FILE_NAME).read_text()
    assert ref not in audit_text
    assert receipt["digest"] in audit_text  # the erasure itself is on record, without the ref
    report = asyncio.run(AuditTrail(FileAuditStore(config.parent / "audit" / FILE_NAME),
                                    None, None).verify())  # fmt: skip
    assert report.ok, report.problems
    assert report.erased == 3
