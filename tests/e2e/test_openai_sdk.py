"""The gateway in front of the real vLLM engine, through the official openai SDK."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.conftest import FR_KEY, MODEL, Gateway
from tests.servers import EngineUnderTest, engine_metric

pytestmark = pytest.mark.engine

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello in German."}]


def test_chat_non_streaming(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=16,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 16
    assert raw.headers["x-sovereign-jurisdiction"] == "DE"
    assert raw.headers["x-sovereign-site"] == "de-local-1"
    assert raw.headers["x-request-id"].startswith("req_")


def test_chat_streaming_reassembles_with_usage(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    usage = None
    chunks = 0
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    text = "".join(pieces)
    assert text.strip()
    assert chunks > 3  # arrived as many events, not one buffered blob
    assert usage is not None
    assert 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streaming_without_usage_request_has_no_usage_chunk(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model=MODEL,
        messages=HELLO,
        max_tokens=8,
        stream=True,
    )
    assert all(chunk.usage is None for chunk in stream)


def test_completions(gateway: Gateway) -> None:
    completion = gateway.client().completions.create(
        model=MODEL, prompt="The capital of Germany is", max_tokens=8, temperature=0
    )
    assert completion.choices[0].text
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0


def test_completions_streaming(gateway: Gateway) -> None:
    stream = gateway.client().completions.create(
        model=MODEL, prompt="Eins, zwei, drei,", max_tokens=8, stream=True
    )
    assert "".join(chunk.choices[0].text for chunk in stream if chunk.choices)


def test_models_lists_what_the_tenant_may_reach(gateway: Gateway) -> None:
    assert [m.id for m in gateway.client().models.list()] == [MODEL]
    assert list(gateway.client(FR_KEY).models.list()) == []


def test_wrong_key_is_authentication_error(gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        gateway.client("sk-not-a-real-key").chat.completions.create(
            model=MODEL,
            messages=HELLO,
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_unknown_model_is_not_found(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(
            model="gpt-4o",
            messages=HELLO,
        )
    assert caught.value.code == "model_not_found"


def test_invalid_parameter_is_bad_request(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(
            model=MODEL,
            messages=HELLO,
            temperature=9,
        )
    assert caught.value.param == "temperature" or "temperature" in str(caught.value)


def test_engine_rejection_passes_through(gateway: Gateway) -> None:
    # Longer than the engine's --max-model-len 2048: vLLM itself answers 400.
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().completions.create(model=MODEL, prompt="hi", max_tokens=5000)
    assert "2048" in caught.value.message or "context" in caught.value.message.lower()


def test_tenant_without_engine_in_its_jurisdiction_is_refused_and_engine_sees_nothing(
    gateway: Gateway, engine: EngineUnderTest
) -> None:
    counters = ("vllm:request_success_total", "vllm:prompt_tokens_total")
    chat_handler = {"handler": "/v1/chat/completions"}
    before = [engine_metric(engine, name) for name in counters]
    http_before = engine_metric(engine, "http_requests_total", **chat_handler)
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            gateway.client(FR_KEY).chat.completions.create(
                model=MODEL,
                messages=HELLO,
                stream=stream,
            )
        assert caught.value.code == "residency_violation"
    assert [engine_metric(engine, name) for name in counters] == before
    assert engine_metric(engine, "http_requests_total", **chat_handler) == http_before
