"""A streamed answer, relayed event by event, with the engine's usage read off in passing.

The engine is always asked for a final usage chunk (``stream_options.include_usage``); it is
dropped here when the client did not ask for it. Nothing is buffered: each event is passed
on as it arrives, and only the usage chunk is parsed. A content event, the usual one, costs
four byte tests (``_tap``); any other chunk is read event by event (``_meter``).

When the client goes away mid-stream, ``finish`` mode keeps reading the engine's answer to
its end without sending it (the engine's count of generated tokens is then metered exactly);
``abort`` mode closes the engine connection at once, so vLLM stops generating, and meters
what was relayed.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from gateway.core.usage import Usage
from gateway.metering.usage import USAGE_MARK, usage_of_chunk
from gateway.upstream.forwarder import UpstreamStream
from gateway.upstream.sse import ends_with_done

_ERROR_MARK = b'data: {"error"'
_OBJECT = b"data: {"
_OBJECT_END = b"}\n\n"
_EVENT_ENDS = re.compile(rb"\r\n\r\n|\n\n")


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    usage: Usage | None  # None: the engine never reported (see ``events_relayed``)
    content_events: int
    ttft_s: float | None
    duration_s: float
    client_gone: bool
    failed: bool


class MeteredStream:
    def __init__(
        self,
        upstream: UpstreamStream,
        *,
        client_wants_usage: bool,
        finish_on_disconnect: bool,
        on_end: Callable[[StreamOutcome], Awaitable[None]],
        started: float,
        transform: Callable[[bytes], bytes] | None = None,
        capture: Callable[[bytes], None] | None = None,
    ) -> None:
        self.engine = upstream.engine
        self.finish_on_disconnect = finish_on_disconnect
        self._upstream = upstream
        self._strip = not client_wants_usage
        self._on_end = on_end
        # Rewrites what is relayed (the policy's placeholder restoration), after metering.
        self._transform = transform
        # Sees the engine's events before that (content logging copies the answer's text).
        self._capture = capture
        self._started = started
        self._first: float | None = None
        self._usage: Usage | None = None
        self._content_events = 0
        self._failed = False
        self._completed = False
        self._closed = False
        self._iterator: AsyncGenerator[bytes, None] | None = None

    def events(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            # The tap rides on the upstream generator: no extra generator layer per event.
            self._iterator = self._upstream.events(self._tap)
        return self._iterator

    def _tap(self, event: bytes) -> bytes:
        """Sees each chunk of whole events on its way; returns what to relay.

        The usual chunk is one content event: one newline pair at its end, a JSON object
        that is neither an error nor carries usage (both marks are structural: inside a JSON
        string their quotes would be escaped). Four byte tests say so; anything else takes
        the general way."""
        if self._first is None:
            self._first = time.perf_counter()
        if (
            event.endswith(_OBJECT_END)
            and event.find(b"\n") == len(event) - 2
            and event.rfind(USAGE_MARK) < 0  # (usage comes last; and rfind measured quickest)
            and not event.startswith(_ERROR_MARK)
        ):
            self._content_events += 1
            if self._capture is not None:
                self._capture(event)
        else:
            event = self._meter(event)
        if self._transform is not None and event:
            return self._transform(event)
        return event

    def _meter(self, chunk: bytes) -> bytes:
        """Any chunk, event by event: the end of the stream, usage (stripped unless asked
        for), errors, content events; whatever events were written together."""
        if ends_with_done(chunk):
            self._completed = True  # the protocol's own end of stream
        found = usage_of_chunk(chunk)
        content = 0
        for event in _EVENT_ENDS.split(chunk):
            if event.startswith(_ERROR_MARK):
                self._failed = True
            elif event.startswith(_OBJECT) and USAGE_MARK not in event:
                content += 1
        if content:
            self._content_events += content
            if self._capture is not None:
                self._capture(chunk)
        if found is None:
            return chunk
        self._usage = found.usage
        return found.without_usage_event if self._strip else chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        """Close the engine stream and meter, exactly once, whatever happened before."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._iterator is not None:
                await self._iterator.aclose()
        finally:
            await self._upstream.aclose()
            await self._on_end(
                StreamOutcome(
                    usage=self._usage,
                    content_events=self._content_events,
                    ttft_s=None if self._first is None else self._first - self._started,
                    duration_s=time.perf_counter() - self._started,
                    client_gone=client_gone,
                    failed=self._failed or (not self._completed and not client_gone),
                )
            )
