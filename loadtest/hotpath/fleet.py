"""The processes of a run: one engine, one relay per variant, one load client."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from loadtest.hotpath.bodies import PATH, request
from loadtest.hotpath.measure import CpuMeter
from loadtest.hotpath.variants import Variant
from loadtest.local import free_port

DIRECT = "direct (engine, no relay)"


class LoadClient:
    """The load process, driven one job at a time over its standard input and output."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "loadtest.hotpath.client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def run(self, port: int, body: bytes, concurrency: int, requests: int, **extra: Any) -> Any:
        job = {"port": port, "body": body.decode("latin-1"), "concurrency": concurrency}
        job.update(requests=requests, **extra)
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(orjson.dumps(job) + b"\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the load client died")
        return orjson.loads(line)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


@dataclass
class Relay:
    variant: Variant
    port: int
    process: subprocess.Popen[bytes]
    cpu: CpuMeter


@dataclass
class Fleet:
    engine_port: int
    relays: dict[str, Relay]
    client: LoadClient

    def port(self, name: str) -> int:
        return self.engine_port if name == DIRECT else self.relays[name].port


@contextlib.contextmanager
def fleet(variants: list[Variant], tick_ms: float) -> Iterator[Fleet]:
    engine_port = free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    processes: list[subprocess.Popen[bytes]] = []
    client: LoadClient | None = None
    try:
        processes.append(_spawn("engine", "--port", str(engine_port), "--tick-ms", str(tick_ms)))
        starting: list[tuple[Variant, int, subprocess.Popen[bytes]]] = []
        for variant in variants:
            port = free_port()
            process = _spawn("serve", variant.name, "--port", str(port), "--engine", engine_url)
            processes.append(process)
            starting.append((variant, port, process))
        relays: dict[str, Relay] = {}
        for variant, port, process in starting:
            wait_ready(port, process)
            relays[variant.name] = Relay(variant, port, process, CpuMeter(process.pid))
        wait_ready(engine_port, processes[0])
        client = LoadClient()
        yield Fleet(engine_port, relays, client)
    finally:
        if client is not None:
            client.close()
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _spawn(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", f"loadtest.hotpath.{module}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Until a whole chat completion goes through (the relays import the gateway: slow to
    start when a dozen start at once on two cores)."""
    deadline = time.monotonic() + timeout
    body = request(stream=False, max_tokens=2)
    headers = {"content-type": "application/json"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process on port {port} exited ({process.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            url = f"http://127.0.0.1:{port}{PATH}"
            if httpx.post(url, content=body, headers=headers, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not answer within {timeout:.0f} s")


def check_relay(port: int, variant: Variant) -> list[str]:
    """What is wrong with a relay's answers (nothing, normally): a whole answer, a stream
    relayed event by event to its ``[DONE]``, and an OpenAI-style 400 naming the param."""
    url, headers = f"http://127.0.0.1:{port}{PATH}", {"content-type": "application/json"}
    problems: list[str] = []
    whole = httpx.post(url, content=request(False, 4), headers=headers, timeout=10)
    if whole.status_code != 200 or "choices" not in whole.json():
        problems.append(f"whole answer: HTTP {whole.status_code}")
    stream = httpx.post(url, content=request(True, 16), headers=headers, timeout=10)
    events = stream.text.count("data: ")
    # role + 16 + [DONE], usage dropped; read/tap modes write the last chunk read only.
    expected = 18 if variant.mode == "full" else 1
    ok = events == expected if variant.mode == "full" else 1 <= events <= 19
    if stream.status_code != 200 or not ok or "[DONE]" not in stream.text:
        problems.append(f"stream: HTTP {stream.status_code}, {events} events ({expected} expected)")
    if variant.server == "floor":
        return problems  # the floor checks nothing: it only measures the sockets
    invalid = b'{"model": "m", "messages": [{"role": "robot", "content": "hi"}]}'
    refused = httpx.post(url, content=invalid, headers=headers, timeout=10)
    error = refused.json().get("error", {}) if refused.status_code == 400 else {}
    if error.get("param") != "messages.0.role" or error.get("type") != "invalid_request_error":
        problems.append(f"invalid body: HTTP {refused.status_code} {refused.text[:80]}")
    return problems
