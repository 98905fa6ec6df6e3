"""Streams keep their shape through gdpr-default against the real vLLM engine (issue 14).

A numeric answer flows as the engine writes it (each number once it has ended), not as one
chunk at the end; with ``logprobs`` every chunk's tokens concatenate to its text; with
``echo`` the prompt comes back as the client wrote it (its pseudonymised e-mail address
restored), in the text and in the logprobs' tokens.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DE_KEY, MODEL, Gateway
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

# The CPU model answers "1, 2, 3, 4, ..." (asked to count "separated by commas", it writes
# the digits run together: one 60-digit number, which is held, as it may hide a card).
COUNT = [
    {
        "role": "user",
        "content": "Write the numbers 1, 2, 3 and so on up to 30, with a comma and a space "
        "after each.",
    }
]


def _sse(url: str, body: dict[str, Any], key: str | None = None) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    chunks = []
    with httpx.stream("POST", url, json=body, headers=headers, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: {"):
                chunks.append(httpx.Response(200, content=line[6:]).json())
    return chunks


def _chat_text(chunk: dict[str, Any]) -> tuple[str, list[str] | None]:
    choice = chunk["choices"][0]
    logprobs = choice.get("logprobs")
    tokens = None if logprobs is None else [e["token"] for e in logprobs["content"] or []]
    return choice["delta"].get("content") or "", tokens


def test_a_numeric_chat_answer_flows_and_its_logprobs_stay_aligned(
    gateway: Gateway, engine: EngineUnderTest
) -> None:
    body = {
        "model": MODEL,
        "messages": COUNT,
        "max_tokens": 60,
        "temperature": 0,
        "stream": True,
        "logprobs": True,
        "top_logprobs": 2,
    }
    direct = [c for c in _sse(engine.base_url + "/v1/chat/completions", body) if c["choices"]]
    through = _sse(gateway.base_url + "/v1/chat/completions", body, DE_KEY)
    through = [c for c in through if c["choices"]]
    text = "".join(_chat_text(c)[0] for c in through)
    assert text == "".join(_chat_text(c)[0] for c in direct)
    assert sum(ch.isdigit() for ch in text) >= 20  # the model counted
    for chunk in through:  # aligned in every chunk
        piece, tokens = _chat_text(chunk)
        if tokens is not None:
            assert "".join(tokens) == piece, json.dumps(chunk)
    deltas = sum(1 for c in through if _chat_text(c)[0])
    direct_deltas = sum(1 for c in direct if _chat_text(c)[0])
    assert deltas >= direct_deltas // 4  # one per number ("7, "); was 1, at the end


def test_an_echoed_prompt_is_restored_in_text_and_tokens(gateway: Gateway) -> None:
    prompt = "Write to max.mustermann@example.de about the meeting. Dear"
    body = {
        "model": MODEL,
        "prompt": prompt,
        "max_tokens": 8,
        "temperature": 0,
        "echo": True,
        "logprobs": 1,
    }
    client = httpx.Client(base_url=gateway.base_url, timeout=120)
    whole = client.post(
        "/v1/completions", json=body, headers={"Authorization": f"Bearer {DE_KEY}"}
    ).json()
    choice = whole["choices"][0]
    assert choice["text"].startswith(prompt), choice["text"]
    assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
    assert not any("<EMAIL" in t for t in choice["logprobs"]["tokens"])
    streamed = _sse(gateway.base_url + "/v1/completions", {**body, "stream": True}, DE_KEY)
    texts = []
    for chunk in streamed:
        if not chunk["choices"]:
            continue
        part = chunk["choices"][0]
        texts.append(part["text"])
        if part.get("logprobs") is not None:
            assert "".join(part["logprobs"]["tokens"]) == part["text"]
    assert "".join(texts).startswith(prompt)
