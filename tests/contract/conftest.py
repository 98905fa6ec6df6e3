"""The contract: one set of assertions, run against the real vLLM engine and the simulator."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.launcher import launch, stop
from tests.servers import EngineUnderTest, free_port, wait_healthy


@pytest.fixture(scope="session")
def simulated_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineUnderTest]:
    """A simulated B200 engine serving "smollm2" with the real engine's context length."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("simulator") / "simulator.log"
    with open(log_path, "wb") as log:
        process: subprocess.Popen[bytes] = launch(
            [sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
             "--model", "smollm2", "--engines", "1", "--base-port", str(port),
             "--max-model-len", "2048"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base_url, process, log_path, path="/health")
            yield EngineUnderTest(base_url)
        finally:
            stop(process, 10)


@pytest.fixture(params=["vllm", "simulator"])
def any_engine(request: pytest.FixtureRequest) -> EngineUnderTest:
    name = "engine" if request.param == "vllm" else "simulated_engine"
    engine: EngineUnderTest = request.getfixturevalue(name)
    return engine
