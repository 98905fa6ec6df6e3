"""A fake vLLM ``/v1/responses``: whole answers and typed event streams as vLLM 0.32 writes
them (recorded from the real engine: ``event: <type>\\ndata: {...}\\n\\n``, one write per
event, ``sequence_number`` counting from 0, the usage in ``response.completed``)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

USAGE = {"input_tokens": 23, "output_tokens": 8, "total_tokens": 31}
_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")


class ResponsesEngine:
    """Answers with ``text`` (``{name}`` becomes the first placeholder the input holds), or
    with one call of ``tool`` whose arguments are ``arguments``; streamed ``size``
    characters an event. Records every body it received."""

    def __init__(self, text: str = "Hallo {name}!", size: int = 4) -> None:
        self.text = text
        self.tool: str | None = None
        self.arguments = ""
        self.size = size
        self.cut = 0  # events left out at the stream's end (an engine that broke off)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        found = _PLACEHOLDER.search(json.dumps(body.get("input"), ensure_ascii=False))
        text = self.text.replace("{name}", found.group(0) if found else "du")
        item: dict[str, Any]
        if self.tool is not None:
            item = {"id": "fc_1", "type": "function_call", "call_id": "call_1",
                    "name": self.tool, "arguments": self.arguments,
                    "status": "completed"}  # fmt: skip
        else:
            part: dict[str, Any] = {"annotations": [], "text": text, "type": "output_text"}
            item = {"id": "msg_1", "content": [part], "role": "assistant",
                    "status": "completed", "type": "message"}  # fmt: skip
        whole = response(body, [item], USAGE)
        if not body.get("stream"):
            return httpx.Response(200, json=whole)
        events = stream_events(body, item, self.size)
        events = events[: len(events) - self.cut]
        return httpx.Response(
            200, content=_writes(events), headers={"content-type": "text/event-stream"}
        )


def response(body: dict[str, Any], output: list[Any], usage: Any) -> dict[str, Any]:
    """The response object vLLM builds from the request (its echoes included)."""
    return {
        "id": "resp_1", "created_at": 1, "incomplete_details": None,
        "instructions": body.get("instructions"), "metadata": body.get("metadata"),
        "model": body["model"], "object": "response", "output": output,
        "parallel_tool_calls": True, "temperature": body.get("temperature"),
        "tool_choice": "auto", "tools": body.get("tools") or [], "top_p": 1.0,
        "background": False, "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": None, "status": "completed" if usage else "in_progress",
        "text": body.get("text"), "truncation": "disabled", "usage": usage,
        "user": body.get("user"), "store": body.get("store"),
    }  # fmt: skip


def stream_events(body: dict[str, Any], item: dict[str, Any], size: int) -> list[dict[str, Any]]:
    opening = response(body, [], None)
    events: list[dict[str, Any]] = [
        {"response": opening, "type": "response.created"},
        {"response": opening, "type": "response.in_progress"},
    ]
    if item["type"] == "function_call":
        text, kind = item["arguments"], "response.function_call_arguments"
        events.append({"item": {**item, "arguments": "", "status": "in_progress"},
                       "output_index": 0, "type": "response.output_item.added"})  # fmt: skip
        place = {"item_id": item["id"], "output_index": 0}
    else:
        text, kind = item["content"][0]["text"], "response.output_text"
        events.append({"item": {**item, "content": [], "status": "in_progress"},
                       "output_index": 0, "type": "response.output_item.added"})  # fmt: skip
        place = {"content_index": 0, "item_id": item["id"], "output_index": 0}
        part = {"annotations": [], "text": "", "type": "output_text", "logprobs": []}
        events.append({**place, "part": part, "type": "response.content_part.added"})
    for start in range(0, len(text), size):
        delta: dict[str, Any] = {**place, "delta": text[start : start + size]}
        if kind == "response.output_text":
            delta["logprobs"] = []
        events.append({**delta, "type": kind + ".delta"})
    if kind == "response.output_text":
        events.append({**place, "logprobs": [], "text": text, "type": kind + ".done"})
        part = {**item["content"][0]}
        events.append({**place, "part": part, "type": "response.content_part.done"})
    else:
        events.append({**place, "arguments": text, "name": item["name"], "type": kind + ".done"})
    events.append({"item": item, "output_index": 0, "type": "response.output_item.done"})
    events.append({"response": response(body, [item], USAGE), "type": "response.completed"})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


async def _writes(events: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for event in events:  # one network write per event, as vLLM sends them
        # vLLM's delta events have their fields in alphabetical order (pydantic's order).
        data = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        yield b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n"
