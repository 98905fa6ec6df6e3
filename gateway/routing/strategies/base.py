"""The strategy seam, and what every strategy shares: health tiers and tie rotation.

A strategy only orders: ``rank`` returns every view it was given, best first. The router has
already filtered the candidates (residency, breakers); dropping one here would hide a
fallback, adding one could cross a border. Strategies do no I/O and read no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Protocol

from gateway.routing.view import EngineView, RouteContext


class Strategy(Protocol):
    name: str

    def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
        """All of ``views``, reordered best first; never adds, never drops."""
        ...


class Health(IntEnum):
    """How much a view's numbers can be trusted; lower ranks first.

    A stale engine is unknown, not idle: its old numbers may hide a queue that built up
    since, so it goes behind every fresh healthy engine. It still goes before an engine
    known to be unhealthy, which is the only thing worse than not knowing.
    """

    FRESH = 0
    STALE = 1
    UNHEALTHY = 2


def health(view: EngineView) -> Health:
    if not view.healthy:
        return Health.UNHEALTHY
    return Health.STALE if view.stale else Health.FRESH


def usable(view: EngineView) -> bool:
    return health(view) is Health.FRESH


class Rotation:
    """A rotating offset per candidate set, so equal engines take turns.

    One counter shared by all candidate sets would alias: with requests for two models
    alternating over two engines each, one model would always see an even count and always
    start on the same engine. Keyed by the set's URLs, each set rotates on its own.
    The map is bounded (sets change as breakers open and close); clearing it only restarts
    some rotations at zero.
    """

    MAX_KEYS = 1024

    def __init__(self) -> None:
        self._counts: dict[tuple[str, ...], int] = {}

    def next(self, urls: tuple[str, ...]) -> int:
        if len(self._counts) >= self.MAX_KEYS and urls not in self._counts:
            self._counts.clear()
        count = self._counts.get(urls, 0)
        self._counts[urls] = count + 1
        return count % len(urls) if urls else 0
