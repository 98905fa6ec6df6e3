"""One batch line through the request path, in-process: no HTTP round trip, no copy of a stage.

The line becomes a request as the edge would make it (its own request id, a settlement, the
body as the only message of ``receive``, ``x-sovereign-priority: batch``) for the principal of
the key that created the batch, and goes down ``Pipeline.handle_authenticated``: read,
residency, the tenant's policy, limits, send, shape, record, as every request does. The
answer is collected as a client would receive it (restored, masked, metered once sent).
``stop`` is the client leaving: set, it makes ``receive`` report a disconnect, which stops
the engine (abort) like a client that goes away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import orjson
from starlette.datastructures import Headers
from starlette.types import Message

from gateway.core.tenant import Principal
from gateway.edge import new_request_id
from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoints import Endpoint
from gateway.pipeline.path import Pipeline
from gateway.settle import Settlement

PRIORITY_HEADER = "x-sovereign-priority"


@dataclass(frozen=True, slots=True)
class LineAnswer:
    status: int  # 499: stopped before the engine answered
    request_id: str
    body: Any  # the JSON answer (or the error), as the client would have received it
    headers: dict[str, str] = field(default_factory=dict)


class Caller(Protocol):
    """How the runner has a line answered (``LineCaller``; a fake in unit tests)."""

    async def call(
        self,
        principal: Principal,
        endpoint: Endpoint,
        body: dict[str, Any],
        subject: str | None,
        stop: asyncio.Event,
    ) -> LineAnswer: ...


class LineCaller:
    def __init__(self, pipeline: Pipeline, subject_header: str) -> None:
        self._pipeline = pipeline
        self._subject_header = subject_header

    async def call(
        self,
        principal: Principal,
        endpoint: Endpoint,
        body: dict[str, Any],
        subject: str | None,
        stop: asyncio.Event,
    ) -> LineAnswer:
        request_id = new_request_id()
        raw = orjson.dumps(body)
        given = False

        async def receive() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await stop.wait()
            return {"type": "http.disconnect"}

        given_headers = {PRIORITY_HEADER: "batch"}
        if subject:
            given_headers[self._subject_header] = subject
        headers = Headers(headers=given_headers)  # case-insensitive, as the edge's are
        settlement = Settlement()
        ctx = RequestContext(request_id, endpoint, headers, receive, settlement)
        ctx.principal = principal
        try:
            try:
                response = await self._pipeline.handle_authenticated(ctx)
            except GatewayError as error:
                return LineAnswer(error.status, request_id, error.body(), error.headers)
            chunks: list[bytes] = []

            async def send(message: Message) -> None:
                if message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            scope = {"type": "http", "method": "POST", "path": endpoint.path, "headers": []}
            await response(scope, receive, send)
            answered = b"".join(chunks)
            headers_out = {k.lower(): v for k, v in response.headers.items()}
            return LineAnswer(response.status_code, request_id, _json(answered), headers_out)
        finally:
            with anyio.CancelScope(shield=True):  # the charge and lease, however it ended
                await settlement.run()


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"error": {"message": body.decode("utf-8", "replace"), "type": "api_error"}}
