"""A Responses API stream through the policy: its typed events, restored and masked.

vLLM streams ``/v1/responses`` as typed events (``event: <type>`` then ``data: {...}``): the
answer's text as ``response.output_text.delta`` events, a tool call's arguments as
``response.function_call_arguments.delta``, then each text again whole in the ``*.done``
events (``output_text.done``, ``content_part.done``, ``output_item.done``,
``function_call_arguments.done``) and in ``response.completed``, which also echoes the
request (``instructions``, ``tools``, ...) and carries the usage.

Each text (one content part of one output item, a reasoning text, one call's arguments, a
custom tool call's input) goes through the
answer guard (response rules that mask or block: ``stream_guard.AnswerGuard.release``) and
then the placeholder restorer, delta by delta, holding back only what may still become
something to act on. The gateway keeps what it released of each text, and writes exactly that
into the text's ``*.done`` events and into ``response.completed``, so the whole texts a client
receives always equal the deltas it received. What was still held when a text ends goes out
as one more delta event, inserted before its ``*.done`` event; the ``sequence_number`` of
every later event is shifted by the events inserted, so they still count up by one.

Per event (20,000 vLLM delta events relayed in a loop, on a busy 2-core machine, so
approximate): with only placeholders to restore, an event without ``<`` (or its escape)
while nothing is held is relayed as it came after two byte searches (about 1 µs). Under
response rules a delta event exactly as vLLM writes it (``_PLAIN_DELTA``: its fields in
pydantic's order, a verbatim text, no logprobs) is read on its bytes, its text moved through
the guard and the restorer, and relayed as it came unless the released text differs (about
3 µs with no analysis due; the analysis itself costs what it costs on chat). Every other event
(the first and last ones, texts with escapes, logprobs, events after an inserted delta) is
parsed and written again (about 10 µs): the typed events differ in their ``sequence_number``
as well as their text, so a learned byte shape (``event_shape``) does not apply to them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import PolicyBlocked, UpstreamError, UpstreamInvalidResponse, render_sse
from gateway.privacy.json_answers import AnswerFormats, JsonFormat
from gateway.privacy.responses import restore_echo
from gateway.privacy.stream_guard import AnswerGuard
from gateway.upstream.relay import RelaySource
from policies.pseudonym.restore import RestoreTable, StreamRestorer, restore_text

_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_STARTS = frozenset({"response.created", "response.in_progress", "response.queued"})
# The events whose text the guard must see or set, even without a "<" in them.
_GUARDED = (
    b"event: response.output_text.",
    b"event: response.reasoning_text.",
    b"event: response.function_call_arguments.",
    b"event: response.custom_tool_call_input.",
    b"event: response.content_part.done",
    b"event: response.output_item.",
    b"event: response.completed",
    b"event: response.incomplete",
    b"event: response.failed",
)
_ARGUMENTS = -1  # the content index of a function call's arguments
_INPUT = -2  # of a custom tool call's input
# The streamed texts: each kind's ``.delta`` and ``.done`` events, the field of its whole
# text in ``.done``, and its content index (None: the event's ``content_index``).
_STREAMED: dict[str, tuple[str, int | None]] = {
    "response.output_text": ("text", None),
    "response.reasoning_text": ("text", None),
    "response.function_call_arguments": ("arguments", _ARGUMENTS),
    "response.custom_tool_call_input": ("input", _INPUT),
}
_WITH_LOGPROBS = frozenset({"response.output_text.delta"})
# A text delta or arguments delta as vLLM writes it (pydantic's field order, compact), with
# no logprobs and a verbatim text: no quote, backslash or control byte in it.
_PLAIN_DELTA = re.compile(
    rb"event: response\.(?P<kind>output_text|function_call_arguments)\.delta\n"
    rb'data: \{(?:"content_index":(?P<content>\d{1,9}),)?"delta":"(?P<delta>[^"\\\x00-\x1f]*)",'
    rb'"item_id":"[^"\\\x00-\x1f]*",(?:"logprobs":\[\],)?"output_index":(?P<output>\d{1,9}),'
    rb'"sequence_number":\d{1,18},"type":"response\.(?P=kind)\.delta"\}\n\n'
)
Key = tuple[int, int]  # (output index, content index)


@dataclass(slots=True)
class _Text:
    """One streamed text: what the guard holds, what the restorer holds, what was sent."""

    guarded: Any  # the guard's own state of the text (``AnswerGuard.text``), or None
    restorer: StreamRestorer | None
    sent: list[str] = field(default_factory=list)


class ResponsesStream:
    """A relay source whose Responses API events pass the answer guard, then restoration."""

    def __init__(
        self,
        inner: RelaySource,
        mapping: Mapping[str, str],
        guard: AnswerGuard | None,
        formats: AnswerFormats,
    ) -> None:
        self.finish_on_disconnect = inner.finish_on_disconnect
        self._inner = inner
        self._mapping = mapping
        self._table = RestoreTable(mapping) if mapping else None
        self._guard = guard
        self._formats = formats
        self._texts: dict[Key, _Text] = {}
        self._names: dict[int, str] = {}  # output index -> the function a call item calls
        self._reasoning: set[int] = set()  # output indexes of reasoning items: never JSON
        self._shift = 0  # events inserted so far: added to every later sequence_number

    async def events(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.events():
            if self._untouched(chunk):
                yield chunk
                continue
            try:
                relayed = await self._plain_delta(chunk)
                if relayed is None:
                    out = [await self._event(event) for event in chunk.split(b"\n\n")]
                    relayed = b"\n\n".join(out)
            except (PolicyBlocked, UpstreamError) as exc:  # withheld, or broken JSON
                yield render_sse(exc)
                return
            yield relayed

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._inner.aclose(client_gone=client_gone)

    def _untouched(self, chunk: bytes) -> bool:
        """Whether relaying ``chunk`` as it is is what shaping it would relay."""
        if self._shift or any(
            t.restorer is not None and t.restorer.held for t in self._texts.values()
        ):
            return False
        if self._guard is not None and (chunk.startswith(_GUARDED) or b"\n\nevent: " in chunk):
            return False
        return chunk.find(b"<") < 0 and chunk.find(b"\\u") < 0

    async def _plain_delta(self, chunk: bytes) -> bytes | None:
        """A delta event exactly as vLLM writes it, its text verbatim (no escape), handled
        on its bytes: the text moves through the guard and the restorer as ``_feed`` moves
        it, and the event is relayed as it came unless the released text differs. None
        (nothing changed): parse it. The match proves the event holds those fields only."""
        if self._shift:
            return None  # its sequence_number changes too
        found = _PLAIN_DELTA.fullmatch(chunk)
        if found is None:
            return None
        try:
            piece = found["delta"].decode()
        except UnicodeDecodeError:
            return None
        index, content = int(found["output"]), found["content"]
        text = found["kind"] == b"output_text"
        if text != (content is not None):
            return None  # a text delta has its content index, an arguments delta none
        key = (index, int(content)) if text else (index, _ARGUMENTS)
        released = await self._feed(key, piece, self._json(key))
        if released == piece:
            return chunk
        start, end = found.span("delta")
        return b"".join((chunk[:start], orjson.dumps(released)[1:-1], chunk[end:]))

    async def _event(self, event: bytes) -> bytes:
        if not event.startswith(b"event: "):
            return event  # the chunk's end, or an error of the gateway's own
        head, _, data = event.partition(b"\ndata: ")
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamInvalidResponse(
                "The engine sent a stream event that is not valid JSON; the stream was ended."
            ) from exc
        if not isinstance(document, dict):
            return event
        kind = head[len(b"event: ") :].decode(errors="replace").strip()
        inserted = await self._shaped(kind, document)
        written = [self._written(d, d["type"]) for d in inserted]
        return b"\n\n".join([*written, self._written(document, kind)])

    def _written(self, document: dict[str, Any], kind: str) -> bytes:
        number = document.get("sequence_number")
        if self._shift and type(number) is int:
            document["sequence_number"] = number + self._shift
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(document)

    async def _shaped(self, kind: str, document: dict[str, Any]) -> list[dict[str, Any]]:
        """Shapes ``document`` in place; returns the events to send before it."""
        index = _int(document.get("output_index"))
        base, _, stage = kind.rpartition(".")
        streamed = _STREAMED.get(base)
        if streamed is not None and stage in ("delta", "done"):
            field, part = streamed
            key = (index, _int(document.get("content_index")) if part is None else part)
            json = self._json(key)
            if stage == "delta":
                document["delta"] = await self._feed(key, document.get("delta"), json)
                return []
            return await self._done(key, document, field, base + ".delta", json)
        if kind == "response.output_item.added":
            item = document.get("item")
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                self._names[index] = item["name"]
            if isinstance(item, dict) and item.get("type") == "reasoning":
                self._reasoning.add(index)
        elif kind == "response.content_part.done":
            part = document.get("part")
            if isinstance(part, dict):
                self._part(part, (index, _int(document.get("content_index"))))
        elif kind == "response.output_item.done":
            self._item(document.get("item"), index)
        elif kind in _ENDS or kind in _STARTS:
            response = document.get("response")
            if isinstance(response, dict):
                for number, item in enumerate(response.get("output") or ()):
                    self._item(item, number)
                if self._mapping:
                    restore_echo(response, self._mapping)
        return []

    def _json(self, key: Key) -> JsonFormat | None:
        """Whether the text is JSON, and its schema: a call's arguments always are (under
        its tool's schema), the answer's text when the request asked for JSON."""
        if key[1] == _ARGUMENTS:
            return self._formats.tool(self._names.get(key[0]))
        if key[1] == _INPUT or key[0] in self._reasoning:
            return None
        return self._formats.content

    def _text(self, key: Key, json: JsonFormat | None) -> _Text:
        text = self._texts.get(key)
        if text is None:
            guard, table = self._guard, self._table
            restorer = None
            if table is not None:
                escape = json is not None
                restorer = StreamRestorer(table, json_escape=escape)
            text = _Text(None if guard is None else guard.text(json), restorer)
            self._texts[key] = text
        return text

    async def _feed(self, key: Key, piece: Any, json: JsonFormat | None) -> str:
        text = self._text(key, json)
        released = piece if isinstance(piece, str) else ""
        if self._guard is not None:
            released = await self._guard.release(text.guarded, released)
        if text.restorer is not None:
            released = text.restorer.feed(released)
        text.sent.append(released)
        return released

    async def _done(
        self, key: Key, document: dict[str, Any], name: str, delta: str, json: JsonFormat | None
    ) -> list[dict[str, Any]]:
        """A text's end: what is still held goes out as one more delta, before this event;
        the event's whole text is what was sent."""
        seen = key in self._texts
        text = self._text(key, json)
        # A text that never came as deltas comes whole here: all of it is the tail.
        whole = document.get(name)
        tail = whole if not seen and isinstance(whole, str) else ""
        if self._guard is not None:
            tail = await self._guard.release(text.guarded, tail, final=True)
        if text.restorer is not None:
            tail = text.restorer.feed(tail) + text.restorer.flush()
        text.sent.append(tail)
        document[name] = "".join(text.sent)
        if not tail:
            return []
        inserted: dict[str, Any] = {
            "type": delta,
            "sequence_number": document.get("sequence_number"),
        }
        for copied in ("item_id", "output_index", "content_index"):
            if copied in document:
                inserted[copied] = document[copied]
        inserted["delta"] = tail
        if delta in _WITH_LOGPROBS:
            inserted["logprobs"] = []
        self._shift += 1  # this event and every later one move up by one
        number = inserted["sequence_number"]
        if type(number) is int:
            inserted["sequence_number"] = number - 1  # shifted back up when written
        return [inserted]

    def _item(self, item: Any, index: int) -> None:
        """An output item as the client received it: its texts as they were sent."""
        if not isinstance(item, dict):
            return
        for name, number in (("arguments", _ARGUMENTS), ("input", _INPUT)):
            streamed = self._texts.get((index, number))
            if streamed is not None:
                item[name] = "".join(streamed.sent)
            elif isinstance(item.get(name), str) and self._mapping:
                escape = name == "arguments"
                item[name] = restore_text(item[name], self._mapping, json_escape=escape)
        for number, part in enumerate(item.get("content") or ()):
            if isinstance(part, dict):
                self._part(part, (index, number))

    def _part(self, part: dict[str, Any], key: Key) -> None:
        text = self._texts.get(key)
        if text is not None and "text" in part:
            part["text"] = "".join(text.sent)
        elif isinstance(part.get("text"), str) and self._mapping:
            escape = self._formats.content is not None
            part["text"] = restore_text(part["text"], self._mapping, json_escape=escape)


def _int(value: Any) -> int:
    return value if type(value) is int else 0
