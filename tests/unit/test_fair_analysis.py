"""Issue 12, item 3, through the app: one tenant's flood of analysis work must not deny the
policy's analysis to another tenant, and requests too large to analyse are refused before
any analysis, admission or charge.

The analyzer is a fake whose calls on flood texts block until the test lets them go, so the
attack's shape (every analysis thread busy with one tenant's work) is built deterministically;
no assertion depends on timing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from tests.unit.conftest import FakeEngines, make_settings

FLOODER = "sk-test-flooder-0001"
NEIGHBOUR = "sk-test-neighbour-0002"
FLOOD = "FLOOD " * 20
WAIT_S = 10.0  # a guard against a hung test, never a measurement


class BlockingAnalyzer:
    """Blocks on flood texts until ``release`` is set; everything else is analysed at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.texts: list[str] = []

    def analyze(self, text: str, entities: Collection[str] | None = None) -> list[Any]:
        self.texts.append(text)
        if "FLOOD" in text:
            self.release.wait(WAIT_S)
        return []


def _tenant(tid: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "api_keys": [{"id": tid, "hash": hash_key(key)}], **extra}


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines()


@pytest.fixture
def gateway(engines: FakeEngines) -> Iterator[TestClient]:
    settings = make_settings(
        server={"max_body_bytes": 1024 * 1024},
        tenants=[
            _tenant("flooder", FLOODER),
            # One request a minute: a refused request that took the slot would show.
            _tenant("neighbour", NEIGHBOUR, limits={"requests_per_minute": 1}),
        ],
        privacy={
            "analysis_threads": 2,
            "max_analysed_chars": 1_000,
            "max_analysed_items": 8,
            "inline_analysis_chars": 0,  # the threads are what is under test
        },
    )
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        yield client


def _chat(client: TestClient, key: str, *contents: str) -> Any:
    messages = [{"role": "user", "content": c} for c in contents]
    return client.post(
        "/v1/chat/completions",
        json={"model": "smollm2", "messages": messages},
        headers={"authorization": f"Bearer {key}"},
    )


def _spy_on_tenants(monkeypatch: pytest.MonkeyPatch, analysis: Any) -> Counter[str]:
    """Counts analyses entered per tenant (the flooder's first text tells them apart)."""
    entered: Counter[str] = Counter()
    original = analysis.analyze

    async def spy(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        entered["flooder" if texts and "FLOOD" in texts[0] else "neighbour"] += 1
        return await original(texts, *args, **kwargs)

    monkeypatch.setattr(analysis, "analyze", spy)
    return entered


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the flood never reached the analysis"
        time.sleep(0.005)


def test_a_tenant_flooding_every_analysis_thread_does_not_deny_another_its_analysis(
    gateway: TestClient, engines: FakeEngines, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = gateway.app_state["resources"].privacy.analysis
    analyzer = BlockingAnalyzer()
    monkeypatch.setattr(analysis, "_analyzer", analyzer)
    entered = _spy_on_tenants(monkeypatch, analysis)
    flood = ThreadPoolExecutor(4)
    try:
        # More flood requests than analysis threads, all waiting in the analysis at once.
        floods = [flood.submit(_chat, gateway, FLOODER, FLOOD) for _ in range(4)]
        _wait_for(lambda: entered["flooder"] == 4)
        neighbour = _chat(gateway, NEIGHBOUR, "Wie beantrage ich einen Anwohnerparkausweis?")
        # Analysed (not 503 policy_unavailable, not passed unfiltered) while the flood waits.
        assert neighbour.status_code == 200, neighbour.text
        assert neighbour.headers["x-sovereign-policy-mode"] == "enforce"
        assert "Wie beantrage ich einen Anwohnerparkausweis?" in analyzer.texts
        # The flooder meets its own deadlines (the policy's timeout_ms): fail_closed, 503.
        flooded = [f.result(WAIT_S) for f in floods]
    finally:
        analyzer.release.set()
        flood.shutdown(wait=True)
    assert [r.status_code for r in flooded] == [503] * 4
    assert {r.json()["error"]["code"] for r in flooded} == {"policy_unavailable"}
    assert len(engines.requests) == 1  # only the neighbour's request reached an engine


@pytest.mark.parametrize(
    ("path", "body", "param", "limit"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * 1_001}]},
         "messages", "1,000 characters"),
        ("/v1/chat/completions",
         {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 9}]},
         "messages", "8 texts"),
        ("/v1/completions", {"prompt": ["x"] * 9, "max_tokens": 1}, "prompt", "8 texts"),
        ("/v1/embeddings", {"input": ["x"] * 9}, "input", "8 texts"),
        ("/v1/embeddings", {"input": ["x" * 600, "y" * 600]}, "input", "1,000 characters"),
    ],
)  # fmt: skip
def test_a_request_over_the_analysis_limits_is_refused_before_analysis_and_admission(
    gateway: TestClient,
    engines: FakeEngines,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: dict[str, Any],
    param: str,
    limit: str,
) -> None:
    resources = gateway.app_state["resources"]
    analyzer = BlockingAnalyzer()
    monkeypatch.setattr(resources.privacy.analysis, "_analyzer", analyzer)
    headers = {"authorization": f"Bearer {NEIGHBOUR}"}
    refused = gateway.post(path, json={"model": "smollm2", **body}, headers=headers)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "analysis_limit_exceeded"
    assert error["param"] == param
    assert limit in error["message"]  # names the limit ...
    assert "this request has" in error["message"].lower()  # ... and the request's size
    assert analyzer.texts == []  # no analysis work started
    assert engines.requests == []
    assert gateway.portal is not None
    assert gateway.portal.call(resources.metering.usage, "neighbour", 0.0, 2e9) == []
    # Nothing was admitted either: the tenant's one request a minute is still there.
    assert _chat(gateway, NEIGHBOUR, "Hallo").status_code == 200
    assert _chat(gateway, NEIGHBOUR, "Hallo").status_code == 429


def test_requests_at_the_limits_are_analysed(gateway: TestClient, engines: FakeEngines) -> None:
    at_limit = _chat(gateway, NEIGHBOUR, *(["x" * 125] * 8))  # 8 texts, 1,000 characters
    assert at_limit.status_code == 200
    assert at_limit.headers["x-sovereign-policy-mode"] == "enforce"
