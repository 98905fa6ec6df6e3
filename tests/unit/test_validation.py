"""Bad input gets a clear OpenAI-style 4xx, never a 500, and reaches no engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.conftest import CHAT, FakeEngines, auth


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": CHAT["messages"]}, "model"),
        ({"model": "smollm2"}, "messages"),
        ({"model": "smollm2", "messages": []}, "messages"),
        ({**CHAT, "messages": "Hallo"}, "messages"),
        ({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({**CHAT, "temperature": "hot"}, "temperature"),
        ({**CHAT, "temperature": 7}, "temperature"),
        ({**CHAT, "max_tokens": 0}, "max_tokens"),
        ({**CHAT, "stream": "yes please"}, "stream"),
        ({**CHAT, "model": 42}, "model"),
    ],
)
def test_wrong_fields_are_400_with_the_param(
    client: TestClient, engines: FakeEngines, body: dict[str, object], param: str
) -> None:
    response = client.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param in error["message"]
    assert engines.requests == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2", b"\xff\xfe"])
def test_malformed_json_is_400(client: TestClient, engines: FakeEngines, raw: bytes) -> None:
    response = client.post(
        "/v1/chat/completions",
        content=raw,
        headers={**auth(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert engines.requests == []


def test_json_that_is_not_an_object_is_400(client: TestClient) -> None:
    response = client.post("/v1/completions", json=[1, 2, 3], headers=auth())
    assert response.status_code == 400


def test_oversized_body_is_413_by_declared_length(client: TestClient, engines: FakeEngines) -> None:
    huge = {**CHAT, "messages": [{"role": "user", "content": "x" * 70_000}]}
    response = client.post("/v1/chat/completions", json=huge, headers=auth())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-request-id"]
    assert engines.requests == []


def test_oversized_chunked_body_is_413(client: TestClient, engines: FakeEngines) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "smollm2", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}]}'

    response = client.post(
        "/v1/chat/completions",
        content=chunks(),
        headers={**auth(), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert engines.requests == []


def test_unknown_route_and_wrong_method_are_openai_errors(client: TestClient) -> None:
    missing = client.post("/v1/assistants", json={}, headers=auth())
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    wrong = client.get("/v1/chat/completions", headers=auth())
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
