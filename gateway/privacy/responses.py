"""Where the text is in Responses API requests and answers (``/v1/responses``).

An answer (``"object": "response"``) carries what the model generated in ``output``: message
items with ``output_text`` (and ``refusal``) parts, ``function_call`` items with their JSON
``arguments``, ``custom_tool_call`` items with their ``input``, ``reasoning`` items. It also
echoes parts of the request as the engine got them (``instructions``, ``tools``, ``text``,
``metadata``, ``user``): under a policy those hold placeholders, restored so the client sees
its own values again, but never analysed as an answer (the model did not write them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.pseudonym.restore import restore_text

Slot = tuple[Any, Any]  # (dict or list, key or index)
ECHOED = ("instructions", "tools", "text", "metadata", "user", "tool_choice", "reasoning")


def request_slots(payload: dict[str, Any]) -> Iterator[Slot]:
    """The texts of a request's ``instructions`` and ``input`` (for the content log)."""
    if isinstance(payload.get("instructions"), str):
        yield payload, "instructions"
    items = payload.get("input")
    if isinstance(items, str):
        yield payload, "input"
        return
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for name in ("content", "output", "arguments"):
            value = item.get(name)
            if isinstance(value, str):
                yield item, name
            elif isinstance(value, list):
                yield from _parts(value)


def answer_slots(body: dict[str, Any]) -> list[Slot]:
    """What the model generated in a whole answer: its output items' texts."""
    slots: list[Slot] = []
    for item in body.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            slots.append((item, "arguments"))  # the format's key: ``json_answers.of_slot``
        if item.get("type") == "custom_tool_call" and isinstance(item.get("input"), str):
            slots.append((item, "input"))  # free text: plain
        for name in ("content", "summary"):
            value = item.get(name)
            if isinstance(value, list):
                slots.extend(_parts(value))
    return slots


def _parts(parts: list[Any]) -> Iterator[Slot]:
    for part in parts:
        if isinstance(part, dict):
            for name in ("text", "refusal"):
                if isinstance(part.get(name), str):
                    yield part, name


def restore_answer(
    body: dict[str, Any], mapping: Mapping[str, str], *, json_content: bool = False
) -> None:
    """A whole answer with its placeholders restored in place: what the model generated
    (JSON-escaped in JSON texts), and what it echoes of the request."""
    for container, key in answer_slots(body):
        escape = key == "arguments" or (json_content and key == "text")
        container[key] = restore_text(container[key], mapping, json_escape=escape)
    restore_echo(body, mapping)


def restore_echo(response: dict[str, Any], mapping: Mapping[str, str]) -> None:
    """The request's fields an answer echoes, with the client's own values back in them."""
    for name in ECHOED:
        if name in response:
            response[name] = restore_deep(response[name], mapping)


def restore_deep(value: Any, mapping: Mapping[str, str]) -> Any:
    """Every string in ``value`` restored (keys too: a schema's property names)."""
    if isinstance(value, str):
        return restore_text(value, mapping) if "<" in value else value
    if isinstance(value, list):
        return [restore_deep(item, mapping) for item in value]
    if isinstance(value, dict):
        return {restore_deep(k, mapping): restore_deep(v, mapping) for k, v in value.items()}
    return value
