"""Authenticate: who is calling (401), by the one authentication of ``/v1``
(``gateway.identity.bearer``): an API key from this replica's copy of the key directory, or
a bearer JWT of a configured issuer. The credential comes as ``Authorization: Bearer``; on
Anthropic's route a key also as ``x-api-key``."""

from __future__ import annotations

from gateway.identity.bearer import Authenticator
from gateway.pipeline.context import RequestContext


class Authenticate:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def __call__(self, ctx: RequestContext) -> None:
        authorization = ctx.headers.get("authorization")
        if authorization is None and ctx.endpoint.api == "anthropic":
            # Anthropic's SDK sends the key as ``x-api-key`` (``Authorization: Bearer`` only
            # for its ``auth_token``): the same tenant key, either way.
            key = ctx.headers.get("x-api-key")
            authorization = None if key is None else "Bearer " + key
        ctx.principal = await self._authenticator(authorization, ctx.client)
