"""Everything that happens once per request besides serving it: the trace span, the request
metrics, the log line and the audit record. Built once in the lifespan.

The span is opened when the request arrives and closed with the request's usage record (the
facts, never content). Metrics and the log line are cheap and synchronous; the audit append
is queued after the answer was sent (metering's place in the request). All of it is
recorded in batches, every ``telemetry.flush_interval_ms``: warm work instead of a cold
trickle after every request, and one audit write (one fsync) per batch. No request waits for
it; a failed append is counted and logged rather than lost silently, and shutting down
records what is still pending.

A batch is recorded on the event loop, in slices of at most ``slice_s`` (0.2 ms) with a
yield to the loop between them: a batch takes a few milliseconds (~50 us per request, a few
hundred requests per interval under load), and a request that arrives meanwhile waits for
one slice, not for the batch (slices of 16 requests had held the loop 1-4 ms:
``loadtest.loop_stalls``). The audit records of the batch are queued together at its end:
one write, settled by one future.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, Tracer
from prometheus_client import Counter

from gateway.audit import AuditTrail
from gateway.audit.chain import ChainEntry, Draft
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.postgres import PostgresAuditStore
from gateway.audit.service import AuditStore, ErasureReceipt, parse_key
from gateway.core.usage import UsageRecord
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.content import ContentCapture, masked
from gateway.settings import Settings
from gateway.telemetry.content_log import ContentEntry, FileContentLog
from gateway.telemetry.logs import log_request
from gateway.telemetry.request_metrics import observe
from gateway.telemetry.tracing import (
    build_tracer_provider,
    finish_request_span,
    start_request_span,
)

log = structlog.get_logger("gateway.audit")
AUDIT_FAILURES = Counter(
    "sovereign_audit_failures_total", "Audit records that could not be appended (logged)."
)
SLICE_S = 0.0002  # the longest a flush records in one go before it lets the loop run others
CONTENT_FAILURES = Counter(
    "sovereign_content_log_failures_total",
    "Requests whose masked content could not be logged (content logging on; logged).",
)


@dataclass(frozen=True, slots=True)
class _Finished:
    """A request that ended and is waiting for the next flush to be recorded."""

    span: Span
    record: UsageRecord
    content: Mapping[str, str] | None
    error_type: str | None
    ended_ns: int  # when it ended: the span ends then, not at the flush
    provenance: str | None = None  # the answer's signed token (gateway/provenance)


class Observability:
    def __init__(
        self,
        provider: TracerProvider,
        audit: AuditTrail,
        content_log: FileContentLog,
        *,
        flush_interval_s: float = 0.0,
        models: frozenset[str] = frozenset(),
        slice_s: float = SLICE_S,
    ) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("sovereign-gateway")
        self.audit = audit
        self.content_log = content_log
        audit.add_eraser("content_log", lambda _raw, ref: content_log.erase(ref))
        self._interval = flush_interval_s
        self._slice_s = slice_s
        self._models = models  # served model names: metric labels take no other
        self._pending: list[_Finished] = []
        self._timer: asyncio.TimerHandle | None = None
        self._draining: asyncio.Task[None] | None = None

    def start(
        self,
        endpoint: str,
        model: str,
        request_id: str,
        tenant: str,
        payload: Mapping[str, Any],
        started_at: float,
    ) -> Span:
        return start_request_span(
            self.tracer,
            operation=endpoint,
            model=model,
            request_id=request_id,
            tenant=tenant,
            payload=payload,
            started_at=started_at,
        )

    def finished(
        self,
        span: Span,
        record: UsageRecord,
        *,
        content: Mapping[str, str] | None = None,
        error_type: str | None = None,
        provenance: str | None = None,
    ) -> None:
        """The request ended: its span, metrics, log line and audit record are recorded with
        the next flush (within ``flush_interval_s``), all pending requests together. Nothing
        here waits, and the next request on the loop does not wait behind this one's."""
        item = _Finished(span, record, content, error_type, time.time_ns(), provenance)
        self._pending.append(item)
        if self._interval <= 0:
            self._enqueue(self._record(self._take_all()))
        elif self._timer is None and self._draining is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._drain_soon)

    def _drain_soon(self) -> None:
        self._timer = None
        self._draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        """Record the pending requests in slices of at most ``slice_s``, letting other tasks
        run in between (a long burst would stall the requests in flight), then queue all
        their audit records at once: one write and one fsync for the whole batch."""
        sealed: list[tuple[str, Draft]] = []
        try:
            while self._pending:
                self._record_slice(sealed)
                await asyncio.sleep(0)
        finally:
            self._draining = None
            self._enqueue(sealed)

    def _record_slice(self, sealed: list[tuple[str, Draft]]) -> None:
        """Record pending requests, oldest first, until ``slice_s`` has passed (one at least)."""
        deadline = time.perf_counter() + self._slice_s
        taken = 0
        try:
            for item in self._pending:
                taken += 1
                self._record_one(item, sealed)
                if time.perf_counter() >= deadline:
                    break
        finally:  # recorded once, even if one of them raised
            del self._pending[:taken]

    def _take_all(self) -> list[_Finished]:
        pending, self._pending = self._pending, []
        return pending

    def _record(self, items: list[_Finished]) -> list[tuple[str, Draft]]:
        sealed: list[tuple[str, Draft]] = []
        for item in items:
            self._record_one(item, sealed)
        return sealed

    def _record_one(self, item: _Finished, sealed: list[tuple[str, Draft]]) -> None:
        """Span end, metrics and log line of the request; its audit record sealed (added to
        ``sealed``)."""
        record = item.record
        finish_request_span(
            item.span, record, error_type=item.error_type, end_time_ns=item.ended_ns
        )
        observe(record, self._models)
        log_request(record)
        try:
            sealed.append(
                (
                    record.request_id,
                    self.audit.seal_request(
                        record, content=item.content, provenance=item.provenance
                    ),
                )
            )
        except Exception:  # sealing failed (a bug): the request was served; loudly lost
            _audit_failed(record.request_id)

    def _enqueue(self, sealed: list[tuple[str, Draft]]) -> None:
        if not sealed:
            return
        written = self.audit.enqueue([item for _, item in sealed])
        # One callback for the batch: a failed write is counted and logged per request.
        request_ids = tuple(request_id for request_id, _ in sealed)
        written.add_done_callback(functools.partial(_audit_written, request_ids))

    async def flush(self) -> None:
        """Record what is pending now and wait until its audit records are written."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._draining is not None:
            await asyncio.shield(self._draining)
        self._enqueue(self._record(self._take_all()))
        await self.audit.flush()

    async def erase(self, raw_subject: str, actor: str) -> ErasureReceipt:
        """GDPR Art. 17 across every store (see ``AuditTrail.erase``), after recording what
        is pending, so that no record of the subject is written after its erasure."""
        await self.flush()
        return await self.audit.erase(raw_subject, actor=actor)

    async def record_content(
        self, record: UsageRecord, capture: ContentCapture, analysis: AnalysisService
    ) -> dict[str, str] | None:
        """Mask the request's texts and append them to the content log; returns the audit
        record's commitment to the line (its SHA-256), or None if nothing could be logged
        (counted and logged: the request itself was served)."""
        try:
            prompt, answer = capture.prompt, capture.answer
            texts = await masked(analysis, capture.policy, [*prompt, *answer], record.tenant)
            line = await self.content_log.append(
                ContentEntry(
                    at=time.time(),
                    tenant=record.tenant,
                    request_id=record.request_id,
                    subject_ref=record.subject_ref,
                    policy=record.policy,
                    prompt=texts[: len(prompt)],
                    answer=texts[len(prompt) :],
                )
            )
        except Exception:
            CONTENT_FAILURES.inc()
            log.exception("content_log.append_failed", request_id=record.request_id)
            return None
        return {"content_log_sha256": line}

    def subject_ref(self, subject: str | None) -> str | None:
        """The keyed reference of a data subject (None without one)."""
        return self.audit.subject_ref(subject) if subject else None

    async def admin_action(
        self, action: str, tenant: str, target: dict[str, str], fields: list[str], *, actor: str
    ) -> None:
        """An admin change (tenants, keys) in the audit trail: ids and field names only, and
        who made it (``Actor.id``: "admin-token", "token:<id>", "oidc:...")."""
        try:
            await self.audit.record_admin(
                actor, action, tenant=tenant, target=target, fields=fields
            )
        except Exception:
            AUDIT_FAILURES.inc()
            log.exception("audit.append_failed", action=action)

    async def retention_forever(
        self, retention_days: Mapping[str, float], default_days: float, interval_s: float
    ) -> None:
        """The purge job: each tenant's audit entries past its retention are pruned (the
        chain keeps verifying), once per ``interval_s``, in every replica (idempotent)."""
        await asyncio.sleep(min(interval_s, 60.0))  # not in the way of the start-up
        while True:
            try:
                await self.audit.purge_expired(retention_days, default_days=default_days)
            except Exception:
                log.exception("audit.purge_failed")
            try:
                await self.content_log.purge(retention_days, default_days)
            except Exception:
                log.exception("content_log.purge_failed")
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        await self.flush()
        self.provider.shutdown()
        await self.audit.close()
        await self.content_log.close()


def _audit_failed(request_id: str) -> None:
    AUDIT_FAILURES.inc()
    log.exception("audit.append_failed", request_id=request_id)


def _audit_written(request_ids: tuple[str, ...], written: asyncio.Future[list[ChainEntry]]) -> None:
    if written.cancelled():
        reason = "cancelled"
    elif (error := written.exception()) is not None:
        reason = repr(error)
    else:
        return
    for request_id in request_ids:
        AUDIT_FAILURES.inc()
        log.error("audit.append_failed", request_id=request_id, reason=reason)


def subject_key(settings: Settings) -> bytes:
    """The key of subject references (HMACs of the OpenAI ``user`` value or the subject
    header): stable across restarts, or erasure could not find a subject's records."""
    pseudonym = settings.security.pseudonym_key
    if pseudonym is not None:
        seed = base64.b64decode(pseudonym.get_secret_value())
        return hmac.new(seed, b"sovereign-audit-subject", hashlib.sha256).digest()
    path = settings.telemetry.audit_dir / "subject.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


async def open_audit_trail(settings: Settings, chain: str = "cli") -> AuditTrail:
    """The configured audit sink (PostgreSQL, else the file), with its keys: the gateway's,
    and the CLIs' that record admin changes or erase subjects. ``chain``: the PostgreSQL
    chain this process appends to (a replica's own; the CLIs share ``cli``)."""
    telemetry = settings.telemetry
    sink = telemetry.audit
    store: AuditStore
    if sink is not None and sink.dsn is not None:
        store = await PostgresAuditStore.open(
            sink.dsn.get_secret_value(), schema=sink.schema_name, chain=chain
        )
    else:
        path = sink.path if sink is not None and sink.path else telemetry.audit_dir
        store = FileAuditStore(path / FILE_NAME if path.suffix == "" else path)
    key = (
        parse_key(sink.hmac_key.get_secret_value(), "HMAC key") if sink and sink.hmac_key else None
    )
    return AuditTrail(store, key, subject_key(settings))


async def build_observability(settings: Settings, gateway: str) -> Observability:
    traces = settings.telemetry.traces
    endpoint = str(traces.endpoint) if traces is not None else None
    provider = build_tracer_provider(service_name="sovereign-gateway", endpoint=endpoint)
    sink = settings.telemetry.audit
    trail = await open_audit_trail(settings, chain=(sink.chain if sink else None) or gateway)
    return Observability(
        provider,
        trail,
        FileContentLog(content_log_path(settings)),
        flush_interval_s=settings.telemetry.flush_interval_ms / 1000,
        models=frozenset(m for pool in settings.pools for m in pool.models),
    )


def content_log_path(settings: Settings) -> Path:
    """The content log's file: the declared sink's, else content.jsonl beside the audit."""
    telemetry = settings.telemetry
    if telemetry.content is not None:
        return telemetry.content.path
    return telemetry.audit_dir / FileContentLog.FILE_NAME
