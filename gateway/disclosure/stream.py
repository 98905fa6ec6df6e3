"""first_answer mode, streams: the notice in front of the first text delta, never buffered.

The outermost layer of the relayed stream (after the metering tap, the response rules and
the placeholder restorer), so what it adds is part of what the client receives and what the
provenance digest covers, and none of it is metered. Until the notice is placed, each event
is parsed (a handful: the first text delta comes at once); after that, events pass as they
came, except on the Responses API, whose ``*.done`` events and ``response.completed`` repeat
the whole text and get the notice too, so the whole texts always equal the deltas.

- Chat: the first ``delta.content`` of every choice (``n``); a choice whose first delta is a
  tool call is left alone (tool calls are never touched).
- Anthropic messages: the first ``text_delta``.
- Responses API: the first ``response.output_text.delta``, then that text's
  ``output_text.done``, ``content_part.done``, ``output_item.done`` and the final response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.disclosure.notice import Owed
from gateway.upstream.relay import RelaySource
from gateway.upstream.sse import events_of

_DATA = b"data: "
_REPEATS = (  # the Responses API's events that repeat a whole text
    b"event: response.output_text.done",
    b"event: response.content_part.done",
    b"event: response.output_item.done",
    b"event: response.completed",
    b"event: response.incomplete",
)


class DisclosingStream:
    def __init__(self, source: RelaySource, owed: Owed, path: str, choices: int = 1) -> None:
        self._source = source
        self.finish_on_disconnect = source.finish_on_disconnect
        self._owed = owed
        self._path = path
        self._pending = set(range(max(choices, 1)))  # chat choices still to get the notice
        self._placed: tuple[int, int] | None = None  # Responses: (output, content) index
        self._done = False

    async def events(self) -> AsyncIterator[bytes]:
        async for chunk in self._source.events():
            if self._done and not (self._placed and any(r in chunk for r in _REPEATS)):
                yield chunk
                continue
            yield b"".join(self._event(event) for event in events_of(chunk))

    async def aclose(self, *, client_gone: bool = False) -> None:
        await self._source.aclose(client_gone=client_gone)

    def _event(self, event: bytes) -> bytes:
        at = event.find(_DATA)
        if at < 0 or event[at + len(_DATA) : at + len(_DATA) + 1] != b"{":
            return event
        body = event[at + len(_DATA) :]
        end = len(body.rstrip(b"\r\n"))
        try:
            document = orjson.loads(body[:end])
        except orjson.JSONDecodeError:
            return event  # the layers below report broken JSON; not this one's business
        if not isinstance(document, dict) or not self._shaped(document):
            return event
        return event[: at + len(_DATA)] + orjson.dumps(document) + body[end:]

    def _shaped(self, document: dict[str, Any]) -> bool:
        """Puts the notice into ``document`` where it belongs; whether it changed."""
        if self._path == "/v1/messages":
            return self._messages(document)
        if self._path == "/v1/responses":
            return self._responses(document)
        return self._chat(document)

    def _chat(self, document: dict[str, Any]) -> bool:
        changed = False
        for choice in document.get("choices") or ():
            index = choice.get("index", 0) if isinstance(choice, dict) else None
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if index not in self._pending or not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str):
                delta["content"] = self._owed.prefix + delta["content"]
                changed = True
                self._pending.discard(index)
            elif delta.get("tool_calls"):
                self._pending.discard(index)  # a tool call's answer: left alone
        self._done = not self._pending
        return changed

    def _messages(self, document: dict[str, Any]) -> bool:
        delta = document.get("delta")
        if document.get("type") != "content_block_delta" or not isinstance(delta, dict):
            return False
        if delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str):
            return False
        delta["text"] = self._owed.prefix + delta["text"]
        self._done = True
        return True

    def _responses(self, document: dict[str, Any]) -> bool:
        kind = document.get("type")
        if self._placed is None:
            if kind != "response.output_text.delta" or not isinstance(document.get("delta"), str):
                return False
            document["delta"] = self._owed.prefix + document["delta"]
            self._placed = (_int(document.get("output_index")), _int(document.get("content_index")))
            self._done = True
            return True
        output, content = self._placed
        if kind == "response.output_text.done" and self._at(document, output, content):
            return self._text(document, "text")
        if kind == "response.content_part.done" and self._at(document, output, content):
            return self._text(document.get("part"), "text")
        if kind == "response.output_item.done" and _int(document.get("output_index")) == output:
            return self._part_of(document.get("item"), content)
        response = document.get("response")
        if kind in ("response.completed", "response.incomplete") and isinstance(response, dict):
            items = response.get("output")
            if isinstance(items, list) and output < len(items):
                return self._part_of(items[output], content)
        return False

    @staticmethod
    def _at(document: dict[str, Any], output: int, content: int) -> bool:
        here = (_int(document.get("output_index")), _int(document.get("content_index")))
        return here == (output, content)

    def _part_of(self, item: Any, content: int) -> bool:
        parts = item.get("content") if isinstance(item, dict) else None
        if not isinstance(parts, list) or content >= len(parts):
            return False
        return self._text(parts[content], "text")

    def _text(self, holder: Any, field: str) -> bool:
        if not isinstance(holder, dict) or not isinstance(holder.get(field), str):
            return False
        holder[field] = self._owed.prefix + holder[field]  # as its deltas had it
        return True


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
