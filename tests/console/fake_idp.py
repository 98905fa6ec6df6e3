"""A small OpenID provider for the console's HTTP tests, on a real local port.

Discovery, JWKS (one RSA key), an authorization endpoint that signs in ``next_user`` without a
page (it redirects straight back with a code), a token endpoint that checks the PKCE verifier
and the redirect URI, and an end-session endpoint. Test knobs: ``next_user`` (the claims of
whoever signs in next), ``wrong_nonce`` (the ID token carries another nonce),
``reusable_codes`` (a lax IdP that takes a code twice), ``signer`` (another IdP signs the ID
token, with its own ``iss``), and the record
of what the console sent (``authorizations``, ``token_requests``). The browser tests use a real
IdP (tests/idp); this one is for fast, fully controlled tests.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.servers import free_port


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    user: dict[str, Any]


@dataclass
class FakeIdP:
    issuer: str = ""
    next_user: dict[str, Any] = field(default_factory=dict)
    wrong_nonce: bool = False
    reusable_codes: bool = False
    signer: FakeIdP | None = None
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[tuple[dict[str, str], str | None]] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "test-key"

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, grant: Grant) -> str:
        signer = self.signer or self
        now = int(time.time())
        claims = {
            "iss": signer.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce" if self.wrong_nonce else grant.nonce,
            **grant.user,
        }
        return jwt.encode(claims, signer.key, algorithm="RS256", headers={"kid": signer.kid})

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "end_session_endpoint": self.issuer + "/logout",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def keys(self, request: Request) -> Response:
        return JSONResponse(self.jwks())

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorizations.append(query)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            query["client_id"],
            query["redirect_uri"],
            query["code_challenge"],
            query["nonce"],
            dict(self.next_user),
        )
        back = {"code": code, "state": query["state"]}
        return RedirectResponse(query["redirect_uri"] + "?" + urlencode(back), status_code=303)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append((form, request.headers.get("authorization")))
        code = form.get("code", "")
        grant = self.grants.get(code) if self.reusable_codes else self.grants.pop(code, None)
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": uuid.uuid4().hex,
                "token_type": "Bearer",
                "id_token": self.id_token(grant),
            }
        )

    async def logout(self, request: Request) -> Response:
        return Response("signed out at the IdP")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.keys),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/logout", self.logout),
            ]
        )


@contextmanager
def running_idp() -> Iterator[FakeIdP]:
    idp = FakeIdP()
    port = free_port()
    idp.issuer = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(idp.app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake IdP did not start")
        time.sleep(0.02)
    try:
        yield idp
    finally:
        server.should_exit = True
        thread.join(10)
