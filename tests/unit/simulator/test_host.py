"""Many engines in one process: the Python APIs and the command line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from serving.simulator import SimulatorConfig, SimulatorThread, run_simulator
from tests.launcher import launch
from tests.unit.simulator.conftest import MODEL

ROOT = Path(__file__).resolve().parents[3]


def test_fifty_engines_in_one_process_answer_health() -> None:
    started = time.monotonic()
    config = SimulatorConfig("b200/llama-3.3-70b", MODEL, engines=50, speed=0.1)
    with SimulatorThread(config) as sim, httpx.Client(timeout=5) as client:
        assert time.monotonic() - started < 10
        urls = sim.base_urls
        assert len(set(urls)) == 50
        assert all(client.get(url + "/health").status_code == 200 for url in urls)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        reply = client.post(urls[49] + "/v1/chat/completions", json=body)
        assert reply.json()["usage"]["completion_tokens"] <= 2


async def test_async_context_manager_starts_and_stops_engines() -> None:
    config = SimulatorConfig("cpu/smollm2", "smollm2", engines=2)
    async with run_simulator(config) as sim, httpx.AsyncClient(timeout=5) as client:
        models = [(await client.get(url + "/v1/models")).json() for url in sim.base_urls]
        assert [m["data"][0]["max_model_len"] for m in models] == [2048, 2048]
        await sim.crash(0)
        with pytest.raises(httpx.ConnectError):
            await client.get(sim.base_urls[0] + "/health")
        assert (await client.get(sim.base_urls[1] + "/health")).status_code == 200
    async with httpx.AsyncClient(timeout=1) as after:  # stopped with the block
        with pytest.raises(httpx.ConnectError):
            await after.get(sim.base_urls[1] + "/health")


async def test_a_taken_port_fails_the_start_cleanly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = SimulatorConfig("cpu/smollm2", "smollm2", base_port=port)
        with pytest.raises(OSError, match="in use"):
            async with run_simulator(config):
                pass


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def test_command_line_serves_until_sigterm() -> None:
    port = _free_port_pair()
    argv = [sys.executable, "-m", "serving.simulator", "--profile", "h100/llama-3.1-8b"]
    argv += ["--model", "llama-3.1-8b", "--engines", "2", "--base-port", str(port)]
    argv += ["--speed", "0.1", "--fault", "1:error=503"]
    process: subprocess.Popen[bytes] = launch(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().decode()
        assert ready.startswith("simulator ready: 2 engine(s)"), process.stderr
        assert f"127.0.0.1:{port + 1}" in ready
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        ok = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
        failing = httpx.post(f"http://127.0.0.1:{port + 1}/v1/chat/completions", json=body)
        assert (ok.status_code, failing.status_code) == (200, 503)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


def test_command_line_rejects_bad_faults() -> None:
    argv = [sys.executable, "-m", "serving.simulator", "--profile", "cpu/smollm2"]
    argv += ["--model", "m", "--fault", "0:explode"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=30, check=False)
    assert result.returncode == 2
    assert b"unknown fault" in result.stderr
