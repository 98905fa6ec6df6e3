"""Tenants and API keys as stored: the source of truth once bootstrapped from the YAML file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.quota.limits import Limits
from gateway.settings import Identifier, Jurisdiction, LimitsSettings, PolicyName

DegradedMode = Literal["fail_closed", "fail_open"]


class TenantRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    allowed_jurisdictions: list[Jurisdiction] = Field(min_length=1)
    allowed_models: list[str] = Field(default_factory=lambda: ["*"])
    limits: LimitsSettings = LimitsSettings()
    # What happens while the shared quota store is unreachable: refuse with 503
    # (fail_closed) or serve under this replica's local limits (fail_open).
    degraded_mode: DegradedMode = "fail_closed"
    # The GDPR policy for this tenant's requests; None: the gateway's default policy.
    policy: PolicyName | None = None
    # Sites routing tries first, in this order, among those its jurisdictions allow.
    preferred_sites: list[Identifier] = Field(default_factory=list)
    ai_act_marker: bool = False
    retention_days: int | None = None
    created_at: float
    updated_at: float


class KeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    tenant: Identifier
    hash: str  # "sha256:<hex>" or "hmac-sha256:<hex>"; the key itself is never stored
    hint: str = ""  # the key's last four characters, to tell keys apart in listings
    limits: LimitsSettings | None = None
    created_at: float
    # Revoked (or, after a rotation with a grace period, to be revoked) at this unix time.
    revoked_at: float | None = None

    def active(self, now: float) -> bool:
        return self.revoked_at is None or now < self.revoked_at


def to_limits(settings: LimitsSettings | None) -> Limits | None:
    if settings is None:
        return None
    return Limits(
        settings.requests_per_minute,
        settings.tokens_per_minute,
        settings.concurrent,
        settings.monthly_tokens,
    )
