"""The admin API, ``/admin/v1``: tenants and keys here, the rest in the modules it includes.
Thin: parse, call ``AdminService`` (which checks the actor's permission), return.

Every route sits behind ``access.admin_actor``: an admin token or a bearer JWT, resolved to
the acting identity; 404 for every route when neither is configured.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from gateway.admin import audit, batches, policy, subjects, usage
from gateway.admin.access import ActorDep, admin_actor
from gateway.admin.deps import ServiceDep
from gateway.admin.engines import EngineStatus
from gateway.admin.schemas import (
    IssuedKey,
    KeyIssue,
    KeyOut,
    KeyRotate,
    RotatedKey,
    TenantCreate,
    TenantUpdate,
    tenant_changes,
)
from gateway.openai.body import StrictJsonRoute
from gateway.tenancy.records import TenantRecord

router = APIRouter(
    prefix="/admin/v1", dependencies=[Depends(admin_actor)], route_class=StrictJsonRoute
)


@router.get("/tenants")
async def list_tenants(actor: ActorDep, admin: ServiceDep) -> list[TenantRecord]:
    return await admin.tenants(actor)


@router.post("/tenants", status_code=201)
async def create_tenant(body: TenantCreate, actor: ActorDep, admin: ServiceDep) -> TenantRecord:
    return await admin.create_tenant(actor, body)


@router.get("/tenants/{tenant_id}")
async def get_tenant(tenant_id: str, actor: ActorDep, admin: ServiceDep) -> TenantRecord:
    return await admin.tenant(actor, tenant_id)


@router.patch("/tenants/{tenant_id}")
async def update_tenant(
    tenant_id: str, body: TenantUpdate, actor: ActorDep, admin: ServiceDep
) -> TenantRecord:
    return await admin.update_tenant(actor, tenant_id, tenant_changes(body))


@router.get("/tenants/{tenant_id}/keys")
async def list_keys(tenant_id: str, actor: ActorDep, admin: ServiceDep) -> list[KeyOut]:
    return await admin.keys(actor, tenant_id)


@router.post("/tenants/{tenant_id}/keys", status_code=201)
async def issue_key(
    tenant_id: str, actor: ActorDep, admin: ServiceDep, body: KeyIssue | None = None
) -> IssuedKey:
    body = body or KeyIssue()
    return await admin.issue_key(actor, tenant_id, body.id, body.limits)


@router.post("/tenants/{tenant_id}/keys/{key_id}/rotate", status_code=201)
async def rotate_key(
    tenant_id: str,
    key_id: str,
    actor: ActorDep,
    admin: ServiceDep,
    body: KeyRotate | None = None,
) -> RotatedKey:
    body = body or KeyRotate()
    return await admin.rotate_key(actor, tenant_id, key_id, body.grace_seconds)


@router.delete("/tenants/{tenant_id}/keys/{key_id}")
async def revoke_key(
    tenant_id: str,
    key_id: str,
    actor: ActorDep,
    admin: ServiceDep,
    after_seconds: float = 0,  # negative: refused by the service, as param "after_seconds"
) -> KeyOut:
    return await admin.revoke_key(actor, tenant_id, key_id, after_seconds)


@router.get("/engines")
async def engines(actor: ActorDep, admin: ServiceDep) -> list[EngineStatus]:
    return await admin.engines(actor)


for module in (usage, policy, audit, subjects, batches):
    router.include_router(module.router)
