"""The engine's usage report, read off its answers: the truth that is metered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.usage import Usage

# In an SSE event the engine's JSON is compact; inside string values quotes are escaped, so
# this byte sequence only matches the real field, and other events are never parsed.
USAGE_MARK = b'"usage":{'


def usage_of(document: Any) -> Usage | None:
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    # Chat, completions, embeddings; else the Responses API's names for the same counts.
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def usage_of_body(body: bytes) -> Usage | None:
    try:
        return usage_of(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class ChunkUsage:
    usage: Usage
    # The chunk without the final usage-only event (no choices), for a client that did not
    # ask for it; other events in the same chunk (such as ``[DONE]``) are kept.
    without_usage_event: bytes


def usage_of_chunk(chunk: bytes) -> ChunkUsage | None:
    """Usage carried by a chunk of whole SSE events (``data: {...}\n\n``...), if any."""
    if USAGE_MARK not in chunk:
        return None
    found: Usage | None = None
    kept: list[bytes] = []
    separator = b"\r\n\r\n" if b"\r\n\r\n" in chunk else b"\n\n"
    for event in chunk.split(separator):
        if USAGE_MARK in event:
            start = event.find(b"{")
            try:
                document = orjson.loads(event[start:]) if start >= 0 else None
            except orjson.JSONDecodeError:
                document = None
            usage = usage_of(document)
            if usage is not None:
                found = usage
                if isinstance(document, dict) and document.get("choices") == []:
                    continue
        kept.append(event)
    if found is None:
        return None
    return ChunkUsage(found, separator.join(kept))
