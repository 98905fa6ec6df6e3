"""``DELETE /admin/v1/tenants/{tenant_id}/batches``: erase every file and batch of a tenant.

Its uploaded files, batches, line results and result files go, whatever their state (a batch
being run stops at its runner's next check: the record is gone, nothing is written back).
The answer says how many items were deleted; the action is in the audit trail (ids only).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.admin.access import ActorDep
from gateway.admin.deps import ServiceDep
from gateway.openai.body import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute)


@router.delete("/tenants/{tenant_id}/batches")
async def erase_tenant_batches(
    tenant_id: str, actor: ActorDep, admin: ServiceDep
) -> dict[str, Any]:
    deleted = await admin.erase_tenant_batches(actor, tenant_id)
    return {"tenant": tenant_id, "deleted": deleted}
