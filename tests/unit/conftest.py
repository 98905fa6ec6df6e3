"""Fast tests: the app with a fake engine behind ``httpx.MockTransport``."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from gateway.resources import Resources
from gateway.settings import Settings

DE_KEY = "sk-test-de-tenant-key-0001"
FR_ONLY_KEY = "sk-test-fr-only-key-0002"
LIMITED_KEY = "sk-test-limited-key-0003"

Handler = Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "server": {"max_body_bytes": 64 * 1024},
        # The Austrian pool is a deployment choice that must be declared, as any sink's.
        "telemetry": {
            "allowed_jurisdictions": ["DE", "AT"],
            "audit_dir": tempfile.mkdtemp(prefix="sg-audit-"),  # the embedded file sink
        },
        "pools": [
            {
                "name": "de-muc-b200",
                "jurisdiction": "DE",
                "site": "de-muc-1",
                "gpu": "b200",
                "engines": ["http://de-1.engine:8000", "http://de-2.engine:8000"],
                "models": ["llama-70b", "smollm2"],
            },
            {
                "name": "at-vie-rtx",
                "jurisdiction": "AT",
                "site": "at-vie-1",
                "gpu": "rtx-pro-6000",
                "engines": ["http://at-1.engine:8000"],
                "models": ["smollm2", "mistral-7b"],
            },
        ],
        "tenants": [
            {"id": "acme-de", "api_keys": [{"id": "acme-1", "hash": hash_key(DE_KEY)}]},
            {
                "id": "fr-only",
                "api_keys": [{"id": "fr-1", "hash": hash_key(FR_ONLY_KEY)}],
                "allowed_jurisdictions": ["FR"],
            },
            {
                "id": "limited",
                "api_keys": [{"id": "lim-1", "hash": hash_key(LIMITED_KEY)}],
                "allowed_jurisdictions": ["DE", "AT"],
                "allowed_models": ["smollm2"],
            },
        ],
    }
    data.update(overrides)
    return Settings(**data)


class FakeEngines:
    """Records every request any engine received; answers with ``handler``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or chat_ok
        self.scrape: Handler = scrape_ok

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # probes and the router's scrapes: not recorded
            return self.scrape(request)
        self.requests.append(request)
        return self.handler(request)

    @property
    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def last_body(self) -> dict[str, Any]:
        """The JSON body of the last request an engine received."""
        body: dict[str, Any] = json.loads(self.requests[-1].content)
        return body


def ledger(test_client: TestClient, tenant: str = "acme-de") -> list[UsageRecord]:
    """A tenant's usage records so far, written out first (``observability.flush``)."""
    resources: Resources = test_client.app_state["resources"]
    portal = test_client.portal
    assert portal is not None
    portal.call(resources.observability.flush)
    return portal.call(resources.metering.usage, tenant, 0.0, time.time() + 60)


IDLE_METRICS = (
    'vllm:num_requests_running{model_name="smollm2"} 0.0\n'
    'vllm:num_requests_waiting{model_name="smollm2"} 0.0\n'
    'vllm:kv_cache_usage_perc{model_name="smollm2"} 0.0\n'
)


MODEL_CARDS = {
    "object": "list",
    "data": [
        {"id": name, "object": "model", "owned_by": "vllm", "root": name, "max_model_len": 2048}
        for name in ("smollm2", "llama-70b", "mistral-7b")
    ],
}


def scrape_ok(request: httpx.Request) -> httpx.Response:
    """What an idle vLLM answers on /health, /metrics and /v1/models."""
    if request.url.path == "/metrics":
        return httpx.Response(200, text=IDLE_METRICS)
    if request.url.path == "/v1/models":
        return httpx.Response(200, json=MODEL_CARDS)
    return httpx.Response(200)


def chat_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "smollm2",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hallo!"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    )


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines()


@pytest.fixture
def client(engines: FakeEngines) -> Iterator[TestClient]:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        yield test_client


def auth(key: str = DE_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "Hallo"}]}
