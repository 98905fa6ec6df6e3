"""Where the text is in OpenAI requests and answers, as slots that can be read and rewritten.

A slot is a (container, key) pair whose value is a string: the policy analyses every slot
and writes the rewritten text back in place, so nothing else in the payload changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.errors import UnanalysableInput
from gateway.privacy import messages, responses

Slot = tuple[Any, Any]  # (dict or list, key or index)


def read(slots: list[Slot]) -> list[str]:
    return [container[key] for container, key in slots]


def write(slots: list[Slot], texts: list[str]) -> None:
    for (container, key), text in zip(slots, texts, strict=True):
        container[key] = text


def request_slots(payload: dict[str, Any], path: str) -> list[Slot]:
    if path == "/v1/responses":
        return list(responses.request_slots(payload))
    if path in ("/v1/messages", "/v1/messages/count_tokens"):
        return list(messages.request_slots(payload))
    if path == "/v1/chat/completions" or (path == "/tokenize" and "messages" in payload):
        return list(_chat_request(payload))
    if path == "/detokenize":
        return []  # token ids only
    field = "prompt" if path in ("/v1/completions", "/tokenize") else "input"
    return list(_prompts(payload, field))


def answer_slots(body: dict[str, Any]) -> list[Slot]:
    """Generated text in a non-streamed chat or text completion, and the text a detokenize
    answer decoded (its ``prompt``; the only answer without ``choices`` that has one).
    Embeddings and tokenize answers have none. A Responses API answer: ``responses.py``."""
    if body.get("object") == "response":
        return responses.answer_slots(body)
    if body.get("type") == "message":  # Anthropic's Messages API: ``messages.py``
        return messages.answer_slots(body)
    if "choices" not in body and isinstance(body.get("prompt"), str):
        return [(body, "prompt")]
    slots: list[Slot] = []
    for choice in body.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            slots.append((choice, "text"))
        message = choice.get("message")
        if isinstance(message, dict):
            slots.extend(_message(message))
    return slots


def _chat_request(payload: dict[str, Any]) -> Iterator[Slot]:
    for message in payload.get("messages") or []:
        if isinstance(message, dict):
            yield from _message(message)


def _message(message: dict[str, Any]) -> Iterator[Slot]:
    content = message.get("content")
    if isinstance(content, str):
        yield message, "content"
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"
    for name in ("reasoning_content", "refusal"):
        if isinstance(message.get(name), str):
            yield message, name
    # Earlier turns' tool calls come back with their (restored) arguments: analysed as well.
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield function, "arguments"
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        yield legacy, "arguments"


def _prompts(payload: dict[str, Any], field: str) -> Iterator[Slot]:
    value = payload.get(field)
    if isinstance(value, str):
        yield payload, field
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield value, index
            else:
                raise UnanalysableInput(
                    f"Your policy checks the text of '{field}'; token ids cannot be checked. "
                    "Send text instead.",
                    param=field,
                )
