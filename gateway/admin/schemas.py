"""Admin API bodies. Requests refuse unknown fields; responses never carry a key's hash."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.metering.record import UsageRecord
from gateway.settings import Identifier, Jurisdiction, LimitsSettings, PolicyName
from gateway.tenancy.records import DegradedMode, KeyRecord
from gateway.usage_export import Summary, Totals

ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Request):
    id: Identifier
    allowed_jurisdictions: list[Jurisdiction] = Field(min_length=1)
    # Omitted: every model ("*"). An empty list is refused rather than read as "all".
    allowed_models: list[ModelName] | None = Field(None, min_length=1)
    limits: LimitsSettings | None = None
    degraded_mode: DegradedMode = "fail_closed"
    policy: PolicyName | None = None  # omitted: the gateway's default policy
    preferred_sites: list[Identifier] = Field(default_factory=list)  # routing tries these first


class TenantUpdate(_Request):
    """Only the fields given change; ``limits`` replaces the tenant's limits as a whole."""

    allowed_jurisdictions: list[Jurisdiction] | None = Field(None, min_length=1)
    allowed_models: list[ModelName] | None = Field(None, min_length=1)
    limits: LimitsSettings | None = None
    degraded_mode: DegradedMode | None = None
    policy: PolicyName | None = None
    preferred_sites: list[Identifier] | None = None


class KeyIssue(_Request):
    id: Identifier | None = None  # default: "<tenant>-<8 hex>"
    limits: LimitsSettings | None = None  # on top of the tenant's


class KeyRotate(_Request):
    # How long the old key keeps working, so clients can switch over without an outage.
    grace_seconds: float = Field(0, ge=0)


class KeyOut(BaseModel):
    id: str
    tenant: str
    hint: str
    limits: LimitsSettings | None
    created_at: float
    revoked_at: float | None
    active: bool

    @classmethod
    def of(cls, record: KeyRecord, now: float) -> KeyOut:
        return cls(
            id=record.id,
            tenant=record.tenant,
            hint=record.hint,
            limits=record.limits,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
            active=record.active(now),
        )


class IssuedKey(KeyOut):
    key: str  # shown once, here; only its hash is stored


class RotatedKey(IssuedKey):
    previous: KeyOut  # the rotated key, with the time it stops working


class UsageTotals(BaseModel):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, totals: Totals) -> UsageTotals:
        return cls(
            requests=totals.requests,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            total_tokens=totals.total_tokens,
        )


class UsageReport(BaseModel):
    tenant: str
    start: dt.datetime = Field(serialization_alias="from")
    end: dt.datetime = Field(serialization_alias="to")  # exclusive
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    by_model: dict[str, UsageTotals]
    by_key: dict[str, UsageTotals]
    by_status: dict[str, UsageTotals]
    records: list[UsageRecord] | None = None  # only with ?records=true

    @classmethod
    def of(
        cls,
        tenant: str,
        start: dt.datetime,
        end: dt.datetime,
        summary: Summary,
        records: list[UsageRecord] | None,
    ) -> UsageReport:
        def each(groups: dict[str, Totals]) -> dict[str, UsageTotals]:
            return {name: UsageTotals.of(t) for name, t in sorted(groups.items())}

        total = summary.totals
        return cls(
            tenant=tenant,
            start=start,
            end=end,
            requests=total.requests,
            prompt_tokens=total.prompt_tokens,
            completion_tokens=total.completion_tokens,
            total_tokens=total.total_tokens,
            by_model=each(summary.by_model),
            by_key=each(summary.by_key),
            by_status=each(summary.by_status),
            records=records,
        )
