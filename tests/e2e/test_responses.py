"""``/v1/responses`` against the real vLLM engine (issue 14): the openai SDK's
``client.responses.create``, the same greedy call directly to vLLM and through the gateway
(no policy, and gdpr-default), streamed and not. The answers must have the same shape (output
items, event types), the same text, and the ledger the engine's own usage.

Under gdpr-default a prompt without personal data reaches the engine unchanged, so its text
must equal the direct one; a prompt with a name reaches it pseudonymised (another text), so
only the shape and the consistency of what the client gets are compared there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gateway.core.usage import UsageRecord
from tests.processes import SYSTEM_REDIS, GatewayProcess, ledger, policy_pair, policy_pair_gateway
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

MODEL = "smollm2"
KEYS = policy_pair("resp")
PLAIN, GDPR = KEYS
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "input": "Name three colours.",
    "instructions": "Answer in one short sentence.",
    "max_output_tokens": 16,
    "temperature": 0,
}


@pytest.fixture(scope="module")
def gateway(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("responses")
    with policy_pair_gateway(engine.base_url, MODEL, KEYS, folder, "responses") as process:
        yield process


def direct(engine: EngineUnderTest) -> openai.OpenAI:
    return openai.OpenAI(base_url=engine.base_url + "/v1", api_key="none", max_retries=0)


def through(gateway: GatewayProcess, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.base_url + "/v1", api_key=KEYS[tenant], max_retries=0, timeout=120
    )


def _records(tenant: str, count: int) -> list[UsageRecord]:
    deadline = time.monotonic() + 60
    while len(found := ledger(SYSTEM_REDIS, tenant)) < count:
        assert time.monotonic() < deadline, f"the ledger has {len(found)} of {count} records"
        time.sleep(0.2)
    return found


def _shape(response: Any) -> list[tuple[str, ...]]:
    return [
        (item.type, *(part.type for part in getattr(item, "content", None) or ()))
        for item in response.output
    ]


def _stream(client: openai.OpenAI, **request: Any) -> tuple[list[Any], Any]:
    events = list(client.responses.create(stream=True, **request))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    return events, events[-1].response


def _types(events: list[Any]) -> list[str]:
    """The event types, a run of deltas counted as one (the gateway may split a delta)."""
    out: list[str] = []
    for event in events:
        if not (event.type.endswith(".delta") and out and out[-1] == event.type):
            out.append(event.type)
    return out


def _consistent(events: list[Any], final: Any) -> str:
    """The text the deltas gave, checked against every whole text the client got."""
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert [e.text for e in events if e.type == "response.output_text.done"] == [text]
    parts = [e.part.text for e in events if e.type == "response.content_part.done"]
    assert parts == [text]
    assert final.output_text == text
    return text


@pytest.mark.parametrize("tenant", [PLAIN, GDPR])
def test_whole_answer_equals_vllms(
    engine: EngineUnderTest, gateway: GatewayProcess, tenant: str
) -> None:
    before = len(ledger(SYSTEM_REDIS, tenant))
    expected = direct(engine).responses.create(**REQUEST)
    got = through(gateway, tenant).responses.create(**REQUEST)
    assert got.output_text == expected.output_text
    assert _shape(got) == _shape(expected)
    assert got.status == expected.status
    assert got.instructions == expected.instructions
    assert got.usage is not None
    assert expected.usage is not None
    assert (got.usage.input_tokens, got.usage.output_tokens) == (
        expected.usage.input_tokens,
        expected.usage.output_tokens,
    )
    record = _records(tenant, before + 1)[-1]
    assert (record.prompt_tokens, record.completion_tokens, record.usage_source) == (
        got.usage.input_tokens,
        got.usage.output_tokens,
        "engine",
    )


@pytest.mark.parametrize("tenant", [PLAIN, GDPR])
def test_stream_equals_vllms(engine: EngineUnderTest, gateway: GatewayProcess, tenant: str) -> None:
    before = len(ledger(SYSTEM_REDIS, tenant))
    expected_events, expected = _stream(direct(engine), **REQUEST)
    got_events, got = _stream(through(gateway, tenant), **REQUEST)
    assert _types(got_events) == _types(expected_events)
    assert _consistent(got_events, got) == _consistent(expected_events, expected)
    assert (got.usage.input_tokens, got.usage.output_tokens) == (
        expected.usage.input_tokens,
        expected.usage.output_tokens,
    )
    record = _records(tenant, before + 1)[-1]
    assert (record.prompt_tokens, record.completion_tokens, record.status) == (
        got.usage.input_tokens,
        got.usage.output_tokens,
        "ok",
    )


def test_personal_data_is_pseudonymised_and_the_answer_stays_consistent(
    engine: EngineUnderTest, gateway: GatewayProcess
) -> None:
    request = {
        **REQUEST,
        "input": [{"role": "user", "content": "Write one sentence greeting Max Mustermann."}],
        "instructions": "You write letters for Max Mustermann.",
    }
    expected_events, _ = _stream(direct(engine), **request)
    events, final = _stream(through(gateway, GDPR), **request)
    assert _types(events) == _types(expected_events)
    _consistent(events, final)
    assert final.instructions == request["instructions"]  # the echo, restored
    whole = through(gateway, GDPR).responses.create(**request)
    assert _shape(whole) == [("message", "output_text")]
    assert whole.instructions == request["instructions"]
