"""API keys: generation, hashing, and constant-time authentication against stored hashes.

Keys are high-entropy random strings, so a fast hash is the right tool (a slow KDF would only
add latency to every request). With a pepper configured the hash is an HMAC, so a leaked
configuration alone does not let anyone test candidate keys offline. The clear key is never
kept: only its hash is stored, in config and in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.errors import AuthenticationFailed
from gateway.topology import Tenant

KEY_PREFIX = "sk-sov-"
_BEARER = "bearer "
# Longest Authorization value we look at; anything longer is malformed, not hashed.
_MAX_KEY_LENGTH = 512


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str, pepper: bytes | None = None) -> str:
    if pepper:
        digest = hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant and which of its keys was used (never the key)."""

    tenant: Tenant
    key_id: str


@dataclass(frozen=True, slots=True)
class _StoredKey:
    scheme: str
    digest: bytes
    principal: Principal


class KeyRing:
    def __init__(self, entries: list[tuple[str, Principal]], pepper: bytes | None) -> None:
        self._pepper = pepper
        self._keys: list[_StoredKey] = []
        for stored_hash, principal in entries:
            scheme, _, hex_digest = stored_hash.partition(":")
            if scheme == "hmac-sha256" and not pepper:
                raise ValueError(
                    f"key {principal.key_id!r} is an hmac-sha256 hash but no key pepper is set"
                )
            self._keys.append(_StoredKey(scheme, bytes.fromhex(hex_digest), principal))

    def authenticate(self, authorization: str | None) -> Principal:
        key = parse_bearer(authorization)
        plain = hashlib.sha256(key.encode()).digest()
        peppered = (
            hmac.new(self._pepper, key.encode(), hashlib.sha256).digest() if self._pepper else b""
        )
        found: Principal | None = None
        # Compare against every stored hash, without stopping early, in constant time each.
        for stored in self._keys:
            candidate = peppered if stored.scheme == "hmac-sha256" else plain
            if hmac.compare_digest(candidate, stored.digest):
                found = stored.principal
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return found


def parse_bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    if (
        len(authorization) > _MAX_KEY_LENGTH + len(_BEARER)
        or not authorization[: len(_BEARER)].lower() == _BEARER
    ):
        raise AuthenticationFailed(
            "Malformed Authorization header; expected 'Bearer <key>'.", code="invalid_api_key"
        )
    key = authorization[len(_BEARER) :].strip()
    if not key or any(c.isspace() for c in key):
        raise AuthenticationFailed(
            "Malformed Authorization header; expected 'Bearer <key>'.", code="invalid_api_key"
        )
    return key
