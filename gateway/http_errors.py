"""Where every error becomes an error response: the only place that renders one, as OpenAI
writes errors or, on Anthropic's ``/v1/messages``, as Anthropic does (``api_of``).

Foreign errors met by the HTTP layer (validation, routing) are first translated into the
gateway's exception tree, so the body shape and status come from one function.

Anything no handler expected is rendered by ``CatchAll``, a pure ASGI layer inside the app,
rather than by a Starlette ``Exception`` handler: that handler runs in
``ServerErrorMiddleware``, which re-raises after responding, so uvicorn closed the client's
keep-alive connection after every 500. ``CatchAll`` answers and does not re-raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import (
    Api,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    as_gateway_error,
    render_json,
)

log = structlog.get_logger("gateway.errors")


def error_response(exc: GatewayError, api: Api = "openai") -> Response:
    """The error as the route's API writes errors (``errors.Api``): OpenAI's, or Anthropic's
    on ``/v1/messages``; the same status either way."""
    return Response(
        render_json(exc, api),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )


def api_of(path: str) -> Api:
    """The API a path speaks, for errors raised before any route has said (the edge's body
    limit, the catch-all): Anthropic's under ``/v1/messages``."""
    return "anthropic" if path.startswith("/v1/messages") else "openai"


def raw_response(exc: GatewayError) -> bytes:
    """The error as a whole HTTP/1.1 response that closes the connection: for the server's
    own refusals (``gateway.server``), made before any request reaches the app."""
    body = render_json(exc)
    lines = [
        f"HTTP/1.1 {exc.status} {HTTPStatus(exc.status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in exc.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def from_validation(errors: Sequence[Any]) -> InvalidRequest:
    if not errors:
        return InvalidRequest("The request is invalid.")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request. "
            "Send valid JSON with 'Content-Type: application/json'.",
            code="invalid_json",
        )
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(first.get("msg", "invalid value"))
    if param:
        message = f"Invalid value for '{param}': {message}"
    more = len(errors) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidRequest(message, param=param, code="invalid_value")


def from_http_exception(exc: HTTPException) -> GatewayError:
    # FastAPI wraps errors raised while reading the body (our size limit among them) in a 400.
    if isinstance(exc.__cause__, GatewayError):
        return exc.__cause__
    if exc.status_code == 404:
        return NotFound("Unknown request URL. See the OpenAI API reference for valid paths.")
    if exc.status_code == 413:
        return PayloadTooLarge(str(exc.detail))
    if exc.status_code == 405:
        return MethodNotAllowed("Method not allowed for this URL.")
    if 400 <= exc.status_code < 500:
        return InvalidRequest(str(exc.detail))
    return GatewayError(str(exc.detail))


def install(app: FastAPI) -> None:
    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        return error_response(as_gateway_error(exc), api_of(request.url.path))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(from_validation(exc.errors()), api_of(request.url.path))

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(from_http_exception(exc), api_of(request.url.path))

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_exception)
    # Added first, so it sits innermost among the app's own middleware: inside the edge
    # (whose request id it logs and whose headers its answer gets).
    app.add_middleware(CatchAll)


class CatchAll:
    """The last resort: an exception nothing handled becomes the generic OpenAI 500.

    Before the response started, the 500 is sent and the exception ends here: the
    connection stays usable. After the whole response was sent (work done after it, such as
    metering), it is only logged. Half-way through a response nothing can be rendered: it is
    re-raised, and the server closes the connection, the one way left to tell the client the
    answer is incomplete.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        progress = _Progress(send)
        try:
            await self.app(scope, receive, progress.send)
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id")
            if progress.started and not progress.completed:
                log.exception("unhandled_error_mid_response", request_id=request_id)
                raise
            if progress.completed:
                log.exception("unhandled_error_after_response", request_id=request_id)
                return
            log.exception("unhandled_error", request_id=request_id)
            api = api_of(scope.get("path", ""))
            await error_response(as_gateway_error(exc), api)(scope, receive, send)


class _Progress:
    """How far the response got: a bound method as ``send``, no closure per request."""

    __slots__ = ("_send", "completed", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.completed = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.completed = True
        await self._send(message)
