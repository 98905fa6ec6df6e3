"""``sovereign-gateway audit erase --config`` reaches the batch store as the admin API does:
the files and batches about the subject are deleted whole, the others stay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.batches.directory_store import DirectoryBatchStore
from gateway.cli import main
from gateway.settings import load_settings
from tests.unit.conftest import FakeEngines

KEY = "sk-test-batch-erase-0001"


def _upload(client: TestClient, user: str) -> str:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "smollm2", "user": user,
                     "messages": [{"role": "user", "content": "Hallo"}]}}  # fmt: skip
    response = client.post(
        "/v1/files",
        headers={"authorization": f"Bearer {KEY}"},
        files={"file": ("r.jsonl", json.dumps(line).encode())},
        data={"purpose": "batch"},
    )
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def test_audit_erase_with_the_configuration_deletes_the_subjects_batch_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "batches"
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "telemetry": {"audit_dir": str(tmp_path / "audit")},
        "batches": {"store": {"jurisdiction": "DE", "operator": "self", "path": str(store)}},
        "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1",
                   "engines": ["http://de-1.engine:8000"], "models": ["smollm2"]}],
        "tenants": [{"id": "acme", "api_keys": [{"id": "k1", "hash": hash_key(KEY)}]}],
    }))  # fmt: skip
    app = create_app(load_settings(config), upstream_transport=httpx.MockTransport(FakeEngines()))
    with TestClient(app) as client:
        alice, bob = _upload(client, "alice-4711"), _upload(client, "bob-0815")
    capsys.readouterr()
    code = main(["audit", "erase", "--config", str(config), "--subject", "alice-4711"])
    assert code == 0
    receipt = orjson.loads(capsys.readouterr().out)
    assert receipt["counts"]["batches"] == 1
    remaining = asyncio.run(DirectoryBatchStore(store).files("acme"))
    assert [f.id for f in remaining] == [bob]  # alice's is gone, bob's stays
    assert alice not in {f.id for f in remaining}
