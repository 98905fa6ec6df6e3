"""The admin API, ``/admin/v1``: tenants, their keys, their usage. Thin: parse, call, return.

Every route sits behind the admin token (``gateway.admin.auth``); the work is done by the
same ``TenantAdmin`` service the CLI uses, and usage comes from the ledger (the durable one
in PostgreSQL with a shared store; the in-process one when embedded).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from gateway.admin.auth import AdminDep, admin_resources
from gateway.admin.schemas import (
    IssuedKey,
    KeyIssue,
    KeyOut,
    KeyRotate,
    RotatedKey,
    TenantCreate,
    TenantUpdate,
    UsageReport,
    tenant_changes,
)
from gateway.errors import NotFound
from gateway.openai.body import StrictJsonRoute
from gateway.tenancy.records import TenantRecord
from gateway.usage_export import summarise, time_range

router = APIRouter(
    prefix="/admin/v1", dependencies=[Depends(admin_resources)], route_class=StrictJsonRoute
)


@router.get("/tenants")
async def list_tenants(admin: AdminDep) -> list[TenantRecord]:
    return await admin.tenant_admin.tenants()


@router.post("/tenants", status_code=201)
async def create_tenant(body: TenantCreate, admin: AdminDep) -> TenantRecord:
    return await admin.tenant_admin.create_tenant(body)


@router.get("/tenants/{tenant_id}")
async def get_tenant(tenant_id: str, admin: AdminDep) -> TenantRecord:
    return await admin.tenant_admin.tenant(tenant_id)


@router.patch("/tenants/{tenant_id}")
async def update_tenant(
    tenant_id: str,
    body: TenantUpdate,
    admin: AdminDep,
) -> TenantRecord:
    return await admin.tenant_admin.update_tenant(tenant_id, tenant_changes(body))


@router.get("/tenants/{tenant_id}/keys")
async def list_keys(tenant_id: str, admin: AdminDep) -> list[KeyOut]:
    now = time.time()
    return [KeyOut.of(k, now) for k in await admin.tenant_admin.keys(tenant_id)]


@router.post("/tenants/{tenant_id}/keys", status_code=201)
async def issue_key(tenant_id: str, admin: AdminDep, body: KeyIssue | None = None) -> IssuedKey:
    body = body or KeyIssue()
    record, key = await admin.tenant_admin.issue_key(tenant_id, body.id, body.limits)
    return IssuedKey(**KeyOut.of(record, time.time()).model_dump(), key=key)


@router.post("/tenants/{tenant_id}/keys/{key_id}/rotate", status_code=201)
async def rotate_key(
    tenant_id: str, key_id: str, admin: AdminDep, body: KeyRotate | None = None
) -> RotatedKey:
    body = body or KeyRotate()
    tenants = admin.tenant_admin
    record, key = await tenants.rotate_key(tenant_id, key_id, body.grace_seconds)
    # rotate_key returns the successor only; read back the old key for its revocation time.
    previous = next((k for k in await tenants.keys(tenant_id) if k.id == key_id), None)
    if previous is None:  # pragma: no cover - the key existed a moment ago
        raise NotFound(f"Tenant {tenant_id!r} has no key {key_id!r}.", code="key_not_found")
    now = time.time()
    return RotatedKey(
        **KeyOut.of(record, now).model_dump(), key=key, previous=KeyOut.of(previous, now)
    )


@router.delete("/tenants/{tenant_id}/keys/{key_id}")
async def revoke_key(
    tenant_id: str,
    key_id: str,
    admin: AdminDep,
    after_seconds: float = 0,  # negative: refused by the service, as param "after_seconds"
) -> KeyOut:
    record = await admin.tenant_admin.revoke_key(tenant_id, key_id, after_seconds)
    return KeyOut.of(record, time.time())


@router.get("/tenants/{tenant_id}/usage", response_model=UsageReport)
async def usage(
    tenant_id: str,
    admin: AdminDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    records: bool = False,
) -> Response:
    """Totals over ``[from, to)`` (default: this UTC month so far), by model, key and status."""
    await admin.tenant_admin.tenant(tenant_id)  # an unknown tenant is a 404, not zero usage
    since, until = time_range(start, end, dt.datetime.now(dt.UTC))
    found = await admin.metering.usage(tenant_id, since.timestamp(), until.timestamp())
    report = UsageReport.of(tenant_id, since, until, summarise(found), found if records else None)
    body = report.model_dump(mode="json", by_alias=True, exclude=None if records else {"records"})
    return Response(orjson.dumps(body), media_type="application/json")
