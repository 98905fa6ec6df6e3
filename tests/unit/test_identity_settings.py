"""The identity section refuses what would weaken sign-in, at load time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.identity.settings import IssuerSettings
from gateway.settings import Settings
from gateway.telemetry.residency import residency_problems

BASE: dict[str, Any] = {
    "name": "kc",
    "issuer": "https://kc.test/realms/gw",
    "jurisdiction": "DE",
    "operator": "Land IT",
}


def issuer(**options: Any) -> IssuerSettings:
    return IssuerSettings.model_validate({**BASE, **options})


def test_the_issuer_is_kept_exactly_as_written() -> None:
    assert issuer(issuer="http://127.0.0.1:9000").issuer == "http://127.0.0.1:9000"
    assert issuer(issuer="https://kc.test/realms/gw/").issuer == "https://kc.test/realms/gw/"


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS512"])
def test_symmetric_and_unsigned_algorithms_are_refused(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="algorithms"):
        issuer(algorithms=["RS256", algorithm])


def test_a_tenants_own_issuer_may_make_only_tenant_admins() -> None:
    assert issuer(tenant="acme", role_map={"admins": "tenant_admin"}).role_map
    with pytest.raises(ValidationError, match="may grant only tenant_admin, not auditor"):
        issuer(tenant="acme", role_map={"audit": "auditor"})
    with pytest.raises(ValidationError, match="platform_admin"):
        issuer(tenant="acme", role_map={"root": "platform_admin"})


def test_a_token_must_have_a_tenant_source() -> None:
    with pytest.raises(ValidationError, match=r"claims\.tenant"):
        issuer(claims={"tenant": None})


def test_tenants_and_the_console_name_known_issuers_only() -> None:
    with pytest.raises(ValidationError, match="unknown jwt_issuers"):
        Settings(identity={"issuers": [BASE]}, tenants=[{"id": "t", "jwt_issuers": ["other"]}])
    with pytest.raises(ValidationError, match=r"console\.issuer"):
        Settings(identity={"issuers": [BASE]}, console={"enabled": True, "issuer": "other"})


def test_an_identity_provider_abroad_stops_the_start() -> None:
    settings = Settings(identity={"issuers": [{**BASE, "jurisdiction": "US"}]})
    assert any("identity provider 'kc'" in p and "US" in p for p in residency_problems(settings))
    with pytest.raises(ValidationError, match="jurisdiction"):
        issuer(jurisdiction=None)
