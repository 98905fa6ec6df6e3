"""``POST /v1/messages`` (Anthropic's Messages API) through the whole request path, with
Anthropic's own SDK as the client (issue 14): its ``x-api-key``, its exceptions raised from our
Anthropic-shaped errors, its typed stream events. A fake engine behind ``httpx.MockTransport``
answers as vLLM's Anthropic route does (it echoes the last user text, so the test sees what
the engine got and what the client got back); the real analyzer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import hash_key
from gateway.settings import Settings
from tests.unit.conftest import DE_KEY, FakeEngines, ledger
from tests.unit.conftest import make_settings as base_settings

OPEN = "sk-messages-open-0001"
EMAIL = "max.mustermann@example.de"
CARD = "4111 1111 1111 1111"
USAGE = {"input_tokens": 11, "output_tokens": 7}


def _last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:  # one write per event, as vLLM's server writes them
        yield part


def _sse(events: list[bytes]) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=_chunks(events)
    )


def _stream(text: str, *, pieces: int = 4, stop: bool = True) -> list[bytes]:
    """The events vLLM writes for an answer ``text`` (its key order, compact JSON)."""
    start: dict[str, Any] = {
        "id": "chatcmpl-1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "smollm2",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": USAGE["input_tokens"], "output_tokens": 0},
    }
    events = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "content_block": {"type": "text", "text": ""},
                "index": 0,
            },
        ),
    ]
    for at in range(0, len(text), pieces):
        delta = {"type": "text_delta", "text": text[at : at + pieces]}
        events.append(
            _event(
                "content_block_delta", {"type": "content_block_delta", "delta": delta, "index": 0}
            )
        )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if stop:
        final = {"stop_reason": "end_turn", "stop_sequence": None}
        events.append(
            _event("message_delta", {"type": "message_delta", "delta": final, "usage": USAGE})
        )
        events.append(_event("message_stop", {"type": "message_stop"}))
    return events


def vllm(request: httpx.Request) -> httpx.Response:
    """vLLM's /v1/messages: echoes the last user text (and a card number, if asked)."""
    assert request.url.path == "/v1/messages"
    body = json.loads(request.content)
    if body.get("top_k") == 7:
        error = {"type": "BadRequestError", "message": "top_k 7 is not supported"}
        return httpx.Response(400, json={"type": "error", "error": error})
    text = _last_user_text(body)
    if body.get("tool_choice"):
        return _tool_call(text, stream=bool(body.get("stream")))
    if "Karte" in text:
        text += f" Ihre Karte: {CARD}."
    if body.get("stream"):
        return _sse(_stream(text))
    answer = {
        "id": "chatcmpl-1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": "smollm2",
        "stop_reason": "end_turn",
        "usage": USAGE,
    }
    return httpx.Response(200, json=answer)


CARD_NUMBER = 4111111111111111


def _tool_call(text: str, *, stream: bool) -> httpx.Response:
    """A call of ``send_mail`` to the user's text, with a card number the model made up."""
    arguments = {"to": text, "card": CARD_NUMBER}
    block = {"type": "tool_use", "id": "toolu_1", "name": "send_mail", "input": arguments}
    if not stream:
        answer = {"id": "m1", "type": "message", "role": "assistant", "content": [block],
                  "model": "smollm2", "stop_reason": "tool_use", "usage": USAGE}  # fmt: skip
        return httpx.Response(200, json=answer)
    events = _stream("", stop=False)[:1]  # message_start
    started = {**block, "input": {}}
    events.append(
        _event(
            "content_block_start",
            {"type": "content_block_start", "content_block": started, "index": 0},
        )
    )
    raw = json.dumps(arguments)
    for at in range(0, len(raw), 5):
        delta = {"type": "input_json_delta", "partial_json": raw[at : at + 5]}
        events.append(
            _event(
                "content_block_delta", {"type": "content_block_delta", "delta": delta, "index": 0}
            )
        )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    final = {"stop_reason": "tool_use", "stop_sequence": None}
    events.append(
        _event("message_delta", {"type": "message_delta", "delta": final, "usage": USAGE})
    )
    events.append(_event("message_stop", {"type": "message_stop"}))
    return _sse(events)


TOOLS = [
    {
        "name": "send_mail",
        "description": "Sendet eine E-Mail",
        "input_schema": {"type": "object", "properties": {"to": {"type": "string"}}},
    }
]


def make_settings() -> Settings:
    def tenant(tid: str, key: str, **spec: Any) -> dict[str, Any]:
        return {"id": tid, "api_keys": [{"id": tid, "hash": hash_key(key)}], **spec}

    return base_settings(
        privacy={"default_policy": None},
        tenants=[
            tenant("acme-de", DE_KEY, policy="gdpr-default"),
            tenant("open", OPEN, allowed_jurisdictions=["DE", "AT"]),
        ],
    )


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines(vllm)


@pytest.fixture
def client(engines: FakeEngines) -> Iterator[TestClient]:
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as test_client:
        yield test_client


def sdk(client: TestClient, key: str = DE_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=key, base_url=str(client.base_url), http_client=client, max_retries=0
    )


def ask(text: str, **more: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    return {"model": "smollm2", "max_tokens": 64, "messages": messages, **more}


def test_without_a_policy_the_answer_and_the_request_are_the_engines(
    client: TestClient, engines: FakeEngines
) -> None:
    message = sdk(client, OPEN).messages.create(**ask(f"Schreibe an {EMAIL}"))
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Schreibe an {EMAIL}"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    assert engines.last_body() == ask(f"Schreibe an {EMAIL}")
    assert engines.requests[-1].url.path == "/v1/messages"
    (record,) = ledger(client, "open")
    assert (record.prompt_tokens, record.completion_tokens) == (11, 7)
    assert record.endpoint == "messages"


def test_the_key_may_come_as_x_api_key_or_as_a_bearer_token(client: TestClient) -> None:
    by_bearer = anthropic.Anthropic(
        auth_token=OPEN, base_url=str(client.base_url), http_client=client, max_retries=0
    )
    assert by_bearer.messages.create(**ask("Hallo")).content[0].text == "Hallo"
    assert sdk(client, OPEN).messages.create(**ask("Hallo")).content[0].text == "Hallo"


def test_errors_are_anthropics_and_the_sdk_raises_its_own_exceptions(
    client: TestClient, engines: FakeEngines
) -> None:
    with pytest.raises(anthropic.AuthenticationError) as failed:
        sdk(client, "sk-nobody-knows-this-key").messages.create(**ask("Hallo"))
    body: Any = failed.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == "invalid_api_key"  # ours, beside Anthropic's fields
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk(client, OPEN).messages.create(**{**ask("Hallo"), "model": "nope"})
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as invalid:
        sdk(client, OPEN).messages.create(**ask("x", max_tokens=0))
    assert invalid.value.body["type"] == "error"  # type: ignore[index]
    assert invalid.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert engines.requests == []
    # More than the model's context: refused before admission, nothing sent.
    with pytest.raises(anthropic.BadRequestError) as too_long:
        sdk(client, OPEN).messages.create(**ask("Hallo", max_tokens=5000))
    assert too_long.value.body["error"]["code"] == "context_length_exceeded"  # type: ignore[index]
    assert engines.requests == []
    # The engine's own 4xx: as vLLM wrote it.
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk(client, OPEN).messages.create(**ask("Hallo"), extra_body={"top_k": 7})
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "BadRequestError", "message": "top_k 7 is not supported"},
    }


def test_raw_error_shape_without_a_key(client: TestClient) -> None:
    answer = client.post("/v1/messages", json=ask("Hallo"))
    assert answer.status_code == 401
    body = answer.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert isinstance(body["error"]["message"], str)


def test_under_the_policy_every_text_is_pseudonymised_and_the_answer_restored(
    client: TestClient, engines: FakeEngines
) -> None:
    request: dict[str, Any] = {
        "model": "smollm2",
        "max_tokens": 64,
        "system": [{"type": "text", "text": f"Kunde: {EMAIL}"}],
        "metadata": {"user_id": EMAIL},
        "tools": [
            {
                "name": "send_mail",
                "description": f"Sendet an {EMAIL}",
                "input_schema": {
                    "type": "object",
                    "properties": {"to": {"type": "string", "description": f"z.B. {EMAIL}"}},
                },
            }
        ],
        "messages": [
            {"role": "user", "content": "Hallo"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "send_mail", "input": {"to": EMAIL}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": f"gesendet an {EMAIL}"},
                    {"type": "text", "text": f"Schreibe an {EMAIL}"},
                ],
            },
        ],
    }
    message = sdk(client).messages.create(**request)
    sent = engines.requests[-1].content.decode()
    assert EMAIL not in sent  # not in system, metadata, tools, tool_use, tool_result, text
    assert json.loads(sent)["tools"][0]["name"] == "send_mail"
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Schreibe an {EMAIL}"


def test_a_card_number_the_model_makes_up_is_masked(client: TestClient) -> None:
    message = sdk(client).messages.create(**ask("Nenne die Karte"))
    assert message.content[0].type == "text"
    assert CARD not in message.content[0].text
    assert "<CREDIT_CARD>" in message.content[0].text


def test_streamed_the_text_is_restored_and_masked_event_by_event(
    client: TestClient, engines: FakeEngines
) -> None:
    with sdk(client).messages.stream(**ask(f"Schreibe an {EMAIL} wegen der Karte")) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert EMAIL not in engines.requests[-1].content.decode()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert final.content[0].type == "text"
    answer = final.content[0].text
    assert answer.startswith(f"Schreibe an {EMAIL} wegen der Karte Ihre Karte: ")
    assert CARD not in answer
    assert "<CREDIT_CARD>" in answer
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)
    (record,) = ledger(client, "acme-de")
    assert (record.prompt_tokens, record.completion_tokens) == (11, 7)


def test_streamed_without_a_policy_the_events_are_the_engines(
    client: TestClient, engines: FakeEngines
) -> None:
    with client.stream(
        "POST", "/v1/messages", json=ask("Hallo Welt", stream=True), headers={"x-api-key": OPEN}
    ) as answer:
        body = b"".join(answer.iter_bytes())
    assert answer.status_code == 200
    assert body == b"".join(_stream("Hallo Welt"))
    (record,) = ledger(client, "open")
    assert (record.prompt_tokens, record.completion_tokens) == (11, 7)


def test_a_stream_that_ends_early_ends_with_an_anthropic_error_event(
    client: TestClient, engines: FakeEngines
) -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        return _sse(_stream("Hallo", stop=False))

    engines.handler = cut

    def read_all() -> None:
        with sdk(client, OPEN).messages.stream(**ask("Hallo")) as stream:
            for _ in stream:
                pass

    with pytest.raises(anthropic.APIStatusError):
        read_all()
    (record,) = ledger(client, "open")
    assert record.status == "failed"
    assert record.prompt_tokens == 11  # the engine's count, from message_start
    assert record.usage_source == "estimate"  # the output: one token per delta relayed


def test_under_the_policy_an_image_is_refused_unless_let_through(client: TestClient) -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
    }
    body: dict[str, Any] = {
        "model": "smollm2",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": [image]}],
    }
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk(client).messages.create(**body)
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["code"] == "unanalysable_input"
    assert "messages.0.content.0" in error["message"]


def test_under_the_policy_an_unknown_field_is_refused(client: TestClient) -> None:
    answer = client.post(
        "/v1/messages", json=ask("Hallo", container="c1"), headers={"x-api-key": DE_KEY}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unknown_field"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_calls_input_is_restored_and_masked_and_stays_an_object(
    client: TestClient, engines: FakeEngines, stream: bool
) -> None:
    """The input is analysed as one JSON text: the pseudonym in a string comes back (JSON
    escaped), the card number the model made up (a bare number) becomes a JSON string, as the
    tool's schema allows anything there."""
    request = ask(f"Schreibe an {EMAIL}", tools=TOOLS, tool_choice={"type": "any"})
    if stream:
        with sdk(client).messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = sdk(client).messages.create(**request)
    assert EMAIL not in engines.requests[-1].content.decode()
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "send_mail"
    assert block.input == {"to": f"Schreibe an {EMAIL}", "card": "<CREDIT_CARD>"}
    assert message.stop_reason == "tool_use"


def test_the_usual_text_event_is_never_parsed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a policy, text deltas of the block's learned shape are read as bytes: only the
    first delta of a block is parsed, however long the answer."""
    from gateway.anthropic import stream as module

    parsed: list[bytes] = []
    real = module.data_of

    def counting(event: bytes) -> Any:
        parsed.append(event)
        return real(event)

    monkeypatch.setattr(module, "data_of", counting)
    text = "Ein langer Satz ohne Ziffern, der in vielen kleinen Stücken kommt " * 3
    with sdk(client).messages.stream(**ask(f"{text} an {EMAIL}")) as events:
        message = events.get_final_message()
    assert message.content[0].type == "text"
    assert message.content[0].text == f"{text} an {EMAIL}"
    deltas = [e for e in parsed if e.startswith(b"event: content_block_delta")]
    assert len(deltas) == 1, deltas


# vLLM 0.32's AnthropicMessagesRequest, field by field (vllm/entrypoints/anthropic/protocol.py).
VLLM_FIELDS = {
    "model", "messages", "max_tokens", "metadata", "output_config", "thinking",
    "stop_sequences", "stream", "system", "temperature", "tool_choice", "tools", "top_k",
    "top_p", "mm_payload", "return_mm_kwargs", "cache_salt", "watermarking",
    "kv_transfer_params", "ec_transfer_params", "vllm_xargs", "chat_template_kwargs",
}  # fmt: skip


def test_the_catalogue_knows_every_field_vllm_takes() -> None:
    from gateway.privacy.fields import FIELDS

    assert set(FIELDS["/v1/messages"]) >= VLLM_FIELDS


def test_under_the_policy_stop_sequences_and_thinking_settings_are_analysed(
    client: TestClient, engines: FakeEngines
) -> None:
    request = ask("Hallo", stop_sequences=[f"Ende {EMAIL}"], output_config={"effort": "low"})
    answer = client.post("/v1/messages", json=request, headers={"x-api-key": DE_KEY})
    assert answer.status_code == 200, answer.text
    sent = engines.last_body()
    assert EMAIL not in json.dumps(sent)
    assert sent["output_config"] == {"effort": "low"}


def test_the_content_log_copies_a_streamed_messages_answer() -> None:
    """A tenant whose policy keeps content: the streamed answer's deltas, per block."""
    from gateway.privacy.content import ContentCapture
    from policies.model import load_preset

    capture = ContentCapture.of_request(
        load_preset("gdpr-default"), ask("Hallo", system="Sei kurz."), "/v1/messages"
    )
    assert capture.prompt == ["Sei kurz.", "Hallo"]
    for event in _stream("Hallo Welt"):
        capture.stream_event(event)
    assert capture.answer == ["Hallo Welt"]
