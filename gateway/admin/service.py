"""Administration as one service, for the admin API and the console alike: every operation
takes the acting identity first and checks its permission (``rules.require``) before any
work, so there is one place where who-may-do-what is decided.

The work itself is done where it always was: tenants and keys by ``TenantAdmin`` (which
records every change in the audit trail under the actor's id), usage from the ledger
(``Metering.usage``), erasure by the audit trail, the computations by ``insight``.

The decisions themselves are pure, in ``rules`` (which also says what a tenant admin may
change of its tenant).
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Mapping
from typing import Literal, Protocol

from gateway.admin.engines import EngineStatus, engine_statuses
from gateway.admin.insight import Bucket, GroupBy, findings, series
from gateway.admin.rules import audit_scope, check_changes, not_found, require, require_any
from gateway.admin.schemas import IssuedKey, KeyOut, RotatedKey, UsageReport
from gateway.admin.views import (
    AuditEntryView,
    AuditPage,
    AuditVerification,
    ErasureEntry,
    PolicyView,
    UsageSeries,
)
from gateway.audit.browse import Cursor, RecordQuery
from gateway.audit.service import ERASE_ACTION, ErasureReceipt
from gateway.batches.routes import BatchApi
from gateway.core.limits import Limits
from gateway.core.tenant import TenantSpec
from gateway.core.usage import UsageRecord
from gateway.errors import NotFound
from gateway.identity.roles import Actor, Permission
from gateway.metering.service import Metering
from gateway.privacy.service import Privacy
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.telemetry.hub import Observability
from gateway.tenancy.admin import TenantAdmin
from gateway.tenancy.records import TenantRecord
from gateway.topology import Topology
from gateway.usage_export import summarise, write_csv

AuditKind = Literal["request", "admin"]


class AdminResources(Protocol):
    """What administration needs of the lifespan's resources (``gateway.resources``)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tenant_admin(self) -> TenantAdmin: ...

    @property
    def metering(self) -> Metering: ...

    @property
    def observability(self) -> Observability: ...

    @property
    def router(self) -> Router: ...

    @property
    def topology(self) -> Topology: ...

    @property
    def privacy(self) -> Privacy: ...


class AdminService:
    def __init__(self, resources: AdminResources, batches: BatchApi | None = None) -> None:
        self._r = resources
        self._tenants = resources.tenant_admin
        self._batches = batches

    # Tenants

    async def tenants(self, actor: Actor) -> list[TenantRecord]:
        everyone = await self._tenants.tenants()
        visible = set(actor.tenants_visible([t.id for t in everyone]))
        return [t for t in everyone if t.id in visible]

    async def tenant(self, actor: Actor, tenant_id: str) -> TenantRecord:
        require(actor, Permission.TENANTS_READ, tenant_id)
        return await self._tenants.tenant(tenant_id)

    async def create_tenant(self, actor: Actor, spec: TenantSpec) -> TenantRecord:
        require(actor, Permission.TENANTS_CREATE)
        return await self._tenants.create_tenant(spec, actor=actor.id)

    async def update_tenant(
        self, actor: Actor, tenant_id: str, changes: Mapping[str, object]
    ) -> TenantRecord:
        require(actor, Permission.TENANTS_WRITE, tenant_id)
        current = await self._tenants.tenant(tenant_id)
        check_changes(actor, changes, current.limits)
        return await self._tenants.update_tenant(tenant_id, changes, actor=actor.id)

    async def policies(self, actor: Actor) -> list[str]:
        require(actor, Permission.POLICY_READ, actor.tenant)
        return sorted(self._r.privacy.catalogue.policies)

    # Keys

    async def keys(self, actor: Actor, tenant_id: str) -> list[KeyOut]:
        require(actor, Permission.KEYS_READ, tenant_id)
        now = time.time()
        return [KeyOut.of(k, now) for k in await self._tenants.keys(tenant_id)]

    async def issue_key(
        self,
        actor: Actor,
        tenant_id: str,
        key_id: str | None = None,
        limits: Limits | None = None,
    ) -> IssuedKey:
        require(actor, Permission.KEYS_WRITE, tenant_id)
        record, key = await self._tenants.issue_key(tenant_id, key_id, limits, actor=actor.id)
        return IssuedKey(**KeyOut.of(record, time.time()).model_dump(), key=key)

    async def rotate_key(
        self, actor: Actor, tenant_id: str, key_id: str, grace_s: float = 0
    ) -> RotatedKey:
        require(actor, Permission.KEYS_WRITE, tenant_id)
        record, key = await self._tenants.rotate_key(tenant_id, key_id, grace_s, actor=actor.id)
        # rotate_key returns the successor only; read back the old key for its revocation.
        previous = next((k for k in await self._tenants.keys(tenant_id) if k.id == key_id), None)
        if previous is None:  # pragma: no cover - the key existed a moment ago
            raise NotFound(f"Tenant {tenant_id!r} has no key {key_id!r}.", code="key_not_found")
        now = time.time()
        return RotatedKey(
            **KeyOut.of(record, now).model_dump(), key=key, previous=KeyOut.of(previous, now)
        )

    async def revoke_key(
        self, actor: Actor, tenant_id: str, key_id: str, after_s: float = 0
    ) -> KeyOut:
        require(actor, Permission.KEYS_WRITE, tenant_id)
        record = await self._tenants.revoke_key(tenant_id, key_id, after_s, actor=actor.id)
        return KeyOut.of(record, time.time())

    # Usage

    async def _usage(
        self, actor: Actor, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> list[UsageRecord]:
        require(actor, Permission.USAGE_READ, tenant_id)
        await self._tenants.tenant(tenant_id)  # an unknown tenant is a 404, not zero usage
        return await self._r.metering.usage(tenant_id, since.timestamp(), until.timestamp())

    async def usage_report(
        self,
        actor: Actor,
        tenant_id: str,
        since: dt.datetime,
        until: dt.datetime,
        records: bool = False,
    ) -> UsageReport:
        found = await self._usage(actor, tenant_id, since, until)
        return UsageReport.of(tenant_id, since, until, summarise(found), found if records else None)

    async def usage_series(
        self,
        actor: Actor,
        tenant_id: str,
        since: dt.datetime,
        until: dt.datetime,
        bucket: Bucket = "day",
        by: GroupBy | None = None,
    ) -> UsageSeries:
        found = await self._usage(actor, tenant_id, since, until)
        computed = series(found, since, until, bucket, by)
        return UsageSeries.of(tenant_id, since, until, bucket, by, computed)

    async def usage_csv(
        self, actor: Actor, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> str:
        out = io.StringIO(newline="")
        write_csv(await self._usage(actor, tenant_id, since, until), out)
        return out.getvalue()

    # Engines and policies

    async def engines(self, actor: Actor) -> list[EngineStatus]:
        require(actor, Permission.ENGINES_READ)
        return engine_statuses(self._r.router, self._r.topology)

    async def policy_view(
        self, actor: Actor, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> PolicyView:
        require(actor, Permission.POLICY_READ, tenant_id)
        record = await self._tenants.tenant(tenant_id)
        catalogue = self._r.privacy.catalogue
        name = record.policy or catalogue.default
        source: Literal["tenant", "default"] = "tenant" if record.policy else "default"
        policy = catalogue.policies.get(name) if name else None
        used = await self._r.metering.usage(tenant_id, since.timestamp(), until.timestamp())
        return PolicyView.of(tenant_id, policy, source, since, until, findings(used))

    # The audit trail

    async def audit_verify(self, actor: Actor) -> AuditVerification:
        require(actor, Permission.AUDIT_READ)  # the chains are the platform's, not a tenant's
        audit = self._r.observability
        await audit.flush()
        return AuditVerification.of(await audit.audit.verify())

    async def audit_records(
        self,
        actor: Actor,
        *,
        tenant: str | None = None,
        kind: AuditKind | None = None,
        since: float | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Newest first. A tenant admin sees its own tenant's entries only (``tenant`` None:
        its own); others every tenant's, and gateway-wide entries when ``tenant`` is None."""
        tenants = audit_scope(actor, tenant)
        cursor = Cursor.parse(before) if before else None
        query = RecordQuery(tenants, kind, None, since, cursor, limit)
        found = await self._r.observability.audit.newest(query)
        more = len(found) == limit
        return AuditPage(
            records=[AuditEntryView.of(f) for f in found],
            next_before=found[-1].cursor.text() if more else None,
        )

    async def erase_subject(self, actor: Actor, subject: str) -> ErasureReceipt:
        require(actor, Permission.ERASURE)
        return await self._r.observability.erase(subject, actor=actor.id)

    async def erasure_receipts(self, actor: Actor, limit: int = 50) -> list[ErasureEntry]:
        """The erasures the audit chains recorded, newest first (DPO, auditor)."""
        require_any(actor, Permission.ERASURE, Permission.AUDIT_READ)
        query = RecordQuery(None, "admin", ERASE_ACTION, None, None, limit)
        return [ErasureEntry.of(f) for f in await self._r.observability.audit.newest(query)]

    # Batches

    async def erase_tenant_batches(self, actor: Actor, tenant_id: str) -> int:
        require(actor, Permission.BATCHES_ERASE, tenant_id)
        if self._batches is None:
            raise not_found(tenant_id)  # pragma: no cover - the app always has batches
        deleted = await self._batches.service.erase_tenant(tenant_id)
        await self._r.observability.admin_action(
            "tenant.batches.erase", tenant_id, {"tenant": tenant_id}, ["deleted"], actor=actor.id
        )
        return deleted
