"""Split a byte stream into whole server-sent events, one at a time, as they arrive.

Only the bytes of the event still being received are held; every complete event is released
at once. Events end at a blank line (``\\n\\n``, or ``\\r\\n\\r\\n`` from some servers). A chunk
that holds only whole events (the usual case: engines write one event per write) is released
as it is, without being cut, which halves the relay's CPU per event.

``well_formed`` and ``ends_stream`` check the engine kept to the OpenAI stream protocol
without parsing any JSON: every event starts ``data: {`` or is ``data: [DONE]`` (or is a
typed ``event: ...`` of the Responses API), and the stream's last chunk ends with ``[DONE]``
(or holds the engine's own error event; the Responses API ends with ``response.completed``,
``response.incomplete``, ``response.failed`` or ``error``). A prefix
test and a newline search per chunk, and one search in the last chunk only: the relay stays
as cheap as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

_SEPARATORS = (b"\n\n", b"\r\n\r\n")
_EVENT_STARTS = (b"data: {", b"data: [DONE]")
_TYPED = b"event: "  # then its ``data: {...}`` line: the Responses API's typed events
# The events that end a Responses API stream (it sends no ``[DONE]``).
TYPED_ENDS = (
    b"event: response.completed\n",
    b"event: response.incomplete\n",
    b"event: response.failed\n",
    b"event: error\n",
)
_DONE = b"data: [DONE]"
_ERROR = b'data: {"error"'


async def split_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in chunks:
        if not pending and chunk.endswith(_SEPARATORS):
            yield chunk
            continue
        pending = pending + chunk if pending else chunk
        while True:
            cut, width = first_separator(pending)
            if cut < 0:
                break
            yield pending[: cut + width]
            pending = pending[cut + width :]
    if pending.strip():
        yield pending


def first_separator(data: bytes) -> tuple[int, int]:
    """Where the first event ends in ``data`` and the separator's width; (-1, 0) if nowhere."""
    best, width = -1, 0
    for separator in _SEPARATORS:
        at = data.find(separator)
        if at >= 0 and (best < 0 or at < best):
            best, width = at, len(separator)
    return best, width


def events_of(chunk: bytes) -> list[bytes]:
    """A chunk's whole events, each with its separator (the relay's chunks end at event
    boundaries; a tail without one is kept as the last)."""
    events = []
    while chunk:
        cut, width = first_separator(chunk)
        if cut < 0:
            events.append(chunk)
            break
        events.append(chunk[: cut + width])
        chunk = chunk[cut + width :]
    return events


def well_formed(chunk: bytes) -> bool:
    """Whether every event in a chunk of whole events (as ``split_events`` releases them)
    starts as an OpenAI stream event does. Only the start is read: the JSON after it is
    checked where it is parsed anyway (usage, response rules)."""
    if not _starts(chunk):
        return False
    if chunk.find(b"\n") == len(chunk) - 2:
        return True  # the usual chunk: one event (its only newline starts its end)
    rest = chunk
    while True:
        cut, width = first_separator(rest)
        if cut < 0:
            return not rest.strip() or _starts(rest)
        rest = rest[cut + width :]
        if rest and not _starts(rest):
            return False


def _starts(event: bytes) -> bool:
    """``data: {...}``, ``data: [DONE]``, or a typed event: ``event: <type>`` followed by
    its ``data: {...}`` line (an ``event:`` line alone, a ping, is not an OpenAI event)."""
    if event.startswith(_EVENT_STARTS):
        return True
    return event.startswith(_TYPED) and event.startswith(b"data: {", event.find(b"\n") + 1)


def ends_stream(last: bytes) -> bool:
    """Whether the stream's last chunk ends it as the protocol does: ``[DONE]``, or an error
    event (the engine's own, or ours)."""
    return ends_with_done(last) or _ERROR in last or ends_typed(last)


def ends_typed(chunk: bytes) -> bool:
    """Whether a chunk's last event is one that ends a Responses API stream."""
    body = chunk.rstrip()
    return body[body.rfind(b"\n\n") + 1 :].lstrip().startswith(TYPED_ENDS)


def ends_with_done(chunk: bytes) -> bool:
    """Whether a chunk's last event is ``[DONE]``. Not "holds": an answer's text may say
    ``data: [DONE]`` (an error mark cannot hide in a text: its quotes would be escaped)."""
    return chunk.rstrip().endswith(_DONE)
