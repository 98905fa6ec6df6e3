"""JSON answers stay JSON through gdpr-default against the real vLLM engine (issue 14).

vLLM's structured outputs pin what the small CPU model writes: a schema whose ``enum`` holds
a card number (a number in the schema, so the prompt's policy leaves it as it is) makes the
model write that number, which the answer's policy masks. What the client receives must be
JSON, the card never in it, and the field as the schema allows: ``null`` or a string where
it may be one, the answer refused where it may only be an integer. The SDK's ``parse()``
with a pydantic model is run unpinned: the model writes what it likes, the JSON must parse.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, Field

from tests.e2e.conftest import MODEL, Gateway

pytestmark = pytest.mark.engine

CARD = 4111111111111111
ASK: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Gib die Kartennummer als JSON zurück."}
]


def _pinned(card: dict[str, Any]) -> dict[str, Any]:
    """Structured outputs with a schema whose only field is ``card``, compact JSON."""
    schema = {
        "type": "object",
        "properties": {"card": card},
        "required": ["card"],
        "additionalProperties": False,
    }
    return {"structured_outputs": {"json": schema, "disable_any_whitespace": True}}


def _create(gateway: Gateway, stream: bool, card: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(the answer's text as the client reassembles it, the response headers)."""
    client = gateway.client()
    # Greedy: sampled, the small model may spend its tokens on the whitespace JSON allows.
    options: dict[str, Any] = {"model": MODEL, "messages": ASK, "max_tokens": 40, "temperature": 0}
    if not stream:
        raw = client.chat.completions.with_raw_response.create(**options, extra_body=_pinned(card))
        return raw.parse().choices[0].message.content or "", dict(raw.headers)
    with client.chat.completions.with_streaming_response.create(
        **options, stream=True, extra_body=_pinned(card)
    ) as response:
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
        )
        return text, dict(response.headers)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_card_number_where_the_schema_allows_null_or_a_string_stays_json(
    gateway: Gateway, stream: bool
) -> None:
    # Either branch the model takes, the client gets JSON without the number.
    nullable = {"anyOf": [{"type": "integer", "enum": [CARD]}, {"type": "null"}]}
    text, headers = _create(gateway, stream, nullable)
    assert headers["x-sovereign-policy"].startswith("gdpr-default@")
    assert json.loads(text) == {"card": None}
    textual = {"anyOf": [{"type": "integer", "enum": [CARD]}, {"type": "string", "enum": ["-"]}]}
    text, _ = _create(gateway, stream, textual)
    assert json.loads(text)["card"] in ("<CREDIT_CARD>", "-")
    assert str(CARD) not in text


def test_a_card_number_where_the_schema_allows_only_an_integer_is_refused(
    gateway: Gateway,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _create(gateway, False, {"type": "integer", "enum": [CARD]})
    assert refused.value.code == "pii_masked_in_typed_field"
    assert refused.value.param == "card"
    with pytest.raises(openai.APIError) as ended:  # in-band, once the stream has started
        _create(gateway, True, {"type": "integer", "enum": [CARD]})
    assert "pii_masked_in_typed_field" in str(ended.value.body)
    assert str(CARD) not in str(ended.value.body)


class Contact(BaseModel):
    name: str = Field(max_length=24)
    card: int | None


def test_parse_with_a_pydantic_model_through_the_gateway(gateway: Gateway) -> None:
    completion = gateway.client().chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Herr Max Mustermann, Karte 4111111111111111."}],
        response_format=Contact,
        max_tokens=60,
        temperature=0,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Contact)
    assert parsed.card != CARD
