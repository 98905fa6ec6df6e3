"""Admit: what is sent and what it may use (400 for values no engine could take, 429/503 from
the limits). From here the request's charge and lease are settled exactly once, however it
ends: the recorder is made and handed to the settlement net at once.

What happens when the client leaves before its answer is complete is decided here too (the
tenant's ``on_client_disconnect``, else the gateway's), and so is the usage a stream asks the
engine for: always its final count, and with ``abort`` its count on every chunk, so a stream
cut short is still metered from the engine's own numbers (``metering/stream_usage.py``).

Before anything is charged, a completion limit above the model's context (its pools'
``max_model_len``, else the engines' own model cards) is refused, and the body the engine
will get is serialised (a value that cannot be sent is the request's fault). The estimate
charged is clamped by that context.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.names import DisconnectMode
from gateway.core.topology import Engine
from gateway.errors import InvalidRequest
from gateway.metering import estimate
from gateway.metering.service import Metering
from gateway.metering.stream_usage import engine_options
from gateway.pipeline.context import RequestContext
from gateway.pipeline.record import Records
from gateway.privacy.content import ContentCapture
from gateway.privacy.service import Privacy
from gateway.routing.monitor import EngineMonitor


class Admit:
    def __init__(
        self,
        metering: Metering,
        records: Records,
        monitor: EngineMonitor,
        privacy: Privacy,
        default_completion: int,
        on_client_disconnect: DisconnectMode = "abort",
    ) -> None:
        self._on_disconnect = on_client_disconnect
        self._metering = metering
        self._records = records
        self._monitor = monitor
        self._analysis = privacy.analysis
        self._default_completion = default_completion

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.context_length = self._context_length(ctx.checked.model, ctx.candidates)
        estimate.check_context(ctx.payload, ctx.context_length)
        mode = ctx.tenant.on_client_disconnect or self._on_disconnect
        ctx.finish_on_disconnect = mode == "finish"
        if ctx.stream and ctx.endpoint.stream_options:
            # The engine's usage report is the truth: always ask for it (what the client did
            # not ask for is taken out again); per chunk too, when a stream may be cut short.
            ctx.payload["stream_options"] = engine_options(
                ctx.payload.get("stream_options"), ctx.usage_asked, continuous=mode == "abort"
            )
        ctx.body = serialised(ctx.payload)
        ctx.estimate = self._estimate(ctx)
        ctx.admission = await self._metering.admit(ctx.who, ctx.estimate, ctx.request_id)
        recorder = self._records.recorder(ctx)
        ctx.recorder = recorder
        ctx.settlement.on_exit(recorder.abandon)  # if nothing else records it
        applied = ctx.applied
        if applied is not None and applied.policy.log_content and applied.mode != "degraded":
            recorder.content = ContentCapture.of_request(
                applied.policy, ctx.payload, ctx.endpoint.path
            )
            recorder.analysis = self._analysis

    def _context_length(self, model: str, candidates: tuple[Engine, ...]) -> int | None:
        configured = [e.pool.max_model_len for e in candidates if e.pool.max_model_len]
        if configured:
            return max(length for length in configured if length)
        return self._monitor.context_length(model, candidates)

    def _estimate(self, ctx: RequestContext) -> int:
        if not ctx.endpoint.counts_tokens:
            return 0  # the engine only tokenizes: a request of zero tokens
        # Tokenizing costs ~0.7 us per token: only when a token limit will read the estimate.
        scopes = ctx.who.scopes
        if not any(s.limits.tokens_per_minute or s.limits.monthly_tokens for s in scopes):
            return 0
        return estimate.estimate(
            ctx.payload,
            generates=ctx.endpoint.generates,
            default_completion=self._default_completion,
            context=ctx.context_length,
        )


def serialised(payload: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload)
    except TypeError as exc:
        raise InvalidRequest(
            "The request holds a value that cannot be sent to the engine (numbers must be "
            "64-bit integers or finite floats, text valid Unicode).",
            code="invalid_value",
        ) from exc
