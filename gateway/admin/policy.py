"""``GET /admin/v1/tenants/{id}/policy``: the policy in force for a tenant (its own choice,
else the deployment's default), its rules, and what it found over ``[from, to)`` according
to the ledger: types, actions and counts, never values.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from gateway.admin.access import ActorDep
from gateway.admin.deps import ServiceDep
from gateway.admin.views import PolicyView
from gateway.openai.body import StrictJsonRoute
from gateway.usage_export import time_range

router = APIRouter(route_class=StrictJsonRoute)


@router.get("/tenants/{tenant_id}/policy", response_model=PolicyView)
async def tenant_policy(
    tenant_id: str,
    actor: ActorDep,
    admin: ServiceDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    since, until = time_range(start, end, dt.datetime.now(dt.UTC))
    view = await admin.policy_view(actor, tenant_id, since, until)
    body = view.model_dump(mode="json", by_alias=True)
    return Response(orjson.dumps(body), media_type="application/json")
