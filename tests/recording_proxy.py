"""A pass-through HTTP proxy in front of an engine that records what reached it.

End-to-end tests put it between the gateway and the real vLLM engine to see exactly what the
engine received and what it answered, bytes as they were, streams relayed as they come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.servers import free_port


@dataclass
class Recording:
    url: str
    requests: list[bytes] = field(default_factory=list)  # request bodies, in order
    answers: list[bytes] = field(default_factory=list)  # what the engine sent back


def _app(upstream: str, recording: Recording) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=300, trust_env=False)

    async def forward(request: Request) -> StreamingResponse:
        body = await request.body()
        if request.method == "POST":
            recording.requests.append(body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        sent = client.build_request(request.method, request.url.path, content=body, headers=headers)
        response = await client.send(sent, stream=True)
        answer = bytearray()
        if request.method == "POST":
            recording.answers.append(b"")

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for part in response.aiter_raw():
                    answer.extend(part)
                    if request.method == "POST":
                        recording.answers[-1] = bytes(answer)
                    yield part
            finally:
                await response.aclose()

        kept = {k: v for k, v in response.headers.items() if k.lower() in {"content-type"}}
        return StreamingResponse(relay(), status_code=response.status_code, headers=kept)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@contextmanager
def _serving(app: Starlette, port: int, what: str) -> Iterator[None]:
    """``app`` on ``port`` in a uvicorn thread, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {what} did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def recording_proxy(upstream: str) -> Iterator[Recording]:
    port = free_port()
    recording = Recording(f"http://127.0.0.1:{port}")
    with _serving(_app(upstream, recording), port, "recording proxy"):
        yield recording


@contextmanager
def recording_collector() -> Iterator[Recording]:
    """An OTLP/HTTP collector stand-in: accepts every POST and records its body."""
    port = free_port()
    recording = Recording(f"http://127.0.0.1:{port}")

    async def collect(request: Request) -> StreamingResponse:
        recording.requests.append(await request.body())

        async def empty() -> AsyncIterator[bytes]:
            yield b""

        return StreamingResponse(empty(), status_code=200)

    app = Starlette(routes=[Route("/{path:path}", collect, methods=["POST"])])
    with _serving(app, port, "collector"):
        yield recording
