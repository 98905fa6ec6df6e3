"""The request path, in order: what happens to every inference request, stage by stage.

::

    authenticate   who is calling                                     401
    read           the body, checked; hints; who it is about; span    400 413
    residency      the engines allowed to serve it, in its jurisdictions  404 403
    policy         every text through the tenant's GDPR policy        400 403 503
    disclose       the deployer's AI notice in the system prompt (Art. 50(1))
    admit          body and estimate; limits; from here settled once  400 429 503
    send           to an engine, failover within the jurisdictions    502 503 504
                   (a client that leaves a whole answer's wait stops the engine: abort)
    shape          the answer: rules, placeholders, relay, metering   (in-band for streams)
                   (and its signed provenance token: ``gateway/provenance``)

    record         however it ends: its one usage record, metered, traced, logged, audited
                   (``record.py``; after admission run by whoever ends the request, with
                   the settlement net, ``gateway/settle.py``, under all of them)

Each stage is a small unit (``stages/``) built once in the lifespan with the collaborators
it needs, reading and filling one ``RequestContext``. A refusal before ``send`` is recorded
as such (never metered: nothing was used); errors become OpenAI errors in one place
(``gateway/http_errors.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope
from starlette.types import Send as ASGISend

from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.pipeline.record import Records
from gateway.pipeline.stages.send import Send
from gateway.pipeline.stages.shape import Shape

Stage = Callable[[RequestContext], Awaitable[None]]


class Pipeline:
    def __init__(
        self,
        authenticate: Stage,
        read: Stage,
        decide: tuple[Stage, ...],  # residency, policy, admit: refused ones are recorded
        send: Send,
        shape: Shape,
        records: Records,
    ) -> None:
        self._authenticate = authenticate
        self._read = read
        self._decide = decide
        self._send = send
        self._shape = shape
        self._records = records

    async def handle(self, ctx: RequestContext) -> Response:
        await self._authenticate(ctx)
        return await self.handle_authenticated(ctx)

    async def handle_authenticated(self, ctx: RequestContext) -> Response:
        """The path after ``authenticate``, for a caller the gateway already knows
        (``ctx.principal`` set): a batch's line, run in-process as the key that created the
        batch (``gateway/batches/line.py``), takes every other stage as a request does."""
        assert ctx.principal is not None, "the caller is known"
        await self._read(ctx)
        try:
            for stage in self._decide:
                await stage(ctx)
        except GatewayError as refused:  # nothing was sent: on record, never metered
            await self._records.refused(ctx, refused, served=ctx.model == ctx.checked.model)
            raise
        if ctx.stream:
            return self._shape.stream(ctx, await self._send.stream(ctx))
        answer = await self._send.whole(ctx)
        if answer is None:  # the client left while waiting; the engine was stopped
            return Unanswered()
        return await self._shape.whole(ctx, answer)


class Unanswered(Response):
    """For a client that has left: nothing to send (the server closed its connection)."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: ASGISend) -> None:
        return None
