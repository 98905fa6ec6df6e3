"""Send: to an engine of the candidates, with failover within the jurisdictions, waiting by
priority for a free slot (502/503/504 when none answers). A failure here is recorded at once:
nothing reached the client, and the engine produced nothing."""

from __future__ import annotations

import time

from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.routing.view import RouteContext
from gateway.upstream.forwarder import Forwarder, UpstreamAnswer, UpstreamStream


class Send:
    def __init__(self, forwarder: Forwarder) -> None:
        self._forwarder = forwarder

    async def stream(self, ctx: RequestContext) -> UpstreamStream:
        ctx.sent_at = time.perf_counter()
        try:
            return await self._forwarder.open(
                ctx.tenant, ctx.candidates, ctx.endpoint.path, ctx.body, ctx.request_id, route(ctx)
            )
        except GatewayError as exc:
            await ctx.record.record(None, "failed", exc.status, None)
            raise

    async def whole(self, ctx: RequestContext) -> UpstreamAnswer:
        ctx.sent_at = time.perf_counter()
        try:
            return await self._forwarder.call(
                ctx.tenant, ctx.candidates, ctx.endpoint.path, ctx.body, ctx.request_id, route(ctx)
            )
        except GatewayError as exc:
            await ctx.record.record(None, "failed", exc.status, None)
            raise


def route(ctx: RequestContext) -> RouteContext:
    """What routing may know: the session key, the tenant's site preference, priority and
    size; never content."""
    return RouteContext(
        tenant=ctx.tenant.id,
        model=ctx.checked.model,
        session_key=ctx.hints.session,
        preferred_sites=ctx.tenant.preferred_sites,
        priority=ctx.hints.priority,
        prompt_tokens=ctx.estimate,
    )
