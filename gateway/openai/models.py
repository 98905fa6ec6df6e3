from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.residency import reachable_models
from gateway.resources import PrincipalDep, ResourcesDep

router = APIRouter()

# A fixed creation time: the models are the operator's, not ours to date.
_CREATED = 0


@router.get("/v1/models")
async def list_models(principal: PrincipalDep, resources: ResourcesDep) -> dict[str, Any]:
    """The models this tenant may reach: allowed to it and served in its jurisdictions."""
    models = reachable_models(principal.tenant, resources.topology)
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": _CREATED, "owned_by": "sovereign-gateway"}
            for m in models
        ],
    }
