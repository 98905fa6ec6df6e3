"""JSON answers stay JSON under gdpr-default (issue 14): through the whole gateway, with a fake
engine behind ``httpx.MockTransport`` and the real analyzer.

A JSON answer is one the request asked to be JSON (``response_format`` json_object or
json_schema, vLLM's ``guided_json`` / ``structured_outputs.json``) or a tool call's
``arguments``. A value masked there becomes a JSON string (``"<CREDIT_CARD>"``); where the
request's schema types the field and allows no string, ``null`` if it allows that, else the
answer is withheld (400 ``pii_masked_in_typed_field``, in-band once a stream has started).
Placeholders restored there are JSON-escaped. Streamed and not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.unit.conftest import DE_KEY, FakeEngines, make_settings

NAME = "Max Mustermann"
CARD = 4111111111111111
IBAN = "GB82 WEST 1234 5698 7654 32"
PROMPT = f"Herr {NAME} möchte zahlen. Antworte als JSON."
_SSE = {"content-type": "text/event-stream"}
_USAGE = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:  # one network read per event, as an engine sends them
        yield part


def _sse(documents: list[dict[str, Any]]) -> httpx.Response:
    # vLLM's compact events: the stream guard's fast path learns their shape.
    events = [b"data: " + orjson.dumps(d) + b"\n\n" for d in documents]
    return httpx.Response(200, content=_chunks([*events, b"data: [DONE]\n\n"]), headers=_SSE)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "smollm2",
            "choices": [choice]}  # fmt: skip


class JsonEngine:
    """Answers every chat request with ``content`` (a JSON text), or with one tool call
    ``pay`` whose arguments are ``arguments``; streamed ``size`` characters an event."""

    def __init__(self) -> None:
        self.content: str | None = None
        self.arguments: str | None = None
        self.size = 3
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        text = self.content if self.arguments is None else self.arguments
        assert text is not None
        pieces = [text[i : i + self.size] for i in range(0, len(text), self.size)]
        if self.arguments is not None:
            return self._tool_call(body, pieces)
        if request.url.path == "/v1/completions":
            return self._completion(body, pieces)
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice], "usage": _USAGE})
        events = [_chunk({"role": "assistant", "content": ""})]
        events += [_chunk({"content": piece}) for piece in pieces]
        events += [_chunk({}, "stop"), {"choices": [], "usage": _USAGE}]
        return _sse(events)

    def _completion(self, body: dict[str, Any], pieces: list[str]) -> httpx.Response:
        if not body.get("stream"):
            choice = {"index": 0, "text": "".join(pieces), "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice], "usage": _USAGE})
        head = {"id": "c1", "object": "text_completion", "created": 1, "model": "smollm2"}
        events = [
            {**head, "choices": [{"index": 0, "text": p, "logprobs": None, "finish_reason": None}]}
            for p in pieces
        ]
        events.append({**head, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        return _sse([*events, {"choices": [], "usage": _USAGE}])

    def _tool_call(self, body: dict[str, Any], pieces: list[str]) -> httpx.Response:
        function = {"name": "pay", "arguments": "".join(pieces)}
        if not body.get("stream"):
            call = {"id": "call-1", "type": "function", "function": function}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return httpx.Response(200, json={"choices": [choice], "usage": _USAGE})
        first = {"index": 0, "id": "call-1", "type": "function",
                 "function": {"name": "pay", "arguments": ""}}  # fmt: skip
        events = [_chunk({"role": "assistant", "tool_calls": [first]})]
        for piece in pieces:
            events.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        events += [_chunk({}, "tool_calls"), {"choices": [], "usage": _USAGE}]
        return _sse(events)


@pytest.fixture
def engine() -> JsonEngine:
    return JsonEngine()


@pytest.fixture
def client(engine: JsonEngine) -> Iterator[TestClient]:
    settings = make_settings()  # acme-de names no policy: gdpr-default
    app = create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines(engine)))
    with TestClient(app) as test_client:
        yield test_client


def _chat(client: TestClient, stream: bool, **extra: Any) -> Any:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": PROMPT}],
            "stream": stream, **extra}  # fmt: skip
    return client.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {DE_KEY}"}
    )


def _answer(response: Any, stream: bool) -> tuple[str, str, dict[str, Any] | None]:
    """(the content, the tool call's arguments, the in-band or whole error) as received."""
    if not stream:
        document = response.json()
        if "error" in document:
            return "", "", document["error"]
        message = document["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        return (
            message.get("content") or "",
            "".join(c["function"]["arguments"] for c in calls),
            None,
        )
    content, arguments, error = "", "", None
    for event in response.text.split("\n\n"):
        if not event.startswith("data: {"):
            continue
        document = json.loads(event[6:])
        if "error" in document:
            error = document["error"]
            continue
        for choice in document["choices"]:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                arguments += (call.get("function") or {}).get("arguments") or ""
    return content, arguments, error


def _schema_format(card: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"card": card, "iban": {"type": "string"}, "kunde": {"type": "string"}},
        "required": ["card", "iban", "kunde"],
    }
    return {"type": "json_schema", "json_schema": {"name": "payment", "schema": schema}}


ANSWER = json.dumps({"card": CARD, "iban": IBAN, "kunde": "<PERSON_1>"})
EXPECTED = {"card": "<CREDIT_CARD>", "iban": "<IBAN>", "kunde": NAME}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    "how",
    [
        {"response_format": {"type": "json_object"}},
        {"response_format": _schema_format({"type": ["integer", "string"]})},
        {"guided_json": {"type": "object"}},
        {"structured_outputs": {"json": {"type": "object"}}},
    ],
    ids=["json_object", "json_schema", "guided_json", "structured_outputs"],
)
def test_a_masked_number_in_a_json_answer_becomes_a_json_string(
    client: TestClient, engine: JsonEngine, stream: bool, how: dict[str, Any]
) -> None:
    engine.content = ANSWER
    response = _chat(client, stream, **how)
    assert response.status_code == 200
    assert NAME not in json.dumps(engine.bodies[-1])  # pseudonymised on the way in
    content, _, error = _answer(response, stream)
    assert error is None
    assert json.loads(content) == EXPECTED
    if not stream:
        assert response.headers["x-sovereign-pii-response"] == "CREDIT_CARD:mask=1,IBAN:mask=1"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_masked_number_in_a_nullable_integer_field_becomes_null(
    client: TestClient, engine: JsonEngine, stream: bool
) -> None:
    engine.content = ANSWER
    card = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    response = _chat(client, stream, response_format=_schema_format(card))
    content, _, error = _answer(response, stream)
    assert error is None
    assert json.loads(content) == {**EXPECTED, "card": None}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_masked_number_in_an_integer_only_field_withholds_the_answer(
    client: TestClient, engine: JsonEngine, stream: bool
) -> None:
    engine.content = ANSWER
    response = _chat(client, stream, response_format=_schema_format({"type": "integer"}))
    _, _, error = _answer(response, stream)
    assert error is not None
    assert error["code"] == "pii_masked_in_typed_field"
    assert error["param"] == "card"
    assert "CREDIT_CARD" in error["message"]
    assert str(CARD) not in response.text
    if not stream:
        assert response.status_code == 400


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "pay",
            "parameters": {
                "type": "object",
                "properties": {
                    "card": {"type": ["integer", "string"]},
                    "amount": {"type": "number"},
                    "to": {"type": "string"},
                },
            },
        },
    }
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("size", [1, 3, 7])
def test_tool_call_arguments_stay_json_when_values_are_masked_and_restored(
    client: TestClient, engine: JsonEngine, stream: bool, size: int
) -> None:
    engine.arguments = json.dumps({"card": CARD, "amount": 12.5, "to": "<PERSON_1>"})
    engine.size = size
    response = _chat(client, stream, tools=TOOLS)
    assert response.status_code == 200
    _, arguments, error = _answer(response, stream)
    assert error is None
    assert json.loads(arguments) == {"card": "<CREDIT_CARD>", "amount": 12.5, "to": NAME}
    assert str(CARD) not in response.text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_call_arguments_typed_integer_only_withhold_the_answer(
    client: TestClient, engine: JsonEngine, stream: bool
) -> None:
    tools = json.loads(json.dumps(TOOLS))
    tools[0]["function"]["parameters"]["properties"]["card"] = {"type": "integer"}
    engine.arguments = json.dumps({"card": CARD, "amount": 12.5})
    response = _chat(client, stream, tools=tools)
    _, _, error = _answer(response, stream)
    assert error is not None
    assert error["code"] == "pii_masked_in_typed_field"
    assert str(CARD) not in response.text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_prose_answers_are_masked_as_before(
    client: TestClient, engine: JsonEngine, stream: bool
) -> None:
    engine.content = f"Die Karte {CARD} und die IBAN {IBAN} sind gesperrt, Herr <PERSON_1>."
    response = _chat(client, stream)
    content, _, error = _answer(response, stream)
    assert error is None
    assert content == f"Die Karte <CREDIT_CARD> und die IBAN <IBAN> sind gesperrt, Herr {NAME}."


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_completions_with_a_json_response_format_stay_json(
    client: TestClient, engine: JsonEngine, stream: bool
) -> None:
    engine.content = ANSWER
    body = {"model": "smollm2", "prompt": PROMPT, "stream": stream,
            "response_format": {"type": "json_object"}}  # fmt: skip
    response = client.post(
        "/v1/completions", json=body, headers={"authorization": f"Bearer {DE_KEY}"}
    )
    assert response.status_code == 200
    if stream:
        text = "".join(
            choice.get("text") or ""
            for event in response.text.split("\n\n")
            if event.startswith("data: {")
            for choice in json.loads(event[6:])["choices"]
        )
    else:
        text = response.json()["choices"][0]["text"]
    assert json.loads(text) == EXPECTED
