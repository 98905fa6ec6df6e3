"""The routing decision for one request: residency's candidates, minus open circuits, ranked
by the strategy configured for the model (or pool), with the tenant's site preference.

The router never adds an engine: it filters and orders the candidates residency computed, so
no strategy, retry or failover can leave the tenant's jurisdictions. The forwarder asks it for
the order, then takes admission slots and makes the attempts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from gateway.routing.admission import Admission
from gateway.routing.breaker import Breakers
from gateway.routing.budget import RetryBudget
from gateway.routing.monitor import EngineMonitor
from gateway.routing.strategies.base import Strategy
from gateway.routing.strategies.registry import build_strategy
from gateway.routing.view import Priority, RouteContext
from gateway.settings import RoutingSettings
from gateway.topology import Engine


class Router:
    def __init__(
        self,
        settings: RoutingSettings,
        monitor: EngineMonitor,
        breakers: Breakers,
        budget: RetryBudget,
        admission: Admission,
        pool_strategies: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.monitor = monitor
        self.breakers = breakers
        self.budget = budget
        self.admission = admission
        self._pool_strategies = dict(pool_strategies or {})
        names = {settings.strategy, *settings.per_model.values(), *self._pool_strategies.values()}
        self._strategies: dict[str, Strategy] = {
            name: build_strategy(name, affinity_load_factor=settings.affinity_load_factor)
            for name in names
        }

    def strategy_for(self, model: str, candidates: Sequence[Engine]) -> Strategy:
        name: str | None = self.settings.per_model.get(model)
        if name is None and candidates:
            name = self._pool_strategies.get(candidates[0].pool.name)
        return self._strategies[name or self.settings.strategy]

    def rank(self, candidates: Sequence[Engine], ctx: RouteContext) -> list[Engine]:
        """The candidates whose circuit lets a request through, best first; engines whose
        circuit is open go last (tried only if every other one fails), never dropped here:
        admission and the breakers decide at attempt time."""
        views = self.monitor.views(candidates)
        ranked = [v.engine for v in self.strategy_for(ctx.model, candidates).rank(views, ctx)]
        # would_allow: does not take a half-open circuit's single probe.
        allowed = [e for e in ranked if self.breakers.for_engine(e).would_allow()]
        refused = [e for e in ranked if not self.breakers.for_engine(e).would_allow()]
        return allowed + refused

    def deadline(self, priority: Priority) -> float:
        wait = (
            self.settings.queue_timeout_batch
            if priority is Priority.BATCH
            else self.settings.queue_timeout_interactive
        )
        return asyncio.get_running_loop().time() + wait
