"""The verified-token cache (tokens.py ``VerifiedCache``): a reused token's signature is checked
once, yet an expired token, a token whose key left the JWKS, and a refused token are never
served from it, and it stays within its size. The IdP is ``test_verifier``'s fake behind
``httpx.MockTransport``; the key cache's clock is the test's, token times the wall clock's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gateway.identity import tokens
from gateway.identity.settings import IdentitySettings
from gateway.identity.tokens import TokenVerifier
from tests.identity.idp import Key
from tests.identity.test_verifier import EC, ISSUER, RSA, Clock, FakeIdp, claims, reason


def make(idp: FakeIdp, clock: Clock, size: int = 100, **options: Any) -> TokenVerifier:
    issuer = {"name": "acme", "issuer": ISSUER, "jurisdiction": "DE", "operator": "test",
              "jwks_cache_s": 60, "jwks_min_refresh_s": 10, "jwks_max_stale_s": 100,
              "tenant": "acme", **options}  # fmt: skip
    settings = IdentitySettings(issuers=[issuer], verified_cache_size=size)
    client = httpx.AsyncClient(transport=httpx.MockTransport(idp))
    return TokenVerifier(settings, client, clock=clock)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature and claims PyJWT checked, in order."""
    checked: list[str] = []
    decode = tokens._decode

    def counting(token: str, *args: Any) -> dict[str, Any]:
        checked.append(token)
        return decode(token, *args)

    monkeypatch.setattr(tokens, "_decode", counting)
    return checked


async def test_a_reused_token_is_verified_once(decodes: list[str]) -> None:
    v = make(FakeIdp(RSA, EC), Clock())
    rsa, ec = RSA.sign(claims()), EC.sign(claims(sub="u2"))
    for _ in range(3):
        assert (await v.verify(rsa)).claims["sub"] == "u1"
        assert (await v.verify(ec)).claims["sub"] == "u2"
    assert decodes == [rsa, ec]
    # Another audience is another entry: a token for the console is not one for the API.
    assert await reason(v.verify(rsa, audience="console")) == "wrong_audience"
    assert decodes == [rsa, ec, rsa]
    # Size 0: every request checks its token.
    off = make(FakeIdp(RSA), Clock(), size=0)
    for _ in range(2):
        await off.verify(rsa)
    assert decodes == [rsa, ec, rsa, rsa, rsa]


async def test_an_expired_token_is_refused_even_if_cached(decodes: list[str]) -> None:
    v = make(FakeIdp(RSA), Clock(), leeway_s=0)
    expires = int(time.time()) + 1
    token = RSA.sign(claims(exp=expires))
    await v.verify(token)
    await v.verify(token)
    assert decodes == [token]
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    assert await reason(v.verify(token)) == "token_expired"
    assert len(v._cache) == 0


async def test_a_token_whose_key_left_the_jwks_at_a_refresh_is_refused(
    decodes: list[str],
) -> None:
    idp, clock = FakeIdp(RSA, EC), Clock()
    v = make(idp, clock)
    token = RSA.sign(claims())
    await v.verify(token)
    idp.jwks = {"keys": [EC.jwk()]}  # RSA rotated out
    clock.now += 30  # within the key cache's period: the keys are the ones checked with
    await v.verify(token)
    assert (idp.fetches, decodes) == (1, [token])
    clock.now += 31  # past it: the keys are read again, and r1 is gone
    assert await reason(v.verify(token)) == "unknown_kid"
    assert idp.fetches == 2
    assert len(v._cache) == 0


async def test_a_rotation_seen_through_a_new_kid_ends_the_old_keys_entries(
    decodes: list[str],
) -> None:
    idp, clock = FakeIdp(RSA), Clock()
    v = make(idp, clock)
    old = RSA.sign(claims())
    await v.verify(old)
    successor = Key.rsa("r2")
    idp.jwks = {"keys": [successor.jwk()]}
    clock.now += 10  # jwks_min_refresh_s: a new kid may trigger a read
    new = successor.sign(claims(sub="u2"))
    assert (await v.verify(new)).claims["sub"] == "u2"  # read the keys again
    assert await reason(v.verify(old)) == "unknown_kid"
    await v.verify(new)
    assert decodes == [old, new]


async def test_the_cache_is_bounded_and_drops_the_least_recently_used(
    decodes: list[str],
) -> None:
    v = make(FakeIdp(RSA), Clock(), size=2)
    first, second, third = (RSA.sign(claims(sub=f"u{n}")) for n in range(3))
    await v.verify(first)
    await v.verify(second)
    await v.verify(first)  # used again: now the most recent
    await v.verify(third)  # drops `second`
    assert len(v._cache) == 2
    await v.verify(first)
    await v.verify(third)
    assert decodes == [first, second, third]
    await v.verify(second)
    assert decodes == [first, second, third, second]
    assert len(v._cache) == 2


async def test_refusals_and_id_tokens_are_never_kept(decodes: list[str]) -> None:
    v = make(FakeIdp(RSA), Clock())
    wrong = RSA.sign(claims(aud="someone-else"))
    for _ in range(2):
        assert await reason(v.verify(wrong)) == "wrong_audience"
    forged = RSA.sign(claims())[:-4] + "AAAA"
    for _ in range(2):
        assert await reason(v.verify(forged)) in {"bad_signature", "token_malformed"}
    id_token = RSA.sign(claims(nonce="n-1"))
    for _ in range(2):
        await v.verify(id_token, nonce="n-1")
    assert decodes == [wrong, wrong, forged, forged, id_token, id_token]
    assert len(v._cache) == 0
