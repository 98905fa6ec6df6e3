"""A chat or completions stream with its provenance event, just before ``data: [DONE]``.

The outermost layer of the relay (``gateway/upstream/relay.py``): it sees each event as the
client receives it, gathers the text (``answer_text.StreamText``) and, at the protocol's end,
sends one more chunk, the stream's own kind, with no choices and a ``provenance`` member::

    data: {"id": ..., "object": "chat.completion.chunk", "created": ..., "model": ...,
           "choices": [], "provenance": {"token": "<JWS>"}}

Why a chunk and not ``event: provenance``: the openai SDK (3.x, ``_streaming.py``) turns
every event with data, whatever its ``event:`` name, into a chunk of the stream's type, so a
named event would reach the application as a malformed chunk; a chunk with empty
``choices`` is what clients already meet (the usage chunk; Azure's content-filter chunk),
and its extra member is readable as ``chunk.provenance`` (the SDK keeps unknown fields). A
stream that ends without ``[DONE]`` (an engine failure, a client gone) gets no token: the
answer is not whole. The Responses API's and Anthropic's streams carry the token in their own
end event instead (``typed_stream.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from gateway.provenance.answer_text import StreamText
from gateway.upstream.relay import RelaySource

_DONE = b"data: [DONE]"
_AFTER_EVENT = b"\n\n" + _DONE  # (a JSON string cannot hold a raw newline pair)
_DATA = b"data: {"


class ProvenanceStream:
    def __init__(self, source: RelaySource, sign: Callable[[str], str]) -> None:
        self._source = source
        self._sign = sign
        self._text = StreamText()
        self.finish_on_disconnect = source.finish_on_disconnect

    async def events(self) -> AsyncIterator[bytes]:
        async for chunk in self._source.events():
            at = _done_at(chunk)
            if at < 0:
                self._see(chunk)
                yield chunk
                continue
            self._see(chunk[:at])
            yield chunk[:at] + self._final_event() + chunk[at:]

    def _see(self, chunk: bytes) -> None:
        for event in chunk.split(b"\n\n"):
            event = event.strip()
            if not event.startswith(_DATA):
                continue
            try:
                document = orjson.loads(event[6:])
            except orjson.JSONDecodeError:
                continue
            self._text.see(document)

    def _final_event(self) -> bytes:
        last = self._text.last
        chunk: dict[str, Any] = {
            "id": last.get("id", ""),
            "object": last.get("object", "chat.completion.chunk"),
            "created": last.get("created", 0),
            "model": last.get("model", ""),
            "choices": [],
            "provenance": {"token": self._sign(self._text.text())},
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._source.aclose(client_gone=client_gone)


def _done_at(chunk: bytes) -> int:
    """Where the ``[DONE]`` event starts in a chunk of whole events; -1 if it is not there
    (the same bytes inside an answer's text are inside a JSON string, never an event)."""
    if chunk.startswith(_DONE):
        return 0
    at = chunk.find(_AFTER_EVENT)
    return at + 2 if at >= 0 else -1
