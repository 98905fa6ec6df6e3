"""Send: to an engine of the candidates, with failover within the jurisdictions, waiting by
priority for a free slot (502/503/504 when none answers). A failure here is recorded at once:
nothing reached the client, and the engine produced nothing.

A client that leaves while waiting for a whole answer stops the engine (``abort``, unless its
tenant chose ``finish``): nothing else would notice, as no byte is sent before the answer is
complete. The wait is cancelled when the server reports the client gone (``http.disconnect``),
which closes the connection to the engine (vLLM then aborts the request) or stops the wait for
a slot; the request is recorded as aborted (``Recorder.left_waiting``).

The body may differ per engine: the text watermark's switch is the chosen pool's to set
(``gateway/upstream/watermark.py``); once an engine answered (after failover), whether it was
told to mark is kept on the context (``watermarked``) for the provenance token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

from gateway.core.topology import Engine
from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.routing.view import RouteContext
from gateway.upstream.forwarder import Forwarder, UpstreamAnswer, UpstreamStream
from gateway.upstream.watermark import marked_by, pool_bodies

T = TypeVar("T")


class Send:
    def __init__(self, forwarder: Forwarder) -> None:
        self._forwarder = forwarder

    async def stream(self, ctx: RequestContext) -> UpstreamStream:
        ctx.sent_at = time.perf_counter()
        try:
            upstream = await self._forwarder.open(
                ctx.tenant,
                ctx.candidates,
                ctx.endpoint.path,
                ctx.body,
                ctx.request_id,
                route(ctx),
                body_for=bodies(ctx),
            )
        except GatewayError as exc:
            await ctx.record.record(None, "failed", exc.status, None)
            raise
        ctx.watermarked = watermarked(ctx, upstream.engine)
        return upstream

    async def whole(self, ctx: RequestContext) -> UpstreamAnswer | None:
        """The engine's whole answer; None if the client left first (``abort``: recorded)."""
        ctx.sent_at = time.perf_counter()
        tried: list[Engine] = []
        call = self._forwarder.call(
            ctx.tenant,
            ctx.candidates,
            ctx.endpoint.path,
            ctx.body,
            ctx.request_id,
            route(ctx),
            on_attempt=tried.append,
            body_for=bodies(ctx),
        )
        try:
            if ctx.finish_on_disconnect:
                return await call
            answer = await unless_client_leaves(ctx.receive, call)
        except GatewayError as exc:
            await ctx.record.record(None, "failed", exc.status, None)
            raise
        if answer is None:
            await ctx.record.left_waiting(tried[-1] if tried else None)
        else:
            ctx.watermarked = watermarked(ctx, answer.engine)
        return answer


async def unless_client_leaves(receive: Receive, work: Coroutine[Any, Any, T]) -> T | None:
    """``work``'s result, or None if the client went away first (``work`` is cancelled, and
    has finished its cleanup when this returns). What ``work`` raises is raised as it is.

    Two plain tasks and ``asyncio.wait``, as vLLM's own ``with_cancellation``: about 15 us of
    CPU per request here, where an anyio task group cost about 50 us. The request's body has
    been read: what ``receive`` reports next is the disconnect."""
    loop = asyncio.get_running_loop()
    working = loop.create_task(work)
    watching = loop.create_task(_disconnected(receive))
    try:
        await asyncio.wait((working, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        if not working.done():
            working.cancel()
            await asyncio.wait((working,))  # its cleanup (the engine's connection closed)
    if working.cancelled():
        return None
    return working.result()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def bodies(ctx: RequestContext) -> Callable[[Engine], bytes] | None:
    """The body per engine when its pool decides the text watermark's switch (None: the
    admitted body for every engine)."""
    if not ctx.endpoint.generates:
        return None
    return pool_bodies(ctx.payload, ctx.body, ctx.candidates, ctx.tenant.watermark)


def watermarked(ctx: RequestContext, engine: Engine) -> bool:
    """Whether ``engine``, the one that answered, was told to mark the text: the rule
    ``bodies`` sent it by (False where nothing is generated, as no switch is sent)."""
    return ctx.endpoint.generates and marked_by(engine, ctx.payload, ctx.tenant.watermark)


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
