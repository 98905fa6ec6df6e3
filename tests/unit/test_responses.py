"""``POST /v1/responses`` through the gateway (issue 14), with the openai SDK's
``client.responses.create`` as the client and a fake vLLM (``responses_engine.py``) behind
``httpx.MockTransport``: stateless, every text the client sends under the tenant's policy,
answers restored and masked (streamed: deltas and whole texts consistent), metered from the
engine's ``usage``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.privacy.conversation import conversation_id
from gateway.privacy.fields import FIELDS
from gateway.privacy.json_answers import PLAIN
from gateway.privacy.responses_stream import ResponsesStream
from tests.unit.conftest import DE_KEY, FakeEngines, auth, ledger, make_settings
from tests.unit.responses_engine import ResponsesEngine

NAME = "Max Mustermann"
CARD = "4111111111111111"
INPUT = f"Schreib einen Gruß an {NAME}."


@pytest.fixture
def engine() -> ResponsesEngine:
    return ResponsesEngine()


def _gateway(engine: ResponsesEngine, policy: str | None) -> Iterator[TestClient]:
    settings = make_settings(privacy={"default_policy": policy})
    app = create_app(settings, upstream_transport=httpx.MockTransport(FakeEngines(engine)))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def gdpr(engine: ResponsesEngine) -> Iterator[TestClient]:
    yield from _gateway(engine, "gdpr-default")


@pytest.fixture
def plain(engine: ResponsesEngine) -> Iterator[TestClient]:
    yield from _gateway(engine, None)


def sdk(test_client: TestClient) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1", api_key=DE_KEY, http_client=test_client, max_retries=0
    )


def streamed(client: openai.OpenAI, **request: Any) -> tuple[list[Any], Any]:
    """(every event, the response of ``response.completed``)."""
    events = list(client.responses.create(model="smollm2", stream=True, **request))
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    assert events[-1] is completed[0]
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))  # still counting up by one
    return events, completed[0].response


def deltas(events: list[Any], kind: str = "response.output_text.delta") -> str:
    return "".join(e.delta for e in events if e.type == kind)


def test_whole_answer_without_a_policy_is_vllms(plain: TestClient, engine: ResponsesEngine) -> None:
    answer = sdk(plain).responses.create(model="smollm2", input=INPUT, instructions="Kurz.")
    assert answer.output_text == "Hallo du!"
    assert answer.usage is not None
    assert answer.usage.input_tokens == 23
    body = engine.bodies[0]
    assert body["input"] == INPUT
    assert body["instructions"] == "Kurz."
    assert body["store"] is False  # stateless: the engine keeps nothing either
    assert "stream_options" not in body
    records = ledger(plain)
    assert [
        (r.endpoint, r.prompt_tokens, r.completion_tokens, r.usage_source) for r in records
    ] == [("responses", 23, 8, "engine")]


def test_stream_without_a_policy_is_relayed_and_metered(plain: TestClient) -> None:
    events, final = streamed(sdk(plain), input=INPUT)
    assert deltas(events) == final.output_text == "Hallo du!"
    assert final.usage.output_tokens == 8
    records = ledger(plain)
    assert [(r.prompt_tokens, r.completion_tokens, r.status) for r in records] == [(23, 8, "ok")]


def test_a_stream_the_engine_breaks_off_ends_in_an_error_and_is_estimated(
    plain: TestClient, engine: ResponsesEngine
) -> None:
    engine.cut = 4  # no output_text.done, ..., no response.completed
    with pytest.raises(openai.APIError, match="before its end event"):
        list(sdk(plain).responses.create(model="smollm2", input=INPUT, stream=True))
    (record,) = ledger(plain)
    assert (record.status, record.usage_source) == ("failed", "estimate")
    assert record.completion_tokens == 3  # one token per delta event relayed


def test_whole_answer_is_pseudonymised_and_restored(
    gdpr: TestClient, engine: ResponsesEngine
) -> None:
    answer = sdk(gdpr).responses.create(
        model="smollm2",
        input=[{"role": "user", "content": [{"type": "input_text", "text": INPUT}]}],
        instructions=f"Du schreibst für {NAME}.",
        metadata={"case": f"Akte {NAME}"},
    )
    sent = engine.bodies[0]
    assert NAME not in str(sent)  # input items, instructions, metadata: all pseudonymised
    assert "<PERSON_1>" in sent["input"][0]["content"][0]["text"]
    assert answer.output_text == f"Hallo {NAME}!"  # the model's placeholder, restored
    assert answer.instructions == f"Du schreibst für {NAME}."  # the echo restored too
    assert answer.metadata == {"case": f"Akte {NAME}"}


def test_stream_is_restored_with_whole_texts_as_streamed(gdpr: TestClient) -> None:
    events, final = streamed(sdk(gdpr), input=INPUT, instructions=f"Für {NAME}.")
    text = deltas(events)
    assert text == f"Hallo {NAME}!"
    done = [e for e in events if e.type == "response.output_text.done"]
    assert [e.text for e in done] == [text]
    part = next(e for e in events if e.type == "response.content_part.done").part
    assert part.text == text
    assert final.output_text == text
    assert final.instructions == f"Für {NAME}."


@pytest.mark.parametrize("stream", [False, True])
def test_a_card_the_model_makes_up_is_masked(
    gdpr: TestClient, engine: ResponsesEngine, stream: bool
) -> None:
    # (A newline and quotes: some deltas are parsed, the others read on their bytes.)
    engine.text = f'Hallo {{name}},\ndie "Karte" {CARD} ist gesperrt, bitte melde dich bald.'
    client = sdk(gdpr)
    if stream:
        events, final = streamed(client, input=INPUT)
        text = deltas(events)
        assert final.output_text == text
    else:
        text = client.responses.create(model="smollm2", input=INPUT).output_text
    assert CARD not in text
    assert "<CREDIT_CARD>" in text
    assert text.startswith(f'Hallo {NAME},\ndie "Karte"')


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_arguments_stay_json_masked_and_restored(
    gdpr: TestClient, engine: ResponsesEngine, stream: bool
) -> None:
    engine.tool = "pay"
    engine.arguments = '{"who": "<PERSON_1>", "card": ' + CARD + "}"
    tools: Any = [
        {
            "type": "function",
            "name": "pay",
            "description": f"Zahlung für {NAME} auslösen",
            "parameters": {"type": "object", "properties": {"who": {"type": "string"}}},
        }
    ]
    client = sdk(gdpr)
    if stream:
        events, final = streamed(client, input=INPUT, tools=tools)
        arguments = deltas(events, "response.function_call_arguments.delta")
        done = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert [e.arguments for e in done] == [arguments]
    else:
        final = client.responses.create(model="smollm2", input=INPUT, tools=tools)
    call = final.output[0]
    assert call.type == "function_call"
    if stream:
        assert call.arguments == arguments
    assert json.loads(call.arguments) == {"who": NAME, "card": "<CREDIT_CARD>"}
    assert NAME not in str(engine.bodies[0]["tools"])  # the description was analysed


@pytest.mark.parametrize("stream", [False, True])
def test_a_json_answer_stays_json_when_a_value_is_masked(
    gdpr: TestClient, engine: ResponsesEngine, stream: bool
) -> None:
    engine.text = '{"who": "{name}", "card": ' + CARD + "}"
    schema = {"type": "object", "properties": {"who": {"type": "string"}, "card": {}}}
    text: Any = {"format": {"type": "json_schema", "name": "payment", "schema": schema}}
    client = sdk(gdpr)
    if stream:
        events, final = streamed(client, input=INPUT, text=text)
        assert deltas(events) == final.output_text
    else:
        final = client.responses.create(model="smollm2", input=INPUT, text=text)
    assert json.loads(final.output_text) == {"who": NAME, "card": "<CREDIT_CARD>"}


def test_function_call_outputs_and_calls_in_input_are_analysed(
    gdpr: TestClient, engine: ResponsesEngine
) -> None:
    sdk(gdpr).responses.create(
        model="smollm2",
        input=[
            {"role": "user", "content": INPUT},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "lookup",
                "arguments": f'{{"name": "{NAME}"}}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": f"{NAME} wohnt hier"},
        ],
    )
    sent = engine.bodies[0]["input"]
    assert NAME not in str(sent)
    assert "<PERSON_1>" in sent[1]["arguments"]
    assert "<PERSON_1>" in sent[2]["output"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("previous_response_id", "resp_123"), ("background", True), ("conversation", "conv_1")],
)
def test_stateful_requests_are_refused_naming_the_field(
    plain: TestClient, engine: ResponsesEngine, field: str, value: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(plain).responses.create(model="smollm2", input=INPUT, extra_body={field: value})
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == field
    assert "stateless" in error["message"]
    assert engine.bodies == []


def test_an_input_item_the_policy_cannot_check_is_refused(
    gdpr: TestClient, engine: ResponsesEngine
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gdpr).responses.create(
            model="smollm2", input=[{"type": "item_reference", "id": "msg_1"}]
        )
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "input.0"
    assert engine.bodies == []


def test_the_route_is_in_the_openapi_document(plain: TestClient) -> None:
    document = plain.get("/openapi.json").json()
    assert "/v1/responses" in document["paths"]


# vLLM 0.32's ResponsesRequest, field by field (``sorted(ResponsesRequest.model_fields)`` in
# the engine's environment), and OpenAI's fields vLLM does not declare.
_VLLM_NAMES = (
    "background cache_salt chat_template_kwargs ec_transfer_params "
    "enable_response_messages frequency_penalty ignore_eos include include_reasoning "
    "include_stop_str_in_output input instructions kv_transfer_params logit_bias "
    "max_output_tokens max_tool_calls media_io_kwargs metadata min_p mm_payload "
    "mm_processor_kwargs model parallel_tool_calls presence_penalty "
    "previous_input_messages previous_response_id priority prompt prompt_cache_key "
    "reasoning repetition_penalty request_id return_mm_kwargs seed service_tier "
    "session_id skip_special_tokens stop stop_token_ids store stream structured_outputs "
    "temperature text tool_choice tools top_k top_logprobs top_p truncation user "
    "vllm_xargs watermarking"
)
VLLM_FIELDS = frozenset(_VLLM_NAMES.split())
OPENAI_ONLY = ("conversation", "safety_identifier", "stream_options", "prompt_cache_retention")


def test_the_catalogue_knows_every_field_of_a_responses_request() -> None:
    assert VLLM_FIELDS | set(OPENAI_ONLY) <= set(FIELDS["/v1/responses"])


def test_a_conversation_keeps_its_pseudonym_map_from_text_to_items() -> None:
    first = {"input": INPUT, "instructions": "Kurz."}
    second = {
        "instructions": "Kurz.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": INPUT}]},
            {"role": "assistant", "content": "Hallo!"},
            {"role": "user", "content": "Und noch einmal."},
        ],
    }
    path = "/v1/responses"
    assert conversation_id(None, first, path) == conversation_id(None, second, path)


class _Events:
    """A relay source of fixed events (as the metering tap hands them on)."""

    finish_on_disconnect = False

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._chunks = [
            b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
            for e in events
        ]

    async def events(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        return None


def test_reasoning_and_custom_tool_input_are_restored_as_streamed() -> None:
    reasoning = "response.reasoning_text"
    custom = "response.custom_tool_call_input"
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning"}},
        *({"type": reasoning + ".delta", "output_index": 0, "content_index": 0, "delta": d}
          for d in ("Für <PER", "SON_1> denken")),
        {"type": reasoning + ".done", "output_index": 0, "content_index": 0,
         "text": "Für <PERSON_1> denken"},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"type": "custom_tool_call", "name": "note"}},
        {"type": custom + ".delta", "output_index": 1, "delta": "an <PERSON_1"},
        {"type": custom + ".done", "output_index": 1, "input": "an <PERSON_1"},
    ]  # fmt: skip
    for number, event in enumerate(events):
        event["sequence_number"] = number
    shaped = ResponsesStream(_Events(events), {"<PERSON_1>": NAME}, None, PLAIN)

    async def relay() -> list[dict[str, Any]]:
        out = b"".join([chunk async for chunk in shaped.events()])
        return [json.loads(e.split(b"\ndata: ")[1]) for e in out.split(b"\n\n") if e]

    got = asyncio.run(relay())
    thought = "".join(e["delta"] for e in got if e["type"] == reasoning + ".delta")
    assert thought == f"Für {NAME} denken"
    assert [e["text"] for e in got if e["type"] == reasoning + ".done"] == [thought]
    # A tail that never became a placeholder goes out as one more delta, before its end.
    typed = [e["type"] for e in got if e["type"].startswith(custom)]
    assert typed == [custom + ".delta", custom + ".delta", custom + ".done"]
    given = "".join(e["delta"] for e in got if e["type"] == custom + ".delta")
    assert given == "an <PERSON_1" == next(e["input"] for e in got if e["type"] == custom + ".done")
    assert [e["sequence_number"] for e in got] == list(range(len(got)))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/responses/resp_123"),
        ("DELETE", "/v1/responses/resp_123"),
        ("POST", "/v1/responses/resp_123/cancel"),
        ("GET", "/v1/responses/resp_123/input_items"),
    ],
)
def test_stored_response_routes_say_that_nothing_is_stored(
    plain: TestClient, method: str, path: str
) -> None:
    """The SDK's ``responses.retrieve/delete/cancel`` and ``input_items.list``: a 404 that
    says why (responses are never stored here), after authentication, never a bare 404."""
    assert plain.request(method, path).status_code == 401
    answer = plain.request(method, path, headers=auth())
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "response_not_stored"
    assert "resp_123" in error["message"]
    assert "store" in error["message"]
    with pytest.raises(openai.NotFoundError):
        sdk(plain).responses.retrieve("resp_123")
