"""The upstream seam, three ways: aiohttp read directly, httpx over httpx-aiohttp's
transport (the gateway today, ``gateway.upstream.client.build_client``), plain httpx.

``Upstream.send`` returns an ``Answer`` whose ``events()`` yields whole SSE events and
raises only the gateway's own ``UpstreamError``/``UpstreamTimeout``: the library's errors are
translated inside the one generator that also splits the stream, so a relay pays one
generator layer per event for the seam, whatever the library.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

import aiohttp
import httpx

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.settings import UpstreamSettings
from gateway.upstream.client import build_client
from gateway.upstream.sse import first_separator

HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}
_SEPARATORS = (b"\n\n", b"\r\n\r\n")


class Answer(Protocol):
    status: int
    media_type: str

    def events(self) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def send(self, path: str, body: bytes) -> Answer: ...

    async def aclose(self) -> None: ...


async def sse_events(
    chunks: AsyncIterable[bytes], failures: tuple[type[BaseException], ...]
) -> AsyncIterator[bytes]:
    """``gateway.upstream.sse.split_events`` with the error translation folded in."""
    pending = b""
    try:
        async for chunk in chunks:
            if not pending and chunk.endswith(_SEPARATORS):
                yield chunk  # the usual chunk: whole events, passed on uncut
                continue
            pending = pending + chunk if pending else chunk
            while True:
                cut, width = first_separator(pending)
                if cut < 0:
                    break
                yield pending[: cut + width]
                pending = pending[cut + width :]
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise UpstreamTimeout("The engine stopped sending mid-stream.") from exc
    except failures as exc:
        raise UpstreamError("The connection to the engine broke mid-stream.") from exc
    if pending.strip():
        yield pending


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


# -- aiohttp, read directly -----------------------------------------------------------------


class AiohttpAnswer:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.media_type = _media_type(response.headers.get("content-type", ""))

    def events(self) -> AsyncIterator[bytes]:
        return sse_events(self._response.content.iter_any(), (aiohttp.ClientError,))

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError("The connection to the engine broke.") from exc

    async def aclose(self) -> None:
        self._response.release()  # back to the pool if read to its end, else closed


class AiohttpUpstream:
    def __init__(self, base_url: str, settings: UpstreamSettings) -> None:
        connector = aiohttp.TCPConnector(
            limit=settings.max_connections, keepalive_timeout=settings.keepalive_expiry
        )
        timeout = aiohttp.ClientTimeout(
            sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._base = base_url
        # As the gateway's httpx client: no proxy from the environment (trust_env), no cookies
        # kept from an engine, the engine's bytes as they are (no decompression).
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def send(self, path: str, body: bytes) -> Answer:
        try:
            response = await self._session.post(
                self._base + path, data=body, headers=HEADERS, allow_redirects=False
            )  # never followed: a redirect could lead out of the jurisdiction
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError("The connection to the engine failed.") from exc
        return AiohttpAnswer(response)

    async def aclose(self) -> None:
        await self._session.close()


# -- httpx (over httpx-aiohttp's transport, or httpcore) -----------------------------------


class HttpxAnswer:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.media_type = _media_type(response.headers.get("content-type", ""))

    def events(self) -> AsyncIterator[bytes]:
        return sse_events(self._response.aiter_raw(), (httpx.HTTPError,))

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine broke.") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self._base = base_url
        self._client = client

    async def send(self, path: str, body: bytes) -> Answer:
        request = self._client.build_request(
            "POST", self._base + path, content=body, headers=HEADERS
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine failed.") from exc
        return HttpxAnswer(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_upstream(kind: str, base_url: str) -> Upstream:
    """Inside a running loop (aiohttp's session binds to it)."""
    asyncio.get_running_loop()
    settings = UpstreamSettings()
    if kind == "aiohttp":
        return AiohttpUpstream(base_url, settings)
    if kind == "httpx-aiohttp":  # the gateway's own client: EngineTransport, its limits
        return HttpxUpstream(base_url, build_client(settings))
    if kind == "httpx":  # httpx's own pool (httpcore), same limits and timeouts
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=settings.keepalive_expiry,
        )
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        return HttpxUpstream(
            base_url, httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)
        )
    raise ValueError(f"unknown upstream client {kind!r}")
