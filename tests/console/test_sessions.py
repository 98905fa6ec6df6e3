"""Sessions server side: in memory (embedded) and in Redis (shared, with a TTL); expiry; the
marks of sign-ins that finished (each finishes once)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from gateway.console.runtime import build_console
from gateway.console.sessions import (
    SESSION_PREFIX,
    SWEEP_FROM,
    USED_PREFIX,
    MemorySessions,
    RedisSessions,
    Session,
)
from gateway.identity.roles import Actor, Role
from gateway.identity.tokens import VerifiedToken
from tests.console.conftest import Clock, console_browser, console_settings, no_actor

ALICE = Actor("oidc:corp:alice", "alice", frozenset({Role.PLATFORM_ADMIN}))
SCRATCH = "redis://127.0.0.1:6379/12"


def session(expires_at: float, sid: str = "sid-1") -> Session:
    return Session(sid, ALICE, "csrf-1", expires_at, "h.p.s")


async def test_memory_sessions_expire_and_sign_ins_finish_once() -> None:
    clock = Clock()
    store = MemorySessions(clock)
    await store.put(session(clock.now + 60))
    assert (await store.get("sid-1")) == session(clock.now + 60)
    assert await store.get("sid-2") is None
    clock.now += 61
    assert await store.get("sid-1") is None
    assert not await store.used("state-1")
    assert await store.first_use("state-1", 600)
    assert await store.used("state-1")
    assert not await store.first_use("state-1", 600)  # a replay
    clock.now += 601
    assert not await store.used("state-1")  # its cookie has expired as well by now


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The scratch database, shared with other tests: only this test's keys are touched."""
    client = Redis.from_url(SCRATCH)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_sessions_live_under_the_console_prefix_with_a_ttl(redis: Redis) -> None:
    clock = Clock()
    store = RedisSessions(redis, clock)
    sid, state = f"session-{uuid.uuid4().hex}", f"state-{uuid.uuid4().hex}"
    key = SESSION_PREFIX + hashlib.sha256(sid.encode()).hexdigest()
    used_key = USED_PREFIX + hashlib.sha256(state.encode()).hexdigest()
    try:
        await store.put(session(clock.now + 480 * 60, sid))
        assert key.startswith("sg:{console}:session:")
        assert await redis.exists(key) == 1
        assert not [k async for k in redis.scan_iter(match=f"*{sid}*")]  # never the id itself
        ttl = await redis.pttl(key)
        assert 480 * 60 * 1000 - 5000 < ttl <= 480 * 60 * 1000
        other_replica = RedisSessions(redis, clock)  # every replica reads the same session
        assert await other_replica.get(sid) == session(clock.now + 480 * 60, sid)
        await other_replica.delete(sid)
        assert await store.get(sid) is None
        assert not await store.used(state)
        assert await store.first_use(state, 600)
        assert 0 < await redis.ttl(used_key) <= 600
        assert await other_replica.used(state)
        assert not await other_replica.first_use(state, 600)  # replayed at another replica
    finally:
        await redis.delete(key, used_key)


async def test_build_console_chooses_redis_when_the_gateway_shares_a_store(redis: Redis) -> None:
    settings = console_settings("http://127.0.0.1:9")
    async with httpx.AsyncClient() as http:
        shared = build_console(
            settings.console, settings.identity, redis, http, _Never(), no_actor,
            secret=SecretStr("shared-secret"),
        )  # fmt: skip
        with pytest.raises(ValueError, match="pseudonym_key"):  # replicas need one key
            build_console(settings.console, settings.identity, redis, http, _Never(), no_actor)
        embedded = build_console(
            settings.console, settings.identity, None, http, _Never(), no_actor
        )
    assert shared is not None
    assert isinstance(shared.sessions, RedisSessions)
    assert embedded is not None
    assert isinstance(embedded.sessions, MemorySessions)
    assert "form-action 'self' http://127.0.0.1:9" in shared.csp


async def test_an_expired_session_sends_the_browser_to_sign_in() -> None:
    clock = Clock()
    settings = console_settings("http://127.0.0.1:9")
    async with httpx.AsyncClient() as http:
        built = build_console(settings.console, settings.identity, None, http, _Never(), no_actor)
    assert built is not None
    console = dataclasses.replace(built, sessions=MemorySessions(clock), clock=clock)
    await console.sessions.put(session(clock.now + 60))
    async with console_browser(console) as browser:
        browser.cookies.set("sg_console", "sid-1")
        assert (await browser.get("/console")).status_code == 200
        clock.now += 61
        expired = await browser.get("/console")
        assert expired.status_code == 303
        assert expired.headers["location"].startswith("/console/auth/login?next=")
        refused = await browser.post("/console/auth/logout", data={"csrf_token": "csrf-1"})
        assert refused.status_code == 403  # a POST after expiry changes nothing


class _Never:
    async def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> VerifiedToken:
        raise AssertionError("not used")

    async def discovery(self, issuer_name: str) -> dict[str, str]:
        raise AssertionError("not used")


async def test_used_sign_ins_are_swept_once_expired() -> None:
    clock = Clock()
    store = MemorySessions(clock)
    for i in range(4 * SWEEP_FROM):
        assert await store.first_use(f"state-{i}", 600)
        clock.now += 1
    clock.now += 600
    assert await store.first_use("last", 600)
    assert len(vars(store)["_used"]) == 1
