"""Residency: the engines that may serve this model for this tenant, all in its
jurisdictions (404 no such model; 403 served only elsewhere). A pure decision."""

from __future__ import annotations

from gateway.pipeline.context import RequestContext
from gateway.residency import candidate_engines
from gateway.topology import Topology


class Residency:
    def __init__(self, topology: Topology) -> None:
        self._topology = topology

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.candidates = candidate_engines(ctx.tenant, ctx.checked.model, self._topology)
