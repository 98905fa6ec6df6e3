"""Limits and the ledger in this process: the embedded default for a single replica, and the
local limits a fail-open tenant falls back to while Redis is unreachable.

Same semantics as ``admit.lua``/``meter.lua`` (tested by the same tests), but nothing is
shared: with several replicas, each would enforce the whole limit on its own.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.core.limits import Decision, Scope
from gateway.core.usage import UsageRecord
from gateway.quota.redis_store import month_of
from gateway.quota.store import TOKENS_UNKNOWN, WINDOW_S, check_subject_ref, summarise

# Records (and exactly-once markers) kept per tenant; older ones are dropped.
LEDGER_LIMIT = 100_000


@dataclass(slots=True)
class _ScopeState:
    admissions: deque[float] = field(default_factory=deque)  # admission times, in order
    level: float | None = None
    level_at: float = 0.0
    leases: dict[str, float] = field(default_factory=dict)  # request id -> expiry
    months: dict[str, int] = field(default_factory=dict)


class MemoryQuotaStore:
    def __init__(
        self, lease_seconds: float = 900.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._lease_s = lease_seconds
        self._clock = clock
        self._scopes: dict[tuple[str, str], _ScopeState] = {}
        # Bounded: the embedded store is for one machine's demo, not an archive.
        self._ledger: dict[str, deque[UsageRecord]] = {}
        self._metered: OrderedDict[tuple[str, str], None] = OrderedDict()

    def _state(self, scope: Scope) -> _ScopeState:
        return self._scopes.setdefault((scope.tenant, scope.name), _ScopeState())

    async def admit(
        self, scopes: Sequence[Scope], estimate: int, request_id: str, *, key_id: str = ""
    ) -> Decision:
        # No await inside: atomic with respect to the event loop, like the Lua script.
        now = self._clock()
        month = month_of(now)
        per_scope: list[list[float]] = [[-1, -1, TOKENS_UNKNOWN, -1] for _ in scopes]
        levels: list[float] = []

        def refuse(name: str, index: int, retry_s: float | None) -> Decision:
            rows = [(int(r[0]), r[1], int(r[2]), r[3]) for r in per_scope]
            return summarise(scopes, False, name, index, retry_s, rows)

        for i, scope in enumerate(scopes, start=1):
            s, lim, row = self._state(scope), scope.limits, per_scope[i - 1]
            if lim.requests_per_minute:
                while s.admissions and s.admissions[0] <= now - WINDOW_S:
                    s.admissions.popleft()
                if len(s.admissions) >= lim.requests_per_minute:
                    row[0], row[1] = 0, WINDOW_S
                    return refuse("requests", i, s.admissions[0] + WINDOW_S - now)
                row[0], row[1] = lim.requests_per_minute - len(s.admissions) - 1, WINDOW_S
            level = float(lim.tokens_per_minute)
            if lim.tokens_per_minute:
                tpm = lim.tokens_per_minute
                if s.level is not None:
                    level = min(tpm, s.level + (now - s.level_at) * tpm / WINDOW_S)
                row[2] = math.floor(level)
                needed = min(estimate, tpm)
                if level < needed:
                    row[3] = (tpm - level) * WINDOW_S / tpm
                    return refuse("tokens", i, (needed - level) * WINDOW_S / tpm)
            levels.append(level)
            if lim.concurrent and len(s.leases) >= lim.concurrent:
                # Expired leases (a request never metered) matter only at the limit.
                s.leases = {r: t for r, t in s.leases.items() if t > now}
                if len(s.leases) >= lim.concurrent:
                    return refuse("concurrent", i, max(0.001, min(s.leases.values()) - now))
            if lim.monthly_tokens and s.months.get(month, 0) + estimate > lim.monthly_tokens:
                return refuse("monthly", i, None)

        for scope, level, row in zip(scopes, levels, per_scope, strict=True):
            s, lim = self._state(scope), scope.limits
            if lim.requests_per_minute:
                s.admissions.append(now)
            if lim.tokens_per_minute:
                s.level, s.level_at = level - estimate, now
                row[2] = math.floor(s.level)
                row[3] = (lim.tokens_per_minute - s.level) * WINDOW_S / lim.tokens_per_minute
            if lim.concurrent:
                s.leases[request_id] = now + self._lease_s
            if lim.monthly_tokens:
                s.months[month] = s.months.get(month, 0) + estimate
        rows = [(int(r[0]), r[1], int(r[2]), r[3]) for r in per_scope]
        return summarise(scopes, True, None, 0, 0.0, rows)

    async def meter(self, record: UsageRecord, scopes: Sequence[Scope]) -> bool:
        marker = (record.tenant, record.request_id)
        if marker in self._metered:
            return False
        self._metered[marker] = None
        if len(self._metered) > LEDGER_LIMIT:
            self._metered.popitem(last=False)
        self._ledger.setdefault(record.tenant, deque(maxlen=LEDGER_LIMIT)).append(record)
        month = month_of(record.started_at)
        actual = record.total_tokens
        for scope in scopes:
            s, lim = self._state(scope), scope.limits
            s.leases.pop(record.request_id, None)
            difference = actual - record.estimated_tokens if record.admitted_shared else actual
            if lim.tokens_per_minute and s.level is not None:
                s.level = min(lim.tokens_per_minute, s.level - difference)
            reserved = record.admitted_shared and lim.monthly_tokens
            charged = actual - record.estimated_tokens if reserved else actual
            s.months[month] = s.months.get(month, 0) + charged
        return True

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        found = [r for r in self._ledger.get(tenant, ()) if start <= r.finished_at < end]
        return sorted(found, key=lambda r: r.finished_at)

    async def erase_subject(self, subject_ref: str) -> int:
        """Replace the subject's records by copies without the reference, in place (records
        are frozen). No await inside: atomic with respect to metering, like the Lua script."""
        check_subject_ref(subject_ref)
        erased = 0
        for tenant, ledger in self._ledger.items():
            if not any(r.subject_ref == subject_ref for r in ledger):
                continue
            kept: deque[UsageRecord] = deque(maxlen=LEDGER_LIMIT)
            for record in ledger:
                if record.subject_ref == subject_ref:
                    record = record.model_copy(update={"subject_ref": None})
                    erased += 1
                kept.append(record)
            self._ledger[tenant] = kept
        return erased

    def monthly_used(self, scope: Scope, unix_s: float) -> int:
        return self._state(scope).months.get(month_of(unix_s), 0)
