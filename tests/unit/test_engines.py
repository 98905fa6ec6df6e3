"""The production engine client (aiohttp, read directly) against real sockets: each failure
reported as the forwarder needs it (not sent, or may have reached the engine), redirects never
followed, bytes never decoded. The httpx seam the other tests use reports the same."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.settings import UpstreamSettings
from gateway.upstream.engines import AiohttpEngines, EngineClient, HttpxEngines, NotSent
from tests.servers import free_port

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(serve: Serve) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n")
         if line.lower().startswith(b"content-length")),
        0,
    )  # fmt: skip
    await reader.readexactly(length)


@pytest.fixture(params=["aiohttp", "httpx"])
async def engines(request: pytest.FixtureRequest) -> AsyncIterator[EngineClient]:
    settings = UpstreamSettings(read_timeout=0.3, connect_timeout=0.5)
    client: EngineClient
    if request.param == "aiohttp":
        client = AiohttpEngines(settings)
    else:
        timeout = httpx.Timeout(connect=0.5, read=0.3, write=1, pool=1)
        client = HttpxEngines(httpx.AsyncClient(timeout=timeout, trust_env=False))
    yield client
    await client.aclose()


async def test_a_refused_connection_is_not_sent_and_refused(engines: EngineClient) -> None:
    with pytest.raises(NotSent) as failed:
        await engines.post(f"http://127.0.0.1:{free_port()}/v1/chat/completions", b"{}", {})
    assert failed.value.refused


async def test_an_engine_that_never_answers_times_out_after_sending(
    engines: EngineClient,
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    server, url = await _server(silent)
    async with server:
        with pytest.raises(UpstreamTimeout):
            await engines.post(url + "/v1/chat/completions", b"{}", {})


async def test_a_stream_cut_mid_answer_is_a_broken_connection_not_an_end(
    engines: EngineClient,
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        event = b'data: {"choices": [1, 2, 3]}\n\n'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(event), event)
        )
        await writer.drain()
        writer.transport.abort()

    server, url = await _server(cut)
    async with server:
        answer = await engines.post(url + "/v1/chat/completions", b"{}", {})
        assert (answer.status, answer.content_type) == (200, "text/event-stream")
        received: list[bytes] = []

        async def read_all() -> None:
            async for chunk in answer.chunks():
                received.append(chunk)

        with pytest.raises(UpstreamError):
            await read_all()
        await answer.aclose()
    assert b"".join(received).startswith(b"data: {")


async def test_a_redirect_is_answered_not_followed_and_bytes_are_not_decoded(
    engines: EngineClient,
) -> None:
    seen: list[bytes] = []
    packed = gzip.compress(b'{"ok": true}')

    async def redirecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            seen.append(head.split(b"\r\n")[0])
            await reader.readexactly(2)  # the body: "{}"
            if b"/elsewhere" in head:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            elif b"/gzip" in head:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(packed) + packed
                )
            else:
                writer.write(
                    b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\n"
                    b"content-length: 0\r\n\r\n"
                )
            await writer.drain()

    server, url = await _server(redirecting)
    async with server:
        answer = await engines.post(url + "/v1/chat/completions", b"{}", {})
        assert answer.status == 307
        await answer.aclose()
        if isinstance(engines, AiohttpEngines):  # production relays bytes as the engine sent
            compressed = await engines.post(url + "/gzip", b"{}", {})
            assert await compressed.read() == packed
            await compressed.aclose()
    assert all(b"/elsewhere" not in line for line in seen)
