"""Engine choice among the candidates residency allows: round robin, skipping engines that
recently refused connections. The full load-aware strategies arrive with the routing issue;
this is the seam they plug into.

The selector only ever reorders the candidates it is given: it cannot add an engine, so it
cannot take a request out of the tenant's jurisdictions.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Protocol

from gateway.topology import Engine


class EngineSelector(Protocol):
    def order(self, candidates: tuple[Engine, ...]) -> list[Engine]: ...
    def report_failure(self, engine: Engine) -> None: ...
    def report_success(self, engine: Engine) -> None: ...


class RoundRobinSelector:
    """Rotates the starting engine; engines that failed to connect go last for a while."""

    def __init__(
        self, cooldown_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._counter = itertools.count()
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._down_until: dict[str, float] = {}

    def order(self, candidates: tuple[Engine, ...]) -> list[Engine]:
        if not candidates:
            return []
        start = next(self._counter) % len(candidates)
        rotated = list(candidates[start:] + candidates[:start])
        if not self._down_until:
            return rotated
        now = self._clock()
        up = [e for e in rotated if self._down_until.get(e.url, 0.0) <= now]
        cooling = [e for e in rotated if self._down_until.get(e.url, 0.0) > now]
        # Engines in cool-down are still tried last: refusing outright when all are cooling
        # would turn a brief blip into an outage.
        return up + cooling

    def report_failure(self, engine: Engine) -> None:
        self._down_until[engine.url] = self._clock() + self._cooldown

    def report_success(self, engine: Engine) -> None:
        self._down_until.pop(engine.url, None)
