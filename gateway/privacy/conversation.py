"""Which conversation a request belongs to: the scope of its pseudonym map.

Placeholders must be stable across the turns of one conversation: a client resends the whole
history each turn (with the values restored), and the same value must get the same
placeholder again. A client may name the conversation in a header; otherwise it is derived
from what every turn of a chat repeats: its first system and user messages. Two chats that
begin identically share a map, which reveals nothing: the map only ever gives the model
placeholders, and answers are restored from the values of the request itself.
"""

from __future__ import annotations

import hashlib
from typing import Any


def conversation_id(header: str | None, payload: dict[str, Any], path: str) -> str:
    if header:
        return "h-" + _digest(header.encode())
    return "d-" + _digest(_opening(payload, path).encode())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _opening(payload: dict[str, Any], path: str) -> str:
    if path == "/tokenize":  # the same placeholders as the chat or completion it measures
        path = "/v1/chat/completions" if "messages" in payload else "/v1/completions"
    if path == "/v1/responses":  # the same opening whether input is a text or items
        return f"{path}\x00{payload.get('instructions')!s:.512}\x00{_first_user(payload):.512}"
    if path != "/v1/chat/completions":
        value = payload.get("prompt" if path == "/v1/completions" else "input")
        first = value[0] if isinstance(value, list) and value else value
        return f"{path}\x00{first!s:.512}"
    parts = [path]
    for roles in (("system", "developer"), ("user",)):
        for message in payload.get("messages") or []:
            if isinstance(message, dict) and message.get("role") in roles:
                parts.append(f"{roles[0]}\x00{message.get('content')!s}")
                break
    return "\x00".join(parts)


def _first_user(payload: dict[str, Any]) -> str:
    """A Responses API request's first user text: ``input`` itself, or its first user item's."""
    items = payload.get("input")
    if not isinstance(items, list):
        return str(items)
    for item in items:
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                texts = [p.get("text") for p in content if isinstance(p, dict)]
                return "".join(t for t in texts if isinstance(t, str))
            return str(content)
    return ""
