"""The HTTP surface of one simulated engine: a plain ASGI app, vLLM's routes and errors.

Plain ASGI rather than a framework: the streaming path writes pre-encoded bytes straight to
uvicorn, and a fault can end a response the way a dying engine does (see DropConnection).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from serving.simulator import protocol, render, text
from serving.simulator.engine import Engine
from serving.simulator.faults import FaultSpec, FaultSyntaxError, error_type, parse_fault
from serving.simulator.generate import generate
from serving.simulator.protocol import ApiError
from serving.simulator.wire import (
    DropConnection,
    Receive,
    Request,
    Scope,
    Send,
    drop,
    read_body,
    send_bytes,
)

FAULT_HEADER = b"x-sim-fault"
Handler = Callable[[Request], Awaitable[int]]


@dataclass(frozen=True)
class Route:
    method: str
    handler: Handler


class EngineApp:
    def __init__(self, engine: Engine, on_crash: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._on_crash = on_crash or engine.crash
        self._routes = {
            "/health": Route("GET", self._health),
            "/metrics": Route("GET", self._metrics),
            "/v1/models": Route("GET", self._models),
            "/v1/chat/completions": Route("POST", self._chat),
            "/v1/completions": Route("POST", self._completions),
            "/v1/embeddings": Route("POST", self._embeddings),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no websockets
        path, method = scope["path"], scope["method"]
        route = self._routes.get(path)
        status = 500
        try:
            if route is None:
                status = await send_bytes(send, 404, b'{"detail":"Not Found"}')
            elif route.method != method:
                status = await send_bytes(send, 405, b'{"detail":"Method Not Allowed"}')
            else:
                status = await route.handler(Request(scope, receive, send))
        except DropConnection:
            status = 200  # the answer had begun as a 200 when it was cut
            raise
        finally:
            handler = path if route is not None else "none"
            self.engine.metrics.record_http(handler, method, status)

    async def _health(self, request: Request) -> int:
        return await send_bytes(request.send, 200, b"", content_type=None)

    async def _metrics(self, request: Request) -> int:
        body = self.engine.metrics.exposition()
        return await send_bytes(request.send, 200, body, content_type=CONTENT_TYPE_LATEST)

    async def _models(self, request: Request) -> int:
        config = self.engine.config
        body = render.models(config.model, self.engine.created, config.max_model_len)
        return await send_bytes(request.send, 200, body)

    async def _chat(self, request: Request) -> int:
        return await self._generation(request, chat=True)

    async def _completions(self, request: Request) -> int:
        return await self._generation(request, chat=False)

    async def _generation(self, request: Request, *, chat: bool) -> int:
        try:
            fault, body = await self._admit(request)
            parse = protocol.parse_chat if chat else protocol.parse_completion
            parsed = parse(body)
            protocol.check_model(parsed.model, self.engine.config.model)
            budget = protocol.output_budget(parsed, self.engine.config.max_model_len)
        except ApiError as error:
            return await send_bytes(request.send, error.status, error.body())
        return await generate(self.engine, request, parsed, budget, fault, chat=chat)

    async def _embeddings(self, request: Request) -> int:
        engine, config = self.engine, self.engine.config
        try:
            fault, body = await self._admit(request)
            parsed = protocol.parse_embeddings(body)
            protocol.check_model(parsed.model, config.model)
            for tokens in parsed.inputs:
                protocol.check_prompt_len(len(tokens), config.max_model_len)
        except ApiError as error:
            return await send_bytes(request.send, error.status, error.body())
        prompt_tokens = sum(len(tokens) for tokens in parsed.inputs)
        # A pooling pass is one prefill: priced by the same performance model.
        await engine.delay((fault.ttft_s or 0.0) + config.perf.step_seconds(0, prompt_tokens))
        if engine.crashed:
            await drop(request.send, started=False)
        engine.metrics.prompt_tokens.inc(prompt_tokens)
        dims = parsed.dimensions or text.EMBEDDING_DIMS
        vectors = [text.embed(tokens, dims) for tokens in parsed.inputs]
        request_id = "embd-" + (request.header(b"x-request-id") or render.new_id())
        payload = render.embeddings(
            request_id,
            int(time.time()),
            config.model,
            vectors,
            as_base64=parsed.base64,
            prompt_tokens=prompt_tokens,
        )
        return await send_bytes(request.send, 200, payload)

    async def _admit(self, request: Request) -> tuple[FaultSpec, dict[str, Any]]:
        """Read the body and play the engine's and the request's faults that act up front."""
        raw = await read_body(request.receive)
        fault = self._fault(request)
        engine = self.engine
        engine.requests_seen += 1
        crash_after = fault.crash_after
        if fault.crash or (crash_after is not None and engine.requests_seen > crash_after):
            self._on_crash()
        if engine.crashed:
            await drop(request.send, started=False)
        if engine.dice.fails(fault):
            status = fault.status
            message = f"Simulated engine failure (status {status}, x-sim-fault)."
            raise ApiError(status, error_type(status), message)
        return fault, protocol.parse_body(raw)

    def _fault(self, request: Request) -> FaultSpec:
        header = request.header(FAULT_HEADER)
        if not header:
            return self.engine.faults
        try:
            return self.engine.faults.overlay(parse_fault(header, engine_level=False))
        except FaultSyntaxError as exc:
            raise protocol.bad_request(f"Invalid x-sim-fault header: {exc}") from None
