"""The floor: the least a relay in Python on uvloop can do per request and per event.

Callbacks only (no coroutine, no generator per event), httptools on both sides, each engine
chunk written to the client as it arrives. Two references, not designs (no disconnect
handling, no backpressure, no retries):

- ``floor``: the body forwarded unchecked, nothing done per event: what the event loop and
  the sockets cost on this machine, below which no Python framework choice can go;
- ``callback``: the same plus the gateway's per-request and per-event work (the msgspec
  check with its 400s, ``include_usage``, the media type, the SSE split, ``well_formed``, the
  metering tap, the end-of-stream check): what a callback relay lane would cost.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools
import orjson
import uvloop

from gateway.errors import GatewayError, UpstreamInvalidResponse, render_json, render_sse
from gateway.upstream.sse import ends_stream, first_separator, well_formed
from loadtest.hotpath.bodies import PATH
from loadtest.hotpath.relaying import Meter
from loadtest.hotpath.validation import msgspec_prepare

_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
_JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"


class Upstream(asyncio.Protocol):
    """One kept-alive engine connection, lent to one client request at a time."""

    def __init__(self, pool: list[Upstream], checked: bool) -> None:
        self.pool = pool
        self.checked = checked
        self.meter: Meter | None = None
        self.pending = self.last = b""
        self.media_type = b""
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: asyncio.Transport | None = None
        self.stream = self._sse = False
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.checked and name.lower() == b"content-type":
            self.media_type = value.partition(b";")[0].strip().lower()

    def on_headers_complete(self) -> None:
        self.stream = self.parser.get_status_code() == 200 and self._sse
        if self.checked and self.stream and self.media_type != b"text/event-stream":
            self.stream = False  # answered below as an invalid engine answer
        if self.stream and self.client is not None:
            self.client.write(_SSE_HEAD)

    def on_body(self, body: bytes) -> None:
        if not (self.stream and self.client is not None):
            self.body.append(body)
        elif self.meter is None:
            self.client.write(b"%x\r\n%b\r\n" % (len(body), body))
        else:
            self._relay_events(self.client, self.meter, body)

    def _relay_events(self, client: asyncio.Transport, meter: Meter, body: bytes) -> None:
        if not self.pending and body.endswith(b"\n\n"):
            events = [body]  # the usual chunk: whole events, uncut
        else:
            events, self.pending = [], self.pending + body
            while (cut := first_separator(self.pending))[0] >= 0:
                end = cut[0] + cut[1]
                events.append(self.pending[:end])
                self.pending = self.pending[end:]
        for event in events:
            if not well_formed(event):
                event = render_sse(UpstreamInvalidResponse("Not an OpenAI stream event."))
            self.last = event
            event = meter(event)
            if event:
                client.write(b"%x\r\n%b\r\n" % (len(event), event))

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            if self.stream:
                if self.meter is not None and not ends_stream(self.last):
                    event = render_sse(UpstreamInvalidResponse("The stream ended early."))
                    client.write(b"%x\r\n%b\r\n" % (len(event), event))
                client.write(b"0\r\n\r\n")
            else:
                client.write(self._whole(b"".join(self.body)))
        self.body, self.pending, self.last, self.meter = [], b"", b"", None
        self.pool.append(self)

    def _whole(self, body: bytes) -> bytes:
        if self.checked:
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                document = None
            if self.media_type != b"application/json" or not isinstance(document, dict):
                return _error(UpstreamInvalidResponse("The engine's answer is not JSON."))
        return _JSON_HEAD % len(body) + body

    def send(self, client: asyncio.Transport, request: bytes, sse: bool) -> None:
        assert self.transport is not None
        self.client, self._sse = client, sse
        self.meter = Meter(strip=True) if self.checked and sse else None
        self.transport.write(request)


class Downstream(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        body = b"".join(self.body)
        if self.url != PATH.encode():
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            return
        if not self.relay.checked:
            self.relay.forward(self.transport, body, b'"stream":true' in body)
            return
        try:
            prepared = msgspec_prepare(body)
        except GatewayError as exc:
            self.transport.write(_error(exc))
            return
        self.relay.forward(self.transport, prepared.forward, prepared.stream)


def _error(exc: GatewayError) -> bytes:
    body = render_json(exc)
    head = b"HTTP/1.1 %d Error\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % (exc.status, len(body)) + body


class Relay:
    def __init__(self, host: str, port: int, checked: bool) -> None:
        self.host, self.port, self.checked = host, port, checked
        self.pool: list[Upstream] = []
        self.connecting: set[asyncio.Future[None]] = set()
        self.head = (
            b"POST %b HTTP/1.1\r\nHost: %b:%d\r\ncontent-type: application/json\r\n"
            b"accept-encoding: identity\r\n" % (PATH.encode(), host.encode(), port)
        )

    def forward(self, client: asyncio.Transport, body: bytes, sse: bool) -> None:
        request = self.head + b"content-length: %d\r\n\r\n" % len(body) + body
        if self.pool:
            self.pool.pop().send(client, request, sse)
            return
        task = asyncio.ensure_future(self._connect_and_send(client, request, sse))
        self.connecting.add(task)  # a reference, until it is done
        task.add_done_callback(self.connecting.discard)

    async def _connect_and_send(self, client: asyncio.Transport, request: bytes, sse: bool) -> None:
        loop = asyncio.get_running_loop()
        _, upstream = await loop.create_connection(
            lambda: Upstream(self.pool, self.checked), self.host, self.port
        )
        upstream.send(client, request, sse)


async def serve(port: int, engine_host: str, engine_port: int, checked: bool) -> None:
    relay = Relay(engine_host, engine_port, checked)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Downstream(relay), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def run(port: int, engine: str, checked: bool) -> None:
    host, _, engine_port = engine.removeprefix("http://").partition(":")
    uvloop.run(serve(port, host, int(engine_port), checked))
