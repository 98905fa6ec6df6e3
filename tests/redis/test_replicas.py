"""Two gateway processes sharing the real Redis on 127.0.0.1:6379, in front of a simulated
engine: one limit for both, revocation on every replica within a second, the SDK's view."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import openai
import pytest

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.processes import (
    ADMIN_TOKEN,
    SYSTEM_REDIS,
    VAULT_KEY,
    GatewayProcess,
    gateway_process,
    ledger,
)

MODEL = "llama-3.1-8b"
RUN = uuid.uuid4().hex[:8]
BURST_TENANT, SDK_TENANT = f"burst-{RUN}", f"sdk-{RUN}"
BURST_KEY, SDK_KEY = f"sk-burst-{RUN}", f"sk-sdk-{RUN}"
HELLO: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hallo"}]


@dataclass(frozen=True)
class Replicas:
    a: GatewayProcess
    b: GatewayProcess


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    folder = tmp_path_factory.mktemp("replicas")
    with SimulatorThread(SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=0.02)) as sim:
        config = {
            "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "metering": {"spool_dir": str(folder / "spool")},
            "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
            "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                       "engines": sim.base_urls, "models": [MODEL]}],
            "tenants": [
                {"id": BURST_TENANT, "limits": {"requests_per_minute": 20},
                 "api_keys": [{"id": f"{BURST_TENANT}-1", "hash": hash_key(BURST_KEY)}]},
                {"id": SDK_TENANT, "limits": {"requests_per_minute": 2, "tokens_per_minute": 5000},
                 "api_keys": [{"id": f"{SDK_TENANT}-1", "hash": hash_key(SDK_KEY)}]},
            ],
        }  # fmt: skip
        with (
            gateway_process(config, folder, "replica-a") as a,
            gateway_process(config, folder, "replica-b") as b,
        ):
            yield Replicas(a, b)


def _authenticated(base_url: str, key: str) -> int:
    """Whether the replica accepts ``key`` now: an authenticated call that does no other work
    (a chat's policy analysis, engine and audit time would blur the propagation delay)."""
    return httpx.get(
        base_url + "/v1/models", headers={"authorization": "Bearer " + key}, timeout=30
    ).status_code


def _chat(base_url: str, key: str) -> httpx.Response:
    return httpx.post(
        base_url + "/v1/chat/completions",
        headers={"authorization": "Bearer " + key},
        json={"model": MODEL, "messages": HELLO, "max_tokens": 2},
        timeout=30,
    )


def _ledger(tenant: str, at_least: int = 0) -> list[UsageRecord]:
    return ledger(SYSTEM_REDIS, tenant, at_least=at_least)


def test_a_burst_over_both_replicas_admits_exactly_the_limit(replicas: Replicas) -> None:
    urls = [replicas.a.base_url, replicas.b.base_url] * 30
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda url: _chat(url, BURST_KEY), urls))
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 20
    assert statuses.count(429) == 40
    refused = [r for r in answers if r.status_code == 429]
    assert all(r.json()["error"]["type"] == "rate_limit_error" for r in refused)
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    # Both replicas served some, and the ledger holds exactly one record per served request.
    served = {r.headers["x-request-id"] for r in answers if r.status_code == 200}
    ledger = _ledger(BURST_TENANT, at_least=20)
    assert {rec.request_id for rec in ledger} == served
    assert len(ledger) == 20
    assert {rec.gateway for rec in ledger} == {"replica-a", "replica-b"}
    assert all(rec.usage_source == "engine" and rec.completion_tokens == 2 for rec in ledger)


def test_a_revoked_key_stops_on_the_other_replica_within_a_second(replicas: Replicas) -> None:
    tenant = f"rev-{uuid.uuid4().hex[:8]}"
    with replicas.a.admin() as admin:
        created = admin.post("/tenants", json={"id": tenant, "allowed_jurisdictions": ["DE"]})
        assert created.status_code == 201, created.text
        issued = admin.post(f"/tenants/{tenant}/keys", json={})
        assert issued.status_code == 201, issued.text
        key, key_id = issued.json()["key"], issued.json()["id"]
        # A new key reaches the other replica within the same second.
        deadline = time.monotonic() + 1.0
        while _authenticated(replicas.b.base_url, key) != 200:
            assert time.monotonic() < deadline, "the new key never reached replica B"
            time.sleep(0.02)
        assert _chat(replicas.b.base_url, key).status_code == 200  # it serves, before revocation
        revoked = admin.delete(f"/tenants/{tenant}/keys/{key_id}")
        assert revoked.status_code == 200, revoked.text
    revoked_at = time.monotonic()
    while (status := _authenticated(replicas.b.base_url, key)) == 200:
        time.sleep(0.02)
    elapsed = time.monotonic() - revoked_at
    assert status == 401
    assert elapsed < 1.0, f"replica B still accepted the revoked key after {elapsed:.2f} s"
    assert _chat(replicas.a.base_url, key).status_code == 401


def test_the_sdk_sees_rate_limit_error_with_a_usable_retry_after(replicas: Replicas) -> None:
    client = replicas.a.client(SDK_KEY)
    first = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, max_tokens=2
    )
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "5000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 5000
    replicas.b.client(SDK_KEY).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    error = caught.value
    assert error.status_code == 429
    assert error.code == "rate_limit_exceeded"
    assert "requests per minute" in error.message
    retry_after = int(error.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert 0 < int(error.response.headers["retry-after-ms"]) <= 60_000
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
