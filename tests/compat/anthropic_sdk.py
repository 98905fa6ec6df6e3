"""Rows for Anthropic's official SDK against ``/v1/messages``: create, stream (its typed
events), a system prompt, and a tool call answered with a tool result."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.compat.compare import coalesced, observe
from tests.compat.matrix import Observation, row
from tests.compat.openai_sdk import HELD_BACK, SYSTEM, TOKENS, TOOL_TOKENS
from tests.compat.sides import CHAT_MODEL, Side

WEATHER: Any = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "strict": True,  # arguments decoded under the schema (see openai_sdk.WEATHER)
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Berlin", "Rome"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


# This SDK (2.x) no longer takes temperature; Anthropic's API and vLLM still do.
GREEDY = {"temperature": 0}


RAW_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta",
                        "content_block_stop", "message_delta", "message_stop"})  # fmt: skip


def client(side: Side) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=side.chat_url, api_key=side.key, max_retries=0, timeout=120)


def _text(observation: Observation) -> None:
    assert observation["text"].strip(), observation


@row("anthropic messages", "anthropic", check=_text, personal_data=True)
def messages(side: Side, prompt: str) -> Observation:
    answer = observe(client(side).messages.create(
        model=CHAT_MODEL, system=SYSTEM, max_tokens=TOKENS, extra_body=GREEDY,
        messages=[{"role": "user", "content": prompt}],
    ))  # fmt: skip
    return {"answer": answer, "text": answer["content"][0]["text"]}


@row(
    "anthropic messages stream",
    "anthropic",
    check=_text,
    gdpr_may_change={"events": HELD_BACK},
    personal_data=True,
)
def messages_stream(side: Side, prompt: str) -> Observation:
    with client(side).messages.stream(
        model=CHAT_MODEL, system=SYSTEM, max_tokens=TOKENS, extra_body=GREEDY,
        messages=[{"role": "user", "content": prompt}],
    ) as stream:  # fmt: skip
        # The wire's events; the SDK's own derived ones (text, with a snapshot) repeat them.
        events = [observe(event) for event in stream if event.type in RAW_EVENTS]
        final = observe(stream.get_final_message())
    return {
        "events": coalesced(events),
        "shape": coalesced(events, text=False),
        "event_types": sorted({e["type"] for e in events}),
        "text": "".join(
            e["delta"]["text"] for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
        ),
        "final": final,
    }  # fmt: skip


def _tool_used(observation: Observation) -> None:
    use = observation["first"]["content"][-1]
    assert (use["type"], use["name"]) == ("tool_use", "get_weather"), use
    assert use["input"]["city"] in ("Paris", "Berlin", "Rome"), use
    assert observation["first"]["stop_reason"] == "tool_use", observation["first"]
    assert observation["second"]["content"], observation["second"]


@row("anthropic tools", "anthropic", check=_tool_used)
def tools(side: Side, prompt: str) -> Observation:
    sdk = client(side)
    question: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.messages.create(
        model=CHAT_MODEL, system=SYSTEM, max_tokens=TOOL_TOKENS, extra_body=GREEDY,
        messages=question, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"},
    )  # fmt: skip
    use = first.content[-1]
    assert use.type == "tool_use", first
    follow_up: Any = [
        *question,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                       "content": '{"forecast": "sunny, 21 C"}'}]},
    ]  # fmt: skip
    second = sdk.messages.create(
        model=CHAT_MODEL, system=SYSTEM, max_tokens=TOKENS, extra_body=GREEDY, messages=follow_up,
        tools=[WEATHER],
    )  # fmt: skip
    return {"first": observe(first), "second": observe(second)}
