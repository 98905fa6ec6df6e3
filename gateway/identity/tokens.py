"""Bearer JWTs: verified against the configured issuers' keys, or refused with a reason.

The order is the defence: the size is checked before anything is parsed; a critical header
extension (``crit``; none is understood) refuses the token; the algorithm
before any key is looked up ("none" and the HMAC family are never accepted, so a token "signed"
with an issuer's public key as an HMAC secret fails here, whatever the key); the issuer is
the one the unverified ``iss`` names exactly; then PyJWT checks the signature with that
issuer's key for the token's ``kid`` and only the token's own (allowed) algorithm, and the
claims: ``exp`` required, ``nbf`` and ``iat`` when present, ``aud`` (a list must contain the
audience; others may be listed too, RFC 7519 4.1.3), ``iss``, with the issuer's leeway.
Header parameters that name a key (``jku``, ``x5u``, ``jwk``, ``x5c``) are never followed: the
key is the issuer's, found by ``kid`` (a plain name) in its own JWKS. Every failure is
``AuthenticationFailed`` (401, code ``invalid_api_key`` as for keys) with a reason for the
failure log and a message that names no internals.

A token verified once is kept (``VerifiedCache``, by the SHA-256 of the token and the
audience, at most ``identity.verified_cache_size``), so a client reusing its token until it
expires costs one signature check, not one per request. An entry is used again only while
the token has not expired (``exp`` and the leeway, as PyJWT decides) and while the issuer's
key for its ``kid`` is the very key object it was checked with: the key cache parses new
objects whenever it reads the JWKS again, so an entry lasts at most one key-cache period, and
a key that left the JWKS on a rotation refuses the token (``unknown_kid``). Refusals are
never kept; ID tokens (a ``nonce``) are never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from gateway.errors import AuthenticationFailed, AuthFailureReason
from gateway.identity.jwks import Clock, IssuerKeys
from gateway.identity.settings import IdentitySettings, IssuerSettings

NOT_ACCEPTED = "The token's issuer is not accepted."
_REFUSED: list[tuple[type[jwt.PyJWTError], AuthFailureReason, str]] = [
    (jwt.ExpiredSignatureError, "token_expired", "The token has expired."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "The token is not valid yet."),
    (jwt.InvalidAudienceError, "wrong_audience", "The token is not meant for this service."),
    (jwt.InvalidIssuerError, "wrong_issuer", NOT_ACCEPTED),
    (jwt.InvalidSignatureError, "bad_signature", "The token's signature is invalid."),
    (jwt.MissingRequiredClaimError, "missing_claim", "The token lacks a required claim."),
    (jwt.InvalidAlgorithmError, "algorithm_refused", "The token's algorithm is not accepted."),
    (jwt.InvalidIssuedAtError, "not_yet_valid", "The token is not valid yet."),
]


@dataclass(frozen=True)
class VerifiedToken:
    issuer: IssuerSettings
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token verified earlier, and what must still hold to use it again."""

    token: VerifiedToken
    kid: str
    algorithm: str
    key: Any  # the key object it was checked with (a re-read JWKS makes new ones)
    until: float  # wall clock: exp + leeway, from which PyJWT refuses it


class VerifiedCache:
    """Verified tokens by digest; bounded, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[bytes, _Verified] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, digest: bytes) -> _Verified | None:
        """The entry, removed: ``keep`` puts it back (as the most recent) if still good."""
        return self._entries.pop(digest, None)

    def keep(self, digest: bytes, entry: _Verified) -> None:
        self._entries[digest] = entry
        while len(self._entries) > self.size:
            del self._entries[next(iter(self._entries))]


def refused(reason: AuthFailureReason, message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, reason=reason)


def _malformed() -> AuthenticationFailed:
    return refused("token_malformed", "Malformed bearer token.")


class TokenVerifier:
    def __init__(
        self,
        settings: IdentitySettings,
        client: httpx.AsyncClient,
        *,
        clock: Clock = time.monotonic,  # the key cache's; token times are PyJWT's (wall clock)
    ) -> None:
        self._max_bytes = settings.max_token_bytes
        self._keys = {i.name: IssuerKeys(i, client, clock) for i in settings.issuers}
        self._by_iss = {i.issuer: i for i in settings.issuers}  # exactly as configured
        self._cache = VerifiedCache(settings.verified_cache_size)

    def issuer(self, name: str) -> IssuerSettings:
        return self._keys[name].issuer

    async def discovery(self, issuer_name: str) -> Mapping[str, Any]:
        """The issuer's cached ``openid-configuration`` (authorization, token, end-session
        endpoints for the console). Raises ``AuthenticationFailed`` (``idp_unreachable``)."""
        return await self._keys[issuer_name].discovery()

    async def warm(self) -> None:
        """Read every issuer's keys (start-up); an unreachable IdP is logged, not raised."""
        for keys in self._keys.values():
            await keys.warm()

    async def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> VerifiedToken:
        """The token's verified claims. ``audience`` None: the issuer's configured API
        audience; ``nonce`` (ID tokens): must equal the token's."""
        data = token.encode()
        if len(data) > self._max_bytes:
            raise refused("token_too_long", "The bearer token is too long.")
        digest = None
        if nonce is None and self._cache.size:
            digest = hashlib.sha256(data).digest() + (audience or "").encode()
            cached = await self._cached(digest)
            if cached is not None:
                return cached
        try:  # header and claims from one parse; the verified decode below is the second
            parsed = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _malformed() from None
        header, unverified = parsed["header"], parsed["payload"]
        if "crit" in header:  # no JWS extension is understood here (RFC 7515 4.1.11)
            raise _malformed()
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm.lower() == "none" or algorithm[:2] == "HS":
            raise refused("algorithm_refused", "The token's algorithm is not accepted.")
        iss = unverified.get("iss")
        issuer = self._by_iss.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise refused("unknown_issuer", NOT_ACCEPTED)
        if algorithm not in issuer.algorithms:
            raise refused("algorithm_refused", "The token's algorithm is not accepted.")
        if not isinstance(kid, str):
            raise refused("unknown_kid", "The token's signing key is unknown.")
        key = await self._keys[issuer.name].key(kid, algorithm)
        claims = _decode(token, key, algorithm, issuer, audience or issuer.audience)
        if nonce is not None and not hmac.compare_digest(
            str(claims.get("nonce", "")).encode(), nonce.encode()
        ):
            raise refused("nonce_mismatch", "The token's nonce does not match.")
        verified = VerifiedToken(issuer, claims)
        if digest is not None:  # PyJWT refuses from int(exp) + leeway on
            until = int(claims["exp"]) + issuer.leeway_s
            self._cache.keep(digest, _Verified(verified, kid, algorithm, key, until))
        return verified

    async def _cached(self, digest: bytes) -> VerifiedToken | None:
        """The token verified earlier, if it still would be; None: verify it (again)."""
        entry = self._cache.take(digest)
        if entry is None or time.time() >= entry.until:
            return None  # expired: verified again, so refused with its reason
        keys = self._keys[entry.token.issuer.name]
        # The issuer's keys as they are now (re-read when due; a key gone refuses the token).
        if await keys.key(entry.kid, entry.algorithm) is not entry.key:
            return None  # the JWKS was read again since: checked again with the key read
        self._cache.keep(digest, entry)
        return entry.token


def _decode(
    token: str, key: Any, algorithm: str, issuer: IssuerSettings, audience: str
) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer.issuer,
            leeway=issuer.leeway_s,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        for kind, reason, message in _REFUSED:
            if isinstance(exc, kind):
                raise refused(reason, message) from None
        raise _malformed() from None
    return claims
