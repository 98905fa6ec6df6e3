"""What a limit is and what admission decides: shared by configuration, records and stores."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Per tenant, or per key on top of its tenant's. 0 means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int = Field(0, ge=0)
    tokens_per_minute: int = Field(0, ge=0)
    concurrent: int = Field(0, ge=0)
    monthly_tokens: int = Field(0, ge=0)

    def any(self) -> bool:
        return bool(
            self.requests_per_minute
            or self.tokens_per_minute
            or self.concurrent
            or self.monthly_tokens
        )


UNLIMITED = Limits()


@dataclass(frozen=True, slots=True)
class Scope:
    """What a limit belongs to: the tenant (``name="tenant"``), one of its keys, or one of its
    end users (a bearer JWT's subject, by its keyed reference: never personal data in Redis)."""

    tenant: str
    name: str  # "tenant", "key:<key id>" or "user:<subject ref>"
    limits: Limits


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    failed: str | None  # "requests", "tokens", "concurrent", "monthly"
    failed_scope: str | None  # which scope refused: "tenant" or "key:<id>"
    retry_after_s: float | None  # None: not within this month
    # Of the tightest scope that has the limit; None where no scope limits it.
    requests_limit: int | None = None
    requests_left: int | None = None
    requests_reset_s: float | None = None
    tokens_limit: int | None = None
    tokens_left: int | None = None
    tokens_reset_s: float | None = None


def scopes_for(
    tenant: str, tenant_limits: Limits, key_id: str, key_limits: Limits | None
) -> tuple[Scope, ...]:
    """The tenant's scope always (it counts usage even when unlimited), the key's when set."""
    scopes = [Scope(tenant, "tenant", tenant_limits)]
    if key_limits is not None and key_limits.any():
        scopes.append(Scope(tenant, "key:" + key_id, key_limits))
    return tuple(scopes)


def user_scope(tenant: str, subject_ref: str, limits: Limits | None) -> tuple[Scope, ...]:
    """An end user's own scope inside its tenant's (none when it has no limits)."""
    if limits is None or not limits.any():
        return ()
    return (Scope(tenant, "user:" + subject_ref, limits),)
