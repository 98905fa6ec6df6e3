"""The ``provenance`` section of the settings: signing keys, the tenants' default, the deployer
named in every token, and the public verify endpoint's limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

ProvenanceMode = Literal["off", "on"]


class ProvenanceKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Its name in the token's header and in the JWKS (rotation: a new kid, the old one kept).
    kid: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    # PEM (PKCS#8) of an Ed25519 key (EdDSA) or a P-256 key (ES256); set it through the
    # environment (SOVEREIGN_PROVENANCE__KEYS='[{"kid": ..., "private_key": ...}]').
    private_key: SecretStr


class ProvenanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Answers are signed for tenants that do not choose (tenants[].provenance); a policy
    # with ``require_provenance`` signs its tenants' answers whatever they chose.
    default: ProvenanceMode = "off"
    # Who deploys the system (EU AI Act Art. 50): the token's ``iss``.
    deployer: str = Field("sovereign-gateway", min_length=1, max_length=200)
    # The first key signs; the others are still published (JWKS), so tokens they signed
    # keep verifying after a rotation. Empty: an ephemeral Ed25519 key per process (its kid
    # logged), fine for quick mode and one worker, useless for tokens kept longer.
    keys: list[ProvenanceKey] = Field(default_factory=list)
    # POST /v1/provenance/verify needs no key: a token bucket per client address (as the
    # server sees it: behind a proxy, uvicorn's forwarded_allow_ips must name the proxy).
    verify_per_minute: float = Field(30.0, gt=0)
    verify_burst: int = Field(10, ge=1)
    verify_max_chars: int = Field(200_000, ge=1)

    @model_validator(mode="after")
    def _unique_kids(self) -> ProvenanceSettings:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("provenance key ids (kid) must be unique")
        return self
