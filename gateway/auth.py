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
import time

from gateway.core.tenant import Principal
from gateway.errors import AuthenticationFailed

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


class KeyRing:
    """Stored key hashes -> principals, looked up by the hash of the presented key.

    A lookup by digest reveals nothing through timing: finding a hash's position would need
    a preimage of SHA-256. Immutable; the directory builds a new ring on every change.
    """

    def __init__(self, entries: list[tuple[str, Principal]], pepper: bytes | None) -> None:
        self._pepper = pepper
        self._plain: dict[bytes, Principal] = {}
        self._peppered: dict[bytes, Principal] = {}
        self._by_key_id: dict[str, Principal] = {}
        for stored_hash, principal in entries:
            self._by_key_id[principal.key_id] = principal
            scheme, _, hex_digest = stored_hash.partition(":")
            if scheme == "hmac-sha256" and not pepper:
                raise ValueError(
                    f"key {principal.key_id!r} is an hmac-sha256 hash but no key pepper is set"
                )
            table = self._peppered if scheme == "hmac-sha256" else self._plain
            table[bytes.fromhex(hex_digest)] = principal

    def __len__(self) -> int:
        return len(self._plain) + len(self._peppered)

    def of_key(self, key_id: str) -> Principal | None:
        """The principal of a key the gateway already knows by id (a batch's key, to run its
        lines as): None once the key is revoked or its grace period has ended."""
        found = self._by_key_id.get(key_id)
        if found is None or (found.expires_at is not None and time.time() >= found.expires_at):
            return None
        return found

    def authenticate(self, authorization: str | None) -> Principal:
        key = parse_bearer(authorization).encode()
        found = self._plain.get(hashlib.sha256(key).digest()) if self._plain else None
        if found is None and self._pepper and self._peppered:
            found = self._peppered.get(hmac.new(self._pepper, key, hashlib.sha256).digest())
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided.", reason="unknown_key")
        if found.expires_at is not None and time.time() >= found.expires_at:
            # The same answer as an unknown key: only the failure log tells them apart.
            raise AuthenticationFailed("Incorrect API key provided.", reason="expired")
        return found


def parse_bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            reason="missing",
            code="missing_api_key",
        )
    if (
        len(authorization) > _MAX_KEY_LENGTH + len(_BEARER)
        or not authorization[: len(_BEARER)].lower() == _BEARER
    ):
        raise AuthenticationFailed(
            "Malformed Authorization header; expected 'Bearer <key>'.",
            reason="malformed",
            code="invalid_api_key",
        )
    key = authorization[len(_BEARER) :].strip()
    if not key or any(c.isspace() for c in key):
        raise AuthenticationFailed(
            "Malformed Authorization header; expected 'Bearer <key>'.",
            reason="malformed",
            code="invalid_api_key",
        )
    return key
