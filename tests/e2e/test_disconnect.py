"""In ``abort`` mode, a client that goes away mid-stream stops the engine's work on its request."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import DE_KEY, MODEL, Gateway
from tests.servers import EngineUnderTest, engine_metric

pytestmark = pytest.mark.engine


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_disconnect_mid_stream_aborts_the_engine_request(
    gateway: Gateway, engine: EngineUnderTest
) -> None:
    running = "vllm:num_requests_running"
    assert _wait_for(lambda: engine_metric(engine, running) == 0, 30)
    finished = {"finished_reason": "length"}
    finished_before = engine_metric(engine, "vllm:request_success_total", **finished)
    tokens_before = engine_metric(engine, "vllm:generation_tokens_total")
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Write a very long story about Bavaria."}],
        "max_tokens": 1500,  # about 90 s of generation here if nobody stopped it
        "stream": True,
        "ignore_eos": True,
    }
    headers = {"authorization": f"Bearer {DE_KEY}"}
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", gateway.base_url + "/v1/chat/completions", json=body, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()  # kept open: leaving a for-loop early would close it
        events = 0
        while events < 5:
            events += next(lines).startswith("data: ")
        # The engine's gauges follow its scheduler steps, a moment behind the first tokens.
        assert _wait_for(lambda: engine_metric(engine, running) == 1, 5)
        started = time.monotonic()
    # Leaving the block closed the connection to the gateway mid-stream.
    assert _wait_for(lambda: engine_metric(engine, running) == 0, 10), "engine still generating"
    assert time.monotonic() - started < 10
    # The request was cut short, not run to its 1500 tokens, and the engine is idle after it.
    # How many tokens it made before the abort landed depends on the machine's speed (CPU decode
    # runs at 15-50 tokens/s here), so the bound is the request's own length, not a guess at it.
    time.sleep(1)
    generated = engine_metric(engine, "vllm:generation_tokens_total") - tokens_before
    assert 5 <= generated < 1500
    assert engine_metric(engine, "vllm:request_success_total", **finished) == finished_before
    time.sleep(1)
    assert engine_metric(engine, "vllm:generation_tokens_total") - tokens_before == generated
