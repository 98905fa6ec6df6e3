"""The text watermark on the real vLLM engine (issue 17): the session's engine runs with the
watermark's logits processor loaded (``TEST_WATERMARK``, tests/conftest.py).

- A request that asks for it (``vllm_xargs``) is marked: 200+ generated tokens are detected
  from the text alone (re-tokenized), far above the threshold.
- The same request without it is not detected.
- Loaded but off, the processor changes nothing: vLLM reports logprobs from the logits
  *before* any processor (``raw_logprobs``), so at temperature 0 every token of an
  unmarked answer must be the raw argmax; a marked answer at temperature 0 departs from it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.provenance.watermark import detect
from serving.watermark_scheme import REQUEST_ARG
from tests.servers import TEST_WATERMARK, EngineUnderTest

pytestmark = pytest.mark.engine

ON = {"vllm_xargs": {REQUEST_ARG: 1}}
ESSAY = [
    {
        "role": "user",
        "content": "Write a long essay about the history of bread, its grains and its bakers.",
    }
]


def _chat(engine: EngineUnderTest, **body: Any) -> dict[str, Any]:
    payload = {"model": engine.model, "messages": ESSAY, **body}
    response = httpx.post(engine.base_url + "/v1/chat/completions", json=payload, timeout=300)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()["choices"][0]
    return answer


def _essay(engine: EngineUnderTest, **extra: Any) -> str:
    # min_tokens: at least 200 tokens to detect on, whatever the small model would rather do.
    answer = _chat(engine, max_tokens=240, min_tokens=220, temperature=1.0, seed=17, **extra)
    text: str = answer["message"]["content"]
    return text


def test_a_watermarked_answer_is_detected_and_a_plain_one_is_not(engine: EngineUnderTest) -> None:
    marked = detect(_essay(engine, **ON), TEST_WATERMARK)
    plain = detect(_essay(engine), TEST_WATERMARK)
    assert marked.tokens_scored >= 150, marked
    assert marked.detected, marked
    assert marked.z > 6, marked
    assert not plain.detected, plain
    assert plain.z < 3, plain
    print(f"\nwatermarked: {marked}\nplain: {plain}")


def _departures_from_raw_argmax(answer: dict[str, Any]) -> int:
    steps = answer["logprobs"]["content"]
    assert len(steps) >= 30
    # vLLM lists the sampled token first, then the raw top ones.
    return sum(step["logprob"] < max(t["logprob"] for t in step["top_logprobs"]) for step in steps)


def test_the_loaded_processor_changes_nothing_when_off(engine: EngineUnderTest) -> None:
    greedy: dict[str, Any] = {
        # No min_tokens: it masks the end token, a departure from the raw argmax of its own.
        "max_tokens": 60,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert _departures_from_raw_argmax(_chat(engine, **greedy)) == 0
    assert _departures_from_raw_argmax(_chat(engine, **greedy, **ON)) > 0
