"""The aiohttp-backed transport reports *how* an engine failed, so failover stays safe:
only a connection that was never made may be retried elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from gateway.settings import UpstreamSettings
from gateway.upstream.client import build_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def _request(url: str, read_timeout: float = 5.0) -> httpx.Response:
    settings = UpstreamSettings(read_timeout=read_timeout, connect_timeout=1.0)
    async with build_client(settings) as client:
        response = await client.post(url + "/v1/chat/completions", content=b"{}")
        return response


async def test_refused_connection_is_connect_error() -> None:
    async for url in _serve(_never_called):
        closed_port_url = url
    with pytest.raises(httpx.ConnectError):
        await _request(closed_port_url)


async def test_engine_dropping_the_request_is_not_a_connect_error() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async for url in _serve(drop):
        with pytest.raises(httpx.HTTPError) as caught:
            await _request(url)
    assert isinstance(caught.value, httpx.RemoteProtocolError)
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)


async def test_silent_engine_is_read_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(2)
        writer.close()

    async for url in _serve(stall):
        with pytest.raises(httpx.ReadTimeout):
            await _request(url, read_timeout=0.2)


async def test_body_cut_short_is_a_read_error_mid_stream() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\ndata: partial")
        await writer.drain()
        writer.close()

    async for url in _serve(cut):
        async with (
            build_client(UpstreamSettings()) as client,
            client.stream("POST", url + "/v1/completions", content=b"{}") as response,
        ):
            with pytest.raises(httpx.TransportError) as caught:
                await response.aread()
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)


async def test_answer_passes_through() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    async for url in _serve(answer):
        response = await _request(url)
    assert response.status_code == 200
    assert response.json() == {}


async def _never_called(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    raise AssertionError("no connection expected")
