"""A minimal identity provider for the tests: discovery documents and JWK sets over real HTTP
(``http.server`` in a thread), keys generated here (RSA and EC, with ``cryptography``), tokens
signed here with PyJWT, and the few hostile tokens PyJWT will not make.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Key:
    kid: str
    private: PrivateKey
    alg: str

    @classmethod
    def rsa(cls, kid: str) -> Key:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @classmethod
    def ec(cls, kid: str) -> Key:
        return cls(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg, **extra}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        headers = {"kid": self.kid if kid is None else kid, "typ": "at+jwt"}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


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


class IdentityProvider:
    def __init__(self) -> None:
        self.issuers: dict[str, Issuer] = {}
        self.fetches: Counter[str] = Counter()  # JWKS reads, by issuer name
        self.last_fetch: dict[str, float] = {}  # time.monotonic() of the last JWKS read
        self.last_request: dict[str, float] = {}  # ... of the last request of any document
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

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

    def _answer(self, path: str) -> tuple[int, dict[str, Any] | None]:
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = provider._answer(self.path)
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[IdentityProvider]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
