"""Admin API bodies. Requests refuse unknown fields; responses never carry a key's hash."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from gateway.core.limits import Limits
from gateway.core.names import Identifier
from gateway.core.tenant import TenantSpec, partial_of
from gateway.core.usage import UsageRecord
from gateway.tenancy.records import KeyRecord
from gateway.usage_export import Summary, Totals


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(TenantSpec):
    """A new tenant: its specification (gateway/core/tenant.py), every field of it."""


if TYPE_CHECKING:

    class TenantUpdate(_Request):
        """Every field of TenantSpec but ``id``, optional (built below at run time)."""

else:
    # Only the fields given change; ``limits`` replaces the tenant's limits as a whole. A
    # field whose default is "none" (policy, retention_days) is reset by an explicit null.
    TenantUpdate = partial_of(TenantSpec, "TenantUpdate", _Request)


def tenant_changes(body: BaseModel) -> dict[str, object]:
    """The fields a ``TenantUpdate`` sets: those given, nulls only where null means a default."""
    given = body.model_dump(exclude_unset=True)
    resettable = {name for name, f in TenantSpec.model_fields.items() if f.default is None}
    return {k: v for k, v in given.items() if v is not None or k in resettable}


class KeyIssue(_Request):
    id: Identifier | None = None  # default: "<tenant>-<8 hex>"
    limits: Limits | None = None  # on top of the tenant's


class KeyRotate(_Request):
    # How long the old key keeps working, so clients can switch over without an outage.
    grace_seconds: float = Field(0, ge=0, allow_inf_nan=False)  # "inf" is no period


class KeyOut(BaseModel):
    id: str
    tenant: str
    hint: str
    limits: Limits | None
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
