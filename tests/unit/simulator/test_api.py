"""HTTP shapes, against a live simulator: the same fields and errors as vLLM 0.32.0."""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.simulator import SimulatorConfig, SimulatorThread, text
from tests.unit.simulator.conftest import MODEL, metric

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "What is the capital of Bavaria?"}]


@pytest.fixture(scope="module")
def short() -> Iterator[str]:
    """An engine with a 128-token context, for the length checks."""
    config = SimulatorConfig("b200/llama-3.3-70b", MODEL, speed=0.1, max_model_len=128)
    with SimulatorThread(config) as running:
        yield running.base_urls[0]


def post(client: httpx.Client, url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(url, json=body, headers=headers)


def test_health_and_models(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[0]
    health = client.get(url + "/health")
    assert (health.status_code, health.content) == (200, b"")
    models = client.get(url + "/v1/models").json()
    card = models["data"][0]
    assert models["object"] == "list"
    assert len(models["data"]) == 1
    assert card["id"] == card["root"] == MODEL
    assert (card["object"], card["owned_by"], card["parent"]) == ("model", "vllm", None)
    assert card["max_model_len"] == 32768
    assert isinstance(card["created"], int)
    assert card["permission"][0]["object"] == "model_permission"


def test_chat_completion_shape_usage_and_request_id(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    body = {"model": MODEL, "messages": HI, "max_tokens": 7, "ignore_eos": True}
    reply = post(client, sim.base_urls[0] + CHAT, body, **{"x-request-id": "req-42"})
    assert reply.status_code == 200
    data = reply.json()
    assert data["id"] == "chatcmpl-req-42"
    assert data["object"] == "chat.completion"
    assert data["model"] == MODEL
    choice = data["choices"][0]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "length"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    prompt = text.tokenize_text(text.render_chat([("user", HI[0]["content"])]))
    assert data["usage"] == {
        "prompt_tokens": prompt.count,
        "total_tokens": prompt.count + 7,
        "completion_tokens": 7,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    assert choice["message"]["content"] == text.output_text(prompt.seed, 7)
    again = post(client, sim.base_urls[1] + CHAT, body).json()  # another engine, same text
    assert again["choices"][0]["message"]["content"] == choice["message"]["content"]
    assert again["id"].startswith("chatcmpl-")
    assert len(again["id"]) == len("chatcmpl-") + 16


def test_max_completion_tokens_is_honoured(sim: SimulatorThread, client: httpx.Client) -> None:
    body = {"messages": HI, "max_completion_tokens": 3, "ignore_eos": True}
    assert post(client, sim.base_urls[0] + CHAT, body).json()["usage"]["completion_tokens"] == 3


def test_text_completion_shape(sim: SimulatorThread, client: httpx.Client) -> None:
    body = {"model": MODEL, "prompt": "Hello world", "max_tokens": 4, "ignore_eos": True}
    data = post(client, sim.base_urls[0] + "/v1/completions", body).json()
    assert data["object"] == "text_completion"
    assert data["id"].startswith("cmpl-")
    choice = data["choices"][0]
    assert set(choice) >= {"index", "text", "logprobs", "finish_reason"}
    assert choice["finish_reason"] == "length"
    assert choice["logprobs"] is None
    assert data["usage"]["prompt_tokens"] == 2
    assert data["usage"]["completion_tokens"] == 4
    ids = post(client, sim.base_urls[0] + "/v1/completions", {"prompt": [1, 2, 3], "max_tokens": 1})
    assert ids.json()["usage"]["prompt_tokens"] == 3


def test_embeddings(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[0] + "/v1/embeddings"
    data = post(client, url, {"model": MODEL, "input": ["tax rules", "tax rules"]}).json()
    assert data["object"] == "list"
    assert data["id"].startswith("embd-")
    first, second = (item["embedding"] for item in data["data"])
    assert [item["index"] for item in data["data"]] == [0, 1]
    assert data["data"][0]["object"] == "embedding"
    assert len(first) == 384
    assert first == second
    assert abs(sum(x * x for x in first) - 1) < 1e-9
    assert data["usage"]["prompt_tokens"] == 4
    assert data["usage"]["total_tokens"] == 4
    packed = post(client, url, {"input": "tax rules", "encoding_format": "base64"}).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert struct.unpack("<384f", raw) == pytest.approx(first, abs=1e-6)
    short = post(client, url, {"input": "tax rules", "dimensions": 8}).json()
    assert len(short["data"][0]["embedding"]) == 8


def _error(reply: httpx.Response, status: int, err_type: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == (err_type, status)
    return error


def test_request_errors_in_vllm_form(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[0] + CHAT
    bad_json = client.post(url, content=b'{"model":', headers={"content-type": "application/json"})
    assert _error(bad_json, 400, "Bad Request")["param"] == "body.9"
    missing = _error(post(client, url, {"model": MODEL}), 400, "Bad Request")
    assert missing["param"] == "body.messages"
    assert "Field required" in missing["message"]
    typed = post(client, url, {"messages": HI, "max_tokens": "many"})
    assert _error(typed, 400, "Bad Request")["param"] == "body.max_tokens"
    negative = _error(post(client, url, {"messages": HI, "max_tokens": -1}), 400, "BadRequestError")
    assert negative["message"].startswith("max_tokens must be at least 1, got -1.")
    unknown = _error(post(client, url, {"model": "gpt-9", "messages": HI}), 404, "NotFoundError")
    assert unknown["message"].startswith("The model `gpt-9` does not exist.")
    assert unknown["param"] == "model"
    empty = post(client, url, {"messages": []})
    assert "empty conversation" in _error(empty, 400, "BadRequestError")["message"]
    no_prompt = post(client, sim.base_urls[0] + "/v1/completions", {"max_tokens": 2})
    assert _error(no_prompt, 400, "BadRequestError")["param"] == "prompt"
    options = post(client, url, {"messages": HI, "stream_options": {"include_usage": True}})
    assert _error(options, 400, "BadRequestError")["param"] == "stream_options"


def test_context_length_errors_and_clamping(short: str, client: httpx.Client) -> None:
    url = short + "/v1/completions"
    too_many = post(client, url, {"prompt": "hi", "max_tokens": 129})
    error = _error(too_many, 400, "BadRequestError")
    assert "cannot be greater than max_model_len=128" in error["message"]
    assert error["param"] == "max_tokens"
    long_prompt = post(client, url, {"prompt": list(range(200)), "max_tokens": 1})
    error = _error(long_prompt, 400, "BadRequestError")
    assert "maximum context length is 128 tokens" in error["message"]
    assert "200 input tokens" in error["message"]
    assert error["param"] == "input_tokens"
    # vLLM 0.32 clamps max_tokens to what the context leaves, rather than refusing.
    clamped = post(client, url, {"prompt": list(range(120)), "max_tokens": 50, "ignore_eos": True})
    assert clamped.json()["usage"] == {
        "prompt_tokens": 120,
        "total_tokens": 128,
        "completion_tokens": 8,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    assert clamped.json()["choices"][0]["finish_reason"] == "length"


def test_unknown_routes_and_methods(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[0]
    assert client.get(url + "/v1/nothing").json() == {"detail": "Not Found"}
    assert client.get(url + CHAT).status_code == 405


def test_metrics_names_and_labels(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[0]
    post(client, url + CHAT, {"messages": HI, "max_tokens": 2, "ignore_eos": True})
    body = client.get(url + "/metrics").text
    labels = f'{{engine="0",model_name="{MODEL}"}}'
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:num_preemptions_total",
        "vllm:time_to_first_token_seconds_count",
        "vllm:inter_token_latency_seconds_count",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:request_queue_time_seconds_count",
    ):
        assert f"{name}{labels} " in body, name
    for reason in ("stop", "length", "abort", "error"):
        assert f'finished_reason="{reason}"' in body
    assert metric(url, "vllm:request_success_total", finished_reason="length") >= 1
    assert metric(url, "http_requests_total", handler=CHAT, status="2xx") >= 1
    assert 0.0 <= metric(url, "vllm:kv_cache_usage_perc") <= 1.0


def test_a_repeated_prompt_hits_the_prefix_cache(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    url = sim.base_urls[1]
    long_chat = [{"role": "user", "content": "Summarise the Bavarian constitution. " * 20}]
    body = {"messages": long_chat, "max_tokens": 1}
    hits_before = metric(url, "vllm:prefix_cache_hits_total")
    queries_before = metric(url, "vllm:prefix_cache_queries_total")
    prompt_tokens = post(client, url + CHAT, body).json()["usage"]["prompt_tokens"]
    post(client, url + CHAT, body)
    hits = metric(url, "vllm:prefix_cache_hits_total") - hits_before
    assert metric(url, "vllm:prefix_cache_queries_total") - queries_before == 2 * prompt_tokens
    assert hits == (prompt_tokens - 1) // 16 * 16
    assert hits > 0


# Field sets of vLLM 0.32.0's answers, as a running engine sent them (CPU build, smollm2).
VLLM_CHAT = {
    "id", "object", "created", "model", "choices", "service_tier", "system_fingerprint",
    "usage", "prompt_logprobs", "prompt_token_ids", "prompt_text", "kv_transfer_params",
    "ec_transfer_params", "metrics",
}  # fmt: skip
VLLM_CHAT_CHOICE = {
    "index", "message", "logprobs", "finish_reason", "stop_reason", "token_ids", "routed_experts"
}  # fmt: skip
VLLM_MESSAGE = {
    "role", "content", "refusal", "annotations", "audio", "function_call", "reasoning"
}  # fmt: skip
VLLM_COMPLETION_CHOICE = {
    "index", "text", "logprobs", "finish_reason", "stop_reason", "token_ids", "prompt_logprobs",
    "prompt_token_ids", "routed_experts",
}  # fmt: skip


def test_field_sets_match_vllm(sim: SimulatorThread, client: httpx.Client) -> None:
    chat = post(client, sim.base_urls[0] + CHAT, {"messages": HI, "max_tokens": 1}).json()
    assert set(chat) == VLLM_CHAT
    assert set(chat["choices"][0]) == VLLM_CHAT_CHOICE
    assert set(chat["choices"][0]["message"]) == VLLM_MESSAGE
    body = {"prompt": "Hi", "max_tokens": 1}
    completion = post(client, sim.base_urls[0] + "/v1/completions", body).json()
    assert set(completion["choices"][0]) == VLLM_COMPLETION_CHOICE


def test_small_answers_on_a_kept_alive_connection_are_not_delayed(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    # With Nagle's algorithm left on, each of these would wait ~40 ms for a delayed ACK.
    url = sim.base_urls[0] + CHAT
    client.post(url, json={"messages": []})  # opens the connection
    started = time.monotonic()
    for _ in range(10):
        assert client.post(url, json={"messages": []}).status_code == 400
    assert time.monotonic() - started < 0.2
