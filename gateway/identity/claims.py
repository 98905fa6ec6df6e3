"""A verified token's claims, read as the gateway's identities (pure, but ``actor_from_bearer``).

- ``actor_of``: an administrator (admin API, console): roles through the issuer's
  ``role_map`` (unknown groups are ignored), the tenant a tenant admin administers, and an id
  ``oidc:<issuer name>:<subject>`` for the audit (an administrator is not a data subject).
- ``principal_of``: an API caller: the tenant the token names, which must accept the issuer
  (``jwt_issuers``); the token's subject as the request's data subject; the per-user limits
  (the ``limits_tier`` claim's tier, else ``user_limits``) as a scope named by the subject's
  keyed reference, so Redis keys never hold the subject itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.core.limits import Limits, scopes_for, user_scope
from gateway.core.tenant import Principal, Tenant
from gateway.identity.roles import Actor, Role
from gateway.identity.settings import IssuerSettings
from gateway.identity.tokens import NOT_ACCEPTED, TokenVerifier, VerifiedToken, refused


def claim(claims: Mapping[str, Any], dotted: str) -> Any:
    """A claim by name; dots reach into objects (``realm_access.roles``). None if absent."""
    if dotted in claims:
        return claims[dotted]
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def subject_of(verified: VerifiedToken) -> str:
    subject = claim(verified.claims, verified.issuer.claims.subject)
    if not isinstance(subject, str) or not subject:
        raise refused("missing_claim", "The token lacks a required claim.")
    return subject


def tenant_of(verified: VerifiedToken) -> str | None:
    """The token's tenant: the issuer's fixed one, else the tenant claim's (a string)."""
    issuer = verified.issuer
    if issuer.tenant is not None:
        return issuer.tenant
    assert issuer.claims.tenant is not None, "the settings require one of them"
    value = claim(verified.claims, issuer.claims.tenant)
    return value if isinstance(value, str) and value else None


def roles_of(verified: VerifiedToken) -> frozenset[Role]:
    issuer = verified.issuer
    if issuer.claims.roles is None:
        return frozenset()
    groups = claim(verified.claims, issuer.claims.roles)
    names = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
    return frozenset(
        issuer.role_map[g] for g in names if isinstance(g, str) and g in issuer.role_map
    )


def user_limits_of(verified: VerifiedToken) -> Limits | None:
    """The tier the ``limits_tier`` claim names, if configured and known; else the default."""
    issuer: IssuerSettings = verified.issuer
    if issuer.claims.limits_tier is not None:
        tier = claim(verified.claims, issuer.claims.limits_tier)
        if isinstance(tier, str) and tier in issuer.limit_tiers:
            return issuer.limit_tiers[tier]
    return issuer.user_limits


def actor_of(verified: VerifiedToken) -> Actor:
    subject = subject_of(verified)
    name = claim(verified.claims, verified.issuer.claims.name)
    return Actor(
        f"oidc:{verified.issuer.name}:{subject}",
        name if isinstance(name, str) and name else subject,
        roles_of(verified),
        tenant_of(verified),
    )


def principal_of(
    verified: VerifiedToken,
    tenants: Callable[[str], Tenant | None],
    subject_ref: Callable[[str], str],
) -> Principal:
    """The API caller a token stands for; refused (401) unless its tenant accepts the issuer.
    An unknown tenant gets the same answer as a refusing one: tenants cannot be enumerated."""
    issuer = verified.issuer
    tenant_id = tenant_of(verified)
    tenant = None if tenant_id is None else tenants(tenant_id)
    if tenant is None or issuer.name not in tenant.jwt_issuers:
        raise refused("tenant_refused", NOT_ACCEPTED)
    subject = subject_of(verified)
    key_id = "jwt:" + issuer.name
    scopes = scopes_for(tenant.id, tenant.limits, key_id, None)
    scopes += user_scope(tenant.id, subject_ref(subject), user_limits_of(verified))
    return Principal(tenant, key_id, scopes, subject=subject)


async def actor_from_bearer(verifier: TokenVerifier, token: str) -> Actor:
    """The administrator a bearer JWT stands for (the issuer's configured audience)."""
    return actor_of(await verifier.verify(token))
