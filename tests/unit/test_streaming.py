"""SSE relay: event by event, in-band errors after the start, upstream closed on disconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.upstream.relay import RelayResponse
from gateway.upstream.sse import split_events
from tests.unit.conftest import CHAT, FakeEngines, auth, make_settings

EVENTS = [
    b'data: {"choices":[{"delta":{"content":"Hal"}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
    b"data: [DONE]\n\n",
]


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _collect(parts: list[bytes]) -> list[bytes]:
    return [event async for event in split_events(_chunks(parts))]


async def test_only_whole_events_are_released_whatever_the_chunking() -> None:
    whole = b"".join(EVENTS)
    byte_by_byte = [whole[i : i + 1] for i in range(len(whole))]
    assert await _collect(byte_by_byte) == EVENTS
    # A chunk of whole events passes as it is; a chunk that ends mid-event is cut.
    assert await _collect([whole]) == [whole]
    split = [whole[:10], whole[10:70], whole[70:]]
    released = await _collect(split)
    assert b"".join(released) == whole
    assert all(piece.endswith(b"\n\n") for piece in released)
    crlf = [b"data: a\r\n\r\nda", b"ta: b\n\n"]
    assert await _collect(crlf) == [b"data: a\r\n\r\n", b"data: b\n\n"]
    assert await _collect([b"data: tail-without-end"]) == [b"data: tail-without-end"]


def test_stream_is_relayed_as_sse(engines: FakeEngines) -> None:
    engines.handler = lambda request: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=_chunks([b"".join(EVENTS)])
    )
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with (
        TestClient(app) as client,
        client.stream(
            "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-sovereign-jurisdiction"] == "DE"
        body = b"".join(response.iter_bytes())
    assert body == b"".join(EVENTS)


def test_failure_after_the_stream_started_is_an_in_band_error_event(engines: FakeEngines) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        yield EVENTS[0]
        raise httpx.RemoteProtocolError("peer closed connection")

    engines.handler = lambda request: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=breaks()
    )
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with (
        TestClient(app) as client,
        client.stream(
            "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()
        ) as response,
    ):
        body = b"".join(response.iter_bytes())
    first, error = body.split(b"\n\n", 1)
    assert first + b"\n\n" == EVENTS[0]
    assert error.startswith(b'data: {"error":')
    assert b'"code":"upstream_error"' in error
    assert b"[DONE]" not in error


def test_error_before_the_first_byte_is_a_plain_http_error(engines: FakeEngines) -> None:
    engines.handler = lambda request: httpx.Response(
        400,
        json={"object": "error", "message": "bad prompt", "type": "BadRequestError", "code": 400},
    )
    app = create_app(make_settings(), upstream_transport=httpx.MockTransport(engines))
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()
        )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "bad prompt"


@pytest.mark.parametrize("disconnect_after_events", [0, 1])
async def test_client_disconnect_closes_the_upstream_stream(disconnect_after_events: int) -> None:
    closed = anyio.Event()
    sent: list[bytes] = []

    async def upstream() -> AsyncIterator[bytes]:
        try:
            for n in range(1000):
                yield b"data: %d\n\n" % n
                await anyio.sleep(0.01)
        finally:
            closed.set()

    disconnected = anyio.Event()

    async def receive() -> dict[str, object]:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            sent.append(message["body"])  # type: ignore[arg-type]
            if len(sent) > disconnect_after_events:
                disconnected.set()

    response = RelayResponse(upstream(), {})
    with anyio.fail_after(5):
        await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
        await closed.wait()
    assert len(sent) < 50  # stopped long before the 1000 events the engine would have sent
