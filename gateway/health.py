"""Engine reachability for ``/readyz``, read off the router's engine monitor.

The monitor already fetches every engine's ``/health`` (and ``/metrics``) about twice a
second; probing again per readiness check would double that traffic. An engine counts as up
when its last scrape succeeded and is not stale. Before the monitor's first round, a
readiness check waits for one round rather than guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.routing.monitor import EngineMonitor
from gateway.topology import Engine


@dataclass(frozen=True, slots=True)
class Readiness:
    engines_up: int
    engines_total: int

    @property
    def ready(self) -> bool:
        return self.engines_up > 0


class EngineHealth:
    def __init__(self, monitor: EngineMonitor, engines: Sequence[Engine]) -> None:
        self._monitor = monitor
        self._engines = tuple(engines)

    async def readiness(self) -> Readiness:
        views = self._monitor.views(self._engines)
        if any(v.age_s is None and v.healthy for v in views):  # not yet tried: try now
            await self._monitor.refresh()
            views = self._monitor.views(self._engines)
        up = sum(1 for v in views if v.healthy and not v.stale)
        return Readiness(up, len(self._engines))
