"""The one authentication of ``/v1``: an API key, or (issuers configured) a bearer JWT.

The pipeline's authenticate stage, the dependency of the other ``/v1`` routes (models, files,
batches) and nothing else call it. A bearer value of three base64url segments is a JWT and
goes to the verifier, bounded by ``identity.max_token_bytes``; anything else is a key, looked
up in this replica's directory under the key path's own length cap. Both kinds work side by
side for the same tenant. Every failure is counted and logged (``AuthFailures``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gateway.auth_failures import AuthFailures
from gateway.core.tenant import Principal
from gateway.errors import AuthenticationFailed
from gateway.identity.claims import principal_of
from gateway.identity.tokens import TokenVerifier
from gateway.tenancy.directory import Directory

# Header, payload and signature; the signature is empty in an unsigned ("none") token, which
# must reach the verifier to be refused as such rather than as an unknown key.
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", re.ASCII)
_BEARER = "bearer "


def bearer_jwt(authorization: str | None) -> str | None:
    """The JWT an ``Authorization: Bearer`` value carries; None if it carries something else."""
    if not authorization or authorization[: len(_BEARER)].lower() != _BEARER:
        return None
    token = authorization[len(_BEARER) :].strip()
    return token if _JWT.fullmatch(token) else None


class Authenticator:
    def __init__(
        self,
        directory: Directory,
        failures: AuthFailures,
        verifier: TokenVerifier | None,
        subject_ref: Callable[[str], str],
    ) -> None:
        self._directory = directory
        self._failures = failures
        self._verifier = verifier
        self._subject_ref = subject_ref

    async def __call__(self, authorization: str | None, client: str | None) -> Principal:
        """Who is calling; ``client`` (its address) is for the failure log only."""
        try:
            token = bearer_jwt(authorization) if self._verifier is not None else None
            if token is None or self._verifier is None:
                return self._directory.authenticate(authorization)
            verified = await self._verifier.verify(token)
            return principal_of(verified, self._directory.tenant, self._subject_ref)
        except AuthenticationFailed as failed:  # counted and logged: guessing is not unseen
            self._failures.record("api", failed.reason, authorization, client)
            raise
