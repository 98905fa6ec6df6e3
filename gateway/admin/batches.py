"""``DELETE /admin/v1/tenants/{tenant_id}/batches``: erase every file and batch of a tenant.

Its uploaded files, batches, line results and result files go, whatever their state (a batch
being run stops at its runner's next check: the record is gone, nothing is written back).
The answer says how many items were deleted; the action is in the audit trail (ids only).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.admin.auth import AdminDep, admin_resources
from gateway.batches.routes import BatchApi
from gateway.openai.body import StrictJsonRoute

router = APIRouter(
    prefix="/admin/v1", dependencies=[Depends(admin_resources)], route_class=StrictJsonRoute
)


@router.delete("/tenants/{tenant_id}/batches")
async def erase_tenant_batches(tenant_id: str, request: Request, admin: AdminDep) -> dict[str, Any]:
    api: BatchApi = request.state.batches
    deleted = await api.service.erase_tenant(tenant_id)
    await request.state.resources.observability.admin_action(
        "tenant.batches.erase", tenant_id, {"tenant": tenant_id}, ["deleted"]
    )
    return {"tenant": tenant_id, "deleted": deleted}
