"""Builds the router and its parts from the settings (called once, in the lifespan)."""

from __future__ import annotations

import httpx

from gateway.routing.admission import Admission
from gateway.routing.breaker import Breakers
from gateway.routing.budget import RetryBudget
from gateway.routing.monitor import EngineMonitor
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.topology import Engine, Topology


def build_router(settings: Settings, topology: Topology, client: httpx.AsyncClient) -> Router:
    routing = settings.routing
    breakers = Breakers(
        failure_threshold=routing.breaker_failures, open_seconds=routing.breaker_open_seconds
    )

    def unreachable(engine: Engine) -> None:
        breakers.for_engine(engine).trip()

    def answered(engine: Engine) -> None:
        breakers.for_engine(engine).recovered()

    monitor = EngineMonitor(
        client,
        topology.engines,
        interval=routing.scrape_interval,
        timeout=min(settings.upstream.health_timeout, routing.scrape_interval),
        stale_after=routing.stale_after,
        on_unreachable=unreachable,
        on_answered=answered,
    )
    caps = {engine.url: engine.pool.max_concurrency for engine in topology.engines}
    admission = Admission(caps, max_queue=routing.max_queue)
    pool_strategies = {p.name: p.strategy for p in topology.pools if p.strategy is not None}
    return Router(
        routing,
        monitor,
        breakers,
        RetryBudget(ratio=routing.retry_budget_ratio),
        admission,
        pool_strategies,
    )
