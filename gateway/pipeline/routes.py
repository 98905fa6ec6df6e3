"""The inference routes (chat, completions, embeddings, tokenize, detokenize, responses,
messages) as plain ASGI endpoints.

Each is one call into the request path (``gateway/pipeline/path.py``): no framework
dependency solving or body handling on the hot path, which reads, authenticates and checks
the request itself in its stages. Errors become OpenAI errors here (Anthropic's on
``/v1/messages``), through the one renderer (``gateway.http_errors.error_response``); anything
unexpected reaches the catch-all.

``GatewayApp`` sends a ``POST`` to these paths down a short lane of its own (the edge, the
settlement net, the catch-all, the route) instead of FastAPI's whole stack (ten layers, each
wrapping every ``send`` of every streamed event: measured in ``python -m loadtest.hotpath``,
BENCHMARKS.md "Hot path choices"); every other request, and every other method on these
paths, takes FastAPI's. FastAPI still describes the routes in the app's OpenAPI document
(``describe``), from the same request schemas, so clients and the fuzz suite see them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import GatewayError
from gateway.http_errors import error_response
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoints import ENDPOINTS, Endpoint
from gateway.pipeline.path import Pipeline


class InferenceRoute:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        pipeline: Pipeline = state["pipeline"]
        client = scope.get("client")
        ctx = RequestContext(
            state["request_id"],
            self.endpoint,
            Headers(scope=scope),
            receive,
            state["settlement"],
            client=client[0] if client else None,
        )
        try:
            response = await pipeline.handle(ctx)
        except GatewayError as error:
            response = error_response(error, self.endpoint.api)
        await response(scope, receive, send)


def inference_routes() -> list[Route]:
    return [Route(e.path, InferenceRoute(e), methods=["POST"]) for e in ENDPOINTS]


class GatewayApp(FastAPI):
    """FastAPI, with the inference routes' own lane (``fast_lane``)."""

    fast_lane: ASGIApp | None = None
    _lane_paths: frozenset[str] = frozenset(e.path for e in ENDPOINTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.fast_lane
        if (
            lane is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self._lane_paths
        ):
            await lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _ByPath:
    """The lane's router: the route of the request's path."""

    def __init__(self) -> None:
        self._routes = {e.path: InferenceRoute(e) for e in ENDPOINTS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._routes[scope["path"]](scope, receive, send)


def fast_lane(wrap: Callable[[ASGIApp], ASGIApp]) -> ASGIApp:
    """The inference routes under the middleware ``wrap`` puts around them."""
    return wrap(_ByPath())


def describe(app: FastAPI) -> None:
    """Add the inference routes, with their request schemas, to the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        refs, definitions = models_json_schema(
            [(e.schema, "validation") for e in ENDPOINTS],
            ref_template="#/components/schemas/{model}",
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(definitions.get("$defs", {}))
        for e in ENDPOINTS:
            body = refs[(e.schema, "validation")]
            document["paths"][e.path] = {
                "post": {
                    "summary": e.summary,
                    "operationId": e.name.replace(".", "_"),
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body}},
                    },
                    "responses": {"200": {"description": "The engine's answer, or its stream"}},
                }
            }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
