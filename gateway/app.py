"""The app factory: wires routers, middleware, error handlers and the lifespan. Nothing else."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gateway import http_errors, probes
from gateway.admin.router import router as admin_router
from gateway.batches.routes import router as batches_router
from gateway.console.routes import router as console_router
from gateway.edge import EdgeMiddleware
from gateway.http_errors import CatchAll
from gateway.openai.models import router as models_router
from gateway.openai.stored import router as stored_responses_router
from gateway.pipeline.routes import GatewayApp, describe, fast_lane, inference_routes
from gateway.provenance.routes import router as provenance_router
from gateway.resources import lifespan_for
from gateway.settings import Settings
from gateway.settle import SettleMiddleware


def create_app(
    settings: Settings, *, upstream_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """``upstream_transport`` is the test seam (``httpx.MockTransport``); None in production."""
    app = GatewayApp(
        title="Sovereign Gateway",
        lifespan=lifespan_for(settings, upstream_transport),
        docs_url=None,
        redoc_url=None,
    )
    app.router.routes.extend(inference_routes())  # the request path: gateway/pipeline
    describe(app)
    app.include_router(models_router)
    app.include_router(stored_responses_router)  # stateless: says so (gateway/openai/stored.py)
    app.include_router(batches_router)  # /v1/files, /v1/batches: gateway/batches
    app.include_router(probes.router)
    app.include_router(provenance_router)  # JWKS, /v1/provenance/verify: gateway/provenance
    app.include_router(console_router)  # /console: the web console (gateway/console)
    app.include_router(admin_router)  # /admin/v1: gateway/admin (its router includes the rest)
    http_errors.install(app)
    # Inside the edge: every admitted request's charge and lease are settled however it ends.
    app.add_middleware(SettleMiddleware)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.server.max_body_bytes)
    # POST to the inference routes: the same edge, net and catch-all, without the rest.
    limit = settings.server.max_body_bytes
    app.fast_lane = fast_lane(
        lambda route: EdgeMiddleware(SettleMiddleware(CatchAll(route)), max_body_bytes=limit)
    )
    return app
