"""The identity section of the settings: the OpenID issuers the gateway trusts, and how their
tokens' claims map to a tenant, a subject, per-user limits and administrative roles.

A tenant accepts bearer JWTs only from issuers it names (``TenantSpec.jwt_issuers``); an
issuer's tokens name the tenant in a claim (``claims.tenant``) or are all for one tenant
(``tenant``). Roles are for the admin API and the console, never for inference.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.core.limits import Limits
from gateway.core.names import Identifier, Jurisdiction
from gateway.identity.roles import Role

# Asymmetric algorithms only: "none" and the HMAC family (HS256, ...) are refused at load, so
# a token "signed" with an issuer's public key as an HMAC secret can never verify.
Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]


def _default_algorithms() -> list[Algorithm]:
    return ["RS256", "ES256"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimNames(_Section):
    """Which claim carries what. Dotted names reach into objects (``realm_access.roles``)."""

    tenant: str | None = "sg_tenant"  # the tenant id; None: the issuer's fixed ``tenant``
    subject: str = "sub"  # the data subject (kept only as its keyed reference)
    name: str = "preferred_username"  # shown in the console and the audit's actor
    roles: str | None = "sg_roles"  # a list (or one string) of the IdP's group/role names
    limits_tier: str | None = None  # a claim naming one of ``limit_tiers``


class IssuerSettings(_Section):
    name: Identifier  # how tenants and the console refer to it
    # Must equal the tokens' ``iss`` exactly, so it is kept as written (a URL type would add
    # a trailing slash to "https://idp:8443"; OpenID Connect compares issuers as strings).
    issuer: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048)
    # Where the identity provider runs and who runs it: signed-in people's identities pass
    # through it, so it is declared and checked like every destination
    # (gateway/telemetry/residency.py); there is no default.
    jurisdiction: Jurisdiction
    operator: str = Field(min_length=1)
    # The discovery document is read from ``issuer``/.well-known/openid-configuration unless
    # ``jwks_url`` is given (then no discovery; the console needs discovery).
    jwks_url: AnyHttpUrl | None = None
    audience: str = "sovereign-gateway"  # API tokens' ``aud`` must contain it
    algorithms: list[Algorithm] = Field(default_factory=_default_algorithms, min_length=1)
    leeway_s: float = Field(30.0, ge=0, le=300)  # clock skew allowed on exp/nbf/iat
    # Keys are re-read after ``jwks_cache_s``; a token with an unknown ``kid`` triggers a
    # re-read at most every ``jwks_min_refresh_s``. While the IdP is unreachable, cached keys
    # are used for up to ``jwks_max_stale_s`` past their refresh time, then every token fails.
    jwks_cache_s: float = Field(300.0, gt=0)
    jwks_min_refresh_s: float = Field(10.0, ge=0)
    jwks_max_stale_s: float = Field(3600.0, ge=0)
    tenant: Identifier | None = None  # every token of this issuer is for this tenant
    claims: ClaimNames = ClaimNames()
    # IdP group/role names -> the gateway's roles (admin API and console).
    role_map: dict[str, Role] = Field(default_factory=dict)
    # Per end user (the token's subject), inside the tenant's limits: the default, and named
    # tiers chosen by ``claims.limits_tier``.
    user_limits: Limits | None = None
    limit_tiers: dict[str, Limits] = Field(default_factory=dict)

    @field_validator("algorithms")
    @classmethod
    def _unique(cls, value: list[Algorithm]) -> list[Algorithm]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _tenant_source(self) -> IssuerSettings:
        if self.tenant is None and self.claims.tenant is None:
            raise ValueError("set 'tenant' or 'claims.tenant' (where a token's tenant comes from)")
        # An issuer pinned to one tenant is that tenant's own identity provider: it may make
        # administrators of its tenant, never of the platform (nor platform-wide readers).
        wider = sorted({r.value for r in self.role_map.values()} - {Role.TENANT_ADMIN.value})
        if self.tenant is not None and wider:
            raise ValueError(
                f"issuer {self.name!r} is pinned to tenant {self.tenant!r}: its role_map may "
                f"grant only tenant_admin, not {', '.join(wider)}"
            )
        return self


class IdentitySettings(_Section):
    issuers: list[IssuerSettings] = Field(default_factory=list)
    # The longest bearer JWT accepted (bytes); longer ones are refused before parsing.
    max_token_bytes: int = Field(8192, ge=1024, le=65536)
    # Tokens verified and kept (tokens.py ``VerifiedCache``), so a reused token skips the
    # signature check; about 2 KB each. 0: every request checks its token's signature.
    verified_cache_size: int = Field(10_000, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _unique(self) -> IdentitySettings:
        names = [i.name for i in self.issuers]
        if len(names) != len(set(names)):
            raise ValueError("issuer names must be unique")
        urls = [str(i.issuer) for i in self.issuers]
        if len(urls) != len(set(urls)):
            raise ValueError("issuer URLs must be unique")
        return self
