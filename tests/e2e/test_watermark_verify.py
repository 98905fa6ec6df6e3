"""Issue 17's "done when", on the real vLLM engine: a gateway whose pool has ``watermark: on``
(the engine's logits processor keyed as the gateway's ``watermark`` section) marks an essay the
official openai SDK asks for, even when the client tries to switch the watermark off; the
free verify endpoint then finds the watermark in the text alone and the provenance token
valid for exactly that text, and invalid for it changed by one character. A gateway whose
pool is ``off`` sends no switch, even when the client asks: its answer is not detected. Each
token states which it was (its ``watermark`` claim).

Two gateways (uvicorn threads) in front of the one session engine: an engine URL may belong
to one pool only."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.auth import hash_key
from gateway.settings import Settings
from serving.watermark_scheme import REQUEST_ARG
from tests.servers import TEST_WATERMARK, EngineUnderTest, gateway_thread

pytestmark = pytest.mark.engine

KEY = "sk-watermark-e2e-0001"
ESSAY: list[openai.types.chat.ChatCompletionMessageParam] = [
    {
        "role": "user",
        "content": "Write a long essay about the history of bread, its grains and its bakers.",
    }
]


def _settings(engine: EngineUnderTest, mode: str) -> Settings:
    scheme = TEST_WATERMARK
    return Settings(
        privacy={"default_policy": None},
        telemetry={"audit_dir": tempfile.mkdtemp(prefix="sg-watermark-")},
        provenance={"default": "on"},
        watermark={
            "key": scheme.key.hex(),
            "gamma": scheme.gamma,
            "delta": scheme.delta,
            "context_width": scheme.context_width,
            "tokenizer": scheme.tokenizer,
        },
        pools=[
            {
                "name": f"wm-{mode}",
                "jurisdiction": "DE",
                "site": "de-1",
                "engines": [engine.base_url],
                "models": [engine.model],
                "watermark": mode,
            }
        ],
        tenants=[{"id": "acme", "api_keys": [{"id": "k", "hash": hash_key(KEY)}]}],
    )


@pytest.fixture(scope="module")
def marking(engine: EngineUnderTest) -> Iterator[str]:
    with gateway_thread(_settings(engine, "on")) as url:
        yield url


@pytest.fixture(scope="module")
def plain(engine: EngineUnderTest) -> Iterator[str]:
    with gateway_thread(_settings(engine, "off")) as url:
        yield url


def _essay(url: str, model: str, switch: int) -> tuple[str, str]:
    """An essay of 200+ tokens (min_tokens: whatever the small model would rather do), the
    client's own switch set to ``switch``; its text and provenance token."""
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=300)
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=ESSAY,
        max_tokens=240,
        temperature=1.0,
        seed=17,
        extra_body={"min_tokens": 220, "vllm_xargs": {REQUEST_ARG: switch}},
    )
    text = raw.parse().choices[0].message.content or ""
    return text, raw.headers["x-sovereign-provenance"]


def _verify(url: str, text: str, token: str | None = None) -> dict[str, Any]:
    body = {"text": text} if token is None else {"text": text, "token": token}
    response = httpx.post(url + "/v1/provenance/verify", json=body, timeout=60)
    assert response.status_code == 200, response.text
    verdict: dict[str, Any] = response.json()
    return verdict


def test_a_marked_answer_is_detected_and_its_token_binds_the_exact_text(
    marking: str, engine: EngineUnderTest
) -> None:
    text, token = _essay(marking, engine.model, switch=0)  # the client cannot switch it off
    verdict = _verify(marking, text, token)
    mark = verdict["watermark"]
    assert verdict["token"]["valid"] is True, verdict
    assert verdict["token"]["claims"]["pool"] == "wm-on"
    assert verdict["token"]["claims"]["watermark"] is True  # the token says it was marked
    assert mark["detected"] is True, mark
    assert mark["tokens_scored"] >= 150, mark
    assert mark["z"] > mark["threshold_z"] == 4.0, mark
    assert mark["false_positive_rate"] < 1e-4, mark

    i = len(text) // 2
    changed = text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1 :]
    verdict = _verify(marking, changed, token)
    assert verdict["token"]["valid"] is False, verdict
    assert verdict["watermark"]["detected"] is True  # the watermark survives one character
    print(f"\nmarked through the gateway: {mark}")


def test_an_off_pool_answer_is_not_marked_even_when_asked(
    plain: str, engine: EngineUnderTest
) -> None:
    text, token = _essay(plain, engine.model, switch=1)  # nor switch it on
    verdict = _verify(plain, text)
    mark = verdict["watermark"]
    assert verdict["token"] is None
    assert mark["tokens_scored"] >= 150, mark
    assert mark["detected"] is False, mark
    assert mark["z"] < 4.0, mark
    verdict = _verify(plain, text, token)
    assert verdict["token"]["valid"] is True
    assert verdict["token"]["claims"]["watermark"] is False
    print(f"\nplain through the gateway: {mark}")
