"""Where the official SDKs expose the token of a Responses API and an Anthropic Messages
stream (``gateway/provenance/typed_stream.py``): the relayed bytes served to each SDK through
a mock transport."""

from __future__ import annotations

import anthropic
import httpx2
import openai

from tests.provenance.typed_events import messages_events, relay, responses_events

SSE = {"content-type": "text/event-stream"}
HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]


def _openai(body: bytes) -> openai.OpenAI:
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, content=body, headers=SSE))
    return openai.OpenAI(
        base_url="http://gw/v1", api_key="k", http_client=httpx2.Client(transport=transport)
    )


def _anthropic(body: bytes) -> anthropic.Anthropic:
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, content=body, headers=SSE))
    return anthropic.Anthropic(
        base_url="http://gw", api_key="k", http_client=httpx2.Client(transport=transport)
    )


def test_the_openai_sdk_keeps_the_token_of_a_responses_stream() -> None:
    out, _ = relay(responses_events(["Hal", "lo"]), "responses")
    client = _openai(b"".join(out))
    found = [
        e.response.model_extra
        for e in client.responses.create(model="m", input="hi", stream=True)
        if e.type == "response.completed"
    ]
    assert found == [{"provenance": {"token": "token-1"}}]
    with client.responses.stream(model="m", input="hi") as stream:
        completed = [e.response for e in stream if e.type == "response.completed"]
        final = stream.get_final_response()
    assert completed[0].model_extra == {"provenance": {"token": "token-1"}}
    assert final.output_text == "Hallo"
    assert final.model_extra == {"provenance": {"token": "token-1"}}  # the helper keeps it


def test_the_anthropic_sdk_keeps_the_token_on_the_raw_message_stop_only() -> None:
    out, _ = relay(messages_events(["Hal", "lo"]), "messages")
    client = _anthropic(b"".join(out))
    raw = client.messages.create(model="m", max_tokens=5, messages=HI, stream=True)
    stops = [e.model_extra for e in raw if e.type == "message_stop"]
    assert stops == [{"provenance": {"token": "token-1"}}]
    # The helper replaces message_stop with its own event and builds the final message
    # from the others: the token is not there (documented in typed_stream.py).
    with client.messages.stream(model="m", max_tokens=5, messages=HI) as stream:
        helper_stops = [e.model_extra for e in stream if e.type == "message_stop"]
        final = stream.get_final_message()
    assert helper_stops == [{}]
    assert final.content[0].type == "text"
    assert final.content[0].text == "Hallo"
    assert final.model_extra == {}
