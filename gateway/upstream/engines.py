"""The seam to the engines: POST a request, read the answer whole or as it arrives.

Two implementations of one Protocol:

- ``AiohttpEngines``, in production: aiohttp's client read directly. Measured side by side
  (``python -m loadtest.hotpath``, BENCHMARKS.md "Hot path choices"), it costs ~270 us of CPU
  less per request than httpx over the same aiohttp pool (httpx-aiohttp), the largest single
  saving on the request path; per event they are equal.
- ``HttpxEngines``, the test seam: any ``httpx`` client, in tests one over
  ``httpx.MockTransport``, so fakes stay plain request handlers.

Both report failures in the same terms, because what the forwarder may do next depends on
exactly when a request failed: ``NotSent`` when it provably never left this process (a
refused or timed-out connection: another engine may take it; ``refused`` opens the engine's
circuit at once), ``UpstreamTimeout`` / ``UpstreamError`` once it may have reached the
engine (never retried elsewhere). Neither follows redirects: a redirect could lead out of the
jurisdiction, and the forwarder turns it into a 502. Neither decodes content: the engine's
bytes are relayed as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import aiohttp
import httpx

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.settings import UpstreamSettings
from gateway.upstream.client import build_client


class NotSent(UpstreamError):
    """The request never left this process: safe to try another engine."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused  # nothing listens there (down), rather than slow to accept


class EngineResponse(Protocol):
    status: int
    content_type: str  # the Content-Type header as sent ("" if none)

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; ``UpstreamTimeout``/``UpstreamError`` if the
        engine stalls or the connection breaks."""
        ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


class EngineClient(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> EngineResponse:
        """The answer's status and headers, its body still to read."""
        ...

    async def aclose(self) -> None: ...


# -- production: aiohttp ----------------------------------------------------------------------


class _AiohttpResponse:
    __slots__ = ("_response", "content_type", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("The engine stopped sending mid-answer.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("The connection to the engine broke mid-answer.") from exc

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("The engine did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("The connection to the engine broke.") from exc

    async def aclose(self) -> None:
        # Closing mid-body drops the connection: vLLM sees the disconnect and aborts.
        self._response.close()


class AiohttpEngines:
    def __init__(self, settings: UpstreamSettings) -> None:
        connector = aiohttp.TCPConnector(
            limit=settings.max_connections,
            keepalive_timeout=settings.keepalive_expiry,
            enable_cleanup_closed=True,
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.pool_timeout + settings.connect_timeout,  # a pool slot, then TCP
            sock_connect=settings.connect_timeout,
            sock_read=settings.read_timeout,  # the longest silence between two chunks
        )
        # trust_env=False: no proxy from the environment may silently carry traffic elsewhere.
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> EngineResponse:
        try:
            response = await self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            )
        except aiohttp.ClientConnectorError as exc:
            raise NotSent("The engine refused the connection.", refused=True) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise NotSent("The engine did not accept a connection in time.", refused=False) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("The engine did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("The connection to the engine failed.") from exc
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        await self._session.close()


# -- the test seam: httpx ---------------------------------------------------------------------


class _HttpxResponse:
    __slots__ = ("_response", "content_type", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The engine stopped sending mid-answer.") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine broke mid-answer.") from exc

    async def read(self) -> bytes:
        try:  # decoded if the engine compressed it (it is asked not to); aiohttp's is raw
            return await self._response.aread()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The engine did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine broke.") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxEngines:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> EngineResponse:
        request = self._client.build_request("POST", url, content=body, headers=dict(headers))
        try:
            response = await self._client.send(request, stream=True)
        except httpx.ConnectError as exc:
            raise NotSent("The engine refused the connection.", refused=True) from exc
        except httpx.ConnectTimeout as exc:
            raise NotSent("The engine did not accept a connection in time.", refused=False) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The engine did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine failed.") from exc
        return _HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_engines(
    settings: UpstreamSettings, transport: httpx.AsyncBaseTransport | None = None
) -> EngineClient:
    """The production client, or, given a test transport, an httpx client over it."""
    if transport is None:
        return AiohttpEngines(settings)
    return HttpxEngines(build_client(settings, transport))
