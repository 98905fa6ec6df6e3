"""``POST /v1/messages`` against the real vLLM engine (issue 14): the same Anthropic SDK call
directly to vLLM and through the gateway, with no policy and with gdpr-default, streamed and
not. Under greedy decoding (temperature 0) the text, the stop reason, the content blocks and
the usage must be the engine's own; the ledger must hold the engine's counts; the SDK must
raise the same exceptions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from gateway.core.usage import UsageRecord
from tests.processes import SYSTEM_REDIS, GatewayProcess, ledger, policy_pair, policy_pair_gateway
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

MODEL = "smollm2"
KEYS = policy_pair("msg")
PLAIN, GDPR = KEYS
EMAIL = "max.mustermann@example.de"
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 24,
    "system": "Du bist ein hilfreicher Assistent.",
    "messages": [{"role": "user", "content": "Nenne drei Farben."}],
    # Greedy decoding (the SDK of 2026 no longer takes ``temperature`` as an argument; the
    # engine does).
    "extra_body": {"temperature": 0},
}


@pytest.fixture(scope="module")
def messages_gateway(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("messages")
    with policy_pair_gateway(engine.base_url, MODEL, KEYS, folder, "messages") as process:
        yield process


def direct(engine: EngineUnderTest) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=engine.base_url, api_key="unused", max_retries=0, timeout=120
    )


def through(gateway: GatewayProcess, tenant: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gateway.base_url, api_key=KEYS[tenant], max_retries=0, timeout=120
    )


def _latest(tenant: str, known: int) -> UsageRecord:
    deadline = time.monotonic() + 30
    while len(records := ledger(SYSTEM_REDIS, tenant)) <= known:
        assert time.monotonic() < deadline, "the request was not metered"
        time.sleep(0.2)
    return max(records, key=lambda r: r.started_at)


def _shape(message: anthropic.types.Message) -> list[tuple[str, str]]:
    return [(b.type, b.text if b.type == "text" else "") for b in message.content]


@pytest.mark.parametrize("tenant", [PLAIN, GDPR], ids=["none", "gdpr-default"])
def test_a_whole_message_is_the_engines(
    engine: EngineUnderTest, messages_gateway: GatewayProcess, tenant: str
) -> None:
    expected = direct(engine).messages.create(**REQUEST)
    known = len(ledger(SYSTEM_REDIS, tenant))
    got = through(messages_gateway, tenant).messages.create(**REQUEST)
    assert _shape(got) == _shape(expected)
    assert got.content[0].type == "text"
    assert got.content[0].text  # the model said something
    assert (got.stop_reason, got.model, got.role) == (
        expected.stop_reason,
        expected.model,
        expected.role,
    )
    assert got.usage.input_tokens == expected.usage.input_tokens
    assert got.usage.output_tokens == expected.usage.output_tokens
    record = _latest(tenant, known)
    assert (record.prompt_tokens, record.completion_tokens) == (
        got.usage.input_tokens,
        got.usage.output_tokens,
    )
    assert record.endpoint == "messages"
    assert record.status == "ok"
    assert record.usage_source == "engine"


def _streamed(client: anthropic.Anthropic) -> tuple[list[str], anthropic.types.Message]:
    with client.messages.stream(**REQUEST) as stream:
        kinds: list[str] = [event.type for event in stream]
        final: anthropic.types.Message = stream.get_final_message()
        return kinds, final


@pytest.mark.parametrize("tenant", [PLAIN, GDPR], ids=["none", "gdpr-default"])
def test_a_streamed_message_is_the_engines(
    engine: EngineUnderTest, messages_gateway: GatewayProcess, tenant: str
) -> None:
    expected_kinds, expected = _streamed(direct(engine))
    known = len(ledger(SYSTEM_REDIS, tenant))
    kinds, got = _streamed(through(messages_gateway, tenant))
    assert _shape(got) == _shape(expected)
    assert got.stop_reason == expected.stop_reason
    assert got.usage.input_tokens == expected.usage.input_tokens
    assert got.usage.output_tokens == expected.usage.output_tokens
    if tenant == PLAIN:
        assert kinds == expected_kinds  # event for event
    else:  # the guard holds words back (empty deltas), and releases a block's tail last
        deltas = ("text", "content_block_delta")
        assert [k for k in kinds if k not in deltas] == [
            k for k in expected_kinds if k not in deltas
        ]
    record = _latest(tenant, known)
    assert (record.prompt_tokens, record.completion_tokens) == (
        got.usage.input_tokens,
        got.usage.output_tokens,
    )
    assert record.status == "ok"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_under_gdpr_default_the_engine_never_sees_the_address(
    messages_gateway: GatewayProcess, stream: bool
) -> None:
    request = {
        **REQUEST,
        "messages": [{"role": "user", "content": f"Wiederhole genau: Meine E-Mail ist {EMAIL}"}],
    }
    client = through(messages_gateway, GDPR)
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    assert message.content[0].type == "text"
    # Whatever the model made of it, a placeholder it echoed comes back restored.
    assert "<EMAIL_ADDRESS" not in message.content[0].text
    assert message.usage.input_tokens > 0


def _count(client: anthropic.Anthropic, content: str) -> int:
    counted = client.messages.count_tokens(
        model=MODEL, system=REQUEST["system"], messages=[{"role": "user", "content": content}]
    )
    return counted.input_tokens


def test_count_tokens_is_the_engines_count_of_what_it_would_get(
    engine: EngineUnderTest, messages_gateway: GatewayProcess
) -> None:
    plain = "Nenne drei Farben."
    expected = _count(direct(engine), plain)
    assert expected == direct(engine).messages.create(**REQUEST).usage.input_tokens
    assert _count(through(messages_gateway, PLAIN), plain) == expected
    assert _count(through(messages_gateway, GDPR), plain) == expected  # nothing to act on
    # Under gdpr-default the engine counts the pseudonymised text, as /v1/messages sends it.
    personal = f"Schreibe an {EMAIL}."
    counted = _count(through(messages_gateway, GDPR), personal)
    request = {**REQUEST, "messages": [{"role": "user", "content": personal}]}
    sent = through(messages_gateway, GDPR).messages.create(**request)
    assert counted == sent.usage.input_tokens
    assert counted != _count(direct(engine), personal)  # the placeholder is not the address


def test_the_sdk_raises_the_same_exceptions_as_directly(
    engine: EngineUnderTest, messages_gateway: GatewayProcess
) -> None:
    unknown = {**REQUEST, "model": "no-such-model"}
    with pytest.raises(anthropic.NotFoundError):
        direct(engine).messages.create(**unknown)
    with pytest.raises(anthropic.NotFoundError) as ours:
        through(messages_gateway, PLAIN).messages.create(**unknown)
    assert ours.value.body["type"] == "error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(
            base_url=messages_gateway.base_url, api_key="sk-wrong", max_retries=0
        ).messages.create(**REQUEST)


def test_a_stream_the_client_leaves_is_metered_from_the_engines_counts(
    messages_gateway: GatewayProcess,
) -> None:
    """``abort`` (the default): the gateway closes the engine's stream, vLLM stops; the
    ledger holds the engine's input count (``message_start``) and one output token per delta
    relayed (vLLM's Anthropic stream reports its output count only at the end), marked as
    an estimate."""
    known = len(ledger(SYSTEM_REDIS, PLAIN))
    body = {**REQUEST, "max_tokens": 200, "stream": True}
    body.pop("extra_body")
    body["messages"] = [{"role": "user", "content": "Erzähle eine lange Geschichte."}]
    headers = {"x-api-key": KEYS[PLAIN]}
    deltas = 0
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", messages_gateway.base_url + "/v1/messages", json=body,
                      headers=headers) as response,
    ):  # fmt: skip
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and '"message_start"' in line:
                started = json.loads(line[6:])
            deltas += line == "event: content_block_delta"
            if deltas == 5:
                break
    record = _latest(PLAIN, known)
    assert record.status == "aborted"
    assert record.prompt_tokens == started["message"]["usage"]["input_tokens"]
    assert 5 <= record.completion_tokens < 200
    assert record.usage_source == "estimate"  # the output count is not the engine's
