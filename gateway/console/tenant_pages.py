"""Tenants: the list and a new tenant; one tenant's limits, policy and keys.

A new key (issued or rotated) is shown once, on the answer to the POST that made it, with
``Cache-Control: no-store``; only its hash is stored, so no page can show it again. Other
changes answer ``303`` back to the tenant's page (POST, redirect, GET), with a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from gateway.admin.schemas import KeyOut, KeyRotate
from gateway.admin.service import AdminService
from gateway.console.web import (
    AdminDep,
    ConsoleDep,
    ConsoleRoute,
    FormDep,
    SessionDep,
    field,
    render,
)
from gateway.core.limits import Limits
from gateway.core.tenant import TenantSpec
from gateway.errors import InvalidRequest
from gateway.identity.roles import Actor, Permission

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
LIMITS = tuple(Limits.model_fields)
DONE = frozenset({"created", "limits", "policy", "revoked"})  # notices a redirect may ask for


def key_status(key: KeyOut) -> Literal["active", "expiring", "revoked"]:
    if not key.active:
        return "revoked"
    return "expiring" if key.revoked_at is not None else "active"


def _invalid(exc: ValidationError) -> InvalidRequest:
    errors = exc.errors()
    if not errors:
        return InvalidRequest("The form is not valid.")
    where = ".".join(str(p) for p in errors[0]["loc"]) or "the form"
    return InvalidRequest(f"Invalid value for {where}: {errors[0]['msg']}", param=where)


def _back(tenant_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/tenants/{tenant_id}?done={done}", status_code=303)


@router.get("/console/tenants")
async def tenants(
    request: Request, console: ConsoleDep, session: SessionDep, admin: AdminDep
) -> Response:
    actor = session.actor
    may_create = actor.may(Permission.TENANTS_CREATE)
    context = {
        "title": "tenants.title",
        "section": "tenants",
        "tenants": await admin.tenants(actor),
        "may_create": may_create,
        "policies": await admin.policies(actor) if may_create else [],
    }
    return render(request, "tenants.html", context)


@router.post("/console/tenants")
async def create_tenant(
    request: Request, console: ConsoleDep, session: SessionDep, admin: AdminDep, form: FormDep
) -> Response:
    jurisdictions = [j.strip().upper() for j in field(form, "jurisdictions").split(",")]
    try:
        spec = TenantSpec(
            id=field(form, "id"),
            allowed_jurisdictions=[j for j in jurisdictions if j] or ["DE"],
            policy=field(form, "policy") or None,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    created = await admin.create_tenant(session.actor, spec)
    return _back(created.id, "created")


@router.get("/console/tenants/{tenant_id}")
async def tenant(
    request: Request,
    tenant_id: str,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    done: str | None = None,
) -> Response:
    actor = session.actor
    record = await admin.tenant(actor, tenant_id)
    may_write = actor.may(Permission.TENANTS_WRITE, tenant_id)
    may_read_keys = actor.may(Permission.KEYS_READ, tenant_id)
    context = {
        "title": "tenant.title",
        "title_args": {"id": record.id},
        "section": "tenants",
        "flash": done if done in DONE else None,
        "tenant": record,
        "limit_names": LIMITS,
        "may_write": may_write,
        "may_read_keys": may_read_keys,
        "may_keys": actor.may(Permission.KEYS_WRITE, tenant_id),
        "keys": await admin.keys(actor, tenant_id) if may_read_keys else [],
        "policies": await admin.policies(actor) if may_write else [],
        "key_status": key_status,
    }
    return render(request, "tenant.html", context)


@router.post("/console/tenants/{tenant_id}/limits")
async def set_limits(
    tenant_id: str, console: ConsoleDep, session: SessionDep, admin: AdminDep, form: FormDep
) -> Response:
    values = {name: field(form, name) or "0" for name in LIMITS}
    try:
        limits = Limits.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from None
    await admin.update_tenant(session.actor, tenant_id, {"limits": limits})
    return _back(tenant_id, "limits")


@router.post("/console/tenants/{tenant_id}/policy")
async def set_policy(
    tenant_id: str, console: ConsoleDep, session: SessionDep, admin: AdminDep, form: FormDep
) -> Response:
    chosen = field(form, "policy") or None  # empty: the gateway's default policy
    await admin.update_tenant(session.actor, tenant_id, {"policy": chosen})
    return _back(tenant_id, "policy")


def _key_page(
    request: Request, tenant_id: str, issued: KeyOut, previous: KeyOut | None
) -> Response:
    context = {
        "title": "keys.issued_title",
        "section": "tenants",
        "issued": issued,
        "previous": previous,
        "tenant_id": tenant_id,
        "here": f"/console/tenants/{tenant_id}",  # switching language must not repeat the POST
    }
    return render(request, "key_result.html", context)


@router.post("/console/tenants/{tenant_id}/keys")
async def issue_key(
    request: Request,
    tenant_id: str,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    form: FormDep,
) -> Response:
    issued = await admin.issue_key(session.actor, tenant_id, field(form, "key_id") or None)
    return _key_page(request, tenant_id, issued, None)


@dataclass(frozen=True, slots=True)
class KeyChange:
    """One key to rotate or revoke, the actor asking (signed in, the form's CSRF token checked)
    and the admin service that does it."""

    tenant_id: str
    key_id: str
    actor: Actor
    admin: AdminService
    form: FormData


async def key_change(
    tenant_id: str,
    key_id: str,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    form: FormDep,
) -> KeyChange:
    return KeyChange(tenant_id, key_id, session.actor, admin, form)


KeyChangeDep = Annotated[KeyChange, Depends(key_change)]


@router.post("/console/tenants/{tenant_id}/keys/{key_id}/rotate")
async def rotate_key(request: Request, change: KeyChangeDep) -> Response:
    try:  # the admin API's own rule: seconds, finite, not negative; empty is 0
        grace = KeyRotate.model_validate(
            {"grace_seconds": field(change.form, "grace_seconds") or "0"}
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    rotated = await change.admin.rotate_key(
        change.actor, change.tenant_id, change.key_id, grace.grace_seconds
    )
    return _key_page(request, change.tenant_id, rotated, rotated.previous)


@router.post("/console/tenants/{tenant_id}/keys/{key_id}/revoke")
async def revoke_key(change: KeyChangeDep) -> Response:
    await change.admin.revoke_key(change.actor, change.tenant_id, change.key_id)
    return _back(change.tenant_id, "revoked")
