"""Chat completion bodies as clients send them, valid and invalid, for the validation
figures and the relays' load. Deterministic: the same bytes on every run."""

from __future__ import annotations

from typing import Any

import orjson

MODEL = "llama-3.1-8b"
PATH = "/v1/chat/completions"
_SENTENCE = "Wie beantrage ich einen Anwohnerparkausweis in Köln? "


def text(chars: int) -> str:
    """German prose of exactly ``chars`` characters."""
    return (_SENTENCE * (chars // len(_SENTENCE) + 1))[:chars]


def chat(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, **fields}


def one_message(chars: int = 50, **fields: Any) -> dict[str, Any]:
    return chat([{"role": "user", "content": text(chars)}], **fields)


def conversation(turns: int = 20) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": text(300)}]
    for turn in range(turns - 1):
        role = "user" if turn % 2 == 0 else "assistant"
        messages.append({"role": role, "content": text(120 + 7 * turn)})
    return chat(messages, temperature=0.7, max_tokens=256, top_p=0.9, user="citizen-42")


def with_tools() -> dict[str, Any]:
    tool = {
        "type": "function",
        "function": {
            "name": "termin_suchen",
            "description": "Findet freie Termine im Bürgeramt.",
            "parameters": {
                "type": "object",
                "properties": {
                    "amt": {"type": "string", "enum": ["Bürgeramt", "Kfz", "Standesamt"]},
                    "datum": {"type": "string", "format": "date"},
                },
                "required": ["amt"],
            },
        },
    }
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": text(200)},
        {"role": "user", "content": text(80)},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "termin_suchen", "arguments": '{"amt": "Kfz"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"frei": ["2026-12-08"]}'},
    ]
    return chat(messages, tools=[tool] * 4, tool_choice="auto", parallel_tool_calls=False)


def long_prompt(size: int = 100 * 1024) -> dict[str, Any]:
    return one_message(size, max_tokens=512)


def realistic() -> dict[str, bytes]:
    """The four bodies of the validation table, as bytes."""
    return {
        "1 message, 50 chars": orjson.dumps(one_message()),
        "20 messages": orjson.dumps(conversation()),
        "tools": orjson.dumps(with_tools()),
        "100 KB prompt": orjson.dumps(long_prompt()),
    }


def request(stream: bool, max_tokens: int) -> bytes:
    """The relays' load: one 50-character message, as the overhead benchmark sends."""
    fields: dict[str, Any] = {"max_tokens": max_tokens, "stream": stream}
    return orjson.dumps(one_message(**fields))


def _invalid(change: dict[str, Any]) -> bytes:
    return orjson.dumps({**one_message(), **change})


# Bodies an OpenAI client gets a 400 for, each with the param OpenAI's answer names.
INVALID: dict[str, tuple[bytes, str | None]] = {
    "not JSON": (b'{"model": "m", "messages": [', None),
    "NaN literal": (b'{"model": "m", "messages": [{"role": "user"}], "temperature": NaN}', None),
    "lone surrogate": (
        b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',
        None,
    ),
    "array body": (b"[1, 2]", None),
    "no messages": (orjson.dumps({"model": MODEL}), "messages"),
    "empty messages": (_invalid({"messages": []}), "messages"),
    "unknown role": (
        _invalid({"messages": [{"role": "robot", "content": "hi"}]}),
        "messages.0.role",
    ),
    "message without role": (_invalid({"messages": [{"content": "hi"}]}), "messages.0.role"),
    "content is a number": (
        _invalid({"messages": [{"role": "user", "content": 5}]}),
        "messages.0.content",
    ),
    "temperature 3": (_invalid({"temperature": 3}), "temperature"),
    "max_tokens 0": (_invalid({"max_tokens": 0}), "max_tokens"),
    "stop is a number": (_invalid({"stop": 7}), "stop"),
    "stream as a string": (_invalid({"stream": "yes"}), "stream"),
    "model empty": (_invalid({"model": ""}), "model"),
    "integer past 64 bits": (
        b'{"model": "m", "messages": [{"role": "user"}], "seed": 1180591620717411303424}',
        "seed",
    ),
    "huge number, unknown field": (
        b'{"model": "m", "messages": [{"role": "user"}], "top_k": 1e400}',
        "top_k",
    ),
}
