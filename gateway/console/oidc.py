"""Sign-in with OpenID Connect: authorization code flow with PKCE (S256), state and nonce.

The pure parts (the PKCE pair, the authorization and logout URLs) are functions; the one
network call of its own is the code exchange at the token endpoint, on the gateway's httpx
client. Discovery and the ID token's verification (signature, ``iss``, ``aud`` = the console's
client id, ``exp``, ``nonce``) are the identity package's ``TokenVerifier``
(gateway/identity/tokens.py); its failures are ``AuthenticationFailed``. What is particular
to ID tokens (the authorized party, ``azp``) is checked here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
import orjson

from gateway.errors import AuthenticationFailed
from gateway.identity.jwks import read_bounded
from gateway.identity.roles import Actor
from gateway.identity.tokens import VerifiedToken

CALLBACK_PATH = "/console/auth/callback"
SIGNED_OUT_PATH = "/console/signed-out"


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge): 43+ unreserved characters, and their S256 (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)  # 64 characters
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Verifier(Protocol):
    """The part of ``gateway.identity.tokens.TokenVerifier`` the console uses."""

    async def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> VerifiedToken: ...

    async def discovery(self, issuer_name: str) -> Mapping[str, Any]: ...


class ActorOf(Protocol):
    def __call__(self, verified: VerifiedToken, /) -> Actor: ...


@dataclass(frozen=True, slots=True)
class Client:
    """The console as an OAuth client of one issuer."""

    issuer: str  # identity.issuers[].name
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]


def authorization_url(
    endpoint: str, client: Client, redirect_uri: str, state: str, nonce: str, challenge: str
) -> str:
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(client.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)


def logout_url(endpoint: str, client: Client, id_token: str, return_to: str) -> str:
    """RP-initiated logout: the IdP ends its own session, then sends the browser back."""
    query = {
        "id_token_hint": id_token,
        "client_id": client.client_id,
        "post_logout_redirect_uri": return_to,
    }
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)


def _failed(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, reason="malformed", code="sign_in_failed")


async def exchange_code(
    http: httpx.AsyncClient,
    endpoint: str,
    client: Client,
    code: str,
    verifier: str,
    redirect_uri: str,
) -> str:
    """The ID token for ``code``: client_secret_basic if the client has a secret, else a
    public client (``client_id`` in the body, PKCE alone)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers = {"accept": "application/json"}
    if client.client_secret is None:
        form["client_id"] = client.client_id
    else:  # RFC 6749 2.3.1: both parts form-urlencoded before base64
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = http.build_request("POST", endpoint, data=form, headers=headers)
    try:  # bounded in size and time, as every read of an IdP (gateway/identity/jwks.py)
        status, content = await read_bounded(http, request)
    except (httpx.HTTPError, ValueError) as exc:
        raise _failed("The identity provider's token endpoint did not answer.") from exc
    if status != 200:
        raise _failed(f"The identity provider refused the code ({status}).")
    try:
        body = orjson.loads(content)
    except ValueError as exc:
        raise _failed("The identity provider's token answer is not JSON.") from exc
    id_token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(id_token, str) or not id_token:
        raise _failed("The identity provider's token answer has no ID token.")
    return id_token


def for_this_client(claims: Mapping[str, Any], client_id: str) -> bool:
    """OpenID Connect Core 3.1.3.7 (items 3 to 5): ``aud`` contains the client (checked by
    the verifier); an ID token with several audiences must name the client as its authorized
    party (``azp``), and an ``azp``, when present, must be the client. Otherwise a token
    issued to another client that merely lists ours could sign someone in here."""
    audience = claims.get("aud")
    several = isinstance(audience, list) and len(audience) > 1
    party = claims.get("azp")
    if party is None:
        return not several
    return bool(party == client_id)


def endpoint(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None
