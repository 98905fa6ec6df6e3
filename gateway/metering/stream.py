"""A streamed answer, relayed event by event, with the engine's usage read off in passing.

The engine is always asked for a final usage chunk (``stream_options.include_usage``); it is
dropped here when the client did not ask for it. Nothing is buffered: each event is passed
on as it arrives, and only the usage chunk is parsed.

When the client goes away mid-stream, ``finish`` mode keeps reading the engine's answer to
its end without sending it (the engine's count of generated tokens is then metered exactly);
``abort`` mode closes the engine connection at once, so vLLM stops generating, and meters
what was relayed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from gateway.metering.usage import Usage, usage_of_chunk
from gateway.upstream.forwarder import UpstreamStream

_ERROR_MARK = b'data: {"error"'
_DONE = b"data: [DONE]"


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
        """Sees each chunk of whole events on its way; returns what to relay."""
        if self._first is None:
            self._first = time.perf_counter()
        if _DONE in event:
            self._completed = True  # the protocol's own end of stream
        found = usage_of_chunk(event)
        if found is not None:
            self._usage = found.usage
            event = found.without_usage_event if self._strip else event
        elif _ERROR_MARK in event:
            self._failed = True
        else:
            self._content_events += event.count(b"\n\n") - (_DONE in event)
            if self._capture is not None:
                self._capture(event)
        if self._transform is not None and event:
            return self._transform(event)
        return event

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
