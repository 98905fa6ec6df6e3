"""A tiny OpenAI-compatible streaming server for the headless Locust run, in a thread.

Streams what vLLM streams for ``stream_options.include_usage``: a role-only chunk, a few text
chunks a few milliseconds apart, a finish chunk, the usage chunk, then ``[DONE]``. Records
every request (body and headers) so the test can check what the load test sent. For the model
``broken`` it fails, in turn, with HTTP 500 and with an in-band error after one token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

TOKENS = ("Guten", " Tag", ",", " gern", " geschehen", ".")


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeOpenAI:
    gap_s: float = 0.005
    requests: list[Recorded] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Response:
            body = await request.json()
            self.requests.append(Recorded(body, dict(request.headers)))
            if not request.headers.get("authorization", "").startswith("Bearer "):
                error = {"message": "no key", "type": "invalid_request_error", "code": "x"}
                return JSONResponse({"error": error}, status_code=401)
            if body.get("model") == "broken" and len(self.requests) % 2:
                error = {"message": "engine down", "type": "upstream_error"}
                return JSONResponse({"error": error}, status_code=500)
            return StreamingResponse(self._events(body), media_type="text/event-stream")

        return app

    async def _events(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        count = min(len(TOKENS), int(body.get("max_tokens") or len(TOKENS)))
        prompt = sum(len(m["content"]) for m in body["messages"]) // 3
        yield _event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        if body.get("model") == "broken":
            yield _event({"choices": [{"index": 0, "delta": {"content": TOKENS[0]}}]})
            error = {"message": "engine lost", "type": "upstream_error", "code": None}
            yield _event({"error": error})  # the gateway's in-band error; no [DONE] follows
            return
        for token in TOKENS[:count]:
            await asyncio.sleep(self.gap_s)
            yield _event({"choices": [{"index": 0, "delta": {"content": token}}]})
        yield _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        usage = {"prompt_tokens": prompt, "completion_tokens": count}
        yield _event({"choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread, until ``stop()``."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
