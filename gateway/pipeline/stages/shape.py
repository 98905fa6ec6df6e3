"""Shape: the answer as the client gets it. A whole answer passes the response rules and has
its placeholders restored, then is metered once sent; a stream is relayed event by event
through the metering tap (placeholders restored there when nothing is masked) or the answer
guard (response rules that mask or block), and metered when it ends, however it ends. Every
answer says where it was processed, what the limits left and what the policy did. A signed
answer (``gateway/provenance``) has its token in a header (whole) or at its stream's end (a
last chunk before ``[DONE]``; in the end event of a Responses or Messages stream), signed over
the text exactly as sent: the outermost layer, after the disclosure notice."""

from __future__ import annotations

import time

from starlette.responses import Response

from gateway.anthropic.stream import MessagesStream, usage_of_message
from gateway.core.topology import Engine
from gateway.core.usage import Usage
from gateway.disclosure.answer import disclose_body
from gateway.disclosure.notice import HEADER as DISCLOSURE_HEADER
from gateway.disclosure.notice import header_value
from gateway.disclosure.stream import DisclosingStream
from gateway.errors import GatewayError, render_json
from gateway.metering.response import MeteredResponse
from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.metering.stream_usage import ContinuousUsage, prompt_count
from gateway.metering.usage import usage_of_body
from gateway.pipeline.context import RequestContext
from gateway.pipeline.stages.disclose import owed_by
from gateway.privacy.answer import StreamRestoring, filter_body
from gateway.privacy.json_answers import PLAIN, answer_formats
from gateway.privacy.messages import message_formats, tool_formats
from gateway.privacy.responses_stream import ResponsesStream
from gateway.privacy.service import Privacy
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream, guarded_types
from gateway.provenance.service import HEADER as PROVENANCE_HEADER
from gateway.provenance.service import Provenance
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
    def __init__(self, privacy: Privacy, provenance: Provenance | None = None) -> None:
        self._analysis = privacy.analysis
        self._provenance = provenance  # signs answers (gateway/provenance), if built

    def _headers(self, ctx: RequestContext, engine: Engine, received: float) -> dict[str, str]:
        headers = {**served_by_headers(engine), **ctx.admitted.headers}
        if ctx.applied is not None:
            headers.update(ctx.applied.headers())
        if ctx.tenant.ai_act_marker:  # EU AI Act Art. 50: users are told it is AI-generated
            headers["x-sovereign-ai-generated"] = "true"
        owed = owed_by(ctx)  # Art. 50(1): on every answer that owes it, in text or not
        if owed is not None:
            headers[DISCLOSURE_HEADER] = header_value(owed.notice)
        # The gateway's own time on the request so far: all of it but the wait for the engine.
        own = (time.perf_counter() - ctx.started) - (received - ctx.sent_at)
        headers["x-sovereign-overhead-ms"] = f"{own * 1000:.2f}"
        return headers

    def stream(self, ctx: RequestContext, upstream: UpstreamStream) -> Response:
        if ctx.endpoint.api == "anthropic":
            return self._messages(ctx, upstream)
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
        # The answer's JSON texts (response_format, tool calls) stay JSON: json_answers.py.
        formats = answer_formats(ctx.payload) if applied is not None else PLAIN
        json_content = formats.content is not None
        typed = ctx.endpoint.path == "/v1/responses"  # typed events, not chat chunks

        async def on_end(outcome: StreamOutcome) -> None:
            await recorder.stream_ended(engine, outcome)

        payload, asked = ctx.payload, ctx.usage_asked
        n = payload.get("n")
        source = MeteredStream(
            upstream,
            client_wants_usage=asked.final,
            client_wants_continuous=asked.continuous,
            continuous=ContinuousUsage(n if isinstance(n, int) else 1, prompt_count(payload)),
            finish_on_disconnect=ctx.finish_on_disconnect,
            on_end=on_end,
            started=ctx.started,
            transform=(
                StreamRestoring(applied.mapping, json_content=json_content)
                if applied and restore and not typed
                else None
            ),
            capture=recorder.content.stream_event if recorder.content is not None else None,
        )

        async def close_unsent() -> None:  # the relay never ran: nobody received anything
            await source.aclose(client_gone=True)

        ctx.settlement.on_exit(close_unsent)
        relayed: RelaySource = source
        if applied is not None and typed and (guarded or applied.mapping):
            # The Responses API's typed events: responses_stream.py, guard and restorer.
            guard = AnswerGuard(self._analysis, applied, formats) if guarded else None
            relayed = ResponsesStream(source, applied.mapping, guard, formats)
        elif applied is not None and guarded:
            guard = AnswerGuard(self._analysis, applied, formats)
            relayed = GuardedStream(source, guard, applied.mapping, json_content=json_content)
        relayed = self._signed(ctx, engine, disclosed(ctx, relayed))
        return RelayResponse(relayed, self._headers(ctx, engine, received))

    def _signed(self, ctx: RequestContext, engine: Engine, relayed: RelaySource) -> RelaySource:
        """Outermost: the provenance token signs the text exactly as the client gets it."""
        if self._provenance is None or not self._provenance.on(ctx):
            return relayed
        return self._provenance.stream(ctx, engine, relayed)

    def _messages(self, ctx: RequestContext, upstream: UpstreamStream) -> Response:
        """An Anthropic Messages stream: its own events, metered, guarded and restored
        (``gateway/anthropic/stream.py``)."""
        applied, recorder, engine = ctx.applied, ctx.record, upstream.engine
        received = time.perf_counter()
        acting = applied is not None and applied.mode != "degraded"
        guarded = acting and applied is not None and bool(guarded_types(applied.policy))

        async def on_end(outcome: StreamOutcome) -> None:
            await recorder.stream_ended(engine, outcome)

        source = MessagesStream(
            upstream,
            finish_on_disconnect=ctx.finish_on_disconnect,
            on_end=on_end,
            started=ctx.started,
            guard=AnswerGuard(self._analysis, applied) if guarded and applied else None,
            mapping=applied.mapping if applied is not None else None,
            tools=tool_formats(ctx.payload),
            capture=recorder.content.stream_event if recorder.content is not None else None,
        )

        async def close_unsent() -> None:  # the relay never ran: nobody received anything
            await source.aclose(client_gone=True)

        ctx.settlement.on_exit(close_unsent)
        relayed = self._signed(ctx, engine, disclosed(ctx, source))
        return RelayResponse(relayed, self._headers(ctx, engine, received))

    async def whole(self, ctx: RequestContext, answer: UpstreamAnswer) -> Response:
        recorder, applied = ctx.record, ctx.applied
        received = time.perf_counter()
        ok = answer.status < 400
        counts_tokens = ctx.endpoint.counts_tokens

        async def meter() -> None:
            usage = None
            if ok:  # a tokenizer's answer used no tokens of the model
                if not counts_tokens:
                    usage = Usage(0, 0)
                elif ctx.endpoint.api == "anthropic":
                    usage = usage_of_message(answer.body)
                else:
                    usage = usage_of_body(answer.body)
            await recorder.record(answer.engine, "ok" if ok else "failed", answer.status, usage)

        ctx.settlement.on_exit(meter)  # the engine answered: its usage is metered however we end
        body, status, media_type = answer.body, answer.status, answer.content_type
        if ok and applied is not None:
            try:
                payload = ctx.payload
                anthropic = ctx.endpoint.api == "anthropic"  # tool inputs under input_schema
                formats = message_formats(payload) if anthropic else answer_formats(payload)
                body = await filter_body(self._analysis, applied, answer.body, formats)
            except GatewayError as exc:  # withheld: an error to the client, still metered
                body, status = render_json(exc, ctx.endpoint.api), exc.status
                media_type = "application/json"
        owed = owed_by(ctx)
        if ok and status < 400 and owed is not None and owed.in_answer:
            # The deployer's notice, in the text the client gets (not metered, not captured).
            body = disclose_body(ctx.endpoint.path, body, owed)
        if ok and recorder.content is not None:
            recorder.content.answer_body(answer.body)
        headers = self._headers(ctx, answer.engine, received)
        if ok and status < 400 and self._provenance is not None and self._provenance.on(ctx):
            token = self._provenance.whole(ctx, answer.engine, body)  # the body as sent
            if token is not None:
                headers[PROVENANCE_HEADER] = token
        return MeteredResponse(
            body, status_code=status, media_type=media_type, headers=headers, meter=meter
        )


def disclosed(ctx: RequestContext, relayed: RelaySource) -> RelaySource:
    """The stream with the deployer's notice in front of its first text (first_answer mode):
    the outermost layer, so the notice is in what the client receives, and never metered."""
    owed = owed_by(ctx)
    if owed is None or not owed.in_answer:
        return relayed
    n = ctx.payload.get("n")
    return DisclosingStream(relayed, owed, ctx.endpoint.path, n if isinstance(n, int) else 1)
