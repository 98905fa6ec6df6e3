"""Hostile input against admission on the real Redis: nothing a request does can leave a
charge or a lease behind, or lock its tenant out (issue 12, items 1, 2 and 8).

The app runs in-process (``TestClient``) with a fake engine behind ``httpx.MockTransport`` and
the shared store on the real Redis at 127.0.0.1:6379; each test uses its own tenant, whose keys
are deleted afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.core.limits import Limits, Scope
from gateway.core.usage import UsageRecord
from gateway.quota.redis_store import scope_keys, tenant_base
from gateway.upstream.forwarder import Forwarder
from tests.ledger_db import ledger_records, metering_section
from tests.unit.conftest import FakeEngines, make_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
VAULT_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes
LIMITS = {"requests_per_minute": 1000, "tokens_per_minute": 2000, "concurrent": 1}


class Tenant:
    def __init__(self, client: TestClient, tenant: str, key: str, redis_client: redis.Redis):
        self.client, self.id, self.key, self.redis = client, tenant, key, redis_client

    def chat(self, body: dict[str, Any] | None = None, **extra: Any) -> Any:
        payload = body or {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}]}
        return self.client.post(
            "/v1/chat/completions",
            json={**payload, **extra},
            headers={"authorization": f"Bearer {self.key}"},
        )

    def raw(self, content: bytes) -> Any:
        return self.client.post(
            "/v1/chat/completions",
            content=content,
            headers={"authorization": f"Bearer {self.key}", "content-type": "application/json"},
        )

    def scope(self) -> Scope:
        return Scope(self.id, "tenant", Limits(**LIMITS))

    def leases(self) -> int:
        return int(self.redis.zcard(scope_keys(self.scope(), time.time())[2]))

    def bucket(self) -> float | None:
        level = self.redis.hget(scope_keys(self.scope(), time.time())[1], "level")
        return None if level is None else float(level)

    def ledger(self, at_least: int = 1) -> list[UsageRecord]:
        """The tenant's records in the durable ledger, once shipped there from Redis."""
        return ledger_records(self.id, at_least=at_least)


@pytest.fixture
def tenant(engines: FakeEngines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    name = "hostile-" + uuid.uuid4().hex[:10]
    folder = tmp_path_factory.mktemp(name)
    key = "sk-hostile-" + uuid.uuid4().hex
    settings = make_settings(
        store={"redis_url": REDIS_URL, "jurisdiction": "DE", "operator": "test"},
        security={"pseudonym_key": VAULT_KEY},
        telemetry={
            "allowed_jurisdictions": ["DE", "AT"],
            "audit_dir": str(folder / "audit"),
            "flush_interval_ms": 0,
        },
        metering=metering_section(spool_dir=str(folder / "spool")),
        tenants=[{"id": name, "limits": LIMITS, "api_keys": [{"id": name, "hash": hash_key(key)}]}],
    )
    redis_client = redis.Redis.from_url(REDIS_URL)
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Tenant(client, name, key, redis_client)
    finally:
        for found in redis_client.scan_iter(match=f"{tenant_base(name)}:*"):
            redis_client.delete(found)
        redis_client.delete(f"sg:tenant:{name}")
        redis_client.close()


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines()


def test_an_impossible_max_tokens_is_refused_before_anything_is_charged(
    tenant: Tenant, engines: FakeEngines
) -> None:
    response = tenant.chat(max_tokens=100000000000000000000)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "max_tokens"
    assert engines.requests == []
    assert tenant.leases() == 0
    assert tenant.bucket() is None  # never charged
    assert tenant.chat().status_code == 200  # the tenant is not locked out


def test_max_tokens_beyond_the_models_context_is_refused_with_400(
    tenant: Tenant, engines: FakeEngines
) -> None:
    # The fake engine serves smollm2 with max_model_len 2048 (see FakeEngines' /v1/models).
    response = tenant.chat(max_tokens=4096)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "max_tokens"
    assert "2048" in error["message"]
    assert engines.requests == []
    assert tenant.bucket() is None


def test_a_failure_after_admission_settles_the_charge_and_the_lease(
    tenant: Tenant, engines: FakeEngines, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug after admission")

    monkeypatch.setattr(Forwarder, "call", broken)
    response = tenant.chat(max_tokens=100)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"

    assert tenant.leases() == 0  # the lease ended with the request
    assert tenant.bucket() == pytest.approx(2000, abs=5)  # the estimate was refunded
    records = tenant.ledger()
    assert [r.status for r in records] == ["failed"]  # settled once, with no usage
    assert records[0].total_tokens == 0
    monkeypatch.undo()
    assert tenant.chat().status_code == 200  # concurrent: 1 is free again


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model":"smollm2","messages":[{"role":"user","content":"\\ud800"}]}', None),
        (b'{"model":"smollm2","messages":[{"role":"assistant","tool_calls":5}]}', "messages"),
        (b'{"model":"smollm2","messages":[{"role":"user","content":"a"}],'
         b'"top_k":100000000000000000000000}', "top_k"),
        (b'{"model":"smollm2","messages":[{"role":"user","content":"a"}],'
         b'"seed":-100000000000000000000000}', "seed"),
        (b'{"model":"smollm2","messages":[{"role":"user","content":"a"}],'
         b'"vllm_xargs":{"x":100000000000000000000000}}', "vllm_xargs"),
        (b'{"model":"smollm2","messages":[{"role":"user","content":"a"}],"temperature":NaN}',
         None),
    ],
)  # fmt: skip
def test_malformed_values_are_400_and_leave_nothing_behind(
    tenant: Tenant, engines: FakeEngines, raw: bytes, param: str | None
) -> None:
    response = tenant.raw(raw)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert (error["param"] or "").startswith(param), error
    assert engines.requests == []
    assert tenant.leases() == 0
    assert tenant.bucket() is None
    assert tenant.chat().status_code == 200
