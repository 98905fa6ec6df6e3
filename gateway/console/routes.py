"""The console's one router (``app.include_router(console_router)``): every /console route,
and last, a page for any other /console path (an HTML 404 with the console's headers)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.console import audit_pages, auth_routes, pages, tenant_pages, usage_pages
from gateway.console.web import ConsoleDep, ConsoleRoute, MaybeSessionDep
from gateway.errors import NotFound

router = APIRouter(include_in_schema=False)
for part in (auth_routes, pages, tenant_pages, usage_pages, audit_pages):
    router.include_router(part.router)
_fallback = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@_fallback.get("/console/{rest:path}")
async def unknown(rest: str, console: ConsoleDep, session: MaybeSessionDep) -> None:
    raise NotFound("There is no such console page.")


router.include_router(_fallback)
