"""Builds the one ledger record of a request from what happened to it, and meters it.

A recorder exists from the moment a request is admitted, and records exactly once: the first
call wins (the answer, the stream's end, a failure, or the settlement net's ``abandon``) and
later calls do nothing, so every path may call it without counting twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from gateway.auth import Principal
from gateway.metering import estimate
from gateway.metering.record import Status, UsageRecord, UsageSource
from gateway.metering.service import Metering
from gateway.metering.stream import StreamOutcome
from gateway.metering.usage import Usage
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.applied import Applied
from gateway.privacy.content import ContentCapture
from gateway.telemetry.hub import Observability
from gateway.topology import Engine


@dataclass(slots=True)
class Recorder:
    metering: Metering
    principal: Principal
    request_id: str
    endpoint: str
    model: str
    payload: dict[str, Any]
    stream: bool
    estimated_tokens: int
    admitted_shared: bool
    gateway_id: str
    started_at: float  # wall clock, for the record
    started: float  # perf_counter, for durations
    privacy: Applied | None = None  # what the GDPR policy did, recorded with the usage
    # Span, metrics, log line and audit record of the request, closed with its record.
    observability: Observability | None = None
    span: Span | None = None
    # The data subject (OpenAI `user` or header) as its keyed reference, for erasure.
    subject_ref: str | None = None
    # The texts to keep, masked, when the tenant's policy logs content (else None).
    content: ContentCapture | None = None
    analysis: AnalysisService | None = None
    done: bool = False  # recorded: later calls are no-ops

    async def record(
        self,
        engine: Engine | None,
        status: Status,
        http_status: int,
        usage: Usage | None,
        *,
        seen_completion_events: int = 0,
        ttft_s: float | None = None,
    ) -> None:
        if self.done:
            return
        self.done = True
        source: UsageSource = "engine"
        if usage is None:
            # The engine never reported: count what we can (a failure before any answer
            # generated nothing; mid-stream, each relayed content event is about one token).
            prompt = estimate.prompt_tokens(self.payload) if seen_completion_events else 0
            usage, source = Usage(prompt, seen_completion_events), "estimate"
        pool = engine.pool if engine is not None else None
        record = UsageRecord(
            request_id=self.request_id,
            tenant=self.principal.tenant.id,
            key_id=self.principal.key_id,
            endpoint=self.endpoint,
            model=self.model,
            pool=pool.name if pool else "",
            site=pool.site if pool else "",
            jurisdiction=pool.jurisdiction if pool else "",
            engine=engine.url if engine else "",
            stream=self.stream,
            status=status,
            http_status=http_status,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_source=source,
            estimated_tokens=self.estimated_tokens,
            started_at=self.started_at,
            ttft_ms=None if ttft_s is None else round(ttft_s * 1000, 3),
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
            gateway=self.gateway_id,
            admitted_shared=self.admitted_shared,
            policy=self.privacy.policy.label if self.privacy else None,
            policy_mode=self.privacy.mode if self.privacy else None,
            pii=self.privacy.ledger_summary() if self.privacy else None,
            subject_ref=self.subject_ref,
        )
        await self.metering.meter(record, self.principal)
        if self.observability is not None and self.span is not None:
            committed = None
            if self.content is not None and self.analysis is not None:
                committed = await self.observability.record_content(
                    record, self.content, self.analysis
                )
            self.observability.finished(self.span, record, content=committed)

    async def abandon(self) -> None:
        """The request ended without being recorded (a bug after admission, a cancellation):
        settled as failed with no usage seen, its charge refunded and its lease ended."""
        await self.record(None, "failed", 500, None)

    async def stream_ended(self, engine: Engine, outcome: StreamOutcome) -> None:
        status: Status = "aborted" if outcome.client_gone else "failed" if outcome.failed else "ok"
        await self.record(
            engine,
            status,
            200,
            outcome.usage,
            seen_completion_events=outcome.content_events,
            ttft_s=outcome.ttft_s,
        )
