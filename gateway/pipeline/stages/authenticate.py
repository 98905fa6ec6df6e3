"""Authenticate: who is calling, from this replica's copy of the key directory (401). The key
comes as ``Authorization: Bearer``; on Anthropic's route also as ``x-api-key``."""

from __future__ import annotations

from gateway.auth_failures import AuthFailures
from gateway.errors import AuthenticationFailed
from gateway.pipeline.context import RequestContext
from gateway.tenancy.directory import Directory


class Authenticate:
    def __init__(self, directory: Directory, failures: AuthFailures) -> None:
        self._directory = directory
        self._failures = failures

    async def __call__(self, ctx: RequestContext) -> None:
        authorization = ctx.headers.get("authorization")
        if authorization is None and ctx.endpoint.api == "anthropic":
            # Anthropic's SDK sends the key as ``x-api-key`` (``Authorization: Bearer`` only
            # for its ``auth_token``): the same tenant key, either way.
            key = ctx.headers.get("x-api-key")
            authorization = None if key is None else "Bearer " + key
        try:
            ctx.principal = self._directory.authenticate(authorization)
        except AuthenticationFailed as failed:  # counted and logged: guessing is not unseen
            self._failures.record("api", failed.reason, authorization, ctx.client)
            raise
