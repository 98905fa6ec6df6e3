"""Where every error becomes an OpenAI error response: the only place that renders one.

Foreign errors met by the HTTP layer (validation, routing) are first translated into the
gateway's exception tree, so the body shape and status come from one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    as_gateway_error,
    render_json,
)

log = structlog.get_logger("gateway.errors")


def error_response(exc: GatewayError) -> Response:
    return Response(
        render_json(exc),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )


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
        return error_response(as_gateway_error(exc))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(from_validation(exc.errors()))

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(from_http_exception(exc))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", request_id=getattr(request.state, "request_id", None))
        return error_response(as_gateway_error(exc))

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
