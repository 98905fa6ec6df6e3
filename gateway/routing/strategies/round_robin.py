"""Round robin: each request starts one engine further along; load is not looked at.

The baseline the load-aware strategies are measured against, and the safe choice when the
monitor's numbers are not trusted at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.strategies.base import Rotation, health
from gateway.routing.view import EngineView, RouteContext


class RoundRobin:
    name = "round_robin"

    def __init__(self) -> None:
        self._rotation = Rotation()

    def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
        if not views:
            return []
        start = self._rotation.next(tuple(v.engine.url for v in views))
        rotated = [*views[start:], *views[:start]]
        # A stable sort: fresh healthy engines first, each group still in rotated order, so
        # the rotation also spreads the load when some engines are stale or down.
        return sorted(rotated, key=health)
