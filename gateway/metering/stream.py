"""A streamed answer, relayed event by event, with the engine's usage read off in passing.

The engine is always asked for the final usage chunk (``stream_options.include_usage``) and,
when a client that leaves stops the engine (``abort``), for the usage so far on every chunk
(``continuous_usage_stats``; ``stream_usage.py``). The client gets exactly the usage it asked
for, as vLLM would have sent it: the final chunk only with ``include_usage``, per-chunk usage
only with both. Nothing is buffered, and no token event is parsed:

- a content event without usage (``finish`` mode, the usual one there) costs four byte tests;
- a content event with per-chunk usage costs a search and, unless the client asked for it,
  one regular-expression match and a join to take it out (``stream_usage.without_usage``);
- anything else (the usage chunk, errors, ``[DONE]``, several events in one chunk) is read
  event by event (``_meter``); only the final usage chunk is parsed.
- the Responses API's typed events (``event: <type>``) are told apart by their first bytes;
  only the last (``response.completed``, with the usage) is parsed (``_typed``).

vLLM puts its system fingerprint on the last chunk it sends: the finish chunk, or the usage
chunk when one follows. When the gateway asked for a usage chunk the client did not, the
finish chunk is held until that chunk arrives (the next event, for one choice) and gets the
fingerprint back.

When the client goes away mid-stream, ``finish`` mode keeps reading the engine's answer to
its end without sending it (the engine's final count is then metered exactly); ``abort`` mode
closes the engine connection at once, so vLLM stops generating, and the engine's count at the
last chunk read is metered (README, "Metering": what it leaves out).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import orjson

from gateway.core.usage import Usage
from gateway.metering.stream_usage import MEMBER, ContinuousUsage, without_usage
from gateway.metering.usage import USAGE_MARK, usage_of
from gateway.upstream.forwarder import UpstreamStream
from gateway.upstream.sse import TYPED_ENDS, ends_with_done, first_separator

_ERROR_MARK = b'data: {"error"'
_OBJECT = b"data: {"
_OBJECT_END = b"}\n\n"
_FINISHED = b'"finish_reason":"'  # a string: the choice ended (null while it runs)
_FINGERPRINT = b'"system_fingerprint":'
_TYPED = b"event: "  # the Responses API's typed events
_TYPED_DELTAS = (b"event: response.output_text.delta", b"event: response.function_call_arg")


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    # The engine's final usage, else its per-chunk usage at the last chunk read (``partial``);
    # None: the engine never reported (see ``content_events``).
    usage: Usage | None
    content_events: int
    ttft_s: float | None
    duration_s: float
    client_gone: bool
    failed: bool
    partial: bool = False
    # ``usage`` is partly the gateway's count (a relay that meters a cut-short stream from
    # its events): recorded as an estimate, not as the engine's.
    estimated: bool = False


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
        client_wants_continuous: bool = False,
        continuous: ContinuousUsage | None = None,
    ) -> None:
        self.engine = upstream.engine
        self.finish_on_disconnect = finish_on_disconnect
        self._upstream = upstream
        self._keep_final = client_wants_usage
        self._keep_continuous = client_wants_usage and client_wants_continuous
        # The engine moves its fingerprint to a usage chunk the client will not get.
        self._move_fingerprint = not client_wants_usage
        self._held: list[bytes] = []
        self._continuous = continuous if continuous is not None else ContinuousUsage()
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
        that is not an error, with no usage or with per-chunk usage right after its choices
        (the marks are structural: inside a JSON string their quotes would be escaped). A
        few byte tests say so; anything else takes the general way."""
        if self._first is None:
            self._first = time.perf_counter()
        if (
            event.endswith(_OBJECT_END)
            and event.find(b"\n") == len(event) - 2
            and not event.startswith(_ERROR_MARK)
        ):
            at = event.rfind(USAGE_MARK)  # (usage comes last; and rfind measured quickest)
            if at < 0:  # inlined: the usual event when no per-chunk usage is asked for
                self._content_events += 1
                if self._capture is not None:
                    self._capture(event)
                if self._held or (self._move_fingerprint and event.rfind(_FINISHED) >= 0):
                    event = self._in_order(event)
            elif event[at - 3 : at - 1] == b"}]":
                event = self._content(event, at)
            else:
                event = self._meter(event)
        else:
            event = self._meter(event)
        if self._transform is not None and event:
            return self._transform(event)
        return event

    def _content(self, event: bytes, at: int) -> bytes:
        """A content event; ``at``: where its per-chunk usage starts (-1: none)."""
        self._content_events += 1
        if self._capture is not None:
            self._capture(event)
        if at >= 0:
            self._continuous.see(event)
            if not self._keep_continuous:  # the usual member taken out here: one call less
                found = MEMBER.match(event, at - 1)
                event = (
                    event[: at - 1] + event[found.end() :] if found else without_usage(event, at)
                )
        return self._in_order(event)

    def _in_order(self, event: bytes) -> bytes:
        """A content event after those held; held itself if it ends a choice whose
        fingerprint is still to come (``rfind``: measured quicker than ``in`` here)."""
        if self._move_fingerprint and event.rfind(_FINISHED) >= 0:
            self._held.append(event)  # until the usage chunk brings its fingerprint
            return b""
        return self._release(event) if self._held else event

    def _meter(self, chunk: bytes) -> bytes:
        """Any chunk, event by event: the end of the stream, usage (kept only if asked for),
        errors, content events; whatever events were written together."""
        if ends_with_done(chunk):
            self._completed = True  # the protocol's own end of stream
        out: list[bytes] = []
        rest = chunk
        while rest:
            cut, width = first_separator(rest)
            end = len(rest) if cut < 0 else cut + width
            out.append(self._one(rest[:end]))
            rest = rest[end:]
        return b"".join(out)

    def _one(self, event: bytes) -> bytes:
        if event.startswith(_ERROR_MARK):
            self._failed = True
            return self._release(event)
        if event.startswith(_TYPED):
            return self._typed(event)
        if not event.startswith(_OBJECT):
            return self._release(event)  # [DONE]
        at = event.rfind(USAGE_MARK)
        if at < 0 or event[at - 3 : at - 1] == b"}]":
            return self._content(event, at)
        start = event.find(b"{")
        try:
            document = orjson.loads(event[start:])
        except orjson.JSONDecodeError:
            document = None
        usage = usage_of(document)
        if usage is None or not isinstance(document, dict):
            return self._content(event, -1)  # no usage of the engine's: relayed as it is
        if document.get("choices") != []:
            return self._content(event, at)  # per-chunk usage, written another way
        self._usage = usage
        if self._keep_final:
            return self._release(event)
        fingerprint = document.get("system_fingerprint")
        return self._release(b"", fingerprint if isinstance(fingerprint, str) else None)

    def _typed(self, event: bytes) -> bytes:
        """A Responses API event (``event: <type>``): its text deltas are content events;
        its end event carries the usage (in ``response.usage``), always relayed."""
        if event.startswith(_TYPED_DELTAS):
            self._content_events += 1
            if self._capture is not None:
                self._capture(event)
            return event
        if event.startswith(TYPED_ENDS):
            self._completed = True
            if event.startswith(b"event: error") or event.startswith(b"event: response.failed"):
                self._failed = True
            start = event.find(b"{")
            try:
                document = orjson.loads(event[start:]) if start >= 0 else None
            except orjson.JSONDecodeError:
                document = None
            answer = document.get("response") if isinstance(document, dict) else None
            usage = usage_of(answer)
            if usage is not None:
                self._usage = usage
        return event

    def _release(self, event: bytes, fingerprint: str | None = None) -> bytes:
        """``event`` after the finish events held for the fingerprint (with it, if given)."""
        if not self._held:
            return event
        held, self._held = self._held, []
        if fingerprint is not None:
            member = b"," + _FINGERPRINT + orjson.dumps(fingerprint)
            held = [_with(e, member) if _FINGERPRINT not in e else e for e in held]
        return b"".join(held) + event

    async def aclose(self, *, client_gone: bool = False) -> None:
        """Close the engine stream and meter, exactly once, whatever happened before."""
        if self._closed:
            return
        self._closed = True
        await close_then_meter(
            self._iterator, self._upstream, lambda: self._on_end(self._outcome(client_gone))
        )

    def _outcome(self, client_gone: bool) -> StreamOutcome:
        usage, partial = self._usage, False
        if usage is None and self._continuous:
            usage, partial = self._continuous.total(), True
        return StreamOutcome(
            usage=usage,
            content_events=self._content_events,
            ttft_s=None if self._first is None else self._first - self._started,
            duration_s=time.perf_counter() - self._started,
            client_gone=client_gone,
            failed=self._failed or (not self._completed and not client_gone),
            partial=partial and usage is not None,
        )


def _with(event: bytes, member: bytes) -> bytes:
    """``event`` (one JSON object) with ``member`` added as its last member."""
    end = event.rfind(b"}")
    return event[:end] + member + event[end:]


async def close_then_meter(
    iterator: AsyncGenerator[bytes, None] | None,
    upstream: UpstreamStream,
    meter: Callable[[], Awaitable[None]],
) -> None:
    """A relayed stream's end: its event iterator closed, then the engine's connection, then
    the stream metered, each step even if the one before it failed."""
    try:
        if iterator is not None:
            await iterator.aclose()
    finally:
        try:
            await upstream.aclose()
        finally:
            await meter()
