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
    # Without a policy the engine's bytes pass untouched (test_privacy_gateway.py: with one).
    settings = make_settings(privacy={"default_policy": None})
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
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
    # No policy: the partial word the answer guard would hold back is not part of this test.
    settings = make_settings(privacy={"default_policy": None})
    app = create_app(settings, upstream_transport=httpx.MockTransport(engines))
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


class _Source:
    """A relay source over a plain iterator, recording how it was closed."""

    def __init__(self, events: AsyncIterator[bytes], finish_on_disconnect: bool) -> None:
        self._events = events
        self.finish_on_disconnect = finish_on_disconnect
        self.closed_with: list[bool] = []
        self.consumed = 0

    async def _count(self) -> AsyncIterator[bytes]:
        async for event in self._events:
            self.consumed += 1
            yield event

    def events(self) -> AsyncIterator[bytes]:
        return self._count()

    async def aclose(self, *, client_gone: bool = False) -> None:
        self.closed_with.append(client_gone)
        await self._events.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("disconnect_after_events", [0, 1])
@pytest.mark.parametrize("finish", [False, True])
async def test_client_disconnect_closes_or_drains_the_upstream_stream(
    disconnect_after_events: int, finish: bool
) -> None:
    closed = anyio.Event()
    sent: list[bytes] = []
    total = 1000 if not finish else 60

    async def upstream() -> AsyncIterator[bytes]:
        try:
            for n in range(total):
                yield b"data: %d\n\n" % n
                await anyio.sleep(0.005)
        finally:
            closed.set()

    disconnected = anyio.Event()

    async def receive() -> dict[str, object]:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if disconnected.is_set():
            raise OSError("the client is gone")
        if message["type"] == "http.response.body":
            sent.append(message["body"])  # type: ignore[arg-type]
            if len(sent) > disconnect_after_events:
                disconnected.set()

    source = _Source(upstream(), finish_on_disconnect=finish)
    response = RelayResponse(source, {})
    with anyio.fail_after(5):
        await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
        await closed.wait()
    assert source.closed_with == [True]  # closed once, knowing the client had left
    assert len(sent) == disconnect_after_events + 1  # nothing sent after the disconnect
    if finish:
        assert source.consumed == total  # read to the end: what was generated is metered
    else:
        assert source.consumed < 50  # stopped long before the engine would have
