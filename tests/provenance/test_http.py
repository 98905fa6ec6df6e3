"""Provenance through a real gateway (uvicorn, in a thread) in front of the simulator, with the
official openai SDK: the header on whole answers, the last chunk of streams, the audit
record, the JWKS, the verify endpoint and its rate limit."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from gateway.auth import hash_key
from gateway.settings import Settings
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.provenance.audited import audited_token
from tests.servers import gateway_thread

MODEL = "smollm2"
SIGNED, PLAIN = "sk-prov-signed", "sk-prov-plain"
JWKS = "/.well-known/sovereign-provenance/jwks.json"
ASK: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Erzähl mir etwas über Provenienz."}
]
BURST = 20


@dataclass(frozen=True)
class Gateway:
    url: str
    audit: Path

    def client(self, key: str = SIGNED) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)

    def verify(self, text: str, token: str | None) -> httpx.Response:
        body = {"text": text} if token is None else {"text": text, "token": token}
        return httpx.post(self.url + "/v1/provenance/verify", json=body, timeout=10)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    audit = Path(tempfile.mkdtemp(prefix="sg-provenance-"))
    with SimulatorThread(SimulatorConfig("cpu/smollm2", MODEL, speed=0.02)) as sim:
        settings = Settings(
            privacy={"default_policy": None},
            telemetry={"audit_dir": str(audit), "flush_interval_ms": 20},
            provenance={"deployer": "Test Deployer", "verify_burst": BURST,
                        "verify_per_minute": 1},
            pools=[{"name": "de", "jurisdiction": "DE", "site": "de-1", "engines": sim.base_urls,
                    "models": [MODEL]}],
            tenants=[
                {"id": "signed", "provenance": "on",
                 "api_keys": [{"id": "s", "hash": hash_key(SIGNED)}]},
                {"id": "plain", "api_keys": [{"id": "p", "hash": hash_key(PLAIN)}]},
            ],
        )  # fmt: skip
        with gateway_thread(settings) as url:
            yield Gateway(url, audit)


def test_a_whole_answer_carries_a_token_that_verifies(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, max_tokens=20, n=2
    )
    answer = raw.parse()
    token = raw.headers["x-sovereign-provenance"]
    text = "".join(c.message.content or "" for c in sorted(answer.choices, key=lambda c: c.index))
    assert text
    verdict = gateway.verify(text, token).json()
    assert verdict["token"]["valid"] is True, verdict
    claims = verdict["token"]["claims"]
    assert (claims["model"], claims["pool"], claims["jurisdiction"], claims["iss"]) == (
        MODEL,
        "de",
        "DE",
        "Test Deployer",
    )
    assert claims["rid"] == raw.headers["x-request-id"]
    assert claims["ai_generated"] is True
    assert verdict["watermark"] is None
    assert verdict["watermark_note"]
    # One character changed: not valid.
    changed = gateway.verify(text[:-1] + ("x" if text[-1] != "x" else "y"), token).json()
    assert changed["token"]["valid"] is False
    # The request's audit record keeps the token.
    assert audited_token(gateway.audit, claims["rid"]) == token


def test_a_stream_ends_with_its_token_and_the_sdk_still_parses_it(gateway: Gateway) -> None:
    stream = gateway.client().chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=20, stream=True
    )
    pieces, tokens = [], []
    for chunk in stream:  # the SDK parses every event, the provenance chunk included
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
        extra = chunk.model_extra or {}
        if "provenance" in extra:
            assert chunk.choices == []
            tokens.append(extra["provenance"]["token"])
    assert len(tokens) == 1
    assert "".join(pieces)
    verdict = gateway.verify("".join(pieces), tokens[0]).json()
    assert verdict["token"]["valid"] is True, verdict
    assert audited_token(gateway.audit, verdict["token"]["claims"]["rid"]) == tokens[0]
    # Raw: the provenance chunk comes right before [DONE].
    with httpx.stream(
        "POST",
        gateway.url + "/v1/completions",
        headers={"authorization": f"Bearer {SIGNED}"},
        json={"model": MODEL, "prompt": "Hallo", "max_tokens": 8, "stream": True},
        timeout=10,
    ) as response:
        events = [e for e in response.read().split(b"\n\n") if e.strip()]
    assert events[-1] == b"data: [DONE]"
    last = orjson.loads(events[-2][len(b"data: ") :])
    assert last["object"] == "text_completion"
    assert last["choices"] == []
    text = "".join(
        c["text"] for e in events[:-2] for c in orjson.loads(e[len(b"data: ") :])["choices"]
    )
    assert gateway.verify(text, last["provenance"]["token"]).json()["token"]["valid"] is True


def test_a_tenant_that_does_not_sign_gets_no_token(gateway: Gateway) -> None:
    raw = gateway.client(PLAIN).chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, max_tokens=5
    )
    assert "x-sovereign-provenance" not in raw.headers
    chunks = list(
        gateway.client(PLAIN).chat.completions.create(
            model=MODEL, messages=ASK, max_tokens=5, stream=True
        )
    )
    assert chunks
    assert all("provenance" not in (c.model_extra or {}) for c in chunks)


def test_jwks_and_bad_input(gateway: Gateway) -> None:
    keys = httpx.get(gateway.url + JWKS, timeout=5).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "OKP"
    assert "d" not in keys[0]
    bad = httpx.post(gateway.url + "/v1/provenance/verify", json={"token": "x"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    garbage = gateway.verify("text", "not.a.token").json()
    assert garbage["token"]["valid"] is False


def test_verify_is_rate_limited_per_address(gateway: Gateway) -> None:
    statuses = [gateway.verify("t", None).status_code for _ in range(BURST + 1)]
    assert statuses[-1] == 429
    assert set(statuses) <= {200, 429}
    refused = gateway.verify("t", None)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) >= 1
