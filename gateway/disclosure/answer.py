"""first_answer mode, whole answers: the notice in front of the answer's text.

Called by the shape stage on the body the client gets (placeholders restored, response rules
applied), so the notice is part of the text the provenance digest covers. What is metered is
the engine's body, untouched: the notice is not billed. Only text goes first: a chat choice's
``message.content`` (every choice of ``n``; a choice of tool calls only is left alone), an
Anthropic message's first ``text`` block, the Responses API's first ``output_text`` part. A
body that is not the JSON expected is returned as it is.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.disclosure.notice import Owed


def disclose_body(path: str, body: bytes, owed: Owed) -> bytes:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(document, dict):
        return body
    if path == "/v1/messages":
        changed = _first_text(document.get("content"), ("text",), owed)
    elif path == "/v1/responses":
        changed = _responses(document, owed)
    else:
        changed = _chat(document, owed)
    return orjson.dumps(document) if changed else body


def prefixed(text: str, owed: Owed) -> str:
    return owed.prefix + text if text else owed.notice


def _chat(document: dict[str, Any], owed: Owed) -> bool:
    changed = False
    for choice in document.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        if message.get("tool_calls") and not message["content"]:
            continue  # tool calls only: nothing a person reads
        message["content"] = prefixed(message["content"], owed)
        changed = True
    return changed


def _responses(document: dict[str, Any], owed: Owed) -> bool:
    for item in document.get("output") or ():
        is_message = isinstance(item, dict) and item.get("type") == "message"
        if is_message and _first_text(item.get("content"), ("output_text",), owed):
            return True
    return False


def _first_text(parts: Any, types: tuple[str, ...], owed: Owed) -> bool:
    for part in parts if isinstance(parts, list) else ():
        if (
            isinstance(part, dict)
            and part.get("type") in types
            and isinstance(part.get("text"), str)
        ):
            part["text"] = prefixed(part["text"], owed)
            return True
    return False
