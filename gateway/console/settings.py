"""The ``console`` section: the operator console at ``/console`` and its OIDC sign-in."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from gateway.core.names import Identifier

Language = Literal["de", "en"]


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    # The issuer (``identity.issuers[].name``) people sign in with: authorization code + PKCE.
    issuer: Identifier | None = None
    client_id: str = "sovereign-console"
    # A confidential client sends it at the token endpoint; a public client (None) relies on
    # PKCE alone.
    client_secret: SecretStr | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"])
    # The console's public base URL (the redirect URI is <public_url>/console/auth/callback).
    public_url: AnyHttpUrl | None = None
    session_minutes: int = Field(480, ge=5, le=7 * 24 * 60)
    # Secure cookies: off only for plain-HTTP development on a host other than localhost.
    cookie_secure: bool = True
    default_language: Language = "de"
