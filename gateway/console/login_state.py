"""The state of a sign-in under way, kept in the browser: sealed into the ``sg_console_login``
cookie (AES-256-GCM), so that starting a sign-in costs the server nothing to remember.

Why not server side (as before): ``GET /console/auth/login`` is unauthenticated, and each one
stored a ten-minute state in Redis (or memory), so anyone could fill the store at the rate of
their requests, bounded only by the TTL. A per-client rate limit and a global cap would bound
it but also let a flood lock real people out of signing in. Sealed in the cookie, a state
costs the server nothing until the callback, and the callback's only write (the "used"
marker, ``SessionStore.first_use``) comes after the IdP has given a valid ID token for it:
an attacker pays for each with a real sign-in at the IdP.

What the seal holds: the OAuth ``state``, the OIDC ``nonce``, the PKCE ``code_verifier``, the
local path to return to and the expiry (``LOGIN_TTL_S``). Encrypted, not only signed, so the
verifier and the nonce stay secret even from the browser's other readers (logs, proxies).

- Bound to the browser: the callback's ``state`` must equal the one sealed in the cookie this
  browser sent; another browser's callback URL does not match its cookie (no login CSRF).
- Authentic: GCM's tag covers the version byte and the body, with a fixed associated text
  naming the purpose; a changed byte, another key or junk opens to nothing.
- Single use: the callback claims the state in the session store (``first_use``) once the
  code exchange succeeded; a replay finds the claim and is refused, even against an IdP that
  would take the code twice.
- The key: derived with HKDF-SHA256 from ``security.pseudonym_key`` (a separate key for a
  separate purpose; every replica shares the secret, so any replica can finish a sign-in that
  another began). Embedded without that secret: a random key per process (a restart
  abandons sign-ins under way; nothing else).
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LOGIN_TTL_S = 600  # a sign-in at the IdP must come back within ten minutes
_VERSION = b"\x01"
_NONCE_BYTES = 12
_PURPOSE = b"sovereign-gateway console sign-in state v1"
_MAX_COOKIE_CHARS = 4000  # a browser keeps about 4 KB per cookie; more is not ours


@dataclass(frozen=True, slots=True)
class LoginState:
    """A sign-in under way: what the callback needs to finish it."""

    state: str  # the OAuth state (also sent to the IdP and back)
    nonce: str  # the OIDC nonce the ID token must carry
    verifier: str  # the PKCE code_verifier
    next: str  # the local /console path to return to
    expires_at: float  # unix time


def login_key(secret: bytes | None) -> bytes:
    """The sealing key: derived from ``secret`` (the configured pseudonym key's bytes), or
    random when there is none (embedded: one process)."""
    if secret is None:
        return os.urandom(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret)


class LoginSealer:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._aead = AESGCM(key)
        self._clock = clock

    def seal(self, login: LoginState) -> str:
        body = orjson.dumps(
            [login.state, login.nonce, login.verifier, login.next, login.expires_at]
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _VERSION + nonce + self._aead.encrypt(nonce, body, _VERSION + _PURPOSE)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, cookie: str | None) -> LoginState | None:
        """The state sealed in ``cookie``; None if absent, forged, changed or expired."""
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 1 + _NONCE_BYTES + 16 or raw[:1] != _VERSION:
            return None
        nonce, body = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
        try:
            fields = orjson.loads(self._aead.decrypt(nonce, body, _VERSION + _PURPOSE))
            login = LoginState(*fields)
        except (InvalidTag, orjson.JSONDecodeError, TypeError):
            return None
        return login if login.expires_at > self._clock() else None
