"""The admin credential: one token, configured as a hash, separate from every tenant's keys.

``admin.token_hash`` unset means the admin API is off: its routes answer 404, as if they did
not exist. The token is compared by hash in the scheme the hash was made with (``sha256:`` or
``hmac-sha256:`` with the key pepper), in constant time. A tenant's API key is just a wrong
token here: it is checked against the admin hash only, never against the key directory.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Protocol

from fastapi import Depends, Request

from gateway.auth import parse_bearer
from gateway.auth_failures import AuthFailures
from gateway.errors import AuthenticationFailed, NotFound
from gateway.metering.service import Metering
from gateway.quota.store import QuotaStore
from gateway.settings import Settings
from gateway.tenancy.admin import TenantAdmin


class AdminResources(Protocol):
    """What the admin API needs from the lifespan's resources (``request.state.resources``)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def tenant_admin(self) -> TenantAdmin: ...

    @property
    def quota_store(self) -> QuotaStore: ...

    @property
    def metering(self) -> Metering: ...

    @property
    def auth_failures(self) -> AuthFailures: ...


def token_matches(token: str, token_hash: str, pepper: bytes | None) -> bool:
    scheme, _, hex_digest = token_hash.partition(":")
    if scheme == "hmac-sha256":
        if not pepper:  # an HMAC hash without its pepper can match nothing
            return False
        digest = hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(token.encode()).hexdigest()
    return hmac.compare_digest(digest.encode(), hex_digest.encode())


# ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool.
async def admin_resources(request: Request) -> AdminResources:
    """The resources, once the caller has shown the admin token (every admin route's gate)."""
    resources: AdminResources = request.state.resources
    settings = resources.settings
    token_hash = settings.admin.token_hash
    if token_hash is None:
        raise NotFound("Unknown request URL. See the OpenAI API reference for valid paths.")
    authorization = request.headers.get("authorization")
    pepper = settings.security.key_pepper
    try:
        token = parse_bearer(authorization)
        if not token_matches(
            token, token_hash, pepper.get_secret_value().encode() if pepper else None
        ):
            raise AuthenticationFailed(
                "Incorrect admin token provided.", reason="unknown_key", code="invalid_admin_token"
            )
    except AuthenticationFailed as failed:
        client = request.client.host if request.client else None
        resources.auth_failures.record("admin", failed.reason, authorization, client)
        raise
    return resources


AdminDep = Annotated[AdminResources, Depends(admin_resources)]
