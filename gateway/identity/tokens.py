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
"""

from __future__ import annotations

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
        if len(token.encode()) > self._max_bytes:
            raise refused("token_too_long", "The bearer token is too long.")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _malformed() from None
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
        return VerifiedToken(issuer, claims)


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
