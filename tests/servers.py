"""Helpers for tests that run real servers (the vLLM engine, the gateway, the simulator)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.server import server_config
from gateway.settings import Settings
from serving.local_engine import (
    EMBEDDING_MODEL_NAME,
    EnginePaths,
    embedding_model,
    engine_home,
    start,
)
from serving.watermark_scheme import WatermarkScheme
from tests.launcher import launch

# Filled in by the session fixtures, printed at the end of the run (see tests/conftest.py).
TIMINGS: dict[str, float] = {}

# The text watermark the session's chat engine is started with (its logits processor is
# loaded; only requests with ``vllm_xargs: {"sovereign_watermark": 1}`` are marked, all others
# are untouched: tests/e2e/test_watermark.py). Detection re-tokenizes with the model's own
# tokenizer.
TEST_WATERMARK = WatermarkScheme(
    key=b"sovereign-gateway test watermark key",
    tokenizer=str(EnginePaths(engine_home()).model_dir),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class EngineUnderTest:
    base_url: str
    model: str = "smollm2"


@contextmanager
def embedding_engine(folder: Path) -> Iterator[EngineUnderTest]:
    """The real embeddings engine (vLLM on the CPU, all-MiniLM-L6-v2 served as "minilm"),
    started and stopped like the chat engine (``serving.local_engine.start``); a session
    fixture around it starts it only for the tests that ask for it. Fails, never skips,
    when ``make install`` has not put the model in place."""
    # For local iteration only, as SOVEREIGN_TEST_ENGINE_URL for the chat engine.
    reuse = os.environ.get("SOVEREIGN_TEST_EMBEDDING_ENGINE_URL")
    if reuse:
        yield EngineUnderTest(reuse.rstrip("/"), EMBEDDING_MODEL_NAME)
        return
    paths = EnginePaths(engine_home())
    if not paths.embeddings_installed():
        pytest.fail(f"the embeddings engine is not installed in {paths.home}: run `make install`")
    log = folder / "embedding-engine.log"
    try:
        running = start(
            paths,
            port=free_port(),
            log_path=log,
            ready_timeout=900,
            model=embedding_model(paths),
            spawn=launch,
        )
    except Exception:
        print(log.read_text()[-5000:], file=sys.stderr)
        raise
    TIMINGS["embeddings engine start-up (s)"] = running.startup_seconds
    try:
        yield EngineUnderTest(running.base_url, EMBEDDING_MODEL_NAME)
    finally:
        running.stop()


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, path: str = "/healthz"
) -> None:
    # Generous: a gateway of several workers starts in seconds, but on a 2-core machine busy
    # with a vLLM engine it took over 30 s once.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited:\n" + log_path.read_text())
        try:
            if httpx.get(base_url + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("server did not come up:\n" + log_path.read_text())


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


@contextmanager
def gateway_thread(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> Iterator[str]:
    """The gateway on a free port in a uvicorn thread, configured as ``serve`` configures it
    (``gateway.server``: its limits on request heads and idle connections), until the block
    ends; yields its base URL. For what only a real server shows (connections, keep-alive)."""
    port = free_port()
    listen = settings.server.model_copy(update={"host": "127.0.0.1", "port": port, "workers": 1})
    config = server_config(create_app(settings, upstream_transport=transport), listen)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
