"""The one ledger record of each request, and everything recorded with it.

Every request ends in exactly one usage record, built here by one function (``usage_record``)
from its context:

- refused before any engine (authentication aside: residency, policy, limits): ``refused``
  records it as failed with its error code, logged, counted and audited, never metered (it
  used nothing);
- admitted: the ``Recorder`` made at admission records it exactly once, however it ends: the
  answer, the stream's end, a failure, or the settlement net's ``abandon``. Metering that
  record settles the admission (its charge and lease); the span, metrics, log line and audit
  record follow it (``gateway.telemetry.hub``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.topology import Engine
from gateway.core.usage import Status, Usage, UsageRecord, UsageSource
from gateway.errors import GatewayError
from gateway.metering import estimate
from gateway.metering.service import Metering
from gateway.metering.stream import StreamOutcome
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.content import ContentCapture
from gateway.privacy.service import Privacy
from gateway.telemetry.hub import Observability

if TYPE_CHECKING:
    from gateway.pipeline.context import RequestContext


def usage_record(
    ctx: RequestContext,
    gateway: str,
    engine: Engine | None,
    status: Status,
    http_status: int,
    usage: Usage,
    source: UsageSource,
    *,
    ttft_s: float | None = None,
    pii: str | None = None,
) -> UsageRecord:
    pool = engine.pool if engine is not None else None
    applied = ctx.applied
    return UsageRecord(
        request_id=ctx.request_id,
        tenant=ctx.tenant.id,
        key_id=ctx.who.key_id,
        endpoint=ctx.endpoint.name,
        model=ctx.model,
        pool=pool.name if pool else "",
        site=pool.site if pool else "",
        jurisdiction=pool.jurisdiction if pool else "",
        engine=engine.url if engine else "",
        stream=ctx.stream,
        status=status,
        http_status=http_status,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        usage_source=source,
        estimated_tokens=ctx.estimate,
        started_at=ctx.started_at,
        ttft_ms=None if ttft_s is None else round(ttft_s * 1000, 3),
        duration_ms=round((time.perf_counter() - ctx.started) * 1000, 3),
        gateway=gateway,
        admitted_shared=ctx.admission.shared if ctx.admission is not None else True,
        policy=applied.policy.label if applied else None,
        policy_mode=applied.mode if applied else None,
        pii=pii if pii is not None else (applied.ledger_summary() if applied else None),
        subject_ref=ctx.subject_ref,
    )


@dataclass(frozen=True, slots=True)
class Records:
    """Built once in the lifespan: where records go."""

    metering: Metering
    observability: Observability
    privacy: Privacy
    gateway: str

    async def refused(self, ctx: RequestContext, refused: GatewayError, served: bool) -> None:
        """A request refused before any engine saw it: on record, never metered. ``served``:
        whether its model is one the gateway serves (else its name is the client's string,
        kept capped and masked)."""
        if not served and ctx.request is not None:
            ctx.model = await self.privacy.client_string(ctx.request.model, ctx.tenant)
        if ctx.applied is None:  # refused before its policy applied: name the policy anyway
            try:
                found = self.privacy.catalogue.for_tenant(ctx.tenant)
            except GatewayError:
                found = None
            label = found.label if found is not None else None
        else:
            label = ctx.applied.policy.label
        record = usage_record(
            ctx,
            self.gateway,
            None,
            "failed",
            refused.status,
            Usage(0, 0),
            "estimate",
            pii=f"refused:{refused.code}" if refused.code else None,
        ).model_copy(update={"policy": label})
        if ctx.span is not None:
            code = refused.code or str(refused.status)
            self.observability.finished(ctx.span, record, error_type=code)

    def recorder(self, ctx: RequestContext) -> Recorder:
        return Recorder(self, ctx)


@dataclass(slots=True)
class Recorder:
    """Records an admitted request exactly once: the first call wins, later ones do nothing."""

    records: Records
    ctx: RequestContext
    # The texts to keep, masked, when the tenant's policy logs content (else None).
    content: ContentCapture | None = None
    analysis: AnalysisService | None = None
    done: bool = False

    async def record(
        self,
        engine: Engine | None,
        status: Status,
        http_status: int,
        usage: Usage | None,
        *,
        seen_completion_events: int = 0,
        ttft_s: float | None = None,
        source: UsageSource = "engine",
    ) -> None:
        if self.done:
            return
        self.done = True
        if usage is None:
            # The engine never reported: count what we can (a failure before any answer
            # generated nothing; mid-stream, each relayed content event is about one token).
            payload = self.ctx.payload
            prompt = estimate.prompt_tokens(payload) if seen_completion_events else 0
            usage, source = Usage(prompt, seen_completion_events), "estimate"
        records = self.records
        record = usage_record(
            self.ctx, records.gateway, engine, status, http_status, usage, source, ttft_s=ttft_s
        )
        await records.metering.meter(record, self.ctx.who)
        span = self.ctx.span
        if span is None:
            return
        committed = None
        if self.content is not None and self.analysis is not None:
            committed = await records.observability.record_content(
                record, self.content, self.analysis
            )
        # The answer's provenance token goes to its audit record, not to the ledger.
        records.observability.finished(
            span, record, content=committed, provenance=self.ctx.provenance
        )

    async def abandon(self) -> None:
        """The request ended without being recorded (a bug after admission, a cancellation):
        settled as failed with no usage seen, its charge refunded and its lease ended."""
        await self.record(None, "failed", 500, None)

    async def left_waiting(self, engine: Engine | None) -> None:
        """The client left while waiting for a whole answer, and the engine was stopped
        (``abort``). vLLM reports usage only with the whole answer, so: the prompt as the
        gateway estimated it if the request reached an engine (it was prefilled), no
        completion tokens (what was generated before the abort is not known); 499, as
        nothing was sent."""
        ctx = self.ctx
        reached = engine is not None and ctx.endpoint.counts_tokens  # not a tokenizer's
        prompt = estimate.prompt_tokens(ctx.payload) if reached else 0
        await self.record(engine, "aborted", 499, Usage(prompt, 0), source="estimate")

    async def stream_ended(self, engine: Engine, outcome: StreamOutcome) -> None:
        status: Status = "aborted" if outcome.client_gone else "failed" if outcome.failed else "ok"
        await self.record(
            engine,
            status,
            200,
            outcome.usage,
            seen_completion_events=outcome.content_events,
            ttft_s=outcome.ttft_s,
            source="estimate" if outcome.estimated else "engine",
        )
