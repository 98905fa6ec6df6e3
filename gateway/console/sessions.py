"""Console sessions, kept server side: Redis when shared, else memory.

The browser holds only a random id (the session cookie). What it stands for stays on the
server, under the SHA-256 of the id, so a reader of the store cannot replay a cookie from it::

    sg:{console}:session:<sha256(id)>  the Session as JSON, TTL = console.session_minutes
    sg:{console}:used:<sha256(state)>  a sign-in state that finished (until it expires)

A sign-in under way is not here: it is sealed in the browser's cookie
(gateway/console/login_state.py). The store learns of it only at its callback, after the IdP
has answered with a valid ID token, and then remembers it as used, so it finishes once.

One hash tag (``{console}``): on Redis Cluster every console key lives in one slot. Every
replica reads the same keys, so a browser may land on any of them. Embedded (no Redis), a
dict in this process holds them, with the same expiry.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import orjson
from redis.exceptions import RedisError

from gateway.errors import QuotaStoreUnavailable
from gateway.identity.roles import Actor, Role
from gateway.quota.keyspace import RedisClient

SESSION_PREFIX = "sg:{console}:session:"
USED_PREFIX = "sg:{console}:used:"
SWEEP_FROM = 256  # embedded: expired entries are swept once a dict has grown this far


def new_secret() -> str:
    """256 random bits, URL-safe: session ids, CSRF tokens, OAuth state and nonce."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    actor: Actor
    csrf: str  # the synchronizer token every POST of this session must carry
    expires_at: float  # unix time; absolute (no sliding): session_minutes after sign-in
    id_token: str  # for the IdP's end_session_endpoint (id_token_hint)

    def to_json(self) -> bytes:
        actor = self.actor
        return orjson.dumps(
            {
                "actor": {
                    "id": actor.id,
                    "name": actor.name,
                    "roles": sorted(actor.roles),
                    "tenant": actor.tenant,
                },
                "csrf": self.csrf,
                "expires_at": self.expires_at,
                "id_token": self.id_token,
            }
        )

    @classmethod
    def from_json(cls, session_id: str, raw: bytes | str) -> Session:
        data = orjson.loads(raw)
        a = data["actor"]
        actor = Actor(a["id"], a["name"], frozenset(Role(r) for r in a["roles"]), a["tenant"])
        return cls(session_id, actor, data["csrf"], data["expires_at"], data["id_token"])


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionStore(Protocol):
    async def put(self, session: Session) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def delete(self, session_id: str) -> None: ...
    async def used(self, state: str) -> bool:
        """Has the sign-in ``state`` finished already? (A read: a replay is refused before
        its code goes to the IdP again.)"""
        ...

    async def first_use(self, state: str, ttl_s: float) -> bool:
        """Claim the sign-in ``state`` (for ``ttl_s``, its remaining life): True the first
        time, False for a replay."""
        ...


class MemorySessions:
    """Embedded: one process. Sessions and used sign-in states in dicts, swept of expired
    entries as they grow (each used state cost a real sign-in at the IdP)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, tuple[float, bytes]] = {}
        self._used: dict[str, float] = {}
        self._next_sweep = SWEEP_FROM
        self._next_used_sweep = SWEEP_FROM

    async def put(self, session: Session) -> None:
        if len(self._sessions) >= self._next_sweep:  # amortised: a sweep per doubling
            now = self._clock()
            for stale in [k for k, (t, _) in self._sessions.items() if t <= now]:
                del self._sessions[stale]
            self._next_sweep = max(SWEEP_FROM, 2 * len(self._sessions))
        self._sessions[_digest(session.id)] = (session.expires_at, session.to_json())

    async def get(self, session_id: str) -> Session | None:
        entry = self._sessions.get(_digest(session_id))
        if entry is None or entry[0] <= self._clock():
            return None
        return Session.from_json(session_id, entry[1])

    async def delete(self, session_id: str) -> None:
        self._sessions.pop(_digest(session_id), None)

    async def used(self, state: str) -> bool:
        until = self._used.get(_digest(state))
        return until is not None and until > self._clock()

    async def first_use(self, state: str, ttl_s: float) -> bool:
        now = self._clock()
        if len(self._used) >= self._next_used_sweep:
            for stale in [k for k, until in self._used.items() if until <= now]:
                del self._used[stale]
            self._next_used_sweep = max(SWEEP_FROM, 2 * len(self._used))
        key = _digest(state)
        until = self._used.get(key)
        if until is not None and until > now:
            return False
        self._used[key] = now + max(ttl_s, 1.0)
        return True


class RedisSessions:
    """Shared: every replica sees every session; Redis expires them (TTL)."""

    def __init__(self, redis: RedisClient, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock

    async def put(self, session: Session) -> None:
        ttl_ms = max(1, round((session.expires_at - self._clock()) * 1000))
        with _translated():
            await self._redis.set(
                SESSION_PREFIX + _digest(session.id), session.to_json(), px=ttl_ms
            )

    async def get(self, session_id: str) -> Session | None:
        with _translated():
            raw = await self._redis.get(SESSION_PREFIX + _digest(session_id))
        if raw is None:
            return None
        session = Session.from_json(session_id, raw)
        return session if session.expires_at > self._clock() else None

    async def delete(self, session_id: str) -> None:
        with _translated():
            await self._redis.delete(SESSION_PREFIX + _digest(session_id))

    async def used(self, state: str) -> bool:
        with _translated():
            return bool(await self._redis.exists(USED_PREFIX + _digest(state)))

    async def first_use(self, state: str, ttl_s: float) -> bool:
        ttl_ms = max(1000, round(ttl_s * 1000))
        with _translated():
            claimed = await self._redis.set(USED_PREFIX + _digest(state), b"1", px=ttl_ms, nx=True)
        return bool(claimed)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise QuotaStoreUnavailable(
            "The console's session store (Redis) is unreachable.",
            code="session_store_unavailable",
        ) from exc
