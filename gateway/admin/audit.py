"""The audit trail, read: ``GET /admin/v1/audit/verify`` (what ``sovereign-gateway audit
verify`` checks, as JSON), ``/audit/records`` (entries newest first, metadata only: never
content, never a subject's reference) and ``/audit/erasures`` (the erasures' receipts as
the chain recorded them).

Verification is platform-wide (every chain, every tenant): auditors, DPOs and platform
admins. A tenant admin reads its own tenant's records only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.admin.access import ActorDep
from gateway.admin.deps import ServiceDep
from gateway.admin.service import AuditKind
from gateway.admin.views import AuditPage, AuditVerification, ErasureEntry
from gateway.audit.browse import MAX_PAGE
from gateway.openai.body import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/audit/verify")
async def verify(actor: ActorDep, admin: ServiceDep) -> AuditVerification:
    return await admin.audit_verify(actor)


@router.get("/audit/records")
async def records(
    actor: ActorDep,
    admin: ServiceDep,
    tenant: str | None = None,
    kind: AuditKind | None = None,
    since: float | None = None,  # unix seconds
    before: str | None = None,  # the previous page's ``next_before``
    limit: Limit = 50,
) -> AuditPage:
    return await admin.audit_records(
        actor, tenant=tenant, kind=kind, since=since, before=before, limit=limit
    )


@router.get("/audit/erasures")
async def erasures(actor: ActorDep, admin: ServiceDep, limit: Limit = 50) -> list[ErasureEntry]:
    return await admin.erasure_receipts(actor, limit)
