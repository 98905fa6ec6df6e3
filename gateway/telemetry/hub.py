"""Everything that happens once per request besides serving it: the trace span, the request
metrics, the log line and the audit record. Built once in the lifespan.

The span is opened when the request arrives and closed with the request's usage record (the
facts, never content). Metrics and the log line are cheap and synchronous; the audit append
is awaited after the answer was sent (metering's place in the request), and a failed append
is counted and logged rather than lost silently.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, Tracer
from prometheus_client import Counter

from gateway.audit import AuditTrail
from gateway.audit.file import FILE_NAME, FileAuditStore
from gateway.audit.postgres import PostgresAuditStore
from gateway.audit.service import AuditStore, parse_key
from gateway.metering.record import UsageRecord
from gateway.settings import Settings
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


class Observability:
    def __init__(self, provider: TracerProvider, audit: AuditTrail) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("sovereign-gateway")
        self.audit = audit

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

    async def finished(
        self,
        span: Span,
        record: UsageRecord,
        *,
        subject: str | None = None,
        error_type: str | None = None,
    ) -> None:
        finish_request_span(span, record, error_type=error_type)
        observe(record)
        log_request(record)
        try:
            await self.audit.record_request(record, subject=subject)
        except Exception:
            AUDIT_FAILURES.inc()
            log.exception("audit.append_failed", request_id=record.request_id)

    async def admin_action(
        self, action: str, tenant: str, target: dict[str, str], fields: list[str]
    ) -> None:
        """An admin change (tenants, keys) in the audit trail: ids and field names only."""
        try:
            await self.audit.record_admin(
                "admin-api", action, tenant=tenant, target=target, fields=fields
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
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        self.provider.shutdown()
        await self.audit.close()


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


async def build_observability(settings: Settings, gateway: str) -> Observability:
    telemetry = settings.telemetry
    endpoint = str(telemetry.traces.endpoint) if telemetry.traces is not None else None
    provider = build_tracer_provider(service_name="sovereign-gateway", endpoint=endpoint)
    sink = telemetry.audit
    store: AuditStore
    if sink is not None and sink.dsn is not None:
        store = await PostgresAuditStore.open(sink.dsn.get_secret_value())
    else:
        path = sink.path if sink is not None and sink.path else telemetry.audit_dir
        store = FileAuditStore(path / FILE_NAME if path.suffix == "" else path)
    key = (
        parse_key(sink.hmac_key.get_secret_value(), "HMAC key") if sink and sink.hmac_key else None
    )
    return Observability(provider, AuditTrail(store, key, subject_key(settings)))
