"""Routing and resilience against real servers: the real vLLM engine and simulated engines.

Pools: DE holds the real vLLM engine and a simulated engine; AT holds another simulated
engine. The tenant may use DE only. Under load the DE simulator is killed (SIGKILL): every
request must succeed on the real engine or fail cleanly (an OpenAI error), the dead engine's
circuit must open within one second, and the AT engine must never see a request.
A second scenario uses scripted faults: an engine answering 503 to everything.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest

from gateway.auth import hash_key
from tests.e2e.conftest import MODEL
from tests.launcher import launch
from tests.processes import ADMIN_TOKEN, gateway_process
from tests.servers import TIMINGS, EngineUnderTest, engine_metric, free_port

pytestmark = pytest.mark.engine

KEY = "sk-e2e-resilience-0001"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Simulator:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def _simulator(*faults: str) -> Simulator:
    port = free_port()
    argv = [sys.executable, "-m", "serving.simulator", "--profile", "cpu/smollm2",
            "--model", MODEL, "--base-port", str(port), "--speed", "0.05"]  # fmt: skip
    for fault in faults:
        argv += ["--fault", fault]
    process: subprocess.Popen[bytes] = launch(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return Simulator(url, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError("the simulator did not start")


@pytest.fixture
def simulators() -> Iterator[list[Simulator]]:
    started: list[Simulator] = []
    yield started
    for sim in started:
        if sim.process.poll() is None:
            sim.kill()


def _config(de: list[str], at: list[str]) -> dict[str, object]:
    return {
        "upstream": {"connect_timeout": 1.0},
        "telemetry": {"allowed_jurisdictions": ["DE", "AT"]},
        "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
        "routing": {"strategy": "least_load", "scrape_interval": 0.25, "breaker_failures": 3},
        "pools": [
            {"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "engines": de,
             "models": [MODEL]},
            {"name": "at", "jurisdiction": "AT", "site": "at-vie-1", "engines": at,
             "models": [MODEL]},
        ],
        "tenants": [{"id": "de-only", "api_keys": [{"id": "k", "hash": hash_key(KEY)}]}],
    }  # fmt: skip


def _engine(gateway_url: str, engine_url: str) -> dict[str, object]:
    engines = httpx.get(gateway_url + "/admin/v1/engines", headers=ADMIN, timeout=5).json()
    return dict(next(e for e in engines if e["engine"] == engine_url))


def _circuit(gateway_url: str, engine_url: str) -> str:
    return str(_engine(gateway_url, engine_url)["circuit"])


@dataclass
class Load:
    client: openai.OpenAI
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, stream: bool) -> None:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "Nenne eine Stadt in Bayern."}
        ]
        while not self.stop.is_set():
            try:
                if stream:
                    chunks = self.client.chat.completions.create(
                        model=MODEL, messages=messages, max_tokens=4, stream=True
                    )
                    for _ in chunks:
                        pass
                else:
                    self.client.chat.completions.create(
                        model=MODEL, messages=messages, max_tokens=4
                    )
                self.ok += 1
            except openai.APIError as clean:  # an OpenAI error, in-band or by status: clean
                self.failed.append(type(clean).__name__)


def test_killing_an_engine_under_load_fails_over_inside_the_jurisdiction(
    engine: EngineUnderTest, simulators: list[Simulator], tmp_path: Path
) -> None:
    doomed, foreign = _simulator(), _simulator()
    simulators += [doomed, foreign]
    served_before = engine_metric(engine, "vllm:request_success_total")
    with gateway_process(_config([engine.base_url, doomed.url], [foreign.url]), tmp_path,
                         "resilience") as gateway:  # fmt: skip
        load = Load(gateway.client(KEY))
        workers = [threading.Thread(target=load.run, args=(i % 2 == 0,)) for i in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(2.0)
        assert _circuit(gateway.base_url, doomed.url) == "closed"
        killed, killed_at = time.monotonic(), time.time()  # the signal goes out now
        doomed.kill()
        while (status := _engine(gateway.base_url, doomed.url))["circuit"] != "open":
            assert time.monotonic() - killed < 5, "the circuit never opened"
            time.sleep(0.02)
        # When the gateway opened it, by its own clock: the admin call that reads it waits for
        # a CPU shared with the engine and the load, which is not the gateway's own delay.
        opened_after = float(str(status["circuit_changed_at"])) - killed_at
        time.sleep(3.0)  # the load goes on, on the real engine alone
        load.stop.set()
        for worker in workers:
            worker.join(60)
    TIMINGS["circuit open after an engine kill (s)"] = opened_after
    TIMINGS["engine kill test: requests served"] = load.ok
    TIMINGS["engine kill test: requests failed cleanly"] = len(load.failed)
    assert opened_after < 1.0, f"circuit opened {opened_after:.2f} s after the kill"
    assert load.ok > 0
    # Only requests in flight on the engine when it died may fail, and only cleanly.
    assert len(load.failed) <= 4, load.failed
    assert engine_metric(engine, "vllm:request_success_total") > served_before
    foreign_engine = EngineUnderTest(foreign.url, MODEL)
    assert engine_metric(foreign_engine, "vllm:prompt_tokens_total") == 0
    assert engine_metric(foreign_engine, "vllm:request_success_total") == 0


def test_an_engine_failing_every_request_is_routed_around_and_its_circuit_opens(
    simulators: list[Simulator], tmp_path: Path
) -> None:
    broken, healthy, foreign = _simulator("0:error=503,error_rate=1.0"), _simulator(), _simulator()
    simulators += [broken, healthy, foreign]
    with gateway_process(_config([broken.url, healthy.url], [foreign.url]), tmp_path,
                         "faults") as gateway:  # fmt: skip
        client = gateway.client(KEY)
        for _ in range(12):
            answer = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hallo"}], max_tokens=4
            )
            assert answer.choices[0].message.content
        assert _circuit(gateway.base_url, broken.url) in ("open", "half_open")
    assert engine_metric(EngineUnderTest(foreign.url, MODEL), "vllm:prompt_tokens_total") == 0
