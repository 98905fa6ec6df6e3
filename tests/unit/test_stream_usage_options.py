"""Streams carry exactly the usage fields the client asked for, as vLLM sends them directly.

The gateway asks the engine for usage it needs for metering (``include_usage`` always;
``continuous_usage_stats`` too when a client that leaves stops the engine, so that every chunk
says what was generated so far). What the client did not ask for is taken out again: the final
usage-only chunk unless ``include_usage``, the per-chunk usage unless ``include_usage`` and
``continuous_usage_stats`` (vLLM ignores the latter alone), and the system fingerprint moves
back to the finish chunk, where vLLM puts it when no usage chunk follows (issue 14).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.unit.conftest import CHAT, FakeEngines, auth, ledger, make_settings
from tests.unit.vllm_stream import asked, chat_stream

TEXTS = ["Hallo", " Welt", ",", " wie", " geht", "'s", "?"]
OPTIONS: list[Any] = [
    None,
    {},
    {"include_usage": True},
    {"continuous_usage_stats": True},
    {"include_usage": True, "continuous_usage_stats": True},
    {"include_usage": False, "continuous_usage_stats": True},
    {"include_usage": True, "continuous_usage_stats": False},
]


class Engine(FakeEngines):
    """Streams what vLLM would for the ``stream_options`` it receives, recording them."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.options: list[Any] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        options = orjson.loads(request.content).get("stream_options")
        self.options.append(options)

        async def body() -> AsyncIterator[bytes]:
            for event in chat_stream(options, TEXTS):
                yield event

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


@contextmanager
def gateway(engine: Engine, mode: str, policy: str | None = None) -> Iterator[TestClient]:
    settings = make_settings(
        privacy={"default_policy": policy}, metering={"on_client_disconnect": mode}
    )
    app = create_app(settings, upstream_transport=httpx.MockTransport(engine))
    with TestClient(app) as client:
        yield client


def stream(client: TestClient, options: Any) -> bytes:
    body: dict[str, Any] = {**CHAT, "stream": True, "max_tokens": len(TEXTS)}
    if options is not None:
        body["stream_options"] = options
    with client.stream("POST", "/v1/chat/completions", json=body, headers=auth()) as response:
        assert response.status_code == 200
        return b"".join(response.iter_bytes())


@pytest.mark.parametrize("mode", ["abort", "finish"])
@pytest.mark.parametrize("options", OPTIONS)
def test_the_client_gets_the_stream_vllm_would_send_it_directly(mode: str, options: Any) -> None:
    engine = Engine()
    with gateway(engine, mode) as client:
        relayed = stream(client, options)
        records = ledger(client)
    assert relayed == b"".join(chat_stream(options, TEXTS))
    # Metered from the engine's own report, whatever the client saw of it.
    assert [(r.prompt_tokens, r.completion_tokens, r.usage_source) for r in records] == [
        (9, len(TEXTS), "engine")
    ]


@pytest.mark.parametrize("options", OPTIONS)
def test_the_engine_is_asked_for_the_usage_the_gateway_needs(options: Any) -> None:
    engine = Engine()
    with gateway(engine, "abort") as client:
        stream(client, options)
    with gateway(engine, "finish") as client:
        stream(client, options)
    abort, finish = engine.options
    # abort: every chunk's usage, so a stream cut short is metered from the engine's count.
    assert asked(abort) == (True, True)
    # finish: the stream is always read to its end; per-chunk usage only if the client wants it.
    assert asked(finish) == (True, asked(options)[1])


@pytest.mark.parametrize("options", OPTIONS)
def test_under_a_policy_usage_is_where_the_client_asked_for_it(options: Any) -> None:
    engine = Engine()
    with gateway(engine, "abort", policy="gdpr-default") as client:
        relayed = stream(client, options)
    documents = [
        orjson.loads(event[6:]) for event in relayed.split(b"\n\n") if event.startswith(b"data: {")
    ]
    include, continuous = asked(options)
    finals = [d for d in documents if d["choices"] == [] and "usage" in d]
    per_chunk = [d for d in documents if d["choices"] and "usage" in d]
    assert len(finals) == include
    assert bool(per_chunk) == continuous
    text = "".join(d["choices"][0]["delta"].get("content", "") for d in documents if d["choices"])
    assert text == "".join(TEXTS)
