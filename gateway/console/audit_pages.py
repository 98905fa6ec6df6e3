"""The audit trail: verify the chains, browse entries (metadata, never content), and, for the
data-protection officer, file an Art. 17 erasure and read the receipts of past ones.

The erasure's receipt is shown once, on the answer to its POST; the list shows every
erasure as the chain recorded it (its digest and counts; the subject never appears).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.console.web import (
    AdminDep,
    ConsoleDep,
    ConsoleRoute,
    FormDep,
    SessionDep,
    field,
    may_somewhere,
    render,
)
from gateway.errors import InvalidRequest
from gateway.identity.roles import Permission

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 50


def _kind(value: str | None) -> Literal["request", "admin"] | None:
    if value == "request":
        return "request"
    if value == "admin":
        return "admin"
    if value in (None, ""):
        return None
    raise InvalidRequest("'kind' must be request or admin.", param="kind")


@router.get("/console/audit")
async def audit(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    tenant: str | None = None,
    kind: str | None = None,
    before: str | None = None,
) -> Response:
    actor = session.actor
    may_records = may_somewhere(actor, Permission.AUDIT_READ)
    may_erase = actor.may(Permission.ERASURE)
    may_receipts = may_erase or actor.may(Permission.AUDIT_READ)
    if not (may_records or may_erase):
        await admin.audit_records(actor)  # raises the service's own 403
    chosen_kind = _kind(kind)
    page = None
    next_url = ""
    if may_records:
        page = await admin.audit_records(
            actor, tenant=tenant or None, kind=chosen_kind, before=before or None, limit=PAGE
        )
        if page.next_before:
            query = {"tenant": tenant or "", "kind": kind or "", "before": page.next_before}
            next_url = "/console/audit?" + urlencode(query)
    tenants = [t.id for t in await admin.tenants(actor)]
    context = {
        "title": "audit.title",
        "section": "audit",
        "may_verify": actor.may(Permission.AUDIT_READ),
        "may_erase": may_erase,
        "may_receipts": may_receipts,
        "may_records": may_records,
        "receipts": await admin.erasure_receipts(actor) if may_receipts else [],
        "page": page,
        "next_url": next_url,
        "tenants": tenants,
        "tenant": tenant or "",
        "kind": chosen_kind or "",
    }
    return render(request, "audit.html", context)


@router.post("/console/audit/verify")
async def verify(
    request: Request, console: ConsoleDep, session: SessionDep, admin: AdminDep, form: FormDep
) -> Response:
    result = await admin.audit_verify(session.actor)
    context = {"title": "audit.verify_title", "section": "audit", "result": result,
               "here": "/console/audit"}  # fmt: skip
    return render(request, "verify_result.html", context)


@router.post("/console/audit/erasure")
async def erasure(
    request: Request, console: ConsoleDep, session: SessionDep, admin: AdminDep, form: FormDep
) -> Response:
    subject = field(form, "subject")
    if not subject or len(subject) > 512:
        raise InvalidRequest("Name the data subject (1 to 512 characters).", param="subject")
    receipt = await admin.erase_subject(session.actor, subject)
    context = {"title": "audit.receipt_title", "section": "audit", "receipt": receipt,
               "here": "/console/audit"}  # fmt: skip
    return render(request, "erasure_receipt.html", context)
