"""SSE streams over real sockets: event shapes, exact usage, and aborts on disconnect."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from serving.simulator import SimulatorThread, text
from tests.unit.simulator.conftest import MODEL, metric, wait_until

CHAT = "/v1/chat/completions"
QUESTION = "Name three rivers in Bavaria."
MESSAGES = [{"role": "user", "content": QUESTION}]


def stream_events(client: httpx.Client, url: str, body: dict[str, Any]) -> list[bytes]:
    """Raw ``data:`` payloads of a stream, in order."""
    with client.stream("POST", url, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read()
    assert raw.endswith(b"data: [DONE]\n\n")
    events = raw.split(b"\n\n")
    assert events[-1] == b""
    assert all(event.startswith(b"data: ") for event in events[:-1])
    return [event[len(b"data: ") :] for event in events[:-1]]


def test_chat_stream_events_and_usage(sim: SimulatorThread, client: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "messages": MESSAGES,
        "max_tokens": 6,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    payloads = stream_events(client, sim.base_urls[0] + CHAT, body)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    first, tokens, usage = chunks[0], chunks[1:-1], chunks[-1]
    assert first["object"] == "chat.completion.chunk"
    assert first["model"] == MODEL
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len(tokens) == 6
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 5 + ["length"]
    assert len({c["id"] for c in chunks}) == 1
    assert first["id"].startswith("chatcmpl-")
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokens)
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + len(tokens)
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in tokens)
    whole = client.post(sim.base_urls[0] + CHAT, json={**body, "stream_options": None}).json()
    assert streamed == whole["choices"][0]["message"]["content"]
    assert usage["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"]


def test_completion_stream_has_no_role_chunk(sim: SimulatorThread, client: httpx.Client) -> None:
    body = {"prompt": "Once upon a time", "max_tokens": 3, "ignore_eos": True}
    payloads = stream_events(client, sim.base_urls[0] + "/v1/completions", body)
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert len(chunks) == 3
    assert all(c["object"] == "text_completion" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "length"]
    assert all(isinstance(c["choices"][0]["text"], str) for c in chunks)


def test_a_natural_end_streams_stop_with_an_empty_last_token(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    body = {"messages": MESSAGES, "stream_options": {"include_usage": True}}
    chunks = [orjson.loads(p) for p in stream_events(client, sim.base_urls[1] + CHAT, body)[:-1]]
    tokens, usage = chunks[1:-1], chunks[-1]["usage"]
    prompt = text.tokenize_text(text.render_chat([("user", QUESTION)]))
    assert len(tokens) == usage["completion_tokens"] == text.natural_length(prompt.seed)
    last = tokens[-1]["choices"][0]
    assert last["finish_reason"] == "stop"
    assert last["delta"]["content"] == ""
    assert usage["prompt_tokens"] == prompt.count


def test_client_disconnect_aborts_the_request(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[1]
    aborted = metric(url, "vllm:request_success_total", finished_reason="abort")
    body = {"messages": MESSAGES, "max_tokens": 20000, "ignore_eos": True, "stream": True}
    with client.stream("POST", url + CHAT, json=body) as response:
        lines = response.iter_lines()
        events = 0
        while events < 4:
            events += next(lines).startswith("data: ")
        assert metric(url, "vllm:num_requests_running") == 1
    # Leaving the block closed the connection mid-stream.
    assert wait_until(lambda: metric(url, "vllm:num_requests_running") == 0)
    assert metric(url, "vllm:request_success_total", finished_reason="abort") == aborted + 1
    assert metric(url, "vllm:kv_cache_usage_perc") == 0.0
    generated = metric(url, "vllm:generation_tokens_total")
    time.sleep(0.05)  # a few dozen steps at this speed
    assert metric(url, "vllm:generation_tokens_total") == generated  # nothing more made


def test_continuous_usage_stats_put_the_usage_so_far_on_every_chunk(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    # As vLLM: with include_usage, every chunk carries its cumulative usage (what the gateway
    # asks for when a client that leaves stops the engine); alone, the option does nothing.
    url = sim.base_urls[0] + CHAT
    options = {"include_usage": True, "continuous_usage_stats": True}
    body = {"messages": MESSAGES, "max_tokens": 4, "ignore_eos": True, "stream_options": options}
    payloads = stream_events(client, url, body)[:-1]
    *events, final = [orjson.loads(p) for p in payloads]
    assert [e["usage"]["completion_tokens"] for e in events] == [0, 1, 2, 3, 4]
    assert {e["usage"]["prompt_tokens"] for e in events} == {final["usage"]["prompt_tokens"]}
    assert all(e["usage"]["completion_tokens_details"] is None for e in events)
    assert final["choices"] == []
    assert final["usage"]["completion_tokens"] == 4
    assert b'}],"usage":{"prompt_tokens":' in payloads[1]  # right after the choices
    alone = {**body, "stream_options": {"continuous_usage_stats": True}}
    assert all(b'"usage"' not in p for p in stream_events(client, url, alone))
