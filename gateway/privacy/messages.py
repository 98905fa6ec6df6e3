"""Where the text is in Anthropic Messages requests and answers (``/v1/messages``), and a
whole answer's placeholders restored.

A request's texts: ``system`` and each message's ``content``, as a string or as blocks (a
text's ``text``, a tool_use's ``input`` value by value, a tool_result's ``content``, a
thinking block's ``thinking``). An answer's: its ``content`` blocks, the same way, but a
tool call's ``input`` (an object) is analysed as one JSON text, as a chat's tool arguments
are: a number in it is seen too, and a value masked there becomes what the tool's
``input_schema`` allows (``json_answers``). ``filter_body`` turns each input into its JSON
text first (``inputs_as_text``) and back into an object at the end (``inputs_as_objects``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import UpstreamInvalidResponse
from gateway.privacy.json_answers import ANY_JSON, AnswerFormats, JsonFormat
from policies.pseudonym.restore import restore_text

Slot = tuple[Any, Any]  # (dict or list, key or index)
_TEXT_KEYS = ("text", "thinking")


def request_slots(payload: dict[str, Any]) -> Iterator[Slot]:
    if isinstance(payload.get("system"), str):
        yield payload, "system"
    else:
        yield from _blocks(payload.get("system"))
    for message in payload.get("messages") or ():
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                yield message, "content"
            else:
                yield from _blocks(message.get("content"))


@dataclass(frozen=True, slots=True)
class MessageFormats(AnswerFormats):
    """A Messages answer's JSON texts: each tool call's input, under its tool's schema."""

    def of_slot(self, container: Any, key: Any) -> JsonFormat | None:
        if key == "input" and isinstance(container, dict):
            return self.tool(container.get("name"))
        return None


def tool_formats(payload: Mapping[str, Any]) -> dict[str, JsonFormat]:
    """Each declared tool's input: JSON under its ``input_schema``."""
    found: dict[str, JsonFormat] = {}
    for tool in payload.get("tools") or ():
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            name = tool["name"]
            schema = tool.get("input_schema", ANY_JSON)
            found[name] = JsonFormat(schema, f"the input of the call of tool '{name}'")
    return found


def message_formats(payload: Mapping[str, Any]) -> MessageFormats:
    return MessageFormats(None, tool_formats(payload))


def answer_slots(body: dict[str, Any]) -> list[Slot]:
    """The generated texts of a whole Messages answer (``"type": "message"``)."""
    return list(_blocks(body.get("content")))


def inputs_as_text(body: dict[str, Any]) -> None:
    """Each tool call's ``input`` as its JSON text (one slot), in place."""
    for block in _tool_uses(body):
        if not isinstance(block["input"], str):
            block["input"] = orjson.dumps(block["input"]).decode()


def inputs_as_objects(body: dict[str, Any]) -> None:
    """Each tool call's ``input`` back from its JSON text, in place."""
    for block in _tool_uses(body):
        if isinstance(block["input"], str):
            try:
                block["input"] = orjson.loads(block["input"])
            except orjson.JSONDecodeError as exc:  # masking keeps JSON: a bug if reached
                raise UpstreamInvalidResponse("A tool call's input could not be kept.") from exc


def restore_message(body: dict[str, Any], mapping: Mapping[str, str]) -> None:
    """A whole Messages answer with its placeholders restored, in place (tool inputs as
    JSON texts: restored JSON-escaped)."""
    for container, key in answer_slots(body):
        container[key] = restore_text(container[key], mapping, json_escape=key == "input")


def _tool_uses(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for block in body.get("content") or ():
        if isinstance(block, dict) and block.get("type") == "tool_use" and "input" in block:
            yield block


def _blocks(blocks: Any) -> Iterator[Slot]:
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for key in _TEXT_KEYS:
            if isinstance(block.get(key), str):
                yield block, key
        if block.get("type") == "tool_use" and isinstance(block.get("input"), str):
            yield block, "input"  # an answer's, as its JSON text (``inputs_as_text``)
        elif block.get("type") == "tool_use" and "input" in block:
            yield from _strings(block, "input")
        elif block.get("type") == "tool_result":
            content = block.get("content")
            if isinstance(content, str):
                yield block, "content"
            else:
                yield from _blocks(content)


def _strings(container: Any, key: Any) -> Iterator[Slot]:
    """Every string value under ``container[key]`` (a tool call's input), iteratively."""
    stack = [(container, key)]
    while stack:
        parent, at = stack.pop()
        value = parent[at]
        if isinstance(value, str):
            yield parent, at
        elif isinstance(value, dict):
            stack.extend((value, k) for k in value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
