"""The gateway in front of simulated engines: embeddings, failures, and residency under them.

Pools: two engines in DE, one in AT serving the same model; the tenant may use DE only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
import yaml

from gateway.auth import hash_key
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.launcher import launch, stop
from tests.processes import ADMIN_TOKEN
from tests.servers import EngineUnderTest, engine_metric, free_port, wait_healthy

KEY = "sk-sim-de-tenant"
MODEL = "llama-3.1-8b"
HELLO: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hallo"}]


@dataclass(frozen=True)
class SimPools:
    sim: SimulatorThread
    gateway_url: str

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway_url + "/v1", api_key=KEY, max_retries=0)

    def engine(self, index: int) -> EngineUnderTest:
        return EngineUnderTest(self.sim.base_urls[index], MODEL)


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPools]:
    config = SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=3, speed=0.05)
    folder = tmp_path_factory.mktemp("sim-gateway")
    with SimulatorThread(config) as sim:
        de, at = sim.base_urls[:2], sim.base_urls[2:]
        port = free_port()
        settings = {
            "server": {"port": port},
            "upstream": {"connect_timeout": 1.0},
            "telemetry": {"allowed_jurisdictions": ["DE", "AT"]},
            "pools": [
                {"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                 "engines": de, "models": [MODEL]},
                {"name": "at", "jurisdiction": "AT", "site": "at-vie-1", "gpu": "b200",
                 "engines": at, "models": [MODEL]},
            ],
            "tenants": [{"id": "de-only", "api_keys": [{"id": "k", "hash": hash_key(KEY)}]}],
            "admin": {"token_hash": hash_key(ADMIN_TOKEN)},
        }  # fmt: skip
        (folder / "gateway.yaml").write_text(yaml.safe_dump(settings))
        log_path = folder / "gateway.log"
        with open(log_path, "wb") as log:
            process: subprocess.Popen[bytes] = launch(
                [sys.executable, "-m", "gateway.cli", "serve", "--config",
                 str(folder / "gateway.yaml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                wait_healthy(f"http://127.0.0.1:{port}", process, log_path)
                yield SimPools(sim, f"http://127.0.0.1:{port}")
            finally:
                stop(process, 10)


def _back_up(pools: SimPools) -> None:
    """Restarted engines: wait until the gateway has seen them answer and no circuit is open
    any more. A request that found them refusing opened their circuits; the monitor's next
    scrape after the restart (at most half a second) lets them probe again. An engine that
    came back within one scrape interval never looked down to the monitor, so its health
    alone does not say the circuit has caught up."""
    deadline = time.monotonic() + 10
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    while True:
        engines = httpx.get(pools.gateway_url + "/admin/v1/engines", headers=headers).json()
        if all(e["healthy"] and e["circuit"] != "open" for e in engines):
            return
        assert time.monotonic() < deadline, f"the gateway never saw the engines back: {engines}"
        time.sleep(0.05)


def _austrian_prompt_tokens(pools: SimPools) -> float:
    return engine_metric(pools.engine(2), "vllm:prompt_tokens_total")


def test_embeddings_through_the_gateway(pools: SimPools) -> None:
    raw = pools.client().embeddings.with_raw_response.create(
        model=MODEL, input=["Antrag auf Wohngeld", "Bauantrag"]
    )
    result = raw.parse()
    assert [e.index for e in result.data] == [0, 1]
    assert all(len(e.embedding) == 384 for e in result.data)
    assert result.usage.prompt_tokens > 0
    assert raw.headers["x-sovereign-jurisdiction"] == "DE"


def test_one_engine_down_fails_over_inside_the_jurisdiction(pools: SimPools) -> None:
    before = _austrian_prompt_tokens(pools)
    pools.sim.crash(0)
    try:
        for _ in range(6):
            raw = pools.client().chat.completions.with_raw_response.create(
                model=MODEL, messages=HELLO, max_tokens=4
            )
            assert raw.headers["x-sovereign-site"] == "de-muc-1"
    finally:
        pools.sim.restart(0)
        _back_up(pools)
    assert _austrian_prompt_tokens(pools) == before


def test_all_allowed_engines_down_is_refused_never_sent_abroad(pools: SimPools) -> None:
    before = _austrian_prompt_tokens(pools)
    pools.sim.crash(0)
    pools.sim.crash(1)
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            pools.client().chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4)
        assert caught.value.status_code == 503
        assert caught.value.code == "no_engine_available"
    finally:
        pools.sim.restart(0)
        pools.sim.restart(1)
        _back_up(pools)
    assert _austrian_prompt_tokens(pools) == before  # the AT engine, alive, got nothing


def test_engine_failing_mid_stream_ends_it_with_an_in_band_error(pools: SimPools) -> None:
    for index in (0, 1):
        pools.sim.set_fault(index, "disconnect_after=3")
    try:
        stream = pools.client().chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        received: list[object] = []
        with pytest.raises(openai.APIError) as caught:
            received.extend(stream)
        assert received  # some tokens arrived before the failure
        assert "engine" in caught.value.message
    finally:
        for index in (0, 1):
            pools.sim.set_fault(index, "")
