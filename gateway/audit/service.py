"""The audit trail as the gateway uses it: record, verify, enforce retention, erase a subject.

Stores sit behind one protocol, ``AuditStore``: ``PostgresAuditStore`` for deployments
(each replica appends to a chain of its own, and a periodic anchor commits every chain's
head into one anchor chain), ``FileAuditStore`` as the embedded default (one chain).
Sealing and verification are pure (``gateway.audit.chain``, ``gateway.audit.anchor``);
``gateway.audit.trail_check`` verifies a whole store; this module adds the clock, the
salts and the keys.

Keys: ``hmac_key`` signs every entry (without it the chain only detects changes made by
someone who does not recompute the hashes). ``subject_key`` turns a data subject's
identifier into ``subject_ref``; it must stay the same for as long as records are kept, or
a later erasure request will not find the earlier records (None: verification and purges
only, which never need it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import structlog
from pydantic import BaseModel, ConfigDict

from gateway.audit.anchor import AnchorEntry
from gateway.audit.browse import Found, RecordQuery
from gateway.audit.chain import (
    PURGE_ACTION,
    ChainEntry,
    ChainHead,
    Draft,
    canonical,
    digest,
    draft,
)
from gateway.audit.records import (
    AdminAudit,
    AuditRecord,
    AuditUnavailable,
    Detail,
    RequestAudit,
)
from gateway.audit.trail_check import ChainReader, TrailReport, check_trail
from gateway.core.usage import UsageRecord

log = structlog.get_logger("gateway.audit")

ERASE_ACTION = "subject.erase"
DAY = 86_400.0
MIN_KEY_BYTES = 16

# Erases one subject's data in another store (ledger, pseudonym vault, content logs): gets
# the raw identifier and its subject_ref, returns how many items it removed.
Eraser = Callable[[str, str], Awaitable[int]]


class AuditStore(ChainReader, Protocol):
    @property
    def chain(self) -> str:
        """The chain this store appends to (the replica's, in PostgreSQL)."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[ChainReader]:
        """A reader that sees the whole store at one moment (PostgreSQL: one read-only
        transaction), for verification."""
        ...

    async def append(self, drafts: Sequence[Draft]) -> list[ChainEntry]:
        """Link the drafts, in order, to the head of this store's chain and store them:
        atomically, and one batch at a time across every writer of that chain."""
        ...

    async def entries(
        self, after_seq: int = 0, limit: int = 1000, chain: str | None = None
    ) -> list[ChainEntry]:
        """Up to ``limit`` entries of a chain (None: this store's) above ``after_seq``."""
        ...

    async def anchor(
        self, at: float, hmac_key: bytes | None, min_gap: float = 0.0
    ) -> AnchorEntry | None:
        """Commit every chain's head in the next anchor; None if another writer anchored
        less than ``min_gap`` seconds ago, nothing moved, or the store keeps no anchors."""
        ...

    async def tenants(self) -> set[str]:
        """The tenants that have entries not yet pruned (in any chain)."""
        ...

    async def newest(self, query: RecordQuery) -> list[Found]:
        """The newest matching entries of every chain, for people to read (``browse``)."""
        ...

    async def purge(self, tenant: str, before: float) -> int:
        """Prune the tenant's entries made before ``before``, in every chain; the number."""
        ...

    async def erase(self, subject_ref: str) -> int:
        """Erase the erasable fields of the subject's entries in every chain; the number."""
        ...

    async def close(self) -> None: ...


Written = asyncio.Future[list[ChainEntry]]  # a group's entries, once written


class _GroupCommit:
    """Records that arrive while a write is in flight go together in the next one: a
    chain has one writer at a time (its head row's lock, or the file's), so a lock and a
    commit per batch rather than per record is what keeps it from becoming the bottleneck.

    Records are queued in groups (a telemetry flush queues a few hundred at once), each
    with one future: settling a future per record cost the event loop a few microseconds a
    record, all in one go after each write. A group is never split across writes; a write
    takes whole groups up to ``max_batch`` records (one group at least, however large)."""

    def __init__(
        self, write: Callable[[list[Draft]], Awaitable[list[ChainEntry]]], max_batch: int
    ) -> None:
        self._write = write
        self._max = max_batch
        self._pending: list[tuple[list[Draft], Written]] = []
        self._task: asyncio.Task[None] | None = None

    def enqueue(self, items: Sequence[Draft]) -> Written:
        """Queue ``items`` for the next write, together and in order; the future settles
        with their entries when they are written."""
        future: Written = asyncio.get_running_loop().create_future()
        if not items:
            future.set_result([])
            return future
        self._pending.append((list(items), future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return future

    async def submit(self, item: Draft) -> ChainEntry:
        # Shielded: a caller that gives up (its task cancelled) does not unwrite the record.
        entries = await asyncio.shield(self.enqueue([item]))
        return entries[0]

    async def wait(self) -> None:
        """Until everything submitted so far is written (or has failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        batch: list[tuple[list[Draft], Written]] = []
        try:
            while self._pending:
                batch = self._take()
                try:
                    drafts = [item for group, _ in batch for item in group]
                    entries = await self._write(drafts)
                    if len(entries) != len(drafts):
                        raise AuditUnavailable(
                            f"the audit store wrote {len(entries)} of {len(drafts)} records"
                        )
                    start = 0
                    for group, future in batch:
                        _settle(future, entries[start : start + len(group)])
                        start += len(group)
                except Exception as exc:
                    for _, future in batch:
                        _settle(future, exc)
        except BaseException:  # cancelled: nobody may wait forever for a write
            stopped = AuditUnavailable("the audit writer was stopped before writing this record")
            for _, future in batch + self._pending:
                _settle(future, stopped)
            self._pending.clear()
            raise
        finally:
            self._task = None

    def _take(self) -> list[tuple[list[Draft], Written]]:
        """Whole groups, oldest first, up to ``max_batch`` records (one group at least)."""
        count = taken = 0
        for group, _ in self._pending:
            if taken and count + len(group) > self._max:
                break
            count += len(group)
            taken += 1
        batch = self._pending[:taken]
        del self._pending[:taken]
        return batch


def _settle(future: Written, outcome: list[ChainEntry] | BaseException) -> None:
    if future.done():  # its caller gave up; the outcome is theirs to lose
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _first(written: Written) -> asyncio.Future[ChainEntry]:
    """The entry of a group of one, as a future of its own."""
    first: asyncio.Future[ChainEntry] = asyncio.get_running_loop().create_future()

    def copy(done: Written) -> None:
        if first.done():
            return
        if done.cancelled():
            first.cancel()
        elif (error := done.exception()) is not None:
            first.set_exception(error)
        else:
            first.set_result(done.result()[0])

    written.add_done_callback(copy)
    return first


class ErasureReceipt(BaseModel):
    """Proof of an Art. 17 erasure for the controller's records. ``digest`` covers the
    subject, time and counts, and is written into the ``subject.erase`` entry at
    ``audit_seq`` of chain ``audit_chain``; ``hmac`` (with the audit key) shows the gateway
    issued it."""

    model_config = ConfigDict(frozen=True)

    subject_ref: str
    erased_at: float
    counts: dict[str, int]  # {"audit": 3, "ledger": ..., ...}
    digest: str
    hmac: str | None
    audit_seq: int
    audit_chain: str = "main"  # receipts from before chains: the single chain


def receipt_digest(subject_ref: str, erased_at: float, counts: Mapping[str, int]) -> str:
    fields = {"subject_ref": subject_ref, "erased_at": erased_at, "counts": dict(counts)}
    return digest(canonical(fields))


def _sign_receipt(key: bytes, receipt_digest_hex: str) -> str:
    # Prefixed, so that no receipt signature can pass for an entry's HMAC or the reverse.
    message = b"erasure-receipt:" + receipt_digest_hex.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def parse_key(text: str, what: str = "key") -> bytes:
    """A key as configured: base64 of at least 16 random bytes (``keys vault`` makes one)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the {what} is not base64") from exc
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the {what} has {len(key)} bytes; at least {MIN_KEY_BYTES} needed")
    return key


class AuditTrail:
    def __init__(
        self,
        store: AuditStore,
        hmac_key: bytes | None,
        subject_key: bytes | None,
        *,
        erasers: Mapping[str, Eraser] | None = None,
        clock: Callable[[], float] = time.time,
        salts: Callable[[], bytes] = lambda: secrets.token_bytes(16),
        max_batch: int = 500,
    ) -> None:
        self.store = store
        self._batches = _GroupCommit(store.append, max_batch)
        self._hmac_key = hmac_key
        self._subject_key = subject_key
        self._erasers = dict(erasers or {})
        self._clock = clock
        self._salts = salts

    def add_eraser(self, name: str, eraser: Eraser) -> None:
        """Another store that ``erase`` clears of a subject (its count goes in the receipt)."""
        if name == "audit" or name in self._erasers:
            raise ValueError(f"an eraser named {name!r} is already registered")
        self._erasers[name] = eraser

    def subject_ref(self, raw: str) -> str:
        """The pseudonymous reference of a data subject: never the identifier itself."""
        if self._subject_key is None:
            raise ValueError("no audit subject key is configured")
        return hmac.new(self._subject_key, raw.encode(), hashlib.sha256).hexdigest()

    async def append(self, record: AuditRecord) -> ChainEntry:
        """Seal and store one record, batched with whatever else is being appended now."""
        return await self._batches.submit(draft(record, self._salts(), self._hmac_key))

    async def record_request(
        self,
        usage: UsageRecord,
        *,
        subject: str | None = None,
        content: Mapping[str, str] | None = None,
    ) -> ChainEntry:
        """The residency record of a finished request, written before this returns."""
        return await asyncio.shield(self.queue_request(usage, subject=subject, content=content))

    def queue_request(
        self,
        usage: UsageRecord,
        *,
        subject: str | None = None,
        content: Mapping[str, str] | None = None,
    ) -> asyncio.Future[ChainEntry]:
        """The residency record of a finished request, sealed now and written with the next
        batch: the request does not wait for the disk or the database. ``usage.subject_ref``
        names the data subject (or ``subject``, raw: only its reference is kept);
        ``content``: masked text, only when the tenant logs content. ``close()`` writes what
        is still queued."""
        return _first(self.enqueue([self.seal_request(usage, subject=subject, content=content)]))

    def seal_request(
        self,
        usage: UsageRecord,
        *,
        subject: str | None = None,
        content: Mapping[str, str] | None = None,
        provenance: str | None = None,
    ) -> Draft:
        """The residency record of a finished request, sealed (hashed, committed) but not
        yet queued: ``enqueue`` several at once and they go in one write. ``provenance``:
        the signed token its answer carried (``gateway/provenance``)."""
        ref = self.subject_ref(subject) if subject else usage.subject_ref
        record = RequestAudit.from_usage(
            usage, at=self._clock(), subject_ref=ref, content=content, provenance=provenance
        )
        return draft(record, self._salts(), self._hmac_key)

    def enqueue(self, drafts: Sequence[Draft]) -> Written:
        """Queue sealed records for the writer, together and in order; the future settles
        with their entries when they are written (in one write)."""
        return self._batches.enqueue(drafts)

    async def record_admin(
        self,
        actor: str,
        action: str,
        *,
        tenant: str | None = None,
        target: Mapping[str, str] | None = None,
        fields: Sequence[str] = (),
        details: Mapping[str, Detail] | None = None,
    ) -> ChainEntry:
        record = AdminAudit(
            at=self._clock(),
            tenant=tenant,
            actor=actor,
            action=action,
            target=dict(target or {}),
            fields=list(fields),
            details=dict(details or {}),
        )
        return await self.append(record)

    async def newest(self, query: RecordQuery) -> list[Found]:
        """Entries for people to read, newest first (``gateway.audit.browse``)."""
        return await self.store.newest(query)

    async def verify(
        self, anchor: ChainHead | None = None, chain_pins: Mapping[str, ChainHead] | None = None
    ) -> TrailReport:
        """Every chain and the anchor chain (``trail_check``). ``anchor``: an anchor recorded
        elsewhere (a single-chain store: an entry); ``chain_pins``: entries of named chains."""
        async with self.store.snapshot() as reader:
            return await check_trail(reader, self._hmac_key, anchor=anchor, chain_pins=chain_pins)

    async def anchor(self, min_gap: float = 0.0) -> AnchorEntry | None:
        """Commit every chain's head in the anchor chain (see ``AuditStore.anchor``)."""
        return await self.store.anchor(self._clock(), self._hmac_key, min_gap)

    async def anchor_forever(self, interval_s: float) -> None:
        """The anchor job, in every replica: the anchor head's row lock and ``min_gap`` let
        one of them anchor per interval; the others find it done and wait for the next."""
        if not self.store.anchored:
            return
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.anchor(min_gap=interval_s * 0.9)
            except Exception:
                log.exception("audit.anchor_failed")

    async def purge_expired(
        self,
        retention_days: Mapping[str, float],
        now: float | None = None,
        *,
        default_days: float | None = None,
        actor: str = "purge",
    ) -> dict[str, int]:
        """The retention job: prune each tenant's entries older than its retention (the
        mapping, else ``default_days`` for every other tenant found in the store; None keeps
        them). Each purge is recorded first, gateway-wide so that no tenant's purge removes
        it: that record is what lets the pruned entries verify as legitimately pruned."""
        now = self._clock() if now is None else now
        days_by_tenant = dict(retention_days)
        if default_days is not None:
            for tenant in await self.store.tenants():
                days_by_tenant.setdefault(tenant, default_days)
        for tenant, days in days_by_tenant.items():
            if not days > 0:
                raise ValueError(f"retention of tenant {tenant!r} must be positive days")
        pruned: dict[str, int] = {}
        for tenant, days in sorted(days_by_tenant.items()):
            before = now - days * DAY
            await self.record_admin(
                actor,
                PURGE_ACTION,
                target={"tenant": tenant},
                details={"before": before, "retention_days": days},
            )
            pruned[tenant] = await self.store.purge(tenant, before)
        return pruned

    async def erase(self, raw_subject: str, actor: str = "erasure") -> ErasureReceipt:
        """GDPR Art. 17: remove everything held about one subject, in the audit trail and in
        every store registered as an eraser, and record the erasure (without the subject)."""
        ref = self.subject_ref(raw_subject)
        await self._batches.wait()  # the subject's records still queued are erased too
        counts = {"audit": await self.store.erase(ref)}
        for name, eraser in self._erasers.items():
            counts[name] = await eraser(raw_subject, ref)
        erased_at = self._clock()
        receipt = receipt_digest(ref, erased_at, counts)
        entry = await self.record_admin(
            actor,
            ERASE_ACTION,
            details={"receipt": receipt, **{f"erased.{k}": v for k, v in counts.items()}},
        )
        return ErasureReceipt(
            subject_ref=ref,
            erased_at=erased_at,
            counts=counts,
            digest=receipt,
            hmac=_sign_receipt(self._hmac_key, receipt) if self._hmac_key is not None else None,
            audit_seq=entry.seq,
            audit_chain=self.store.chain,
        )

    def receipt_valid(self, receipt: ErasureReceipt) -> bool:
        """The receipt's digest matches its fields, and its HMAC (if signed) the audit key."""
        expected = receipt_digest(receipt.subject_ref, receipt.erased_at, receipt.counts)
        if not hmac.compare_digest(expected, receipt.digest):
            return False
        if self._hmac_key is None or receipt.hmac is None:
            return self._hmac_key is None
        return hmac.compare_digest(_sign_receipt(self._hmac_key, receipt.digest), receipt.hmac)

    async def flush(self) -> None:
        """Until every record queued so far is written (or has failed)."""
        await self._batches.wait()

    async def close(self) -> None:
        """Write what is still queued, then close the store."""
        await self._batches.wait()
        await self.store.close()
