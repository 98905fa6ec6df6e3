"""``POST /v1/messages/count_tokens`` (Anthropic's ``messages.count_tokens``, served by vLLM
0.32) through the whole request path: authentication (``x-api-key`` too), residency, the
tenant's policy on every text it sends (the engine counts what ``/v1/messages`` would get),
admitted and metered as a request of zero tokens, errors in Anthropic's shape. A fake engine
behind ``httpx.MockTransport``; the real analyzer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.unit.conftest import DE_KEY, FR_ONLY_KEY, FakeEngines, chat_ok
from tests.unit.test_tokenize import EMAIL, IBAN, OPEN, _ledger, make_settings

PATH = "/v1/messages/count_tokens"
BODY: dict[str, Any] = {
    "model": "smollm2",
    "system": "Du bist ein hilfreicher Assistent.",
    "messages": [{"role": "user", "content": "Nenne drei Farben."}],
}


def vllm(request: httpx.Request) -> httpx.Response:
    if request.url.path == PATH:
        return httpx.Response(200, json={"input_tokens": 17})
    return chat_ok(request)


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(vllm)


@pytest.fixture
def client(engines: FakeEngines) -> Iterator[TestClient]:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        yield test_client


def _sent(engines: FakeEngines) -> dict[str, Any]:
    sent: dict[str, Any] = json.loads(engines.requests[-1].content)
    return sent


def test_count_tokens_reaches_the_engine_unchanged_and_answers_as_it_did(
    client: TestClient, engines: FakeEngines
) -> None:
    answer = client.post(PATH, json=BODY, headers={"x-api-key": OPEN})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"input_tokens": 17}
    assert engines.requests[-1].url.path == PATH
    assert _sent(engines) == BODY
    assert answer.headers["x-sovereign-jurisdiction"] in {"DE", "AT"}
    (record,) = [r for r in _ledger(client, "open") if r.endpoint == "messages.count_tokens"]
    # The engine ran its tokenizer only: a request of zero tokens, not 17 prompt tokens.
    assert (record.status, record.prompt_tokens, record.completion_tokens) == ("ok", 0, 0)


def test_errors_come_in_anthropics_shape_and_nothing_reaches_an_engine(
    client: TestClient, engines: FakeEngines
) -> None:
    unauthenticated = client.post(PATH, json=BODY)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["type"] == "error"
    assert unauthenticated.json()["error"]["type"] == "authentication_error"
    elsewhere = client.post(PATH, json=BODY, headers={"x-api-key": FR_ONLY_KEY})
    assert elsewhere.status_code == 403
    no_messages = client.post(PATH, json={"model": "smollm2"}, headers={"x-api-key": OPEN})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["type"] == "invalid_request_error"
    assert engines.requests == []


def test_under_the_policy_the_engine_counts_what_the_message_would_send(
    client: TestClient, engines: FakeEngines
) -> None:
    messages = [{"role": "user", "content": f"Bitte schreibe an {EMAIL}, IBAN {IBAN}."}]
    body = {"model": "smollm2", "messages": messages}
    counted = client.post(PATH, json=body, headers={"x-api-key": DE_KEY})
    assert counted.status_code == 200, counted.text
    assert counted.headers["x-sovereign-pii-prompt"] == (
        "EMAIL_ADDRESS:pseudonymize=1,IBAN:pseudonymize=1"
    )
    to_count = _sent(engines)["messages"][0]["content"]
    assert EMAIL not in to_count
    assert IBAN not in to_count
    whole = {**body, "max_tokens": 8}
    client.post("/v1/messages", json=whole, headers={"x-api-key": DE_KEY})
    assert _sent(engines)["messages"][0]["content"] == to_count
