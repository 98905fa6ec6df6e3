"""The events of a Responses API and an Anthropic Messages stream, as vLLM writes them, and a
relay of them through the provenance layer (a fake source, a fake signer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.provenance.typed_stream import Api, TypedProvenanceStream


def event(name: str, document: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(document) + b"\n\n"


def _response(status: str, texts: list[str]) -> dict[str, Any]:
    output = [
        {
            "id": f"msg_{i}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        for i, text in enumerate(texts)
    ]
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "smollm2",
        "status": status,
        "output": output,
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
    }


def _text_delta(output: int, delta: str) -> bytes:
    return event(
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "sequence_number": 3,
            "output_index": output,
            "content_index": 0,
            "item_id": f"msg_{output}",
            "delta": delta,
            "logprobs": [],
        },
    )


def responses_events(pieces: list[str], end: str = "response.completed") -> list[bytes]:
    """One message item whose text is ``pieces`` (each a delta), ending with ``end``."""
    text = "".join(pieces)
    item = {"id": "msg_0", "type": "message", "role": "assistant", "status": "in_progress",
            "content": []}  # fmt: skip
    part = {"type": "output_text", "text": text, "annotations": []}
    where = {"output_index": 0, "content_index": 0, "item_id": "msg_0"}
    events = [
        event("response.created", {"type": "response.created", "sequence_number": 0,
                                   "response": _response("in_progress", [])}),
        event("response.output_item.added", {"type": "response.output_item.added",
                                             "sequence_number": 1, "output_index": 0,
                                             "item": item}),
        event("response.content_part.added", {"type": "response.content_part.added",
                                              "sequence_number": 2, **where,
                                              "part": {**part, "text": ""}}),
    ]  # fmt: skip
    events += [_text_delta(0, piece) for piece in pieces]
    done = {**item, "status": "completed", "content": [part]}
    status = "incomplete" if end == "response.incomplete" else "completed"
    events += [
        event("response.output_text.done", {"type": "response.output_text.done",
                                            "sequence_number": 4, **where, "text": text,
                                            "logprobs": []}),
        event("response.content_part.done", {"type": "response.content_part.done",
                                             "sequence_number": 5, **where, "part": part}),
        event("response.output_item.done", {"type": "response.output_item.done",
                                            "sequence_number": 6, "output_index": 0,
                                            "item": done}),
        event(end, {"type": end, "sequence_number": 7, "response": _response(status, [text])}),
    ]  # fmt: skip
    return events


def messages_events(pieces: list[str], stop: bool = True) -> list[bytes]:
    """One text block whose text is ``pieces``, ending with ``message_stop`` (``stop``)."""
    message: dict[str, Any] = {
        "id": "m1", "type": "message", "role": "assistant", "model": "smollm2", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 0},
    }  # fmt: skip
    events = [
        event("message_start", {"type": "message_start", "message": message}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    events += [
        event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": piece}})
        for piece in pieces
    ]  # fmt: skip
    events += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": len(pieces)}}),
    ]  # fmt: skip
    if stop:
        events.append(event("message_stop", {"type": "message_stop"}))
    return events


class FakeSource:
    finish_on_disconnect = False

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed: bool | None = None

    async def events(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self, *, client_gone: bool = False) -> None:
        self.closed = client_gone


def relay(chunks: list[bytes], api: Api) -> tuple[list[bytes], list[str]]:
    """The chunks as relayed (one out for each in), and the texts signed (the token of the
    n-th is ``token-<n>``)."""
    signed: list[str] = []

    def sign(text: str) -> str:
        signed.append(text)
        return f"token-{len(signed)}"

    stream = TypedProvenanceStream(FakeSource(chunks), sign, api)

    async def run() -> list[bytes]:
        out = [chunk async for chunk in stream.events()]
        await stream.aclose()
        return out

    return asyncio.run(run()), signed


def data_of(event: bytes) -> Any:
    return orjson.loads(event[event.index(b"data: ") + 6 :])
