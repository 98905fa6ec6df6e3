"""What routing sees of every engine (``GET /admin/v1/engines``), for operators and tests.

Health and load from the last scrape (with its age and whether it is stale), this replica's
in-flight requests, admission slots in use against the cap, and the circuit state.
"""

from __future__ import annotations

from pydantic import BaseModel

from gateway.routing.monitor import engine_label
from gateway.routing.router import Router
from gateway.topology import Topology


class EngineStatus(BaseModel):
    engine: str
    pool: str
    site: str
    jurisdiction: str
    gpu: str
    healthy: bool
    stale: bool
    age_s: float | None
    running: float
    waiting: float
    kv_usage: float
    inflight: int
    slots_in_use: int
    max_concurrency: int | None
    circuit: str
    circuit_changed_at: float | None  # Unix time of the circuit's last state change


def engine_statuses(routing: Router, topology: Topology) -> list[EngineStatus]:
    out = []
    for view in routing.monitor.views(topology.engines):
        engine, pool = view.engine, view.engine.pool
        breaker = routing.breakers.for_engine(engine)
        out.append(
            EngineStatus(
                engine=engine_label(engine),
                pool=pool.name,
                site=pool.site,
                jurisdiction=pool.jurisdiction,
                gpu=pool.gpu,
                healthy=view.healthy,
                stale=view.stale,
                age_s=None if view.age_s is None else round(view.age_s, 3),
                running=view.running,
                waiting=view.waiting,
                kv_usage=view.kv_usage,
                inflight=view.inflight,
                slots_in_use=routing.admission.in_use(engine.url),
                max_concurrency=pool.max_concurrency,
                circuit=str(breaker.state),
                circuit_changed_at=breaker.changed_at,
            )
        )
    return out
