"""Tenants and API keys as stored: the source of truth once bootstrapped from the YAML file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gateway.core.limits import Limits
from gateway.core.names import Identifier
from gateway.core.tenant import TenantSpec


class TenantRecord(TenantSpec):
    """A tenant's specification (gateway/core/tenant.py) as stored, with its timestamps."""

    created_at: float
    updated_at: float

    @classmethod
    def of(cls, spec: TenantSpec, created_at: float, updated_at: float) -> TenantRecord:
        """The record of ``spec`` (a TenantSpec, or anything that extends it)."""
        fields = spec.model_dump(include=set(TenantSpec.model_fields))
        return cls(**fields, created_at=created_at, updated_at=updated_at)


class KeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier
    tenant: Identifier
    hash: str  # "sha256:<hex>" or "hmac-sha256:<hex>"; the key itself is never stored
    hint: str = ""  # the key's last four characters, to tell keys apart in listings
    limits: Limits | None = None
    created_at: float
    # Revoked (or, after a rotation with a grace period, to be revoked) at this unix time.
    revoked_at: float | None = None

    def active(self, now: float) -> bool:
        return self.revoked_at is None or now < self.revoked_at
