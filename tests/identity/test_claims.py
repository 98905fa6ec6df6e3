"""A verified token's claims as an administrator (``actor_of``) and as an API caller
(``principal_of``): pure, no keys or HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.limits import Limits, Scope
from gateway.core.tenant import Tenant
from gateway.errors import AuthenticationFailed
from gateway.identity.claims import actor_of, claim, principal_of
from gateway.identity.roles import Permission, Role
from gateway.identity.settings import IssuerSettings
from gateway.identity.tokens import NOT_ACCEPTED, VerifiedToken


def issuer(**options: Any) -> IssuerSettings:
    base = {"name": "kc", "issuer": "https://kc.test/realms/gw", "jurisdiction": "DE",
            "operator": "test",
            "role_map": {"gw-admins": "platform_admin", "gw-tenant-admins": "tenant_admin",
                         "gw-dpo": "dpo"}}  # fmt: skip
    return IssuerSettings.model_validate({**base, **options})


def verified(token_claims: dict[str, Any], **options: Any) -> VerifiedToken:
    return VerifiedToken(issuer(**options), token_claims)


ACME = Tenant("acme", frozenset({"DE"}), None, Limits(requests_per_minute=100),
              jwt_issuers=frozenset({"kc"}))  # fmt: skip
CLOSED = Tenant("closed", frozenset({"DE"}), None)
TENANTS = {t.id: t for t in (ACME, CLOSED)}


def ref(subject: str) -> str:
    return "ref-" + str(len(subject))


def test_claims_reach_into_objects_by_dotted_names() -> None:
    claims = {"realm_access": {"roles": ["a"]}, "a.b": 1}
    assert claim(claims, "realm_access.roles") == ["a"]
    assert claim(claims, "a.b") == 1  # a literal dotted name first
    assert claim(claims, "realm_access.missing") is None
    assert claim({"x": "string"}, "x.y") is None


def test_an_actor_gets_mapped_roles_only_and_its_tenant() -> None:
    actor = actor_of(verified({"sub": "u-1", "preferred_username": "tom",
                               "sg_roles": ["gw-tenant-admins", "unknown-group"],
                               "sg_tenant": "acme"}))  # fmt: skip
    assert actor.id == "oidc:kc:u-1"
    assert actor.name == "tom"
    assert actor.roles == frozenset({Role.TENANT_ADMIN})
    assert actor.tenant == "acme"
    assert actor.may(Permission.KEYS_WRITE, "acme")
    assert not actor.may(Permission.KEYS_WRITE, "other")


def test_roles_from_a_nested_claim_or_one_string_and_a_fixed_tenant() -> None:
    nested = verified({"sub": "u-2", "realm_access": {"roles": ["gw-admins", "gw-dpo"]}},
                      claims={"roles": "realm_access.roles"})  # fmt: skip
    actor = actor_of(nested)
    assert actor.roles == frozenset({Role.PLATFORM_ADMIN, Role.DPO})
    # A tenant's own issuer (pinned to it) may grant only tenant_admin, of that tenant.
    pinned = verified({"sub": "u-5", "realm_access": {"roles": ["gw-tenant-admins", "x"]}},
                      claims={"roles": "realm_access.roles"}, tenant="acme",
                      role_map={"gw-tenant-admins": "tenant_admin"})  # fmt: skip
    assert actor_of(pinned).roles == {Role.TENANT_ADMIN}
    assert actor_of(pinned).tenant == "acme"
    assert actor.name == "u-2"  # no name claim: the subject
    assert actor_of(verified({"sub": "u-3", "sg_roles": "gw-dpo"})).roles == {Role.DPO}
    assert actor_of(verified({"sub": "u-4", "sg_roles": 7})).roles == frozenset()


def test_no_subject_is_refused() -> None:
    with pytest.raises(AuthenticationFailed) as raised:
        actor_of(verified({"sg_roles": ["gw-admins"]}))
    assert raised.value.reason == "missing_claim"


def test_a_principal_carries_the_subject_and_the_tenants_scope() -> None:
    principal = principal_of(verified({"sub": "alice", "sg_tenant": "acme"}), TENANTS.get, ref)
    assert principal.tenant is ACME
    assert principal.key_id == "jwt:kc"
    assert principal.subject == "alice"
    assert "alice" not in repr(principal)
    assert principal.scopes == (Scope("acme", "tenant", ACME.limits),)


def test_per_user_limits_by_tier_else_the_default_named_by_reference() -> None:
    tiny, default = Limits(requests_per_minute=2), Limits(requests_per_minute=20)
    options = {"user_limits": default, "limit_tiers": {"tiny": tiny},
               "claims": {"limits_tier": "tier"}}  # fmt: skip
    tiered = principal_of(
        verified({"sub": "alice", "sg_tenant": "acme", "tier": "tiny"}, **options), TENANTS.get, ref
    )
    assert tiered.scopes[1] == Scope("acme", "user:ref-5", tiny)
    unknown_tier = principal_of(
        verified({"sub": "bob", "sg_tenant": "acme", "tier": "gold"}, **options), TENANTS.get, ref
    )
    assert unknown_tier.scopes[1] == Scope("acme", "user:ref-3", default)
    unlimited = principal_of(verified({"sub": "bob", "sg_tenant": "acme"}), TENANTS.get, ref)
    assert len(unlimited.scopes) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a", "sg_tenant": "closed"},  # exists, does not accept the issuer
        {"sub": "a", "sg_tenant": "nobody"},  # does not exist
        {"sub": "a"},  # names none
        {"sub": "a", "sg_tenant": ["acme"]},  # not a string
    ],
)
def test_a_tenant_that_does_not_accept_the_issuer_is_indistinguishable(
    claims: dict[str, Any],
) -> None:
    with pytest.raises(AuthenticationFailed) as raised:
        principal_of(verified(claims), TENANTS.get, ref)
    assert raised.value.reason == "tenant_refused"
    assert raised.value.message == NOT_ACCEPTED
