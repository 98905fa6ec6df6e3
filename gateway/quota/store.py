"""The quota store seam: admission against limits, and exactly-once metering into the ledger.

Two implementations: ``RedisQuotaStore`` (shared by every replica; it hands records on to the
durable ledger, ``gateway/ledger``) and ``MemoryQuotaStore`` (one process: the embedded
default, which keeps its ledger in memory, and the local limits of a fail-open tenant while
Redis is unreachable). Both keep the same semantics, tested by the same tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from gateway.core.limits import Decision, Limits, Scope
from gateway.core.usage import UsageRecord

WINDOW_S = 60.0
# "Tokens left" of a scope whose bucket was not read (an earlier limit refused first).
TOKENS_UNKNOWN = -(10**15)
# How long Redis remembers that a request id was metered (``store.marker_ttl_minutes``):
# memory is rate x TTL x ~250 bytes a marker (measured: loadtest/ledger_memory.py), so
# minutes, not days (7 days at 1,000 req/s: ~150 GB); past it the durable
# ledger is the exactly-once authority (gateway/ledger/__init__.py).
MARKER_TTL_S = 10 * 60
_SUBJECT_REF = re.compile(r"[0-9a-f]+")


def check_subject_ref(subject_ref: str) -> str:
    """The reference itself if it is lowercase hex (what the keyed HMAC gives); else
    ValueError. Erasure matches it inside stored JSON and Redis glob patterns, so anything
    else (quotes, ``*``, ``[``) could erase the wrong records."""
    if not _SUBJECT_REF.fullmatch(subject_ref):
        raise ValueError("a subject reference is lowercase hex")
    return subject_ref


class HandoffFull(Exception):
    """The tenant's hand-off stream to the durable ledger holds its cap of unshipped records
    (the ledger's database is down or slow): nothing was settled; spool the record."""


class QuotaStore(Protocol):
    async def admit(
        self, scopes: Sequence[Scope], estimate: int, request_id: str, *, key_id: str = ""
    ) -> Decision:
        """Check every limit of every scope; record the admission only if all pass."""
        ...

    async def meter(self, record: UsageRecord, scopes: Sequence[Scope]) -> bool:
        """Hand the record to the ledger and settle the admission; True the first time for
        its id. Raises ``HandoffFull`` (nothing settled) when the ledger cannot take it now."""
        ...


class Ledger(Protocol):
    """Where usage records are read and erased: PostgreSQL (``gateway/ledger``) with a
    shared store, the in-process store when embedded."""

    async def usage(self, tenant: str, start: float, end: float) -> list[UsageRecord]:
        """The tenant's ledger records that ended in [start, end), oldest first."""
        ...

    async def erase_subject(self, subject_ref: str) -> int:
        """GDPR Art. 17: remove the data subject's reference from the ledger records of every
        tenant; returns how many had it. The records stay (billing data, Art. 17(3)(b)), with
        every other field, their time and their order unchanged."""
        ...


def summarise(
    scopes: Sequence[Scope],
    allowed: bool,
    failed: str | None,
    failed_index: int,
    retry_after_s: float | None,
    per_scope: Sequence[tuple[int, float, int, float]],
) -> Decision:
    """Fold per-scope counters (left, reset s; -1 = none) into what the headers report:
    for each kind of limit, the scope with the least left."""
    requests: tuple[int, int, float] | None = None
    tokens: tuple[int, int, float] | None = None
    for scope, (req_left, req_reset, tok_left, tok_reset) in zip(scopes, per_scope, strict=True):
        limits: Limits = scope.limits
        if (
            limits.requests_per_minute
            and req_left >= 0
            and (requests is None or req_left < requests[1])
        ):
            requests = (limits.requests_per_minute, req_left, req_reset)
        if (
            limits.tokens_per_minute
            and tok_left > TOKENS_UNKNOWN
            and (tokens is None or tok_left < tokens[1])
        ):
            tokens = (limits.tokens_per_minute, max(0, tok_left), tok_reset)
    return Decision(
        allowed=allowed,
        failed=failed,
        failed_scope=scopes[failed_index - 1].name if failed_index else None,
        retry_after_s=retry_after_s,
        requests_limit=requests[0] if requests else None,
        requests_left=requests[1] if requests else None,
        requests_reset_s=requests[2] if requests else None,
        tokens_limit=tokens[0] if tokens else None,
        tokens_left=tokens[1] if tokens else None,
        tokens_reset_s=tokens[2] if tokens else None,
    )
