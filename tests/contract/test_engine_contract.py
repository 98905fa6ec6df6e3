"""What the gateway, the router and the load tests rely on from an engine. Every test here runs
against the real vLLM engine and against the simulator, so the two cannot drift apart."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from tests.servers import EngineUnderTest, engine_metric

MODEL = "smollm2"
HELLO: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Nenne drei Städte in Bayern."}
]
EXACT = {"ignore_eos": True}  # generate exactly max_tokens, so counts are predictable
METRICS = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:prefix_cache_queries_total",
    "vllm:prefix_cache_hits_total",
)


def sdk(engine: EngineUnderTest) -> openai.OpenAI:
    return openai.OpenAI(base_url=engine.base_url + "/v1", api_key="none", max_retries=0)


def test_health_and_models(any_engine: EngineUnderTest) -> None:
    assert httpx.get(any_engine.base_url + "/health").status_code == 200
    listing = httpx.get(any_engine.base_url + "/v1/models").json()
    assert listing["object"] == "list"
    (model,) = listing["data"]
    assert model["id"] == MODEL
    assert model["object"] == "model"
    assert model["owned_by"] == "vllm"
    assert model["max_model_len"] == 2048


def test_chat_non_streaming(any_engine: EngineUnderTest) -> None:
    completion = sdk(any_engine).chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=5, extra_body=EXACT
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 5


def test_chat_streaming_event_by_event(any_engine: EngineUnderTest) -> None:
    body = {
        "model": MODEL,
        "messages": HELLO,
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True},
        **EXACT,
    }
    headers = {"x-request-id": "contract-stream-1"}
    with httpx.stream(
        "POST", any_engine.base_url + "/v1/chat/completions", json=body, headers=headers
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [orjson.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {e["id"] for e in events} == {"chatcmpl-contract-stream-1"}
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    usage_event = events[-1]
    assert usage_event["choices"] == []
    assert usage_event["usage"]["completion_tokens"] == 6
    token_events = [e for e in events[1:-1] if e["choices"]]
    assert len(token_events) == 6  # one event per generated token
    assert token_events[-1]["choices"][0]["finish_reason"] == "length"


def test_completions_both_ways(any_engine: EngineUnderTest) -> None:
    client = sdk(any_engine)
    completion = client.completions.create(
        model=MODEL, prompt="Die Hauptstadt von Bayern ist", max_tokens=4, extra_body=EXACT
    )
    assert completion.object == "text_completion"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    stream = client.completions.create(
        model=MODEL,
        prompt="Eins, zwei,",
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=EXACT,
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert sum(1 for c in chunks if c.choices) == 4


def test_errors(any_engine: EngineUnderTest) -> None:
    client = sdk(any_engine)
    with pytest.raises(openai.NotFoundError) as missing:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
    assert missing.value.status_code == 404
    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model=MODEL, prompt="x", max_tokens=5000)
    assert "2048" in too_long.value.message
    malformed = httpx.post(
        any_engine.base_url + "/v1/completions",
        content=b'{"model": "smollm2", "prompt":',
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert "message" in malformed.json()["error"]


def test_metrics_names_labels_and_counts(any_engine: EngineUnderTest) -> None:
    text = httpx.get(any_engine.base_url + "/metrics").text
    for name in METRICS:
        assert any(
            line.startswith(name + "{") and f'model_name="{MODEL}"' in line
            for line in text.splitlines()
        ), name
    before = {
        name: engine_metric(any_engine, name)
        for name in ("vllm:prompt_tokens_total", "vllm:generation_tokens_total")
    }
    finished = engine_metric(any_engine, "vllm:request_success_total", finished_reason="length")
    completion = sdk(any_engine).completions.create(
        model=MODEL, prompt="Guten Morgen", max_tokens=3, extra_body=EXACT
    )
    assert completion.usage is not None
    prompt = engine_metric(any_engine, "vllm:prompt_tokens_total")
    generated = engine_metric(any_engine, "vllm:generation_tokens_total")
    assert prompt - before["vllm:prompt_tokens_total"] == completion.usage.prompt_tokens
    assert generated - before["vllm:generation_tokens_total"] == 3
    after = engine_metric(any_engine, "vllm:request_success_total", finished_reason="length")
    assert after == finished + 1
    assert engine_metric(any_engine, "vllm:num_requests_running") == 0
