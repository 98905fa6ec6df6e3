"""Who an admin credential stands for, and the one permission check: pure, no server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.admin.access import bearer
from gateway.admin.auth import admin_enabled, token_actor
from gateway.admin.rules import require
from gateway.auth import hash_key
from gateway.errors import AuthenticationFailed, NotFound, PermissionDenied
from gateway.identity.roles import ADMIN_TOKEN, Actor, Permission, Role
from gateway.settings import Settings

PLATFORM, AUDIT, ACME = "sg-platform-0001", "sg-audit-0002", "sg-acme-0003"


def settings(pepper: str | None = None, **admin: Any) -> Settings:
    return Settings(admin=admin, security={"key_pepper": pepper})


def named(token_id: str, secret: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": token_id, "hash": hash_key(secret), "roles": roles, **extra}


def test_tokens_stand_for_the_platform_admin_or_their_named_roles() -> None:
    configured = settings(
        token_hash=hash_key(PLATFORM),
        tokens=[
            named("audit-bot", AUDIT, ["auditor"]),
            named("acme-bot", ACME, ["tenant_admin"], tenant="acme"),
        ],
    )
    assert token_actor(configured, PLATFORM) == ADMIN_TOKEN
    assert token_actor(configured, AUDIT) == Actor(
        "token:audit-bot", "audit-bot", frozenset({Role.AUDITOR})
    )
    acme = token_actor(configured, ACME)
    assert acme is not None
    assert (acme.id, acme.tenant) == ("token:acme-bot", "acme")
    assert acme.roles == frozenset({Role.TENANT_ADMIN})
    assert token_actor(configured, "sg-platform-0002") is None


def test_a_peppered_named_token_needs_the_pepper() -> None:
    peppered = hash_key(AUDIT, b"pepper")
    tokens = [{"id": "audit-bot", "hash": peppered, "roles": ["auditor"]}]
    assert token_actor(settings("pepper", tokens=tokens), AUDIT) is not None
    assert token_actor(settings("other", tokens=tokens), AUDIT) is None
    assert token_actor(settings(None, tokens=tokens), AUDIT) is None


@pytest.mark.parametrize(
    "tokens",
    [
        [named("t", ACME, ["tenant_admin"])],  # a tenant admin of no tenant
        [named("t", AUDIT, ["auditor"], tenant="acme")],  # a tenant for a platform-wide role
        [named("t", AUDIT, [])],  # no role at all
        [named("t", AUDIT, ["auditor"]), named("t", ACME, ["dpo"])],  # the same id twice
        [named("a", AUDIT, ["auditor"]), named("b", AUDIT, ["dpo"])],  # the same hash twice
        [{"id": "t", "hash": "plain-text", "roles": ["dpo"]}],
    ],
)
def test_named_tokens_that_the_settings_refuse(tokens: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        settings(tokens=tokens)


def test_the_platform_token_cannot_double_as_a_named_one() -> None:
    with pytest.raises(ValidationError):
        settings(token_hash=hash_key(AUDIT), tokens=[named("a", AUDIT, ["auditor"])])


def test_require_answers_403_for_a_missing_role_and_404_for_another_tenant() -> None:
    tenant_admin = Actor("t", "t", frozenset({Role.TENANT_ADMIN}), "acme")
    auditor = Actor("a", "a", frozenset({Role.AUDITOR}))
    require(tenant_admin, Permission.KEYS_WRITE, "acme")
    require(auditor, Permission.USAGE_READ, "anyone")
    with pytest.raises(NotFound) as hidden:
        require(tenant_admin, Permission.KEYS_WRITE, "globex")
    assert hidden.value.code == "tenant_not_found"
    with pytest.raises(PermissionDenied):
        require(tenant_admin, Permission.TENANTS_CREATE)  # platform-wide, never a tenant's
    with pytest.raises(PermissionDenied):
        require(tenant_admin, Permission.ERASURE, "globex")  # not its permission at all: 403
    with pytest.raises(PermissionDenied) as denied:
        require(auditor, Permission.KEYS_READ, "acme")
    assert denied.value.code == "insufficient_permissions"
    assert "keys.read" in denied.value.message


def test_a_bearer_jwt_may_be_longer_than_an_api_key_but_not_unbounded() -> None:
    jwt_like = "eyJ" + "a" * 1500 + ".b.c"
    assert bearer(f"Bearer {jwt_like}", 8192) == jwt_like
    with pytest.raises(AuthenticationFailed) as too_long:
        bearer(f"Bearer {jwt_like}", 1024)
    assert too_long.value.reason == "malformed"
    with pytest.raises(AuthenticationFailed) as missing:
        bearer(None, 8192)
    assert missing.value.reason == "missing"
    with pytest.raises(AuthenticationFailed):
        bearer("Basic abc", 8192)


def issuer(**extra: Any) -> dict[str, Any]:
    return {
        "name": "corp",
        "issuer": "https://login.example.de/realms/gw",
        "jurisdiction": "DE",
        "operator": "test",
        **extra,
    }


@pytest.mark.parametrize(
    ("config", "on"),
    [
        ({}, False),
        ({"identity": {"issuers": [issuer()]}}, False),  # API tokens only: no admin roles
        ({"identity": {"issuers": [issuer(role_map={"gw-audit": "auditor"})]}}, True),
        ({"admin": {"tokens": [named("a", AUDIT, ["auditor"])]}}, True),
        ({"admin": {"token_hash": hash_key(PLATFORM)}}, True),
    ],
)
def test_the_admin_api_is_on_when_someone_could_act_in_a_role(
    config: dict[str, Any], on: bool
) -> None:
    assert admin_enabled(Settings(**config)) is on
