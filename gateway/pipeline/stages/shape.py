"""Shape: the answer as the client gets it. A whole answer passes the response rules and has
its placeholders restored, then is metered once sent; a stream is relayed event by event
through the metering tap (placeholders restored there when nothing is masked) or the answer
guard (response rules that mask or block), and metered when it ends, however it ends. Every
answer says where it was processed, what the limits left and what the policy did."""

from __future__ import annotations

import time

from starlette.responses import Response

from gateway.core.topology import Engine
from gateway.errors import GatewayError, render_json
from gateway.metering.response import MeteredResponse
from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.metering.usage import usage_of_body
from gateway.pipeline.context import RequestContext
from gateway.privacy.answer import StreamRestoring, filter_body
from gateway.privacy.service import Privacy
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream, guarded_types
from gateway.upstream.forwarder import UpstreamAnswer, UpstreamStream
from gateway.upstream.relay import RelayResponse, RelaySource


def served_by_headers(engine: Engine) -> dict[str, str]:
    """Where the request was processed: shown on every answer an engine produced."""
    pool = engine.pool
    return {
        "x-sovereign-jurisdiction": pool.jurisdiction,
        "x-sovereign-site": pool.site,
        "x-sovereign-pool": pool.name,
    }


class Shape:
    def __init__(self, privacy: Privacy, finish_on_disconnect: bool) -> None:
        self._analysis = privacy.analysis
        self._finish = finish_on_disconnect

    def _headers(self, ctx: RequestContext, engine: Engine, received: float) -> dict[str, str]:
        headers = {**served_by_headers(engine), **ctx.admitted.headers}
        if ctx.applied is not None:
            headers.update(ctx.applied.headers())
        if ctx.tenant.ai_act_marker:  # EU AI Act Art. 50: users are told it is AI-generated
            headers["x-sovereign-ai-generated"] = "true"
        # The gateway's own time on the request so far: all of it but the wait for the engine.
        own = (time.perf_counter() - ctx.started) - (received - ctx.sent_at)
        headers["x-sovereign-overhead-ms"] = f"{own * 1000:.2f}"
        return headers

    def stream(self, ctx: RequestContext, upstream: UpstreamStream) -> Response:
        applied, recorder = ctx.applied, ctx.record
        engine = upstream.engine
        received = time.perf_counter()
        # Response rules that mask or block need the answer guard (which restores after it);
        # otherwise placeholders are restored in the metering tap, with no extra layer.
        guarded = (
            applied is not None
            and applied.mode != "degraded"
            and bool(guarded_types(applied.policy))
        )
        restore = applied is not None and bool(applied.mapping) and not guarded

        async def on_end(outcome: StreamOutcome) -> None:
            await recorder.stream_ended(engine, outcome)

        source = MeteredStream(
            upstream,
            client_wants_usage=ctx.client_wants_usage,
            finish_on_disconnect=self._finish,
            on_end=on_end,
            started=ctx.started,
            transform=StreamRestoring(applied.mapping) if applied and restore else None,
            capture=recorder.content.stream_event if recorder.content is not None else None,
        )

        async def close_unsent() -> None:  # the relay never ran: nobody received anything
            await source.aclose(client_gone=True)

        ctx.settlement.on_exit(close_unsent)
        relayed: RelaySource = source
        if applied is not None and guarded:
            relayed = GuardedStream(source, AnswerGuard(self._analysis, applied), applied.mapping)
        return RelayResponse(relayed, self._headers(ctx, engine, received))

    async def whole(self, ctx: RequestContext, answer: UpstreamAnswer) -> Response:
        recorder, applied = ctx.record, ctx.applied
        received = time.perf_counter()
        ok = answer.status < 400

        async def meter() -> None:
            usage = usage_of_body(answer.body) if ok else None
            await recorder.record(answer.engine, "ok" if ok else "failed", answer.status, usage)

        ctx.settlement.on_exit(meter)  # the engine answered: its usage is metered however we end
        body, status, media_type = answer.body, answer.status, answer.content_type
        if ok and applied is not None:
            try:
                body = await filter_body(self._analysis, applied, answer.body)
            except GatewayError as exc:  # withheld: an error to the client, still metered
                body, status, media_type = render_json(exc), exc.status, "application/json"
        if ok and recorder.content is not None:
            recorder.content.answer_body(answer.body)
        return MeteredResponse(
            body,
            status_code=status,
            media_type=media_type,
            headers=self._headers(ctx, answer.engine, received),
            meter=meter,
        )
