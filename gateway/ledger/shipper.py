"""Each tenant's hand-off stream into PostgreSQL, in every replica.

A consumer group (``ledger``) on every ``sg:{T}:handoff`` stream; each replica is one
consumer. A pass: find the streams (SCAN TYPE stream, every ``discover_every`` seconds, on
every primary of a cluster), and for each: take over entries another consumer read but never
acknowledged for ``claim_after`` seconds (it died: XAUTOCLAIM), read new ones (XREADGROUP),
insert them in one transaction, and only after the COMMIT acknowledge and delete them
(XACK + XDEL: the stream's length is what is left to ship, which ``meter.lua`` bounds). A crash
between COMMIT and XACK re-delivers the batch; the insert skips ids it holds.

Which replica ships which stream: every replica registers in ``sg:{ledger}:shippers`` (a
sorted set: consumer -> last seen) each discovery round, and ships only the streams it owns
by rendezvous hashing: the ``OWNERS`` live shippers whose hash with the stream ranks highest.
Every replica computes the same owners without talking to the others; when one joins or
leaves, only the streams it owned move. Two owners, not one: a stream keeps a shipper while a
dead owner ages out of the registry (the consumer group makes two readers safe). So a
replica's polling costs Redis ``2 x streams / replicas`` reads per pass, not ``streams``.

Which streams exist: the tenants' ids (the directory's and the configuration's, given by
``tenants``) each round, and a SCAN of the whole keyspace only every ``scan_every`` seconds
(the keyspace holds an exactly-once marker per request of the last ``marker_ttl``: millions
of keys at scale), for the streams of tenants no longer in the directory.

One Redis hands off to one ledger: the first shipper writes its ledger's identity (database
and schema) to ``sg:ledger:identity``; a shipper pointed at another ledger refuses to ship
(logged as an error), or it would take some of the records away from the ledger they belong to.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog
from pydantic import ValidationError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from gateway.core.usage import UsageRecord
from gateway.errors import LedgerUnavailable
from gateway.ledger.postgres import Key, PostgresLedger
from gateway.quota.keyspace import RedisClient, scan_keys
from gateway.quota.redis_store import HANDOFF_PATTERN, handoff_key

log = structlog.get_logger("gateway.ledger")

GROUP = "ledger"
FIELD = b"r"
IDENTITY_KEY = "sg:ledger:identity"
SHIPPERS_KEY = "sg:{ledger}:shippers"
OWNERS = 2  # live shippers per stream
TenantIds = Callable[[], Awaitable[Iterable[str]]]


def owners(stream: str, live: Sequence[str], count: int = OWNERS) -> list[str]:
    """The ``count`` shippers of ``live`` that ship ``stream`` (rendezvous hashing)."""

    def rank(consumer: str) -> bytes:
        return hashlib.blake2b(f"{consumer}\0{stream}".encode(), digest_size=8).digest()

    return sorted(live, key=rank, reverse=True)[:count]


class WrongLedger(Exception):
    """This Redis already hands its records off to another ledger."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(reply: Any) -> list[Any]:
    """XREADGROUP's entries of its one stream (RESP2: a list of pairs; RESP3: a map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values())))
    return list(reply[0][1])


class Shipper:
    def __init__(
        self,
        redis: RedisClient,
        ledger: PostgresLedger,
        consumer: str,
        *,
        batch: int = 500,
        claim_after: float = 30.0,
        discover_every: float = 5.0,
        scan_every: float = 60.0,
        tenants: TenantIds | None = None,
    ) -> None:
        """``tenants``: the ids of the tenants known now (their streams are looked for every
        ``discover_every`` seconds); without it, every discovery round SCANs."""
        self._redis = redis
        self._ledger = ledger
        self._consumer = consumer
        self._batch = batch
        self._claim_after_ms = int(claim_after * 1000)
        self._discover_every = discover_every
        self._scan_every = scan_every if tenants is not None else 0.0
        self._tenants = tenants
        self._scanned: set[str] = set()
        self._scanned_at = -1e18
        self._streams: set[str] = set()
        self._grouped: set[str] = set()
        self._discovered_at = -1e18
        self._claimed_at: dict[str, float] = {}
        # Streams where this consumer may hold entries it read but did not store (a failed
        # insert, or a restart under the same name): re-read from its own history first.
        self._own_pending: set[str] = set()
        self._identity_checked = False
        self._stopping = False

    async def live_shippers(self) -> list[str]:
        """Register this shipper and read who else is alive (seen in three rounds)."""
        now_ms = int(time.time() * 1000)
        alive_ms = int(3 * self._discover_every * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(SHIPPERS_KEY, {self._consumer: now_ms})
            pipe.zremrangebyscore(SHIPPERS_KEY, "-inf", now_ms - alive_ms)
            pipe.zrange(SHIPPERS_KEY, 0, -1)
            replies: list[Any] = await pipe.execute()
        return sorted({_text(c) for c in replies[2]} | {self._consumer})

    async def _existing(self) -> set[str]:
        """Every hand-off stream: the known tenants' that exist, and what the last SCAN found."""
        if time.monotonic() - self._scanned_at >= self._scan_every:
            self._scanned = {k async for k in scan_keys(self._redis, HANDOFF_PATTERN, "stream")}
            self._scanned_at = time.monotonic()
        if self._tenants is None:
            return set(self._scanned)
        candidates = sorted({handoff_key(t) for t in await self._tenants()} - self._scanned)
        found = set(self._scanned)
        if candidates:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in candidates:
                    pipe.exists(key)
                exists: list[Any] = await pipe.execute()
            found |= {k for k, there in zip(candidates, exists, strict=True) if there}
        return found

    async def discover(self) -> set[str]:
        """The streams this shipper owns now."""
        live = await self.live_shippers()
        found = {k for k in await self._existing() if self._consumer in owners(k, live)}
        self._own_pending |= found - self._streams
        self._streams = found
        self._grouped &= found
        self._discovered_at = time.monotonic()
        return found

    async def _group(self, key: str) -> None:
        if key in self._grouped:
            return
        try:
            # From the stream's start: entries added before the group existed are shipped too.
            await self._redis.xgroup_create(key, GROUP, id="0")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped.add(key)

    async def _check_identity(self) -> None:
        mine = self._ledger.identity
        await self._redis.set(IDENTITY_KEY, mine, nx=True)
        held = _text(await self._redis.get(IDENTITY_KEY))
        if held != mine:
            raise WrongLedger(f"this Redis hands off to ledger {held!r}, not {mine!r}")
        self._identity_checked = True

    async def ship_once(self) -> int:
        """One pass over every stream; how many records were newly stored. Raises
        ``LedgerUnavailable`` (PostgreSQL), a Redis error (the entries stay for later) or
        ``WrongLedger``."""
        if time.monotonic() - self._discovered_at >= self._discover_every:
            self._identity_checked = False  # re-checked now and then: a FLUSHALL drops it
            await self.discover()
        if not self._identity_checked:
            await self._check_identity()
        stored = 0
        for key in sorted(self._streams):
            try:
                stored += await self._ship(key)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) and "key to exist" not in str(exc):
                    raise
                self._grouped.discard(key)  # the stream was deleted (and maybe re-made)
        return stored

    async def _ship(self, key: str) -> int:
        await self._group(key)
        stored = 0
        if key in self._own_pending:
            stored += await self._read(key, "0")
            self._own_pending.discard(key)
        now = time.monotonic()
        if now - self._claimed_at.get(key, -1e18) >= self._claim_after_ms / 2000:
            self._claimed_at[key] = now
            claimed: Any = await self._redis.xautoclaim(
                key, GROUP, self._consumer, self._claim_after_ms, "0-0", count=self._batch
            )
            stored += await self._store(key, claimed[1])
        return stored + await self._read(key, ">")

    async def _read(self, key: str, start: str) -> int:
        """Entries new to the group (``>``) or this consumer's own unacknowledged ones
        (``0``), in batches until fewer than a batch come back."""
        stored = 0
        while True:
            reply: Any = await self._redis.xreadgroup(
                GROUP, self._consumer, {key: start}, count=self._batch
            )
            entries: list[Any] = _entries(reply)
            try:
                stored += await self._store(key, entries)
            except BaseException:
                self._own_pending.add(key)  # read but not stored: read them again next time
                raise
            if len(entries) < self._batch:
                return stored

    async def _store(self, key: str, entries: list[Any]) -> int:
        ids: list[Any] = []
        records: list[UsageRecord] = []
        for entry_id, fields in entries:
            if fields is None:
                continue  # deleted while pending (XAUTOCLAIM reports it): nothing to do
            raw = fields.get(FIELD)
            try:
                records.append(UsageRecord.model_validate_json(raw or b""))
            except ValidationError:
                log.error("ledger.unreadable_entry", stream=key, entry=_text(entry_id))
                continue  # left pending: an operator's to look at, never silently dropped
            ids.append(entry_id)
        if not ids:
            return 0
        stored = await self._ledger.insert(records)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(key, GROUP, *ids)
            pipe.xdel(key, *ids)
            await pipe.execute()
        return stored

    async def with_subject(self, subject_ref: str) -> set[Key]:
        """Ids of the subject's records still in a stream (not in PostgreSQL yet)."""
        found: set[Key] = set()
        needle = f'"subject_ref":"{subject_ref}"'.encode()
        async for key in scan_keys(self._redis, HANDOFF_PATTERN, "stream"):
            start = "-"
            while True:
                entries: Any = await self._redis.xrange(key, min=start, count=1000)
                for entry_id, fields in entries:
                    raw = fields.get(FIELD) or b""
                    if needle in raw:
                        record = UsageRecord.model_validate_json(raw)
                        if record.subject_ref == subject_ref:
                            found.add((record.tenant, record.request_id))
                    start = "(" + _text(entry_id)
                if len(entries) < 1000:
                    break
        return found

    def stop(self) -> None:
        """End ``run_forever`` after the pass in progress, whatever happens to a cancellation."""
        self._stopping = True

    async def run_forever(self, interval: float) -> None:
        """Ship until stopped or cancelled, a pass every ``interval`` seconds (at once again
        after a pass that filled a whole batch: a backlog drains at the database's pace)."""
        failing = False
        self._stopping = False
        while not self._stopping:
            stored = 0
            try:
                stored = await self.ship_once()
                failing = False
            except (RedisError, RedisClusterException, OSError, LedgerUnavailable) as exc:
                if not failing:
                    log.warning("ledger.ship_failed", error=type(exc).__name__)
                failing = True
            except WrongLedger as exc:
                if not failing:
                    log.error("ledger.wrong_ledger", error=str(exc))
                failing = True
            except Exception:  # a defect must not stop shipping for good; it is logged
                log.exception("ledger.ship_failed")
            await asyncio.sleep(0 if stored >= self._batch else interval)
