"""What "the text of an answer" is, for its digest: the same for a whole answer and a stream.

The generated text as the client received it (placeholders restored, response rules
applied), per choice in index order, choices concatenated with nothing between them:

- chat: ``message.content`` (streamed: ``delta.content``); completions: ``text``;
- the Responses API: the ``output_text`` parts of its ``message`` items, in output and
  content order (streamed: the ``response.output_text.delta`` events' ``delta``, gathered by
  ``output_index`` and ``content_index``);
- Anthropic Messages: the ``text`` blocks, in order (streamed: the ``text_delta`` of the
  ``content_block_delta`` events, gathered by block ``index``).

Tool calls, reasoning and logprobs are not part of it: the token vouches for the prose the
user reads (an answer of tool calls only is signed over the empty text, its metadata still
stated). Pure functions of parsed JSON.
"""

from __future__ import annotations

from typing import Any

import orjson


def whole_text(body: bytes) -> str | None:
    """The text of a whole answer's JSON body; None if it is not one (nothing to sign)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("choices"), list):
        parts: dict[int, list[str]] = {}
        for choice in document["choices"]:
            _add(parts, choice, "message")
        return joined(parts)
    output = document.get("output")
    if isinstance(output, list):  # the Responses API
        return "".join(
            part["text"]
            for item in output
            if isinstance(item, dict) and item.get("type") == "message"
            for part in item.get("content") or []
            if isinstance(part, dict)
            and part.get("type") == "output_text"
            and isinstance(part.get("text"), str)
        )
    content = document.get("content")
    if document.get("type") == "message" and isinstance(content, list):  # Anthropic's
        return "".join(
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
    return None


def _add(parts: dict[int, list[str]], choice: Any, member: str) -> None:
    """A choice's text (chat: ``message``/``delta`` content; completions: ``text``)."""
    if not isinstance(choice, dict):
        return
    index = choice.get("index", 0)
    index = index if isinstance(index, int) else 0
    text = choice.get("text")
    inner = choice.get(member)
    if not isinstance(text, str) and isinstance(inner, dict):
        text = inner.get("content")
    if isinstance(text, str):
        parts.setdefault(index, []).append(text)


def joined(parts: dict[int, list[str]]) -> str:
    return "".join("".join(parts[index]) for index in sorted(parts))


class StreamText:
    """The text of a chat or completions stream, gathered event by event as relayed."""

    def __init__(self) -> None:
        self.parts: dict[int, list[str]] = {}
        self.last: dict[str, Any] = {}  # the last chunk's id, object, created, model

    def see(self, document: Any) -> None:
        if not isinstance(document, dict):
            return
        choices = document.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                _add(self.parts, choice, "delta")
        for name in ("id", "object", "created", "model"):
            if name in document:
                self.last[name] = document[name]

    def text(self) -> str:
        return joined(self.parts)


class TypedText:
    """The text of a Responses API or Anthropic Messages stream, gathered from its text
    deltas as relayed (the events' parsed ``data``), in the order its whole answer has it."""

    def __init__(self) -> None:
        self.parts: dict[tuple[int, int], list[str]] = {}

    def see(self, document: Any) -> None:
        if not isinstance(document, dict):
            return
        kind = document.get("type")
        if kind == "response.output_text.delta":
            delta = document.get("delta")
            where = (_index(document, "output_index"), _index(document, "content_index"))
        elif kind == "content_block_delta":
            inner = document.get("delta")
            if not isinstance(inner, dict) or inner.get("type") != "text_delta":
                return
            delta = inner.get("text")
            where = (_index(document, "index"), 0)
        else:
            return
        if isinstance(delta, str):
            self.parts.setdefault(where, []).append(delta)

    def text(self) -> str:
        return "".join("".join(self.parts[where]) for where in sorted(self.parts))


def _index(document: dict[str, Any], name: str) -> int:
    index = document.get(name, 0)
    return index if isinstance(index, int) else 0
