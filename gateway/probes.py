"""Liveness and readiness for orchestrators: no authentication, no engine details leaked."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from gateway.resources import ResourcesDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(resources: ResourcesDep) -> JSONResponse:
    readiness = await resources.health.readiness()
    body = {
        "status": "ready" if readiness.ready else "unavailable",
        "engines_up": readiness.engines_up,
        "engines_total": readiness.engines_total,
    }
    return JSONResponse(body, status_code=200 if readiness.ready else 503)
