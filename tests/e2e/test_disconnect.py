"""A client that goes away stops the engine's work on its request (``abort``, the default):
mid-stream, while waiting for a whole answer, and when the gateway's own timeout gives up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from gateway.auth import hash_key
from tests.e2e.conftest import DE_KEY, MODEL, Gateway
from tests.processes import GatewayProcess, gateway_process
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
        # The engine's gauges follow its scheduler steps, a moment behind the first tokens
        # (on a loaded 2-core CI machine, seconds behind). At least this request is running;
        # what matters below is that nothing is once the client has gone.
        seen: list[float] = []

        def shows_it() -> bool:
            seen.append(engine_metric(engine, running))
            return seen[-1] >= 1

        assert _wait_for(shows_it, 20), f"the running gauge never showed it: {seen[-5:]}"
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


LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Write a very long story about Bavaria."}],
    "max_tokens": 1500,  # about 90 s of generation here if nobody stopped it
    "ignore_eos": True,
}


def _completed(engine: EngineUnderTest) -> float:
    """Requests the engine ran to their max_tokens (aborted ones are not counted there)."""
    return engine_metric(engine, "vllm:request_success_total", finished_reason="length")


def _generated_after(engine: EngineUnderTest, before: float, left: float) -> float:
    """Tokens the engine generated since ``before``, once it is idle: within a few seconds
    of ``left``, when the client (or the gateway) gave up."""
    running = "vllm:num_requests_running"
    assert _wait_for(lambda: engine_metric(engine, running) == 0, 10), "engine still generating"
    assert time.monotonic() - left < 10
    time.sleep(1)
    generated = engine_metric(engine, "vllm:generation_tokens_total") - before
    time.sleep(1)
    assert engine_metric(engine, "vllm:generation_tokens_total") - before == generated
    return generated


def test_a_client_that_stops_waiting_for_a_whole_answer_stops_the_engine(
    gateway: Gateway, engine: EngineUnderTest
) -> None:
    assert _wait_for(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 30)
    before = engine_metric(engine, "vllm:generation_tokens_total")
    completed = _completed(engine)
    headers = {"authorization": f"Bearer {DE_KEY}"}
    with httpx.Client(timeout=4) as client, pytest.raises(httpx.ReadTimeout):
        client.post(gateway.base_url + "/v1/chat/completions", json=LONG, headers=headers)
    generated = _generated_after(engine, before, time.monotonic())
    assert _completed(engine) == completed  # it never ran to its end
    print(f"generated {generated} of 1500 tokens")
    assert 1 <= generated < 500  # 4 s of decoding at 17 to 70 tokens/s here, not 1500


@pytest.fixture(scope="module")
def impatient(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway that waits at most 3 s for an engine's next bytes."""
    folder = tmp_path_factory.mktemp("impatient")
    config = {
        "upstream": {"read_timeout": 3},
        "metering": {"spool_dir": str(folder / "spool")},
        "pools": [{"name": "local-de", "jurisdiction": "DE", "site": "de-local-1",
                   "engines": [engine.base_url], "models": [MODEL]}],
        "tenants": [{"id": "acme-de", "api_keys": [{"id": "acme-1", "hash": hash_key(DE_KEY)}]}],
    }  # fmt: skip
    with gateway_process(config, folder, "impatient") as running:
        yield running


def test_the_gateways_own_timeout_stops_the_engine(
    impatient: GatewayProcess, engine: EngineUnderTest
) -> None:
    assert _wait_for(lambda: engine_metric(engine, "vllm:num_requests_running") == 0, 30)
    before = engine_metric(engine, "vllm:generation_tokens_total")
    completed = _completed(engine)
    headers = {"authorization": f"Bearer {DE_KEY}"}
    with httpx.Client(timeout=60) as client:
        response = client.post(
            impatient.base_url + "/v1/chat/completions", json=LONG, headers=headers
        )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    generated = _generated_after(engine, before, time.monotonic())
    assert _completed(engine) == completed
    print(f"generated {generated} of 1500 tokens")
    assert 1 <= generated < 500  # 3 s of decoding here, not 1500
