"""The retry budget: retries may add at most ``ratio`` of the traffic, plus a small floor.

Per-request retry limits (``max_attempts``) do not stop a retry storm: when a whole pool is
sick every request retries, and the pool gets up to ``max_attempts`` times its load exactly
when it can least take it. A budget shared by all requests of the replica caps the sum
(Finagle's ``RetryBudget``, Envoy's retry budgets).

A token bucket: every request deposits ``ratio`` of a token, time adds ``min_per_second``
tokens a second (so a quiet replica can still retry), each retry spends one whole token, and
the bucket holds at most ``max_tokens`` (the burst a replica may retry at once after a quiet
spell). Over any interval of T seconds with N requests, retries stay below
``max_tokens + ratio * N + min_per_second * T``.

Call ``deposit()`` once per request (not per attempt) and ``try_spend()`` before each retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Counter

RETRIES = Counter(
    "sovereign_retries_total",
    "Retries asked of the retry budget, by whether it allowed them.",
    ["outcome"],
)

# A token is "whole" despite float rounding (five deposits of 0.2 may sum to 0.99999...).
_EPSILON = 1e-9


class RetryBudget:
    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 5.0,
        *,
        max_tokens: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_second < 0 or max_tokens < 0:
            raise ValueError("ratio, min_per_second and max_tokens must not be negative")
        self._ratio = ratio
        self._floor = min_per_second
        self._max = max_tokens
        self._clock = clock
        self._tokens = max_tokens  # a fresh replica may retry its first failures
        self._last = clock()
        self._allowed = RETRIES.labels("allowed")
        self._denied = RETRIES.labels("denied")

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def deposit(self) -> None:
        """One request arrived: it earns ``ratio`` of a retry."""
        self._refill()
        self._tokens = min(self._max, self._tokens + self._ratio)

    def try_spend(self) -> bool:
        """May this request retry? Spends one token if so."""
        self._refill()
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            self._allowed.inc()
            return True
        self._denied.inc()
        return False

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            self._tokens = min(self._max, self._tokens + self._floor * elapsed)
