"""Through the app (fake engines behind ``httpx.MockTransport``): the token of a Responses API
and an Anthropic Messages stream is in its end event, signed over the text the client got (the
disclosure notice included), and verifies; every token says whether the engine that answered
was told to watermark the text (its pool's ``watermark``: off, on, client)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.settings import Settings
from serving.watermark_scheme import REQUEST_ARG
from tests.provenance.typed_events import data_of, messages_events, responses_events
from tests.servers import TEST_WATERMARK
from tests.unit.conftest import FakeEngines, chat_ok

KEY, WANTS, NOTICE_KEY = "sk-prov-typed-0001", "sk-prov-typed-0002", "sk-prov-typed-0003"
NOTICE = "Note: AI."
PIECES = ["Hal", "lo ", "Welt"]


async def _writes(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:  # one network write per event, as vLLM sends them
        yield event


def _engine(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/v1/responses":
        events = responses_events(PIECES)
    elif path == "/v1/messages":
        events = messages_events(PIECES)
    else:
        return chat_ok(request)
    return httpx.Response(
        200, content=_writes(events), headers={"content-type": "text/event-stream"}
    )


def _pool(mode: str) -> dict[str, Any]:
    return {"name": f"p-{mode}", "jurisdiction": "DE", "site": f"de-{mode}",
            "engines": [f"http://{mode}.engine:8000"], "models": [f"m-{mode}"],
            "watermark": mode}  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    scheme = TEST_WATERMARK
    settings = Settings(
        privacy={"default_policy": None},
        provenance={"default": "on", "verify_burst": 1000},
        watermark={"key": scheme.key.hex(), "tokenizer": scheme.tokenizer},
        pools=[_pool("off"), _pool("on"), _pool("client")],
        tenants=[
            {"id": "plain", "api_keys": [{"id": "k", "hash": hash_key(KEY)}]},
            {"id": "wants", "watermark": True, "api_keys": [{"id": "w", "hash": hash_key(WANTS)}]},
            {"id": "told", "api_keys": [{"id": "n", "hash": hash_key(NOTICE_KEY)}],
             "ai_disclosure": {"mode": "first_answer", "language": "en", "text": NOTICE}},
        ],
    )  # fmt: skip
    app = create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines(_engine)))
    with TestClient(app) as test_client:
        yield test_client


def _verify(client: TestClient, text: str, token: str) -> dict[str, Any]:
    response = client.post("/v1/provenance/verify", json={"text": text, "token": token})
    assert response.status_code == 200, response.text
    verdict: dict[str, Any] = response.json()["token"]
    return verdict


def _events(client: TestClient, path: str, body: dict[str, Any], key: str) -> list[Any]:
    headers = {"x-api-key": key} if path == "/v1/messages" else {"authorization": f"Bearer {key}"}
    response = client.post(path, json={**body, "stream": True}, headers=headers)
    assert response.status_code == 200, response.text
    assert "x-sovereign-provenance" not in response.headers  # in the stream, not a header
    return [data_of(e) for e in response.content.split(b"\n\n") if b"data: " in e]


def _responses(client: TestClient, key: str = KEY) -> tuple[str, str]:
    events = _events(client, "/v1/responses", {"model": "m-off", "input": "Hi"}, key)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert events[-1]["type"] == "response.completed"
    return text, events[-1]["response"]["provenance"]["token"]


def _messages(client: TestClient, key: str = KEY) -> tuple[str, str]:
    body = {"model": "m-off", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]}
    events = _events(client, "/v1/messages", body, key)
    text = "".join(
        e["delta"]["text"] for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )  # fmt: skip
    assert events[-1]["type"] == "message_stop"
    return text, events[-1]["provenance"]["token"]


@pytest.mark.parametrize("stream", [_responses, _messages])
def test_a_typed_stream_carries_a_token_for_the_text_it_delivered(
    client: TestClient, stream: Any
) -> None:
    text, token = stream(client)
    assert text == "".join(PIECES)
    verdict = _verify(client, text, token)
    assert verdict["valid"] is True, verdict
    assert (verdict["claims"]["pool"], verdict["claims"]["watermark"]) == ("p-off", False)
    assert _verify(client, text[:-1] + "x", token)["valid"] is False

    told, token = stream(client, NOTICE_KEY)  # first_answer: the notice is in the text
    assert told.startswith(NOTICE)
    assert told.endswith(text)
    assert _verify(client, told, token)["valid"] is True
    assert _verify(client, text, token)["valid"] is False


def _claims(client: TestClient, mode: str, key: str = KEY, switch: int | None = None) -> Any:
    body: dict[str, Any] = {"model": f"m-{mode}", "messages": [{"role": "user", "content": "Hi"}]}
    if switch is not None:
        body["vllm_xargs"] = {REQUEST_ARG: switch}
    response = client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    token = response.headers["x-sovereign-provenance"]
    verdict = _verify(client, response.json()["choices"][0]["message"]["content"], token)
    assert verdict["valid"] is True
    assert verdict["claims"] == jwt.decode(token, options={"verify_signature": False})
    return verdict["claims"]


@pytest.mark.parametrize(
    ("mode", "key", "switch", "expected"),
    [
        ("off", KEY, None, False),
        ("off", WANTS, 1, False),  # a pool that does not mark: never
        ("on", KEY, None, True),
        ("on", KEY, 0, True),  # a pool that marks all: always
        ("client", KEY, None, False),
        ("client", KEY, 1, True),  # asked by the request
        ("client", WANTS, None, True),  # asked by its tenant
    ],
)
def test_the_token_says_whether_the_engine_was_told_to_watermark(
    client: TestClient, mode: str, key: str, switch: int | None, expected: bool
) -> None:
    claims = _claims(client, mode, key, switch)
    assert claims["pool"] == f"p-{mode}"
    assert claims["watermark"] is expected


def test_the_cli_reports_the_watermark_claim(
    client: TestClient, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import build_parser

    body = {"model": "m-on", "messages": [{"role": "user", "content": "Hi"}]}
    response = client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
    )
    (tmp_path / "text.txt").write_text(response.json()["choices"][0]["message"]["content"])
    (tmp_path / "jwks.json").write_bytes(
        client.get("/.well-known/sovereign-provenance/jwks.json").content
    )
    args = build_parser().parse_args(["provenance", "verify",
                                      "--text-file", str(tmp_path / "text.txt"),
                                      "--token", response.headers["x-sovereign-provenance"],
                                      "--jwks", str(tmp_path / "jwks.json")])  # fmt: skip
    capsys.readouterr()  # the request's log lines, when an earlier test routed them to stdout
    assert args.func(args) == 0
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["valid"] is True
    assert verdict["claims"]["watermark"] is True
