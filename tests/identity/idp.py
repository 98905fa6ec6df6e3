"""A minimal identity provider for the tests: discovery documents and JWK sets over real HTTP
(``http.server`` in a thread), keys generated here (RSA and EC, with ``cryptography``), tokens
signed here with PyJWT, and the few hostile tokens PyJWT will not make. The server and the keys
are the JWT benchmark's (``loadtest/jwt_idp.py``); the issuers and what they answer are here.

Each issuer lives under its own path, ``<base>/<name>``: its discovery document at
``/<name>/.well-known/openid-configuration``, its keys at ``/<name>/jwks``. The test decides
what each publishes, whether it is down (503), and counts the key reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loadtest.jwt_idp import Answer, DocumentServer, SigningKey

Key = SigningKey  # RSA or EC, with its JWK, its public PEM and the tokens it signs


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], kid: str) -> str:
    """An ``alg: none`` token (no signature)."""
    header = _b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def hmac_signed(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    """An HS256 token with ``secret`` as the HMAC key (here: an issuer's public key, the
    algorithm-confusion attack; PyJWT refuses to make one, so it is made by hand)."""
    header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


@dataclass
class Issuer:
    name: str
    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)  # the published JWKS
    down: bool = False


class IdentityProvider(DocumentServer):
    def __init__(self) -> None:
        super().__init__()
        self.issuers: dict[str, Issuer] = {}
        self.fetches: Counter[str] = Counter()  # JWKS reads, by issuer name
        self.last_fetch: dict[str, float] = {}  # time.monotonic() of the last JWKS read
        self.last_request: dict[str, float] = {}  # ... of the last request of any document
        self._lock = threading.Lock()

    def add(self, name: str, *keys: Key) -> Issuer:
        issuer = Issuer(name, f"{self.base_url}/{name}", [k.jwk() for k in keys])
        self.issuers[name] = issuer
        return issuer

    def publish(self, name: str, *keys: Key) -> None:
        with self._lock:
            self.issuers[name].keys = [k.jwk() for k in keys]

    def set_down(self, name: str, down: bool) -> None:
        with self._lock:
            self.issuers[name].down = down

    def wait_since_last_fetch(self, name: str, seconds: float) -> None:
        """Sleep until ``seconds`` have passed since the issuer's keys were last read."""
        wait = self.last_fetch.get(name, 0.0) + seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def answer(self, path: str) -> Answer:
        name, _, rest = path.strip("/").partition("/")
        with self._lock:
            issuer = self.issuers.get(name)
            if issuer is None:
                return 404, None
            self.last_request[name] = time.monotonic()
            if rest == "jwks":
                self.fetches[name] += 1
                self.last_fetch[name] = time.monotonic()
            if issuer.down:
                return 503, None
            if rest == ".well-known/openid-configuration":
                return 200, {
                    "issuer": issuer.url,
                    "jwks_uri": issuer.url + "/jwks",
                    "authorization_endpoint": issuer.url + "/auth",
                    "token_endpoint": issuer.url + "/token",
                }
            if rest == "jwks":
                return 200, {"keys": list(issuer.keys)}
        return 404, None
