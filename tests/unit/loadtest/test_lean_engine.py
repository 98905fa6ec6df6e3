"""The lean engine and the mass-streams client, over a real socket on 127.0.0.1.

The engine is what every lean-path figure is measured against, and the client is what
times the streams: both are checked here on the test's own event loop, in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from loadtest.lean_engine import MODEL, PACED_SUFFIX, Connection, Engine, parse_chat
from loadtest.mass_client import Outcome, StreamProtocol, request_bytes

PACED = MODEL + PACED_SUFFIX


@pytest.fixture
async def engine() -> AsyncIterator[tuple[Engine, str, int]]:
    state = Engine(MODEL, interval_s=0.01, max_model_len=4096)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(state), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield state, f"http://127.0.0.1:{port}", port
    finally:
        server.close()
        await server.wait_closed()


def body(model: str, tokens: int, stream: bool, usage: bool = True) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Hallo"}],
        "max_tokens": tokens,
        "stream": stream,
        "stream_options": {"include_usage": usage},
    }


def events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n\n") if line.startswith("data: ")]


def test_requests_are_parsed_as_the_engine_needs_them() -> None:
    models = frozenset({MODEL, PACED})
    request = parse_chat(orjson.dumps(body(PACED, 7, True)), models)
    assert (request.model, request.tokens, request.stream, request.usage) == (PACED, 7, True, True)
    plain = parse_chat(b'{"model": "lean", "stream_options": {"include_usage": true}}', models)
    assert (plain.tokens, plain.stream, plain.usage) == (16, False, False)
    with pytest.raises(LookupError):
        parse_chat(b'{"model": "other"}', models)
    for bad in (b"[]", b"{", b'{"model": "lean", "max_tokens": 0}'):
        with pytest.raises(ValueError):  # noqa: PT011 (three different messages)
            parse_chat(bad, models)


async def test_engine_answers_like_vllm(engine: tuple[Engine, str, int]) -> None:
    state, url, _port = engine
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/health")).status_code == 200
        cards = (await client.get("/v1/models")).json()["data"]
        assert {c["id"]: c["max_model_len"] for c in cards} == {MODEL: 4096, PACED: 4096}
        plain = (await client.post("/v1/chat/completions", json=body(MODEL, 3, False))).json()
        assert plain["choices"][0]["message"]["content"] == "lorem ipsum dolor"
        assert plain["usage"]["completion_tokens"] == 3
        for model in (MODEL, PACED):
            answer = await client.post("/v1/chat/completions", json=body(model, 5, True))
            assert answer.headers["content-type"].startswith("text/event-stream")
            data = events(answer.text)
            assert data[-1] == "[DONE]"
            chunks = [orjson.loads(d) for d in data[:-1]]
            assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
            texts = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
            assert texts == [" lorem", " ipsum", " dolor", " sit", " amet"]
            assert chunks[-2]["choices"][0]["finish_reason"] == "length"
            assert chunks[-1]["usage"]["completion_tokens"] == 5
        no_usage = await client.post("/v1/chat/completions", json=body(MODEL, 2, True, False))
        assert len(events(no_usage.text)) == 4  # role, 2 tokens, [DONE]
        missing = await client.post("/v1/chat/completions", json=body("other", 2, False))
        assert missing.status_code == 404
        assert "does not exist" in missing.json()["error"]["message"]
        assert (await client.get("/nowhere")).status_code == 404
        metrics = (await client.get("/metrics")).text
        assert 'vllm:num_requests_running{model_name="lean",engine="0"} 0' in metrics
        assert "vllm:kv_cache_usage_perc" in metrics
    assert state.running == 0


async def test_paced_events_reach_the_client_one_by_one(
    engine: tuple[Engine, str, int],
) -> None:
    _state, _url, port = engine
    loop = asyncio.get_running_loop()
    request = request_bytes("127.0.0.1", port, "/v1/chat/completions",
                            orjson.dumps(body(PACED, 10, True)), None)  # fmt: skip
    done: asyncio.Future[None] = loop.create_future()
    stream = StreamProtocol(request, loop.time(), done)
    await loop.create_connection(lambda: stream, "127.0.0.1", port)
    await asyncio.wait_for(done, 5)
    assert stream.finished
    assert stream.error is None
    assert stream.events == 13  # role, 10 tokens, usage, [DONE]
    # Paced: each token its own write 10 ms apart, so (on a machine not stalled for that
    # long) its own read; an engine writing at once would give one read.
    assert 5 <= len(stream.arrivals) <= 10
    outcome = Outcome()
    outcome.add(stream)
    assert (outcome.ok, outcome.events, len(outcome.ttfts)) == (1, 13, 1)
    assert len(outcome.gaps) == len(stream.arrivals) - 1


async def test_client_names_a_refusal_by_status_and_code() -> None:
    loop = asyncio.get_running_loop()
    stream = StreamProtocol(b"", loop.time(), loop.create_future())
    stream.data_received(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 90\r\n\r\n")
    stream.data_received(
        b'{"error": {"message": "busy", "type": "x", "code": "policy_unavailable"}}'
    )
    stream.connection_lost(None)
    assert stream.error == "HTTP 503 policy_unavailable"
    assert not stream.finished
    outcome = Outcome()
    outcome.add(stream)
    assert outcome.errors == {"HTTP 503 policy_unavailable": 1}


async def test_client_counts_events_split_across_reads() -> None:
    loop = asyncio.get_running_loop()
    stream = StreamProtocol(b"", loop.time(), loop.create_future())
    stream.data_received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    stream.data_received(b"a\r\ndata: {}\n")  # half an event: no arrival yet
    assert (stream.events, len(stream.arrivals)) == (0, 0)
    stream.data_received(b"\n\r\n")
    stream.data_received(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    assert (stream.events, len(stream.arrivals)) == (2, 2)
    assert stream.finished
