"""This replica's view of tenants and keys: authenticates locally, reloads on every change.

Authentication never waits for Redis: it reads an immutable ring built from the last
snapshot. A watcher polls the store's version (``directory_poll_interval``, 250 ms by
default) and swaps in a new ring when it changed, so a revocation made on any replica stops
the key everywhere within a second. While Redis is unreachable the last ring stays in force
(revocations made meanwhile take effect when it is back), and the outage is logged once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping

import structlog

from gateway.auth import KeyRing
from gateway.core.limits import scopes_for
from gateway.core.tenant import Principal, Tenant
from gateway.tenancy.store import DirectoryStore, Snapshot

log = structlog.get_logger("gateway.directory")


def build_ring(snapshot: Snapshot, pepper: bytes | None, now: float) -> KeyRing:
    tenants = {tid: t.runtime() for tid, t in snapshot.tenants.items()}
    entries: list[tuple[str, Principal]] = []
    for key in snapshot.keys.values():
        tenant = tenants.get(key.tenant)
        if tenant is None or not key.active(now):
            continue
        scopes = scopes_for(tenant.id, tenant.limits, key.id, key.limits)
        entries.append((key.hash, Principal(tenant, key.id, scopes, key.revoked_at)))
    return KeyRing(entries, pepper)


class Directory:
    def __init__(
        self, store: DirectoryStore, pepper: bytes | None, poll_interval: float = 0.25
    ) -> None:
        self._store = store
        self._pepper = pepper
        self._poll = poll_interval
        self._version = -1
        self._ring = KeyRing([], pepper)
        self._tenants: dict[str, Tenant] = {}
        self._retention: dict[str, float] = {}
        self._healthy = True

    @property
    def version(self) -> int:
        return self._version

    def retention_days(self) -> Mapping[str, float]:
        """Each tenant's retention, as stored now (the admin API changes it): the purge reads
        it at every run, so a change applies at the next one."""
        return _Live(self)

    def authenticate(self, authorization: str | None) -> Principal:
        return self._ring.authenticate(authorization)

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant as the directory has it now (bearer JWTs name their tenant)."""
        return self._tenants.get(tenant_id)

    def principal(self, key_id: str) -> Principal | None:
        """The key's principal as the directory has it now (None: revoked, or unknown)."""
        return self._ring.of_key(key_id)

    async def refresh(self) -> bool:
        """Reload if the store changed; True if a new ring is in force."""
        if await self._store.version() == self._version:
            return False
        snapshot = await self._store.snapshot()
        for record, why in sorted(snapshot.unreadable.items()):
            log.error("directory.unreadable_record", record=record, error=why,
                      version=snapshot.version)  # fmt: skip
        # In a thread: every key of the directory, on any change anywhere (~5 us a key; 164
        # tenants' keys held the loop for 1.5 ms, thousands would for tens).
        self._ring = await asyncio.to_thread(build_ring, snapshot, self._pepper, time.time())
        self._tenants = {tid: t.runtime() for tid, t in snapshot.tenants.items()}
        self._retention = {
            t.id: float(t.retention_days) for t in snapshot.tenants.values() if t.retention_days
        }
        self._version = snapshot.version
        return True

    async def watch(self) -> None:
        """Run until cancelled (a lifespan task)."""
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.refresh()
            except Exception as exc:  # Redis down, or a bad record: keep the last ring
                if self._healthy:
                    log.warning("directory.refresh_failed", error=type(exc).__name__)
                self._healthy = False
            else:
                if not self._healthy:
                    log.info("directory.refresh_recovered", version=self._version)
                self._healthy = True


class _Live(Mapping[str, float]):
    """The directory's current retention map, read at each access."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def __getitem__(self, tenant: str) -> float:
        return self._directory._retention[tenant]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._directory._retention))

    def __len__(self) -> int:
        return len(self._directory._retention)
