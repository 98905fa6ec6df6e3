"""The gateway as a real process in front of the real vLLM engine, once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
import yaml

from gateway.auth import hash_key
from tests.launcher import launch, stop
from tests.servers import EngineUnderTest, free_port, wait_healthy

DE_KEY = "sk-e2e-de-tenant-0001"
FR_KEY = "sk-e2e-fr-only-0002"
MODEL = "smollm2"


@dataclass(frozen=True)
class Gateway:
    base_url: str
    process: subprocess.Popen[bytes]

    def client(self, key: str = DE_KEY) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url + "/v1", api_key=key, max_retries=0, timeout=120
        )


def gateway_config(engine_url: str, port: int) -> dict[str, object]:
    return {
        "server": {"host": "127.0.0.1", "port": port},
        # metering.on_client_disconnect is left at its default, abort: a client that leaves
        # stops the engine (tests/e2e/test_disconnect.py; finish: tests/e2e/test_metering.py).
        "pools": [
            {
                "name": "local-de",
                "jurisdiction": "DE",
                "site": "de-local-1",
                "gpu": "cpu",
                "engines": [engine_url],
                "models": [MODEL],
            }
        ],
        "tenants": [
            {"id": "acme-de", "api_keys": [{"id": "acme-1", "hash": hash_key(DE_KEY)}]},
            {
                "id": "fr-only",
                "api_keys": [{"id": "fr-1", "hash": hash_key(FR_KEY)}],
                "allowed_jurisdictions": ["FR"],
            },
        ],
    }


@pytest.fixture(scope="session")
def gateway(engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("gateway")
    port = free_port()
    config = folder / "gateway.yaml"
    config.write_text(yaml.safe_dump(gateway_config(engine.base_url, port)))
    log = open(folder / "gateway.log", "wb")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    env["PYTHONUNBUFFERED"] = "1"
    process: subprocess.Popen[bytes] = launch(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, log_path=folder / "gateway.log")
        yield Gateway(base_url, process)
    finally:
        stop(process, 10)
        log.close()
