"""A whole (non-streamed) answer that is metered after it is sent, whatever the client does.

Starlette's background tasks are skipped when sending fails (the client left), which would
lose the record; here the metering runs in ``finally``, shielded from cancellation. The
client does not wait for the ledger's round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class MeteredResponse(Response):
    def __init__(
        self,
        content: bytes,
        *,
        status_code: int,
        media_type: str,
        headers: Mapping[str, str],
        meter: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(content, status_code, headers, media_type)
        self._meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._meter()
