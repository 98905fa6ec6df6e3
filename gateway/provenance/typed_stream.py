"""A Responses API or Anthropic Messages stream with its provenance token in its end event.

These streams are typed events that their SDKs parse by type (an unknown type is dropped or
breaks the helpers), and they end with an event of their own, not ``[DONE]``. So no event is
added: the one that ends the stream carries the token, as one more member::

    event: response.completed      (or response.incomplete)
    data: {"type": "response.completed", ..., "response": {..., "provenance": {"token": ...}}}

    event: message_stop
    data: {"type": "message_stop", "provenance": {"token": "<JWS>"}}

Where the SDKs expose it (checked against openai 3.x and anthropic 2.x,
``tests/provenance/test_sdk_streams.py``): the openai SDK keeps unknown members of a
response, so ``event.response.provenance`` of the ``response.completed`` event, iterating
``responses.create(stream=True)`` or ``responses.stream(...)``, and the latter's
``get_final_response().provenance``. The anthropic SDK keeps it on the raw ``message_stop``
event: ``event.provenance`` iterating ``messages.create(stream=True)``. Its
``messages.stream(...)`` helper does not: it replaces ``message_stop`` with an event of its
own (the message snapshot) and builds ``get_final_message()`` from the other events, so a
client that wants the token iterates the raw events (or reads the whole answer's header).

The text signed is the concatenation of the text deltas as relayed (``answer_text.TypedText``):
the same text as the whole answer's (its ``output_text`` parts; its ``text`` blocks).
``response.incomplete`` (a Responses answer cut at ``max_output_tokens``; vLLM says so in
``response.completed`` with ``status: incomplete``) is signed like a chat stream that stops at
its ``length``: the client has the whole of what was generated, and it is AI-generated. A
stream that fails (``response.failed``, ``error``) or ends without its end event (an engine
broken, a client gone) gets no token. Events pass as they come; only the text deltas and the
end event are parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal

import orjson

from gateway.provenance.answer_text import TypedText
from gateway.upstream.relay import RelaySource
from gateway.upstream.sse import events_of

Api = Literal["responses", "messages"]
_DATA = b"data: "
_DELTAS: dict[Api, bytes] = {
    "responses": b"event: response.output_text.delta",
    "messages": b"event: content_block_delta",
}
_ENDS: dict[Api, tuple[bytes, ...]] = {
    "responses": (b"event: response.completed", b"event: response.incomplete"),
    "messages": (b"event: message_stop",),
}


class TypedProvenanceStream:
    def __init__(self, source: RelaySource, sign: Callable[[str], str], api: Api) -> None:
        self._source = source
        self._sign = sign
        self._api = api
        self._deltas = _DELTAS[api]
        self._ends = _ENDS[api]
        self._text = TypedText()
        self.finish_on_disconnect = source.finish_on_disconnect

    async def events(self) -> AsyncIterator[bytes]:
        async for chunk in self._source.events():
            if self._deltas not in chunk and not any(end in chunk for end in self._ends):
                yield chunk  # the usual event of no interest: passed untouched, unparsed
                continue
            yield b"".join(self._event(event) for event in events_of(chunk))

    def _event(self, event: bytes) -> bytes:
        delta = event.startswith(self._deltas)
        if not delta and not event.startswith(self._ends):
            return event
        at = event.find(_DATA)
        if at < 0:  # an end event without data (Anthropic's needs none): given one
            if delta or self._api != "messages":
                return event
            token = {"token": self._sign(self._text.text())}
            data = orjson.dumps({"type": "message_stop", "provenance": token})
            return event.rstrip(b"\r\n") + b"\n" + _DATA + data + b"\n\n"
        body = event[at + len(_DATA) :]
        end = len(body.rstrip(b"\r\n"))
        try:
            document = orjson.loads(body[:end])
        except orjson.JSONDecodeError:
            return event  # the layers below report broken JSON
        if not isinstance(document, dict):
            return event
        if delta:
            self._text.see(document)
            return event
        holder = document.get("response") if self._api == "responses" else document
        if not isinstance(holder, dict):
            return event
        holder["provenance"] = {"token": self._sign(self._text.text())}
        return event[: at + len(_DATA)] + orjson.dumps(document) + body[end:]

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._source.aclose(client_gone=client_gone)
