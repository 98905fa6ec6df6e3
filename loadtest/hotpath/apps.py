"""The three ASGI shapes of the same endpoint: FastAPI (as the chat router of 74c0c04 did:
``StrictJsonRoute``, a pydantic body, an ``Annotated[..., Depends]`` resource from the
lifespan state), a Starlette route, and a bare ASGI callable dispatching on the path. All
three answer with the gateway's own ``RelayResponse`` (disconnect watching included) and
render errors with the gateway's one renderer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import GatewayError, NotFound
from gateway.http_errors import error_response, from_validation
from gateway.openai.body import StrictJsonRoute
from gateway.openai.schemas import ChatCompletionRequest
from gateway.upstream.relay import RelayResponse
from loadtest.hotpath.bodies import PATH
from loadtest.hotpath.relaying import SSE_HEADERS, Relay
from loadtest.hotpath.upstreams import build_upstream
from loadtest.hotpath.validation import PREPARE, Prepare, Prepared, from_model


@dataclass(frozen=True, slots=True)
class Config:
    engine: str  # base URL
    client: str
    validation: str = "pydantic"
    mode: str = "full"

    def relay(self) -> Relay:
        return Relay(build_upstream(self.client, self.engine), self.mode)


async def respond(relay: Relay, prepared: Prepared) -> Response:
    if prepared.stream:
        return RelayResponse(await relay.stream(prepared.forward), SSE_HEADERS)
    return Response(await relay.whole(prepared.forward), media_type="application/json")


async def answer(relay: Relay, prepare: Prepare, body: bytes) -> Response:
    try:
        return await respond(relay, prepare(body))
    except GatewayError as exc:
        return error_response(exc)


def _lifespan(config: Config) -> Callable[[Any], Any]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Relay]]:
        relay = config.relay()
        try:
            yield {"relay": relay}
        finally:
            await relay.upstream.aclose()

    return lifespan


# -- FastAPI ---------------------------------------------------------------------------------


async def get_relay(request: Request) -> Relay:
    relay: Relay = request.state.relay
    return relay


RelayDep = Annotated[Relay, Depends(get_relay)]


def fastapi_app(config: Config) -> ASGIApp:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.post(PATH, response_model=None)
    async def create_chat_completion(body: ChatCompletionRequest, relay: RelayDep) -> Response:
        return await respond(relay, from_model(body))

    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(from_validation(exc.errors()))

    app = FastAPI(lifespan=_lifespan(config), docs_url=None, redoc_url=None)
    app.include_router(router)
    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    return app


# -- Starlette -------------------------------------------------------------------------------


def starlette_app(config: Config) -> ASGIApp:
    prepare = PREPARE[config.validation]

    async def create_chat_completion(request: Request) -> Response:
        return await answer(request.state.relay, prepare, await request.body())

    routes = [Route(PATH, create_chat_completion, methods=["POST"])]
    return Starlette(routes=routes, lifespan=_lifespan(config))


# -- bare ASGI -------------------------------------------------------------------------------


class BareApp:
    """A callable that dispatches on (method, path); the lifespan by hand."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._prepare = PREPARE[config.validation]
        self._relay: Relay | None = None
        self._routes = {("POST", PATH): self._chat}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is None:
                await error_response(NotFound("Unknown request URL."))(scope, receive, send)
                return
            await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._relay is not None
        body = await read_body(receive)
        response = await answer(self._relay, self._prepare, body)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._relay = self._config.relay()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._relay is not None:
                    await self._relay.upstream.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body  # the usual case: one message
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


ASGI_APPS: dict[str, Callable[[Config], ASGIApp]] = {
    "fastapi": fastapi_app,
    "starlette": starlette_app,
    "bare": BareApp,
}
