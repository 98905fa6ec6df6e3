"""A tiny identity provider for the JWT benchmark (and, through ``DocumentServer`` and
``SigningKey``, for the identity tests): one issuer's discovery document and JWKS over HTTP
(``http.server`` in a thread of the benchmark), an RSA-2048 and an EC P-256 key made at start
with ``cryptography``, and access tokens signed with them as a real IdP would.

The gateway reads the two documents once at start (and again after ``jwks_cache_s``), so the
server's own cost is outside every measured phase.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "sovereign-gateway"
TENANT_CLAIM = "sg_tenant"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Answer = tuple[int, dict[str, Any] | None]  # a status and the JSON document (None: ``{}``)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

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


def make_keys() -> dict[str, SigningKey]:
    """One RSA-2048 key (RS256) and one EC P-256 key (ES256), by algorithm."""
    return {"RS256": SigningKey.rsa("bench-rsa"), "ES256": SigningKey.ec("bench-ec")}


class DocumentServer:
    """JSON documents over HTTP on 127.0.0.1 (``http.server``, in a thread while ``running``):
    a subclass answers each GET path with a status and a document."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str) -> Answer:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, document = server.answer(self.path)
                data = json.dumps(document or {}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[Self]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)


class BenchIdp(DocumentServer):
    """One issuer at ``<base>/bench``: ``/.well-known/openid-configuration`` and ``/jwks``."""

    def __init__(self, keys: dict[str, SigningKey]) -> None:
        super().__init__()
        self.keys = keys
        self.issuer = f"{self.base_url}/bench"
        self.reads = 0  # JWKS reads: the gateway's refreshes

    def token(self, alg: str, tenant: str, subject: str = "user-1", ttl_s: int = 3600) -> str:
        """An access token shaped like Keycloak's essentials (iss, aud, sub, tenant, iat,
        exp, jti), signed with the key of ``alg``."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": subject, TENANT_CLAIM: tenant,
                  "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex,
                  "preferred_username": subject, "scope": "openid profile"}  # fmt: skip
        return self.keys[alg].sign(claims)

    def answer(self, path: str) -> Answer:
        if path == "/bench/.well-known/openid-configuration":
            return 200, {"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"}
        if path == "/bench/jwks":
            self.reads += 1
            return 200, {"keys": [key.jwk() for key in self.keys.values()]}
        return 404, None
