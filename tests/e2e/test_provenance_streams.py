"""The provenance token of a Responses API stream (the official openai SDK) and of an Anthropic
Messages stream (the official anthropic SDK) on the real vLLM engine, through a gateway in a
uvicorn thread: each token verifies (``POST /v1/provenance/verify``) against the text the SDK
delivered, and not against it changed by one character; under greedy decoding the whole
answer's token states the same digest as the stream's (the disclosure notice included, in
first_answer mode); the token says whether the engine was told to watermark the text (a
``client`` pool: when the tenant asks); the request's audit record keeps the token."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jwt
import openai
import pytest

from gateway.auth import hash_key
from gateway.settings import Settings
from tests.provenance.audited import audited_token
from tests.servers import TEST_WATERMARK, EngineUnderTest, gateway_thread

pytestmark = pytest.mark.engine

KEYS = {"plain": "sk-prov-e2e-plain-01", "told": "sk-prov-e2e-told-002",
        "wants": "sk-prov-e2e-wants-03"}  # fmt: skip
NOTICE = "Hinweis: KI-generiert."
ASK = "Nenne drei Farben."
MAX_TOKENS = 32


@pytest.fixture(scope="module")
def audit_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sg-provenance-streams-"))


@pytest.fixture(scope="module")
def url(engine: EngineUnderTest, audit_dir: Path) -> Iterator[str]:
    scheme = TEST_WATERMARK
    tenants: list[dict[str, Any]] = [
        {"id": name, "api_keys": [{"id": name, "hash": hash_key(key)}]}
        for name, key in KEYS.items()
    ]
    tenants[1]["ai_disclosure"] = {"mode": "first_answer", "text": NOTICE}
    tenants[2]["watermark"] = True
    settings = Settings(
        privacy={"default_policy": None},
        telemetry={"audit_dir": str(audit_dir), "flush_interval_ms": 20},
        provenance={"default": "on", "verify_burst": 200},
        watermark={"key": scheme.key.hex(), "gamma": scheme.gamma, "delta": scheme.delta,
                   "context_width": scheme.context_width, "tokenizer": scheme.tokenizer},
        pools=[{"name": "e2e-client", "jurisdiction": "DE", "site": "de-1",
                "engines": [engine.base_url], "models": [engine.model], "watermark": "client"}],
        tenants=tenants,
    )  # fmt: skip
    with gateway_thread(settings) as base:
        yield base


def _verify(url: str, text: str, token: str) -> dict[str, Any]:
    response = httpx.post(
        url + "/v1/provenance/verify", json={"text": text, "token": token}, timeout=60
    )
    assert response.status_code == 200, response.text
    verdict: dict[str, Any] = response.json()["token"]
    return verdict


def _checked(url: str, text: str, token: str) -> dict[str, Any]:
    """The claims of a token valid for exactly ``text``, and not for it changed by one."""
    verdict = _verify(url, text, token)
    assert verdict["valid"] is True, verdict
    i = len(text) // 2
    changed = text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1 :]
    assert _verify(url, changed, token)["valid"] is False
    claims: dict[str, Any] = verdict["claims"]
    return claims


def _openai(url: str, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEYS[tenant], max_retries=0, timeout=300)


def _anthropic(url: str, tenant: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=KEYS[tenant], max_retries=0, timeout=300)


def _responses_stream(url: str, tenant: str, model: str) -> tuple[str, str]:
    deltas: list[str] = []
    tokens: list[str] = []
    with _openai(url, tenant).responses.stream(
        model=model, input=ASK, max_output_tokens=MAX_TOKENS, temperature=0
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            elif event.type == "response.completed":
                tokens.append((event.response.model_extra or {})["provenance"]["token"])
        final = stream.get_final_response()
    text = "".join(deltas)
    assert text
    assert final.output_text == text
    assert (final.model_extra or {})["provenance"] == {"token": tokens[0]}  # the helper too
    return text, tokens[0]


def _messages_stream(url: str, tenant: str, model: str) -> tuple[str, str]:
    deltas: list[str] = []
    tokens: list[str] = []
    events = _anthropic(url, tenant).messages.create(
        model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": ASK}],
        stream=True, extra_body={"temperature": 0},
    )  # fmt: skip
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            deltas.append(event.delta.text)
        elif event.type == "message_stop":
            tokens.append((event.model_extra or {})["provenance"]["token"])
    text = "".join(deltas)
    assert text
    assert len(tokens) == 1
    return text, tokens[0]


def _responses_whole(url: str, tenant: str, model: str) -> tuple[str, str]:
    raw = _openai(url, tenant).responses.with_raw_response.create(
        model=model, input=ASK, max_output_tokens=MAX_TOKENS, temperature=0
    )
    return raw.parse().output_text, raw.headers["x-sovereign-provenance"]


def _messages_whole(url: str, tenant: str, model: str) -> tuple[str, str]:
    raw = _anthropic(url, tenant).messages.with_raw_response.create(
        model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": ASK}],
        extra_body={"temperature": 0},
    )  # fmt: skip
    text = "".join(b.text for b in raw.parse().content if b.type == "text")
    return text, raw.headers["x-sovereign-provenance"]


APIS = {
    "responses": (_responses_stream, _responses_whole),
    "messages": (_messages_stream, _messages_whole),
}


@pytest.mark.parametrize("tenant", ["plain", "told"])
@pytest.mark.parametrize("api", list(APIS))
def test_a_stream_token_verifies_and_states_what_the_whole_answer_does(
    url: str, engine: EngineUnderTest, audit_dir: Path, api: str, tenant: str
) -> None:
    streamed, whole = APIS[api]
    text, token = streamed(url, tenant, engine.model)
    claims = _checked(url, text, token)
    assert audited_token(audit_dir, claims["rid"]) == token  # the audit record keeps it
    assert claims["pool"] == "e2e-client"
    assert claims["ai_generated"] is True
    assert claims["watermark"] is False  # a client pool, not asked
    if tenant == "told":
        assert text.startswith(NOTICE)

    whole_text, whole_token = whole(url, tenant, engine.model)
    assert whole_text == text  # greedy: the same answer
    whole_claims = _checked(url, whole_text, whole_token)
    assert audited_token(audit_dir, whole_claims["rid"]) == whole_token
    assert whole_claims["text_sha256"] == claims["text_sha256"]
    assert whole_claims["rid"] != claims["rid"]


@pytest.mark.parametrize("api", list(APIS))
def test_the_token_says_the_engine_was_told_to_watermark(
    url: str, engine: EngineUnderTest, api: str
) -> None:
    text, token = APIS[api][0](url, "wants", engine.model)  # the tenant asks for it
    claims = _checked(url, text, token)
    assert claims["watermark"] is True
    assert claims == jwt.decode(token, options={"verify_signature": False})
