"""Rows for the official openai SDK, sync and async: Chat (plain, streamed, tools, structured
outputs with ``parse()``, logprobs, ``n``), Completions (plain, streamed), Responses (create,
stream, tools, ``text.format``) and Embeddings."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import openai
from pydantic import BaseModel

from tests.compat.compare import coalesced, observe
from tests.compat.matrix import Observation, row
from tests.compat.sides import CHAT_MODEL, Side

SYSTEM = "You are a terse assistant."
TOKENS = 12
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": TOKENS}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        # strict: vLLM decodes the arguments under the schema (a 135M model would not keep
        # to it on its own); the call itself is forced by a named or required tool_choice.
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Berlin", "Rome"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TOOL_TOKENS = 48
HELD_BACK = (
    "gdpr-default's answer guard holds back text that could still become a masked type (the "
    "text trails the stream, README 'Answers'), so where the deltas are cut differs; the "
    "stream's shape (events, kinds, fields: `shape`) and its text must not"
)


def client(side: Side) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=side.chat_url + "/v1", api_key=side.key, max_retries=0, timeout=120
    )


def async_client(side: Side) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=side.chat_url + "/v1", api_key=side.key, max_retries=0, timeout=120
    )


def messages(prompt: str) -> Any:  # the SDKs' TypedDicts, as plain dicts
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def has_text(observation: Observation) -> None:
    assert observation["text"].strip(), observation


def chat_stream_observation(chunks: list[Any]) -> Observation:
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    usage = [c["usage"] for c in chunks if c.get("usage")]
    return {
        "chunks": coalesced(chunks),
        "shape": coalesced(chunks, text=False),
        "text": text,
        "finish_reason": next(f for f in reversed(finish) if f),
        "usage": usage,
        "chunk_keys": sorted({k for c in chunks for k in c}),
    }


@row("openai chat", "openai", check=has_text, personal_data=True)
def chat(side: Side, prompt: str) -> Observation:
    answer = observe(client(side).chat.completions.create(
        model=CHAT_MODEL, messages=messages(prompt), **GREEDY
    ))  # fmt: skip
    return {"answer": answer, "text": answer["choices"][0]["message"]["content"]}


@row(
    "openai chat stream",
    "openai",
    check=has_text,
    gdpr_may_change={"chunks": HELD_BACK},
    personal_data=True,
)
def chat_stream(side: Side, prompt: str) -> Observation:
    stream = client(side).chat.completions.create(
        model=CHAT_MODEL,
        messages=messages(prompt),
        stream=True,
        stream_options={"include_usage": True},
        **GREEDY,
    )
    return chat_stream_observation([observe(chunk) for chunk in stream])


def _tool_called(observation: Observation) -> None:
    call = observation["first"]["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather", call
    assert json.loads(call["arguments"])["city"] in ("Paris", "Berlin", "Rome"), call
    assert observation["second"]["choices"][0]["message"]["content"], observation


@row("openai chat tools", "openai", check=_tool_called)
def chat_tools(side: Side, prompt: str) -> Observation:
    """A named tool_choice (vLLM decodes the arguments under the tool's schema), then the
    tool's result sent back in a second turn."""
    sdk = client(side)
    question = messages("What is the weather in Paris?")
    first = sdk.chat.completions.create(
        model=CHAT_MODEL,
        messages=question,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=TOOL_TOKENS,
    )
    calls = first.choices[0].message.tool_calls
    assert calls, first
    call = calls[0]
    turn: Any = [
        *question,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"forecast": "sunny, 21 C"}'},
    ]
    second = sdk.chat.completions.create(
        model=CHAT_MODEL, messages=turn, tools=[WEATHER], **GREEDY
    )  # fmt: skip
    return {"first": observe(first), "second": observe(second)}


@row("openai chat tools required", "openai", check=lambda o: _tool_called({**o, "second": {
    "choices": [{"message": {"content": "-"}}]}}))  # fmt: skip
def chat_tools_required(side: Side, prompt: str) -> Observation:
    first = client(side).chat.completions.create(
        model=CHAT_MODEL,
        messages=messages("What is the weather in Rome?"),
        tools=[WEATHER],
        tool_choice="required",
        temperature=0,
        max_tokens=TOOL_TOKENS,
    )
    return {"first": observe(first)}


class Colour(BaseModel):
    colour: Literal["red", "green", "blue"]


def _parsed(observation: Observation) -> None:
    assert observation["parsed"]["colour"] in ("red", "green", "blue"), observation


@row("openai chat parse (json_schema)", "openai", check=_parsed)
def chat_parse(side: Side, prompt: str) -> Observation:
    answer = client(side).chat.completions.parse(
        model=CHAT_MODEL,
        messages=messages("Name the colour of the sky as JSON."),
        response_format=Colour,
        temperature=0,
        max_tokens=30,
    )
    parsed = answer.choices[0].message.parsed
    return {"answer": observe(answer), "parsed": parsed.model_dump() if parsed else None}


def _logprobs(observation: Observation) -> None:
    content = observation["answer"]["choices"][0]["logprobs"]["content"]
    assert content, observation
    assert len(content[0]["top_logprobs"]) == 2, content


@row("openai chat logprobs", "openai", check=_logprobs)
def chat_logprobs(side: Side, prompt: str) -> Observation:
    answer = client(side).chat.completions.create(
        model=CHAT_MODEL, messages=messages(prompt), logprobs=True, top_logprobs=2, **GREEDY
    )  # fmt: skip
    return {"answer": observe(answer)}


def _aligned(observation: Observation) -> None:
    assert observation["logprob_tokens"], observation
    assert observation["misaligned_chunks"] == [], observation


@row(
    "openai chat stream logprobs",
    "openai",
    check=_aligned,
    gdpr_may_change={"chunks": HELD_BACK},
)
def chat_stream_logprobs(side: Side, prompt: str) -> Observation:
    """Each chunk's logprobs must spell that chunk's text (issue 14: "logprobs stay aligned
    with the text the client receives"), and the tokens must be the engine's."""
    stream = client(side).chat.completions.create(
        model=CHAT_MODEL, messages=messages(prompt), stream=True, logprobs=True,
        top_logprobs=1, stream_options={"include_usage": True}, **GREEDY,
    )  # fmt: skip
    chunks = [observe(chunk) for chunk in stream]
    observed = chat_stream_observation(chunks)
    tokens: list[str] = []
    misaligned: list[int] = []
    for i, chunk in enumerate(c for c in chunks if c["choices"]):
        choice = chunk["choices"][0]
        spelt = [t["token"] for t in (choice["logprobs"] or {}).get("content") or []]
        tokens += spelt
        if "".join(spelt) != (choice["delta"].get("content") or ""):
            misaligned.append(i)
    return {**observed, "logprob_tokens": tokens, "misaligned_chunks": misaligned}


def _two_choices(observation: Observation) -> None:
    assert [c["index"] for c in observation["answer"]["choices"]] == [0, 1], observation


@row("openai chat n=2", "openai", check=_two_choices)
def chat_n(side: Side, prompt: str) -> Observation:
    answer = client(side).chat.completions.create(
        model=CHAT_MODEL, messages=messages(prompt), n=2, max_tokens=TOKENS,
        # vLLM refuses n > 1 with temperature 0, and n > 1 sampled on the CPU is not
        # repeatable (bf16 logits tie, and two sequences in one batch break ties apart, even
        # with a seed). top_k 1 over a one-answer grammar makes both choices one text with
        # one tokenisation.
        temperature=1,
        extra_body={"top_k": 1, "structured_outputs": {"choice": ["Red, green and blue."]}},
    )  # fmt: skip
    return {"answer": observe(answer)}


@row("openai completions", "openai", check=has_text, personal_data=True)
def completions(side: Side, prompt: str) -> Observation:
    answer = observe(client(side).completions.create(
        model=CHAT_MODEL, prompt=prompt, logprobs=2, **GREEDY
    ))  # fmt: skip
    return {"answer": answer, "text": answer["choices"][0]["text"]}


@row(
    "openai completions stream",
    "openai",
    check=has_text,
    gdpr_may_change={"chunks": HELD_BACK},
)
def completions_stream(side: Side, prompt: str) -> Observation:
    stream = client(side).completions.create(
        model=CHAT_MODEL, prompt=prompt, stream=True, stream_options={"include_usage": True},
        **GREEDY,
    )  # fmt: skip
    chunks = [observe(chunk) for chunk in stream]
    return {
        "chunks": coalesced(chunks),
        "shape": coalesced(chunks, text=False),
        "text": "".join(c["choices"][0]["text"] for c in chunks if c["choices"]),
        "usage": [c["usage"] for c in chunks if c.get("usage")],
    }


def _response(answer: Any) -> Observation:
    # The gateway sends `store: false` (stateless, README "The Responses API"); vLLM 0.32's
    # answer has no `store` field, so the client cannot see it.
    return {"response": observe(answer)}


@row(
    "openai responses",
    "openai",
    check=lambda o: has_text({"text": o["response"]["output"][-1]["content"][0]["text"]}),
    personal_data=True,
)
def responses(side: Side, prompt: str) -> Observation:
    answer = client(side).responses.create(
        model=CHAT_MODEL, input=prompt, instructions=SYSTEM, max_output_tokens=TOKENS,
        temperature=0,
    )  # fmt: skip
    return _response(answer)


def _events_text(observation: Observation) -> None:
    assert observation["text"].strip(), observation
    assert observation["event_types"][-1] == "response.completed", observation


@row(
    "openai responses stream",
    "openai",
    check=_events_text,
    gdpr_may_change={"events": HELD_BACK},
    personal_data=True,
)
def responses_stream(side: Side, prompt: str) -> Observation:
    stream = client(side).responses.create(
        model=CHAT_MODEL, input=prompt, instructions=SYSTEM, max_output_tokens=TOKENS,
        temperature=0, stream=True,
    )  # fmt: skip
    events = [observe(event) for event in stream]
    completed = events[-1]["response"]
    return {
        "events": coalesced(events),
        "shape": coalesced(events, text=False),
        "event_types": sorted({e["type"] for e in events}, key=[e["type"] for e in events].index),
        "text": "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta"),
        "completed": completed,
    }


RESPONSES_WEATHER: Any = {"type": "function", **WEATHER["function"]}


def _responses_tool(observation: Observation) -> None:
    call = observation["first"]["output"][-1]
    assert (call["type"], call["name"]) == ("function_call", "get_weather"), call
    assert json.loads(call["arguments"])["city"] in ("Paris", "Berlin", "Rome"), call
    assert observation["second"]["output"], observation


@row(
    "openai responses tools",
    "openai",
    check=_responses_tool,
)
def responses_tools(side: Side, prompt: str) -> Observation:
    sdk = client(side)
    question: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.responses.create(
        model=CHAT_MODEL, input=question, tools=[RESPONSES_WEATHER],
        tool_choice={"type": "function", "name": "get_weather"}, temperature=0,
        max_output_tokens=TOOL_TOKENS,
    )  # fmt: skip
    call = first.output[-1]
    assert call.type == "function_call", first
    follow_up: Any = [
        *question,
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id,
         "output": '{"forecast": "sunny, 21 C"}'},
    ]  # fmt: skip
    second = sdk.responses.create(
        model=CHAT_MODEL, input=follow_up, tools=[RESPONSES_WEATHER],
        temperature=0, max_output_tokens=TOKENS,
    )  # fmt: skip
    return {"first": observe(first), "second": observe(second)}


@row(
    "openai responses text.format",
    "openai",
    check=lambda o: _parsed({"parsed": json.loads(o["text"])}),
)
def responses_format(side: Side, prompt: str) -> Observation:
    answer = client(side).responses.create(
        model=CHAT_MODEL, input="Name the colour of the sky as JSON.", temperature=0,
        max_output_tokens=30,
        text={"format": {"type": "json_schema", "name": "colour",
                         "schema": Colour.model_json_schema(), "strict": True}},
    )  # fmt: skip
    observed = _response(answer)
    return {**observed, "text": answer.output_text}


def _refused_or_not(observation: Observation) -> None:
    # vLLM keeps no responses unless VLLM_ENABLE_RESPONSES_API_STORE is set: 404.
    assert observation["refusal"]["status"] == 404, observation


PREVIOUS_REFUSED = (
    "the gateway is stateless: previous_response_id is 400 invalid_value, param "
    "previous_response_id (README, 'The Responses API')"
)


@row(
    "openai responses previous_response_id",
    "openai",
    check=_refused_or_not,
    gateway_may_change={"refusal": PREVIOUS_REFUSED},
)
def responses_previous(side: Side, prompt: str) -> Observation:
    """Directly, vLLM answers as its store allows; through the gateway the documented refusal
    (asserted in test_matrix.py for this row)."""
    try:
        client(side).responses.create(
            model=CHAT_MODEL, input=prompt, max_output_tokens=4,
            previous_response_id="resp_0123456789abcdef",
        )  # fmt: skip
    except openai.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {"refusal": {"status": error.status_code, "code": body.get("code"),
                            "param": body.get("param"), "type": body.get("type")}}  # fmt: skip
    return {"refusal": None}


def _vectors(observation: Observation) -> None:
    data = observation["answer"]["data"]
    assert [len(d["embedding"]) for d in data] == [384, 384], data
    assert data[0]["embedding"] != data[1]["embedding"]


@row("openai embeddings", "openai", check=_vectors)
def embeddings(side: Side, prompt: str) -> Observation:
    sdk = openai.OpenAI(
        base_url=side.embeddings_url + "/v1", api_key=side.key, max_retries=0, timeout=60
    )
    answer = sdk.embeddings.create(model=side.embeddings_model, input=[prompt, "Good night."])
    return {"answer": observe(answer)}


# The async client: the same calls through AsyncOpenAI (its own transport and stream code).


@row("openai async chat", "openai", check=has_text)
def async_chat(side: Side, prompt: str) -> Observation:
    async def go() -> Observation:
        async with async_client(side) as sdk:
            answer = await sdk.chat.completions.create(
                model=CHAT_MODEL, messages=messages(prompt), **GREEDY
            )  # fmt: skip
        observed = observe(answer)
        return {"answer": observed, "text": observed["choices"][0]["message"]["content"]}

    return asyncio.run(go())


@row("openai async chat stream", "openai", check=has_text, gdpr_may_change={"chunks": HELD_BACK})
def async_chat_stream(side: Side, prompt: str) -> Observation:
    async def go() -> Observation:
        async with async_client(side) as sdk:
            stream = await sdk.chat.completions.create(
                model=CHAT_MODEL, messages=messages(prompt), stream=True,
                stream_options={"include_usage": True}, **GREEDY,
            )  # fmt: skip
            return chat_stream_observation([observe(chunk) async for chunk in stream])

    return asyncio.run(go())
