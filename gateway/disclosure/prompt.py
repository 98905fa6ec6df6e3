"""system_prompt mode: the instruction to disclose, added to the request's system prompt.

It joins the system prompt the client sent rather than adding a second one: many chat
templates accept one system message, and only first. Chat: the first message when it is a
``system`` or ``developer`` message, else a new ``system`` message in front; Anthropic
messages: ``system``; the Responses API: ``instructions``. It is added after the GDPR policy
ran (it holds no personal data, and is never masked) and before the request is serialised and
its tokens estimated. Whether the model then discloses is up to the model: the deterministic
layers are first_answer mode and the ``x-sovereign-ai-disclosure`` header.
"""

from __future__ import annotations

from typing import Any

JOIN = "\n\n"


def add_instruction(path: str, payload: dict[str, Any], instruction: str) -> None:
    """Add ``instruction`` to the system prompt of ``payload`` (the engine's request), in
    place."""
    if path == "/v1/messages":
        payload["system"] = _joined(payload.get("system"), instruction, "text")
    elif path == "/v1/responses":
        given = payload.get("instructions")
        payload["instructions"] = f"{given}{JOIN}{instruction}" if given else instruction
    else:
        messages = list(payload.get("messages") or [])
        first = messages[0] if messages and isinstance(messages[0], dict) else None
        if first is not None and first.get("role") in ("system", "developer"):
            content = _joined(first.get("content"), instruction, "text")
            messages[0] = {**first, "content": content}
        else:
            messages.insert(0, {"role": "system", "content": instruction})
        payload["messages"] = messages


def _joined(given: Any, instruction: str, part_type: str) -> Any:
    """A system prompt (a string or a list of text parts) with ``instruction`` after it."""
    if isinstance(given, list):
        return [*given, {"type": part_type, "text": instruction}]
    if isinstance(given, str) and given:
        return f"{given}{JOIN}{instruction}"
    return instruction
