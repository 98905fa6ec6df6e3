"""Real servers, started once per session: the vLLM engine (CPU) and the gateway process.

The engine must be installed (``make install``); if it is not, these tests fail with that
message rather than skip: CI must exercise the real engine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from gateway.auth import hash_key
from serving.local_engine import EnginePaths, engine_home, start

DE_KEY = "sk-e2e-de-tenant-0001"
FR_KEY = "sk-e2e-fr-only-0002"
MODEL = "smollm2"
TIMINGS: dict[str, float] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class EngineUnderTest:
    base_url: str


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineUnderTest]:
    # For local iteration only: reuse an engine you already started (saves ~2.5 minutes).
    # CI and the README's test command never set it, so they start the real engine here.
    reuse = os.environ.get("SOVEREIGN_TEST_ENGINE_URL")
    if reuse:
        yield EngineUnderTest(reuse.rstrip("/"))
        return
    paths = EnginePaths(engine_home())
    if not paths.installed():
        pytest.fail(f"the vLLM engine is not installed in {paths.home}: run `make install`")
    log = tmp_path_factory.mktemp("engine") / "engine.log"
    try:
        running = start(paths, port=free_port(), log_path=log, ready_timeout=900)
    except Exception:
        print(log.read_text()[-5000:], file=sys.stderr)
        raise
    TIMINGS["engine start-up (s)"] = running.startup_seconds
    try:
        yield EngineUnderTest(running.base_url)
    finally:
        running.stop()


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
    process = subprocess.Popen(
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
        process.terminate()
        process.wait(10)
        log.close()


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gateway exited:\n" + log_path.read_text())
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("gateway did not come up:\n" + log_path.read_text())


def engine_metric(engine: EngineUnderTest, name: str, **labels: str) -> float:
    """Sum of a metric's samples on the engine's own /metrics (Prometheus text format)."""
    text = httpx.get(engine.base_url + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, value in TIMINGS.items():
        terminalreporter.write_line(f"{name}: {value:.1f}")
