"""Tenant and key management: one service behind the admin API and the CLI.

Keys are shown once, when issued, and stored only as hashes. Revoking sets ``revoked_at``;
rotating issues a new key and revokes the old one, at once or after a grace period.
Every change names its ``actor`` (``Actor.id``: "admin-token", "oidc:...", "cli"), the
identity the audit trail records for it; who may make it is decided before, by the caller
(``gateway.admin.service``).
Bootstrap from the YAML file: tenants it declares are written on every start (the file is
authoritative for them); keys it declares are added when their id is new, so a key revoked
through the API stays revoked even if the file still lists it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Protocol

from pydantic import ValidationError

from gateway.auth import hash_key, new_key
from gateway.core.limits import Limits
from gateway.core.tenant import TenantSpec
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.settings import Settings
from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import DirectoryStore


class AdminAuditHook(Protocol):
    async def __call__(
        self, action: str, tenant: str, target: dict[str, str], fields: list[str], *, actor: str
    ) -> None: ...


class TenantAdmin:
    def __init__(
        self,
        store: DirectoryStore,
        pepper: bytes | None,
        policies: Collection[str] | None = None,
        audit: AdminAuditHook | None = None,
        on_change: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._store = store
        self._pepper = pepper
        # This replica's directory, reloaded after each change made here: a key issued or
        # revoked through this replica is in force on it at once (the others follow at their
        # next poll of the store).
        self._on_change = on_change
        # Every change is recorded in the audit trail (ids and field names, never keys).
        self._audit = audit
        # The policy ids this deployment knows; None: not checked (tools without policies).
        self._policies = None if policies is None else frozenset(policies)

    async def _record(
        self, actor: str, action: str, tenant: str, target: dict[str, str], fields: list[str]
    ) -> None:
        """After a change is stored: in force here, and on record."""
        if self._on_change is not None:
            await self._on_change()
        if self._audit is not None:
            await self._audit(action, tenant, target, fields, actor=actor)

    def _check_policy(self, policy: str | None) -> None:
        if policy is None or self._policies is None or policy in self._policies:
            return
        known = ", ".join(sorted(self._policies))
        raise InvalidRequest(f"Unknown policy {policy!r}; known: {known}.", param="policy")

    async def bootstrap(self, settings: Settings) -> None:
        snapshot = await self._store.snapshot()
        now = time.time()
        for t in settings.tenants:
            existing = snapshot.tenants.get(t.id)
            record = TenantRecord.of(t, existing.created_at if existing else now, now)
            if existing is None or _differs(existing, record):
                await self._store.put_tenant(record)
            for k in t.api_keys:
                await self._store.add_key(
                    KeyRecord(id=k.id, tenant=t.id, hash=k.hash, limits=k.limits, created_at=now)
                )

    async def tenants(self) -> list[TenantRecord]:
        return sorted((await self._store.snapshot()).tenants.values(), key=lambda t: t.id)

    async def tenant(self, tenant_id: str) -> TenantRecord:
        found = (await self._store.snapshot()).tenants.get(tenant_id)
        if found is None:
            raise NotFound(f"No tenant {tenant_id!r}.", code="tenant_not_found")
        return found

    async def create_tenant(self, spec: TenantSpec, *, actor: str) -> TenantRecord:
        self._check_policy(spec.policy)
        if spec.id in (await self._store.snapshot()).tenants:
            raise Conflict(f"Tenant {spec.id!r} exists already.")
        now = time.time()
        record = TenantRecord.of(spec, now, now)
        await self._store.put_tenant(record)
        await self._record(actor, "tenant.create", spec.id, {"tenant": spec.id}, [])
        return record

    async def update_tenant(
        self, tenant_id: str, changes: Mapping[str, object], *, actor: str
    ) -> TenantRecord:
        """``changes``: the spec's fields to set (``id`` excepted); the others stay."""
        if "id" in changes:
            raise InvalidRequest("A tenant's id cannot change.", param="id")
        policy = changes.get("policy")
        self._check_policy(policy if isinstance(policy, str) else None)
        current = await self.tenant(tenant_id)
        try:
            record = TenantRecord.model_validate(
                {**current.model_dump(), **changes, "updated_at": time.time()}
            )
        except ValidationError as exc:
            raise InvalidRequest(f"Invalid tenant: {exc.errors()[0]['msg']}.") from exc
        await self._store.put_tenant(record)
        fields = sorted(changes)
        await self._record(actor, "tenant.update", tenant_id, {"tenant": tenant_id}, fields)
        return record

    async def keys(self, tenant_id: str) -> list[KeyRecord]:
        await self.tenant(tenant_id)
        snapshot = await self._store.snapshot()
        found = [k for k in snapshot.keys.values() if k.tenant == tenant_id]
        return sorted(found, key=lambda k: k.created_at)

    async def issue_key(
        self,
        tenant_id: str,
        key_id: str | None = None,
        limits: Limits | None = None,
        *,
        actor: str,
    ) -> tuple[KeyRecord, str]:
        """A new key: its record, and the key itself (shown once, never stored)."""
        await self.tenant(tenant_id)
        key = new_key()
        record = KeyRecord(
            id=key_id or f"{tenant_id}-{secrets.token_hex(4)}",
            tenant=tenant_id,
            hash=hash_key(key, self._pepper),
            hint=key[-4:],
            limits=limits,
            created_at=time.time(),
        )
        if not await self._store.add_key(record):
            raise Conflict(f"Key id {record.id!r} exists already.")
        await self._record(actor, "key.issue", tenant_id, {"key": record.id}, [])
        return record, key

    async def _key(self, tenant_id: str, key_id: str) -> KeyRecord:
        found = (await self._store.snapshot()).keys.get(key_id)
        if found is None or found.tenant != tenant_id:
            raise NotFound(f"Tenant {tenant_id!r} has no key {key_id!r}.", code="key_not_found")
        return found

    async def revoke_key(
        self, tenant_id: str, key_id: str, after_s: float = 0, *, actor: str
    ) -> KeyRecord:
        current = await self._key(tenant_id, key_id)
        if after_s < 0:
            raise InvalidRequest("A revocation cannot lie in the past.", param="after_seconds")
        at = time.time() + after_s
        if current.revoked_at is not None and current.revoked_at <= at:
            return current  # already revoked, earlier: keep the earlier time
        record = current.model_copy(update={"revoked_at": at})
        await self._store.put_key(record)
        await self._record(actor, "key.revoke", tenant_id, {"key": key_id}, ["revoked_at"])
        return record

    async def rotate_key(
        self, tenant_id: str, key_id: str, grace_s: float = 0, *, actor: str
    ) -> tuple[KeyRecord, str]:
        """Issue a successor with the same limits; the old key stops after ``grace_s``."""
        old = await self._key(tenant_id, key_id)
        if not old.active(time.time()):
            raise Conflict(f"Key {key_id!r} is revoked; issue a new one instead.")
        record, key = await self.issue_key(tenant_id, limits=old.limits, actor=actor)
        await self.revoke_key(tenant_id, key_id, after_s=grace_s, actor=actor)
        return record, key


def _differs(a: TenantRecord, b: TenantRecord) -> bool:
    ignore = {"created_at", "updated_at"}
    return a.model_dump(exclude=ignore) != b.model_dump(exclude=ignore)
