"""Read-only pages: the overview, engines and pools, and the policies in force.

Thin, as the API's routers: ask ``AdminService`` (which checks the permission), render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gateway.admin.engines import EngineStatus
from gateway.console.period import Period, period_of
from gateway.console.web import AdminDep, ConsoleDep, ConsoleRoute, SessionDep, render
from gateway.identity.roles import Permission, Role
from gateway.routing.breaker import BreakerState

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
CIRCUITS = tuple(state.value for state in BreakerState)


@router.get("/console")
async def overview(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    roles = [r.value for r in Role if r in session.actor.roles]
    context = {
        "title": "overview.title",
        "section": "overview",
        "roles": roles,
        "session_until": session.expires_at,
    }
    return render(request, "overview.html", context)


@dataclass(frozen=True, slots=True)
class PoolRow:
    name: str
    site: str
    jurisdiction: str
    gpu: str
    engines: int
    healthy: int
    inflight: int


def pools_of(engines: Iterable[EngineStatus]) -> list[PoolRow]:
    rows: dict[str, PoolRow] = {}
    for e in engines:
        seen = rows.get(e.pool) or PoolRow(e.pool, e.site, e.jurisdiction, e.gpu, 0, 0, 0)
        rows[e.pool] = PoolRow(
            seen.name, seen.site, seen.jurisdiction, seen.gpu,
            seen.engines + 1, seen.healthy + int(e.healthy), seen.inflight + e.inflight,
        )  # fmt: skip
    return sorted(rows.values(), key=lambda r: r.name)


@router.get("/console/engines")
async def engines(
    request: Request, console: ConsoleDep, session: SessionDep, admin: AdminDep
) -> Response:
    found = await admin.engines(session.actor)
    context = {
        "title": "engines.title",
        "section": "engines",
        "engines": found,
        "pools": pools_of(found),
        "circuits": CIRCUITS,
    }
    return render(request, "engines.html", context)


@router.get("/console/policies")
async def policies(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    period: Period = period_of(start, end, dt.datetime.now(dt.UTC))
    actor = session.actor
    views = [
        await admin.policy_view(actor, t.id, period.since, period.until)
        for t in await admin.tenants(actor)
        if actor.may(Permission.POLICY_READ, t.id)
    ]
    context = {
        "title": "policies.title",
        "section": "policies",
        "views": views,
        "start": period.start_text,
        "end_shown": period.end_text,
    }
    return render(request, "policies.html", context)
