"""Each scripted fault, played against live engines (at 10x speed: scripted seconds / 10)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.simulator import FaultSpec, SimulatorConfig, SimulatorThread
from tests.unit.simulator.conftest import MODEL, metric, wait_until

CHAT = "/v1/chat/completions"
BODY: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Hello"}],
    "max_tokens": 6,
    "ignore_eos": True,
}
FAULT = "x-sim-fault"
CUT = (httpx.RemoteProtocolError, httpx.ReadError)  # reset before or during the answer


def timed_tokens(client: httpx.Client, url: str, fault: str) -> tuple[float, list[float]]:
    """Seconds from sending to each token event of a chat stream (role chunk excluded)."""
    started = time.monotonic()
    body = {**BODY, "stream": True}
    stamps: list[float] = []
    with client.stream("POST", url + CHAT, json=body, headers={FAULT: fault}) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and '"role"' not in line:
                stamps.append(time.monotonic() - started)
    return started, stamps


@pytest.fixture
def pair() -> Iterator[SimulatorThread]:
    config = SimulatorConfig("b200/llama-3.3-70b", MODEL, engines=2, speed=0.1)
    with SimulatorThread(config) as running:
        yield running


def test_error_status_per_request_and_error_rate_per_engine(
    sim: SimulatorThread, client: httpx.Client
) -> None:
    url = sim.base_urls[0] + CHAT
    failed = client.post(url, json=BODY, headers={FAULT: "error=503"})
    assert failed.status_code == 503
    assert failed.json()["error"]["type"] == "ServiceUnavailableError"
    assert failed.json()["error"]["code"] == 503
    sim.set_fault(0, "error_rate=1")
    try:
        error = client.post(url, json=BODY).json()["error"]
        assert (error["code"], error["type"]) == (500, "InternalServerError")
        assert client.post(sim.base_urls[1] + CHAT, json=BODY).status_code == 200
    finally:
        sim.set_fault(0, "")
    assert client.post(url, json=BODY).status_code == 200


def test_slow_time_to_first_token(sim: SimulatorThread, client: httpx.Client) -> None:
    _, normal = timed_tokens(client, sim.base_urls[0], "")
    _, slow = timed_tokens(client, sim.base_urls[0], "ttft=3")
    assert len(slow) == 6
    assert slow[0] >= 0.3 > normal[0]
    assert slow[-1] - slow[0] < 0.3  # the rest flows at the normal pace


def test_stall_mid_stream(sim: SimulatorThread, client: httpx.Client) -> None:
    _, stamps = timed_tokens(client, sim.base_urls[0], "stall=4,stall_after=2")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 6
    assert gaps[1] >= 0.4  # silent after the 2nd token
    assert max(gaps[:1] + gaps[2:]) < 0.2


def test_disconnect_after_k_tokens(sim: SimulatorThread, client: httpx.Client) -> None:
    url = sim.base_urls[1]
    aborted = metric(url, "vllm:request_success_total", finished_reason="abort")
    body = {**BODY, "max_tokens": 50, "stream": True}
    events: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", url + CHAT, json=body, headers={FAULT: "disconnect_after=3"}) as r,
    ):
        events.extend(line for line in r.iter_lines() if line.startswith("data: "))
    assert len(events) == 4
    assert '"role"' in events[0]
    assert wait_until(lambda: metric(url, "vllm:num_requests_running") == 0)
    assert metric(url, "vllm:request_success_total", finished_reason="abort") == aborted + 1
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(url + CHAT, json=BODY, headers={FAULT: "disconnect_after=2"})


def test_crash_cuts_connections_closes_the_port_and_spares_the_others(
    pair: SimulatorThread, client: httpx.Client
) -> None:
    down, up = pair.base_urls
    long = {**BODY, "max_tokens": 30_000, "stream": True}
    with client.stream("POST", down + CHAT, json=long) as in_flight:
        lines = in_flight.iter_lines()
        assert next(lines).startswith("data: ")
        with pytest.raises(CUT):
            client.post(down + CHAT, json=BODY, headers={FAULT: "crash"})
        with pytest.raises(CUT):
            for _ in lines:
                pass
    assert wait_until(lambda: _refused(down))
    assert client.get(up + "/health").status_code == 200
    assert client.post(up + CHAT, json=BODY).status_code == 200
    pair.restart(0)
    assert client.get(down + "/health").status_code == 200
    assert metric(down, "vllm:generation_tokens_total") == 0  # a fresh engine


def test_scripted_engine_crashes() -> None:
    faults = {0: FaultSpec(crash_after=1), 1: FaultSpec(crash_at=2.0)}
    config = SimulatorConfig("b200/llama-3.3-70b", MODEL, engines=3, speed=0.1, faults=faults)
    with SimulatorThread(config) as running, httpx.Client(timeout=5) as client:
        first, second, third = running.base_urls
        assert client.post(first + CHAT, json=BODY).status_code == 200
        with pytest.raises(CUT):
            client.post(first + CHAT, json=BODY)
        assert _refused(first)
        assert wait_until(lambda: _refused(second), timeout=3)
        running.crash(2)
        assert _refused(third)


def _refused(url: str) -> bool:
    try:
        httpx.get(url + "/health", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False  # this probe was in flight when the engine died: ask again
    return False
