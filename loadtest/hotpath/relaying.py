"""What every relay does with a prepared body, whatever its server and routing: send it to
the engine, check the answer as ``gateway.upstream.forwarder`` does, and hand back a whole
JSON body or a source of SSE events with a metering tap on each event.

``Meter`` is ``gateway.metering.stream.MeteredStream._tap`` without the policy hooks: the
per-event bookkeeping the gateway does (first-event time, end mark, usage read off the
last chunk, content-event count). ``mode`` keeps the component runs in the same code:
``read`` only reads the engine's events, ``tap`` also taps each one; both write the client
once, at the end; ``full`` relays each event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson

from gateway.core.usage import Usage
from gateway.errors import GatewayError, UpstreamError, UpstreamInvalidResponse, render_sse
from gateway.metering.usage import usage_of_chunk
from gateway.upstream.sse import ends_stream, well_formed
from loadtest.hotpath.bodies import PATH
from loadtest.hotpath.upstreams import Answer, Upstream

_DONE = b"data: [DONE]"
_ERROR_MARK = b'data: {"error"'
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = {"content-type": "text/event-stream"}


class Meter:
    __slots__ = ("completed", "content_events", "failed", "first", "strip", "usage")

    def __init__(self, strip: bool) -> None:
        self.strip = strip
        self.first: float | None = None
        self.usage: Usage | None = None
        self.content_events = 0
        self.completed = self.failed = False

    def __call__(self, event: bytes) -> bytes:
        if self.first is None:
            self.first = time.perf_counter()
        if _DONE in event:
            self.completed = True
        found = usage_of_chunk(event)
        if found is not None:
            self.usage = found.usage
            return found.without_usage_event if self.strip else event
        if _ERROR_MARK in event:
            self.failed = True
        else:
            self.content_events += event.count(b"\n\n") - (_DONE in event)
        return event


class StreamSource:
    """A ``gateway.upstream.relay.RelaySource``: the events of one open engine stream."""

    finish_on_disconnect = False

    def __init__(self, answer: Answer, meter: Meter | None, each: bool) -> None:
        self._answer = answer
        self._meter = meter
        self._each = each
        self._closed = False

    async def events(self) -> AsyncIterator[bytes]:
        tap, each, last = self._meter, self._each, b""
        try:
            async for event in self._answer.events():
                if not well_formed(event):
                    raise UpstreamInvalidResponse(
                        "The engine sent a stream event that is not an OpenAI event."
                    )
                last = event
                if tap is not None:
                    event = tap(event)
                    if not event:
                        continue
                if each:
                    yield event
            if not ends_stream(last):
                raise UpstreamInvalidResponse("The engine ended the stream before its end event.")
            if not each:
                yield last
        except GatewayError as exc:  # in-band, as the stream has started
            yield render_sse(exc)
        finally:
            await self.aclose()

    async def aclose(self, *, client_gone: bool = False) -> None:
        if not self._closed:
            self._closed = True
            await self._answer.aclose()


class Relay:
    def __init__(self, upstream: Upstream, mode: str = "full") -> None:
        self.upstream = upstream
        self.mode = mode

    async def whole(self, forward: bytes) -> bytes:
        """The engine's JSON answer, checked to be a JSON object."""
        answer = await self.upstream.send(PATH, forward)
        try:
            _check(answer, "application/json")
            content = await answer.read()
        finally:
            await answer.aclose()
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, dict):
            raise UpstreamInvalidResponse("The engine's answer is not a JSON object.")
        return content

    async def stream(self, forward: bytes, client_wants_usage: bool = False) -> StreamSource:
        answer = await self.upstream.send(PATH, forward)
        try:
            _check(answer, "text/event-stream")
        except GatewayError:
            await answer.aclose()
            raise
        meter = None if self.mode == "read" else Meter(strip=not client_wants_usage)
        return StreamSource(answer, meter, each=self.mode == "full")


def _check(answer: Answer, media_type: str) -> None:
    if not 200 <= answer.status < 300:
        raise UpstreamError(f"The engine answered with HTTP {answer.status}.")
    if answer.media_type != media_type:
        raise UpstreamInvalidResponse(f"The engine answered with {answer.media_type or 'nothing'}.")
