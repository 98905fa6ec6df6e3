"""Response bodies, byte for byte in vLLM 0.32.0's shapes (fields as a running engine sends).

Streaming is the hot path: each stream builds its JSON prefix once, and a token event is
then three byte strings joined (prefix, the token's pre-encoded JSON text, suffix).
"""

from __future__ import annotations

import base64
import secrets
import struct
from typing import Any

import orjson

FINGERPRINT = "vllm-0.32.0-simulator"
DONE = b"data: [DONE]\n\n"
_NULLS = b'"logprobs":null,'


def new_id() -> str:
    return secrets.token_hex(8)  # vLLM's random request ids are 16 hex digits


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


class StreamEncoder:
    """SSE events of one chat or completion stream."""

    def __init__(self, *, chat: bool, request_id: str, created: int, model: str) -> None:
        kind = b"chat.completion.chunk" if chat else b"text_completion"
        self._head = b'data: {"id":%s,"object":"%s","created":%d,"model":%s,"choices":[' % (
            orjson.dumps(request_id),
            kind,
            created,
            orjson.dumps(model),
        )
        if chat:
            self.first = self._head + (
                b'{"index":0,"delta":{"role":"assistant","content":""},'
                b'"logprobs":null,"finish_reason":null}],'
                b'"prompt_token_ids":null,"prompt_text":null}\n\n'
            )
            self._open = self._head + b'{"index":0,"delta":{"content":'
            self._close = b"}," + _NULLS + b'"finish_reason":null,"token_ids":null}]}\n\n'
            self._close_last = b"}," + _NULLS + b'"finish_reason":"%s","stop_reason":null,'
        else:
            self.first = b""  # completions streams start with the first token
            self._open = self._head + b'{"index":0,"text":'
            self._close = (
                b"," + _NULLS + b'"finish_reason":null,"stop_reason":null,'
                b'"prompt_token_ids":null,"token_ids":null}]}\n\n'
            )
            self._close_last = b"," + _NULLS + b'"finish_reason":"%s","stop_reason":null,'
        self._chat = chat

    def token(self, text_json: bytes) -> bytes:
        return self._open + text_json + self._close

    def last(self, text_json: bytes, finish_reason: str, then_usage: bool) -> bytes:
        tail = self._close_last % finish_reason.encode()
        if not self._chat:
            tail += b'"prompt_token_ids":null,'
        tail += b'"token_ids":null}]'
        if not then_usage:  # vLLM puts the fingerprint on the last chunk it sends
            tail += b',"system_fingerprint":"' + FINGERPRINT.encode() + b'"'
        return self._open + text_json + tail + b"}\n\n"

    def with_usage(self, event: bytes, prompt_tokens: int, completion_tokens: int) -> bytes:
        """``event`` with its per-chunk usage (``continuous_usage_stats``) after its choices,
        as vLLM writes it (a chat's names its empty completion details)."""
        body: dict[str, int | None] = {**usage(prompt_tokens, completion_tokens)}
        if self._chat:
            body["completion_tokens_details"] = None
        at = event.rfind(b"}]") + 2
        return event[:at] + b',"usage":' + orjson.dumps(body) + event[at:]

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        body = orjson.dumps(usage(prompt_tokens, completion_tokens))
        return self._head + b'],"usage":%s,"system_fingerprint":"%s"}\n\n' % (
            body,
            FINGERPRINT.encode(),
        )


def _usage_full(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        **usage(prompt_tokens, completion_tokens),
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }


def chat_completion(
    request_id: str, created: int, model: str, content: str, finish: str, prompt: int, out: int
) -> bytes:
    message = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "reasoning": None,
    }
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    choice.update(stop_reason=None, token_ids=None, routed_experts=None)
    return orjson.dumps(
        {
            "id": request_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "service_tier": None,
            "system_fingerprint": FINGERPRINT,
            "usage": _usage_full(prompt, out),
            "prompt_logprobs": None,
            "prompt_token_ids": None,
            "prompt_text": None,
            "kv_transfer_params": None,
            "ec_transfer_params": None,
            "metrics": None,
        }
    )


def text_completion(
    request_id: str, created: int, model: str, content: str, finish: str, prompt: int, out: int
) -> bytes:
    choice = {"index": 0, "text": content, "logprobs": None, "finish_reason": finish}
    choice.update(stop_reason=None, token_ids=None, prompt_logprobs=None, prompt_token_ids=None)
    choice.update(routed_experts=None)
    return orjson.dumps(
        {
            "id": request_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "service_tier": None,
            "system_fingerprint": FINGERPRINT,
            "usage": _usage_full(prompt, out),
            "kv_transfer_params": None,
            "ec_transfer_params": None,
            "metrics": None,
        }
    )


def embeddings(
    request_id: str,
    created: int,
    model: str,
    vectors: list[list[float]],
    *,
    as_base64: bool,
    prompt_tokens: int,
) -> bytes:
    def encoded(vector: list[float]) -> list[float] | str:
        if not as_base64:
            return vector
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()

    data = [
        {"index": i, "object": "embedding", "embedding": encoded(v)} for i, v in enumerate(vectors)
    ]
    return orjson.dumps(
        {
            "id": request_id,
            "object": "list",
            "created": created,
            "model": model,
            "data": data,
            "usage": {**usage(prompt_tokens, 0), "prompt_tokens_details": None},
        }
    )


def models(model: str, created: int, max_model_len: int) -> bytes:
    permission = {
        "id": f"modelperm-{new_id()}",
        "object": "model_permission",
        "created": created,
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }
    card = {
        "id": model,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": model,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [permission],
    }
    return orjson.dumps({"object": "list", "data": [card]})
