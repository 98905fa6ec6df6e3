"""The verifier and its key cache through their seams: the IdP behind ``httpx.MockTransport``,
the cache's clock in the test's hand (the HTTP end to end is tests/identity/test_api_tokens.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gateway.errors import AuthenticationFailed
from gateway.identity.jwks import SigningKey, parse_jwks
from gateway.identity.settings import IdentitySettings
from gateway.identity.tokens import TokenVerifier
from tests.identity.idp import Key

ISSUER = "https://idp.test/realms/acme"
RSA, EC = Key.rsa("r1"), Key.ec("e1")


class FakeIdp:
    def __init__(self, *keys: Key) -> None:
        self.jwks: dict[str, Any] = {"keys": [k.jwk() for k in keys]}
        self.discovery: dict[str, Any] = {"issuer": ISSUER, "jwks_uri": ISSUER + "/certs",
                                          "authorization_endpoint": ISSUER + "/auth"}  # fmt: skip
        self.down = False
        self.fetches = 0
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json=self.discovery)
        self.fetches += 1
        await asyncio.sleep(self.delay)
        return httpx.Response(200, json=self.jwks)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(idp: FakeIdp, clock: Clock, **options: Any) -> TokenVerifier:
    issuer = {"name": "acme", "issuer": ISSUER, "jurisdiction": "DE", "operator": "test",
              "jwks_cache_s": 60, "jwks_min_refresh_s": 10, "jwks_max_stale_s": 100,
              "tenant": "acme", **options}  # fmt: skip
    settings = IdentitySettings(issuers=[issuer])
    client = httpx.AsyncClient(transport=httpx.MockTransport(idp))
    return TokenVerifier(settings, client, clock=clock)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "sovereign-gateway", "sub": "u1", "iat": now, "exp": now + 60}
    return {**base, **overrides}


async def reason(verify: Any) -> str:
    with pytest.raises(AuthenticationFailed) as raised:
        await verify
    return raised.value.reason


async def test_verifies_rsa_and_ec_tokens_after_discovery() -> None:
    idp, clock = FakeIdp(RSA, EC), Clock()
    v = verifier(idp, clock)
    assert (await v.verify(RSA.sign(claims()))).claims["sub"] == "u1"
    assert (await v.verify(EC.sign(claims(sub="u2")))).claims["sub"] == "u2"
    assert idp.fetches == 1
    assert (await v.discovery("acme"))["authorization_endpoint"] == ISSUER + "/auth"


async def test_the_nonce_and_a_given_audience_must_match() -> None:
    v = verifier(FakeIdp(RSA), Clock())
    id_token = RSA.sign(claims(aud="console", nonce="n-1"))
    assert (await v.verify(id_token, audience="console", nonce="n-1")).claims["nonce"] == "n-1"
    assert await reason(v.verify(id_token, audience="console", nonce="n-2")) == "nonce_mismatch"
    assert await reason(v.verify(id_token)) == "wrong_audience"
    no_nonce = RSA.sign(claims(aud="console"))
    assert await reason(v.verify(no_nonce, audience="console", nonce="n-1")) == "nonce_mismatch"


async def test_exp_is_required_and_leeway_applies() -> None:
    v = verifier(FakeIdp(RSA), Clock(), leeway_s=30)
    now = int(time.time())
    without_exp = claims()
    del without_exp["exp"]
    assert await reason(v.verify(RSA.sign(without_exp))) == "missing_claim"
    assert (await v.verify(RSA.sign(claims(exp=now - 10)))).claims  # within the leeway
    assert await reason(v.verify(RSA.sign(claims(exp=now - 60)))) == "token_expired"
    assert await reason(v.verify(RSA.sign(claims(iat=now + 600)))) == "not_yet_valid"


async def test_an_algorithm_the_issuer_does_not_allow_is_refused_before_any_read() -> None:
    idp = FakeIdp(EC)
    v = verifier(idp, Clock(), algorithms=["RS256"])
    assert await reason(v.verify(EC.sign(claims()))) == "algorithm_refused"
    assert idp.fetches == 0


async def test_a_key_is_used_only_for_an_algorithm_its_type_fits() -> None:
    # The RSA key published under the EC key's kid: an ES256 token cannot use it.
    impostor = {**RSA.jwk(), "kid": "e1", "alg": "ES256"}
    idp = FakeIdp()
    idp.jwks = {"keys": [impostor]}
    v = verifier(idp, Clock(), jwks_min_refresh_s=0)
    assert await reason(v.verify(EC.sign(claims()))) == "unknown_kid"


def test_keys_for_other_uses_and_symmetric_keys_are_ignored() -> None:
    keys = parse_jwks({"keys": [
        RSA.jwk(), {**EC.jwk(), "use": "enc"}, {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
        {**RSA.jwk(), "kid": None}, "junk",
    ]})  # fmt: skip
    assert sorted(keys) == ["r1"]
    assert SigningKey("r1", RSA.jwk()).fits("RS256")
    assert not SigningKey("r1", RSA.jwk()).fits("PS256")  # its declared alg is RS256
    assert not SigningKey("e1", EC.jwk()).fits("ES384")  # P-256 is not ES384's curve
    with pytest.raises(ValueError, match="not a JWK set"):
        parse_jwks({"nokeys": []})


async def test_concurrent_unknown_kids_share_one_read_and_then_wait_the_interval() -> None:
    idp, clock = FakeIdp(RSA), Clock()
    v = verifier(idp, clock)
    await v.verify(RSA.sign(claims()))
    clock.now += 11  # past jwks_min_refresh_s
    idp.delay = 0.05
    stranger = Key.rsa("r9")
    results = await asyncio.gather(*(reason(v.verify(stranger.sign(claims()))) for _ in range(10)))
    assert results == ["unknown_kid"] * 10
    assert idp.fetches == 2  # one read for all ten
    assert await reason(v.verify(stranger.sign(claims()))) == "unknown_kid"
    assert idp.fetches == 2  # within jwks_min_refresh_s: no read
    idp.jwks["keys"].append(stranger.jwk())
    clock.now += 11
    assert (await v.verify(stranger.sign(claims()))).claims  # the rotation is seen
    assert idp.fetches == 3


async def test_stale_keys_serve_within_max_stale_then_fail_closed_then_recover() -> None:
    idp, clock = FakeIdp(RSA), Clock()
    v = verifier(idp, clock)
    token = RSA.sign(claims())
    await v.verify(token)
    idp.down = True
    clock.now += 61  # the cache is due; the read fails; the cached key serves
    assert (await v.verify(token)).claims
    clock.now += 100  # 161 s after the read: past cache + max stale
    assert await reason(v.verify(token)) == "idp_unreachable"
    idp.down = False
    assert await reason(v.verify(token)) == "idp_unreachable"  # retried only after 10 s
    clock.now += 10
    assert (await v.verify(token)).claims


async def test_never_read_keys_fail_closed_and_discovery_must_name_the_issuer() -> None:
    idp = FakeIdp(RSA)
    idp.discovery["issuer"] = ISSUER + "/"  # not exactly the configured issuer
    v = verifier(idp, Clock())
    assert await reason(v.verify(RSA.sign(claims()))) == "idp_unreachable"
    assert idp.fetches == 0
    with pytest.raises(AuthenticationFailed):
        await v.discovery("acme")


async def test_a_configured_jwks_url_skips_discovery() -> None:
    idp = FakeIdp(RSA)
    idp.discovery = {}  # would fail
    v = verifier(idp, Clock(), jwks_url="https://idp.test/keys")
    assert (await v.verify(RSA.sign(claims()))).claims["sub"] == "u1"


async def test_the_size_is_checked_before_anything_else() -> None:
    idp = FakeIdp(RSA)
    v = verifier(idp, Clock())
    assert await reason(v.verify(RSA.sign(claims(pad="x" * 9000)))) == "token_too_long"
    assert await reason(v.verify("a.b.c")) == "token_malformed"
    assert idp.fetches == 0


@pytest.mark.parametrize(
    "discovery",
    [{"issuer": ISSUER, "jwks_uri": "::not a url::"}, {"issuer": ISSUER, "jwks_uri": 7},
     {"issuer": ISSUER}, ["not", "an", "object"]],
)  # fmt: skip
async def test_a_broken_discovery_document_fails_closed_without_a_500(discovery: Any) -> None:
    idp = FakeIdp(RSA)
    idp.discovery = discovery
    v = verifier(idp, Clock())
    assert await reason(v.verify(RSA.sign(claims()))) == "idp_unreachable"
