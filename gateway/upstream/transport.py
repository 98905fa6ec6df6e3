"""The transport under the httpx client: aiohttp's connection pool, with exact error mapping.

Why: httpx's own pool (httpcore over anyio) cost about 0.9 ms of CPU per proxied request
here (py-spy: connection-pool bookkeeping and per-connection liveness polls), half of the
gateway's whole per-request cost; aiohttp's C-accelerated HTTP/1.1 client does the same work
for a fraction (BENCHMARKS.md). ``httpx-aiohttp`` (by an httpx maintainer) adapts it to
httpx's transport interface, so the rest of the gateway, and its tests' ``MockTransport``
seam, keep speaking httpx.

Its error mapping is too coarse for us: it reports an engine that dropped the connection
*after* receiving the request as ``ConnectTimeout``, which would make that request look
"never sent" and safe to retry. Here failures are re-mapped by their aiohttp cause: only a
failed connection is a ``ConnectError``/``ConnectTimeout``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def _remap(exc: httpx.HTTPError) -> httpx.HTTPError:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause))
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(cause))
    if isinstance(cause, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(str(cause))
    if isinstance(cause, aiohttp.ClientPayloadError):
        return httpx.ReadError(str(cause))
    if isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(str(cause))
    return exc


class _RemappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.HTTPError as exc:
            raise _remap(exc) from exc.__cause__

    async def aclose(self) -> None:
        await self._inner.aclose()


class EngineTransport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.HTTPError as exc:
            raise _remap(exc) from exc.__cause__
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _RemappedStream(response.stream)
        return response
