"""A chat stream as vLLM 0.32 writes it, byte for byte, for any ``stream_options``.

Follows ``vllm/entrypoints/openai/chat_completion/serving.py``: usage only with
``include_usage`` (``should_include_usage``: ``continuous_usage_stats`` counts only with it),
then per-chunk cumulative usage on every chunk with both, and one final usage-only chunk
(``"choices":[]``) with ``include_usage``; the system fingerprint rides on the last chunk
that is sent: the finish chunk without ``include_usage``, the usage chunk with it. Checked
against the real engine in ``tests/e2e/test_stream_usage.py``.
"""

from __future__ import annotations

from typing import Any

import orjson

FINGERPRINT = "fp_vllm_0_32"
HEAD = b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"smollm2"'
DONE = b"data: [DONE]\n\n"


def asked(options: Any) -> tuple[bool, bool]:
    """(include_usage, continuous) as vLLM reads a request's ``stream_options``."""
    if not isinstance(options, dict):
        return False, False
    include = bool(options.get("include_usage"))
    return include, include and bool(options.get("continuous_usage_stats"))


def _usage(prompt: int, completion: int, *, final: bool = False) -> bytes:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }
    if not final:  # set explicitly (None) on per-chunk usage; dropped on the final chunk
        usage["completion_tokens_details"] = None
    return orjson.dumps(usage)


def chat_stream(
    options: Any, texts: list[str], *, prompt: int = 9, finish: str = "length"
) -> list[bytes]:
    """The events (each ending ``\\n\\n``) of one choice answering ``texts``, token by token."""
    include, continuous = asked(options)

    def event(choices: bytes, completion: int, tail: bytes = b"") -> bytes:
        usage = b',"usage":' + _usage(prompt, completion) if continuous else b""
        return HEAD + b',"choices":' + choices + usage + tail + b"}\n\n"

    role = b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
    role += b'"finish_reason":null}]'
    events = [event(role, 0, b',"prompt_token_ids":null,"prompt_text":null')]
    for n, text in enumerate(texts, start=1):
        delta = b'[{"index":0,"delta":{"content":' + orjson.dumps(text) + b'},"logprobs":null,'
        if n < len(texts):
            events.append(event(delta + b'"finish_reason":null,"token_ids":null}]', n))
            continue
        last = delta + b'"finish_reason":"%s","stop_reason":null,"token_ids":null}]' % (
            finish.encode()
        )
        fingerprint = b',"system_fingerprint":"' + FINGERPRINT.encode() + b'"'
        events.append(event(last, n, b"" if include else fingerprint))
    if include:
        final = b',"usage":' + _usage(prompt, len(texts), final=True)
        final += b',"system_fingerprint":"' + FINGERPRINT.encode() + b'"'
        events.append(HEAD + b',"choices":[]' + final + b"}\n\n")
    events.append(DONE)
    return events
