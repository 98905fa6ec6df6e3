"""Admissions not yet settled, kept in Redis so that a replica's death cannot strand them.

Admission reserves (a token charge, a concurrency lease, a monthly reservation) and metering
settles, exactly once per request id. A replica that dies in between would leave the
reservation behind: the lease until it expires, the charge for good. So admission records
what it reserved in the tenant's pending hash (``admit.lua``), metering removes it
(``meter.lua``), and every replica refreshes a heartbeat key while it runs. Any replica's
sweeper settles the pending entries of replicas whose heartbeat has expired, through the same
exactly-once metering call, as a ``failed`` record with no usage: what the dead replica's
engine may have generated for it is unknown, and never invented.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gateway.core.limits import Limits, Scope

HEARTBEAT_TTL_S = 15.0  # a replica silent this long is dead to the sweeper (the default)


def heartbeat_every(ttl: float) -> float:
    """Beat three times per time-to-live: two lost beats in a row do not kill a replica."""
    return ttl / 3


def heartbeat_key(gateway: str) -> str:
    return f"sg:replica:{gateway}:alive"


class SettledScope(BaseModel):
    """What settling a request needs of one of its scopes, stored (here and in the disk spool,
    ``gateway/metering/spool.py``): the limits that decided what admission reserved."""

    model_config = ConfigDict(frozen=True)
    name: str
    tokens_per_minute: int = 0
    concurrent: int = 0
    monthly_tokens: int = 0

    @classmethod
    def of(cls, scope: Scope) -> SettledScope:
        limits = scope.limits
        return cls(
            name=scope.name,
            tokens_per_minute=limits.tokens_per_minute,
            concurrent=limits.concurrent,
            monthly_tokens=limits.monthly_tokens,
        )

    def scope(self, tenant: str) -> Scope:
        limits = Limits(
            tokens_per_minute=self.tokens_per_minute,
            concurrent=self.concurrent,
            monthly_tokens=self.monthly_tokens,
        )
        return Scope(tenant, self.name, limits)


def settled_scopes(tenant: str, stored: list[SettledScope]) -> tuple[Scope, ...]:
    return tuple(s.scope(tenant) for s in stored)


class PendingAdmission(BaseModel):
    """What admission reserved for one request, and who must settle it."""

    model_config = ConfigDict(frozen=True)
    gateway: str
    at: float  # admission time, unix seconds
    estimate: int
    key_id: str
    scopes: list[SettledScope]

    @classmethod
    def of(
        cls, gateway: str, at: float, estimate: int, key_id: str, scopes: tuple[Scope, ...]
    ) -> PendingAdmission:
        stored = [SettledScope.of(s) for s in scopes]
        return cls(gateway=gateway, at=at, estimate=estimate, key_id=key_id, scopes=stored)

    def settle_scopes(self, tenant: str) -> tuple[Scope, ...]:
        return settled_scopes(tenant, self.scopes)
