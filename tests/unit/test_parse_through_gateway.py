"""The openai SDK's structured outputs through the gateway under gdpr-default (issue 14):
``chat.completions.parse()`` and ``.stream()`` with pydantic models, and parsed tool calls.

The fake engine answers as guided decoding would: JSON of the request's schema, with a card
number, an IBAN it made up and the placeholder of the name in the prompt. Through the
gateway the SDK parses the answer: the IBAN is ``"<IBAN>"``, the card ``null`` or
``"<CREDIT_CARD>"`` as the model's types allow, the name restored; a field that allows
neither is refused with an error the SDK raises as ``BadRequestError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gateway.app import create_app
from tests.unit.conftest import DE_KEY, FakeEngines, make_settings

NAME = "Max Mustermann"
IBAN = "GB82 WEST 1234 5698 7654 32"
CARD = 4111111111111111
ANSWER = {"iban": IBAN, "card": CARD, "amount": 12.5, "holder": "<PERSON_1>"}
MESSAGES: list[Any] = [{"role": "user", "content": f"Zahlung von {NAME}, bitte als JSON."}]


class Payment(BaseModel):
    iban: str
    card: int | None
    amount: float
    holder: str


class CardAsText(BaseModel):
    iban: str
    card: int | str
    amount: float
    holder: str


class CardOnly(BaseModel):
    iban: str
    card: int
    amount: float
    holder: str


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _engine(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    assert NAME not in request.content.decode()  # the name went as a placeholder
    tool = bool(body.get("tools"))
    fields: dict[str, Any] = dict(ANSWER)
    if tool:
        fields["to"] = fields.pop("holder")  # PayArgs names the payee "to"
    text = json.dumps(fields)
    usage = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}
    call = {"id": "call-1", "type": "function", "function": {"name": "pay", "arguments": text}}
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": None if tool else text}
        if tool:
            message["tool_calls"] = [call]
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": "smollm2",
                  "choices": [choice], "usage": usage}  # fmt: skip
        return httpx.Response(200, json=answer)
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "smollm2"}
    deltas = [{"content": text[i : i + 4]} for i in range(0, len(text), 4)]
    events = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": usage})
    sse = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events]
    headers = {"content-type": "text/event-stream"}
    return httpx.Response(200, content=_chunks([*sse, b"data: [DONE]\n\n"]), headers=headers)


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    settings = make_settings()  # acme-de names no policy: gdpr-default
    app = create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines(_engine)))
    with TestClient(app) as test_client:
        yield openai.OpenAI(
            base_url="http://testserver/v1", api_key=DE_KEY, http_client=test_client, max_retries=0
        )


def test_parse_with_a_pydantic_model_succeeds_with_the_values_masked(
    client: openai.OpenAI,
) -> None:
    completion = client.chat.completions.parse(
        model="smollm2", messages=MESSAGES, response_format=Payment
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Payment(iban="<IBAN>", card=None, amount=12.5, holder=NAME)
    as_text = client.chat.completions.parse(
        model="smollm2", messages=MESSAGES, response_format=CardAsText
    )
    assert as_text.choices[0].message.parsed == CardAsText(
        iban="<IBAN>", card="<CREDIT_CARD>", amount=12.5, holder=NAME
    )


def test_a_streamed_parse_succeeds_too(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="smollm2", messages=MESSAGES, response_format=Payment
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Payment(
        iban="<IBAN>", card=None, amount=12.5, holder=NAME
    )


def test_a_field_that_allows_no_masked_value_is_refused_with_a_clear_error(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.parse(model="smollm2", messages=MESSAGES, response_format=CardOnly)
    assert refused.value.code == "pii_masked_in_typed_field"
    assert refused.value.param == "card"
    assert str(CARD) not in str(refused.value)


class PayArgs(BaseModel):
    iban: str
    card: int | None
    amount: float
    to: str


def test_parsed_tool_call_arguments_succeed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="smollm2",
        messages=MESSAGES,
        tools=[openai.pydantic_function_tool(PayArgs, name="pay")],
    )
    call = (completion.choices[0].message.tool_calls or [])[0]
    assert call.function.parsed_arguments == PayArgs(iban="<IBAN>", card=None, amount=12.5, to=NAME)
