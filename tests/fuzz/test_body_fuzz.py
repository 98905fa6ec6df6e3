"""Hypothesis strategies for hostile request bodies, beyond what any schema describes:
random JSON in every field and in fields nobody knows, integers of any size, lone
surrogates, ``NaN``, deep nesting, odd content parts and tool calls, streams. Every answer
stays within the contract (no 5xx the gateway caused, OpenAI-style errors, a stream that ends
with ``[DONE]`` or an error event), and nothing is left behind (issue 12).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import DERANDOMIZE, EXAMPLES, FuzzTarget
from tests.fuzz.verdict import leftovers, problems_with

ROLES = ["system", "developer", "user", "assistant", "tool", "function"]
FIELDS = [
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "seed", "stop", "user",
    "tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "logit_bias",
    "stream_options", "metadata", "documents", "chat_template", "chat_template_kwargs",
    "guided_json", "guided_choice", "top_k", "min_tokens", "truncate_prompt_tokens", "suffix",
    "echo", "prompt_embeds", "request_id", "priority", "structured_outputs",
]  # fmt: skip

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
texts = st.one_of(st.text(max_size=40), surrogates, st.just("max.mustermann@example.de"))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries({"type": st.sampled_from(["image_url", "input_audio", "file", "x"])},
                          optional={"image_url": values}),
    values,
)  # fmt: skip
messages = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(ROLES), texts)},
    optional={
        "content": st.one_of(texts, st.lists(parts, max_size=3), st.none(), numbers),
        "name": st.one_of(texts, values),
        "tool_calls": st.one_of(values, st.lists(st.fixed_dictionaries(
            {"id": texts, "type": st.just("function"),
             "function": st.fixed_dictionaries({"name": texts, "arguments": texts})}),
            max_size=2)),
        "tool_call_id": values,
        "unknown_key": values,
    },
)  # fmt: skip
prompts = st.one_of(texts, st.lists(texts, max_size=3), st.lists(numbers, max_size=3), values)


deep: st.SearchStrategy[Any] = st.integers(1, 200).map(
    lambda n: json.loads("[" * n + "1" + "]" * n)
)  # nested beyond any sensible depth, within the JSON parser's limits
plain_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]),
                           "content": st.text(max_size=60)}),
    min_size=1, max_size=3,
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn, model: str) -> tuple[str, dict[str, Any]]:
    """A well-formed request with one to three hostile twists (mostly past validation, so
    the whole path is under test), or now and then one that is hostile throughout."""
    path = draw(st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]))
    body: dict[str, Any] = {"model": model}
    if path == "/v1/chat/completions":
        body["messages"] = draw(plain_messages)
    else:
        body["prompt" if path == "/v1/completions" else "input"] = draw(st.text(max_size=60))
    if path != "/v1/embeddings":
        body["stream"] = draw(st.booleans())
        body["max_tokens"] = draw(st.integers(1, 40))
    for _ in range(draw(st.integers(1, 3))):
        twist = draw(st.sampled_from(TWISTS))
        if twist == "field":
            body[draw(st.sampled_from(FIELDS))] = draw(st.one_of(values, deep))
        elif twist == "unknown":
            body[draw(st.text(min_size=1, max_size=12))] = draw(values)
        elif twist == "message" and "messages" in body:
            body["messages"].append(draw(messages))
        elif twist == "prompt" and "messages" not in body:
            body["prompt" if path == "/v1/completions" else "input"] = draw(prompts)
        elif twist == "text":
            target = body["messages"][0] if "messages" in body else body
            key = "content" if "messages" in body else next(iter(set(body) & {"prompt", "input"}))
            target[key] = draw(texts)
        elif twist == "model":
            body["model"] = draw(texts)
        elif twist == "wholly":
            return path, draw(st.dictionaries(st.text(max_size=10), values, max_size=5))
    return path, body


TWISTS = ["field", "field", "unknown", "message", "prompt", "text", "model", "wholly"]


def _check_stream(body: bytes) -> list[str]:
    end = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    if end == b"data: [DONE]" or end.startswith(b'data: {"error"'):
        return []
    return [f"a stream that ends neither with [DONE] nor an error: {body[-300:]!r}"]


@settings(
    max_examples=EXAMPLES * 8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=DERANDOMIZE,
)
@given(case=bodies("llama-3.1-8b"))
def test_hostile_bodies_are_answered_within_the_contract(
    fuzz_target: FuzzTarget, case: tuple[str, dict[str, Any]]
) -> None:
    path, body = case
    raw = json.dumps(body).encode()  # NaN, Infinity and lone surrogates as JSON text
    headers = {"authorization": f"Bearer {fuzz_target.key}", "content-type": "application/json"}
    with httpx.Client(base_url=fuzz_target.gateway.base_url, timeout=60) as client:
        response = client.post(path, content=raw, headers=headers)
    content_type = response.headers.get("content-type", "")
    problems = problems_with(response.status_code, response.content, content_type)
    if response.status_code == 200 and content_type.startswith("text/event-stream"):
        problems += _check_stream(response.content)
    assert not problems, f"{path} {raw[:500]!r}: {problems}"


def test_the_body_fuzz_left_no_lease_or_admission_behind(fuzz_target: FuzzTarget) -> None:
    assert leftovers(fuzz_target.redis_url) == {}
