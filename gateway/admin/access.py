"""Who is asking: the acting identity of an admin request.

``admin_actor`` (every admin route's dependency) resolves the bearer credential to an
``Actor``: an admin token (``gateway.admin.auth``: the platform admin's, or a named one with
its roles), else a bearer JWT of a configured issuer (``gateway.identity.claims``: roles
through the issuer's ``role_map``). Nothing configured for either: the admin API is off and
its routes answer 404, as if they did not exist. A refused credential is counted and logged
(``auth_failures``, surface "admin") and answered 401.

What the actor may then do is decided in ``gateway.admin.rules``.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from gateway.admin.auth import admin_enabled, token_actor
from gateway.auth import parse_bearer
from gateway.auth_failures import AuthFailures
from gateway.errors import AuthenticationFailed, NotFound
from gateway.identity.claims import actor_from_bearer
from gateway.identity.roles import Actor
from gateway.identity.tokens import TokenVerifier
from gateway.settings import Settings

_BEARER = "bearer "


class AccessResources(Protocol):
    """What resolving an actor reads of the lifespan's resources."""

    @property
    def settings(self) -> Settings: ...

    @property
    def auth_failures(self) -> AuthFailures: ...

    @property
    def identity(self) -> TokenVerifier | None: ...


def bearer(authorization: str | None, max_bytes: int) -> str:
    """The bearer credential: a token of up to ``max_bytes`` (a JWT is longer than a key)."""
    if authorization and authorization[: len(_BEARER)].lower() == _BEARER:
        token = authorization[len(_BEARER) :].strip()
        if token and len(token) <= max_bytes and not any(c.isspace() for c in token):
            return token
    return parse_bearer(authorization)  # raises the API's errors: missing, malformed


async def resolve(resources: AccessResources, authorization: str | None) -> Actor:
    """The actor of a credential, or ``AuthenticationFailed``."""
    settings = resources.settings
    token = bearer(authorization, settings.identity.max_token_bytes)
    actor = token_actor(settings, token)
    if actor is not None:
        return actor
    verifier = resources.identity
    if verifier is not None and token.count(".") == 2:  # a JWT's three segments
        return await actor_from_bearer(verifier, token)
    raise AuthenticationFailed(
        "Incorrect admin token provided.", reason="unknown_key", code="invalid_admin_token"
    )


# ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool.
async def admin_actor(request: Request) -> Actor:
    """The acting identity of an admin request (every admin route's gate)."""
    resources: AccessResources = request.state.resources
    settings = resources.settings
    if not admin_enabled(settings):
        raise NotFound("Unknown request URL. See the OpenAI API reference for valid paths.")
    authorization = request.headers.get("authorization")
    try:
        return await resolve(resources, authorization)
    except AuthenticationFailed as failed:
        client = request.client.host if request.client else None
        resources.auth_failures.record("admin", failed.reason, authorization, client)
        raise


ActorDep = Annotated[Actor, Depends(admin_actor)]
