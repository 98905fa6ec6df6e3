"""The state of a sign-in under way lives in the browser (a sealed cookie), not on the server:
a flood of started sign-ins stores nothing; a tampered, foreign, expired or replayed state is
refused; the server remembers a state only once a real sign-in at the IdP has used it."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.console.login_state import LOGIN_TTL_S, LoginSealer, LoginState, login_key
from gateway.console.runtime import build_console
from gateway.console.sessions import MemorySessions, SessionStore
from gateway.identity.tokens import VerifiedToken
from tests.console.conftest import (
    ALICE,
    Clock,
    console_browser,
    console_settings,
    idp_redirect,
    no_actor,
)
from tests.console.fake_idp import FakeIdP

LOGIN = "sg_console_login"


def state(expires_at: float, next: str = "/console/usage") -> LoginState:
    return LoginState("s" * 43, "n" * 43, "v" * 64, next, expires_at)


def test_a_sealed_state_opens_only_unchanged_with_its_key_and_in_time() -> None:
    clock = Clock()
    sealer = LoginSealer(login_key(b"\x01" * 32), clock)
    login = state(clock.now + LOGIN_TTL_S)
    sealed = sealer.seal(login)
    assert sealer.open(sealed) == login
    for secret in (login.state, login.nonce, login.verifier, "/console/usage"):
        assert secret not in sealed  # encrypted, not only signed
    raw = bytearray(base64.urlsafe_b64decode(sealed + "=="))
    for position in (0, 1, 20, len(raw) - 1):  # version, nonce, body, tag
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(tampered)).rstrip(b"=").decode()
        assert sealer.open(forged) is None
    assert LoginSealer(login_key(b"\x02" * 32), clock).open(sealed) is None  # another key
    for junk in (None, "", "x", "!!!!", "A" * 5000):
        assert sealer.open(junk) is None
    clock.now += LOGIN_TTL_S
    assert sealer.open(sealed) is None  # expired


def test_the_key_is_derived_not_the_configured_secret_itself() -> None:
    secret = b"\x07" * 32
    assert login_key(secret) == login_key(secret)
    assert login_key(secret) != secret
    assert len(login_key(secret)) == 32
    assert login_key(None) != login_key(None)  # embedded, no secret: one per process


class _Discovery:
    async def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> VerifiedToken:
        raise AssertionError("not used")

    async def discovery(self, issuer_name: str) -> dict[str, str]:
        return {"authorization_endpoint": "https://idp.example/auth"}


class Recording:
    """A session store that notes every use."""

    def __init__(self, inner: MemorySessions) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.inner, name)


async def test_a_flood_of_started_sign_ins_stores_nothing_on_the_server() -> None:
    settings = console_settings("https://idp.example")
    store = Recording(MemorySessions())
    async with httpx.AsyncClient() as http:
        built = build_console(
            settings.console, settings.identity, None, http, _Discovery(), no_actor
        )
        assert built is not None
        console = dataclasses.replace(built, sessions=cast(SessionStore, store))
        async with console_browser(console) as flood:
            started = time.monotonic()
            for i in range(10_000):
                answer = await flood.get("/console/auth/login", params={"next": f"/console/{i}"})
                assert answer.status_code == 303
            elapsed = time.monotonic() - started
    assert store.calls == []  # not one write (nor read) per unauthenticated GET
    assert vars(store.inner)["_sessions"] == {}
    assert elapsed < 60


def _begin(client: TestClient, idp: FakeIdP) -> tuple[str, str]:
    """A sign-in begun in ``client``: its callback path and its cookie."""
    idp.next_user = ALICE
    started = client.get("/console/auth/login")
    assert started.status_code == 303
    cookie = client.cookies.get(LOGIN, path="/console")
    assert cookie is not None
    return idp_redirect(started.headers["location"]), cookie


def _set(client: TestClient, value: str) -> None:
    client.cookies.set(LOGIN, value, domain="testserver.local", path="/console")


def test_a_tampered_cookie_is_refused(client: TestClient, idp: FakeIdP) -> None:
    callback, cookie = _begin(client, idp)
    flipped = cookie[:30] + ("A" if cookie[30] != "A" else "B") + cookie[31:]
    _set(client, flipped)
    assert client.get(callback).status_code == 403
    sealed_elsewhere = LoginSealer(login_key(None)).seal(
        state(time.time() + 60, "/console")
    )  # a well-formed state under another key (another deployment, or made up)
    _set(client, sealed_elsewhere)
    assert client.get(callback).status_code == 403
    assert not any(c.name == "sg_console" and c.value for c in client.cookies.jar)


def test_a_state_begun_in_another_browser_is_refused(client: TestClient, idp: FakeIdP) -> None:
    victim_callback, _ = _begin(client, idp)  # the victim's sign-in (its state)
    client.cookies.clear()
    _, attacker_cookie = _begin(client, idp)  # the attacker's own, valid, cookie
    _set(client, attacker_cookie)
    refused = client.get(victim_callback)
    assert refused.status_code == 403
    assert 'data-testid="forbidden"' in refused.text


def test_a_replayed_callback_is_refused_even_if_the_idp_took_the_code_again(
    client: TestClient, idp: FakeIdP
) -> None:
    idp.reusable_codes = True
    try:
        callback, cookie = _begin(client, idp)
        assert client.get(callback).status_code == 303
        client.cookies.clear()
        _set(client, cookie)  # the same browser state, replayed
        replayed = client.get(callback)
    finally:
        idp.reusable_codes = False
    assert replayed.status_code == 403
    assert not any(c.name == "sg_console" and c.value for c in client.cookies.jar)


@pytest.mark.parametrize("hostile", ["%2F%2Fevil.example", "/console/%2e%2e/admin",
                                     "/console%2F..%2Fadmin", "/\\evil.example",
                                     "/console\\..\\admin", "\t//evil.example",
                                     "https:/evil.example", "/console/../../evil"])  # fmt: skip
def test_an_encoded_or_bent_return_path_goes_home(
    client: TestClient, idp: FakeIdP, hostile: str
) -> None:
    idp.next_user = ALICE
    started = client.get("/console/auth/login", params={"next": hostile})
    done = client.get(idp_redirect(started.headers["location"]))
    assert done.status_code == 303
    assert done.headers["location"] == "/console"


async def test_an_endless_or_slow_token_answer_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.console import oidc
    from gateway.errors import AuthenticationFailed
    from gateway.identity import jwks

    monkeypatch.setattr(jwks, "READ_DEADLINE_S", 0.3)
    sent = 0

    async def endless(pause: float) -> Any:
        nonlocal sent
        yield b'{"id_token": "'
        while True:
            sent += 65536
            yield b"x" * 65536
            await asyncio.sleep(pause)

    client = oidc.Client("corp", "sovereign-console", None, ("openid",))
    for pause, most in ((0.0, jwks.MAX_DOCUMENT_BYTES + 2 * 65536), (0.05, 20 * 65536)):
        sent = 0

        def token(request: httpx.Request, pause: float = pause) -> httpx.Response:
            return httpx.Response(200, content=endless(pause))

        async with httpx.AsyncClient(transport=httpx.MockTransport(token)) as http:
            started = time.monotonic()
            with pytest.raises(AuthenticationFailed):
                await oidc.exchange_code(
                    http, "https://idp/token", client, "c", "v", "https://gw/cb"
                )
        assert time.monotonic() - started < 2.0
        assert sent <= most
