"""Tokens and identity providers that try something: header parameters that name another key
(``jku``, ``x5u``, ``jwk``), ``kid`` tricks, critical extensions, HMAC keys in a JWKS, huge,
endless and slow documents, and the edges of ``iss`` and ``aud``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from gateway.identity import jwks
from tests.identity.idp import Key, _b64
from tests.identity.test_verifier import ISSUER, RSA, Clock, FakeIdp, claims, reason, verifier

ATTACKER = Key.rsa("r1")  # the attacker's own key, under the victim key's kid


class Recorder(FakeIdp):
    """The fake IdP, noting every URL the verifier asks for."""

    def __init__(self, *keys: Key) -> None:
        super().__init__(*keys)
        self.urls: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return await super().__call__(request)


async def test_key_naming_header_parameters_are_ignored() -> None:
    idp = Recorder(RSA)
    v = verifier(idp, Clock(), jwks_min_refresh_s=0)
    evil = "https://evil.example/jwks"
    headers: dict[str, Any] = {"kid": "r1", "jku": evil, "x5u": evil, "jwk": ATTACKER.jwk()}
    forged = jwt.encode(claims(), ATTACKER.private, algorithm="RS256", headers=headers)
    assert await reason(v.verify(forged)) == "bad_signature"
    headers["kid"] = "attacker-kid"
    unknown = jwt.encode(claims(), ATTACKER.private, algorithm="RS256", headers=headers)
    assert await reason(v.verify(unknown)) == "unknown_kid"
    assert all(url.startswith(ISSUER) for url in idp.urls), idp.urls  # never the header's URL
    genuine = jwt.encode(
        claims(), RSA.private, algorithm="RS256", headers={"kid": "r1", "jku": evil}
    )
    assert (await v.verify(genuine)).claims["sub"] == "u1"


KIDS = ["../../../etc/passwd", "r1/../r1", "r1\x00", "r1 ", "R1", "k" * 4000,
        "https://evil.example/key", "%2e%2e%2fr1"]  # fmt: skip


@pytest.mark.parametrize("kid", KIDS)
async def test_a_kid_is_only_ever_a_name_in_the_issuers_set(kid: str) -> None:
    idp = Recorder(RSA)
    v = verifier(idp, Clock(), jwks_min_refresh_s=0)
    token = jwt.encode(claims(), RSA.private, algorithm="RS256", headers={"kid": kid})
    assert await reason(v.verify(token)) in ("unknown_kid", "token_too_long")
    assert all(url.startswith(ISSUER) for url in idp.urls)


async def test_a_critical_extension_is_refused() -> None:
    v = verifier(FakeIdp(RSA), Clock())
    header = {"kid": "r1", "crit": ["sg-made-up"], "sg-made-up": True}
    token = jwt.encode(claims(), RSA.private, algorithm="RS256", headers=header)
    assert await reason(v.verify(token)) == "token_malformed"


async def test_an_hmac_key_in_the_jwks_is_never_used() -> None:
    idp = FakeIdp(RSA)
    secret = b"a-published-hmac-secret-of-32-bytes!"
    idp.jwks["keys"].append({"kty": "oct", "k": _b64(secret), "kid": "h1", "alg": "HS256"})
    v = verifier(idp, Clock(), jwks_min_refresh_s=0, algorithms=["RS256"])
    as_hmac = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "h1"})
    assert await reason(v.verify(as_hmac)) == "algorithm_refused"
    as_rsa = jwt.encode(claims(), RSA.private, algorithm="RS256", headers={"kid": "h1"})
    assert await reason(v.verify(as_rsa)) == "unknown_kid"


def test_a_jwks_with_very_many_keys_is_cut_to_a_bound() -> None:
    many = {"keys": [{**RSA.jwk(), "kid": f"k{i}"} for i in range(5000)]}
    keys = jwks.parse_jwks(many)
    assert len(keys) == jwks.MAX_KEYS
    assert "k0" in keys


async def test_iss_must_match_exactly_and_aud_may_list_others() -> None:
    v = verifier(FakeIdp(RSA), Clock())
    assert await reason(v.verify(RSA.sign(claims(iss=ISSUER + "/")))) == "unknown_issuer"
    assert await reason(v.verify(RSA.sign(claims(iss=ISSUER.upper())))) == "unknown_issuer"
    listed = RSA.sign(claims(aud=["another-api", "sovereign-gateway"]))
    assert (await v.verify(listed)).claims["sub"] == "u1"  # RFC 7519 4.1.3: aud contains us
    assert await reason(v.verify(RSA.sign(claims(aud=["another-api"])))) == "wrong_audience"
    assert await reason(v.verify(RSA.sign(claims(aud=[])))) in ("wrong_audience", "missing_claim")


class Endless:
    """A JWKS answer that never ends (a byte every ``pause`` seconds, or megabytes at once)."""

    def __init__(self, chunk: bytes, pause: float, content_length: int | None = None) -> None:
        self.chunk, self.pause, self.sent = chunk, pause, 0
        self.content_length = content_length

    async def body(self) -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        while True:
            self.sent += len(self.chunk)
            yield self.chunk
            await asyncio.sleep(self.pause)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/certs"})
        headers = (
            {} if self.content_length is None else {"content-length": str(self.content_length)}
        )
        return httpx.Response(200, content=self.body(), headers=headers)


def _verifier_over(transport: Endless) -> Any:
    from gateway.identity.settings import IdentitySettings
    from gateway.identity.tokens import TokenVerifier

    issuer = {
        "name": "acme",
        "issuer": ISSUER,
        "jurisdiction": "DE",
        "operator": "test",
        "tenant": "acme",
    }
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    return TokenVerifier(IdentitySettings(issuers=[issuer]), client, clock=Clock())


async def test_a_huge_jwks_is_read_only_up_to_the_limit() -> None:
    huge = Endless(b"x" * 65536, 0)
    v = _verifier_over(huge)
    assert await reason(v.verify(RSA.sign(claims()))) == "idp_unreachable"
    assert huge.sent <= jwks.MAX_DOCUMENT_BYTES + 2 * 65536  # stopped reading at the limit


async def test_a_declared_huge_jwks_is_not_read_at_all() -> None:
    declared = Endless(b"x" * 1024, 0, content_length=50 * jwks.MAX_DOCUMENT_BYTES)
    v = _verifier_over(declared)
    assert await reason(v.verify(RSA.sign(claims()))) == "idp_unreachable"
    assert declared.sent <= 2 * 1024


async def test_a_slow_jwks_is_given_up_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwks, "READ_DEADLINE_S", 0.3)
    slow = Endless(b" ", 0.01)  # bytes keep coming: no read timeout would ever fire
    v = _verifier_over(slow)
    started = time.monotonic()
    assert await reason(v.verify(RSA.sign(claims()))) == "idp_unreachable"
    assert time.monotonic() - started < 2.0
