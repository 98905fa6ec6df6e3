"""Who may do what, decided: the checks ``AdminService`` makes before any work. Pure.

``require`` is the one permission check:

- the actor's roles grant the permission (for that tenant): go on;
- a tenant admin asks about another tenant with a permission it holds for its own: 404,
  exactly as for a tenant that does not exist, so tenants cannot be enumerated;
- otherwise: 403 ``permission_denied``, naming the permission.

A tenant admin's changes to its tenant (``TENANT_ADMIN_FIELDS``): it chooses its policy, its
preferred sites, the AI Act marker and disclosure (it is the deployer), what happens when
clients leave, and may tighten its limits but never loosen them. Jurisdictions, models,
issuers, retention and the degraded mode are the platform's: what data may go where, and for
how long, is not one tenant's to widen, and its limits are the capacity the platform gave it.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.core.limits import Limits
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.identity.roles import Actor, Permission, Role

TENANT_ADMIN_FIELDS = frozenset(
    {
        "policy",
        "limits",
        "preferred_sites",
        "ai_act_marker",
        "ai_disclosure",
        "on_client_disconnect",
    }
)
DENIED = "insufficient_permissions"


def not_found(tenant: str) -> NotFound:
    """The one answer for a tenant that does not exist and one the actor may not see."""
    return NotFound(f"No tenant {tenant!r}.", code="tenant_not_found")


def require(actor: Actor, permission: Permission, tenant: str | None = None) -> None:
    """Go on, or raise: 404 for another tenant of a tenant admin, else 403."""
    if actor.may(permission, tenant):
        return
    if tenant is not None and actor.tenant is not None and actor.may(permission, actor.tenant):
        raise not_found(tenant)
    raise PermissionDenied(f"Your roles do not allow {permission.value!r}.", code=DENIED)


def require_any(actor: Actor, *permissions: Permission) -> None:
    """Any one of ``permissions`` across tenants; else 403 naming the first."""
    if not any(actor.may(p) for p in permissions):
        require(actor, permissions[0])


def audit_scope(actor: Actor, tenant: str | None) -> frozenset[str] | None:
    """Whose audit entries the actor reads (None: every tenant's and the gateway-wide ones).
    A tenant admin reads its own tenant's only (``tenant`` None: its own)."""
    if actor.may(Permission.AUDIT_READ):
        return None if tenant is None else frozenset({tenant})
    scope = tenant if tenant is not None else actor.tenant
    require(actor, Permission.AUDIT_READ, scope)
    assert scope is not None  # require lets no actor read an unscoped trail without the role
    return frozenset({scope})


def looser(new: Limits, current: Limits) -> list[str]:
    """The limits ``new`` loosens (raises, or lifts: 0 is no limit) against ``current``."""
    out = []
    for name in Limits.model_fields:
        now, then = getattr(current, name), getattr(new, name)
        if now and (then == 0 or then > now):
            out.append(name)
    return out


def check_changes(actor: Actor, changes: Mapping[str, object], current: Limits) -> None:
    """Refuse (403, ``param`` the field) what a tenant admin may not change; a platform
    admin may change anything."""
    if Role.PLATFORM_ADMIN in actor.roles:
        return
    for name in sorted(changes):
        if name not in TENANT_ADMIN_FIELDS:
            raise PermissionDenied(
                f"A tenant admin cannot change {name!r}; the platform admin can.",
                param=name,
                code=DENIED,
            )
    if "limits" not in changes:
        return
    given = changes["limits"]
    try:
        new = given if isinstance(given, Limits) else Limits.model_validate(given)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid limits: {exc}", param="limits") from exc
    raised = looser(new, current)
    if raised:
        raise PermissionDenied(
            f"A tenant admin can tighten its limits, not loosen them: {', '.join(raised)}.",
            param="limits",
            code=DENIED,
        )
