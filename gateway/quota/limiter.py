"""Per-scope limits held in Redis, one limit for all gateway replicas.

A *scope* is what a limit belongs to: a tenant (``tenant:acme``) or one of its keys
(``key:acme-1``). Admission checks requests per minute (an exact 60 s sliding log), tokens per
minute (a token bucket charged with the request's estimate), concurrent requests (leases that
expire if a replica dies mid-request) and the monthly token budget, atomically in one Lua
script call: one round trip, nothing recorded unless every limit passes. Settlement replaces
the estimate by the engine's real usage, exactly once per request id.

Not yet wired into the request path: the quota issue's middleware, headers and degraded
modes build on this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis

_PREFIX = "sg:quota"
_SETTLED_TTL_S = 7 * 24 * 3600  # long enough for any retry or replay of a request id


@dataclass(frozen=True, slots=True)
class Limits:
    """0 means no limit."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    concurrent: int = 0
    monthly_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    failed: str | None  # "requests", "tokens", "concurrent", "monthly"
    retry_after_s: float | None  # None: not within this month
    requests_left: int | None
    tokens_left: int | None


def _script(name: str) -> str:
    return resources.files("gateway.quota").joinpath(name).read_text()


def _month(now: dt.datetime) -> str:
    return now.strftime("%Y%m")


class RedisLimiter:
    def __init__(self, redis: Redis, lease_seconds: float = 600.0) -> None:
        self._redis = redis
        self._lease_ms = int(lease_seconds * 1000)
        self._admit = redis.register_script(_script("admit.lua"))
        self._settle = redis.register_script(_script("settle.lua"))

    @staticmethod
    def _base(scope: str) -> str:
        return f"{_PREFIX}:{{{scope}}}"  # one hash slot per scope, for Redis Cluster

    @classmethod
    def _keys(cls, scope: str, when: dt.datetime) -> tuple[str, str, str, str]:
        base = cls._base(scope)
        return f"{base}:req", f"{base}:tok", f"{base}:lease", f"{base}:month:{_month(when)}"

    async def admit(
        self, scope: str, limits: Limits, estimated_tokens: int, request_id: str
    ) -> Decision:
        when = dt.datetime.now(dt.UTC)
        result = await self._admit(
            keys=list(self._keys(scope, when)),
            args=[
                limits.requests_per_minute,
                limits.tokens_per_minute,
                limits.concurrent,
                limits.monthly_tokens,
                estimated_tokens,
                request_id,
                self._lease_ms,
                40 * 24 * 3600,
            ],
        )
        allowed, failed, retry_ms, requests_left, tokens_left = result
        name = failed.decode() if isinstance(failed, bytes) else str(failed)
        return Decision(
            allowed=bool(allowed),
            failed=name or None,
            retry_after_s=None if int(retry_ms) < 0 else int(retry_ms) / 1000,
            requests_left=None if int(requests_left) < 0 else int(requests_left),
            tokens_left=None if not limits.tokens_per_minute else int(tokens_left),
        )

    async def settle(
        self, scope: str, limits: Limits, request_id: str, estimated: int, actual: int
    ) -> bool:
        """Replace the estimate by the real usage and end the lease; True the first time."""
        _, tokens, leases, month = self._keys(scope, dt.datetime.now(dt.UTC))
        settled = await self._settle(
            keys=[tokens, leases, month, f"{self._base(scope)}:settled:{request_id}"],
            args=[limits.tokens_per_minute, estimated, actual, request_id, _SETTLED_TTL_S],
        )
        return bool(settled)
