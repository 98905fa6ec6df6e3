"""LlamaIndex's ``OpenAILike`` LLM, run with the python of its own environment
(``llamaindex_env.py``): reads one request as JSON on stdin, prints what LlamaIndex gave as
JSON on stdout (its text, deltas and token counts, and the raw openai objects it kept).

Input: ``{"operation": "chat" | "stream_chat" | "complete", "base_url", "key", "model",
"system", "prompt", "max_tokens"}``. ``chat`` and ``stream_chat`` use the chat endpoint
(``is_chat_model=True``); ``complete`` uses OpenAILike's default, the completions endpoint.
Nothing from the suite is imported: this runs beside the gateway's environment, not in it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]


def plain(value: Any) -> Any:
    """openai's pydantic objects (kept by LlamaIndex as ``raw``) as JSON values."""
    return value.model_dump(mode="json", warnings=False)


def run(request: dict[str, Any]) -> dict[str, Any]:
    operation = request["operation"]
    llm = OpenAILike(
        model=request["model"], api_base=request["base_url"] + "/v1", api_key=request["key"],
        is_chat_model=operation != "complete", temperature=0,
        max_tokens=request["max_tokens"], max_retries=0, timeout=120,
    )  # fmt: skip
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=request["system"]),
        ChatMessage(role=MessageRole.USER, content=request["prompt"]),
    ]
    if operation == "chat":
        answer = llm.chat(messages)
        return {
            "text": answer.message.content,
            "role": answer.message.role.value,
            "message_kwargs": answer.message.additional_kwargs,
            "token_counts": answer.additional_kwargs,
            "raw": plain(answer.raw),
        }
    if operation == "stream_chat":
        # With the usage chunk (no choices) at the end, as a user who counts tokens asks.
        stream = list(llm.stream_chat(messages, stream_options={"include_usage": True}))
        return {
            "deltas": [part.delta for part in stream],
            "text": stream[-1].message.content,
            "token_counts": [part.additional_kwargs for part in stream if part.additional_kwargs],
            "raw": [plain(part.raw) for part in stream],
        }
    if operation == "complete":
        completion = llm.complete(request["prompt"])
        return {
            "text": completion.text,
            "token_counts": completion.additional_kwargs,
            "raw": plain(completion.raw),
        }
    raise ValueError(f"unknown operation {operation!r}")


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
