"""One issuer's signing keys (its JWKS) and discovery document, read asynchronously and cached.

Keys are read from ``jwks_url``, or from the ``jwks_uri`` of the discovery document
(``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be the configured one),
and kept by ``kid``:

- after ``jwks_cache_s`` they are read again (by the first token that needs them);
- a token whose ``kid`` is unknown triggers a read at most every ``jwks_min_refresh_s`` (a
  rotation is seen at once, a flood of made-up kids costs the IdP nothing); concurrent reads
  are one read (single flight);
- while the IdP cannot be read, the cached keys stay in use for ``jwks_max_stale_s`` past
  their refresh time, then every token of the issuer is refused (fail closed), logged and
  counted (``sovereign_idp_unreachable_refusals_total``). Failed reads are retried at most
  every ``jwks_min_refresh_s``.

Keys whose ``use`` is not ``sig``, symmetric keys (``oct``) and keys without ``kid`` are
ignored; a key is used only for an algorithm its type (and curve) fits; at most ``MAX_KEYS``
are kept. A document is read as a stream and given up past ``MAX_DOCUMENT_BYTES`` (at once if
its ``Content-Length`` says so) or after ``READ_DEADLINE_S`` in all (the client's timeouts are
per read: an IdP that sends a byte a second would never trip them).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog
from jwt import PyJWK, PyJWTError

from gateway.errors import AuthenticationFailed
from gateway.identity.settings import IssuerSettings
from gateway.metrics import IDP_FETCH_FAILURES, IDP_UNREACHABLE_REFUSALS

log = structlog.get_logger("gateway.identity")
Clock = Callable[[], float]

MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or discovery document larger than this is refused
MAX_KEYS = 100  # an IdP publishes a handful (current, next, previous); more are ignored
READ_DEADLINE_S = 5.0  # one document, start to end
# Which key type (and curve) each algorithm needs.
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_CURVE = {"ES256": ("P-256",), "ES384": ("P-384",), "ES512": ("P-521",),
          "EdDSA": ("Ed25519", "Ed448")}  # fmt: skip
# What a read of the IdP can fail with: network, status, size, JSON, shape, a bad jwks_uri.
_READ_ERRORS = (httpx.HTTPError, httpx.InvalidURL, ValueError, KeyError, TypeError)
UNREACHABLE = (
    "The identity provider is unreachable, so the token cannot be verified; try again later."
)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    jwk: Mapping[str, Any]  # as published

    def fits(self, algorithm: str) -> bool:
        """May this key verify ``algorithm``? Its type, curve and declared ``alg`` agree."""
        declared = self.jwk.get("alg")
        if declared is not None and declared != algorithm:
            return False
        if self.jwk.get("kty") != _KEY_TYPE.get(algorithm[:2]):
            return False
        curves = _CURVE.get(algorithm)
        return curves is None or self.jwk.get("crv") in curves


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """The usable signature keys of a JWKS document, by ``kid`` (pure)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, SigningKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        keys[jwk["kid"]] = SigningKey(jwk["kid"], jwk)
        if len(keys) >= MAX_KEYS:
            break
    return keys


class IssuerKeys:
    def __init__(
        self, issuer: IssuerSettings, client: httpx.AsyncClient, clock: Clock = time.monotonic
    ) -> None:
        self.issuer = issuer
        self._client = client
        self._clock = clock
        self._keys: dict[str, SigningKey] | None = None
        self._discovery: Mapping[str, Any] | None = None
        self._fresh_until = 0.0  # read again from here on
        self._last_attempt = -math.inf
        self._closed = False  # refusing every token: logged once, when it starts
        self._inflight: asyncio.Task[None] | None = None
        self._parsed: dict[tuple[str, str], Any] = {}  # (kid, alg) -> the public key object

    async def key(self, kid: str, algorithm: str) -> Any:
        """The public key for ``kid`` and ``algorithm``, read from the IdP when due."""
        await self._ensure_fresh()
        found = self._usable(kid, algorithm)
        if found is None and self._may_try(self._clock()):
            await self._refresh()  # an unknown kid: perhaps a rotation
            self._ensure_usable()
            found = self._usable(kid, algorithm)
        if found is None:
            raise AuthenticationFailed("The token's signing key is unknown.", reason="unknown_kid")
        return found

    async def discovery(self) -> Mapping[str, Any]:
        """The issuer's discovery document (read with the keys; cached as long)."""
        if self.issuer.jwks_url is None:
            await self._ensure_fresh()
        elif self._discovery is None or self._clock() >= self._fresh_until:
            try:
                self._discovery = await self._discover()
            except _READ_ERRORS as exc:
                self._failed(exc)
        if self._discovery is None:
            raise self._unreachable()
        return self._discovery

    async def warm(self) -> None:
        """Read the keys now (at start-up), so the first token does not wait; never raises."""
        if self._keys is None:
            await self._refresh()

    # the cache

    async def _ensure_fresh(self) -> None:
        now = self._clock()
        if self._keys is not None and now < self._fresh_until:
            return
        if self._may_try(now):
            await self._refresh()
        self._ensure_usable()

    def _may_try(self, now: float) -> bool:
        """A read now: not while one is running; after a failed one, and for an unknown kid,
        not within ``jwks_min_refresh_s`` of the last."""
        if self._inflight is not None:
            return True  # joins it
        return now - self._last_attempt >= self.issuer.jwks_min_refresh_s

    def _ensure_usable(self) -> None:
        if self._keys is None:
            raise self._unreachable()
        if self._clock() >= self._fresh_until + self.issuer.jwks_max_stale_s:
            raise self._unreachable()

    def _usable(self, kid: str, algorithm: str) -> Any:
        assert self._keys is not None
        signing = self._keys.get(kid)
        if signing is None or not signing.fits(algorithm):
            return None
        parsed = self._parsed.get((kid, algorithm))
        if parsed is None:
            try:
                parsed = PyJWK(dict(signing.jwk), algorithm).key
            except PyJWTError:  # published, but not a valid key of its type
                return None
            self._parsed[(kid, algorithm)] = parsed
        return parsed

    def _unreachable(self) -> AuthenticationFailed:
        IDP_UNREACHABLE_REFUSALS.labels(self.issuer.name).inc()
        if not self._closed:  # every refusal is counted; the log says when they start
            self._closed = True
            log.error("identity.idp_unreachable", issuer=self.issuer.name,
                      keys_cached=self._keys is not None)  # fmt: skip
        return AuthenticationFailed(UNREACHABLE, reason="idp_unreachable")

    # reading

    async def _refresh(self) -> None:
        """One read at a time: concurrent callers share it; a caller that is cancelled does not
        cancel it for the others. Failures are logged and counted, never raised."""
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch())
        await asyncio.shield(self._inflight)

    async def _fetch(self) -> None:
        self._last_attempt = self._clock()
        try:
            discovery = None if self.issuer.jwks_url is not None else await self._discover()
            url = str(self.issuer.jwks_url) if discovery is None else discovery["jwks_uri"]
            if not isinstance(url, str):
                raise ValueError("jwks_uri is not a string")
            keys = parse_jwks(await self._get(url))
        except _READ_ERRORS as exc:
            self._failed(exc)
        else:
            self._keys, self._parsed = keys, {}
            if discovery is not None:
                self._discovery = discovery
            self._fresh_until = self._clock() + self.issuer.jwks_cache_s
            self._closed = False
            log.info("identity.jwks_read", issuer=self.issuer.name, keys=sorted(keys))
        finally:
            self._inflight = None

    def _failed(self, exc: Exception) -> None:
        IDP_FETCH_FAILURES.labels(self.issuer.name).inc()
        log.warning("identity.idp_read_failed", issuer=self.issuer.name,
                    error=type(exc).__name__, detail=str(exc)[:200])  # fmt: skip

    async def _discover(self) -> Mapping[str, Any]:
        base = self.issuer.issuer.rstrip("/")
        document = await self._get(base + "/.well-known/openid-configuration")
        if not isinstance(document, dict):
            raise ValueError("the discovery document is not an object")
        if document.get("issuer") != self.issuer.issuer:  # exactly (OpenID Connect Discovery)
            raise ValueError("the discovery document names another issuer")
        return document

    async def _get(self, url: str) -> Any:
        request = self._client.build_request("GET", url, headers={"accept": "application/json"})
        status, body = await read_bounded(self._client, request)
        if status != 200:
            raise ValueError(f"HTTP {status} from {url}")
        return orjson.loads(body)


async def read_bounded(client: httpx.AsyncClient, request: httpx.Request) -> tuple[int, bytes]:
    """The status and body of ``request`` to an IdP, read no further than
    ``MAX_DOCUMENT_BYTES`` and within ``READ_DEADLINE_S`` in all; ``ValueError`` past either
    (httpx errors pass through)."""
    try:
        async with asyncio.timeout(READ_DEADLINE_S):
            response = await client.send(request, stream=True)
            try:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"the answer of {request.url} is too large")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise ValueError(f"the answer of {request.url} is too large")
                return response.status_code, bytes(body)
            finally:
                await response.aclose()
    except TimeoutError:
        raise ValueError(f"no whole answer from {request.url} in {READ_DEADLINE_S} s") from None


def idp_client(timeout_s: float = 3.0) -> httpx.AsyncClient:
    """The client that reads the IdPs' documents: short timeouts (a token waits for it), no
    redirects, no proxy from the environment (it could carry the reads elsewhere)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=8),
        follow_redirects=False,
        trust_env=False,
    )
